//! Checks of the names that end up in paths or state files, with the codes Go's skel uses.

use crate::error::{ErrorKind, IpamError, Result};

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, the CNI rule for network names and container ids.
fn is_cni_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A network name must be a CNI name; it names the state directory, so `../x` or `a/b`
/// would leave `dataDir`. Code 7 (the name comes from the network configuration).
pub fn validate_network_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(IpamError::config("missing network name"));
    }
    if !is_cni_name(name) {
        return Err(IpamError::config(format!(
            "invalid characters found in network name: {name:?}"
        )));
    }
    Ok(())
}

/// A container id must be a CNI name: code 3 when empty, code 4 otherwise.
pub fn validate_container_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(IpamError::new(
            ErrorKind::UnknownContainer,
            "missing containerID",
        ));
    }
    if !is_cni_name(id) {
        return Err(IpamError::env(format!(
            "invalid characters in containerID: {id:?}"
        )));
    }
    Ok(())
}

/// An interface name must be 1 to 15 bytes, not `.` or `..`, and free of `/`, `:` and white
/// space (code 4).
pub fn validate_ifname(ifname: &str) -> Result<()> {
    if ifname.is_empty() {
        return Err(IpamError::env("interface name is empty"));
    }
    if ifname.len() > 15 {
        return Err(IpamError::env(format!(
            "interface name is too long: {ifname:?}"
        )));
    }
    if ifname == "." || ifname == ".." {
        return Err(IpamError::env("interface name is . or .."));
    }
    if ifname
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(IpamError::env(
            "interface name contains / or : or whitespace characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_names() {
        for ok in ["mynet", "a", "my-net_1.2", "0net"] {
            assert!(validate_network_name(ok).is_ok(), "{ok}");
        }
        for bad in ["../x", "..", ".", "a/b", "", "-x", "x y", "x\n", "_x"] {
            assert_eq!(validate_network_name(bad).unwrap_err().code(), 7, "{bad}");
        }
    }

    #[test]
    fn container_ids() {
        assert!(validate_container_id("abc-123.def_4").is_ok());
        assert_eq!(validate_container_id("").unwrap_err().code(), 3);
        for bad in ["../x", "a/b", "a\r\nb", " dummy"] {
            assert_eq!(validate_container_id(bad).unwrap_err().code(), 4, "{bad}");
        }
    }

    #[test]
    fn ifnames() {
        assert!(validate_ifname("eth0").is_ok());
        assert!(validate_ifname("a-15-chars-long").is_ok());
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "sixteen-chars-xx"] {
            assert_eq!(validate_ifname(bad).unwrap_err().code(), 4, "{bad}");
        }
    }
}

//! Validation of identifiers exactly as the spec and the reference state it.

use crate::error::CniError;

/// Longest interface name Linux accepts (IFNAMSIZ 16 minus the terminating NUL).
pub const MAX_INTERFACE_NAME_LEN: usize = 15;

/// Whether `s` matches `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$` (container ids and network names).
fn valid_name_chars(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphanumeric() => {
            bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        }
        _ => false,
    }
}

/// Validates `CNI_CONTAINERID`: empty is code 3 `missing containerID`; anything not matching
/// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$` is code 4 `invalid characters in containerID` (details: the id).
pub fn container_id(id: &str) -> Result<(), CniError> {
    if id.is_empty() {
        return Err(CniError::unknown_container("missing containerID"));
    }
    if !valid_name_chars(id) {
        return Err(
            CniError::invalid_environment("invalid characters in containerID").with_details(id),
        );
    }
    Ok(())
}

/// Validates a network name: empty is code 7 `missing network name`; anything not matching
/// `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$` is code 7 `invalid characters found in network name` (details:
/// the name).
pub fn network_name(name: &str) -> Result<(), CniError> {
    if name.is_empty() {
        return Err(CniError::invalid_config("missing network name"));
    }
    if !valid_name_chars(name) {
        return Err(
            CniError::invalid_config("invalid characters found in network name").with_details(name),
        );
    }
    Ok(())
}

/// Validates `CNI_IFNAME`, every failure code 4: empty (`interface name is empty`); longer than 15
/// bytes (`interface name is too long`, details `interface name should be less than 16
/// characters`); `.` or `..` (`interface name is . or ..`); containing `/`, `:` or any Unicode
/// whitespace (`interface name contains / or : or whitespace characters`); containing a NUL
/// (`interface name contains a NUL character`).
pub fn interface_name(name: &str) -> Result<(), CniError> {
    if name.is_empty() {
        return Err(CniError::invalid_environment("interface name is empty"));
    }
    if name.len() > MAX_INTERFACE_NAME_LEN {
        return Err(
            CniError::invalid_environment("interface name is too long").with_details(format!(
                "interface name should be less than {} characters",
                MAX_INTERFACE_NAME_LEN + 1
            )),
        );
    }
    if name == "." || name == ".." {
        return Err(CniError::invalid_environment("interface name is . or .."));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(CniError::invalid_environment(
            "interface name contains / or : or whitespace characters",
        ));
    }
    // The environment cannot carry a NUL, but an in-process caller can, and the kernel would
    // cut the name there ("et\0h0" would make "et").
    if name.contains('\0') {
        return Err(CniError::invalid_environment(
            "interface name contains a NUL character",
        ));
    }
    Ok(())
}

/// Validates a plugin `type`: not empty and without path separators (`/` or `\`); code 7.
pub fn plugin_type(plugin_type: &str) -> Result<(), CniError> {
    if plugin_type.is_empty() {
        return Err(CniError::invalid_config("missing 'type'"));
    }
    if plugin_type.contains(['/', '\\']) {
        return Err(CniError::invalid_config("invalid plugin type").with_details(plugin_type));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn container_ids() {
        for ok in ["a", "Z9", "abc-123_x.y", "0123456789abcdef", "A.B-C_D"] {
            assert!(container_id(ok).is_ok(), "{ok}");
        }
        let err = container_id("").unwrap_err();
        assert_eq!(
            (err.code, err.msg.as_str()),
            (ErrorCode::UnknownContainer, "missing containerID")
        );
        for bad in ["-a", "_a", ".a", "a b", "a/b", "a:b", "a%", "é", "a\n"] {
            let err = container_id(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidEnvironment, "{bad:?}");
            assert_eq!(err.msg, "invalid characters in containerID");
            assert_eq!(err.details, bad);
        }
    }

    #[test]
    fn network_names() {
        assert!(network_name("mynet").is_ok());
        assert!(network_name("k8s-pod-network.v1_x").is_ok());
        let err = network_name("").unwrap_err();
        assert_eq!(
            (err.code, err.msg.as_str()),
            (ErrorCode::InvalidConfig, "missing network name")
        );
        for bad in ["te%%st", "-net", "a/b", "net work"] {
            let err = network_name(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidConfig, "{bad}");
            assert_eq!(err.msg, "invalid characters found in network name");
            assert_eq!(err.details, bad);
        }
    }

    #[test]
    fn interface_names() {
        for ok in ["eth0", "a", "123456789012345", "veth-ab.c_d", "-", "é"] {
            assert!(interface_name(ok).is_ok(), "{ok}");
        }
        let cases = [
            ("", "interface name is empty", ""),
            (
                "1234567890123456",
                "interface name is too long",
                "interface name should be less than 16 characters",
            ),
            (".", "interface name is . or ..", ""),
            ("..", "interface name is . or ..", ""),
            (
                "a/b",
                "interface name contains / or : or whitespace characters",
                "",
            ),
            (
                "a:b",
                "interface name contains / or : or whitespace characters",
                "",
            ),
            (
                "a b",
                "interface name contains / or : or whitespace characters",
                "",
            ),
            (
                "a\tb",
                "interface name contains / or : or whitespace characters",
                "",
            ),
            (
                "a\u{a0}b",
                "interface name contains / or : or whitespace characters",
                "",
            ),
        ];
        for (name, msg, details) in cases {
            let err = interface_name(name).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidEnvironment, "{name:?}");
            assert_eq!(err.msg, msg, "{name:?}");
            assert_eq!(err.details, details, "{name:?}");
        }
        // The limit counts bytes, as Linux does: 8 two-byte characters are too long.
        assert!(interface_name("éééééééé").is_err());
    }

    #[test]
    fn plugin_types() {
        assert!(plugin_type("bridge").is_ok());
        assert_eq!(plugin_type("").unwrap_err().msg, "missing 'type'");
        assert!(plugin_type("../bridge").is_err());
        assert!(plugin_type("a\\b").is_err());
    }
}

//! Names of the nftables objects and the comments that record who owns what.
//!
//! Network names are free-form in CNI, so objects are named after a hash of the network name and
//! the name itself is kept in comments. An attachment's identity lives in its set elements'
//! comments: `if=<ifname> id=<container id>` (an interface name never contains a space).

use sha2::{Digest, Sha512};

use super::Attachment;
use crate::addr::IpFamily;
use crate::error::{Error, Result};
use crate::nftables::{NfFamily, Table};

/// The table holding all masquerade state of this crate.
pub(crate) const TABLE: Table<'static> = Table {
    family: NfFamily::Inet,
    name: "cni_rs_masquerade",
};
/// Its base chain: `type nat hook postrouting priority srcnat`.
pub(crate) const POSTROUTING: &str = "postrouting";
/// Longest comment stored (nft's userdata TLV holds at most 255 bytes with the NUL).
const MAX_COMMENT: usize = 254;

/// Lowercase hex of the SHA-512 of `input`, cut to `len` characters (at most 128).
pub(crate) fn sha512_hex(input: &str, len: usize) -> String {
    let digest = Sha512::digest(input.as_bytes());
    let mut out = String::with_capacity(128);
    for byte in digest.iter() {
        out.push_str(&format!("{byte:02x}"));
    }
    out.truncate(len);
    out
}

/// The nftables names of one network's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetworkNames {
    /// The network's regular chain (`net-<hash>`): destination exclusions, then `masquerade`.
    pub(crate) chain: String,
    /// The set of the network's IPv4 pod addresses.
    pub(crate) set_v4: String,
    /// The set of the network's IPv6 pod addresses.
    pub(crate) set_v6: String,
    /// The network name.
    network: String,
    /// Comment of the final `masquerade` rule of the network's chain.
    pub(crate) masquerade_comment: String,
}

impl NetworkNames {
    /// Derives the names for `network`, which must be non-empty.
    pub(crate) fn new(network: &str) -> Result<NetworkNames> {
        if network.is_empty() {
            return Err(Error::invalid_input("the network name is empty"));
        }
        if network.contains('\0') {
            return Err(Error::invalid_input("the network name contains a NUL byte"));
        }
        let chain = format!("net-{}", sha512_hex(network, 16));
        Ok(NetworkNames {
            set_v4: format!("{chain}-v4"),
            set_v6: format!("{chain}-v6"),
            network: network.to_owned(),
            masquerade_comment: format!("masquerade net={network}"),
            chain,
        })
    }

    /// Comment of the network's jump rule for one IP version in the base chain:
    /// `<set name> net=<network>`.
    pub(crate) fn jump_comment(&self, family: IpFamily) -> String {
        let set = match family {
            IpFamily::V4 => &self.set_v4,
            IpFamily::V6 => &self.set_v6,
        };
        format!("{set} net={}", self.network)
    }

    /// True when a base-chain rule comment marks a jump rule of this network.
    pub(crate) fn is_jump_comment(&self, comment: &str) -> bool {
        comment
            .split_once(' ')
            .is_some_and(|(set, _)| *set == self.set_v4 || *set == self.set_v6)
    }
}

/// The comment of a destination exclusion rule.
pub(crate) fn exclusion_comment(cidr: &str) -> String {
    format!("dst={cidr}")
}

/// The CIDR recorded in an exclusion rule comment.
pub(crate) fn parse_exclusion_comment(comment: &str) -> Option<&str> {
    comment.strip_prefix("dst=")
}

/// The network name recorded in a base-chain jump comment (`net-<hash>-v4 net=<network>`).
pub(crate) fn network_of_jump_comment(comment: &str) -> Option<&str> {
    let (set, rest) = comment.split_once(' ')?;
    set.strip_prefix("net-")?;
    rest.strip_prefix("net=")
}

/// Checks an attachment and returns the comment stored with its set elements.
pub(crate) fn attachment_comment(attachment: &Attachment) -> Result<String> {
    let Attachment {
        container_id,
        ifname,
    } = attachment;
    if container_id.is_empty() || container_id.contains('\0') {
        return Err(Error::invalid_input(
            "the container id is empty or contains a NUL byte",
        ));
    }
    if ifname.is_empty()
        || ifname
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == ':' || c == '\0')
    {
        return Err(Error::invalid_input(format!(
            "{ifname:?} is not a valid interface name"
        )));
    }
    let comment = format!("if={ifname} id={container_id}");
    if comment.len() > MAX_COMMENT {
        return Err(Error::invalid_input(format!(
            "container id and interface name are too long to record ({} bytes, at most {})",
            comment.len(),
            MAX_COMMENT
        )));
    }
    Ok(comment)
}

/// The attachment recorded in a set element comment, if it is one of ours.
pub(crate) fn parse_attachment_comment(comment: &str) -> Option<Attachment> {
    let rest = comment.strip_prefix("if=")?;
    let (ifname, container_id) = rest.split_once(" id=")?;
    if ifname.is_empty() || container_id.is_empty() {
        return None;
    }
    Some(Attachment::new(container_id, ifname))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_prefix_matches_known_digest() {
        // sha512("abc") starts with ddaf35a193617aba (FIPS 180-2 test vector).
        assert_eq!(sha512_hex("abc", 16), "ddaf35a193617aba");
        assert_eq!(sha512_hex("abc", 500).len(), 128);
    }

    #[test]
    fn network_names_are_stable_and_distinct() {
        let a = NetworkNames::new("mynet").unwrap();
        let b = NetworkNames::new("mynet2").unwrap();
        assert_eq!(a, NetworkNames::new("mynet").unwrap());
        assert_ne!(a.chain, b.chain);
        assert_eq!(a.chain.len(), "net-".len() + 16);
        assert_eq!(a.set_v4, format!("{}-v4", a.chain));
        let jump = a.jump_comment(IpFamily::V6);
        assert_eq!(jump, format!("{}-v6 net=mynet", a.chain));
        assert!(a.is_jump_comment(&jump));
        assert!(a.is_jump_comment(&a.jump_comment(IpFamily::V4)));
        assert!(!a.is_jump_comment(&b.jump_comment(IpFamily::V4)));
        assert!(!a.is_jump_comment(&a.masquerade_comment));
        assert_eq!(network_of_jump_comment(&jump), Some("mynet"));
        assert!(NetworkNames::new("").is_err());
    }

    #[test]
    fn attachment_comment_round_trips() {
        let att = Attachment::new("0123456789abcdef", "eth0");
        let c = attachment_comment(&att).unwrap();
        assert_eq!(c, "if=eth0 id=0123456789abcdef");
        assert_eq!(parse_attachment_comment(&c), Some(att));
        // A container id may contain " id=" itself: the ifname ends at the first space.
        let odd = Attachment::new("x id=y", "net1");
        let c = attachment_comment(&odd).unwrap();
        assert_eq!(parse_attachment_comment(&c), Some(odd));
        assert_eq!(parse_attachment_comment("something else"), None);
    }

    #[test]
    fn bad_attachments_are_rejected() {
        assert!(attachment_comment(&Attachment::new("", "eth0")).is_err());
        assert!(attachment_comment(&Attachment::new("c", "")).is_err());
        assert!(attachment_comment(&Attachment::new("c", "a b")).is_err());
        assert!(attachment_comment(&Attachment::new("c".repeat(300), "eth0")).is_err());
    }

    #[test]
    fn exclusion_comments_round_trip() {
        assert_eq!(
            parse_exclusion_comment(&exclusion_comment("10.0.0.0/8")),
            Some("10.0.0.0/8")
        );
    }
}

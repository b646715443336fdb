//! Small network value types and their JSON forms: CIDR strings that keep host bits, optional IPs,
//! MAC addresses and `ip[/prefix]` requests.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::CniError;

/// Parses `ip/prefix` strictly, keeping the host bits (`"10.1.0.5/16"` stays `10.1.0.5/16`).
///
/// Unlike [`IpNetwork::from_str`], a missing prefix or a dotted netmask is rejected, as the
/// reference's `ParseCIDR` does. Errors are decoding failures (code 6).
pub fn parse_cidr(s: &str) -> Result<IpNetwork, CniError> {
    let err = || CniError::decoding_failure(format!("invalid CIDR address: {s}"));
    let (addr, prefix) = s.split_once('/').ok_or_else(err)?;
    let addr: IpAddr = addr.parse().map_err(|_| err())?;
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let prefix: u8 = prefix.parse().map_err(|_| err())?;
    IpNetwork::new(addr, prefix).map_err(|_| err())
}

/// Serde helpers for an [`IpNetwork`] written as a CIDR string (`#[serde(with = "cidr")]`).
pub mod cidr {
    use super::*;

    /// Writes the network as `ip/prefix`.
    pub fn serialize<S: Serializer>(net: &IpNetwork, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(net)
    }

    /// Reads `ip/prefix` strictly (see [`parse_cidr`]).
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<IpNetwork, D::Error> {
        let s = String::deserialize(deserializer)?;
        parse_cidr(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde helpers for an `Option<IpAddr>` where an empty string also means "none", as Go's
/// `net.IP` reads it (`#[serde(default, with = "opt_ip", skip_serializing_if = "Option::is_none")]`).
pub mod opt_ip {
    use super::*;

    /// Writes the address as a string, or `null` for none (normally skipped).
    pub fn serialize<S: Serializer>(ip: &Option<IpAddr>, serializer: S) -> Result<S::Ok, S::Error> {
        match ip {
            Some(ip) => serializer.collect_str(ip),
            None => serializer.serialize_none(),
        }
    }

    /// Reads an address, treating `""` and `null` as none.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<IpAddr>, D::Error> {
        let s: Option<String> = Option::deserialize(deserializer)?;
        match s.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| serde::de::Error::custom(format!("invalid IP address: {s}"))),
        }
    }
}

/// Reads a value where JSON `null` means the default, as Go reads `null` into a slice or struct
/// (`#[serde(default, deserialize_with = "null_default")]`).
pub fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A 48-bit Ethernet MAC address, written `aa:bb:cc:dd:ee:ff` (lower case).
///
/// Parsing accepts `:` or `-` separators, any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddress(pub [u8; 6]);

impl MacAddress {
    /// The six bytes.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for MacAddress {
    type Err = CniError;

    /// Parses six two-digit hex groups separated by `:` or `-`; errors are code 7.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CniError::invalid_config(format!("invalid MAC address: {s}"));
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut count = 0usize;
        for part in s.split(sep) {
            let slot = out.get_mut(count).ok_or_else(err)?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| err())?;
            count += 1;
        }
        if count == 6 {
            Ok(MacAddress(out))
        } else {
            Err(err())
        }
    }
}

impl Serialize for MacAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An address a runtime or user asks for, `ip` or `ip/prefix` (the `ips` capability, `args.cni.ips`,
/// `CNI_ARGS` `IP=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestedIp {
    /// The address.
    pub ip: IpAddr,
    /// The prefix length, when one was given.
    pub prefix: Option<u8>,
}

impl fmt::Display for RequestedIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix {
            Some(p) => write!(f, "{}/{p}", self.ip),
            None => write!(f, "{}", self.ip),
        }
    }
}

impl FromStr for RequestedIp {
    type Err = CniError;

    /// Parses `ip` or `ip/prefix` (the prefix at most 32 for IPv4, 128 for IPv6); errors are code 7.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CniError::invalid_config(format!("invalid IP address: {s}"));
        match s.split_once('/') {
            None => Ok(RequestedIp {
                ip: s.parse().map_err(|_| err())?,
                prefix: None,
            }),
            Some(_) => {
                let net = parse_cidr(s).map_err(|_| err())?;
                Ok(RequestedIp {
                    ip: net.ip(),
                    prefix: Some(net.prefix()),
                })
            }
        }
    }
}

impl From<IpAddr> for RequestedIp {
    fn from(ip: IpAddr) -> Self {
        RequestedIp { ip, prefix: None }
    }
}

impl Serialize for RequestedIp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RequestedIp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        let mac: MacAddress = "C2:11:22:33:44:5f".parse().unwrap();
        assert_eq!(mac.octets(), [0xc2, 0x11, 0x22, 0x33, 0x44, 0x5f]);
        assert_eq!(mac.to_string(), "c2:11:22:33:44:5f");
        assert_eq!("c2-11-22-33-44-5f".parse::<MacAddress>().unwrap(), mac);
        for bad in [
            "",
            "c2:11:22:33:44",
            "c2:11:22:33:44:55:66",
            "c2:11:22:33:44:5",
            "zz:11:22:33:44:55",
            "c2:11-22:33:44:55",
            "+1:11:22:33:44:55",
        ] {
            assert!(bad.parse::<MacAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn requested_ips() {
        let r: RequestedIp = "10.0.0.5".parse().unwrap();
        assert_eq!((r.ip.to_string(), r.prefix), ("10.0.0.5".into(), None));
        let r: RequestedIp = "fd00::5/64".parse().unwrap();
        assert_eq!((r.to_string(), r.prefix), ("fd00::5/64".into(), Some(64)));
        for bad in ["", "10.0.0.5/33", "10.0.0.5/", "x", "10.0.0.5/a"] {
            assert!(bad.parse::<RequestedIp>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cidrs() {
        assert_eq!(
            parse_cidr("10.1.0.5/16").unwrap().to_string(),
            "10.1.0.5/16"
        );
        for bad in [
            "10.1.0.5",
            "10.1.0.5/",
            "10.1.0.5/+1",
            "10.1.0.5/0016",
            "/8",
            "10.1.0.5/8/8",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
    }
}

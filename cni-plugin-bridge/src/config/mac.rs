//! The container MAC address and where it comes from.

use std::fmt;
use std::str::FromStr;

use crate::error::BridgeError;

/// A 48-bit Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The six bytes.
    pub fn octets(self) -> [u8; 6] {
        self.0
    }

    /// True for the all-zero address (what the kernel reports for a bridge without ports).
    pub fn is_zero(self) -> bool {
        self.0 == [0; 6]
    }
}

impl FromStr for MacAddr {
    type Err = BridgeError;

    /// Parses `aa:bb:cc:dd:ee:ff` (or with `-` separators), in either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BridgeError::config(format!("invalid MAC address {s:?}"));
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for byte in &mut out {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    /// Lower-case, colon-separated: the form the CNI results use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// The places a container MAC can be requested, lowest precedence first.
///
/// The reference reads `CNI_ARGS` `MAC=`, then `args.cni.mac`, then `runtimeConfig.mac`, and the
/// last non-empty one wins.
#[derive(Debug, Clone, Copy, Default)]
pub struct MacSources<'a> {
    /// `MAC=` from `CNI_ARGS`.
    pub cni_args: Option<&'a str>,
    /// `args.cni.mac` of the network configuration.
    pub args: Option<&'a str>,
    /// `runtimeConfig.mac` (the `mac` capability).
    pub runtime_config: Option<&'a str>,
}

impl MacSources<'_> {
    /// The requested MAC, after precedence, parsed; `None` when no source names one.
    ///
    /// A malformed `CNI_ARGS` value is an environment error (code 4), a malformed config value a
    /// configuration error (code 7).
    pub fn resolve(&self) -> Result<Option<MacAddr>, BridgeError> {
        fn pick(s: Option<&str>) -> Option<&str> {
            s.filter(|v| !v.is_empty())
        }
        if let Some(mac) = pick(self.runtime_config).or(pick(self.args)) {
            return mac.parse().map(Some);
        }
        match pick(self.cni_args) {
            Some(mac) => mac
                .parse()
                .map(Some)
                .map_err(|_| BridgeError::env(format!("invalid MAC address {mac:?} in CNI_ARGS"))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let mac: MacAddr = "02:AA:bb:00:01:ff".parse().unwrap();
        assert_eq!(mac.octets(), [2, 0xaa, 0xbb, 0, 1, 0xff]);
        assert_eq!(mac.to_string(), "02:aa:bb:00:01:ff");
        let dashed: MacAddr = "02-aa-bb-00-01-ff".parse().unwrap();
        assert_eq!(dashed, mac);
        assert!(MacAddr([0; 6]).is_zero());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "02:aa:bb:00:01",
            "02:aa:bb:00:01:ff:00",
            "2:aa:bb:00:01:ff",
            "zz:aa:bb:00:01:ff",
            "02:aa:bb:00:01:f+",
            "02aabb0001ff",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn precedence_cni_args_then_args_then_runtime_config() {
        let all = MacSources {
            cni_args: Some("02:00:00:00:00:01"),
            args: Some("02:00:00:00:00:02"),
            runtime_config: Some("02:00:00:00:00:03"),
        };
        assert_eq!(
            all.resolve().unwrap().unwrap().to_string(),
            "02:00:00:00:00:03"
        );
        let no_rc = MacSources {
            runtime_config: Some(""),
            ..all
        };
        assert_eq!(
            no_rc.resolve().unwrap().unwrap().to_string(),
            "02:00:00:00:00:02"
        );
        let env_only = MacSources {
            cni_args: Some("02:00:00:00:00:01"),
            ..MacSources::default()
        };
        assert_eq!(
            env_only.resolve().unwrap().unwrap().to_string(),
            "02:00:00:00:00:01"
        );
        assert_eq!(MacSources::default().resolve().unwrap(), None);
    }

    #[test]
    fn bad_sources_get_their_codes() {
        let env = MacSources {
            cni_args: Some("nonsense"),
            ..MacSources::default()
        };
        assert_eq!(env.resolve().unwrap_err().code(), 4);
        let conf = MacSources {
            args: Some("nonsense"),
            cni_args: Some("02:00:00:00:00:01"),
            ..MacSources::default()
        };
        assert_eq!(conf.resolve().unwrap_err().code(), 7);
    }
}

//! Where the container MAC address comes from.

use cni_types::MacAddress;

/// The places a container MAC can be requested, each already parsed by `cni-types` (a malformed
/// `CNI_ARGS` value is code 4 there, a malformed config value code 7).
///
/// The reference reads `CNI_ARGS` `MAC=`, then `args.cni.mac`, then `runtimeConfig.mac`; the last
/// one present wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MacSources {
    /// `MAC=` from `CNI_ARGS`.
    pub cni_args: Option<MacAddress>,
    /// `args.cni.mac` of the network configuration.
    pub args: Option<MacAddress>,
    /// `runtimeConfig.mac` (the `mac` capability).
    pub runtime_config: Option<MacAddress>,
}

impl MacSources {
    /// The MAC to use after precedence; `None` when no source names one.
    pub fn resolve(&self) -> Option<MacAddress> {
        self.runtime_config.or(self.args).or(self.cni_args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(last: u8) -> Option<MacAddress> {
        Some(MacAddress([2, 0, 0, 0, 0, last]))
    }

    #[test]
    fn precedence_cni_args_then_args_then_runtime_config() {
        let all = MacSources {
            cni_args: mac(1),
            args: mac(2),
            runtime_config: mac(3),
        };
        assert_eq!(all.resolve(), mac(3));
        let no_rc = MacSources {
            runtime_config: None,
            ..all
        };
        assert_eq!(no_rc.resolve(), mac(2));
        let env_only = MacSources {
            cni_args: mac(1),
            ..MacSources::default()
        };
        assert_eq!(env_only.resolve(), mac(1));
        assert_eq!(MacSources::default().resolve(), None);
    }
}

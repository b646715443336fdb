//! The crate's one error type and its CNI error codes.

use cni_types::{CniError, ErrorCode};

/// Everything that can go wrong in the bridge plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The network configuration is invalid (code 7).
    #[error("{0}")]
    Config(String),
    /// A runtime parameter (`CNI_ARGS`, `CNI_IFNAME`, `CNI_NETNS`, ...) is invalid (code 4).
    #[error("{0}")]
    Env(String),
    /// A kernel operation failed; `code` is the CNI code chosen for it where it happened.
    #[error("{context}: {source}")]
    Kernel {
        /// The CNI code to report.
        code: u32,
        /// What the plugin was doing.
        context: String,
        /// The `cni-netlink` error.
        #[source]
        source: cni_netlink::Error,
    },
    /// An error already in CNI terms (IPAM, a delegated plugin, result conversion): kept as is.
    #[error("{0}")]
    Cni(CniError),
    /// Several independent failures (DEL keeps going and reports them all).
    #[error("{}", join(.0))]
    Many(Vec<BridgeError>),
    /// Anything else the plugin itself detects (code 999).
    #[error("{0}")]
    Other(String),
}

fn join(errors: &[BridgeError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl BridgeError {
    /// An invalid network configuration (code 7).
    pub fn config(msg: impl Into<String>) -> Self {
        BridgeError::Config(msg.into())
    }

    /// An invalid runtime parameter (code 4).
    pub fn env(msg: impl Into<String>) -> Self {
        BridgeError::Env(msg.into())
    }

    /// A failure without a more precise code (code 999).
    pub fn other(msg: impl Into<String>) -> Self {
        BridgeError::Other(msg.into())
    }

    /// A kernel failure while doing `context`, with the code its kind suggests: unsupported
    /// (e.g. VLAN filtering on this kernel) is 2 ("unsupported field"), anything else 999.
    pub fn kernel(context: impl Into<String>, source: cni_netlink::Error) -> Self {
        let code = if source.is_unsupported() { 2 } else { 999 };
        BridgeError::Kernel {
            code,
            context: context.into(),
            source,
        }
    }

    /// A kernel failure reported with an explicit code.
    pub fn kernel_with_code(
        code: u32,
        context: impl Into<String>,
        source: cni_netlink::Error,
    ) -> Self {
        BridgeError::Kernel {
            code,
            context: context.into(),
            source,
        }
    }

    /// The CNI error code this error is reported with.
    pub fn code(&self) -> u32 {
        match self {
            BridgeError::Config(_) => 7,
            BridgeError::Env(_) => 4,
            BridgeError::Kernel { code, .. } => *code,
            BridgeError::Cni(e) => e.code.code(),
            BridgeError::Many(v) => v.first().map_or(999, BridgeError::code),
            BridgeError::Other(_) => 999,
        }
    }

    /// Folds a list of failures: none is `Ok`, one is itself, more are [`BridgeError::Many`].
    pub fn collect(mut errors: Vec<BridgeError>) -> Result<(), BridgeError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(BridgeError::Many(errors)),
        }
    }
}

impl From<CniError> for BridgeError {
    fn from(e: CniError) -> Self {
        BridgeError::Cni(e)
    }
}

impl From<cni_skel::SkelError> for BridgeError {
    fn from(e: cni_skel::SkelError) -> Self {
        BridgeError::Cni(e.into())
    }
}

impl From<cni_ipam::IpamError> for BridgeError {
    fn from(e: cni_ipam::IpamError) -> Self {
        BridgeError::Cni(e.into())
    }
}

impl From<BridgeError> for CniError {
    fn from(e: BridgeError) -> Self {
        match e {
            BridgeError::Cni(e) => e,
            other => CniError::new(ErrorCode::from_code(other.code()), other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(BridgeError::config("x").code(), 7);
        assert_eq!(BridgeError::env("x").code(), 4);
        assert_eq!(BridgeError::other("x").code(), 999);
        let unsupported = BridgeError::kernel("vlan", cni_netlink::Error::unsupported("no"));
        assert_eq!(unsupported.code(), 2);
        let cni: CniError = BridgeError::kernel_with_code(
            4,
            "creating eth0",
            cni_netlink::Error::already_exists("eth0"),
        )
        .into();
        assert_eq!(cni.code.code(), 4);
        assert!(cni.msg.contains("creating eth0"));
        let passthrough: CniError = BridgeError::Cni(CniError::plugin_not_available("full")).into();
        assert_eq!(passthrough.code.code(), 50);
    }

    #[test]
    fn collect_folds() {
        assert!(BridgeError::collect(vec![]).is_ok());
        let one = BridgeError::collect(vec![BridgeError::env("a")]).unwrap_err();
        assert_eq!(one.to_string(), "a");
        let many = BridgeError::collect(vec![BridgeError::env("a"), BridgeError::config("b")])
            .unwrap_err();
        assert_eq!(many.to_string(), "a; b");
        assert_eq!(many.code(), 4);
    }
}

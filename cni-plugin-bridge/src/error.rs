//! The crate's one error type and its CNI error codes.

/// Everything that can go wrong in the bridge plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The network configuration is invalid (code 7).
    #[error("{0}")]
    Config(String),
    /// A runtime parameter (`CNI_ARGS`, `CNI_IFNAME`, ...) is invalid (code 4).
    #[error("{0}")]
    Env(String),
    /// Anything else the plugin itself detects (code 999 unless a more precise code applies).
    #[error("{0}")]
    Other(String),
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

    /// The CNI error code this error is reported with.
    pub fn code(&self) -> u32 {
        match self {
            BridgeError::Config(_) => 7,
            BridgeError::Env(_) => 4,
            BridgeError::Other(_) => 999,
        }
    }
}

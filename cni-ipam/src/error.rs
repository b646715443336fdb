//! The crate's one error type and its mapping to CNI error codes.

use std::fmt;

/// What went wrong, grouped by the CNI error code it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The network configuration is wrong (code 7).
    InvalidConfig,
    /// The container id is missing (code 3).
    UnknownContainer,
    /// A runtime parameter (container id, interface name, `CNI_ARGS`) is wrong (code 4).
    InvalidEnv,
    /// The configuration could not be decoded at all (code 6).
    Decode,
    /// Reading or writing state failed (code 5).
    Io,
    /// Every address of a range set is taken (code 50, "cannot service ADD requests").
    Exhausted,
    /// Anything else: a requested address is taken, a duplicate allocation, a missing
    /// reservation on CHECK (code 999, as the Go plugin reports them).
    Internal,
}

impl ErrorKind {
    /// The CNI error code (spec §"Error") this kind is reported with.
    pub fn code(self) -> u32 {
        match self {
            ErrorKind::UnknownContainer => 3,
            ErrorKind::InvalidEnv => 4,
            ErrorKind::Io => 5,
            ErrorKind::Decode => 6,
            ErrorKind::InvalidConfig => 7,
            ErrorKind::Exhausted => 50,
            ErrorKind::Internal => 999,
        }
    }
}

/// The error of every fallible operation in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IpamError {
    /// A failure of this crate's own logic, with its kind and message.
    #[error("{msg}")]
    Ipam {
        /// What kind of failure this is (decides the CNI code).
        kind: ErrorKind,
        /// The message, worded like the Go plugin's where one exists.
        msg: String,
    },
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, and on which path.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An error already in CNI terms (from `cni-types`, or a delegated IPAM plugin's own
    /// error); its code is kept.
    #[error(transparent)]
    Cni(#[from] cni_types::CniError),
}

impl IpamError {
    /// An error of `kind` with message `msg`.
    pub fn new(kind: ErrorKind, msg: impl fmt::Display) -> Self {
        IpamError::Ipam {
            kind,
            msg: msg.to_string(),
        }
    }

    /// An invalid network configuration (code 7).
    pub fn config(msg: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InvalidConfig, msg)
    }

    /// An invalid runtime parameter (code 4).
    pub fn env(msg: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InvalidEnv, msg)
    }

    /// A generic failure (code 999).
    pub fn internal(msg: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Internal, msg)
    }

    /// An I/O failure while doing `context`.
    pub fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        IpamError::Io {
            context: context.to_string(),
            source,
        }
    }

    /// The CNI error code this error is reported with.
    pub fn code(&self) -> u32 {
        match self {
            IpamError::Ipam { kind, .. } => kind.code(),
            IpamError::Io { .. } => ErrorKind::Io.code(),
            IpamError::Cni(e) => e.code.code(),
        }
    }

    /// The same error with `prefix: ` put before its message; the code is kept.
    pub fn context(self, prefix: impl fmt::Display) -> Self {
        match self {
            IpamError::Ipam { kind, msg } => IpamError::Ipam {
                kind,
                msg: format!("{prefix}: {msg}"),
            },
            IpamError::Io { context, source } => IpamError::Io {
                context: format!("{prefix}: {context}"),
                source,
            },
            IpamError::Cni(mut e) => {
                e.msg = format!("{prefix}: {}", e.msg);
                IpamError::Cni(e)
            }
        }
    }
}

impl From<cni_skel::SkelError> for IpamError {
    /// A delegated plugin's failure; its own error keeps its code.
    fn from(e: cni_skel::SkelError) -> Self {
        IpamError::Cni(e.into())
    }
}

impl From<IpamError> for cni_types::CniError {
    /// The spec error a plugin prints for this error: same message, code by kind.
    fn from(e: IpamError) -> Self {
        match e {
            IpamError::Cni(e) => e,
            IpamError::Io { context, source } => {
                cni_types::CniError::io_failure(format!("{context}: {source}"))
            }
            IpamError::Ipam { kind, msg } => cni_types::CniError::new(kind.code(), msg),
        }
    }
}

/// This crate's results.
pub type Result<T, E = IpamError> = std::result::Result<T, E>;

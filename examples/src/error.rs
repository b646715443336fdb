//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong in the examples' library code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A kernel operation through `cni-netlink` failed.
    #[error("{context}: {source}")]
    Netlink {
        /// What was being done.
        context: String,
        /// The netlink error.
        source: cni_netlink::Error,
    },
    /// Running a config list through `cni-skel`'s runtime side failed.
    #[error("{context}: {source}")]
    Cni {
        /// What was being done.
        context: String,
        /// The runtime's error (the plugin's own CNI error inside, when it printed one).
        source: Box<cni_skel::SkelError>,
    },
    /// A file or other operating-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A system call made through `nix` failed.
    #[error("{context}: {source}")]
    Sys {
        /// What was being done.
        context: String,
        /// The errno.
        source: nix::Error,
    },
    /// A cluster map could not be read.
    #[error("cluster map {}: {reason}", path.display())]
    ClusterMap {
        /// The file (or `<inline>`).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A command-line argument or option value is wrong.
    #[error("{0}")]
    Usage(String),
    /// The demo ran but something it proves did not hold (failed probes, leftovers).
    #[error("{0}")]
    Verification(String),
}

impl Error {
    /// Wraps a `cni-netlink` error with context.
    pub fn netlink(context: impl Into<String>) -> impl FnOnce(cni_netlink::Error) -> Error {
        let context = context.into();
        move |source| Error::Netlink { context, source }
    }

    /// Wraps a `cni-skel` error with context.
    pub fn cni(context: impl Into<String>) -> impl FnOnce(cni_skel::SkelError) -> Error {
        let context = context.into();
        move |source| Error::Cni {
            context,
            source: Box::new(source),
        }
    }

    /// Wraps an I/O error with context.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// Wraps a `nix` errno with context.
    pub fn sys(context: impl Into<String>) -> impl FnOnce(nix::Error) -> Error {
        let context = context.into();
        move |source| Error::Sys { context, source }
    }
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

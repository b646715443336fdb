//! The crate's one error type.
//!
//! Every fallible function of `cni-netlink` returns [`Error`]. Its variants separate the conditions a
//! CNI plugin maps to distinct spec codes (not found, already exists, permission, unsupported,
//! invalid input) from everything else (a netlink error carrying its errno, an I/O error). No
//! `rtnetlink` or `netlink-packet` type appears here: the errno is kept as a plain `i32` and I/O
//! failures as [`std::io::Error`].

use std::io;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The broad class of an [`Error`], for callers that map errors to CNI error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Something named (a link, an address, a route, a namespace path, a sysctl) does not exist.
    NotFound,
    /// Something already exists and cannot be adopted as it is.
    AlreadyExists,
    /// The caller lacks the privilege (`EPERM`, `EACCES`).
    PermissionDenied,
    /// The kernel or this crate does not support what was asked.
    Unsupported,
    /// The input is malformed or inconsistent (a path that is not a netns, a bad name, ...).
    InvalidInput,
    /// A bounded wait ran out before the kernel reached the expected state.
    Timeout,
    /// Any other netlink failure.
    Netlink,
    /// Any other I/O failure.
    Io,
    /// A failure of the crate's own machinery (a helper thread that died, a closed channel).
    Internal,
}

/// Errors of `cni-netlink`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A link, address, route, namespace or sysctl does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// An object already exists in a form that cannot be adopted.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The operation needs privileges the caller does not hold.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The kernel (or this crate) does not support the request.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The input is invalid.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A bounded wait (for a link to become operational, for addresses to settle) ran out.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The kernel answered a netlink request with an error not covered by the variants above.
    #[error("netlink error while {context}: {message} (errno {errno})")]
    Netlink {
        /// What the crate was doing.
        context: String,
        /// The positive errno value the kernel returned (0 when the failure carried none).
        errno: i32,
        /// The kernel's or the library's description.
        message: String,
    },
    /// An I/O error (opening a namespace, writing a sysctl, creating a socket).
    #[error("i/o error while {context}: {source}")]
    Io {
        /// What the crate was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A failure of the crate's own machinery (a helper thread that panicked, a closed channel).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::PermissionDenied(_) => ErrorKind::PermissionDenied,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::Netlink { .. } => ErrorKind::Netlink,
            Error::Io { .. } => ErrorKind::Io,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// True when something did not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// True when something already existed.
    pub fn is_already_exists(&self) -> bool {
        self.kind() == ErrorKind::AlreadyExists
    }

    /// True when privileges were lacking.
    pub fn is_permission_denied(&self) -> bool {
        self.kind() == ErrorKind::PermissionDenied
    }

    /// True when the request is not supported.
    pub fn is_unsupported(&self) -> bool {
        self.kind() == ErrorKind::Unsupported
    }

    /// True when the input was invalid.
    pub fn is_invalid_input(&self) -> bool {
        self.kind() == ErrorKind::InvalidInput
    }

    /// The errno behind the error, when there was one (`Netlink` errors and OS-level `Io` errors).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Netlink { errno, .. } if *errno != 0 => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// Builds the error for a failed system call or netlink request from its (positive) errno:
    /// `ENOENT`/`ENODEV`/`ESRCH`/`EADDRNOTAVAIL` become [`Error::NotFound`], `EEXIST`
    /// [`Error::AlreadyExists`], `EPERM`/`EACCES` [`Error::PermissionDenied`],
    /// `EOPNOTSUPP`/`ENOTSUP`/`EAFNOSUPPORT`/`EPROTONOSUPPORT` [`Error::Unsupported`], `EINVAL`/`ERANGE`
    /// [`Error::InvalidInput`], and anything else [`Error::Netlink`].
    pub fn from_errno(errno: i32, context: impl Into<String>) -> Error {
        let context = context.into();
        let message = io::Error::from_raw_os_error(errno).to_string();
        let detail = format!("{context}: {message}");
        match errno {
            libc::ENOENT | libc::ENODEV | libc::ESRCH | libc::EADDRNOTAVAIL => {
                Error::NotFound(detail)
            }
            libc::EEXIST => Error::AlreadyExists(detail),
            libc::EPERM | libc::EACCES => Error::PermissionDenied(detail),
            libc::EOPNOTSUPP | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT => {
                Error::Unsupported(detail)
            }
            libc::EINVAL | libc::ERANGE => Error::InvalidInput(detail),
            _ => Error::Netlink {
                context,
                errno,
                message,
            },
        }
    }

    /// Builds the error for a failed I/O operation, sorting the common OS conditions into the
    /// dedicated variants (missing file → [`Error::NotFound`], `EACCES`/`EPERM` →
    /// [`Error::PermissionDenied`], `EINVAL` → [`Error::InvalidInput`], `EOPNOTSUPP` →
    /// [`Error::Unsupported`]); everything else stays an [`Error::Io`] with its source.
    pub fn io(source: io::Error, context: impl Into<String>) -> Error {
        let context = context.into();
        match source.kind() {
            io::ErrorKind::NotFound => Error::NotFound(format!("{context}: {source}")),
            io::ErrorKind::PermissionDenied => {
                Error::PermissionDenied(format!("{context}: {source}"))
            }
            io::ErrorKind::InvalidInput => Error::InvalidInput(format!("{context}: {source}")),
            io::ErrorKind::Unsupported => Error::Unsupported(format!("{context}: {source}")),
            _ => Error::Io { context, source },
        }
    }

    /// Builds an [`Error::InvalidInput`].
    pub fn invalid_input(message: impl Into<String>) -> Error {
        Error::InvalidInput(message.into())
    }

    /// Builds an [`Error::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> Error {
        Error::Unsupported(message.into())
    }

    /// Builds an [`Error::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::NotFound(message.into())
    }

    /// Builds an [`Error::AlreadyExists`].
    pub fn already_exists(message: impl Into<String>) -> Error {
        Error::AlreadyExists(message.into())
    }
}

impl From<nix::errno::Errno> for Error {
    fn from(errno: nix::errno::Errno) -> Error {
        Error::from_errno(errno as i32, "system call")
    }
}

/// A kernel failure as the CNI error a plugin reports, so plugin code can use `?` on this crate's
/// calls: what the kernel cannot do ([`ErrorKind::Unsupported`]) is code 2, a bounded wait that
/// ran out ([`ErrorKind::Timeout`]) is code 11 (try again later), a missing privilege is code 5
/// (I/O failure), everything else the generic code 999; the message is this error's text.
/// Plugins that know better (an interface name already taken in the pod is the caller's fault,
/// code 4) map those cases themselves before converting.
impl From<Error> for cni_types::CniError {
    fn from(e: Error) -> Self {
        let msg = e.to_string();
        let err = match e.kind() {
            ErrorKind::Unsupported => cni_types::CniError::unsupported_field(msg),
            ErrorKind::Timeout => cni_types::CniError::try_again_later(msg),
            ErrorKind::PermissionDenied => cni_types::CniError::io_failure(msg),
            _ => cni_types::CniError::internal(msg),
        };
        err.with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_classes() {
        assert!(Error::from_errno(libc::ENODEV, "x").is_not_found());
        assert!(Error::from_errno(libc::EEXIST, "x").is_already_exists());
        assert!(Error::from_errno(libc::EPERM, "x").is_permission_denied());
        assert!(Error::from_errno(libc::EOPNOTSUPP, "x").is_unsupported());
        assert!(Error::from_errno(libc::EINVAL, "x").is_invalid_input());
        let other = Error::from_errno(libc::EBUSY, "deleting");
        assert_eq!(other.kind(), ErrorKind::Netlink);
        assert_eq!(other.errno(), Some(libc::EBUSY));
        assert!(other.to_string().contains("deleting"));
    }

    #[test]
    fn cni_codes() {
        let code = |e: Error| cni_types::CniError::from(e).code.code();
        assert_eq!(code(Error::unsupported("vlan filtering")), 2);
        assert_eq!(code(Error::from_errno(libc::EPERM, "x")), 5);
        assert_eq!(code(Error::from_errno(libc::EBUSY, "x")), 999);
        let e = cni_types::CniError::from(Error::not_found("link eth0"));
        assert!(e.msg.contains("eth0"), "{}", e.msg);
    }

    #[test]
    fn io_classes() {
        let e = Error::io(io::Error::from_raw_os_error(libc::ENOENT), "opening /x");
        assert!(e.is_not_found());
        let e = Error::io(io::Error::from_raw_os_error(libc::EIO), "reading");
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.errno(), Some(libc::EIO));
    }
}

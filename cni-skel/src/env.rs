//! The process environment as the CNI protocol sees it, injectable for tests.

use std::path::PathBuf;

use crate::invoke::find::split_cni_path;

/// `CNI_COMMAND`: the verb (ADD, DEL, CHECK, STATUS, GC, VERSION).
pub const CNI_COMMAND: &str = "CNI_COMMAND";
/// `CNI_CONTAINERID`: the container id of the attachment.
pub const CNI_CONTAINERID: &str = "CNI_CONTAINERID";
/// `CNI_NETNS`: the path of the container's network namespace.
pub const CNI_NETNS: &str = "CNI_NETNS";
/// `CNI_IFNAME`: the interface name inside the container.
pub const CNI_IFNAME: &str = "CNI_IFNAME";
/// `CNI_ARGS`: extra `K=V;K2=V2` arguments.
pub const CNI_ARGS: &str = "CNI_ARGS";
/// `CNI_PATH`: the plugin search path.
pub const CNI_PATH: &str = "CNI_PATH";
/// `CNI_NETNS_OVERRIDE`: `1`/`true` disables the check that `CNI_NETNS` is not the plugin's own
/// network namespace (an extension of the Go skel, honoured here too).
pub const CNI_NETNS_OVERRIDE: &str = "CNI_NETNS_OVERRIDE";

/// An environment: ordered `(name, value)` pairs where a later duplicate wins.
///
/// A plugin reads its protocol parameters from it and hands it on, with a different
/// `CNI_COMMAND`, to the plugins it delegates to. [`CniEnv::from_process`] takes the real one;
/// tests build their own with [`CniEnv::from_vars`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CniEnv {
    vars: Vec<(String, String)>,
}

impl CniEnv {
    /// The environment of this process (names or values that are not UTF-8 are converted lossily).
    pub fn from_process() -> Self {
        // A UTF-8 name or value becomes a `String` without a copy; only others are converted.
        fn text(s: std::ffi::OsString) -> String {
            s.into_string()
                .unwrap_or_else(|s| s.to_string_lossy().into_owned())
        }
        Self::from_vars(std::env::vars_os().map(|(k, v)| (text(k), text(v))))
    }

    /// An environment from pairs; when a name repeats, the last value wins.
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut env = CniEnv::default();
        for (k, v) in vars {
            env.set(k, v);
        }
        env
    }

    /// The value of `name`, if set (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` if it is set and not empty (the Go skel treats both the same).
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Sets `name` to `value`, replacing an earlier value in place.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.vars.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name, value)),
        }
    }

    /// This environment with `name` set to `value`.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(name, value);
        self
    }

    /// Removes `name`.
    pub fn remove(&mut self, name: &str) {
        self.vars.retain(|(k, _)| k != name);
    }

    /// All pairs, in order, each name once.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// The directories of `CNI_PATH` (empty when unset).
    pub fn cni_path(&self) -> Vec<PathBuf> {
        self.get(CNI_PATH).map(split_cni_path).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_duplicate_wins_and_order_is_kept() {
        let env = CniEnv::from_vars([("A", "1"), ("B", ""), ("A", "2")]);
        assert_eq!(env.get("A"), Some("2"));
        assert_eq!(env.get("B"), Some(""));
        assert_eq!(env.non_empty("B"), None);
        assert_eq!(env.get("C"), None);
        assert_eq!(
            env.vars(),
            &[
                ("A".to_owned(), "2".to_owned()),
                ("B".to_owned(), String::new())
            ]
        );
    }

    #[test]
    fn set_remove_and_cni_path() {
        let mut env = CniEnv::default().with(CNI_PATH, "/a:/b");
        assert_eq!(
            env.cni_path(),
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        env.remove(CNI_PATH);
        assert!(env.cni_path().is_empty());
        env.set(CNI_COMMAND, "ADD");
        assert_eq!(env.get(CNI_COMMAND), Some("ADD"));
    }

    #[test]
    fn process_environment_is_read() {
        // PATH is set in any environment the tests run in.
        let env = CniEnv::from_process();
        assert_eq!(
            env.get("PATH").map(str::to_owned),
            std::env::var("PATH").ok()
        );
    }
}

//! Throwaway network namespaces for tests (feature `test-kit`).
//!
//! [`TestNode::new`] makes a fresh "node" namespace and [`TestNode::pod`] fresh "pod" namespaces.
//! Each is created by `unshare(CLONE_NEWNET)` on a short-lived thread and kept alive only by an
//! open file descriptor: dropping the value, or the test process dying for any reason, destroys
//! the namespace with everything in it. No bind mount, nothing to clean up, nothing left behind.
//!
//! Every namespace has a [`TestNs::path`] (`/proc/<pid>/fd/<n>`) that child processes can use as
//! `CNI_NETNS`, a [`TestNs::command`] whose child runs inside it, and [`TestNs::ip_json`] to
//! inspect it independently of this crate with iproute2.
//!
//! Creating namespaces needs `CAP_SYS_ADMIN`: run tests as root, or as a normal user inside a
//! user and network namespace (`unshare -rn`, which the workspace's cargo runner does by itself).
//! Without the privilege the kit fails loudly; it never skips.
//!
//! ```no_run
//! use cni_netlink::testkit::TestNode;
//! # async fn t() -> cni_netlink::Result<()> {
//! let node = TestNode::new();
//! let pod = node.pod("pod1");
//! let nl = pod.connect().await?;
//! let links = pod.ip_json(&["link", "show"])?;
//! assert!(links.as_array().is_some_and(|l| !l.is_empty()));
//! # let _ = nl; Ok(()) }
//! ```

use std::ffi::OsStr;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};
use crate::handle::Netlink;
use crate::link::MAX_IFNAME_LEN;
use crate::netns::NetNs;

/// A throwaway network namespace, destroyed when dropped.
#[derive(Debug)]
pub struct TestNs {
    name: String,
    ns: NetNs,
}

/// A throwaway "node" namespace (a [`TestNs`]) that also makes pod namespaces.
#[derive(Debug)]
pub struct TestNode {
    ns: TestNs,
}

/// Creates a new network namespace held only by its descriptor ([`NetNs::create`]).
fn create_netns(name: &str) -> Result<NetNs> {
    let ns = NetNs::create()?;
    tracing::debug!(name, inode = ns.inode(), "created test namespace");
    Ok(ns)
}

fn privilege_message(err: &Error) -> String {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    format!(
        "cni-netlink test kit: cannot create a network namespace ({err}). These tests need \
         CAP_SYS_ADMIN: run them as root, or as a normal user under `unshare -rn` (the \
         workspace's cargo runner .cargo/sandbox does that automatically when not root).{}",
        if ci {
            " CI=true: failing instead of skipping."
        } else {
            " Kernel tests never skip silently."
        }
    )
}

impl TestNode {
    /// Creates a node namespace, failing loudly when namespaces cannot be created.
    ///
    /// # Panics
    ///
    /// When the process lacks the privilege to create network namespaces (or the kernel refuses
    /// for another reason), with a message explaining how to run the tests. Under `CI=true` and
    /// elsewhere alike: a kernel test never skips silently.
    #[allow(clippy::panic)]
    pub fn new() -> TestNode {
        match TestNode::try_new() {
            Ok(node) => node,
            Err(e) => panic!("{}", privilege_message(&e)),
        }
    }

    /// Creates a node namespace, returning the error instead of panicking.
    pub fn try_new() -> Result<TestNode> {
        let name = unique_name("node");
        Ok(TestNode {
            ns: TestNs {
                ns: create_netns(&name)?,
                name,
            },
        })
    }

    /// Creates a pod namespace (independent of the node's; the name is only a label).
    ///
    /// # Panics
    ///
    /// Like [`TestNode::new`], when a namespace cannot be created.
    #[allow(clippy::panic)]
    pub fn pod(&self, name: &str) -> TestNs {
        match create_netns(name) {
            Ok(ns) => TestNs {
                name: name.to_string(),
                ns,
            },
            Err(e) => panic!("{}", privilege_message(&e)),
        }
    }
}

impl Default for TestNode {
    /// Same as [`TestNode::new`] (panics without the privilege to create namespaces).
    fn default() -> TestNode {
        TestNode::new()
    }
}

impl Deref for TestNode {
    type Target = TestNs;
    fn deref(&self) -> &TestNs {
        &self.ns
    }
}

impl TestNs {
    /// The label given at creation.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace handle.
    pub fn netns(&self) -> &NetNs {
        &self.ns
    }

    /// A path naming this namespace for child processes (`/proc/<pid>/fd/<n>`), usable as
    /// `CNI_NETNS`; valid while this value and the test process live.
    pub fn path(&self) -> &Path {
        self.ns.path()
    }

    /// A netlink handle bound to this namespace.
    pub async fn connect(&self) -> Result<Netlink> {
        self.ns.connect().await
    }

    /// Runs `f` on a fresh thread inside this namespace ([`NetNs::run_blocking`]).
    pub fn run_blocking<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        self.ns.run_blocking(f)
    }

    /// A command whose child process runs inside this namespace (it enters it between fork and
    /// exec). Spawn it while this value is alive.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        let fd = self.ns.as_fd().as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec and only calls setns(2), which
        // is async-signal-safe; `fd` is open in the child because the parent holds it open while
        // the command is spawned (CLOEXEC closes it only at exec).
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    /// Runs `ip -j <args>` inside this namespace and returns its parsed JSON output (an empty
    /// array when `ip` prints nothing), for checking kernel state independently of this crate.
    pub fn ip_json(&self, args: &[&str]) -> Result<serde_json::Value> {
        let out = self.tool("ip", Some("-j"), args)?;
        if out.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Array(Vec::new()));
        }
        parse_json("ip -j", args, &out)
    }

    /// Runs `nft -j <args>` (a listing) inside this namespace and returns the objects it lists:
    /// the `nftables` array without its `metainfo` entry, and without the `handle` of tables,
    /// chains and rules, so that listings of the same ruleset written by different programs
    /// compare equal. Fails with nft's stderr when it exits unsuccessfully (e.g. no such table).
    pub fn nft_objects(&self, args: &[&str]) -> Result<Vec<serde_json::Value>> {
        let out = self.tool("nft", Some("-j"), args)?;
        let mut listing = parse_json("nft -j", args, &out)?;
        let mut objects = match listing.get_mut("nftables").map(serde_json::Value::take) {
            Some(serde_json::Value::Array(objects)) => objects,
            _ => Vec::new(),
        };
        objects.retain(|o| o.get("metainfo").is_none());
        for o in &mut objects {
            for kind in ["table", "chain", "rule"] {
                if let Some(obj) = o.get_mut(kind).and_then(|v| v.as_object_mut()) {
                    obj.remove("handle");
                }
            }
        }
        Ok(objects)
    }

    /// Runs `ip <args>` inside this namespace (for setting up test fixtures with a tool other
    /// than this crate). Fails with the command's stderr when it exits unsuccessfully.
    pub fn ip(&self, args: &[&str]) -> Result<()> {
        self.tool("ip", None, args).map(drop)
    }

    /// Runs `program <args>` inside this namespace and returns its standard output as text (for
    /// checking kernel state with another tool, e.g. `iptables -t nat -S`). Fails with the
    /// command's stderr when it exits unsuccessfully.
    pub fn output(&self, program: &str, args: &[&str]) -> Result<String> {
        let out = self.tool(program, None, args)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Runs `program [flag] <args>` inside this namespace and returns its standard output;
    /// fails with its standard error when it exits unsuccessfully.
    fn tool(&self, program: &str, flag: Option<&str>, args: &[&str]) -> Result<Vec<u8>> {
        let out = self
            .command(program)
            .args(flag)
            .args(args)
            .output()
            .map_err(|e| Error::io(e, format!("running {program}")))?;
        if !out.status.success() {
            let flag = flag.map(|f| format!(" {f}")).unwrap_or_default();
            return Err(Error::Internal(format!(
                "{program}{flag} {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out.stdout)
    }
}

/// Parses the JSON output of `what <args>`.
fn parse_json(what: &str, args: &[&str], out: &[u8]) -> Result<serde_json::Value> {
    serde_json::from_slice(out).map_err(|e| {
        Error::Internal(format!(
            "{what} {} printed invalid JSON: {e}",
            args.join(" ")
        ))
    })
}

/// A name unique within this process, `<prefix><counter>` in hex, cut to fit an interface name
/// (15 bytes). The prefix is shortened when needed so the counter always survives.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let suffix = format!("{n:x}");
    let keep = MAX_IFNAME_LEN.saturating_sub(suffix.len());
    let prefix: String = prefix.chars().take(keep).collect();
    format!("{prefix}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_fit_interface_names() {
        let a = unique_name("br");
        let b = unique_name("br");
        assert_ne!(a, b);
        assert!(a.starts_with("br"));
        let long = unique_name("a-very-long-prefix-indeed");
        assert!(long.len() <= MAX_IFNAME_LEN, "{long}");
        assert!(crate::link::validate_ifname(&long).is_ok());
    }
}

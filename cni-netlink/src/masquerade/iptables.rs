//! The iptables backend: [`IptablesMasquerade`], for `ipMasqBackend: "iptables"`.
//!
//! It follows the Go reference (`pkg/ip/ipmasq_linux.go`) rule for rule so that state written by
//! the Go plugin and by this one can be torn down by either: per container a chain
//! `CNI-<first 24 hex digits of sha512(network + container id)>` in table `nat`, holding
//! `-d <pod subnet> -j ACCEPT` and `! -d <multicast> -j MASQUERADE`, and per address a
//! `POSTROUTING -s <address> -j <chain>` rule, all commented `name: "<network>" id: "<container>"`.
//! Beyond the reference, `never_masquerade` CIDRs become more `-j ACCEPT` rules of the chain, and
//! [`IptablesMasquerade::gc`] works (the reference's is a no-op).
//!
//! This is a compatibility path: it runs `iptables`/`ip6tables` processes (several per address)
//! and grows per-pod chains. The default is the nftables [`super::Masquerade`].
//!
//! [`IptablesMasquerade::may_hold`] and [`IptablesMasquerade::may_hold_network`] tell without a
//! process whether there can be anything to remove, so that a plugin configured for nftables can
//! also clean up iptables state (of an older config, an older plugin or the Go reference) without
//! running `iptables` on every DEL.

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::sync::OnceLock;

use ipnetwork::IpNetwork;

use super::Attachment;
use super::iptables_probe as probe;
use super::names::sha512_hex;
use crate::NetNs;
use crate::error::{Error, Result};
use crate::nftables::{NfConn, NfSocket};

/// The two commands, with their multicast exclusion.
const TOOLS: [(&str, &str); 2] = [("iptables", "224.0.0.0/4"), ("ip6tables", "ff00::/8")];

/// Masquerade through `iptables`/`ip6tables`, compatible with the Go reference plugins.
///
/// Attachments are identified by container id only, as in the reference (which ignores the
/// interface name): [`IptablesMasquerade::attachments`] returns them with an empty `ifname`, and
/// [`IptablesMasquerade::gc`] keeps a container when any of its attachments is valid.
///
/// [`IptablesMasquerade::may_hold`] opens a netfilter socket on its first call and keeps it for
/// the value's life: close it (drop the value) late in a plugin call, like
/// [`super::Masquerade`]'s, since closing a netfilter socket waits for the kernel's pending
/// deferred frees.
#[derive(Debug)]
pub struct IptablesMasquerade {
    netns: Option<NetNs>,
    /// The socket of the `may_hold` checks, opened in the namespace on first use.
    nft: OnceLock<NfConn>,
}

/// The reference's chain name for a network and container.
pub(crate) fn chain_name(network: &str, container_id: &str) -> String {
    format!(
        "CNI-{}",
        sha512_hex(&format!("{network}{container_id}"), 24)
    )
}

/// The reference's rule comment: `name: "<network>" id: "<container>"` (Go `%q` quoting).
pub(crate) fn rule_comment(network: &str, container_id: &str) -> String {
    format!("{}{}", comment_prefix(network), quote(container_id))
}

/// The start shared by the rule comments of every container of `network`.
fn comment_prefix(network: &str) -> String {
    format!("name: {} id: ", quote(network))
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A `POSTROUTING` rule of ours as listed by `iptables -S`: source, target chain, container id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedRule {
    pub(crate) source: String,
    pub(crate) chain: String,
    pub(crate) container_id: String,
}

/// Parses the `-S POSTROUTING` lines that jump to a `CNI-` chain with a comment of `network`.
pub(crate) fn parse_postrouting(listing: &str, network: &str) -> Vec<ListedRule> {
    let marker = format!("name: \\\"{network}\\\" id: \\\"");
    listing
        .lines()
        .filter_map(|line| {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            let after = |flag: &str| {
                tokens
                    .iter()
                    .position(|t| *t == flag)
                    .and_then(|i| tokens.get(i + 1))
                    .map(|s| (*s).to_owned())
            };
            let chain = after("-j").filter(|c| c.starts_with("CNI-"))?;
            let source = after("-s")?;
            let start = line.find(&marker)? + marker.len();
            let rest = line.get(start..)?;
            let container_id = rest.get(..rest.find("\\\"")?)?.to_owned();
            Some(ListedRule {
                source,
                chain,
                container_id,
            })
        })
        .collect()
}

impl IptablesMasquerade {
    /// Works in the network namespace `netns`: each command is started from a short-lived thread
    /// inside it ([`NetNs::run_blocking`]), so the command inherits the namespace.
    pub fn open(netns: &NetNs) -> IptablesMasquerade {
        IptablesMasquerade {
            netns: Some(netns.clone()),
            nft: OnceLock::new(),
        }
    }

    /// Works in the calling thread's network namespace.
    pub fn open_current() -> IptablesMasquerade {
        IptablesMasquerade {
            netns: None,
            nft: OnceLock::new(),
        }
    }

    /// Whether masquerade rules of `attachment` on `network` may exist in the namespace, found
    /// out without running a process (a plugin configured for nftables calls it on DEL to skip
    /// [`IptablesMasquerade::remove`]'s processes when there is nothing to remove).
    ///
    /// `false` is certain: neither iptables-nft (its nf_tables tables `ip nat` and `ip6 nat`,
    /// read over netlink) has the attachment's `CNI-<hash>` chain, nor has iptables-legacy a
    /// `nat` table in the namespace (`ip_tables_names`, `ip6_tables_names`). `true` means that
    /// iptables-nft has the chain, or that a legacy `nat` table exists, whose rules only the
    /// `iptables` tool reads (so `true` can be a false alarm on a node where something else uses
    /// iptables-legacy NAT). Costs a `/proc` read per IP version and a netlink request per table;
    /// the first call also opens a netfilter socket (and, for [`IptablesMasquerade::open`], a
    /// thread in the namespace each call).
    ///
    /// Errors: reading the `/proc` lists or the netlink requests failed (then the answer is
    /// unknown, and a caller that wants no leftover runs the removal anyway).
    pub fn may_hold(&self, network: &str, attachment: &Attachment) -> Result<bool> {
        let chain = chain_name(network, &attachment.container_id);
        self.probe(|sock| probe::nft_has_chain(sock, &chain))
    }

    /// Whether masquerade rules of any container of `network` may exist in the namespace, found
    /// out without running a process (for GC, like [`IptablesMasquerade::may_hold`] for DEL):
    /// `false` when iptables-nft has no `POSTROUTING` rule commented for `network` and
    /// iptables-legacy has no `nat` table. Errors as [`IptablesMasquerade::may_hold`].
    pub fn may_hold_network(&self, network: &str) -> Result<bool> {
        let prefix = comment_prefix(network);
        self.probe(|sock| probe::nft_has_commented_jump(sock, &prefix))
    }

    /// The legacy check, then `nft_check` on the socket, in the namespace.
    fn probe(&self, nft_check: impl FnOnce(&mut NfSocket) -> Result<bool> + Send) -> Result<bool> {
        let look = || {
            if probe::legacy_nat_in_use()? {
                tracing::debug!("iptables-legacy has a nat table: iptables state is possible");
                return Ok(true);
            }
            let conn = match self.nft.get() {
                Some(conn) => conn,
                None => {
                    // This thread is in the namespace (see below).
                    let opened = NfConn::open_current()?;
                    self.nft.get_or_init(|| opened)
                }
            };
            nft_check(&mut *conn.lock()?)
        };
        match &self.netns {
            None => look(),
            Some(ns) => ns.run_blocking(look)?,
        }
    }

    /// Runs one command in the namespace and returns its output (whatever its exit status).
    fn run(&self, tool: &str, args: &[&str]) -> Result<Output> {
        let mut cmd = Command::new(tool);
        cmd.arg("-w").args(args);
        let context = format!("running {tool} {}", args.join(" "));
        match &self.netns {
            None => cmd.output().map_err(|e| Error::io(e, context)),
            Some(ns) => ns.run_blocking(|| cmd.output().map_err(|e| Error::io(e, context)))?,
        }
    }

    /// Runs a command that must succeed.
    fn check(&self, tool: &str, args: &[&str]) -> Result<()> {
        let out = self.run(tool, args)?;
        if out.status.success() {
            return Ok(());
        }
        Err(command_error(tool, args, &out))
    }

    /// Runs a deletion; "does not exist" answers count as success.
    fn delete(&self, tool: &str, args: &[&str]) -> Result<()> {
        let out = self.run(tool, args)?;
        if out.status.success() || is_not_exist(&out) {
            return Ok(());
        }
        Err(command_error(tool, args, &out))
    }

    /// `-C` then `-A`: appends the rule unless it is already there.
    fn append_unique(&self, tool: &str, rule: &[&str]) -> Result<()> {
        let mut probe = vec!["-t", "nat", "-C"];
        probe.extend_from_slice(rule);
        if self.run(tool, &probe)?.status.success() {
            return Ok(());
        }
        let mut add = vec!["-t", "nat", "-A"];
        add.extend_from_slice(rule);
        self.check(tool, &add)
    }

    /// Sets up masquerading of `addresses` as the reference does, plus an `ACCEPT` rule per
    /// `never_masquerade` CIDR of the same IP version. Idempotent.
    pub fn add(
        &self,
        network: &str,
        attachment: &Attachment,
        addresses: &[IpNetwork],
        never_masquerade: &[IpNetwork],
    ) -> Result<()> {
        let chain = chain_name(network, &attachment.container_id);
        let comment = rule_comment(network, &attachment.container_id);
        for address in addresses {
            let (tool, multicast) = tool_for(address);
            let out = self.run(tool, &["-t", "nat", "-N", &chain])?;
            if !out.status.success()
                && !String::from_utf8_lossy(&out.stderr).contains("already exists")
            {
                return Err(command_error(tool, &["-t", "nat", "-N", &chain], &out));
            }
            let subnet = address.to_string();
            let mut accepts = vec![subnet];
            accepts.extend(
                never_masquerade
                    .iter()
                    .filter(|n| n.is_ipv4() == address.is_ipv4())
                    .map(|n| n.to_string()),
            );
            for dst in &accepts {
                self.append_unique(
                    tool,
                    &[
                        &chain,
                        "-d",
                        dst,
                        "-j",
                        "ACCEPT",
                        "-m",
                        "comment",
                        "--comment",
                        &comment,
                    ],
                )?;
            }
            self.append_unique(
                tool,
                &[
                    &chain,
                    "!",
                    "-d",
                    multicast,
                    "-j",
                    "MASQUERADE",
                    "-m",
                    "comment",
                    "--comment",
                    &comment,
                ],
            )?;
            let source = address.ip().to_string();
            self.append_unique(tool, &jump_rule(&source, &chain, &comment))?;
        }
        Ok(())
    }

    /// Tears down the container's chain and the `POSTROUTING` rules that jump to it (found by
    /// listing, so the addresses need not be known). Missing state is success.
    pub fn remove(&self, network: &str, attachment: &Attachment) -> Result<()> {
        for (tool, _) in TOOLS {
            let listing = self.list_postrouting(tool)?;
            let chain = chain_name(network, &attachment.container_id);
            let sources: Vec<String> = parse_postrouting(&listing, network)
                .into_iter()
                .filter(|r| r.chain == chain)
                .map(|r| r.source)
                .collect();
            self.teardown(tool, network, &attachment.container_id, &sources)?;
        }
        Ok(())
    }

    fn teardown(
        &self,
        tool: &str,
        network: &str,
        container_id: &str,
        sources: &[String],
    ) -> Result<()> {
        let chain = chain_name(network, container_id);
        let comment = rule_comment(network, container_id);
        let mut sources = sources.to_vec();
        let mut attempt = 0;
        loop {
            for source in &sources {
                let mut args = vec!["-t", "nat", "-D"];
                args.extend(jump_rule(source, &chain, &comment));
                self.delete(tool, &args)?;
            }
            self.delete(tool, &["-t", "nat", "-F", &chain])?;
            let remove = ["-t", "nat", "-X", chain.as_str()];
            let out = self.run(tool, &remove)?;
            if out.status.success() || is_not_exist(&out) {
                return Ok(());
            }
            attempt += 1;
            if !is_still_referenced(&out) || attempt >= TEARDOWN_ATTEMPTS {
                return Err(command_error(tool, &remove, &out));
            }
            // A rule jumping to the chain appeared after the listing: the iptables process of
            // an ADD whose plugin was killed outlives it and finishes its work. Remove what
            // jumps there now, and the chain again.
            let listing = self.list_postrouting(tool)?;
            sources = parse_postrouting(&listing, network)
                .into_iter()
                .filter(|r| r.chain == chain)
                .map(|r| r.source)
                .collect();
        }
    }

    fn list_postrouting(&self, tool: &str) -> Result<String> {
        let args = ["-t", "nat", "-S", "POSTROUTING"];
        let out = self.run(tool, &args)?;
        if !out.status.success() {
            return Err(command_error(tool, &args, &out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The containers with masquerade rules on `network` (sorted; `ifname` is empty, see the type
    /// docs).
    pub fn attachments(&self, network: &str) -> Result<Vec<Attachment>> {
        let mut ids = BTreeSet::new();
        for (tool, _) in TOOLS {
            let listing = self.list_postrouting(tool)?;
            ids.extend(
                parse_postrouting(&listing, network)
                    .into_iter()
                    .map(|r| r.container_id),
            );
        }
        Ok(ids.into_iter().map(|id| Attachment::new(id, "")).collect())
    }

    /// Tears down every container of `network` whose id is not among `valid`; returns them.
    pub fn gc(&self, network: &str, valid: &[Attachment]) -> Result<Vec<Attachment>> {
        self.teardown_where(network, |id| !valid.iter().any(|a| a.container_id == id))
    }

    /// Tears down every container of `network`.
    pub fn remove_network(&self, network: &str) -> Result<()> {
        self.teardown_where(network, |_| true).map(drop)
    }

    fn teardown_where(
        &self,
        network: &str,
        doomed: impl Fn(&str) -> bool,
    ) -> Result<Vec<Attachment>> {
        let mut removed = BTreeSet::new();
        for (tool, _) in TOOLS {
            let listing = self.list_postrouting(tool)?;
            let mut by_container: std::collections::BTreeMap<String, Vec<String>> =
                Default::default();
            for r in parse_postrouting(&listing, network) {
                if doomed(&r.container_id) {
                    by_container
                        .entry(r.container_id)
                        .or_default()
                        .push(r.source);
                }
            }
            for (id, sources) in by_container {
                self.teardown(tool, network, &id, &sources)?;
                removed.insert(id);
            }
        }
        Ok(removed
            .into_iter()
            .map(|id| Attachment::new(id, ""))
            .collect())
    }
}

fn tool_for(address: &IpNetwork) -> (&'static str, &'static str) {
    match address {
        IpNetwork::V4(_) => TOOLS[0],
        IpNetwork::V6(_) => TOOLS[1],
    }
}

/// The `POSTROUTING` rule that sends `source`'s packets to the container's chain (as the
/// reference writes it).
fn jump_rule<'a>(source: &'a str, chain: &'a str, comment: &'a str) -> [&'a str; 9] {
    [
        "POSTROUTING",
        "-s",
        source,
        "-j",
        chain,
        "-m",
        "comment",
        "--comment",
        comment,
    ]
}

/// How often [`IptablesMasquerade::teardown`] tries to remove a chain that is still referenced.
const TEARDOWN_ATTEMPTS: usize = 5;

/// `-X` refused because a rule still jumps to the chain (`EBUSY`).
fn is_still_referenced(out: &Output) -> bool {
    String::from_utf8_lossy(&out.stderr).contains("Device or resource busy")
}

/// The answers iptables gives for a rule or chain that is not there (as go-iptables checks).
fn is_not_exist(out: &Output) -> bool {
    let stderr = String::from_utf8_lossy(&out.stderr);
    out.status.code() == Some(1)
        && [
            "does a matching rule exist",
            "No chain/target/match",
            "does not exist",
            "No such file or directory",
        ]
        .iter()
        .any(|m| stderr.contains(m))
}

fn command_error(tool: &str, args: &[&str], out: &Output) -> Error {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let message = format!(
        "{tool} {} failed ({}): {}",
        args.join(" "),
        out.status,
        stderr.trim()
    );
    if stderr.contains("Permission denied") || stderr.contains("you must be root") {
        Error::PermissionDenied(message)
    } else {
        Error::Internal(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule jumping to the chain that appears after the listing (the iptables process of an
    /// ADD whose plugin was killed, finishing its work) is found and removed, then the chain,
    /// instead of the teardown failing with "Device or resource busy".
    #[test]
    fn teardown_removes_jumps_that_appear_after_the_listing() {
        let node = crate::testkit::TestNode::new();
        let masq = IptablesMasquerade::open(node.netns());
        let att = Attachment::new("c9", "eth0");
        let addr: IpNetwork = "10.9.0.5/24".parse().unwrap();
        masq.add("net9", &att, &[addr], &[]).unwrap();
        let listing = masq.list_postrouting("iptables").unwrap();
        assert_eq!(parse_postrouting(&listing, "net9").len(), 1, "{listing}");
        // As if the listing had been made before the jump was added: no sources known.
        masq.teardown("iptables", "net9", "c9", &[]).unwrap();
        let listing = masq.list_postrouting("iptables").unwrap();
        assert!(parse_postrouting(&listing, "net9").is_empty(), "{listing}");
        let all = masq.run("iptables", &["-t", "nat", "-S"]).unwrap();
        let all = String::from_utf8_lossy(&all.stdout);
        assert!(!all.contains(&chain_name("net9", "c9")), "{all}");
    }

    #[test]
    fn chain_name_matches_the_reference_format() {
        let chain = chain_name("test", "1234");
        assert_eq!(chain.len(), 28);
        assert!(chain.starts_with("CNI-"));
        assert_eq!(chain, format!("CNI-{}", &sha512_hex("test1234", 24)));
        assert_ne!(chain, chain_name("test", "1235"));
    }

    #[test]
    fn comment_quotes_like_go() {
        assert_eq!(rule_comment("net", "abc"), r#"name: "net" id: "abc""#);
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn postrouting_listing_is_parsed() {
        let chain = chain_name("mynet", "c1");
        let listing = format!(
            "-P POSTROUTING ACCEPT\n\
             -A POSTROUTING -s 10.1.0.5/32 -m comment --comment \"name: \\\"mynet\\\" id: \\\"c1\\\"\" -j {chain}\n\
             -A POSTROUTING -s 10.1.0.6/32 -m comment --comment \"name: \\\"other\\\" id: \\\"c2\\\"\" -j CNI-abc\n\
             -A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE\n"
        );
        let rules = parse_postrouting(&listing, "mynet");
        assert_eq!(
            rules,
            vec![ListedRule {
                source: "10.1.0.5/32".into(),
                chain,
                container_id: "c1".into()
            }]
        );
        assert_eq!(parse_postrouting(&listing, "other").len(), 1);
        assert!(parse_postrouting(&listing, "none").is_empty());
    }
}

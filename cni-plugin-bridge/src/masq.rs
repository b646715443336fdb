//! Masquerading of the pod addresses, through `cni-netlink`'s nftables (default) or iptables
//! backend, keyed by network + container id + ifname so that DEL and GC need no addresses.
//!
//! ADD writes to the configured backend only. DEL and GC ([`remove_from_both`]) clean both, as
//! the reference's DEL does: state of the other backend is left when the network's
//! `ipMasqBackend` changed since ADD, or when an older plugin or the Go reference bridge
//! (iptables only) made the pod. The configured backend's errors are reported as before. The
//! other's are logged (warn) and not reported: its state belongs to a backend the network no
//! longer uses, and a failing DEL would keep the runtime from ever finishing the pod's deletion
//! over rules that the current config does not depend on. iptables processes run only when
//! [`IptablesMasquerade::may_hold`] (or `may_hold_network` for GC) says, without a process,
//! that there may be something to remove, so a DEL configured for nftables on a node without
//! iptables state runs no process.

use cni_netlink::masquerade::{Attachment, IptablesMasquerade, Masquerade, MasqueradeBackend};
use ipnetwork::IpNetwork;

use crate::config::MasqBackend;
use crate::error::BridgeError;

/// An open masquerade backend in the plugin's (the node's) namespace.
pub(crate) enum Masq {
    /// nftables over netlink.
    Nft(Masquerade),
    /// iptables / ip6tables processes, as the reference.
    Ipt(IptablesMasquerade),
}

impl Masq {
    /// Opens the backend in the calling thread's namespace.
    pub(crate) fn open(backend: MasqBackend) -> Result<Masq, BridgeError> {
        Ok(match backend {
            MasqBackend::Nftables => Masq::Nft(
                Masquerade::open_current()
                    .map_err(|e| BridgeError::kernel("failed to open nftables", e))?,
            ),
            MasqBackend::Iptables => Masq::Ipt(IptablesMasquerade::open_current()),
        })
    }

    /// The backend, for the operations both have.
    fn backend(&self) -> &dyn MasqueradeBackend {
        match self {
            Masq::Nft(m) => m,
            Masq::Ipt(m) => m,
        }
    }

    /// Masquerades `addresses` of the attachment, except towards their own subnets and `never`.
    pub(crate) fn add(
        &self,
        network: &str,
        att: &Attachment,
        addresses: &[IpNetwork],
        never: &[IpNetwork],
    ) -> Result<(), BridgeError> {
        self.backend()
            .add(network, att, addresses, never)
            .map_err(|e| BridgeError::kernel("failed to set up IP masquerading", e))
    }

    /// Removes the attachment's masquerading. Missing state is success.
    pub(crate) fn remove(&self, network: &str, att: &Attachment) -> Result<(), BridgeError> {
        self.backend()
            .remove(network, att)
            .map_err(|e| BridgeError::kernel("failed to tear down IP masquerading", e))
    }
}

/// Whose masquerade state DEL or GC removes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Doomed<'a> {
    /// DEL: this attachment's.
    Attachment(&'a Attachment),
    /// GC: that of every attachment of the network not among these.
    AllBut(&'a [Attachment]),
}

impl Doomed<'_> {
    /// Removes this state of `network` from `backend`.
    fn remove_from(
        self,
        backend: &dyn MasqueradeBackend,
        network: &str,
    ) -> cni_netlink::Result<()> {
        match self {
            Doomed::Attachment(att) => backend.remove(network, att),
            Doomed::AllBut(valid) => backend.gc(network, valid).map(drop),
        }
    }
}

/// The backends [`remove_from_both`] opened. The caller keeps them until it ends: closing a
/// netfilter socket waits for the kernel's deferred frees that the removal queued (see DEL).
#[derive(Debug)]
pub(crate) struct Opened {
    _nft: Option<Masquerade>,
    _ipt: IptablesMasquerade,
}

/// Removes `doomed`'s masquerade state on `network` from both backends (see the module docs):
/// the configured one's errors are returned, the other's logged. iptables goes first, so that
/// its processes (if any) exit before the nftables removal queues deferred frees that closing
/// their sockets would wait for.
pub(crate) fn remove_from_both(
    configured: MasqBackend,
    network: &str,
    doomed: Doomed<'_>,
) -> (Opened, Result<(), BridgeError>) {
    let context = match doomed {
        Doomed::Attachment(_) => "failed to tear down IP masquerading",
        Doomed::AllBut(_) => "failed to garbage-collect IP masquerading",
    };
    let mut errors = Vec::new();

    let ipt = IptablesMasquerade::open_current();
    if configured == MasqBackend::Iptables {
        let removed = doomed.remove_from(&ipt, network);
        errors.extend(removed.err().map(|e| BridgeError::kernel(context, e)));
    } else if iptables_may_hold(&ipt, network, doomed)
        && let Err(e) = doomed.remove_from(&ipt, network)
    {
        tracing::warn!(error = %e, "removing iptables masquerade state (not the configured backend)");
    }

    let nft = match Masquerade::open_current() {
        Ok(m) => {
            match doomed.remove_from(&m, network) {
                Err(e) if configured == MasqBackend::Nftables => {
                    errors.push(BridgeError::kernel(context, e));
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "removing nftables masquerade state (not the configured backend)"
                ),
                Ok(()) => {}
            }
            Some(m)
        }
        Err(e) if configured == MasqBackend::Nftables => {
            errors.push(BridgeError::kernel("failed to open nftables", e));
            None
        }
        Err(e) => {
            tracing::debug!(error = %e, "no nftables masquerade state to remove: cannot open nftables");
            None
        }
    };
    let opened = Opened {
        _nft: nft,
        _ipt: ipt,
    };
    (opened, BridgeError::collect(errors))
}

/// Whether the (not configured) iptables backend may hold `doomed`'s state; when that cannot be
/// told, yes (a leftover rule masquerades forever, an unneeded process costs a few ms once).
fn iptables_may_hold(ipt: &IptablesMasquerade, network: &str, doomed: Doomed<'_>) -> bool {
    let answer = match doomed {
        Doomed::Attachment(att) => ipt.may_hold(network, att),
        Doomed::AllBut(_) => ipt.may_hold_network(network),
    };
    answer.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "cannot tell whether iptables holds masquerade state: removing");
        true
    })
}

//! Masquerading of the pod addresses, through `cni-netlink`'s nftables (default) or iptables
//! backend, keyed by network + container id + ifname so that DEL and GC need no addresses.

use cni_netlink::masquerade::{Attachment, IptablesMasquerade, Masquerade};
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

    /// Masquerades `addresses` of the attachment, except towards their own subnets and `never`.
    pub(crate) fn add(
        &self,
        network: &str,
        att: &Attachment,
        addresses: &[IpNetwork],
        never: &[IpNetwork],
    ) -> Result<(), BridgeError> {
        let r = match self {
            Masq::Nft(m) => m.add(network, att, addresses, never),
            Masq::Ipt(m) => m.add(network, att, addresses, never),
        };
        r.map_err(|e| BridgeError::kernel("failed to set up IP masquerading", e))
    }

    /// Removes the attachment's masquerading. Missing state is success.
    pub(crate) fn remove(&self, network: &str, att: &Attachment) -> Result<(), BridgeError> {
        let r = match self {
            Masq::Nft(m) => m.remove(network, att),
            Masq::Ipt(m) => m.remove(network, att),
        };
        r.map_err(|e| BridgeError::kernel("failed to tear down IP masquerading", e))
    }

    /// Removes the masquerading of every attachment of `network` not in `valid`.
    pub(crate) fn gc(&self, network: &str, valid: &[Attachment]) -> Result<(), BridgeError> {
        let r = match self {
            Masq::Nft(m) => m.gc(network, valid).map(drop),
            Masq::Ipt(m) => m.gc(network, valid).map(drop),
        };
        r.map_err(|e| BridgeError::kernel("failed to garbage-collect IP masquerading", e))
    }
}

//! [`HostLocal`]: the host-local IPAM behind the [`Ipam`] trait, over the disk store.

use async_trait::async_trait;
use cni_types::{IpConfig, Result100, Version};

use crate::error::{IpamError, Result};
use crate::host_local::config::HostLocalConfig;
use crate::host_local::disk::DiskStore;
use crate::host_local::dns::read_resolv_conf;
use crate::host_local::ops;
use crate::ipam::Ipam;
use crate::request::IpamRequest;

/// host-local IPAM, in-process, sharing its on-disk state with Go host-local.
///
/// The async methods run the file work on tokio's blocking pool (the `flock` may wait); the
/// `*_blocking` methods do the same work on the calling thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostLocal;

fn check_attachment(req: &IpamRequest) -> Result<()> {
    cni_types::validate::container_id(&req.container_id)?;
    cni_types::validate::interface_name(&req.ifname)?;
    Ok(())
}

impl HostLocal {
    /// host-local IPAM.
    pub fn new() -> Self {
        HostLocal
    }

    /// ADD on the calling thread: one address per range set, the configured routes, and DNS
    /// from `resolvConf`.
    pub fn add_blocking(&self, req: &IpamRequest) -> Result<Result100> {
        let conf = HostLocalConfig::from_request(req)?;
        check_attachment(req)?;
        let dns = match &conf.resolv_conf {
            Some(path) => Some(read_resolv_conf(path)?),
            None => None,
        };
        let store = DiskStore::open(&conf.data_dir, &conf.network)?;
        allocate(req, conf, dns, &store)
    }

    /// [`HostLocal::add_blocking`] with the configuration already read from `req`
    /// ([`HostLocalConfig::from_request`]) and its store already opened
    /// ([`DiskStore::open`] of `conf.data_dir` and `conf.network`): a plugin that checks both
    /// before it changes anything does not read and open them twice.
    pub fn add_blocking_in(
        &self,
        req: &IpamRequest,
        conf: HostLocalConfig,
        store: &DiskStore,
    ) -> Result<Result100> {
        check_attachment(req)?;
        let dns = match &conf.resolv_conf {
            Some(path) => Some(read_resolv_conf(path)?),
            None => None,
        };
        allocate(req, conf, dns, store)
    }

    /// DEL on the calling thread: frees the attachment's addresses; nothing to free (no state
    /// directory, unknown id) is success.
    pub fn del_blocking(&self, req: &IpamRequest) -> Result<()> {
        let conf = HostLocalConfig::from_request(req)?;
        check_attachment(req)?;
        if let Some(store) = DiskStore::open_existing(&conf.data_dir, &conf.network)? {
            ops::release(&store, &req.container_id, &req.ifname, conf.ranges.len())?;
        }
        Ok(())
    }

    /// CHECK on the calling thread: the attachment must hold an address.
    pub fn check_blocking(&self, req: &IpamRequest) -> Result<()> {
        let conf = HostLocalConfig::from_request(req)?;
        check_attachment(req)?;
        match DiskStore::open_existing(&conf.data_dir, &conf.network)? {
            // prevResult's addresses are looked at first; an unreadable prevResult only means
            // no hints (host-local's CHECK does not depend on it).
            Some(store) => {
                let hints: Vec<std::net::IpAddr> = req
                    .config
                    .prev_result_current()
                    .ok()
                    .flatten()
                    .map(|r| r.ips.iter().map(|ip| ip.address.ip()).collect())
                    .unwrap_or_default();
                ops::check_with_hints(&store, &req.container_id, &req.ifname, &hints)
            }
            None => Err(IpamError::internal(format!(
                "host-local: Failed to find address added by container {}",
                req.container_id
            ))),
        }
    }

    /// STATUS on the calling thread: code 50 when some range set is full.
    pub fn status_blocking(&self, req: &IpamRequest) -> Result<()> {
        let conf = HostLocalConfig::from_request(req)?;
        match DiskStore::open_existing(&conf.data_dir, &conf.network)? {
            Some(store) => ops::status(&conf.ranges, &store),
            None => Ok(()),
        }
    }

    /// GC on the calling thread: frees the network's reservations whose attachment is not
    /// valid. Returns how many were freed.
    pub fn gc_blocking(&self, req: &IpamRequest) -> Result<usize> {
        let conf = HostLocalConfig::from_request(req)?;
        let valid: Vec<(String, String)> = req
            .valid_attachments()
            .iter()
            .map(|a| (a.container_id.clone(), a.ifname.clone()))
            .collect();
        match DiskStore::open_existing(&conf.data_dir, &conf.network)? {
            Some(store) => {
                let freed = ops::gc(&store, &valid)?;
                for r in &freed {
                    tracing::info!(ip = %r.ip, container_id = %r.container_id, "GC freed a stale reservation");
                }
                Ok(freed.len())
            }
            None => Ok(0),
        }
    }
}

/// The allocation of an ADD, and its result.
fn allocate(
    req: &IpamRequest,
    conf: HostLocalConfig,
    dns: Option<cni_types::Dns>,
    store: &DiskStore,
) -> Result<Result100> {
    let mut result = Result100::new(Version::CURRENT);
    if let Some(dns) = dns {
        result.dns = dns;
    }
    let got = ops::allocate(
        &conf.ranges,
        store,
        &req.container_id,
        &req.ifname,
        &conf.requested,
    )?;
    result.ips = got
        .into_iter()
        .map(|a| IpConfig {
            interface: None,
            address: a.address,
            gateway: Some(a.gateway),
        })
        .collect();
    result.routes = conf.routes;
    Ok(result)
}

/// Runs `f` on tokio's blocking pool.
async fn blocking<T, F>(req: &IpamRequest, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&IpamRequest) -> Result<T> + Send + 'static,
{
    let req = req.clone();
    tokio::task::spawn_blocking(move || f(&req))
        .await
        .map_err(|e| IpamError::internal(format!("host-local task failed: {e}")))?
}

#[async_trait]
impl Ipam for HostLocal {
    async fn add(&self, req: &IpamRequest) -> Result<Result100> {
        blocking(req, |r| HostLocal.add_blocking(r)).await
    }

    async fn del(&self, req: &IpamRequest) -> Result<()> {
        blocking(req, |r| HostLocal.del_blocking(r)).await
    }

    async fn check(&self, req: &IpamRequest) -> Result<()> {
        blocking(req, |r| HostLocal.check_blocking(r)).await
    }

    async fn status(&self, req: &IpamRequest) -> Result<()> {
        blocking(req, |r| HostLocal.status_blocking(r)).await
    }

    async fn gc(&self, req: &IpamRequest) -> Result<()> {
        blocking(req, |r| HostLocal.gc_blocking(r).map(|_| ())).await
    }
}

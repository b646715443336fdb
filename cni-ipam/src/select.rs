//! Choosing the IPAM for a configuration.

use crate::delegate::DelegatedIpam;
use crate::host_local::HostLocal;
use crate::ipam::Ipam;
use crate::static_ipam::StaticIpam;

/// The IPAM for `ipam_type`: `host-local` and `static` run in-process (no exec), anything else
/// is delegated to the plugin binary of that name on `CNI_PATH`.
pub fn ipam_for(ipam_type: &str) -> Box<dyn Ipam> {
    match ipam_type {
        "host-local" => Box::new(HostLocal),
        "static" => Box::new(StaticIpam),
        _ => Box::new(DelegatedIpam::new()),
    }
}

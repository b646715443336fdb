//! `host-local`: a drop-in replacement for the Go host-local IPAM plugin, sharing its state.

fn main() -> std::process::ExitCode {
    cni_skel::main(cni_ipam::IpamPlugin::new(cni_ipam::HostLocal, "host-local"))
}

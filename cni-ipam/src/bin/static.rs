//! `static`: a drop-in replacement for the Go static IPAM plugin.

fn main() -> std::process::ExitCode {
    cni_skel::main(cni_ipam::IpamPlugin::new(cni_ipam::StaticIpam, "static"))
}

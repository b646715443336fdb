//! `host-local`: a drop-in replacement for the Go host-local IPAM plugin, sharing its state.

/// Built for musl (as `scripts/build-plugins` does), the plugin allocates with dlmalloc: musl's
/// own malloc returns freed memory to the kernel at once. See the `bridge` binary.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> std::process::ExitCode {
    cni_skel::main(cni_ipam::IpamPlugin::new(cni_ipam::HostLocal, "host-local"))
}

//! The `bridge` CNI plugin binary.

/// Built for musl (as `scripts/build-plugins` does), the plugin allocates with dlmalloc: musl's
/// own malloc returns freed memory to the kernel at once, which costs one ADD about 90 `mmap`
/// and `munmap` calls and their page faults. glibc's malloc keeps it, so other targets use it.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> std::process::ExitCode {
    cni_skel::main(cni_plugin_bridge::BridgePlugin)
}

//! The `bridge` CNI plugin binary.
#![no_main]

/// Built for musl (as `scripts/build-plugins` does), the plugin allocates with dlmalloc: musl's
/// own malloc returns freed memory to the kernel at once, which costs one ADD about 90 `mmap`
/// and `munmap` calls and their page faults. glibc's malloc keeps it, so other targets use it.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// The process's entry point, without the Rust runtime's start-up: see [`cni_skel::c_main`].
#[unsafe(no_mangle)]
pub extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    cni_skel::c_main(cni_plugin_bridge::BridgePlugin)
}

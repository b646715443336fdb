//! The `bridge` CNI plugin binary.

fn main() -> std::process::ExitCode {
    cni_skel::main(cni_plugin_bridge::BridgePlugin)
}

//! One executable, several programs: the demo binary doubles as the `bridge` CNI plugin.
//!
//! A container runtime executes plugins by path. The pod network demo must run our real
//! `bridge` plugin as a process, yet `cargo run --example` builds only the example. So the demo
//! links the plugin in and places a symlink called `bridge` that points at its own executable
//! in a private `CNI_PATH` directory; when the program starts under the name `bridge`
//! ([`invoked_as`]) it runs the plugin's `main` instead of the demo ([`run_plugin_if_invoked`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::error::{Error, Result};

/// The plugins this executable can be, by the file name it is invoked under.
pub const PLUGINS: &[&str] = &["bridge"];

/// The file name of `argv[0]`, if any.
pub fn invoked_as() -> Option<String> {
    let argv0 = std::env::args_os().next()?;
    Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

/// When the program was started as one of [`PLUGINS`], runs that plugin (reading the CNI
/// protocol from the environment and stdin) and returns its exit code; otherwise `None`.
pub fn run_plugin_if_invoked() -> Option<ExitCode> {
    match invoked_as().as_deref() {
        Some("bridge") => Some(cni_skel::main(cni_plugin_bridge::BridgePlugin)),
        _ => None,
    }
}

/// Creates `dir` (if needed) with a symlink per entry of [`PLUGINS`] pointing at the running
/// executable, and returns `dir`: a `CNI_PATH` under which the runtime finds the plugins.
pub fn install_plugin_links(dir: &Path) -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(Error::io("finding the running executable"))?;
    std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    for name in PLUGINS {
        let link = dir.join(name);
        match std::fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("replacing {}", link.display()))(e)),
        }
        std::os::unix::fs::symlink(&exe, &link).map_err(Error::io(format!(
            "linking {} to {}",
            link.display(),
            exe.display()
        )))?;
    }
    Ok(dir.to_path_buf())
}

//! Executing one plugin binary: environment, stdin, captured stdout/stderr, exit status.

use std::io::{ErrorKind, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use cni_types::CniError;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::error::SkelError;

/// How often a spawn that fails with "text file busy" is tried in all (the binary was being
/// written a moment ago, e.g. by a package upgrade or a concurrent test).
const SPAWN_ATTEMPTS: u32 = 7;
/// First backoff after a "text file busy" spawn failure; doubled after each further failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// Runs the plugin at `path` with exactly the environment `env`, feeding `stdin`, and returns its
/// stdout on success (exit status 0).
///
/// What the plugin wrote to stderr is copied to this process's stderr on success, as libcni does.
/// On a non-zero exit the outcome is, from the most to the least informative:
/// - the plugin printed an error JSON: [`SkelError::Plugin`] carrying that error as-is (its code,
///   message and details are kept);
/// - it printed something else: [`SkelError::PluginBadOutput`] quoting it;
/// - it printed nothing on stdout: [`SkelError::PluginCrashed`] quoting its stderr and exit status.
///
/// The child is killed if the returned future is dropped, so wrapping a call in
/// `tokio::time::timeout` bounds a hanging plugin.
pub async fn exec_plugin(
    path: &Path,
    stdin: &[u8],
    env: &[(String, String)],
) -> Result<Vec<u8>, SkelError> {
    let output = run_to_completion(path, stdin, env).await?;
    if output.status.success() {
        if !output.stderr.is_empty() {
            // Informational only; a closed stderr is not worth failing the call for.
            let _ = std::io::stderr().write_all(&output.stderr);
        }
        return Ok(output.stdout);
    }
    Err(failure(path, &output))
}

async fn run_to_completion(
    path: &Path,
    stdin: &[u8],
    env: &[(String, String)],
) -> Result<std::process::Output, SkelError> {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    let mut child = loop {
        let spawned = Command::new(path)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        match spawned {
            Ok(child) => break child,
            Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && attempt < SPAWN_ATTEMPTS => {
                tracing::debug!(plugin = %path.display(), attempt, "text file busy, retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            Err(source) => {
                return Err(SkelError::Spawn {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    };
    let pipe = child.stdin.take();
    let feed = async move {
        if let Some(mut pipe) = pipe {
            // A plugin may exit without reading its stdin (VERSION does): a broken pipe is fine.
            let _ = pipe.write_all(stdin).await;
            let _ = pipe.shutdown().await;
        }
    };
    let (_, waited) = tokio::join!(feed, child.wait_with_output());
    waited.map_err(|source| SkelError::Spawn {
        path: path.to_path_buf(),
        source,
    })
}

fn failure(path: &Path, output: &std::process::Output) -> SkelError {
    let plugin = path.to_path_buf();
    let status = output.status.to_string();
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if stdout.is_empty() {
        return SkelError::PluginCrashed {
            plugin,
            status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        };
    }
    match serde_json::from_slice::<CniError>(&output.stdout) {
        Ok(error) => SkelError::Plugin { plugin, error },
        Err(e) => SkelError::PluginBadOutput {
            plugin,
            status,
            stdout,
            reason: e.to_string(),
        },
    }
}

//! Delegation: a plugin running another plugin (typically its IPAM plugin) with its own config
//! and environment, as spec §4 describes.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use cni_types::{CniError, Command, Result100, Version};

use crate::env::{CNI_COMMAND, CniEnv};
use crate::error::SkelError;
use crate::invoke::{exec_with_result, exec_without_result, find_in_path};

/// Runs delegated plugins the way the spec says: found on the caller's `CNI_PATH`, given the
/// caller's environment with only `CNI_COMMAND` changed, and the caller's complete config on stdin.
///
/// Every plugin request carries one (`req.delegate`); build one yourself with
/// [`Delegate::new`]. Errors are [`SkelError`]s; `?` in a plugin turns them into a
/// [`CniError`] that keeps the delegate's own code, message and details.
///
/// When the caller's ADD fails after a successful delegated ADD, the delegate must be released
/// with DEL: [`Delegate::add_then`] does that for you, or call [`Delegate::release`].
#[derive(Clone, Debug)]
pub struct Delegate {
    /// Shared: a plugin clones its delegate (e.g. into an IPAM request) without copying the
    /// environment's strings.
    env: Arc<CniEnv>,
    cni_path: Vec<PathBuf>,
    stdin: Arc<[u8]>,
    version: Version,
}

impl Delegate {
    /// A delegate passing `stdin` (the config) and `env` (whose `CNI_PATH` is searched).
    /// `version` is the config's version, used to read a result that names none.
    pub fn new(env: CniEnv, stdin: impl Into<Arc<[u8]>>, version: Version) -> Self {
        Delegate {
            cni_path: env.cni_path(),
            env: Arc::new(env),
            stdin: stdin.into(),
            version,
        }
    }

    /// The same delegate with a different config on stdin (e.g. one with `runtimeConfig` or
    /// `prevResult` changed). The spec says to pass the complete config unchanged; use this only
    /// when a delegate needs something else.
    #[must_use]
    pub fn with_config(&self, stdin: impl Into<Arc<[u8]>>) -> Self {
        Delegate {
            stdin: stdin.into(),
            ..self.clone()
        }
    }

    /// The config passed on stdin.
    pub fn stdin(&self) -> &[u8] {
        &self.stdin
    }

    /// The environment passed on (before `CNI_COMMAND` is set per call).
    pub fn env(&self) -> &CniEnv {
        &self.env
    }

    /// The directories searched for delegated plugins (`CNI_PATH`).
    pub fn cni_path(&self) -> &[PathBuf] {
        &self.cni_path
    }

    /// The config's spec version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Delegated ADD: returns the delegate's result as a current [`Result100`] (whatever version
    /// the delegate answered in).
    pub async fn add(&self, plugin: &str) -> Result<Result100, SkelError> {
        let path = find_in_path(plugin, &self.cni_path)?;
        let env = self.env_for(Command::Add);
        tracing::debug!(plugin, "delegating ADD");
        let result = exec_with_result(&path, &self.stdin, &env).await?;
        Ok(result.to_current())
    }

    /// Delegated DEL.
    pub async fn del(&self, plugin: &str) -> Result<(), SkelError> {
        self.run(plugin, Command::Del).await
    }

    /// Delegated CHECK.
    pub async fn check(&self, plugin: &str) -> Result<(), SkelError> {
        self.run(plugin, Command::Check).await
    }

    /// Delegated STATUS.
    pub async fn status(&self, plugin: &str) -> Result<(), SkelError> {
        self.run(plugin, Command::Status).await
    }

    /// Delegated GC (the config carries `cni.dev/valid-attachments` as the runtime sent it).
    pub async fn gc(&self, plugin: &str) -> Result<(), SkelError> {
        self.run(plugin, Command::Gc).await
    }

    /// Best-effort delegated DEL, to undo a delegated ADD after a later failure: a failure is
    /// logged (warn) and otherwise ignored, so the caller can return its original error.
    pub async fn release(&self, plugin: &str) {
        if let Err(e) = self.del(plugin).await {
            tracing::warn!(plugin, error = %e, "releasing the delegated ADD failed");
        }
    }

    /// Delegated ADD, then `then` with its result; if `then` fails, the delegated ADD is released
    /// (DEL, best effort) before `then`'s error is returned. A failed delegated ADD is returned
    /// as-is (converted to [`CniError`], keeping the delegate's code).
    ///
    /// ```no_run
    /// # use cni_skel::Delegate;
    /// # use cni_types::{CniError, CniResult, Result100};
    /// # async fn setup_interface(ipam: &Result100) -> Result<Result100, CniError> { Ok(ipam.clone()) }
    /// # async fn demo(delegate: &Delegate) -> Result<CniResult, CniError> {
    /// let result = delegate
    ///     .add_then("host-local", |ipam| async move { setup_interface(&ipam).await })
    ///     .await?;
    /// Ok(result.into())
    /// # }
    /// ```
    pub async fn add_then<T, F, Fut>(&self, plugin: &str, then: F) -> Result<T, CniError>
    where
        F: FnOnce(Result100) -> Fut,
        Fut: Future<Output = Result<T, CniError>>,
    {
        let result = self.add(plugin).await?;
        match then(result).await {
            Ok(value) => Ok(value),
            Err(e) => {
                self.release(plugin).await;
                Err(e)
            }
        }
    }

    fn env_for(&self, command: Command) -> CniEnv {
        CniEnv::clone(&self.env).with(CNI_COMMAND, command.as_str())
    }

    async fn run(&self, plugin: &str, command: Command) -> Result<(), SkelError> {
        let path = find_in_path(plugin, &self.cni_path)?;
        tracing::debug!(plugin, %command, "delegating");
        exec_without_result(&path, &self.stdin, &self.env_for(command)).await
    }
}

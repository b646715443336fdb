//! Executing a network config list for one attachment, as libcni's `CNIConfig` does.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cni_types::{
    CniError, CniResult, Command, GcAttachment, NetConfList, Version, VersionInfo, validate,
};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use super::cache::{CacheEntry, CachedAttachment, DEFAULT_CACHE_DIR, ResultCache};
use crate::env::CniEnv;
use crate::error::SkelError;
use crate::invoke::{self, InvokeArgs, find_in_path};

/// The per-attachment parameters of a runtime call (libcni's `RuntimeConf`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuntimeConf {
    /// The container id (`CNI_CONTAINERID`).
    pub container_id: String,
    /// The network namespace path (`CNI_NETNS`).
    pub netns: String,
    /// The interface name in the container (`CNI_IFNAME`).
    pub ifname: String,
    /// `CNI_ARGS` pairs.
    pub args: Vec<(String, String)>,
    /// Capability arguments; each plugin gets those it enables in `capabilities` as
    /// `runtimeConfig`.
    pub capability_args: Map<String, Value>,
}

impl RuntimeConf {
    /// An attachment of `container_id` through `ifname` in the namespace at `netns`.
    pub fn new(
        container_id: impl Into<String>,
        netns: impl Into<String>,
        ifname: impl Into<String>,
    ) -> Self {
        RuntimeConf {
            container_id: container_id.into(),
            netns: netns.into(),
            ifname: ifname.into(),
            ..RuntimeConf::default()
        }
    }

    fn invoke_args(&self, command: Command, path: &[PathBuf]) -> InvokeArgs {
        InvokeArgs {
            command: Some(command),
            container_id: self.container_id.clone(),
            netns: self.netns.clone(),
            ifname: self.ifname.clone(),
            args: self.args.clone(),
            path: path.to_vec(),
        }
    }
}

/// A CNI runtime: runs network config lists against attachments.
///
/// Plugins are found on `path`, run with the base environment (the process's by default) plus the
/// `CNI_*` variables, and ADD results are cached under the cache directory (`/var/lib/cni` by
/// default) in libcni's format, so that DEL, CHECK and GC get the previous result.
///
/// ```no_run
/// # async fn demo() -> Result<(), cni_skel::SkelError> {
/// use cni_skel::{CniRuntime, RuntimeConf, load_conf_list};
///
/// let runtime = CniRuntime::new(vec!["/opt/cni/bin".into()]).with_cache_dir("/tmp/cni-cache");
/// let list = load_conf_list("/etc/cni/net.d", "mynet")?;
/// let attachment = RuntimeConf::new("ctr1", "/run/netns/ctr1", "eth0");
/// let result = runtime.add_network_list(&list, &attachment).await?;
/// println!("{}", String::from_utf8_lossy(&result.to_vec()?));
/// runtime.check_network_list(&list, &attachment).await?;
/// runtime.del_network_list(&list, &attachment).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct CniRuntime {
    path: Vec<PathBuf>,
    cache: ResultCache,
    env: CniEnv,
    timeout: Option<Duration>,
    /// GC is exclusive (spec §3): ADD, DEL and CHECK hold it shared, GC holds it alone. Shared by
    /// clones of this runtime.
    gc_lock: Arc<RwLock<()>>,
}

impl CniRuntime {
    /// A runtime searching `path` for plugins, with the default cache directory and the process
    /// environment.
    pub fn new(path: Vec<PathBuf>) -> Self {
        CniRuntime {
            path,
            cache: ResultCache::new(DEFAULT_CACHE_DIR),
            env: CniEnv::from_process(),
            timeout: None,
            gc_lock: Arc::default(),
        }
    }

    /// Uses `dir` as the cache directory (results go to `dir/results/`).
    #[must_use]
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache = ResultCache::new(dir);
        self
    }

    /// Uses `env` as the base environment of plugins instead of the process environment.
    #[must_use]
    pub fn with_env(mut self, env: CniEnv) -> Self {
        self.env = env;
        self
    }

    /// Kills a plugin that runs longer than `timeout` and fails the call.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The plugin search path.
    pub fn path(&self) -> &[PathBuf] {
        &self.path
    }

    /// The result cache.
    pub fn cache(&self) -> &ResultCache {
        &self.cache
    }

    /// ADD: runs the plugins in order, each getting the previous one's result as `prevResult`
    /// (none for the first), stops at the first failure, and caches the final result (only when
    /// every plugin succeeded). Validates the container id (code 3/4), network name (7) and
    /// interface name (4) first. Returns the last plugin's result, in the version it wrote.
    pub async fn add_network_list(
        &self,
        list: &NetConfList,
        rt: &RuntimeConf,
    ) -> Result<CniResult, SkelError> {
        let _shared = self.gc_lock.read().await;
        validate::container_id(&rt.container_id)?;
        validate::network_name(&list.name)?;
        validate::interface_name(&rt.ifname)?;
        let mut prev: Option<CniResult> = None;
        for index in 0..list.plugins.len() {
            let config = list.plugin_config(index, &rt.capability_args, prev.as_ref())?;
            let result = self
                .step(list, index, "add", async |plugin| {
                    let env = rt.invoke_args(Command::Add, &self.path).to_env(&self.env);
                    let stdin = to_bytes(&config)?;
                    invoke::exec_with_result(&plugin, &stdin, &env).await
                })
                .await?;
            prev = Some(result);
        }
        let result = prev.ok_or_else(|| {
            SkelError::Cni(CniError::invalid_config(format!(
                "network {:?} has no plugins",
                list.name
            )))
        })?;
        self.cache.write(&CachedAttachment {
            container_id: rt.container_id.clone(),
            network: list.name.clone(),
            ifname: rt.ifname.clone(),
            config: to_bytes(&serde_json::to_value(list).map_err(encode_err)?)?,
            netns: rt.netns.clone(),
            cni_args: rt.args.clone(),
            capability_args: rt.capability_args.clone(),
            result: Some(result.to_value()?),
        })?;
        Ok(result)
    }

    /// DEL: runs the plugins in reverse order with the cached ADD result as `prevResult` (for
    /// lists of version 0.4.0 and later; an unreadable cache is dropped and DEL goes on without
    /// it), stops at the first failure, and removes the cache entry when all succeeded.
    pub async fn del_network_list(
        &self,
        list: &NetConfList,
        rt: &RuntimeConf,
    ) -> Result<(), SkelError> {
        let _shared = self.gc_lock.read().await;
        self.del_unlocked(list, rt).await
    }

    async fn del_unlocked(&self, list: &NetConfList, rt: &RuntimeConf) -> Result<(), SkelError> {
        let version = list.negotiated_version()?;
        let cached = if version >= Version::V0_4_0 {
            match self.cached_result(list, rt) {
                Ok(result) => result,
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring unusable cached result on DEL");
                    if let Err(e) = self.cache.remove(&list.name, &rt.container_id, &rt.ifname) {
                        tracing::warn!(error = %e, "cannot remove the unusable cached result");
                    }
                    None
                }
            }
        } else {
            None
        };
        for index in (0..list.plugins.len()).rev() {
            let config = list.plugin_config(index, &rt.capability_args, cached.as_ref())?;
            self.step(list, index, "delete", async |plugin| {
                let env = rt.invoke_args(Command::Del, &self.path).to_env(&self.env);
                invoke::exec_without_result(&plugin, &to_bytes(&config)?, &env).await
            })
            .await?;
        }
        // The spec: a successful DEL removes the cached result (libcni keeps it for < 0.4.0,
        // where GC would then DEL the attachment again; removing it always is what the spec says).
        match self.cache.remove(&list.name, &rt.container_id, &rt.ifname) {
            Ok(()) | Err(SkelError::CacheKey { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// CHECK: runs the plugins in order with the cached ADD result as `prevResult`; stops at the
    /// first failure. Nothing runs when the list sets `disableCheck`. Errors when the list's
    /// version predates CHECK (0.4.0) or when the attachment has no cached result (never added,
    /// or deleted: the spec forbids CHECK then).
    pub async fn check_network_list(
        &self,
        list: &NetConfList,
        rt: &RuntimeConf,
    ) -> Result<(), SkelError> {
        let _shared = self.gc_lock.read().await;
        let version = list.negotiated_version()?;
        if !version.allows(Command::Check) {
            return Err(CniError::incompatible_version(format!(
                "configuration version \"{version}\" does not support the CHECK command"
            ))
            .into());
        }
        if list.disable_check {
            return Ok(());
        }
        let cached = self.cached_result(list, rt)?.ok_or_else(|| {
            CniError::invalid_config(format!(
                "no cached result for network {:?}, container {:?}, interface {:?}: it was not added",
                list.name, rt.container_id, rt.ifname
            ))
        })?;
        for index in 0..list.plugins.len() {
            let config = list.plugin_config(index, &rt.capability_args, Some(&cached))?;
            self.step(list, index, "check", async |plugin| {
                let env = rt.invoke_args(Command::Check, &self.path).to_env(&self.env);
                invoke::exec_without_result(&plugin, &to_bytes(&config)?, &env).await
            })
            .await?;
        }
        Ok(())
    }

    /// STATUS: asks each plugin in order, stopping at the first error (whose code, e.g. 50 or 51,
    /// is kept). A list older than 1.1.0 has no STATUS: success without running anything.
    pub async fn status_network_list(&self, list: &NetConfList) -> Result<(), SkelError> {
        if !list.negotiated_version()?.allows(Command::Status) {
            return Ok(());
        }
        for index in 0..list.plugins.len() {
            let config = list.status_config(index)?;
            self.step(list, index, "status", async |plugin| {
                let env = RuntimeConf::default()
                    .invoke_args(Command::Status, &self.path)
                    .to_env(&self.env);
                invoke::exec_without_result(&plugin, &to_bytes(&config)?, &env).await
            })
            .await?;
        }
        Ok(())
    }

    /// GC: first DELs every cached attachment of this network that is not in `valid` (`None`
    /// means none is valid), using the netns, args and capability args cached at ADD; then, for
    /// lists of 1.1.0 and later, sends GC with the valid attachments to every plugin. Continues
    /// past failures and reports them all. Nothing happens when the list sets `disableGC`.
    ///
    /// GC is exclusive: it waits for ADD, DEL and CHECK calls in progress on this runtime (or its
    /// clones) and holds new ones back until it is done.
    pub async fn gc_network_list(
        &self,
        list: &NetConfList,
        valid: Option<&[GcAttachment]>,
    ) -> Result<(), SkelError> {
        if list.disable_gc {
            return Ok(());
        }
        let _exclusive = self.gc_lock.write().await;
        let valid = valid.unwrap_or_default();
        let keep: HashSet<&GcAttachment> = valid.iter().collect();
        let mut errors = Vec::new();
        for cached in self.cache.attachments(None)? {
            if cached.network != list.name
                || keep.contains(&GcAttachment::new(&cached.container_id, &cached.ifname))
            {
                continue;
            }
            let rt = RuntimeConf {
                container_id: cached.container_id,
                netns: cached.netns,
                ifname: cached.ifname,
                args: cached.cni_args,
                capability_args: cached.capability_args,
            };
            tracing::debug!(container = %rt.container_id, ifname = %rt.ifname, "GC: deleting stale attachment");
            if let Err(e) = self.del_unlocked(list, &rt).await {
                errors.push(e);
            }
        }
        if list.negotiated_version()?.allows(Command::Gc) {
            for index in 0..list.plugins.len() {
                let outcome = async {
                    let config = list.gc_config(index, valid)?;
                    self.step(list, index, "gc", async |plugin| {
                        let env = RuntimeConf::default()
                            .invoke_args(Command::Gc, &self.path)
                            .to_env(&self.env);
                        invoke::exec_without_result(&plugin, &to_bytes(&config)?, &env).await
                    })
                    .await
                }
                .await;
                if let Err(e) = outcome {
                    errors.push(e);
                }
            }
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(SkelError::Multiple(errors)),
        }
    }

    /// The cached ADD result of an attachment, converted to the list's version; `None` if there
    /// is none.
    pub fn cached_result(
        &self,
        list: &NetConfList,
        rt: &RuntimeConf,
    ) -> Result<Option<CniResult>, SkelError> {
        let version = list.negotiated_version()?;
        let raw = match self.cache.read(&list.name, &rt.container_id, &rt.ifname)? {
            None => return Ok(None),
            Some(CacheEntry::Attachment(a)) => match a.result {
                Some(result) => result,
                None => return Ok(None),
            },
            Some(CacheEntry::LegacyResult(result)) => result,
        };
        let path = self
            .cache
            .file_path(&list.name, &rt.container_id, &rt.ifname)?;
        let corrupt = |e: CniError| SkelError::CacheCorrupt {
            path: path.clone(),
            reason: e.to_string(),
        };
        let result = CniResult::from_slice_own_version(&to_bytes(&raw)?).map_err(corrupt)?;
        Ok(Some(result.convert_to(version).map_err(corrupt)?))
    }

    /// The cached attachments (of one container, or all), as GC sees them.
    pub fn cached_attachments(
        &self,
        container_id: Option<&str>,
    ) -> Result<Vec<CachedAttachment>, SkelError> {
        self.cache.attachments(container_id)
    }

    /// The VERSION answer of the plugin `plugin_type`.
    pub async fn version_info(&self, plugin_type: &str) -> Result<VersionInfo, SkelError> {
        let plugin = find_in_path(plugin_type, &self.path)?;
        self.bounded(&plugin, invoke::version_info(&plugin, &self.env))
            .await
    }

    /// Checks that every plugin of the list exists and supports the list's version (asking each
    /// with VERSION); returns the capabilities the plugins enable, sorted.
    pub async fn validate_network_list(
        &self,
        list: &NetConfList,
    ) -> Result<Vec<String>, SkelError> {
        let version = list.negotiated_version()?;
        let mut errors = Vec::new();
        let mut caps = std::collections::BTreeSet::new();
        for (index, plugin) in list.plugins.iter().enumerate() {
            let plugin_type = list.plugin_type(index).unwrap_or_default();
            match self.version_info(plugin_type).await {
                Ok(info) if info.supports(version) => {}
                Ok(_) => errors.push(SkelError::Cni(CniError::incompatible_version(format!(
                    "plugin {plugin_type} does not support config version \"{version}\""
                )))),
                Err(e) => errors.push(e),
            }
            if let Some(Value::Object(declared)) = plugin.get("capabilities") {
                caps.extend(
                    declared
                        .iter()
                        .filter(|(_, on)| on.as_bool() == Some(true))
                        .map(|(k, _)| k.clone()),
                );
            }
        }
        match errors.len() {
            0 => Ok(caps.into_iter().collect()),
            1 => Err(errors.remove(0)),
            _ => Err(SkelError::Multiple(errors)),
        }
    }

    /// Finds plugin `index` and runs `call` on it, bounded by the timeout; a failure is wrapped
    /// with the plugin's type and the network name, as libcni does.
    async fn step<T>(
        &self,
        list: &NetConfList,
        index: usize,
        verb: &'static str,
        call: impl AsyncFnOnce(PathBuf) -> Result<T, SkelError>,
    ) -> Result<T, SkelError> {
        let plugin_type = list.plugin_type(index).unwrap_or_default();
        let outcome = match find_in_path(plugin_type, &self.path) {
            Ok(plugin) => self.bounded(&plugin.clone(), call(plugin)).await,
            Err(e) => Err(e),
        };
        outcome.map_err(|source| SkelError::Chain {
            plugin_type: plugin_type.to_owned(),
            network: list.name.clone(),
            verb,
            source: Box::new(source),
        })
    }

    async fn bounded<T>(
        &self,
        plugin: &std::path::Path,
        fut: impl Future<Output = Result<T, SkelError>>,
    ) -> Result<T, SkelError> {
        match self.timeout {
            None => fut.await,
            Some(limit) => tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
                Err(SkelError::Timeout {
                    plugin: plugin.to_path_buf(),
                    after: limit,
                })
            }),
        }
    }
}

fn to_bytes(value: &Value) -> Result<Vec<u8>, SkelError> {
    serde_json::to_vec(value).map_err(encode_err)
}

fn encode_err(e: serde_json::Error) -> SkelError {
    SkelError::Cni(CniError::internal(format!("failed to encode JSON: {e}")))
}

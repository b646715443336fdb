//! What an IPAM is asked: [`IpamRequest`].

use std::path::PathBuf;

use cni_skel::{AddRequest, CheckRequest, CniEnv, DelRequest, Delegate, GcRequest, StatusRequest};
use cni_types::{CniArgs, GcAttachment, IpamConf, NetConf, RequestedIp, Version};

use crate::error::{IpamError, Result};

/// One IPAM call: the attachment, the complete network configuration (IPAM plugins read
/// `name`, `cniVersion`, `ipam`, `args`, `runtimeConfig` and `prevResult` from it) and the
/// parsed `CNI_ARGS`.
///
/// Build it from a skel request ([`IpamRequest::from_add`] and friends) or directly with
/// [`IpamRequest::new`]. For STATUS and GC the container id and interface name are empty.
#[derive(Debug, Clone)]
pub struct IpamRequest {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_NETNS`, when known.
    pub netns: Option<PathBuf>,
    /// `CNI_ARGS`, parsed.
    pub args: CniArgs,
    /// The complete network configuration; the calling plugin's own keys sit in `extra`.
    pub config: NetConf,
    /// The configuration's spec version.
    pub version: Version,
    /// How to run a delegated IPAM plugin (environment and stdin of the calling plugin);
    /// [`crate::DelegatedIpam`] builds one from the process environment when absent.
    pub delegate: Option<Delegate>,
}

/// The complete configuration as the runtime sent it (the delegate's stdin), read as the
/// plain [`NetConf`] every IPAM takes, whatever the calling plugin's own config type is.
fn plain(delegate: &Delegate) -> Result<NetConf> {
    Ok(NetConf::from_slice(delegate.stdin())?)
}

/// What [`IpamRequest::from_add`] takes of an [`AddRequest`], owned (see
/// [`IpamRequest::from_add_parts`]).
#[derive(Debug, Clone)]
pub struct AddParts {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_NETNS`.
    pub netns: PathBuf,
    /// `CNI_ARGS`, parsed.
    pub args: CniArgs,
    /// The configuration's spec version.
    pub version: Version,
    /// The calling plugin's environment and stdin (the complete configuration).
    pub delegate: Delegate,
}

impl AddParts {
    /// The parts of `req`, copied.
    pub fn of<C>(req: &AddRequest<C>) -> AddParts {
        AddParts {
            container_id: req.container_id.clone(),
            ifname: req.ifname.clone(),
            netns: req.netns.clone(),
            args: req.args.clone(),
            version: req.version,
            delegate: req.delegate.clone(),
        }
    }
}

impl IpamRequest {
    /// A request for the attachment `(container_id, ifname)` on `config`, with no `CNI_ARGS`.
    /// The version is read from the config (a bad one is an error).
    pub fn new(
        config: NetConf,
        container_id: impl Into<String>,
        ifname: impl Into<String>,
    ) -> Result<Self> {
        let version = config.version()?;
        Ok(IpamRequest {
            container_id: container_id.into(),
            ifname: ifname.into(),
            netns: None,
            args: CniArgs::default(),
            config,
            version,
            delegate: None,
        })
    }

    /// Parses `stdin` (a complete network configuration) and builds a request for
    /// `(container_id, ifname)`.
    pub fn from_slice(stdin: &[u8], container_id: &str, ifname: &str) -> Result<Self> {
        Self::new(NetConf::from_slice(stdin)?, container_id, ifname)
    }

    /// The same request with `CNI_ARGS` set.
    #[must_use]
    pub fn with_args(mut self, args: CniArgs) -> Self {
        self.args = args;
        self
    }

    /// The same request with GC's valid attachments set in the configuration.
    #[must_use]
    pub fn with_valid_attachments(mut self, valid: Vec<GcAttachment>) -> Self {
        self.config.valid_attachments = Some(valid);
        self
    }

    /// The request a plugin's ADD makes of its IPAM.
    pub fn from_add<C>(req: &AddRequest<C>) -> Result<Self> {
        Self::from_add_parts(AddParts::of(req))
    }

    /// [`IpamRequest::from_add`] from the parts of the ADD it takes, owned: for a plugin that
    /// builds the request on another thread (reading the configuration is most of the work).
    ///
    /// ```
    /// use cni_ipam::{AddParts, IpamRequest};
    /// use cni_skel::{CniEnv, Delegate};
    ///
    /// let config = br#"{"cniVersion":"1.0.0","name":"net","type":"bridge",
    ///     "ipam":{"type":"host-local","subnet":"10.1.0.0/24"}}"#;
    /// let parts = AddParts {
    ///     container_id: "c1".into(),
    ///     ifname: "eth0".into(),
    ///     netns: "/var/run/netns/c1".into(),
    ///     args: Default::default(),
    ///     version: cni_types::Version::V1_0_0,
    ///     delegate: Delegate::new(CniEnv::default(), &config[..], cni_types::Version::V1_0_0),
    /// };
    /// let req = std::thread::spawn(move || IpamRequest::from_add_parts(parts)).join().unwrap()?;
    /// assert_eq!(req.ipam_type(), Some("host-local"));
    /// # Ok::<(), cni_ipam::IpamError>(())
    /// ```
    pub fn from_add_parts(parts: AddParts) -> Result<Self> {
        Ok(IpamRequest {
            config: plain(&parts.delegate)?,
            container_id: parts.container_id,
            ifname: parts.ifname,
            netns: Some(parts.netns),
            args: parts.args,
            version: parts.version,
            delegate: Some(parts.delegate),
        })
    }

    /// The request a plugin's DEL makes of its IPAM.
    pub fn from_del<C>(req: &DelRequest<C>) -> Result<Self> {
        Ok(IpamRequest {
            container_id: req.container_id.clone(),
            ifname: req.ifname.clone(),
            netns: req.netns.clone(),
            args: req.args.clone(),
            config: plain(&req.delegate)?,
            version: req.version,
            delegate: Some(req.delegate.clone()),
        })
    }

    /// The request a plugin's CHECK makes of its IPAM.
    pub fn from_check<C>(req: &CheckRequest<C>) -> Result<Self> {
        Ok(IpamRequest {
            container_id: req.container_id.clone(),
            ifname: req.ifname.clone(),
            netns: Some(req.netns.clone()),
            args: req.args.clone(),
            config: plain(&req.delegate)?,
            version: req.version,
            delegate: Some(req.delegate.clone()),
        })
    }

    /// The request a plugin's STATUS makes of its IPAM.
    pub fn from_status<C>(req: &StatusRequest<C>) -> Result<Self> {
        Ok(IpamRequest {
            container_id: String::new(),
            ifname: String::new(),
            netns: None,
            args: CniArgs::default(),
            config: plain(&req.delegate)?,
            version: req.version,
            delegate: Some(req.delegate.clone()),
        })
    }

    /// The request a plugin's GC makes of its IPAM (the valid attachments are in the config).
    pub fn from_gc<C>(req: &GcRequest<C>) -> Result<Self> {
        let mut config = plain(&req.delegate)?;
        config.valid_attachments = Some(req.valid_attachments.clone());
        Ok(IpamRequest {
            container_id: String::new(),
            ifname: String::new(),
            netns: None,
            args: CniArgs::default(),
            config,
            version: req.version,
            delegate: Some(req.delegate.clone()),
        })
    }

    /// The network name (`name`).
    pub fn network(&self) -> &str {
        &self.config.name
    }

    /// The `ipam` section; missing is `IPAM config missing 'ipam' key` (code 7).
    pub fn ipam(&self) -> Result<&IpamConf> {
        self.config
            .ipam
            .as_ref()
            .ok_or_else(|| IpamError::config("IPAM config missing 'ipam' key"))
    }

    /// The IPAM plugin type (`ipam.type`), if set.
    pub fn ipam_type(&self) -> Option<&str> {
        self.config.ipam_type()
    }

    /// Requested addresses as host-local reads them, in its order: `CNI_ARGS` `IP`, then
    /// `args.cni.ips`, then `runtimeConfig.ips`.
    pub fn requested_ips(&self) -> Vec<RequestedIp> {
        let mut out = self.args.ips.clone();
        if let Some(cni) = self.config.args.as_ref().and_then(|a| a.cni.as_ref()) {
            out.extend(cni.ips.iter().copied());
        }
        out.extend(self.config.runtime_config.ips.iter().copied());
        out
    }

    /// GC's valid attachments (`cni.dev/valid-attachments`, or the older key).
    pub fn valid_attachments(&self) -> &[GcAttachment] {
        self.config.gc_valid_attachments()
    }

    /// The delegate to run IPAM plugins with: the caller's, or one made from this process's
    /// environment (see [`IpamRequest::delegate_with_env`]).
    pub fn delegate(&self) -> Result<Delegate> {
        match &self.delegate {
            Some(d) => Ok(d.clone()),
            None => self.delegate_with_env(CniEnv::from_process()),
        }
    }

    /// A delegate that runs plugins with `env` plus this request's `CNI_CONTAINERID`,
    /// `CNI_IFNAME`, `CNI_NETNS` and `CNI_ARGS` (each set only when the request has it), and
    /// this request's complete configuration on stdin.
    pub fn delegate_with_env(&self, mut env: CniEnv) -> Result<Delegate> {
        if !self.container_id.is_empty() {
            env.set(cni_skel::CNI_CONTAINERID, self.container_id.as_str());
        }
        if !self.ifname.is_empty() {
            env.set(cni_skel::CNI_IFNAME, self.ifname.as_str());
        }
        if let Some(netns) = &self.netns {
            env.set(cni_skel::CNI_NETNS, netns.to_string_lossy());
        }
        let args = self.args.to_string();
        if !args.is_empty() {
            env.set(cni_skel::CNI_ARGS, args);
        }
        Ok(Delegate::new(env, self.config.to_vec()?, self.version))
    }
}

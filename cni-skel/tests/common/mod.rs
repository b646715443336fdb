//! A recording test plugin and helpers shared by the integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cni_skel::{
    AddRequest, CheckRequest, CniEnv, DelRequest, GcRequest, Outcome, Plugin, StatusRequest,
};
use cni_types::{CniError, CniResult, Result100, Version};
use serde::Deserialize;

/// The test plugin's own config section.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestConf {
    #[serde(default)]
    pub some_field: Option<String>,
    /// When set, every verb fails with this error.
    #[serde(default)]
    pub fail_with: Option<u32>,
}

/// What a call saw, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub verb: &'static str,
    pub container_id: String,
    pub netns: Option<String>,
    pub ifname: String,
    pub args: String,
    pub cni_path: Vec<String>,
    pub name: String,
    pub some_field: Option<String>,
    pub version: Version,
    pub stdin: Vec<u8>,
    pub valid_attachments: usize,
}

#[derive(Clone)]
pub struct Recorder {
    pub versions: Vec<Version>,
    pub about: String,
    pub calls: Arc<Mutex<Vec<Seen>>>,
    pub result: Result100,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            versions: Version::ALL.to_vec(),
            about: String::new(),
            calls: Arc::default(),
            result: serde_json::from_str(
                r#"{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/x"}],
                    "ips":[{"interface":0,"address":"10.1.2.3/24","gateway":"10.1.2.1"}],
                    "routes":[{"dst":"0.0.0.0/0"}]}"#,
            )
            .unwrap(),
        }
    }

    pub fn supporting(versions: &[Version]) -> Self {
        Recorder {
            versions: versions.to_vec(),
            ..Recorder::new()
        }
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().iter().map(|s| s.verb).collect()
    }

    pub fn last(&self) -> Seen {
        self.calls.lock().unwrap().last().cloned().expect("a call")
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        verb: &'static str,
        container_id: &str,
        netns: Option<String>,
        ifname: &str,
        args: String,
        conf: &cni_types::NetConf<TestConf>,
        version: Version,
        cni_path: &[std::path::PathBuf],
        stdin: &[u8],
        valid_attachments: usize,
    ) -> Result<(), CniError> {
        self.calls.lock().unwrap().push(Seen {
            verb,
            container_id: container_id.to_owned(),
            netns,
            ifname: ifname.to_owned(),
            args,
            cni_path: cni_path.iter().map(|p| p.display().to_string()).collect(),
            name: conf.name.clone(),
            some_field: conf.plugin.some_field.clone(),
            version,
            stdin: stdin.to_vec(),
            valid_attachments,
        });
        match conf.plugin.fail_with {
            Some(code) => Err(CniError::plugin(code, "asked to fail").with_details(verb)),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Plugin for Recorder {
    type Config = TestConf;

    fn supported_versions(&self) -> Vec<Version> {
        self.versions.clone()
    }

    fn about(&self) -> String {
        self.about.clone()
    }

    async fn add(&self, r: AddRequest<TestConf>) -> Result<CniResult, CniError> {
        self.record(
            "ADD",
            &r.container_id,
            Some(r.netns.display().to_string()),
            &r.ifname,
            r.args.to_string(),
            &r.config,
            r.version,
            &r.cni_path,
            r.delegate.stdin(),
            0,
        )?;
        match r.config.prev_result()? {
            Some(prev) => Ok(prev),
            None => Ok(self.result.clone().into()),
        }
    }

    async fn del(&self, r: DelRequest<TestConf>) -> Result<(), CniError> {
        self.record(
            "DEL",
            &r.container_id,
            r.netns.map(|n| n.display().to_string()),
            &r.ifname,
            r.args.to_string(),
            &r.config,
            r.version,
            &r.cni_path,
            r.delegate.stdin(),
            0,
        )
    }

    async fn check(&self, r: CheckRequest<TestConf>) -> Result<(), CniError> {
        self.record(
            "CHECK",
            &r.container_id,
            Some(r.netns.display().to_string()),
            &r.ifname,
            r.args.to_string(),
            &r.config,
            r.version,
            &r.cni_path,
            r.delegate.stdin(),
            0,
        )
    }

    async fn status(&self, r: StatusRequest<TestConf>) -> Result<(), CniError> {
        self.record(
            "STATUS",
            "",
            None,
            "",
            String::new(),
            &r.config,
            r.version,
            &r.cni_path,
            r.delegate.stdin(),
            0,
        )
    }

    async fn gc(&self, r: GcRequest<TestConf>) -> Result<(), CniError> {
        self.record(
            "GC",
            "",
            None,
            "",
            String::new(),
            &r.config,
            r.version,
            &r.cni_path,
            r.delegate.stdin(),
            r.valid_attachments.len(),
        )
    }
}

/// The full environment of an ADD/DEL/CHECK call.
pub fn full_env(command: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CNI_COMMAND", command.to_owned()),
        ("CNI_CONTAINERID", "some-container-id".to_owned()),
        ("CNI_NETNS", "/some/netns/path".to_owned()),
        ("CNI_IFNAME", "eth0".to_owned()),
        ("CNI_ARGS", "K8S_POD_NAME=pod;FOO=bar".to_owned()),
        ("CNI_PATH", "/some/cni/path:/other".to_owned()),
    ]
}

pub fn env_of(vars: &[(&'static str, String)]) -> CniEnv {
    CniEnv::from_vars(vars.iter().map(|(k, v)| (*k, v.clone())))
}

pub fn config(version: &str) -> Vec<u8> {
    format!(r#"{{"cniVersion":"{version}","name":"skel-test","type":"recorder","someField":"some-value"}}"#)
        .into_bytes()
}

/// Runs `plugin` in-process on a fresh current-thread runtime and returns the outcome.
pub fn call(plugin: &Recorder, env: &CniEnv, stdin: &[u8]) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut input = stdin;
    rt.block_on(cni_skel::handle(plugin, env, &mut input))
}

/// The error of a failed outcome.
pub fn error(outcome: Outcome) -> CniError {
    match outcome.result {
        Err(e) => e,
        Ok(reply) => panic!("expected an error, got {reply:?}"),
    }
}

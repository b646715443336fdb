//! `passthrough`: a minimal chained CNI plugin built on `cni-skel`.
//!
//! ADD passes `prevResult` on unchanged; as the first plugin of a chain (no `prevResult`) it
//! returns the `result` of its config, or an empty result. CHECK requires `prevResult`. DEL,
//! STATUS and GC succeed. With `"record": "/path"` in its config it appends one JSON line per call
//! (verb, attachment, config) to that file, which makes it a handy probe in tests:
//!
//! ```json
//! {"cniVersion": "1.0.0", "name": "net", "type": "passthrough",
//!  "record": "/tmp/calls.jsonl",
//!  "result": {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}}
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use async_trait::async_trait;
use cni_skel::{AddRequest, CheckRequest, DelRequest, GcRequest, Plugin, StatusRequest};
use cni_types::{CniError, CniResult, NetConf, Result100, Version};
use serde::Deserialize;
use serde_json::{Value, json};

/// The plugin's own config keys.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PassthroughConf {
    /// A file to append one JSON line per call to.
    #[serde(default)]
    record: Option<PathBuf>,
    /// The result of ADD when there is no `prevResult`.
    #[serde(default)]
    result: Option<Value>,
}

struct Passthrough;

/// Appends `entry` as one line to `file` (a single write, so concurrent calls do not interleave).
fn record(conf: &NetConf<PassthroughConf>, entry: Value) -> Result<(), CniError> {
    let Some(file) = &conf.plugin.record else {
        return Ok(());
    };
    let mut line = entry.to_string();
    line.push('\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| CniError::io_failure(format!("cannot record to {}: {e}", file.display())))
}

fn config_json(stdin: &[u8]) -> Value {
    serde_json::from_slice(stdin).unwrap_or(Value::Null)
}

fn path_text(p: Option<&Path>) -> Value {
    p.map_or(Value::Null, |p| Value::from(p.display().to_string()))
}

/// The configured first-plugin result, read in its own version (or the config's).
fn configured_result(raw: &Value, version: Version) -> Result<CniResult, CniError> {
    let own = raw
        .get("cniVersion")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map(Version::parse)
        .transpose()?;
    CniResult::from_value(own.unwrap_or(version), raw.clone())
}

#[async_trait]
impl Plugin for Passthrough {
    type Config = PassthroughConf;

    fn about(&self) -> String {
        format!(
            "passthrough {}: a chained CNI plugin that passes prevResult on (cni-rs example)",
            env!("CARGO_PKG_VERSION")
        )
    }

    async fn add(&self, req: AddRequest<PassthroughConf>) -> Result<CniResult, CniError> {
        record(
            &req.config,
            json!({"command": "ADD", "containerId": req.container_id, "ifname": req.ifname,
                   "netns": path_text(Some(&req.netns)), "args": req.args.to_string(),
                   "config": config_json(req.delegate.stdin())}),
        )?;
        if let Some(prev) = req.config.prev_result()? {
            return Ok(prev);
        }
        match &req.config.plugin.result {
            Some(raw) => configured_result(raw, req.version),
            None => Ok(Result100::new(Version::V1_1_0).into()),
        }
    }

    async fn del(&self, req: DelRequest<PassthroughConf>) -> Result<(), CniError> {
        record(
            &req.config,
            json!({"command": "DEL", "containerId": req.container_id, "ifname": req.ifname,
                   "netns": path_text(req.netns.as_deref()), "args": req.args.to_string(),
                   "config": config_json(req.delegate.stdin())}),
        )
    }

    async fn check(&self, req: CheckRequest<PassthroughConf>) -> Result<(), CniError> {
        record(
            &req.config,
            json!({"command": "CHECK", "containerId": req.container_id, "ifname": req.ifname,
                   "netns": path_text(Some(&req.netns)), "args": req.args.to_string(),
                   "config": config_json(req.delegate.stdin())}),
        )?;
        match req.config.prev_result()? {
            Some(_) => Ok(()),
            None => Err(CniError::invalid_config(
                "CHECK needs the prevResult of the ADD",
            )),
        }
    }

    async fn status(&self, req: StatusRequest<PassthroughConf>) -> Result<(), CniError> {
        record(
            &req.config,
            json!({"command": "STATUS", "config": config_json(req.delegate.stdin())}),
        )
    }

    async fn gc(&self, req: GcRequest<PassthroughConf>) -> Result<(), CniError> {
        record(
            &req.config,
            json!({"command": "GC", "validAttachments": req.valid_attachments.len(),
                   "config": config_json(req.delegate.stdin())}),
        )
    }
}

fn main() -> ExitCode {
    cni_skel::main(Passthrough)
}

//! The second, async stage of a plugin call: typing the config and calling the plugin.

use std::future::Future;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::pin::Pin;

use cni_types::{CniArgs, CniError, CniResult, Command, NetConf, Version, VersionInfo};

use super::netns::check_not_own;
use super::parse::{Call, Stop, prepare};
use super::{AddRequest, CheckRequest, DelRequest, GcRequest, Plugin, StatusRequest};
use crate::delegate::Delegate;
use crate::env::CniEnv;

/// What a successful call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// JSON for stdout: a result (ADD) or the VERSION output.
    Stdout(Vec<u8>),
    /// Text for stderr: the about text, when run without `CNI_COMMAND`.
    Stderr(String),
    /// Nothing to print (DEL, CHECK, STATUS, GC).
    Empty,
}

/// The outcome of one plugin call: a reply or an error, and the config version the error JSON
/// is written for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The reply, or the error to print.
    pub result: Result<Reply, CniError>,
    /// The config's `cniVersion` when it was known and valid, else the current version.
    pub version: Version,
}

impl Outcome {
    /// The process exit status: 0 on success, 1 on error (as the reference skel).
    pub fn exit_status(&self) -> u8 {
        u8::from(self.result.is_err())
    }

    /// Prints the outcome: the reply, or the error JSON (with `cniVersion`) on stdout.
    pub fn write_to(&self, stdout: &mut dyn Write, stderr: &mut dyn Write) -> std::io::Result<()> {
        match &self.result {
            Ok(Reply::Stdout(bytes)) => {
                stdout.write_all(bytes)?;
                stdout.flush()
            }
            Ok(Reply::Stderr(text)) => stderr.write_all(text.as_bytes()),
            Ok(Reply::Empty) => Ok(()),
            Err(e) => {
                let json = e.to_json_for(self.version);
                stdout.write_all(&pretty(&json))?;
                stdout.write_all(b"\n")?;
                stdout.flush()
            }
        }
    }
}

/// Runs one plugin call: reads the protocol parameters from `env` and the config from `stdin`
/// (not for VERSION), validates them, calls the plugin and returns what to print.
///
/// This is the in-process core of [`run_with`](crate::run_with); call it directly to get the typed
/// error, or from your own runtime. It never panics on bad input and never exits.
pub async fn handle<P: Plugin>(plugin: &P, env: &CniEnv, stdin: &mut dyn Read) -> Outcome {
    match first_stage(plugin, env, stdin) {
        Ok(call) => second_stage(plugin, env.clone(), call).await,
        Err(outcome) => outcome,
    }
}

/// The synchronous part of [`handle`]: the environment, stdin and version checks. VERSION, the
/// about text and protocol errors end here with their outcome, without an async runtime; a call
/// for the plugin is returned for [`second_stage`]. Not inlined, so that its stack frame (the
/// config's first reading) is given back before the plugin runs.
#[inline(never)]
pub(crate) fn first_stage<P: Plugin>(
    plugin: &P,
    env: &CniEnv,
    stdin: &mut dyn Read,
) -> Result<Call, Outcome> {
    let supported = plugin.supported_versions();
    let about = plugin.about();
    let call = match prepare(env, stdin, &supported, !about.is_empty()) {
        Ok(call) => call,
        Err(Stop::About) => {
            return Err(Outcome {
                result: Ok(Reply::Stderr(about_text(&about, &supported))),
                version: Version::CURRENT,
            });
        }
        Err(Stop::Error(error)) => {
            return Err(Outcome {
                result: Err(error),
                version: Version::CURRENT,
            });
        }
    };
    if call.command == Command::Version {
        return Err(Outcome {
            result: Ok(Reply::Stdout(version_output(&supported))),
            version: call.version,
        });
    }
    Ok(call)
}

/// The async part of [`handle`]: types the config and calls the plugin. The environment is
/// moved into the request's [`Delegate`].
pub(crate) async fn second_stage<P: Plugin>(plugin: &P, env: CniEnv, call: Call) -> Outcome {
    let version = call.version;
    let result = dispatch(plugin, env, call).await;
    if let Err(e) = &result {
        tracing::debug!(code = %e.code, error = %e, "plugin call failed");
    }
    Outcome { result, version }
}

fn about_text(about: &str, supported: &[Version]) -> String {
    let versions: Vec<&str> = supported.iter().map(|v| v.as_str()).collect();
    format!(
        "{about}\nCNI protocol versions supported: {}\n",
        versions.join(", ")
    )
}

fn version_output(supported: &[Version]) -> Vec<u8> {
    let info = VersionInfo::new(supported);
    let mut out = serde_json::to_vec(&info).unwrap_or_default();
    out.push(b'\n');
    out
}

/// JSON indented with four spaces, as the reference plugins print.
fn pretty(value: &serde_json::Value) -> Vec<u8> {
    use serde::Serialize;
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serialising a `Value` into memory cannot fail.
    let _ = value.serialize(&mut ser);
    out
}

/// The plugin's future for one call (the `Plugin` methods return boxed futures).
type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, CniError>> + Send + 'a>>;

/// A call handed to the plugin: what it returns, still to be awaited.
enum Started<'a> {
    /// ADD: the result, printed in the config's version.
    Add(Pending<'a, CniResult>, Version),
    /// DEL, CHECK, STATUS, GC: nothing to print.
    Done(Pending<'a, ()>),
    /// Answered without the plugin (VERSION).
    Reply(Reply),
}

async fn dispatch<P: Plugin>(plugin: &P, env: CniEnv, call: Call) -> Result<Reply, CniError> {
    match start(plugin, env, call)? {
        Started::Add(pending, version) => {
            let result = pending.await?;
            let bytes = result.into_version(version)?.to_vec_pretty()?;
            Ok(Reply::Stdout(bytes))
        }
        Started::Done(pending) => pending.await.map(|()| Reply::Empty),
        Started::Reply(reply) => Ok(reply),
    }
}

/// The synchronous part of [`dispatch`]: types the config, builds the verb's request and hands
/// it to the plugin. Kept out of `dispatch`'s poll function, whose stack frame is live for as
/// long as the plugin runs: the typed config and the request are large (1.5 KB for the bridge
/// plugin, in several copies while they are built), and made here their stack is given back
/// before the plugin's own work goes deeper.
#[inline(never)]
fn start<P: Plugin>(plugin: &P, env: CniEnv, call: Call) -> Result<Started<'_>, CniError> {
    let config = NetConf::<P::Config>::from_slice(&call.stdin)?;
    let version = call.version;
    let cni_path = env.cni_path();
    let delegate = Delegate::new(env, call.stdin, version);
    let attachment = |call_args: &str| CniArgs::parse(call_args);
    tracing::debug!(command = %call.command, %version, container = %call.container_id,
        ifname = %call.ifname, network = %config.name, "plugin call");
    match call.command {
        Command::Add => {
            if !call.netns_override {
                check_not_own(&call.netns)?;
            }
            let req = AddRequest {
                args: attachment(&call.args)?,
                container_id: call.container_id,
                netns: PathBuf::from(call.netns),
                ifname: call.ifname,
                config,
                version,
                cni_path,
                delegate,
            };
            Ok(Started::Add(plugin.add(req), version))
        }
        Command::Del => {
            if !call.netns_override {
                check_not_own(&call.netns)?;
            }
            let req = DelRequest {
                args: attachment(&call.args)?,
                container_id: call.container_id,
                netns: Some(call.netns)
                    .filter(|n| !n.is_empty())
                    .map(PathBuf::from),
                ifname: call.ifname,
                config,
                version,
                cni_path,
                delegate,
            };
            Ok(Started::Done(plugin.del(req)))
        }
        Command::Check => {
            let req = CheckRequest {
                args: attachment(&call.args)?,
                container_id: call.container_id,
                netns: PathBuf::from(call.netns),
                ifname: call.ifname,
                config,
                version,
                cni_path,
                delegate,
            };
            Ok(Started::Done(plugin.check(req)))
        }
        Command::Status => {
            let req = StatusRequest {
                config,
                version,
                cni_path,
                delegate,
            };
            Ok(Started::Done(plugin.status(req)))
        }
        Command::Gc => {
            let req = GcRequest {
                valid_attachments: config.gc_valid_attachments().to_vec(),
                config,
                version,
                cni_path,
                delegate,
            };
            Ok(Started::Done(plugin.gc(req)))
        }
        // Answered before dispatch; kept total so a new verb cannot slip through silently.
        Command::Version => Ok(Started::Reply(Reply::Stdout(version_output(
            &plugin.supported_versions(),
        )))),
    }
}

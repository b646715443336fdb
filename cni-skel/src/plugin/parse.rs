//! The synchronous first stage of a plugin call: environment, stdin, config and version checks,
//! in the reference skel's order and with its codes and messages.

use std::io::Read;

use cni_types::{CniError, Command, Version, reconcile, validate};
use serde_json::Value;

use crate::env::{
    CNI_ARGS, CNI_COMMAND, CNI_CONTAINERID, CNI_IFNAME, CNI_NETNS, CNI_NETNS_OVERRIDE, CNI_PATH,
    CniEnv,
};

/// What the environment and stdin said, validated, before the config is typed.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) command: Command,
    pub(crate) container_id: String,
    pub(crate) netns: String,
    pub(crate) ifname: String,
    pub(crate) args: String,
    pub(crate) netns_override: bool,
    pub(crate) stdin: Vec<u8>,
    /// The config's version, checked against the plugin and the verb (VERSION: current).
    pub(crate) version: Version,
}

/// How the first stage ended when it did not produce a call.
#[derive(Debug)]
pub(crate) enum Stop {
    /// No `CNI_COMMAND` and the plugin has an about text: print it, succeed.
    About,
    /// A protocol error.
    Error(CniError),
}

impl From<CniError> for Stop {
    fn from(error: CniError) -> Self {
        Stop::Error(error)
    }
}

/// The buffer the config is read into starts this large (it grows for a larger config).
const STDIN_CAPACITY: usize = 8 * 1024;

/// Which variables a verb requires (the reference skel's table; `CNI_PATH` is optional for
/// STATUS, as the spec says, and required for GC).
fn required(command: Command, var: &str) -> bool {
    use Command::{Add, Check, Del, Gc};
    match var {
        CNI_CONTAINERID | CNI_IFNAME => matches!(command, Add | Check | Del),
        CNI_NETNS => matches!(command, Add | Check),
        CNI_PATH => matches!(command, Add | Check | Del | Gc),
        _ => false,
    }
}

/// Runs the first stage: reads the variables, stdin (not for VERSION), validates the config's
/// JSON and network name, the container id and interface name (where the verb requires them),
/// and reconciles the config version with `supported` for the verb.
pub(crate) fn prepare(
    env: &CniEnv,
    stdin: &mut dyn Read,
    supported: &[Version],
    has_about: bool,
) -> Result<Call, Stop> {
    let command = match env.non_empty(CNI_COMMAND) {
        None if has_about => return Err(Stop::About),
        None => {
            return Err(CniError::invalid_environment(format!(
                "required env variables [{CNI_COMMAND}] missing"
            ))
            .into());
        }
        Some(c) => c.parse::<Command>()?,
    };
    let vars = [CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH];
    let missing: Vec<&str> = vars
        .into_iter()
        .filter(|v| required(command, v) && env.non_empty(v).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(CniError::invalid_environment(format!(
            "required env variables [{}] missing",
            missing.join(",")
        ))
        .into());
    }
    let get = |name| env.get(name).unwrap_or_default().to_owned();
    let mut call = Call {
        command,
        container_id: get(CNI_CONTAINERID),
        netns: get(CNI_NETNS),
        ifname: get(CNI_IFNAME),
        args: get(CNI_ARGS),
        netns_override: env
            .get(CNI_NETNS_OVERRIDE)
            .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
        stdin: Vec::new(),
        version: Version::CURRENT,
    };
    if command == Command::Version {
        return Ok(call);
    }
    // Room for a typical config up front: from an empty buffer, `read_to_end` starts with a
    // 32-byte probe and doubles, five or more reads for a 1 KiB config instead of two.
    call.stdin.reserve(STDIN_CAPACITY);
    stdin
        .read_to_end(&mut call.stdin)
        .map_err(|e| CniError::io_failure(format!("error reading from stdin: {e}")))?;
    let config = validate_config(&call.stdin)?;
    if required(command, CNI_CONTAINERID) {
        validate::container_id(&call.container_id)?;
    }
    if required(command, CNI_IFNAME) {
        validate::interface_name(&call.ifname)?;
    }
    let config_version = match &config.cni_version {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(CniError::decoding_failure(format!(
                "error decoding cniVersion: expected a string, got {other}"
            ))
            .into());
        }
    };
    call.version = reconcile(command, config_version, supported)?;
    Ok(call)
}

/// The two keys of the config the first stage reads.
#[derive(serde::Deserialize)]
struct Head {
    #[serde(default)]
    name: Option<Value>,
    #[serde(default, rename = "cniVersion")]
    cni_version: Option<Value>,
}

/// The reference's `validateConfig`: the config must be a JSON object whose `name` is a string
/// (code 6 otherwise), not empty and made of valid characters (code 7).
///
/// Read into [`Head`], which skips every other key without building it; only a config that
/// fails that (not an object, a repeated key, bad JSON) is read again as a whole, for the same
/// verdict and message (a repeated key is no error there: the last one wins).
fn validate_config(stdin: &[u8]) -> Result<Head, CniError> {
    let decode = |detail: String| {
        CniError::decoding_failure(format!("error unmarshall network config: {detail}"))
    };
    // A derived struct also reads a JSON array (by position): only an object takes the short way.
    let object = stdin.trim_ascii_start().starts_with(b"{");
    let config = match object.then(|| serde_json::from_slice::<Head>(stdin)) {
        Some(Ok(head)) => head,
        _ => {
            let value: Value = serde_json::from_slice(stdin).map_err(|e| decode(e.to_string()))?;
            let Value::Object(mut config) = value else {
                return Err(decode(format!("expected a JSON object, got {value}")));
            };
            Head {
                name: config.remove("name"),
                cni_version: config.remove("cniVersion"),
            }
        }
    };
    match &config.name {
        None | Some(Value::Null) => validate::network_name("")?,
        Some(Value::String(name)) => validate::network_name(name)?,
        Some(other) => return Err(decode(format!("name must be a string, got {other}"))),
    }
    Ok(config)
}

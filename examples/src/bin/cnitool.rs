//! `cnitool`: run a network config against a network namespace, like the Go reference's cnitool.
//!
//! ```text
//! cnitool [-i IFNAME] add|check|del|gc|status <network> <netns>
//! ```
//!
//! Environment: `CNI_PATH` (plugin directories), `NETCONFPATH` (config directory, default
//! `/etc/cni/net.d`), `CNI_ARGS` (`K=V;K2=V2`), `CAP_ARGS` (capability arguments as a JSON
//! object), `CNI_IFNAME` (default `eth0`; `-i`/`--ifname` wins), and `CNI_CACHE_DIR` (the result
//! cache, default `/var/lib/cni`). The container id is `cnitool-` followed by the hex of the first
//! 10 bytes of the SHA-512 of the absolute netns path, as in Go, so the two tools find each
//! other's attachments. `gc` deletes every cached attachment of the network, then sends GC.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cni_skel::{CniEnv, CniRuntime, RuntimeConf, invoke::split_cni_path, load_conf_list};
use serde_json::{Map, Value};
use sha2::{Digest, Sha512};

const USAGE: &str = "usage: cnitool [-i IFNAME] add|check|del|gc|status <network> <netns>";

/// The parsed command line.
#[derive(Debug)]
struct Cli {
    command: String,
    network: String,
    netns: String,
    ifname: Option<String>,
}

fn parse_cli(args: &[String]) -> Result<Cli, String> {
    let mut ifname = None;
    let mut positional = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-i" | "--ifname" => {
                ifname = Some(iter.next().ok_or("-i needs an interface name")?.clone());
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            a if a.starts_with("--ifname=") => {
                ifname = Some(a.trim_start_matches("--ifname=").to_owned());
            }
            _ => positional.push(arg.clone()),
        }
    }
    let [command, network, netns] = <[String; 3]>::try_from(positional)
        .map_err(|_| format!("network name and namespace are required\n{USAGE}"))?;
    if !["add", "check", "del", "gc", "status"].contains(&command.as_str()) {
        return Err(format!("unknown command {command:?}\n{USAGE}"));
    }
    Ok(Cli {
        command,
        network,
        netns,
        ifname,
    })
}

/// `cnitool-` + hex of the first 10 bytes of SHA-512(netns path).
fn container_id(netns: &Path) -> String {
    let digest = Sha512::digest(netns.as_os_str().as_encoded_bytes());
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("cnitool-{hex}")
}

fn parse_cni_args(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(';')
        .map(
            |pair| match pair.split('=').collect::<Vec<_>>().as_slice() {
                [k, v] if !k.is_empty() && !v.is_empty() => Ok(((*k).to_owned(), (*v).to_owned())),
                _ => Err(format!("invalid CNI_ARGS pair {pair:?}")),
            },
        )
        .collect()
}

async fn run(cli: Cli, env: &CniEnv) -> Result<Option<Vec<u8>>, String> {
    let netconf_dir = env.non_empty("NETCONFPATH").unwrap_or("/etc/cni/net.d");
    let list = load_conf_list(netconf_dir, &cli.network).map_err(|e| e.to_string())?;
    let netns = std::path::absolute(&cli.netns).map_err(|e| format!("{}: {e}", cli.netns))?;
    let mut rt = RuntimeConf::new(
        container_id(&netns),
        netns.display().to_string(),
        cli.ifname
            .or_else(|| env.non_empty("CNI_IFNAME").map(str::to_owned))
            .unwrap_or_else(|| "eth0".to_owned()),
    );
    if let Some(caps) = env.non_empty("CAP_ARGS") {
        rt.capability_args = serde_json::from_str::<Map<String, Value>>(caps)
            .map_err(|e| format!("invalid CAP_ARGS: {e}"))?;
    }
    if let Some(args) = env.non_empty("CNI_ARGS") {
        rt.args = parse_cni_args(args)?;
    }
    let path: Vec<PathBuf> = env.get("CNI_PATH").map(split_cni_path).unwrap_or_default();
    let runtime = CniRuntime::new(path)
        .with_env(env.clone())
        .with_cache_dir(env.non_empty("CNI_CACHE_DIR").unwrap_or("/var/lib/cni"));
    let outcome = match cli.command.as_str() {
        "add" => {
            let result = runtime.add_network_list(&list, &rt).await;
            return result
                .and_then(|r| Ok(r.to_vec_pretty()?))
                .map(Some)
                .map_err(|e| e.to_string());
        }
        "check" => runtime.check_network_list(&list, &rt).await,
        "del" => runtime.del_network_list(&list, &rt).await,
        "gc" => runtime.gc_network_list(&list, None).await,
        _ => runtime.status_network_list(&list).await,
    };
    outcome.map(|()| None).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let env = CniEnv::from_process();
    cni_skel::init_logging(&env);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cli = match parse_cli(&args) {
        Ok(cli) => cli,
        Err(text) => {
            eprintln!("{text}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cnitool: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, &env)) {
        Ok(Some(out)) => {
            println!("{}", String::from_utf8_lossy(&out));
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cnitool: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_id_matches_go_cnitool() {
        // The first 10 bytes of SHA-512("/var/run/netns/testing"), as the Go tool derives it.
        let id = container_id(Path::new("/var/run/netns/testing"));
        assert_eq!(id, "cnitool-77383ca0a0715733ca6f");
    }

    #[test]
    fn command_line() {
        let args = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let cli = parse_cli(&args("-i net1 add mynet /run/netns/x")).unwrap();
        assert_eq!(
            (cli.command.as_str(), cli.network.as_str()),
            ("add", "mynet")
        );
        assert_eq!(cli.ifname.as_deref(), Some("net1"));
        assert!(parse_cli(&args("add mynet")).is_err());
        assert!(parse_cli(&args("frob mynet /x")).is_err());
        assert_eq!(
            parse_cni_args("A=1;B=2").unwrap(),
            [
                ("A".to_owned(), "1".to_owned()),
                ("B".to_owned(), "2".to_owned())
            ]
        );
        assert!(parse_cni_args("A=1;B").is_err());
    }
}

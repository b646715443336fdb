//! `host-gw`: keeps this node's routes to the other nodes' pod subnets equal to a cluster map.
//!
//! ```text
//! host-gw --map /etc/cni/cluster-map --node node1 [--once] [--poll-ms 1000] [--resync-s 10]
//!         [--table 254] [--protocol 201]
//! ```
//!
//! The map (text: `name node-ip pod-subnet` per line, or JSON; see `cni_examples::cluster`) is
//! re-read when its modification time changes; the routes are re-applied every `--resync-s`
//! anyway. Only routes carrying the protocol mark (201, `proto 201` in `ip route`) are changed
//! or removed. Each pass prints one line on stdout; errors go to stderr and the agent goes on
//! (with `--once` they make the exit status 1).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cni_examples::Error;
use cni_examples::agent::{Agent, describe};
use cni_netlink::{HostGwOptions, Netlink};

const USAGE: &str = "usage: host-gw --map FILE --node NAME [--once] [--poll-ms N] [--resync-s N] [--table N] [--protocol N]";

fn parse() -> Result<(Agent, bool), Error> {
    let mut agent = Agent {
        map: PathBuf::new(),
        node: String::new(),
        options: HostGwOptions::default(),
        poll: Duration::from_secs(1),
        resync: Duration::from_secs(10),
    };
    let mut once = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| Error::Usage(format!("{flag} needs a value\n{USAGE}")))
        };
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| Error::Usage(format!("{v:?} is not a number")))
        };
        match flag.as_str() {
            "--map" => agent.map = PathBuf::from(value()?),
            "--node" => agent.node = value()?,
            "--once" => once = true,
            "--poll-ms" => agent.poll = Duration::from_millis(number(value()?)?.max(1)),
            "--resync-s" => agent.resync = Duration::from_secs(number(value()?)?),
            "--table" => {
                agent.options.table = u32::try_from(number(value()?)?)
                    .map_err(|_| Error::Usage("--table is out of range".into()))?;
            }
            "--protocol" => {
                agent.options.protocol = u8::try_from(number(value()?)?)
                    .map_err(|_| Error::Usage("--protocol must be 0 to 255".into()))?;
            }
            "-h" | "--help" => return Err(Error::Usage(USAGE.into())),
            other => return Err(Error::Usage(format!("unknown argument {other:?}\n{USAGE}"))),
        }
    }
    if agent.map.as_os_str().is_empty() || agent.node.is_empty() {
        return Err(Error::Usage(format!(
            "--map and --node are required\n{USAGE}"
        )));
    }
    Ok((agent, once))
}

async fn agent_main(agent: Agent, once: bool) -> Result<(), Error> {
    let nl = Netlink::connect_current()
        .await
        .map_err(Error::netlink("connecting to this node's netlink"))?;
    if once {
        let report = agent.reconcile(&nl).await?;
        println!("{}: {}", agent.node, describe(&report));
        return Ok(());
    }
    agent
        .run(&nl, |pass| match pass {
            Ok(report) => println!("{}: {}", agent.node, describe(&report)),
            Err(e) => eprintln!("host-gw: {e}"),
        })
        .await;
    Ok(())
}

fn main() -> ExitCode {
    let (agent, once) = match parse() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("starting the runtime"))
        .and_then(|rt| rt.block_on(agent_main(agent, once)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("host-gw: {e}");
            ExitCode::FAILURE
        }
    }
}

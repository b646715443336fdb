//! The benchmark's command line.

use std::path::PathBuf;

use super::world::Verb;
use crate::error::{Error, Result};

/// Which plugins are measured (the in-process floor is measured in every case unless
/// [`BenchOptions::floor`] is off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugins {
    /// Our `bridge` only (with `ipMasq` on: once with the nftables backend, once with iptables).
    Ours,
    /// The Go reference `bridge` + `host-local` only.
    Go,
    /// Both, alternating, with ratios.
    Both,
}

impl Plugins {
    /// Whether our plugin is measured.
    pub fn ours(self) -> bool {
        matches!(self, Plugins::Ours | Plugins::Both)
    }

    /// Whether the Go reference is measured.
    pub fn go(self) -> bool {
        matches!(self, Plugins::Go | Plugins::Both)
    }
}

/// What the benchmark measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    /// The plugins to measure.
    pub plugins: Plugins,
    /// Pods per node in the matrix runs (every concurrency, `ipMasq` off and on). Default 50.
    pub pods: usize,
    /// Pods per node in the scale run (serial; first hundred ADDs against the last hundred).
    /// Default 1000; 0 skips it.
    pub scale_pods: usize,
    /// Calls at once in the matrix runs. Default 1, 8 and 32.
    pub concurrency: Vec<usize>,
    /// `ipMasq` settings to run: `false` (off) and/or `true` (on).
    pub masq: Vec<bool>,
    /// Measure the in-process floor (cni-netlink, no plugin process) too. Default on.
    pub floor: bool,
    /// Our `bridge` binary; `None`: this executable through a `bridge` symlink (multi-call).
    pub bridge: Option<PathBuf>,
    /// Where the Go reference plugins are (`bridge` and `host-local`). Default `/usr/lib/cni`.
    pub go_dir: PathBuf,
    /// After the runs, one more ADD of our plugin (the node's second pod) run under this
    /// wrapper command, the plugin's path appended: `--callgrind FILE` makes it
    /// `valgrind --tool=callgrind --callgrind-out-file=FILE`, `--wrap "strace -f -o F"` any other.
    pub wrap: Option<Vec<String>>,
    /// The verb run under [`BenchOptions::wrap`]: ADD (default), or CHECK or DEL of the same
    /// pod after its ADD (with that result as `prevResult`).
    pub wrap_verb: Verb,
    /// Wrap the node's first ADD (which makes the bridge) instead of the second pod's call.
    pub wrap_first: bool,
    /// Pods of the memory pass (every call traced to read its anonymous memory at exit; ipMasq
    /// as in `masq`). Default 10; 0 skips it.
    pub memory_pods: usize,
}

impl Default for BenchOptions {
    fn default() -> BenchOptions {
        BenchOptions {
            plugins: Plugins::Both,
            pods: 50,
            scale_pods: 1000,
            concurrency: vec![1, 8, 32],
            masq: vec![false, true],
            floor: true,
            bridge: None,
            go_dir: PathBuf::from("/usr/lib/cni"),
            wrap: None,
            wrap_verb: Verb::Add,
            wrap_first: false,
            memory_pods: 10,
        }
    }
}

/// The `--help` text.
pub const USAGE: &str = "\
bench: ADD, CHECK and DEL of our bridge plugin against the Go reference bridge + host-local,
and against the same kernel work done in-process (the floor)

usage: cargo run --release --example bench -- [options]

  --plugins ours|go|both   plugins to measure (default both, alternating, with ratios)
  --pods N                 pods per node in the matrix runs (default 50)
  --scale-pods N           pods in the serial scale run, first vs last hundred ADDs
                           (default 1000; 0 skips it)
  --concurrency A,B,..     calls at once in the matrix runs (default 1,8,32)
  --masq off|on|both       ipMasq settings to run (default both)
  --no-floor               skip the in-process floor
  --quick                  a short run: --pods 10 --concurrency 1,8 --scale-pods 0
                           (flags given too override it, wherever they stand)
  --bridge PATH            our bridge binary (default: this executable, multi-call, through a
                           `bridge` symlink)
  --go-dir DIR             the Go reference plugins (default /usr/lib/cni)
  --callgrind FILE         afterwards, one ADD of our plugin under valgrind --tool=callgrind
                           (ipMasq as the last --masq setting, nftables)
  --wrap \"CMD ARGS\"      afterwards, one ADD of our plugin under another wrapper command
                           (e.g. \"strace -f -T -o /tmp/add.strace\"; the plugin path is appended)
  --wrap-verb add|check|del|first-add  the call run under --callgrind/--wrap: the second
                           pod's ADD (default), or its CHECK or DEL after a plain ADD, or the
                           node's first ADD (which makes the bridge)
  --memory-pods N          pods of the memory pass: every call traced, its anonymous memory
                           read at exit (default 10, --quick 3; 0 skips it)
  -h, --help               this text

Plugins are executed as processes with the CNI_* environment and the config on stdin, inside a
node namespace of the benchmark's own (a private user + network namespace: the machine's network
is never touched). With ipMasq on, our plugin runs twice, with the nftables backend (its default)
and with iptables (the Go v1.1.1 plugin's only backend), so like is compared with like.";

/// Flags given explicitly, applied over `--quick` wherever they stand.
#[derive(Default)]
struct Explicit {
    pods: Option<usize>,
    scale_pods: Option<usize>,
    memory_pods: Option<usize>,
    concurrency: Option<Vec<usize>>,
}

impl BenchOptions {
    /// Parses the arguments after the program name. `Ok(None)` means help was asked for.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Option<BenchOptions>> {
        let mut opts = BenchOptions::default();
        let mut explicit = Explicit::default();
        let mut quick = false;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String> {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| Error::Usage(format!("{name} needs a value")))
            };
            match flag.as_str() {
                "--plugins" => opts.plugins = parse_plugins(&value("--plugins")?)?,
                "--pods" => explicit.pods = Some(parse_count("--pods", &value("--pods")?, 1)?),
                "--scale-pods" => {
                    explicit.scale_pods =
                        Some(parse_count("--scale-pods", &value("--scale-pods")?, 0)?)
                }
                "--concurrency" => {
                    explicit.concurrency = Some(parse_list(&value("--concurrency")?)?)
                }
                "--masq" => opts.masq = parse_masq(&value("--masq")?)?,
                "--no-floor" => opts.floor = false,
                "--quick" => quick = true,
                "--bridge" => opts.bridge = Some(PathBuf::from(value("--bridge")?)),
                "--go-dir" => opts.go_dir = PathBuf::from(value("--go-dir")?),
                "--callgrind" => {
                    let file = value("--callgrind")?;
                    opts.wrap = Some(vec![
                        "valgrind".into(),
                        "--tool=callgrind".into(),
                        format!("--callgrind-out-file={file}"),
                    ]);
                }
                "--wrap" => {
                    let cmd: Vec<String> = value("--wrap")?
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect();
                    if cmd.is_empty() {
                        return Err(Error::Usage("--wrap needs a command".into()));
                    }
                    opts.wrap = Some(cmd);
                }
                "--wrap-verb" => {
                    let verb = value("--wrap-verb")?;
                    opts.wrap_first = verb == "first-add";
                    opts.wrap_verb = match verb.as_str() {
                        "add" | "first-add" => Verb::Add,
                        "check" => Verb::Check,
                        "del" => Verb::Del,
                        other => {
                            return Err(Error::Usage(format!(
                                "--wrap-verb {other:?}: expected add, check, del or first-add"
                            )));
                        }
                    }
                }
                "--memory-pods" => {
                    explicit.memory_pods =
                        Some(parse_count("--memory-pods", &value("--memory-pods")?, 0)?)
                }
                "-h" | "--help" => return Ok(None),
                other => {
                    return Err(Error::Usage(format!(
                        "unknown option {other:?} (see --help)"
                    )));
                }
            }
        }
        if quick {
            opts.pods = 10;
            opts.scale_pods = 0;
            opts.memory_pods = 3;
            opts.concurrency = vec![1, 8];
        }
        opts.memory_pods = explicit.memory_pods.unwrap_or(opts.memory_pods);
        opts.pods = explicit.pods.unwrap_or(opts.pods);
        opts.scale_pods = explicit.scale_pods.unwrap_or(opts.scale_pods);
        opts.concurrency = explicit.concurrency.unwrap_or(opts.concurrency);
        Ok(Some(opts))
    }
}

/// Upper bound of every pod count: the pods' addresses come from one /16.
const MAX_PODS: usize = 60_000;

fn parse_count(name: &str, v: &str, min: usize) -> Result<usize> {
    let n: usize = v
        .parse()
        .map_err(|_| Error::Usage(format!("{name}: {v:?} is not a number")))?;
    if n < min || n > MAX_PODS {
        return Err(Error::Usage(format!(
            "{name}: {n} is out of range ({min} to {MAX_PODS})"
        )));
    }
    Ok(n)
}

fn parse_list(v: &str) -> Result<Vec<usize>> {
    let list = v
        .split(',')
        .map(|s| parse_count("--concurrency", s.trim(), 1))
        .collect::<Result<Vec<usize>>>()?;
    if list.iter().any(|&c| c > 256) {
        return Err(Error::Usage(
            "--concurrency: at most 256 calls at once".into(),
        ));
    }
    Ok(list)
}

fn parse_plugins(v: &str) -> Result<Plugins> {
    match v {
        "ours" => Ok(Plugins::Ours),
        "go" => Ok(Plugins::Go),
        "both" => Ok(Plugins::Both),
        _ => Err(Error::Usage(format!(
            "--plugins: {v:?} is not ours, go or both"
        ))),
    }
}

fn parse_masq(v: &str) -> Result<Vec<bool>> {
    match v {
        "off" => Ok(vec![false]),
        "on" => Ok(vec![true]),
        "both" => Ok(vec![false, true]),
        _ => Err(Error::Usage(format!(
            "--masq: {v:?} is not off, on or both"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<BenchOptions>> {
        BenchOptions::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_are_the_full_run() -> Result<()> {
        let o = parse(&[])?.ok_or_else(|| Error::Usage("help".into()))?;
        assert_eq!(o, BenchOptions::default());
        assert_eq!(o.concurrency, vec![1, 8, 32]);
        assert_eq!((o.pods, o.scale_pods), (50, 1000));
        Ok(())
    }

    #[test]
    fn quick_is_overridden_by_explicit_flags_in_any_order() -> Result<()> {
        let o = parse(&["--pods", "5", "--quick", "--plugins=ours", "--masq", "off"])?
            .ok_or_else(|| Error::Usage("help".into()))?;
        assert_eq!(o.pods, 5);
        assert_eq!(o.scale_pods, 0);
        assert_eq!(o.concurrency, vec![1, 8]);
        assert_eq!(o.plugins, Plugins::Ours);
        assert_eq!(o.masq, vec![false]);
        assert_eq!(o.wrap, None);
        Ok(())
    }

    #[test]
    fn wrappers() -> Result<()> {
        let o =
            parse(&["--callgrind", "/tmp/cg.out"])?.ok_or_else(|| Error::Usage("help".into()))?;
        assert_eq!(
            o.wrap,
            Some(vec![
                "valgrind".to_string(),
                "--tool=callgrind".into(),
                "--callgrind-out-file=/tmp/cg.out".into()
            ])
        );
        let o = parse(&["--wrap=strace -f -o x"])?.ok_or_else(|| Error::Usage("help".into()))?;
        assert_eq!(o.wrap.map(|w| w.len()), Some(4));
        assert_eq!(o.wrap_verb, Verb::Add);
        let o = parse(&["--wrap-verb", "check"])?.ok_or_else(|| Error::Usage("help".into()))?;
        assert_eq!(o.wrap_verb, Verb::Check);
        assert!(!o.wrap_first);
        let o = parse(&["--wrap-verb", "first-add"])?.ok_or_else(|| Error::Usage("help".into()))?;
        assert_eq!((o.wrap_verb, o.wrap_first), (Verb::Add, true));
        let o = parse(&["--wrap-verb", "del", "--memory-pods", "0"])?
            .ok_or_else(|| Error::Usage("help".into()))?;
        assert_eq!((o.wrap_verb, o.memory_pods), (Verb::Del, 0));
        assert!(parse(&["--wrap-verb", "version"]).is_err());
        Ok(())
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["--pods", "0"][..],
            &["--pods", "x"],
            &["--concurrency", "1,,8"],
            &["--concurrency", "1000"],
            &["--plugins", "rust"],
            &["--masq", "yes"],
            &["--bogus"],
            &["--pods"],
        ] {
            assert!(
                matches!(parse(args), Err(Error::Usage(_))),
                "{args:?} must be refused"
            );
        }
        assert!(matches!(parse(&["--wrap", " "]), Err(Error::Usage(_))));
        assert!(matches!(parse(&["--help"]), Ok(None)));
    }
}

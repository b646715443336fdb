//! Loading network configurations from a directory the way runtimes do (libcni's
//! `LoadNetworkConf`): `.conflist` files first, in lexical order, then the deprecated
//! single-plugin `.conf`/`.json` files, up-converted to a list of one.

use std::path::{Path, PathBuf};

use cni_types::{CniError, NetConfList};
use serde_json::{Map, Value};

use crate::error::SkelError;

/// The files directly in `dir` whose extension is one of `extensions` (without the dot), sorted
/// by name; directories are skipped. A missing directory has no files.
pub fn conf_files(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, SkelError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(SkelError::ConfigIo {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| !p.is_dir())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<Vec<u8>, SkelError> {
    std::fs::read(path).map_err(|source| SkelError::ConfigIo {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_err(path: &Path) -> impl Fn(CniError) -> SkelError + '_ {
    move |error| SkelError::ConfigParse {
        path: path.to_path_buf(),
        error,
    }
}

/// Parses a `.conflist` file; unless it sets `loadOnlyInlinedPlugins`, the plugin configs in
/// `<its dir>/<network name>/*.conf` are appended, in lexical order. A list that ends up without
/// plugins is an error.
pub(crate) fn conf_list_from_file(path: &Path) -> Result<NetConfList, SkelError> {
    let mut list = NetConfList::from_slice(&read(path)?).map_err(parse_err(path))?;
    if !list.load_only_inlined_plugins {
        let dir = path.parent().unwrap_or(Path::new(".")).join(&list.name);
        for file in conf_files(&dir, &["conf"])? {
            list.plugins.push(plugin_conf_from_file(&file)?);
        }
    }
    if list.plugins.is_empty() {
        return Err(parse_err(path)(CniError::invalid_config(
            "no plugin configs found",
        )));
    }
    Ok(list)
}

/// Parses one plugin config file: a JSON object with a string `type`.
fn plugin_conf_from_file(path: &Path) -> Result<Map<String, Value>, SkelError> {
    let value: Value = serde_json::from_slice(&read(path)?).map_err(|e| {
        parse_err(path)(CniError::decoding_failure(format!(
            "error parsing configuration: {e}"
        )))
    })?;
    let Value::Object(conf) = value else {
        return Err(parse_err(path)(CniError::decoding_failure(
            "error parsing configuration: not a JSON object",
        )));
    };
    match conf.get("type") {
        Some(Value::String(t)) if !t.is_empty() => Ok(conf),
        _ => Err(parse_err(path)(CniError::invalid_config(
            "error parsing configuration: missing 'type'",
        ))),
    }
}

/// Finds network `name` in `dir`, as libcni's `LoadNetworkConf` does:
///
/// 1. the `.conflist` files in lexical order: the first whose `name` matches;
/// 2. else the single-plugin `.conf` and `.json` files in lexical order: the first whose `name`
///    matches, up-converted to a list of one.
///
/// A file that cannot be read or parsed on the way is an error naming it (as in libcni). Not
/// found: [`SkelError::NetworkNotFound`], or [`SkelError::NoConfigs`] if the directory holds no
/// config file at all.
pub fn load_conf_list(dir: impl AsRef<Path>, name: &str) -> Result<NetConfList, SkelError> {
    let dir = dir.as_ref();
    let lists = conf_files(dir, &["conflist"])?;
    for file in &lists {
        let list = conf_list_from_file(file)?;
        if list.name == name {
            return Ok(list);
        }
    }
    let singles = conf_files(dir, &["conf", "json"])?;
    if singles.is_empty() && lists.is_empty() {
        return Err(SkelError::NoConfigs {
            dir: dir.to_path_buf(),
        });
    }
    for file in &singles {
        let conf = plugin_conf_from_file(file)?;
        if conf.get("name").and_then(Value::as_str) == Some(name) {
            return NetConfList::from_single(conf).map_err(parse_err(file));
        }
    }
    Err(SkelError::NetworkNotFound {
        dir: dir.to_path_buf(),
        name: name.to_owned(),
    })
}

/// Every network in `dir`, in the order [`load_conf_list`] would consider them (each name once,
/// the first file wins). Files that cannot be parsed are skipped with a warning, so one broken
/// file does not hide the other networks.
pub fn load_conf_lists(dir: impl AsRef<Path>) -> Result<Vec<NetConfList>, SkelError> {
    let dir = dir.as_ref();
    let mut out: Vec<NetConfList> = Vec::new();
    let mut push = |list: NetConfList| {
        if !out.iter().any(|l| l.name == list.name) {
            out.push(list);
        }
    };
    for file in conf_files(dir, &["conflist"])? {
        match conf_list_from_file(&file) {
            Ok(list) => push(list),
            Err(e) => tracing::warn!(error = %e, "skipping network config"),
        }
    }
    for file in conf_files(dir, &["conf", "json"])? {
        match plugin_conf_from_file(&file)
            .and_then(|c| NetConfList::from_single(c).map_err(parse_err(&file)))
        {
            Ok(list) => push(list),
            Err(e) => tracing::warn!(error = %e, "skipping network config"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn write(dir: &Path, name: &str, body: &str) {
        if let Some(parent) = dir.join(name).parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(dir.join(name), body).unwrap();
    }

    #[test]
    fn conflist_first_in_lexical_order_then_single_conf() {
        let tmp = TempDir::new("confdir");
        let d = tmp.path();
        write(
            d,
            "20-b.conflist",
            r#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"second"}]}"#,
        );
        write(
            d,
            "10-a.conflist",
            r#"{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"first"}]}"#,
        );
        write(
            d,
            "05-single.conf",
            r#"{"cniVersion":"0.4.0","name":"net","type":"single"}"#,
        );
        write(
            d,
            "06-other.json",
            r#"{"cniVersion":"0.3.1","name":"other","type":"solo","x":1}"#,
        );
        write(d, "notes.txt", "not a config");
        let net = load_conf_list(d, "net").unwrap();
        assert_eq!(net.plugin_type(0), Some("first"));
        let other = load_conf_list(d, "other").unwrap();
        assert_eq!(other.name, "other");
        assert_eq!(other.cni_version.as_deref(), Some("0.3.1"));
        assert_eq!(other.plugins.len(), 1);
        assert_eq!(other.plugins[0]["x"], 1);
        assert!(matches!(
            load_conf_list(d, "nope"),
            Err(SkelError::NetworkNotFound { name, .. }) if name == "nope"
        ));
        let all: Vec<String> = load_conf_lists(d)
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(all, ["net", "other"]);
    }

    #[test]
    fn empty_or_missing_directory_and_bad_files() {
        let tmp = TempDir::new("confdir");
        assert!(matches!(
            load_conf_list(tmp.path(), "x"),
            Err(SkelError::NoConfigs { .. })
        ));
        assert!(matches!(
            load_conf_list(tmp.path().join("missing"), "x"),
            Err(SkelError::NoConfigs { .. })
        ));
        write(tmp.path(), "a.conflist", "{not json");
        let err = load_conf_list(tmp.path(), "x").unwrap_err();
        assert!(
            matches!(&err, SkelError::ConfigParse { path, .. } if path.ends_with("a.conflist"))
        );
        assert!(load_conf_lists(tmp.path()).unwrap().is_empty());
    }

    #[test]
    fn plugins_from_the_network_subdirectory_are_appended() {
        let tmp = TempDir::new("confdir");
        let d = tmp.path();
        write(
            d,
            "net.conflist",
            r#"{"cniVersion":"1.1.0","name":"net","plugins":[{"type":"a"}]}"#,
        );
        write(d, "net/20-c.conf", r#"{"type":"c"}"#);
        write(d, "net/10-b.conf", r#"{"type":"b"}"#);
        write(
            d,
            "inline.conflist",
            r#"{"cniVersion":"1.1.0","name":"inline","loadOnlyInlinedPlugins":true,"plugins":[{"type":"a"}]}"#,
        );
        write(d, "inline/10-b.conf", r#"{"type":"b"}"#);
        write(
            d,
            "bare.conflist",
            r#"{"cniVersion":"1.1.0","name":"bare"}"#,
        );
        write(d, "bare/1.conf", r#"{"type":"only"}"#);
        let types = |l: &NetConfList| -> Vec<String> {
            (0..l.plugins.len())
                .filter_map(|i| l.plugin_type(i).map(str::to_owned))
                .collect()
        };
        assert_eq!(types(&load_conf_list(d, "net").unwrap()), ["a", "b", "c"]);
        assert_eq!(types(&load_conf_list(d, "inline").unwrap()), ["a"]);
        assert_eq!(types(&load_conf_list(d, "bare").unwrap()), ["only"]);
        write(d, "net/30-bad.conf", r#"{"notype":1}"#);
        assert!(load_conf_list(d, "net").is_err());
    }
}

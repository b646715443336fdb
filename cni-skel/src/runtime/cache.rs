//! The runtime's result cache, file-compatible with libcni.
//!
//! One file per attachment: `<dir>/results/<network>-<containerID>-<ifname>`, directory mode
//! 0700, file mode 0600, holding `{"kind":"cniCacheV1","containerId":…,"config":"<base64 of the
//! list bytes>","ifName":…,"networkName":…,"netns":…,"cniArgs":[["K","V"]],"capabilityArgs":{…},
//! "result":{…}}`. A legacy file that is a bare result is still readable.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::base64;
use crate::error::SkelError;

/// The default cache directory of runtimes (`/var/lib/cni`).
pub const DEFAULT_CACHE_DIR: &str = "/var/lib/cni";
/// The `kind` tag of a current cache file.
pub const CACHE_KIND_V1: &str = "cniCacheV1";

/// One cached attachment: what a runtime needs to DEL, CHECK or GC it later.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedAttachment {
    /// The container id.
    pub container_id: String,
    /// The network (config list) name.
    pub network: String,
    /// The interface name in the container.
    pub ifname: String,
    /// The network config list bytes used for the ADD.
    pub config: Vec<u8>,
    /// The netns path used for the ADD (empty if unknown).
    pub netns: String,
    /// The `CNI_ARGS` pairs used for the ADD.
    pub cni_args: Vec<(String, String)>,
    /// The capability arguments used for the ADD.
    pub capability_args: Map<String, Value>,
    /// The final ADD result, as JSON in its own `cniVersion`.
    pub result: Option<Value>,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    kind: String,
    #[serde(rename = "containerId", default)]
    container_id: String,
    #[serde(default)]
    config: Option<String>,
    #[serde(rename = "ifName", default)]
    if_name: String,
    #[serde(rename = "networkName", default)]
    network_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    netns: String,
    #[serde(rename = "cniArgs", default, skip_serializing_if = "Vec::is_empty")]
    cni_args: Vec<(String, String)>,
    #[serde(
        rename = "capabilityArgs",
        default,
        skip_serializing_if = "Map::is_empty"
    )]
    capability_args: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
}

/// What a cache file held.
#[derive(Clone, Debug, PartialEq)]
pub enum CacheEntry {
    /// A current (`cniCacheV1`) file.
    Attachment(Box<CachedAttachment>),
    /// A legacy file holding only a result.
    LegacyResult(Value),
}

/// The result cache under a directory (see the module docs for the layout).
#[derive(Clone, Debug)]
pub struct ResultCache {
    dir: PathBuf,
}

impl ResultCache {
    /// A cache rooted at `dir` (files go to `dir/results/`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ResultCache { dir: dir.into() }
    }

    /// The root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of one attachment; errors if any of the three parts is empty.
    pub fn file_path(
        &self,
        network: &str,
        container_id: &str,
        ifname: &str,
    ) -> Result<PathBuf, SkelError> {
        if network.is_empty() || container_id.is_empty() || ifname.is_empty() {
            return Err(SkelError::CacheKey {
                network: network.to_owned(),
                container_id: container_id.to_owned(),
                ifname: ifname.to_owned(),
            });
        }
        Ok(self
            .dir
            .join("results")
            .join(format!("{network}-{container_id}-{ifname}")))
    }

    /// Writes (replaces) the entry of `attachment`, atomically (temporary file + rename).
    pub fn write(&self, attachment: &CachedAttachment) -> Result<(), SkelError> {
        let path = self.file_path(
            &attachment.network,
            &attachment.container_id,
            &attachment.ifname,
        )?;
        let file = CacheFile {
            kind: CACHE_KIND_V1.to_owned(),
            container_id: attachment.container_id.clone(),
            config: Some(base64::encode(&attachment.config)),
            if_name: attachment.ifname.clone(),
            network_name: attachment.network.clone(),
            netns: attachment.netns.clone(),
            cni_args: attachment.cni_args.clone(),
            capability_args: attachment.capability_args.clone(),
            result: attachment.result.clone(),
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| SkelError::CacheCorrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let io_err = |source| SkelError::CacheIo {
            path: path.clone(),
            source,
        };
        let results = self.dir.join("results");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&results)
            .map_err(io_err)?;
        let tmp = results.join(format!(
            ".{}.tmp{}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let written = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
            .and_then(|()| fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(io_err)
    }

    /// Reads the entry of one attachment; `Ok(None)` if there is no file.
    ///
    /// A file that is not a `cniCacheV1` document is returned as [`CacheEntry::LegacyResult`] if
    /// it is a JSON object, and is an error ([`SkelError::CacheCorrupt`]) otherwise.
    pub fn read(
        &self,
        network: &str,
        container_id: &str,
        ifname: &str,
    ) -> Result<Option<CacheEntry>, SkelError> {
        let path = self.file_path(network, container_id, ifname)?;
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SkelError::CacheIo { path, source }),
        };
        if let Some(attachment) = parse_v1(&bytes) {
            return Ok(Some(CacheEntry::Attachment(Box::new(attachment))));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v @ Value::Object(_)) => Ok(Some(CacheEntry::LegacyResult(v))),
            Ok(_) => Err(SkelError::CacheCorrupt {
                path,
                reason: "not a JSON object".to_owned(),
            }),
            Err(e) => Err(SkelError::CacheCorrupt {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// Removes the entry of one attachment; a missing file is success.
    pub fn remove(&self, network: &str, container_id: &str, ifname: &str) -> Result<(), SkelError> {
        let path = self.file_path(network, container_id, ifname)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SkelError::CacheIo { path, source }),
        }
    }

    /// All readable `cniCacheV1` entries, sorted by file name, optionally only those of one
    /// container. Unreadable, legacy or incomplete files are skipped, as libcni does. A missing
    /// cache directory gives an empty list.
    pub fn attachments(
        &self,
        container_id: Option<&str>,
    ) -> Result<Vec<CachedAttachment>, SkelError> {
        let results = self.dir.join("results");
        let entries = match fs::read_dir(&results) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(SkelError::CacheIo {
                    path: results,
                    source,
                });
            }
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
            })
            .collect();
        names.sort();
        Ok(names
            .iter()
            .filter_map(|p| fs::read(p).ok())
            .filter_map(|b| parse_v1(&b))
            .filter(|a| container_id.is_none_or(|id| a.container_id == id))
            .filter(|a| !a.ifname.is_empty() && !a.network.is_empty())
            .collect())
    }
}

fn parse_v1(bytes: &[u8]) -> Option<CachedAttachment> {
    let file: CacheFile = serde_json::from_slice(bytes).ok()?;
    if file.kind != CACHE_KIND_V1 {
        return None;
    }
    let config = match file.config {
        Some(text) => base64::decode(&text)?,
        None => Vec::new(),
    };
    Some(CachedAttachment {
        container_id: file.container_id,
        network: file.network_name,
        ifname: file.if_name,
        config,
        netns: file.netns,
        cni_args: file.cni_args,
        capability_args: file.capability_args,
        result: file.result,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::testutil::TempDir;

    fn sample(cid: &str) -> CachedAttachment {
        let mut caps = Map::new();
        caps.insert("mac".into(), Value::from("c2:11:22:33:44:55"));
        CachedAttachment {
            container_id: cid.into(),
            network: "net1".into(),
            ifname: "eth0".into(),
            config: br#"{"name":"net1","cniVersion":"1.0.0","plugins":[]}"#.to_vec(),
            netns: "/run/netns/x".into(),
            cni_args: vec![("K".into(), "V".into())],
            capability_args: caps,
            result: Some(serde_json::json!({"cniVersion":"1.0.0","ips":[]})),
        }
    }

    #[test]
    fn write_read_remove_round_trip_with_libcni_layout() {
        let tmp = TempDir::new("cache");
        let cache = ResultCache::new(tmp.path());
        let a = sample("c1");
        cache.write(&a).unwrap();
        let file = tmp.path().join("results/net1-c1-eth0");
        let meta = fs::metadata(&file).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir_mode = fs::metadata(tmp.path().join("results"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let raw: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
        assert_eq!(raw["kind"], "cniCacheV1");
        assert_eq!(raw["containerId"], "c1");
        assert_eq!(raw["ifName"], "eth0");
        assert_eq!(raw["networkName"], "net1");
        assert_eq!(raw["cniArgs"], serde_json::json!([["K", "V"]]));
        assert_eq!(
            raw["config"],
            "eyJuYW1lIjoibmV0MSIsImNuaVZlcnNpb24iOiIxLjAuMCIsInBsdWdpbnMiOltdfQ=="
        );
        assert_eq!(
            cache.read("net1", "c1", "eth0").unwrap(),
            Some(CacheEntry::Attachment(Box::new(a)))
        );
        cache.remove("net1", "c1", "eth0").unwrap();
        cache.remove("net1", "c1", "eth0").unwrap();
        assert_eq!(cache.read("net1", "c1", "eth0").unwrap(), None);
    }

    #[test]
    fn legacy_and_corrupt_files() {
        let tmp = TempDir::new("cache");
        let cache = ResultCache::new(tmp.path());
        fs::create_dir_all(tmp.path().join("results")).unwrap();
        fs::write(
            tmp.path().join("results/net1-c2-eth0"),
            br#"{"cniVersion":"0.3.1","ips":[]}"#,
        )
        .unwrap();
        assert!(matches!(
            cache.read("net1", "c2", "eth0").unwrap(),
            Some(CacheEntry::LegacyResult(_))
        ));
        fs::write(tmp.path().join("results/net1-c3-eth0"), b"{garbage").unwrap();
        assert!(matches!(
            cache.read("net1", "c3", "eth0"),
            Err(SkelError::CacheCorrupt { .. })
        ));
        assert!(matches!(
            cache.read("", "c3", "eth0"),
            Err(SkelError::CacheKey { .. })
        ));
    }

    #[test]
    fn lists_attachments_sorted_and_filtered() {
        let tmp = TempDir::new("cache");
        let cache = ResultCache::new(tmp.path());
        assert!(cache.attachments(None).unwrap().is_empty());
        cache.write(&sample("b")).unwrap();
        cache.write(&sample("a")).unwrap();
        fs::write(tmp.path().join("results/junk"), b"nope").unwrap();
        let all = cache.attachments(None).unwrap();
        let ids: Vec<_> = all.iter().map(|a| a.container_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        let only_b = cache.attachments(Some("b")).unwrap();
        assert_eq!(only_b.len(), 1);
    }
}

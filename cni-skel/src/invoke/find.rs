//! Finding a plugin binary on the plugin search path (`CNI_PATH`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::error::SkelError;

/// Splits a `CNI_PATH`-style search path into its directories.
///
/// The separator is the platform's list separator (`:` on Unix); empty entries are dropped, so
/// `"/opt/cni/bin::/usr/lib/cni"` gives two directories and `""` gives none.
pub fn split_cni_path(value: impl AsRef<OsStr>) -> Vec<PathBuf> {
    std::env::split_paths(value.as_ref())
        .filter(|p| !p.as_os_str().is_empty())
        .collect()
}

/// Joins directories back into a `CNI_PATH` value (the inverse of [`split_cni_path`]).
///
/// Directories that contain the separator themselves are joined as they are; such a path cannot
/// be expressed in `CNI_PATH` anyway.
pub fn join_cni_path(paths: &[PathBuf]) -> String {
    let sep = if cfg!(windows) { ";" } else { ":" };
    paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(sep)
}

/// Finds the plugin binary `name` in the directories `paths`, in order.
///
/// The first *regular file* called `name` wins (a directory of that name is skipped). The name must
/// be non-empty and must not contain a path separator: a plugin `type` is a bare binary name, and
/// `../../bin/sh` must never be executed. Errors: [`SkelError::EmptyPluginName`],
/// [`SkelError::InvalidPluginName`], [`SkelError::NoPluginPaths`], [`SkelError::PluginNotFound`].
pub fn find_in_path(name: &str, paths: &[PathBuf]) -> Result<PathBuf, SkelError> {
    if name.is_empty() {
        return Err(SkelError::EmptyPluginName);
    }
    if name.contains('/') || name.contains('\\') || name == "." || name == ".." {
        return Err(SkelError::InvalidPluginName(name.to_owned()));
    }
    if paths.is_empty() {
        return Err(SkelError::NoPluginPaths(name.to_owned()));
    }
    paths
        .iter()
        .map(|dir| dir.join(name))
        .find(|candidate| is_regular_file(candidate))
        .ok_or_else(|| SkelError::PluginNotFound {
            name: name.to_owned(),
            paths: paths.to_vec(),
        })
}

fn is_regular_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn splits_and_joins_cni_path() {
        let parts = split_cni_path("/a::/b/c:");
        assert_eq!(parts, vec![PathBuf::from("/a"), PathBuf::from("/b/c")]);
        assert_eq!(join_cni_path(&parts), "/a:/b/c");
        assert!(split_cni_path("").is_empty());
    }

    #[test]
    fn rejects_bad_names_and_empty_paths() {
        let dirs = vec![PathBuf::from("/usr/bin")];
        assert!(matches!(
            find_in_path("", &dirs),
            Err(SkelError::EmptyPluginName)
        ));
        assert!(matches!(
            find_in_path("../sh", &dirs),
            Err(SkelError::InvalidPluginName(n)) if n == "../sh"
        ));
        assert!(matches!(
            find_in_path("a\\b", &dirs),
            Err(SkelError::InvalidPluginName(_))
        ));
        assert!(matches!(
            find_in_path("bridge", &[]),
            Err(SkelError::NoPluginPaths(n)) if n == "bridge"
        ));
    }

    #[test]
    fn finds_first_regular_file_in_order() {
        let (ta, tb) = (TempDir::new("find"), TempDir::new("find"));
        let (a, b) = (ta.path().to_path_buf(), tb.path().to_path_buf());
        // In `a` the name is a directory: skipped.
        std::fs::create_dir_all(a.join("plug")).unwrap();
        std::fs::write(b.join("plug"), b"#!/bin/sh\n").unwrap();
        std::fs::write(a.join("other"), b"").unwrap();
        let found = find_in_path("plug", &[a.clone(), b.clone()]).unwrap();
        assert_eq!(found, b.join("plug"));
        assert_eq!(
            find_in_path("other", &[a.clone(), b.clone()]).unwrap(),
            a.join("other")
        );
        let err = find_in_path("missing", &[a.clone(), b.clone()]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("failed to find plugin \"missing\""), "{text}");
        assert!(text.contains(&a.display().to_string()), "{text}");
    }
}

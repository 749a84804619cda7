//! The module's file system (spec §7, §10.8): what `AT+QFUPL` stores, `AT+QFLST` lists and
//! `AT+QFDEL` deletes, and what `AT+QSSLCFG` file paths resolve to.
//!
//! qmt-sim's choices where the spec is silent:
//! - A name without a drive (`cacert.pem`) is on `UFS:`; names keep their case.
//! - A pattern ending in `*` matches by prefix (`"*"` is `"UFS:*"`: the user files only, as
//!   `AT+QFDEL="*"` deletes them); any other pattern is an exact name. `AT+QFLST` without a
//!   pattern lists the UFS files. A listing that matches nothing answers `OK` alone.
//! - `AT+QFDEL` of a name that does not exist: `+CME ERROR: 405`; `AT+QFUPL` to an existing
//!   name: `+CME ERROR: 407` (spec §10.8), before `CONNECT`.
//! - Files are in flash: they survive a restart or power cycle.

use std::collections::BTreeMap;

use qmt_proto::checksum::qfupl_checksum;

/// One stored file.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct StoredFile {
    pub(super) data: Vec<u8>,
    /// The `+QFUPL` checksum of `data`.
    pub(super) checksum: u16,
}

/// The files of the module, by full name (`UFS:cacert.pem`). `Debug` shows names and sizes only:
/// files hold private keys.
#[derive(Clone, Default)]
pub(super) struct FileSystem(BTreeMap<String, StoredFile>);

impl std::fmt::Debug for FileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v.data.len())))
            .finish()
    }
}

/// The full name of `name`: with its drive, `UFS:` when it has none.
pub(super) fn full_name(name: &str) -> String {
    let has_drive = ["UFS:", "RAM:"]
        .iter()
        .any(|d| name.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(d)));
    if has_drive {
        name.to_owned()
    } else {
        format!("UFS:{name}")
    }
}

impl FileSystem {
    /// A file system holding `files` (name, bytes).
    pub(super) fn with(files: &[(String, Vec<u8>)]) -> FileSystem {
        let mut fs = FileSystem::default();
        for (name, data) in files {
            fs.store(name, data.clone());
        }
        fs
    }

    /// Whether `name` exists.
    pub(super) fn exists(&self, name: &str) -> bool {
        self.0.contains_key(&full_name(name))
    }

    /// Stores `data` under `name`; returns its size and checksum (the `+QFUPL` answer).
    pub(super) fn store(&mut self, name: &str, data: Vec<u8>) -> (u64, u16) {
        let checksum = qfupl_checksum(&data);
        let size = u64::try_from(data.len()).unwrap_or(u64::MAX);
        self.0
            .insert(full_name(name), StoredFile { data, checksum });
        (size, checksum)
    }

    /// The bytes of `name`.
    pub(super) fn get(&self, name: &str) -> Option<&[u8]> {
        self.0.get(&full_name(name)).map(|f| f.data.as_slice())
    }

    /// The files a pattern of `AT+QFLST` matches: (full name, size), in name order.
    pub(super) fn list(&self, pattern: Option<&str>) -> Vec<(String, u64)> {
        let pattern = full_name(pattern.unwrap_or("*"));
        self.0
            .iter()
            .filter(|(name, _)| match pattern.strip_suffix('*') {
                Some(prefix) => name
                    .get(..prefix.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(prefix)),
                None => name.eq_ignore_ascii_case(&pattern),
            })
            .map(|(name, f)| {
                (
                    name.clone(),
                    u64::try_from(f.data.len()).unwrap_or(u64::MAX),
                )
            })
            .collect()
    }

    /// Deletes `name`, or every UFS file for `"*"`: whether anything was deleted.
    pub(super) fn delete(&mut self, name: &str) -> bool {
        if name == "*" || name.eq_ignore_ascii_case("UFS:*") {
            self.0.retain(|n, _| !n.starts_with("UFS:"));
            return true;
        }
        self.0.remove(&full_name(name)).is_some()
    }

    /// The checksum of a stored file (for tests of the core).
    #[cfg(test)]
    pub(super) fn checksum(&self, name: &str) -> Option<u16> {
        self.0.get(&full_name(name)).map(|f| f.checksum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_deletion() {
        let mut fs = FileSystem::with(&[
            ("ca.pem".to_owned(), b"abcd".to_vec()),
            ("UFS:key.pem".to_owned(), b"xyz".to_vec()),
            ("RAM:tmp".to_owned(), Vec::new()),
        ]);
        assert_eq!(fs.checksum("UFS:ca.pem"), Some(qfupl_checksum(b"abcd")));
        let names = |v: Vec<(String, u64)>| {
            v.into_iter()
                .map(|(n, s)| format!("{n}={s}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(fs.list(None)), ["UFS:ca.pem=4", "UFS:key.pem=3"]);
        assert_eq!(names(fs.list(Some("*"))), ["UFS:ca.pem=4", "UFS:key.pem=3"]);
        assert_eq!(names(fs.list(Some("RAM:*"))), ["RAM:tmp=0"]);
        assert_eq!(names(fs.list(Some("UFS:ca.pem"))), ["UFS:ca.pem=4"]);
        assert_eq!(names(fs.list(Some("ca.pem"))), ["UFS:ca.pem=4"]);
        assert!(fs.list(Some("UFS:nope")).is_empty());
        assert!(fs.exists("UFS:key.pem") && !fs.exists("RAM:key.pem"));
        assert!(!fs.delete("UFS:nope"));
        assert!(fs.delete("key.pem"));
        assert!(fs.delete("*"));
        assert_eq!(names(fs.list(Some("*"))), Vec::<String>::new());
        assert_eq!(
            names(fs.list(Some("RAM:*"))),
            ["RAM:tmp=0"],
            "RAM survives UFS:*"
        );
    }
}

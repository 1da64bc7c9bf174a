//! Keeping a volume's record and its directory in step across crashes. A create makes the
//! directory under `.new.<random>.<name>` and renames it into place after the record is in; a
//! removal renames it to `.trash.<random>.<name>` before the record goes and deletes the data
//! last. Volume names start with a letter or digit, so these names never clash with one. At
//! start, `volumes_recover` finishes or undoes whatever a crash interrupted; `system check`
//! reports any record without data and any data without a record.

use std::path::PathBuf;

use berth_api::CheckProblem;
use berth_types::{Error, Result};

use crate::daemon::Daemon;
use crate::volume::store::VolumeRecord;

/// The prefix of a directory an interrupted create left.
pub(crate) const PENDING_NEW: &str = ".new.";
/// The prefix of a directory an interrupted removal left.
pub(crate) const PENDING_TRASH: &str = ".trash.";

/// The random tag of a pending directory's name, in hex digits.
const PENDING_TAG_LEN: usize = 16;
/// What a pending directory's name adds to the volume's name (the longer prefix, the tag and
/// a dot).
pub(crate) const PENDING_OVERHEAD: usize = PENDING_TRASH.len() + PENDING_TAG_LEN + 1;

/// `(prefix, volume name)` of a pending directory's name.
fn parse_pending(file_name: &str) -> Option<(&'static str, &str)> {
    for prefix in [PENDING_NEW, PENDING_TRASH] {
        if let Some(rest) = file_name.strip_prefix(prefix) {
            let (_, name) = rest.split_once('.')?;
            return Some((prefix, name));
        }
    }
    None
}

impl Daemon {
    /// A fresh pending directory name for volume `name`.
    pub(crate) fn volume_pending_dir(&self, prefix: &str, name: &str) -> PathBuf {
        let tag = &berth_types::id::generate()[..PENDING_TAG_LEN];
        self.volumes_dir().join(format!("{prefix}{tag}.{name}"))
    }

    /// The volume's `_data`, which must exist: a volume whose data is gone is reported, never
    /// silently made again empty.
    pub(crate) fn volume_data_present(&self, record: &VolumeRecord) -> Result<PathBuf> {
        let data = self.volume_data(&record.name);
        if data.is_dir() {
            return Ok(data);
        }
        Err(Error::internal(format!(
            "volume {}: its data directory {} is missing (berth system check lists such damage)",
            record.name,
            data.display()
        )))
    }

    /// At start: finishes the creates whose record is in and the removals whose record is
    /// gone; undoes the others.
    pub(crate) fn volumes_recover(&self) {
        let dir = self.volumes_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some((prefix, name)) = file_name.to_str().and_then(parse_pending) else {
                continue;
            };
            let pending = entry.path();
            let recorded = matches!(self.volumes.get(name), Ok(Some(_)));
            let target = dir.join(name);
            if recorded && !target.exists() {
                // A create whose record is in, or a removal whose record is still there.
                let what = if prefix == PENDING_NEW {
                    "finishing the creation"
                } else {
                    "undoing the removal"
                };
                tracing::info!(volume = %name, "{what} of a volume interrupted by a crash");
                if let Err(e) = std::fs::rename(&pending, &target) {
                    tracing::warn!(volume = %name, error = %e, "{what}");
                }
                continue;
            }
            tracing::info!(volume = %name, path = %pending.display(), "removing what an interrupted volume create or removal left");
            if let Err(e) = std::fs::remove_dir_all(&pending) {
                tracing::warn!(volume = %name, error = %e, "removing a pending volume directory");
            }
        }
    }

    /// Records without data and data without records, for `system check`.
    pub(crate) fn volume_problems(&self) -> Result<Vec<CheckProblem>> {
        let mut problems = Vec::new();
        let records = self.volumes.list()?;
        for r in &records {
            let data = self.volume_data(&r.name);
            if !data.is_dir() {
                problems.push(CheckProblem {
                    object: format!("volume {}", r.name),
                    problem: format!("its data directory {} is missing", data.display()),
                });
            }
        }
        let dir = self.volumes_dir();
        let mut entries: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| Error::internal(format!("reading {}: {e}", dir.display())))?
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        entries.sort();
        for name in entries {
            if let Some((_, volume)) = parse_pending(&name) {
                problems.push(CheckProblem {
                    object: format!("volume {volume}"),
                    problem: format!(
                        "an interrupted create or removal left {}",
                        dir.join(&name).display()
                    ),
                });
            } else if !records.iter().any(|r| r.name == name) {
                problems.push(CheckProblem {
                    object: format!("volume {name}"),
                    problem: format!("{} has no volume record", dir.join(&name).display()),
                });
            }
        }
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_names_parse() {
        assert_eq!(
            parse_pending(".trash.0123456789abcdef.my.vol-1"),
            Some((PENDING_TRASH, "my.vol-1"))
        );
        assert_eq!(
            parse_pending(".new.0123456789abcdef.v"),
            Some((PENDING_NEW, "v"))
        );
        assert_eq!(parse_pending("data"), None);
        assert_eq!(parse_pending(".trash.x"), None);
    }
}

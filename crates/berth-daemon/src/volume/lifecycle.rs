//! Named and anonymous volumes with dockerd's `local` driver: a directory
//! `<data-root>/volumes/<name>/_data`, or, with `type`/`device`/`o` options, whatever those
//! describe mounted there while a running container uses the volume.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use berth_api::models::VolumeUsageData;
use berth_api::volume::{Volume, VolumeCreateOptions, VolumePruneResponse};
use berth_api::Filters;
use berth_types::{Error, Result};

use crate::daemon::Daemon;
use crate::volume::consistency::{PENDING_NEW, PENDING_TRASH};
use crate::volume::mount as volume_mount;
use crate::volume::store::{VolumeRecord, ANONYMOUS_LABEL};

/// The only driver berth has.
pub const LOCAL_DRIVER: &str = "local";

/// The options the local driver understands (`size` needs a quota-capable filesystem, which
/// berth does not manage, so it is not among them).
const LOCAL_OPTIONS: &[&str] = &["type", "device", "o"];

/// The longest local volume name: it is a directory name (at most 255 bytes), and while it is
/// created or removed it is kept as `.trash.<16 hex>.<name>` (see `volume_consistency`), which
/// must fit too.
pub const MAX_NAME_LEN: usize = 255 - crate::volume::consistency::PENDING_OVERHEAD;

/// dockerd's `RestrictedNamePattern` for local volume names.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The checks the local driver makes before creating anything, with dockerd's wording (the
/// length limit is berth's: dockerd fails later, in mkdir, with a 500).
pub fn validate_local(name: &str, options: &HashMap<String, String>) -> Result<()> {
    if name.len() == 1 {
        return Err(Error::invalid(format!(
            "create {name}: volume name is too short, names should be at least two alphanumeric characters"
        )));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(format!(
            "create {name}: volume name is too long, names should be at most {MAX_NAME_LEN} characters"
        )));
    }
    if !valid_name(name) {
        return Err(Error::invalid(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    let mut keys: Vec<&String> = options.keys().collect();
    keys.sort();
    if let Some(bad) = keys
        .into_iter()
        .find(|k| !LOCAL_OPTIONS.contains(&k.as_str()))
    {
        return Err(Error::invalid(format!(
            "create {name}: invalid option key: \"{bad}\""
        )));
    }
    Ok(())
}

fn driver_check(name: &str, driver: &str) -> Result<()> {
    if driver.is_empty() || driver == LOCAL_DRIVER {
        return Ok(());
    }
    Err(Error::not_found(format!(
        "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
    )))
}

fn no_such_volume(name: &str) -> Error {
    Error::not_found(format!("get {name}: no such volume"))
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::internal(format!("{what} {}: {e}", path.display()))
}

fn bool_filter(key: &str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::invalid(format!("invalid filter '{key}={value}'"))),
    }
}

/// The prune filter `all`, as moby's `withPrune`: one value at most (a set, so repeats count
/// once), Go's `strconv.ParseBool` spellings.
fn prune_all(values: &[String]) -> Result<bool> {
    let mut distinct: Vec<&str> = values.iter().map(String::as_str).collect();
    distinct.sort_unstable();
    distinct.dedup();
    match distinct[..] {
        [] => Ok(false),
        [v] => match v {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            _ => Err(Error::invalid(format!(
                "invalid filter 'all': strconv.ParseBool: parsing {v:?}: invalid syntax"
            ))),
        },
        _ => Err(Error::invalid(format!(
            "invalid filter 'all=[{}]': only one value is expected",
            distinct.join(" ")
        ))),
    }
}

impl Daemon {
    pub(crate) fn volumes_dir(&self) -> PathBuf {
        self.config.data_root.join("volumes")
    }

    pub(crate) fn volume_data(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name).join("_data")
    }

    fn wire_volume(&self, r: &VolumeRecord) -> Volume {
        Volume {
            created_at: r.created_at.clone(),
            driver: r.driver.clone(),
            labels: (!r.labels.is_empty()).then(|| r.labels.clone()),
            mountpoint: self.volume_data(&r.name).display().to_string(),
            name: r.name.clone(),
            // The driver options as created: `{}` when the create gave an empty set (the CLI's
            // `volume create`), null when it gave none (an API create without `DriverOpts`, a
            // volume made for a container), as dockerd keeps them.
            options: r.options_given.then(|| r.options.clone()),
            scope: "local".into(),
            usage_data: None,
        }
    }

    /// Ids of the containers (in any state) whose mounts name the volume.
    pub(crate) fn volume_users(&self, name: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .all()
            .iter()
            .map(|c| c.snapshot())
            .filter(|c| c.mount_points.iter().any(|m| m.is_volume(name)))
            .map(|c| c.id)
            .collect();
        ids.sort();
        ids
    }

    /// Creates the volume, or returns the existing one of that name (dockerd's behaviour);
    /// the flag says whether it was created now.
    pub(crate) fn volume_ensure(
        &self,
        name: &str,
        driver: &str,
        labels: HashMap<String, String>,
        options: Option<HashMap<String, String>>,
    ) -> Result<(VolumeRecord, bool)> {
        let options_given = options.is_some();
        let options = options.unwrap_or_default();
        driver_check(name, driver)?;
        let _guard = self.volume_lock.lock();
        if let Some(existing) = self.volumes.get(name)? {
            self.volume_data_present(&existing)?;
            return Ok((existing, false));
        }
        validate_local(name, &options)?;
        let record = VolumeRecord {
            name: name.to_string(),
            driver: LOCAL_DRIVER.into(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels,
            options,
            options_given,
        };
        // The directory is made under a pending name and renamed into place after the row is
        // in: a crash in between is finished or undone by the next start (`volumes_recover`).
        let pending = self.volume_pending_dir(PENDING_NEW, name);
        let data = pending.join("_data");
        std::fs::create_dir_all(&data).map_err(|e| io_err("creating", &data, e))?;
        match self.volumes.insert(&record) {
            Ok(true) => {}
            // Lost a race with another create of the same name: theirs stands.
            Ok(false) => {
                let _ = std::fs::remove_dir_all(&pending);
                return self
                    .volumes
                    .get(name)?
                    .map(|r| (r, false))
                    .ok_or_else(|| no_such_volume(name));
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&pending);
                return Err(e);
            }
        }
        crate::recovery::failpoint::hit("volume-create-after-row");
        let dir = self.volumes_dir().join(name);
        if let Err(e) = std::fs::rename(&pending, &dir) {
            let _ = std::fs::remove_dir_all(&pending);
            if dir.join("_data").is_dir() {
                // A directory of that name without a record: the local driver adopts it, as
                // dockerd's does.
                tracing::warn!(volume = %name, "adopting an existing volume directory");
            } else {
                let _ = self.volumes.delete(name);
                return Err(io_err("creating", &dir, e));
            }
        }
        self.events.emit(
            crate::system::events::Kind::Volume,
            "create",
            name,
            HashMap::from([("driver".to_string(), LOCAL_DRIVER.to_string())]),
        );
        Ok((record, true))
    }

    /// `POST /volumes/create`: a missing name gets a random one (not anonymous: the user
    /// asked for a volume).
    pub async fn volume_create(&self, opts: VolumeCreateOptions) -> Result<Volume> {
        let name = opts
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(berth_types::id::generate);
        let (record, _) = self.volume_ensure(
            &name,
            opts.driver.as_deref().unwrap_or(""),
            opts.labels.unwrap_or_default(),
            opts.driver_opts,
        )?;
        Ok(self.wire_volume(&record))
    }

    pub async fn volume_inspect(&self, name: &str) -> Result<Volume> {
        let record = self
            .volumes
            .get(name)?
            .ok_or_else(|| no_such_volume(name))?;
        Ok(self.wire_volume(&record))
    }

    /// `GET /volumes`: filters `dangling`, `name` (substring), `driver`, `label`.
    pub async fn volume_list(&self, filters: &Filters) -> Result<Vec<Volume>> {
        filters
            .validate(&["dangling", "name", "driver", "label"])
            .map_err(Error::invalid)?;
        let dangling = match filters.get("dangling") {
            [] => None,
            [v, ..] => Some(bool_filter("dangling", v)?),
        };
        let mut out = Vec::new();
        for r in self.volumes.list()? {
            let names = filters.get("name");
            if !names.is_empty() && !names.iter().any(|n| r.name.contains(n.as_str())) {
                continue;
            }
            let drivers = filters.get("driver");
            if !drivers.is_empty() && !drivers.contains(&r.driver) {
                continue;
            }
            if !filters.match_kv_list("label", &r.labels) {
                continue;
            }
            if let Some(want) = dangling {
                if self.volume_users(&r.name).is_empty() != want {
                    continue;
                }
            }
            out.push(self.wire_volume(&r));
        }
        Ok(out)
    }

    /// `DELETE /volumes/{name}`: refused while any container references it; `force` only
    /// makes a missing volume not an error, as in dockerd.
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        if self.volumes.get(name)?.is_none() {
            return if force {
                Ok(())
            } else {
                Err(no_such_volume(name))
            };
        }
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(Error::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(" ")
            )));
        }
        self.volume_destroy(name)
    }

    /// Removes a volume no container was ever given (a failed create's).
    pub(crate) fn volume_remove_unchecked(&self, name: &str) -> Result<()> {
        self.volume_destroy(name)
    }

    /// Removes an unused volume: its directory is renamed to a trash name, then the record
    /// goes, then the data. A crash at any point leaves it whole or gone once the next start
    /// has run `volumes_recover`.
    fn volume_destroy(&self, name: &str) -> Result<()> {
        let guard = self.volume_lock.lock();
        let data = self.volume_data(name);
        volume_mount::unmount_if_mounted(&data)?;
        let dir = self.volumes_dir().join(name);
        let trash = self.volume_pending_dir(PENDING_TRASH, name);
        let trashed = match std::fs::rename(&dir, &trash) {
            Ok(()) => Some(trash),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("removing", &dir, e)),
        };
        crate::recovery::failpoint::hit("volume-rm-after-rename");
        if let Err(e) = self.volumes.delete(name) {
            if let Some(t) = &trashed {
                let _ = std::fs::rename(t, &dir);
            }
            return Err(e);
        }
        drop(guard);
        crate::recovery::failpoint::hit("volume-rm-after-row");
        if let Some(t) = &trashed {
            if let Err(e) = std::fs::remove_dir_all(t) {
                // The record is gone; the next start removes the rest.
                tracing::warn!(volume = %name, error = %e, "removing volume data");
            }
        }
        self.events.emit(
            crate::system::events::Kind::Volume,
            "destroy",
            name,
            HashMap::from([("driver".to_string(), LOCAL_DRIVER.to_string())]),
        );
        Ok(())
    }

    /// Removes the anonymous volumes among `names` that no container references any more
    /// (`rm -v`, `--rm`).
    pub(crate) fn remove_anonymous_volumes(&self, names: &[String]) {
        for name in names {
            let anonymous = matches!(self.volumes.get(name), Ok(Some(r)) if r.anonymous());
            if anonymous && self.volume_users(name).is_empty() {
                if let Err(e) = self.volume_destroy(name) {
                    tracing::warn!(volume = %name, error = %e, "removing anonymous volume");
                }
            }
        }
    }

    /// `POST /volumes/prune`: unused anonymous volumes, or all unused ones with `all=true`;
    /// `label` / `label!` narrow it.
    pub async fn volume_prune(&self, filters: &Filters) -> Result<VolumePruneResponse> {
        filters
            .validate(&["label", "label!", "all"])
            .map_err(Error::invalid)?;
        let all = prune_all(filters.get("all"))?;
        let mut deleted = Vec::new();
        let mut reclaimed: i64 = 0;
        for r in self.volumes.list()? {
            if !all && !r.anonymous() {
                continue;
            }
            if !filters.match_prune_labels(&r.labels) {
                continue;
            }
            if !self.volume_users(&r.name).is_empty() {
                continue;
            }
            let size = if r.needs_mount() {
                0
            } else {
                berth_snapshot::dir_size(&self.volume_data(&r.name)).unwrap_or(0) as i64
            };
            self.volume_destroy(&r.name)?;
            reclaimed += size;
            deleted.push(r.name);
        }
        self.events.emit(
            crate::system::events::Kind::Volume,
            "prune",
            "",
            HashMap::from([("reclaimed".to_string(), reclaimed.to_string())]),
        );
        Ok(VolumePruneResponse {
            volumes_deleted: Some(deleted),
            space_reclaimed: Some(reclaimed),
        })
    }

    /// Every volume with `UsageData` (size of `_data`, -1 for driver-mounted ones as dockerd
    /// reports, and the number of containers referencing it), for `system df`.
    pub(crate) async fn volume_usage(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for r in self.volumes.list()? {
            let data = self.volume_data(&r.name);
            let needs_mount = r.needs_mount();
            let size = tokio::task::spawn_blocking(move || {
                if needs_mount {
                    -1
                } else {
                    berth_snapshot::dir_size(&data).map_or(-1, |s| s as i64)
                }
            })
            .await
            .unwrap_or(-1);
            let mut v = self.wire_volume(&r);
            v.usage_data = Some(VolumeUsageData {
                size,
                ref_count: self.volume_users(&r.name).len() as i64,
            });
            out.push(v);
        }
        Ok(out)
    }

    /// Mounts a volume with driver options at its `_data` unless that is mounted already.
    pub(crate) fn volume_activate(&self, record: &VolumeRecord) -> Result<PathBuf> {
        let data = self.volume_data_present(record)?;
        if record.needs_mount() {
            let _guard = self.volume_mount_lock.lock();
            volume_mount::mount_if_unmounted(&record.options, &data)?;
        }
        Ok(data)
    }

    /// After container `id` stopped: unmounts its driver-mounted volumes that no other running
    /// container uses.
    pub(crate) fn volume_release(&self, id: &str) {
        let Ok(ctr) = self.lookup(id) else { return };
        let names: Vec<String> = ctr
            .snapshot()
            .mount_points
            .iter()
            .filter_map(|m| m.volume_name().map(str::to_string))
            .collect();
        let _guard = self.volume_mount_lock.lock();
        for name in names {
            let Ok(Some(record)) = self.volumes.get(&name) else {
                continue;
            };
            // dockerd's `UnmountVolumes` logs `unmount` for each volume of the container.
            self.events.emit(
                crate::system::events::Kind::Volume,
                "unmount",
                &name,
                HashMap::from([
                    ("driver".to_string(), LOCAL_DRIVER.to_string()),
                    ("container".to_string(), id.to_string()),
                ]),
            );
            if !record.needs_mount() {
                continue;
            }
            let in_use = self.all().iter().any(|c| {
                let s = c.snapshot();
                s.id != id && s.state.running() && s.mount_points.iter().any(|m| m.is_volume(&name))
            });
            if !in_use {
                if let Err(e) = volume_mount::unmount_if_mounted(&self.volume_data(&name)) {
                    tracing::warn!(volume = %name, error = %e, "unmounting volume");
                }
            }
        }
    }
}

/// berth's wire volume as the swagger model `system df` embeds.
pub(crate) fn to_model(v: Volume) -> berth_api::models::Volume {
    berth_api::models::Volume {
        name: v.name,
        driver: v.driver,
        mountpoint: v.mountpoint,
        created_at: Some(v.created_at),
        labels: v.labels.unwrap_or_default(),
        scope: Some(berth_api::models::VolumeScopeEnum::LOCAL),
        options: v.options.unwrap_or_default(),
        usage_data: v.usage_data,
        ..Default::default()
    }
}

/// The label set of a new anonymous volume.
pub(crate) fn anonymous_labels() -> HashMap<String, String> {
    HashMap::from([(ANONYMOUS_LABEL.to_string(), String::new())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_options_follow_the_local_driver() {
        let none = HashMap::new();
        assert!(validate_local("data", &none).is_ok());
        assert!(validate_local("a.b_c-1", &none).is_ok());
        let e = validate_local("x/y", &none).expect_err("slash");
        assert_eq!(
            e.message,
            "create x/y: \"x/y\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
        assert_eq!(
            validate_local("a", &none).expect_err("short").message,
            "create a: volume name is too short, names should be at least two alphanumeric characters"
        );
        assert!(validate_local(&"v".repeat(MAX_NAME_LEN), &none).is_ok());
        let long = "v".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            validate_local(&long, &none).expect_err("long").message,
            format!(
                "create {long}: volume name is too long, names should be at most 231 characters"
            )
        );
        assert!(validate_local("_a", &none).is_err());
        let bad = HashMap::from([("foo".to_string(), "bar".to_string())]);
        assert_eq!(
            validate_local("v1", &bad).expect_err("foo").message,
            "create v1: invalid option key: \"foo\""
        );
        let tmpfs = HashMap::from([
            ("type".to_string(), "tmpfs".to_string()),
            ("device".to_string(), "tmpfs".to_string()),
            ("o".to_string(), "size=1m".to_string()),
        ]);
        assert!(validate_local("v1", &tmpfs).is_ok());
    }

    #[test]
    fn bool_filters() {
        assert!(bool_filter("dangling", "maybe").is_err());
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn prune_all_is_one_go_bool() {
        let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(!prune_all(&[]).unwrap());
        assert!(prune_all(&v(&["1"])).unwrap());
        assert!(prune_all(&v(&["True", "True"])).unwrap());
        assert!(!prune_all(&v(&["f"])).unwrap());
        assert_eq!(
            prune_all(&v(&["yes"])).unwrap_err().message,
            "invalid filter 'all': strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(
            prune_all(&v(&["true", "false"])).unwrap_err().message,
            "invalid filter 'all=[false true]': only one value is expected"
        );
    }
}

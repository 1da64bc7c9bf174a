//! The volume service (as containerd's `plugins/services/*/local.go`): the `local` driver's
//! records and directories under `<data-root>/volumes`, with dockerd's checks, filters and
//! crash-safe create and removal. It needs no daemon: which containers use a volume, and the
//! events, are the caller's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_api::volume::Volume;
use berth_api::Filters;
use berth_types::{Error, Result};

use berth_api::CheckProblem;

use crate::volume::consistency::{self, PENDING_NEW, PENDING_TRASH};
use crate::volume::mount as volume_mount;
use crate::volume::store::{VolumeRecord, VolumeStore};
use crate::volume::LOCAL_DRIVER;

/// The options the local driver understands (`size` needs a quota-capable filesystem, which
/// berth does not manage, so it is not among them).
const LOCAL_OPTIONS: &[&str] = &["type", "device", "o"];

/// The longest local volume name: it is a directory name (at most 255 bytes), and while it is
/// created or removed it is kept as `.trash.<16 hex>.<name>` (see `consistency.rs`), which
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

/// The volume service.
pub(crate) struct VolumeService {
    /// `<data-root>/volumes`.
    root: PathBuf,
    store: VolumeStore,
    /// Serialises the local driver's mounts and unmounts of volume `_data` directories.
    pub(crate) mount_lock: Mutex<()>,
    /// Serialises volume creation and removal (each spans a row and a directory rename).
    lock: Mutex<()>,
}

impl VolumeService {
    pub(crate) fn open(data_root: &Path, db: berth_store::Db) -> Result<Self> {
        Ok(Self {
            root: data_root.join("volumes"),
            store: VolumeStore::open(db)?,
            mount_lock: Mutex::new(()),
            lock: Mutex::new(()),
        })
    }

    pub(crate) fn data(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    pub(crate) fn get(&self, name: &str) -> Result<Option<VolumeRecord>> {
        self.store.get(name)
    }

    pub(crate) fn records(&self) -> Result<Vec<VolumeRecord>> {
        self.store.list()
    }

    pub(crate) fn wire(&self, r: &VolumeRecord) -> Volume {
        Volume {
            created_at: r.created_at.clone(),
            driver: r.driver.clone(),
            labels: (!r.labels.is_empty()).then(|| r.labels.clone()),
            mountpoint: self.data(&r.name).display().to_string(),
            name: r.name.clone(),
            // The driver options as created: `{}` when the create gave an empty set (the CLI's
            // `volume create`), null when it gave none (an API create without `DriverOpts`, a
            // volume made for a container), as dockerd keeps them.
            options: r.options_given.then(|| r.options.clone()),
            scope: "local".into(),
            usage_data: None,
        }
    }

    /// Creates the volume, or returns the existing one of that name (dockerd's behaviour);
    /// the flag says whether it was created now.
    pub(crate) fn ensure(
        &self,
        name: &str,
        driver: &str,
        labels: HashMap<String, String>,
        options: Option<HashMap<String, String>>,
    ) -> Result<(VolumeRecord, bool)> {
        let options_given = options.is_some();
        let options = options.unwrap_or_default();
        driver_check(name, driver)?;
        let _guard = self.lock.lock();
        if let Some(existing) = self.store.get(name)? {
            self.data_present(&existing)?;
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
        // in: a crash in between is finished or undone by the next start (`recover`).
        let pending = self.pending_dir(PENDING_NEW, name);
        let data = pending.join("_data");
        std::fs::create_dir_all(&data).map_err(|e| io_err("creating", &data, e))?;
        match self.store.insert(&record) {
            Ok(true) => {}
            // Lost a race with another create of the same name: theirs stands.
            Ok(false) => {
                let _ = std::fs::remove_dir_all(&pending);
                return self
                    .store
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
        let dir = self.root.join(name);
        if let Err(e) = std::fs::rename(&pending, &dir) {
            let _ = std::fs::remove_dir_all(&pending);
            if dir.join("_data").is_dir() {
                // A directory of that name without a record: the local driver adopts it, as
                // dockerd's does.
                tracing::warn!(volume = %name, "adopting an existing volume directory");
            } else {
                let _ = self.store.delete(name);
                return Err(io_err("creating", &dir, e));
            }
        }
        Ok((record, true))
    }

    pub(crate) fn inspect(&self, name: &str) -> Result<Volume> {
        let record = self.store.get(name)?.ok_or_else(|| no_such_volume(name))?;
        Ok(self.wire(&record))
    }

    /// `GET /volumes`: filters `dangling`, `name` (substring), `driver`, `label`; `unused`
    /// says whether no container references a volume.
    pub(crate) fn list(
        &self,
        filters: &Filters,
        unused: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Volume>> {
        filters
            .validate(&["dangling", "name", "driver", "label"])
            .map_err(Error::invalid)?;
        let dangling = match filters.get("dangling") {
            [] => None,
            [v, ..] => Some(bool_filter("dangling", v)?),
        };
        let mut out = Vec::new();
        for r in self.store.list()? {
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
                if unused(&r.name) != want {
                    continue;
                }
            }
            out.push(self.wire(&r));
        }
        Ok(out)
    }

    /// `DELETE /volumes/{name}`: refused while any container (`users`) references it; `force`
    /// only makes a missing volume not an error, as in dockerd. Whether it was removed.
    pub(crate) fn remove(&self, name: &str, force: bool, users: &[String]) -> Result<bool> {
        if self.store.get(name)?.is_none() {
            return if force {
                Ok(false)
            } else {
                Err(no_such_volume(name))
            };
        }
        if !users.is_empty() {
            return Err(Error::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(" ")
            )));
        }
        self.destroy(name)?;
        Ok(true)
    }

    /// Removes an unused volume: its directory is renamed to a trash name, then the record
    /// goes, then the data. A crash at any point leaves it whole or gone once the next start
    /// has run `recover`.
    pub(crate) fn destroy(&self, name: &str) -> Result<()> {
        let guard = self.lock.lock();
        let data = self.data(name);
        volume_mount::unmount_if_mounted(&data)?;
        let dir = self.root.join(name);
        let trash = self.pending_dir(PENDING_TRASH, name);
        let trashed = match std::fs::rename(&dir, &trash) {
            Ok(()) => Some(trash),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("removing", &dir, e)),
        };
        crate::recovery::failpoint::hit("volume-rm-after-rename");
        if let Err(e) = self.store.delete(name) {
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
        Ok(())
    }

    /// `POST /volumes/prune`: unused anonymous volumes, or all unused ones with `all=true`;
    /// `label` / `label!` narrow it. `destroyed` is told of each removal as it happens.
    /// Returns the names removed and the bytes reclaimed.
    pub(crate) fn prune(
        &self,
        filters: &Filters,
        unused: &dyn Fn(&str) -> bool,
        destroyed: &dyn Fn(&str),
    ) -> Result<(Vec<String>, i64)> {
        filters
            .validate(&["label", "label!", "all"])
            .map_err(Error::invalid)?;
        let all = prune_all(filters.get("all"))?;
        let mut deleted = Vec::new();
        let mut reclaimed: i64 = 0;
        for r in self.store.list()? {
            if !all && !r.anonymous() {
                continue;
            }
            if !filters.match_prune_labels(&r.labels) {
                continue;
            }
            if !unused(&r.name) {
                continue;
            }
            let size = if r.needs_mount() {
                0
            } else {
                berth_snapshot::dir_size(&self.data(&r.name)).unwrap_or(0) as i64
            };
            self.destroy(&r.name)?;
            destroyed(&r.name);
            reclaimed += size;
            deleted.push(r.name);
        }
        Ok((deleted, reclaimed))
    }

    /// A fresh pending directory name for volume `name` (see `consistency.rs`).
    pub(crate) fn pending_dir(&self, prefix: &str, name: &str) -> PathBuf {
        consistency::pending_dir(&self.root, prefix, name)
    }

    /// The volume's `_data`, which must exist.
    pub(crate) fn data_present(&self, record: &VolumeRecord) -> Result<PathBuf> {
        consistency::data_present(record, self.data(&record.name))
    }

    /// At start: finishes or undoes the creates and removals a crash interrupted.
    pub(crate) fn recover(&self) {
        consistency::recover(&self.root, &|name| {
            matches!(self.store.get(name), Ok(Some(_)))
        });
    }

    /// Records without data and data without records, for `system check`.
    pub(crate) fn problems(&self) -> Result<Vec<CheckProblem>> {
        let records = self.store.list()?;
        consistency::problems(&self.root, &records, &|name| self.data(name))
    }

    /// Mounts a volume with driver options at its `_data` unless that is mounted already.
    pub(crate) fn activate(&self, record: &VolumeRecord) -> Result<PathBuf> {
        let data = self.data_present(record)?;
        if record.needs_mount() {
            let _guard = self.mount_lock.lock();
            volume_mount::mount_if_unmounted(&record.options, &data)?;
        }
        Ok(data)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::store::ANONYMOUS_LABEL;

    fn service() -> (tempfile::TempDir, VolumeService) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = berth_store::Db::open(dir.path().join("berth.db")).expect("db");
        let svc = VolumeService::open(dir.path(), db).expect("open");
        std::fs::create_dir_all(&svc.root).expect("volumes dir");
        (dir, svc)
    }

    fn filters(pairs: &[(&str, &str)]) -> Filters {
        let mut f = Filters::default();
        for (k, v) in pairs {
            f.add(k, v);
        }
        f
    }

    fn names(vols: &[Volume]) -> Vec<&str> {
        let mut n: Vec<&str> = vols.iter().map(|v| v.name.as_str()).collect();
        n.sort();
        n
    }

    #[test]
    fn create_inspect_remove_without_a_daemon() {
        let (_dir, svc) = service();
        let labels = HashMap::from([("k".to_string(), "v".to_string())]);
        let (rec, created) = svc
            .ensure("data", "", labels.clone(), None)
            .expect("create");
        assert!(created);
        assert_eq!(rec.driver, LOCAL_DRIVER);
        assert!(svc.data("data").is_dir());
        // A second create of the name returns the volume as it is.
        let (again, created) = svc
            .ensure("data", "local", HashMap::new(), Some(HashMap::new()))
            .expect("again");
        assert!(!created);
        assert_eq!(again.labels, labels);
        let v = svc.inspect("data").expect("inspect");
        assert_eq!(v.mountpoint, svc.data("data").display().to_string());
        assert_eq!(v.options, None, "no options given: null, as dockerd");
        assert_eq!(v.labels, Some(labels));
        assert_eq!(v.scope, "local");
        let (_, _) = svc
            .ensure("opts", "", HashMap::new(), Some(HashMap::new()))
            .expect("empty options");
        assert_eq!(
            svc.inspect("opts").expect("opts").options,
            Some(HashMap::new())
        );

        let users = vec!["c1".to_string(), "c2".to_string()];
        assert_eq!(
            svc.remove("data", false, &users)
                .expect_err("in use")
                .message,
            "remove data: volume is in use - [c1 c2]"
        );
        assert!(svc.remove("data", false, &[]).expect("remove"));
        assert!(!svc.root.join("data").exists(), "directory gone");
        let e = svc.inspect("data").expect_err("gone");
        assert_eq!(e.message, "get data: no such volume");
        assert!(e.is_not_found());
        assert!(!svc
            .remove("data", true, &[])
            .expect("force on a missing one"));
        assert_eq!(
            svc.remove("data", false, &[]).expect_err("missing").message,
            "get data: no such volume"
        );
        // Nothing pending is left behind by a create and a removal.
        let left: Vec<_> = std::fs::read_dir(&svc.root)
            .expect("read")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["opts".to_string()]);
    }

    #[test]
    fn create_refuses_other_drivers_and_bad_names() {
        let (_dir, svc) = service();
        let e = svc
            .ensure("v1", "nfs", HashMap::new(), None)
            .expect_err("plugin");
        assert_eq!(
            e.message,
            "create v1: error looking up volume plugin nfs: plugin \"nfs\" not found"
        );
        assert!(e.is_not_found());
        assert!(svc.ensure("a", "", HashMap::new(), None).is_err());
        assert!(svc.records().expect("list").is_empty());
    }

    #[test]
    fn list_filters() {
        let (_dir, svc) = service();
        let lab = |k: &str, v: &str| HashMap::from([(k.to_string(), v.to_string())]);
        svc.ensure("web-data", "", lab("app", "web"), None)
            .expect("1");
        svc.ensure("db-data", "", lab("app", "db"), None)
            .expect("2");
        svc.ensure("cache", "", HashMap::new(), None).expect("3");
        let used = |n: &str| n == "db-data";
        let unused = |n: &str| !used(n);
        let all = svc.list(&Filters::default(), &unused).expect("all");
        assert_eq!(names(&all), ["cache", "db-data", "web-data"]);
        let by_name = svc
            .list(&filters(&[("name", "data")]), &unused)
            .expect("name");
        assert_eq!(names(&by_name), ["db-data", "web-data"]);
        let by_label = svc
            .list(&filters(&[("label", "app=web")]), &unused)
            .expect("label");
        assert_eq!(names(&by_label), ["web-data"]);
        let with_label = svc
            .list(&filters(&[("label", "app")]), &unused)
            .expect("label key");
        assert_eq!(names(&with_label), ["db-data", "web-data"]);
        let dangling = svc
            .list(&filters(&[("dangling", "true")]), &unused)
            .expect("dangling");
        assert_eq!(names(&dangling), ["cache", "web-data"]);
        let in_use = svc
            .list(&filters(&[("dangling", "0")]), &unused)
            .expect("in use");
        assert_eq!(names(&in_use), ["db-data"]);
        let none = svc
            .list(&filters(&[("driver", "nfs")]), &unused)
            .expect("driver");
        assert!(none.is_empty());
        assert_eq!(
            svc.list(&filters(&[("dangling", "maybe")]), &unused)
                .expect_err("bad bool")
                .message,
            "invalid filter 'dangling=maybe'"
        );
        assert!(svc.list(&filters(&[("bogus", "1")]), &unused).is_err());
    }

    #[test]
    fn prune_takes_unused_anonymous_volumes_unless_all() {
        let (_dir, svc) = service();
        let anon = || HashMap::from([(ANONYMOUS_LABEL.to_string(), String::new())]);
        svc.ensure("anon1", "", anon(), None).expect("1");
        svc.ensure("anon2", "", anon(), None).expect("2");
        svc.ensure("named", "", HashMap::new(), None).expect("3");
        std::fs::write(svc.data("anon1").join("f"), vec![0u8; 4096]).expect("write");
        let unused = |n: &str| n != "anon2";
        let seen = std::cell::RefCell::new(Vec::new());
        let (deleted, reclaimed) = svc
            .prune(&Filters::default(), &unused, &|n| {
                seen.borrow_mut().push(n.to_string())
            })
            .expect("prune");
        assert_eq!(deleted, vec!["anon1".to_string()]);
        assert_eq!(*seen.borrow(), deleted, "told of each removal");
        assert!(reclaimed >= 4096, "reclaimed {reclaimed}");
        assert!(svc.get("anon2").expect("get").is_some(), "in use: kept");
        let (deleted, _) = svc
            .prune(
                &filters(&[("all", "true"), ("label!", "keep")]),
                &unused,
                &|_| {},
            )
            .expect("all");
        assert_eq!(deleted, vec!["named".to_string()]);
        assert_eq!(
            svc.prune(&filters(&[("until", "1h")]), &unused, &|_| {})
                .expect_err("until")
                .kind,
            berth_types::ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn recover_finishes_or_undoes_what_a_crash_left() {
        let (_dir, svc) = service();
        svc.ensure("kept", "", HashMap::new(), None)
            .expect("create");
        // A create whose record is in but whose directory was not renamed yet.
        let kept = svc.root.join("kept");
        let pending = svc.pending_dir(PENDING_NEW, "kept");
        std::fs::rename(&kept, &pending).expect("pretend");
        // A create that never got its record.
        let orphan = svc.pending_dir(PENDING_NEW, "orphan");
        std::fs::create_dir_all(orphan.join("_data")).expect("orphan");
        // Data without a record.
        std::fs::create_dir_all(svc.root.join("stray/_data")).expect("stray");
        let problems = svc.problems().expect("problems");
        let objects: Vec<&str> = problems.iter().map(|p| p.object.as_str()).collect();
        assert!(objects.contains(&"volume kept"), "{objects:?}");
        assert!(objects.contains(&"volume orphan"), "{objects:?}");
        assert!(objects.contains(&"volume stray"), "{objects:?}");
        let rec = svc.get("kept").expect("get").expect("record");
        assert!(svc.data_present(&rec).is_err(), "missing data is reported");
        svc.recover();
        assert!(kept.join("_data").is_dir(), "create finished");
        assert!(!orphan.exists(), "orphan removed");
        assert_eq!(svc.data_present(&rec).expect("present"), svc.data("kept"));
        let problems = svc.problems().expect("problems");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].object, "volume stray");
    }

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

//! Named and anonymous volumes with dockerd's `local` driver: a directory
//! `<data-root>/volumes/<name>/_data`, or, with `type`/`device`/`o` options, whatever those
//! describe mounted there while a running container uses the volume. The volume service
//! (`service.rs`) holds the records and directories; these endpoints add which containers use
//! a volume, and the events.

use std::collections::HashMap;
use std::path::PathBuf;

use berth_api::models::VolumeUsageData;
use berth_api::volume::{Volume, VolumeCreateOptions, VolumePruneResponse};
use berth_api::Filters;
use berth_types::Result;

use crate::daemon::Daemon;
use crate::system::events::Kind;
use crate::volume::mount as volume_mount;
use crate::volume::store::{VolumeRecord, ANONYMOUS_LABEL};
use crate::volume::LOCAL_DRIVER;

impl Daemon {
    pub(crate) fn volume_data(&self, name: &str) -> PathBuf {
        self.volumes.data(name)
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

    fn volume_event(&self, action: &str, name: &str) {
        self.events.emit(
            Kind::Volume,
            action,
            name,
            HashMap::from([("driver".to_string(), LOCAL_DRIVER.to_string())]),
        );
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
        let (record, created) = self.volumes.ensure(name, driver, labels, options)?;
        if created {
            self.volume_event("create", name);
        }
        Ok((record, created))
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
        Ok(self.volumes.wire(&record))
    }

    pub async fn volume_inspect(&self, name: &str) -> Result<Volume> {
        self.volumes.inspect(name)
    }

    /// `GET /volumes`: filters `dangling`, `name` (substring), `driver`, `label`.
    pub async fn volume_list(&self, filters: &Filters) -> Result<Vec<Volume>> {
        self.volumes
            .list(filters, &|name| self.volume_users(name).is_empty())
    }

    /// `DELETE /volumes/{name}`: refused while any container references it; `force` only
    /// makes a missing volume not an error, as in dockerd.
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let users = if self.volumes.get(name)?.is_some() {
            self.volume_users(name)
        } else {
            Vec::new()
        };
        if self.volumes.remove(name, force, &users)? {
            self.volume_event("destroy", name);
        }
        Ok(())
    }

    /// Removes a volume no container was ever given (a failed create's).
    pub(crate) fn volume_remove_unchecked(&self, name: &str) -> Result<()> {
        self.volume_destroy(name)
    }

    fn volume_destroy(&self, name: &str) -> Result<()> {
        self.volumes.destroy(name)?;
        self.volume_event("destroy", name);
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
        let (deleted, reclaimed) = self.volumes.prune(
            filters,
            &|name| self.volume_users(name).is_empty(),
            &|name| self.volume_event("destroy", name),
        )?;
        self.events.emit(
            Kind::Volume,
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
        for r in self.volumes.records()? {
            let data = self.volumes.data(&r.name);
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
            let mut v = self.volumes.wire(&r);
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
        self.volumes.activate(record)
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
        let _guard = self.volumes.mount_lock.lock();
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
                if let Err(e) = volume_mount::unmount_if_mounted(&self.volumes.data(&name)) {
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

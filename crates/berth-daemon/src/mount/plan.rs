//! At create: the container's mount points from `--volumes-from`, `-v`, `--mount` and the
//! image's `VOLUME`s, in dockerd's order and with its conflict rules; then the volumes they
//! need, created only once everything validated.

use std::collections::{HashMap, HashSet};

use berth_api::models::{ContainerConfig, HostConfig};
use berth_runtime::spec::{MASKED_PATHS, READONLY_PATHS};
use berth_types::{Error, Result};

use crate::daemon::Daemon;
use crate::mount::points::{self as mounts, MountKind, MountPoint};

fn duplicate(dest: &str) -> Error {
    Error::invalid(format!("Duplicate mount point: {dest}"))
}

fn under(path: &str, prefix: &str) -> bool {
    path == prefix || path.starts_with(&format!("{prefix}/"))
}

/// Unprivileged containers may not mount over /proc, /sys or the paths the runtime masks or
/// makes read-only: that would undo the masking.
pub fn check_not_masked(dest: &str, privileged: bool) -> Result<()> {
    if privileged {
        return Ok(());
    }
    let masked = dest == "/sys"
        || under(dest, "/proc")
        || MASKED_PATHS
            .iter()
            .chain(READONLY_PATHS)
            .any(|m| under(dest, m));
    if masked {
        return Err(Error::invalid(format!(
            "invalid mount config: {dest} is a path the container runtime mounts or masks; mounting over it needs --privileged"
        )));
    }
    Ok(())
}

impl Daemon {
    /// Every mount point of a new container, validated; anonymous volumes still unnamed.
    pub(crate) fn plan_mounts(
        &self,
        config: &ContainerConfig,
        hc: &HostConfig,
    ) -> Result<Vec<MountPoint>> {
        let privileged = hc.privileged.unwrap_or(false);
        let tmpfs = mounts::tmpfs_destinations(&hc.tmpfs.clone().unwrap_or_default())?;
        let tmpfs: HashSet<String> = tmpfs.into_iter().collect();
        let mut by_dest: HashMap<String, MountPoint> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut put = |mp: MountPoint, by_dest: &mut HashMap<String, MountPoint>| {
            if !by_dest.contains_key(&mp.destination) {
                order.push(mp.destination.clone());
            }
            by_dest.insert(mp.destination.clone(), mp);
        };
        for spec in hc.volumes_from.clone().unwrap_or_default() {
            let (key, rw) = mounts::parse_volumes_from(&spec)?;
            let from = self.lookup(&key)?.snapshot();
            for m in from.mount_points {
                let mut copy = m.clone();
                copy.rw = m.rw && rw;
                copy.copy_data = false;
                put(copy, &mut by_dest);
            }
        }
        // Binds and mounts override what --volumes-from brought, but not each other.
        let mut explicit: HashSet<String> = HashSet::new();
        let mut parsed = Vec::new();
        for raw in hc.binds.clone().unwrap_or_default() {
            parsed.push(mounts::parse_bind(&raw)?);
        }
        for m in hc.mounts.clone().unwrap_or_default() {
            parsed.push(mounts::parse_mount(&m)?);
        }
        for mp in parsed {
            if explicit.contains(&mp.destination) || tmpfs.contains(&mp.destination) {
                return Err(duplicate(&mp.destination));
            }
            if mp.kind == MountKind::Volume && !mp.name.is_empty() {
                if mp.driver != crate::volume::lifecycle::LOCAL_DRIVER {
                    return Err(Error::not_found(format!(
                        "create {}: error looking up volume plugin {}: plugin \"{}\" not found",
                        mp.name, mp.driver, mp.driver
                    )));
                }
                if self.volumes.get(&mp.name)?.is_none() {
                    crate::volume::lifecycle::validate_local(&mp.name, &mp.volume_options)?;
                }
            }
            explicit.insert(mp.destination.clone());
            put(mp, &mut by_dest);
        }
        // The image's and -v's anonymous volumes (Config.Volumes), unless something is there.
        let mut image_volumes: Vec<String> = config
            .volumes
            .clone()
            .unwrap_or_default()
            .into_keys()
            .collect();
        image_volumes.sort();
        for path in image_volumes {
            let dest = mounts::clean(&path);
            if !path.starts_with('/') {
                return Err(Error::invalid(format!(
                    "invalid mount config for type \"volume\": invalid mount path: '{path}' mount path must be absolute"
                )));
            }
            if by_dest.contains_key(&dest) || tmpfs.contains(&dest) {
                continue;
            }
            let mut mp = mounts::parse_bind(&dest)?;
            mp.mode = String::new();
            put(mp, &mut by_dest);
        }
        for dest in order.iter().chain(tmpfs.iter()) {
            check_not_masked(dest, privileged)?;
        }
        Ok(order
            .into_iter()
            .filter_map(|d| by_dest.remove(&d))
            .collect())
    }

    /// Creates the volumes the plan needs (named ones that do not exist, and a fresh one for
    /// each anonymous mount) and fills in names and sources. Returns the names created, for
    /// [`Daemon::discard_volumes`] should the create fail later.
    pub(crate) fn create_planned_volumes(&self, plan: &mut [MountPoint]) -> Result<Vec<String>> {
        let mut created = Vec::new();
        for mp in plan.iter_mut().filter(|m| m.kind == MountKind::Volume) {
            let result = if mp.name.is_empty() {
                let name = berth_types::id::generate();
                let mut labels = mp.volume_labels.clone();
                labels.extend(crate::volume::lifecycle::anonymous_labels());
                self.volume_ensure(&name, "", labels, volume_opts(mp))
            } else {
                self.volume_ensure(&mp.name, "", mp.volume_labels.clone(), volume_opts(mp))
            };
            match result {
                Ok((record, fresh)) => {
                    mp.name = record.name.clone();
                    mp.source = self.volume_data(&record.name).display().to_string();
                    if fresh {
                        created.push(record.name);
                    }
                }
                Err(e) => {
                    self.discard_volumes(&created);
                    return Err(e);
                }
            }
        }
        Ok(created)
    }

    /// Undoes [`Daemon::create_planned_volumes`].
    pub(crate) fn discard_volumes(&self, names: &[String]) {
        for name in names {
            if let Err(e) = self.volume_remove_unchecked(name) {
                tracing::warn!(volume = %name, error = %e, "discarding volume of a failed create");
            }
        }
    }
}

/// A mount's driver options for the volume it creates: none when it names none (dockerd's
/// `Options: null`).
fn volume_opts(mp: &MountPoint) -> Option<HashMap<String, String>> {
    Some(mp.volume_options.clone()).filter(|o| !o.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_paths_need_privilege() {
        assert!(check_not_masked("/proc/sys/kernel", false).is_err());
        assert!(check_not_masked("/proc", false).is_err());
        assert!(check_not_masked("/sys/firmware/x", false).is_err());
        assert!(check_not_masked("/sys", false).is_err());
        assert!(check_not_masked("/proc/sys", true).is_ok());
        assert!(check_not_masked("/data", false).is_ok());
        assert!(check_not_masked("/procfs", false).is_ok());
    }
}

//! A container made through the CRI is an ordinary berth container (same id, record, shim
//! and lifecycle) with one label, [`MEMBER_LABEL`], naming its sandbox and what the Docker
//! model has no field for. From it the container's OCI spec is adjusted to join the holder's
//! namespaces by path, under the pod's cgroup parent, with the pod's /etc files, and its
//! output is logged in the CRI format at the path kubelet chose.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_runtime::shim_proto::LogFormat;
use berth_types::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{NsMode, PodState};
use crate::container::record::Container;
use crate::daemon::Daemon;

/// The label holding a CRI container's [`PodMember`] (JSON).
pub const MEMBER_LABEL: &str = "io.berth.cri.member";

/// What makes a berth container a pod's container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodMember {
    pub sandbox_id: String,
    /// `ContainerMetadata`.
    pub name: String,
    pub attempt: u32,
    /// The CRI's labels and annotations (the container's Docker labels also hold the
    /// image's).
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The image as the request named it.
    pub image: String,
    /// `log_directory` of the sandbox joined with the container's `log_path`; empty: none.
    pub log_path: String,
    /// The container's PID and IPC namespaces.
    pub pid: NsMode,
    pub ipc: NsMode,
    /// `masked_paths` and `readonly_paths` of the security context, when given.
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    /// The pod's cgroup parent (empty: berth's own `/berth`).
    #[serde(default)]
    pub cgroup_parent: String,
    /// The CRI mounts asked for, as ContainerStatus reports them.
    pub mounts: Vec<MemberMount>,
    /// Creation time, nanoseconds since the epoch.
    pub created_at: i64,
}

/// One CRI `Mount` of a pod's container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberMount {
    pub container_path: String,
    pub host_path: String,
    pub readonly: bool,
    /// `private`, `rslave` (host to container) or `rshared` (bidirectional).
    pub propagation: String,
    /// Read-only recursively: submounts too (the OCI `rro` option, mount_setattr with
    /// AT_RECURSIVE in the runtime).
    #[serde(default)]
    pub recursive_read_only: bool,
}

/// The pod membership of `c`, if it is a CRI container.
pub fn of(c: &Container) -> Option<PodMember> {
    let raw = c.config.labels.as_ref()?.get(MEMBER_LABEL)?;
    serde_json::from_str(raw).ok()
}

/// Where and how the shim logs a CRI container's output; `None` for other containers.
pub(crate) fn log_target(c: &Container) -> Option<(PathBuf, LogFormat)> {
    let m = of(c)?;
    if m.log_path.is_empty() {
        return None;
    }
    let path = PathBuf::from(&m.log_path);
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    Some((path, LogFormat::Cri))
}

/// The cgroup of `c` (`linux.cgroupsPath`): under its pod's cgroup parent for a pod's
/// container that has one, else `/berth/<id>`.
pub(crate) fn cgroups_path(c: &Container) -> String {
    let parent = of(c).map(|m| m.cgroup_parent).unwrap_or_default();
    super::holder::cgroup_path(&parent, &c.id)
}

/// Whether `c` gets its network from a pod (so no namespace of its own is made).
pub(crate) fn in_pod(c: &Container) -> bool {
    of(c).is_some()
}

/// The spec of a pod's container: the holder's namespaces joined, the pod's cgroup parent and
/// /etc files, the security context's masked and read-only paths. Other containers' specs are
/// returned as they are.
pub(crate) fn adjust_spec(
    d: &Daemon,
    c: &Container,
    spec: oci_spec::runtime::Spec,
) -> Result<oci_spec::runtime::Spec> {
    let Some(m) = of(c) else {
        return Ok(spec);
    };
    let pod = d.pod_get(&m.sandbox_id)?;
    // A holder that has died leaves no namespaces to join (the runtime would fail on its
    // /proc/<pid>/ns paths with a bare ENOENT).
    let holder_alive = pod.holder_pid > 0
        && std::path::Path::new(&format!("/proc/{}/ns", pod.holder_pid)).exists();
    if pod.state != PodState::Ready || !holder_alive {
        return Err(Error::conflict(format!(
            "sandbox container {:?} is not running",
            pod.id
        )));
    }
    let mut v = serde_json::to_value(&spec).map_err(|e| Error::internal(e.to_string()))?;
    let host_net = pod.spec.host_network();
    let mut namespaces: Vec<Value> = Vec::new();
    for ns in v["linux"]["namespaces"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let kind = ns["type"].as_str().unwrap_or_default().to_string();
        let joined = |name: &str| -> Result<Value> {
            let path = pod.ns_path(name).ok_or_else(|| {
                Error::internal(format!("sandbox {} has no {name} namespace", pod.id))
            })?;
            Ok(serde_json::json!({ "type": kind, "path": path }))
        };
        match kind.as_str() {
            "network" | "uts" if host_net => {}
            "network" => namespaces.push(joined("net")?),
            "uts" => namespaces.push(joined("uts")?),
            "ipc" if m.ipc == NsMode::Node || pod.spec.ipc == NsMode::Node => {}
            "ipc" => namespaces.push(joined("ipc")?),
            "pid" => match m.pid {
                NsMode::Node => {}
                NsMode::Pod if pod.spec.pid != NsMode::Node => namespaces.push(joined("pid")?),
                NsMode::Pod => {}
                NsMode::Container => namespaces.push(ns),
            },
            _ => namespaces.push(ns),
        }
    }
    v["linux"]["namespaces"] = Value::Array(namespaces);
    if let Some(o) = v.as_object_mut() {
        // The pod's UTS namespace carries the hostname already.
        o.remove("hostname");
        o.remove("domainname");
    }
    if let Some(linux) = v["linux"].as_object_mut() {
        // Sysctls are the pod's (set by its holder in the shared namespaces); the defaults
        // berth gives a container's own network namespace would override them.
        linux.remove("sysctl");
    }
    v["linux"]["cgroupsPath"] = cgroups_path(c).into();
    let data = d.pod_data_dir(&pod.id);
    for mount in v["mounts"].as_array_mut().into_iter().flatten() {
        let file = match mount["destination"].as_str() {
            Some("/etc/hosts") => "hosts",
            Some("/etc/resolv.conf") => "resolv.conf",
            Some("/etc/hostname") => "hostname",
            _ => continue,
        };
        // Only berth's own bind, not one the container asked for.
        if mount["source"]
            .as_str()
            .is_some_and(|s| std::path::Path::new(s).starts_with(d.container_dir(&c.id)))
        {
            mount["source"] = data.join(file).display().to_string().into();
        }
    }
    for rro in m.mounts.iter().filter(|x| x.recursive_read_only) {
        let Some(mount) = v["mounts"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .find(|x| x["destination"].as_str() == Some(rro.container_path.as_str()))
        else {
            continue;
        };
        if let Some(options) = mount["options"].as_array_mut() {
            options.push("rro".into());
        }
    }
    if !c.host_config.privileged.unwrap_or(false) {
        if let Some(p) = &m.masked_paths {
            v["linux"]["maskedPaths"] = p.clone().into();
        }
        if let Some(p) = &m.readonly_paths {
            v["linux"]["readonlyPaths"] = p.clone().into();
        }
    }
    serde_json::from_value(v).map_err(|e| Error::internal(format!("the pod container's spec: {e}")))
}

//! ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats,
//! UpdateContainerResources and ReopenContainerLog for CRI
//! containers, over the Docker API's stats (the container's cgroup) and update, and the shim.

use berth_api::models::HostConfig;
use berth_api::stats::StatsResponse;
use berth_daemon::sandbox::{PodMember, PodRecord, PodState};
use berth_daemon::{Daemon, StatsOptions};
use futures::StreamExt;
use tonic::{Response, Status};

use crate::error::status;
use crate::proto;
use crate::sandbox::labels_match;

type RpcResult<T> = Result<Response<T>, Status>;

fn value(v: u64) -> Option<proto::UInt64Value> {
    Some(proto::UInt64Value { value: v })
}

/// One stats frame of the container (two samples a second apart when `rate`, for the CPU
/// rate).
pub(crate) async fn frame(d: &Daemon, id: &str, rate: bool) -> Result<StatsResponse, Status> {
    let opts = StatsOptions {
        stream: false,
        one_shot: !rate,
    };
    let mut frames = d.container_stats(id, opts).await.map_err(status)?;
    let bytes = frames
        .next()
        .await
        .ok_or_else(|| Status::internal("no stats frame"))?;
    serde_json::from_slice(&bytes).map_err(|e| Status::internal(format!("stats frame: {e}")))
}

fn ts(read: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(read)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or_else(crate::sandbox::chrono_now_ns)
}

/// The CRI's stats from a Docker stats frame.
fn convert(id: &str, m: &PodMember, s: &StatsResponse) -> proto::ContainerStats {
    let at = ts(&s.read);
    let cpu_total = s.cpu_stats.cpu_usage.total_usage;
    let prev_at = ts(&s.preread);
    let prev_total = s.precpu_stats.cpu_usage.total_usage;
    let nano_cores = (prev_total > 0 && at > prev_at && cpu_total >= prev_total).then(|| {
        ((cpu_total - prev_total) as u128 * 1_000_000_000 / (at - prev_at) as u128) as u64
    });
    let mem = &s.memory_stats;
    let stat = |keys: &[&str]| -> Option<u64> {
        let map = mem.stats.as_ref()?;
        keys.iter().find_map(|k| map.get(*k).copied())
    };
    let usage = mem.usage.unwrap_or(0);
    let inactive = stat(&["total_inactive_file", "inactive_file"]).unwrap_or(0);
    proto::ContainerStats {
        attributes: Some(proto::ContainerAttributes {
            id: id.to_string(),
            metadata: Some(proto::ContainerMetadata {
                name: m.name.clone(),
                attempt: m.attempt,
            }),
            labels: m.labels.clone().into_iter().collect(),
            annotations: m.annotations.clone().into_iter().collect(),
        }),
        cpu: Some(proto::CpuUsage {
            timestamp: at,
            usage_core_nano_seconds: value(cpu_total),
            usage_nano_cores: nano_cores.and_then(value),
            psi: None,
        }),
        memory: Some(proto::MemoryUsage {
            timestamp: at,
            working_set_bytes: value(usage.saturating_sub(inactive)),
            available_bytes: mem
                .limit
                .filter(|l| *l > 0 && *l < u64::MAX / 2)
                .map(|l| l.saturating_sub(usage.saturating_sub(inactive)))
                .and_then(value),
            usage_bytes: value(usage),
            rss_bytes: stat(&["total_rss", "rss", "anon"]).and_then(value),
            page_faults: stat(&["total_pgfault", "pgfault"]).and_then(value),
            major_page_faults: stat(&["total_pgmajfault", "pgmajfault"]).and_then(value),
            psi: None,
        }),
        writable_layer: None,
        swap: None,
        io: None,
    }
}

/// The container's writable layer (its upper directory), on the image filesystem that
/// ImageFsInfo reports (kubelet matches the two by mountpoint).
async fn writable_layer(d: &Daemon, id: &str) -> Option<proto::FilesystemUsage> {
    let u = d.container_writable_layer(id).await.ok()?;
    let timestamp = u
        .timestamp
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| i64::try_from(t.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Some(proto::FilesystemUsage {
        timestamp,
        fs_id: Some(proto::FilesystemIdentifier {
            mountpoint: d.data_root().join("overlay").display().to_string(),
        }),
        used_bytes: value(u.used_bytes),
        inodes_used: value(u.inodes_used),
    })
}

fn member_of(d: &Daemon, id: &str) -> Result<(String, PodMember), Status> {
    let full = d.container_id(id).map_err(status)?;
    d.pod_members()
        .into_iter()
        .find(|(cid, _)| *cid == full)
        .ok_or_else(|| Status::not_found(format!("container {id:?} not found")))
}

pub(crate) async fn container_stats(
    d: &Daemon,
    r: proto::ContainerStatsRequest,
) -> RpcResult<proto::ContainerStatsResponse> {
    let (id, m) = member_of(d, &r.container_id)?;
    let s = frame(d, &id, true).await?;
    let mut stats = convert(&id, &m, &s);
    stats.writable_layer = writable_layer(d, &id).await;
    Ok(Response::new(proto::ContainerStatsResponse {
        stats: Some(stats),
    }))
}

pub(crate) async fn list_container_stats(
    d: &Daemon,
    r: proto::ListContainerStatsRequest,
) -> RpcResult<proto::ListContainerStatsResponse> {
    let filter = r.filter.unwrap_or_default();
    let mut stats = Vec::new();
    for (id, m) in d.pod_members() {
        if (!filter.id.is_empty() && !id.starts_with(&filter.id))
            || (!filter.pod_sandbox_id.is_empty()
                && !m.sandbox_id.starts_with(&filter.pod_sandbox_id))
            || !labels_match(&filter.label_selector, &m.labels)
        {
            continue;
        }
        // One sample each: a list answers at once (no CPU rate).
        if let Ok(s) = frame(d, &id, false).await {
            let mut c = convert(&id, &m, &s);
            c.writable_layer = writable_layer(d, &id).await;
            stats.push(c);
        }
    }
    Ok(Response::new(proto::ListContainerStatsResponse { stats }))
}

pub(crate) async fn reopen_log(
    d: &Daemon,
    r: proto::ReopenContainerLogRequest,
) -> RpcResult<proto::ReopenContainerLogResponse> {
    let (id, _) = member_of(d, &r.container_id)?;
    d.container_reopen_log(&id).await.map_err(status)?;
    Ok(Response::new(proto::ReopenContainerLogResponse {}))
}

pub(crate) async fn update_resources(
    d: &Daemon,
    r: proto::UpdateContainerResourcesRequest,
) -> RpcResult<proto::UpdateContainerResourcesResponse> {
    let (id, _) = member_of(d, &r.container_id)?;
    let res = r.linux.unwrap_or_default();
    let positive = |v: i64| (v > 0).then_some(v);
    let nonempty = |s: String| (!s.is_empty()).then_some(s);
    let update = HostConfig {
        cpu_period: positive(res.cpu_period),
        cpu_quota: positive(res.cpu_quota),
        cpu_shares: positive(res.cpu_shares),
        memory: positive(res.memory_limit_in_bytes),
        // No swap unless asked for, as kubelet runs pods (containerd sets swap = memory).
        memory_swap: positive(res.memory_swap_limit_in_bytes)
            .or(positive(res.memory_limit_in_bytes)),
        cpuset_cpus: nonempty(res.cpuset_cpus),
        cpuset_mems: nonempty(res.cpuset_mems),
        ..Default::default()
    };
    d.container_update(&id, update).await.map_err(status)?;
    Ok(Response::new(proto::UpdateContainerResourcesResponse {}))
}

/// A pod's stats: its containers', summed, with the pod network's interfaces (read in a
/// running container, which shares the pod's network namespace).
async fn pod_stats(d: &Daemon, rec: &PodRecord) -> proto::PodSandboxStats {
    let now = crate::sandbox::chrono_now_ns();
    let mut containers = Vec::new();
    let (mut cpu, mut working_set, mut usage, mut procs) = (0u64, 0u64, 0u64, 0u64);
    let mut interfaces: Vec<proto::NetworkInterfaceUsage> = Vec::new();
    for (id, m) in d
        .pod_members()
        .into_iter()
        .filter(|(_, m)| m.sandbox_id == rec.id)
    {
        let Ok(s) = frame(d, &id, false).await else {
            continue;
        };
        let mut c = convert(&id, &m, &s);
        c.writable_layer = writable_layer(d, &id).await;
        let num = |v: Option<&proto::UInt64Value>| v.map(|v| v.value).unwrap_or(0);
        if let Some(u) = &c.cpu {
            cpu += num(u.usage_core_nano_seconds.as_ref());
        }
        if let Some(u) = &c.memory {
            working_set += num(u.working_set_bytes.as_ref());
            usage += num(u.usage_bytes.as_ref());
        }
        procs += s.pids_stats.current.unwrap_or(0);
        if interfaces.is_empty() {
            interfaces = s
                .networks
                .iter()
                .flatten()
                .map(|(name, n)| proto::NetworkInterfaceUsage {
                    name: name.clone(),
                    rx_bytes: value(n.rx_bytes),
                    rx_errors: value(n.rx_errors),
                    tx_bytes: value(n.tx_bytes),
                    tx_errors: value(n.tx_errors),
                })
                .collect();
        }
        containers.push(c);
    }
    let default_interface = interfaces
        .iter()
        .find(|i| i.name == berth_daemon::sandbox::cni::IFNAME)
        .cloned();
    proto::PodSandboxStats {
        attributes: Some(proto::PodSandboxAttributes {
            id: rec.id.clone(),
            metadata: Some(proto::PodSandboxMetadata {
                name: rec.spec.name.clone(),
                uid: rec.spec.uid.clone(),
                namespace: rec.spec.namespace.clone(),
                attempt: rec.spec.attempt,
            }),
            labels: rec.spec.labels.clone().into_iter().collect(),
            annotations: rec.spec.annotations.clone().into_iter().collect(),
        }),
        linux: Some(proto::LinuxPodSandboxStats {
            cpu: Some(proto::CpuUsage {
                timestamp: now,
                usage_core_nano_seconds: value(cpu),
                usage_nano_cores: None,
                psi: None,
            }),
            memory: Some(proto::MemoryUsage {
                timestamp: now,
                working_set_bytes: value(working_set),
                usage_bytes: value(usage),
                ..Default::default()
            }),
            network: (!interfaces.is_empty()).then_some(proto::NetworkUsage {
                timestamp: now,
                default_interface,
                interfaces,
            }),
            process: Some(proto::ProcessUsage {
                timestamp: now,
                process_count: value(procs),
            }),
            containers,
            io: None,
        }),
        windows: None,
    }
}

pub(crate) async fn pod_sandbox_stats(
    d: &Daemon,
    r: proto::PodSandboxStatsRequest,
) -> RpcResult<proto::PodSandboxStatsResponse> {
    let rec = d.pod_get(&r.pod_sandbox_id).map_err(status)?;
    Ok(Response::new(proto::PodSandboxStatsResponse {
        stats: Some(pod_stats(d, &rec).await),
    }))
}

pub(crate) async fn list_pod_sandbox_stats(
    d: &Daemon,
    r: proto::ListPodSandboxStatsRequest,
) -> RpcResult<proto::ListPodSandboxStatsResponse> {
    let filter = r.filter.unwrap_or_default();
    let mut stats = Vec::new();
    // Ready sandboxes only, as containerd lists them.
    for rec in d.pod_list().map_err(status)? {
        if rec.state != PodState::Ready
            || (!filter.id.is_empty() && !rec.id.starts_with(&filter.id))
            || !labels_match(&filter.label_selector, &rec.spec.labels)
        {
            continue;
        }
        stats.push(pod_stats(d, &rec).await);
    }
    Ok(Response::new(proto::ListPodSandboxStatsResponse { stats }))
}

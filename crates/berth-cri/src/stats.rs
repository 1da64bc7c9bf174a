//! ContainerStats, ListContainerStats, UpdateContainerResources and ReopenContainerLog for CRI
//! containers, over the Docker API's stats (the container's cgroup) and update, and the shim.

use berth_api::models::HostConfig;
use berth_api::stats::StatsResponse;
use berth_daemon::sandbox::PodMember;
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
async fn frame(d: &Daemon, id: &str, rate: bool) -> Result<StatsResponse, Status> {
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
    Ok(Response::new(proto::ContainerStatsResponse {
        stats: Some(convert(&id, &m, &s)),
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
            stats.push(convert(&id, &m, &s));
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

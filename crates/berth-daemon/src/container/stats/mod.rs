//! `GET /containers/{id}/stats`: samples of the container's cgroup (v1 or v2, detected) and
//! network namespace, framed as dockerd's `StatsResponse`.

mod cgroup_v1;
mod cgroup_v2;
mod files;
mod host;
mod net;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth_api::stats::{CpuStats, StatsResponse};
use berth_types::Result;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};

use crate::container::record::Container;
use crate::daemon::{Ctr, Daemon};
use host::Host;

/// dockerd's collector samples every second.
const INTERVAL: Duration = Duration::from_secs(1);

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The interfaces (loopback left out) of the network namespace of process `pid`, from
/// `/proc/<pid>/net/dev`: a pod's, read through its holder.
pub fn net_interfaces(
    pid: i64,
) -> std::collections::BTreeMap<String, berth_api::stats::NetworkStats> {
    net::interfaces(pid)
}

/// What the client asked for.
#[derive(Debug, Clone, Copy)]
pub struct StatsOptions {
    /// A frame every second until the client goes away.
    pub stream: bool,
    /// With `stream=false`: answer at once, without the second sample that fills `precpu_stats`.
    pub one_shot: bool,
}

/// One sample of a running container, without the `pre*` fields.
fn sample(c: &Container) -> StatsResponse {
    let host = Host::sample();
    let path = crate::sandbox::member::cgroups_path(c);
    let rel = path.trim_start_matches('/').to_string();
    let root = Path::new(crate::runtime::cgroups::ROOT);
    let mut s = if crate::runtime::cgroups::is_unified() {
        let dir = root.join(&rel);
        StatsResponse {
            cpu_stats: cgroup_v2::cpu(&dir, &host),
            memory_stats: cgroup_v2::memory(&dir, &host),
            pids_stats: cgroup_v2::pids(&dir),
            blkio_stats: cgroup_v2::blkio(&dir),
            ..Default::default()
        }
    } else {
        StatsResponse {
            cpu_stats: cgroup_v1::cpu(root, &rel, &host),
            memory_stats: cgroup_v1::memory(root, &rel, &host),
            pids_stats: cgroup_v1::pids(root, &rel),
            blkio_stats: cgroup_v1::blkio(root, &rel),
            ..Default::default()
        }
    };
    s.read = crate::util::time::now_rfc3339();
    s.preread = ZERO_TIME.into();
    s.name = c.name.clone();
    s.id = c.id.clone();
    // The host's interfaces are not the container's: dockerd reports none there.
    if c.host_config.network_mode.as_deref() != Some("host") {
        let ifaces = net::interfaces(c.state.pid);
        s.networks = (!ifaces.is_empty()).then_some(ifaces);
    }
    s
}

/// What dockerd publishes for a container that is not running: only its name and id.
fn idle(c: &Container) -> StatsResponse {
    StatsResponse {
        read: ZERO_TIME.into(),
        preread: ZERO_TIME.into(),
        name: c.name.clone(),
        id: c.id.clone(),
        ..Default::default()
    }
}

fn frame(ctr: &Ctr) -> StatsResponse {
    let c = ctr.snapshot();
    if c.state.running() && c.state.pid > 0 {
        sample(&c)
    } else {
        idle(&c)
    }
}

/// `prev` becomes the frame's `pre*` fields.
fn with_previous(mut s: StatsResponse, prev: Option<(&str, &CpuStats)>) -> StatsResponse {
    if let Some((read, cpu)) = prev {
        s.preread = read.to_string();
        s.precpu_stats = cpu.clone();
    }
    s
}

fn encode(s: &StatsResponse) -> Bytes {
    let mut v = serde_json::to_vec(s).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

async fn sample_blocking(ctr: Arc<Ctr>) -> StatsResponse {
    let fallback = idle(&ctr.snapshot());
    tokio::task::spawn_blocking(move || frame(&ctr))
        .await
        .unwrap_or(fallback)
}

impl Daemon {
    /// Newline-separated JSON frames.
    pub async fn container_stats(
        &self,
        key: &str,
        opts: StatsOptions,
    ) -> Result<BoxStream<'static, Bytes>> {
        let ctr = self.lookup(key)?;
        if !opts.stream {
            let first = sample_blocking(ctr.clone()).await;
            let running = ctr.snapshot().state.running();
            if opts.one_shot || !running {
                return Ok(futures::stream::once(async move { encode(&first) }).boxed());
            }
            tokio::time::sleep(INTERVAL).await;
            let second = sample_blocking(ctr).await;
            let s = with_previous(second, Some((&first.read, &first.cpu_stats)));
            return Ok(futures::stream::once(async move { encode(&s) }).boxed());
        }
        let life = ctr.life.subscribe();
        let state = (ctr, life, None::<(String, CpuStats)>, true);
        let frames = futures::stream::unfold(state, |(ctr, mut life, prev, first)| async move {
            if !first {
                // A removed container ends the stream, as dockerd unsubscribes it.
                let removed = tokio::time::timeout(INTERVAL, life.wait_for(|l| l.removed)).await;
                if matches!(removed, Ok(Ok(_)) | Ok(Err(_))) {
                    return None;
                }
            }
            let s = sample_blocking(ctr.clone()).await;
            let out = with_previous(s, prev.as_ref().map(|(r, c)| (r.as_str(), c)));
            let next = Some((out.read.clone(), out.cpu_stats.clone()));
            Some((encode(&out), (ctr, life, next, false)))
        });
        Ok(frames.boxed())
    }
}

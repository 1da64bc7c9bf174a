//! The streamed List RPCs of cri-api 0.37 (KEP 5825, kubelet's `CRIListStreaming` gate):
//! StreamPodSandboxes, StreamContainers, StreamContainerStats, StreamPodSandboxStats and
//! StreamPodSandboxMetrics. Each is a server stream over its List RPC's answer, as containerd
//! serves them: the items in messages of at most [`BATCH`], each item once, then the end of the
//! stream; nothing matching is no message at all.

use berth_daemon::Daemon;
use futures::stream::{BoxStream, StreamExt};
use tonic::{Response, Status};

use crate::proto;

/// Items per message (containerd's `DefaultStreamBatchSize`).
pub(crate) const BATCH: usize = 5000;

pub(crate) type Streamed<T> = BoxStream<'static, Result<T, Status>>;

/// `items` in messages of at most `batch` made by `wrap`.
fn batches<I: Clone + Send + 'static, T: Send + 'static>(
    items: Vec<I>,
    batch: usize,
    wrap: fn(Vec<I>) -> T,
) -> Response<Streamed<T>> {
    let messages: Vec<Result<T, Status>> = items
        .chunks(batch.max(1))
        .map(|c| Ok(wrap(c.to_vec())))
        .collect();
    Response::new(futures::stream::iter(messages).boxed())
}

type StreamResult<T> = Result<Response<Streamed<T>>, Status>;

pub(crate) async fn pod_sandboxes(
    d: &Daemon,
    r: proto::StreamPodSandboxesRequest,
) -> StreamResult<proto::StreamPodSandboxesResponse> {
    let list = crate::sandbox::list(d, proto::ListPodSandboxRequest { filter: r.filter }).await?;
    Ok(batches(list.into_inner().items, BATCH, |pod_sandboxes| {
        proto::StreamPodSandboxesResponse { pod_sandboxes }
    }))
}

pub(crate) async fn containers(
    d: &Daemon,
    r: proto::StreamContainersRequest,
) -> StreamResult<proto::StreamContainersResponse> {
    let list = crate::container::list(d, proto::ListContainersRequest { filter: r.filter }).await?;
    Ok(batches(list.into_inner().containers, BATCH, |containers| {
        proto::StreamContainersResponse { containers }
    }))
}

pub(crate) async fn container_stats(
    d: &Daemon,
    r: proto::StreamContainerStatsRequest,
) -> StreamResult<proto::StreamContainerStatsResponse> {
    let list = crate::stats::list_container_stats(
        d,
        proto::ListContainerStatsRequest { filter: r.filter },
    )
    .await?;
    Ok(batches(list.into_inner().stats, BATCH, |container_stats| {
        proto::StreamContainerStatsResponse { container_stats }
    }))
}

pub(crate) async fn pod_sandbox_stats(
    d: &Daemon,
    r: proto::StreamPodSandboxStatsRequest,
) -> StreamResult<proto::StreamPodSandboxStatsResponse> {
    let list = crate::stats::list_pod_sandbox_stats(
        d,
        proto::ListPodSandboxStatsRequest { filter: r.filter },
    )
    .await?;
    Ok(batches(
        list.into_inner().stats,
        BATCH,
        |pod_sandbox_stats| proto::StreamPodSandboxStatsResponse { pod_sandbox_stats },
    ))
}

pub(crate) async fn pod_sandbox_metrics(
    d: &Daemon,
    _r: proto::StreamPodSandboxMetricsRequest,
) -> StreamResult<proto::StreamPodSandboxMetricsResponse> {
    let all = crate::metrics::collect(d).await?;
    Ok(batches(all, BATCH, |pod_sandbox_metrics| {
        proto::StreamPodSandboxMetricsResponse {
            pod_sandbox_metrics,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(items: usize, batch: usize) -> Vec<usize> {
        let resp = batches((0..items).collect(), batch, |v: Vec<usize>| v);
        futures::executor::block_on(
            resp.into_inner()
                .map(|m| m.map(|v| v.len()).unwrap_or(0))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn each_item_once_in_bounded_messages() {
        assert_eq!(sizes(0, 3), Vec::<usize>::new());
        assert_eq!(sizes(3, 3), vec![3]);
        assert_eq!(sizes(7, 3), vec![3, 3, 1]);
    }
}

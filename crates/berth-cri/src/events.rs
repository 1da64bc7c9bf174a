//! GetContainerEvents: the daemon's container events (create, start, die, destroy) of CRI
//! containers, streamed as the CRI's, each with the container's and its pod's status.

use std::sync::Arc;

use berth_api::models::{EventMessage, EventMessageTypeEnum};
use berth_daemon::sandbox::{PodMember, MEMBER_LABEL};
use berth_daemon::{Daemon, EventsOptions};
use futures::stream::BoxStream;
use futures::StreamExt;
use tonic::{Response, Status};

use crate::error::status;
use crate::proto;

pub(crate) type EventStream = BoxStream<'static, Result<proto::ContainerEventResponse, Status>>;

fn event_type(action: &str) -> Option<proto::ContainerEventType> {
    match action {
        "create" => Some(proto::ContainerEventType::ContainerCreatedEvent),
        "start" => Some(proto::ContainerEventType::ContainerStartedEvent),
        "die" => Some(proto::ContainerEventType::ContainerStoppedEvent),
        "destroy" => Some(proto::ContainerEventType::ContainerDeletedEvent),
        _ => None,
    }
}

/// The CRI event for a Docker event of a CRI container; `None` for any other.
async fn convert(d: &Daemon, e: EventMessage) -> Option<proto::ContainerEventResponse> {
    if e.typ != Some(EventMessageTypeEnum::CONTAINER) {
        return None;
    }
    let kind = event_type(e.action.as_deref()?)?;
    let actor = e.actor?;
    let id = actor.id?;
    // The event carries the container's labels, so a removed container is still known.
    let member: PodMember = serde_json::from_str(actor.attributes?.get(MEMBER_LABEL)?).ok()?;
    let pod = crate::sandbox::status_of(
        d,
        proto::PodSandboxStatusRequest {
            pod_sandbox_id: member.sandbox_id.clone(),
            verbose: false,
        },
    )
    .await
    .ok()
    .and_then(|r| r.into_inner().status);
    let container = crate::container::status_of(
        d,
        proto::ContainerStatusRequest {
            container_id: id.clone(),
            verbose: false,
        },
    )
    .await
    .ok()
    .and_then(|r| r.into_inner().status);
    Some(proto::ContainerEventResponse {
        container_id: id,
        container_event_type: kind as i32,
        created_at: e
            .time_nano
            .unwrap_or_else(|| e.time.unwrap_or(0) * 1_000_000_000),
        pod_sandbox_status: pod,
        containers_statuses: container.into_iter().collect(),
    })
}

pub(crate) fn subscribe(d: Arc<Daemon>) -> Result<Response<EventStream>, Status> {
    let events = d.events(EventsOptions::default()).map_err(status)?;
    let stream = events
        .filter_map(move |e| {
            let d = d.clone();
            async move { convert(&d, e).await.map(Ok) }
        })
        .boxed();
    Ok(Response::new(stream))
}

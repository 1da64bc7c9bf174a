//! CRI streaming: ExecSync, and the Exec, Attach and PortForward RPCs, whose answer is a URL on
//! berthd's streaming server (HTTP on 127.0.0.1) with a one-time token. The server upgrades
//! the client's request to SPDY/3.1 or WebSocket and speaks kubelet's protocols over it
//! (docs/cri.md, "Streaming").

mod exec_sync;
mod portforward;
mod process;
mod remotecommand;
mod server;
mod spdy;
mod token;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use berth_daemon::Daemon;
use tonic::{Response, Status};

use crate::proto;
pub(crate) use exec_sync::exec_sync;
pub use server::BindError;

/// Binds the streaming server on 127.0.0.1:`port` (0: a free port), records it in `state` for
/// the RPCs and serves it until the returned task is aborted.
pub(crate) async fn start(
    port: u16,
    daemon: Arc<Daemon>,
    state: &crate::config::RuntimeState,
) -> Result<tokio::task::JoinHandle<()>, BindError> {
    let listener = server::bind(port).await?;
    let addr = server::local_addr(&listener)?;
    let streaming = Arc::new(Streaming::new(addr));
    let _ = state.streaming.set(streaming.clone());
    tracing::info!(address = %addr, "CRI streaming server listening");
    Ok(tokio::spawn(server::serve(
        listener,
        daemon,
        streaming,
        std::future::pending(),
    )))
}

/// What a token stands for.
#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Command(remotecommand::Command),
    PortForward(portforward::Target),
}

/// The streaming server's address and the URLs it has handed out.
#[derive(Debug)]
pub(crate) struct Streaming {
    addr: SocketAddr,
    tokens: token::Tokens<Pending>,
}

impl Streaming {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            tokens: token::Tokens::new(token::TOKEN_TTL),
        }
    }

    fn url(&self, kind: &str, pending: Pending) -> Result<String, Status> {
        let token = self.tokens.insert(pending).ok_or_else(|| {
            // kubelet's wording when too many URLs wait.
            Status::resource_exhausted("maximum number of in-flight requests exceeded")
        })?;
        Ok(format!("http://{}/{kind}/{token}", self.addr))
    }
}

/// A container that can be exec'd into or attached to: it exists and runs.
async fn running_container(
    daemon: &Daemon,
    id: &str,
) -> Result<berth_api::models::ContainerInspectResponse, Status> {
    if id.is_empty() {
        return Err(Status::invalid_argument("missing required container_id"));
    }
    let c = daemon.container_inspect(id, false).await.map_err(|e| {
        if e.kind == berth_types::ErrorKind::NotFound {
            Status::not_found(format!(
                "failed to find container {id:?} in store: not found"
            ))
        } else {
            crate::error::status(e)
        }
    })?;
    let state = c.state.as_ref();
    let running = state.and_then(|s| s.running).unwrap_or(false);
    let paused = state.and_then(|s| s.paused).unwrap_or(false);
    if !running || paused {
        let cri_state = match state.and_then(|s| s.status) {
            Some(berth_api::models::ContainerStateStatusEnum::CREATED) => "CONTAINER_CREATED",
            Some(berth_api::models::ContainerStateStatusEnum::RUNNING)
            | Some(berth_api::models::ContainerStateStatusEnum::PAUSED) => "CONTAINER_RUNNING",
            Some(berth_api::models::ContainerStateStatusEnum::EXITED)
            | Some(berth_api::models::ContainerStateStatusEnum::DEAD)
            | Some(berth_api::models::ContainerStateStatusEnum::REMOVING) => "CONTAINER_EXITED",
            _ => "CONTAINER_UNKNOWN",
        };
        let message = if paused {
            format!("container {id} is paused")
        } else {
            format!("container is in {cri_state} state")
        };
        return Err(Status::failed_precondition(message));
    }
    Ok(c)
}

/// kubelet's checks of an exec or attach request's streams.
fn check_streams(tty: bool, stdin: bool, stdout: bool, stderr: bool) -> Result<(), Status> {
    if tty && stderr {
        return Err(Status::invalid_argument(
            "tty and stderr cannot both be true",
        ));
    }
    if !stdin && !stdout && !stderr {
        return Err(Status::invalid_argument(
            "one of stdin, stdout, or stderr must be set",
        ));
    }
    Ok(())
}

fn streaming(streaming: Option<&Arc<Streaming>>) -> Result<&Arc<Streaming>, Status> {
    streaming.ok_or_else(|| Status::unavailable("the streaming server is not running"))
}

pub(crate) async fn exec(
    daemon: &Daemon,
    server: Option<&Arc<Streaming>>,
    r: proto::ExecRequest,
) -> Result<Response<proto::ExecResponse>, Status> {
    let server = streaming(server)?;
    let c = running_container(daemon, &r.container_id).await?;
    if r.cmd.is_empty() {
        return Err(Status::invalid_argument("cmd must not be empty"));
    }
    check_streams(r.tty, r.stdin, r.stdout, r.stderr)?;
    let cmd = remotecommand::Command {
        container_id: c.id.unwrap_or(r.container_id),
        cmd: r.cmd,
        attach: false,
        tty: r.tty,
        stdin: r.stdin,
        stdout: r.stdout,
        stderr: r.stderr,
    };
    let url = server.url("exec", Pending::Command(cmd))?;
    Ok(Response::new(proto::ExecResponse { url }))
}

pub(crate) async fn attach(
    daemon: &Daemon,
    server: Option<&Arc<Streaming>>,
    r: proto::AttachRequest,
) -> Result<Response<proto::AttachResponse>, Status> {
    let server = streaming(server)?;
    let c = running_container(daemon, &r.container_id).await?;
    check_streams(r.tty, r.stdin, r.stdout, r.stderr)?;
    let cmd = remotecommand::Command {
        container_id: c.id.unwrap_or(r.container_id),
        cmd: Vec::new(),
        attach: true,
        tty: r.tty,
        stdin: r.stdin,
        stdout: r.stdout,
        stderr: r.stderr,
    };
    let url = server.url("attach", Pending::Command(cmd))?;
    Ok(Response::new(proto::AttachResponse { url }))
}

/// PortForward: `pod_sandbox_id` names the pod whose network namespace is entered. Until pod
/// sandboxes exist it may name any running berth container.
pub(crate) async fn port_forward(
    daemon: &Daemon,
    server: Option<&Arc<Streaming>>,
    r: proto::PortForwardRequest,
) -> Result<Response<proto::PortForwardResponse>, Status> {
    let server = streaming(server)?;
    if r.pod_sandbox_id.is_empty() {
        return Err(Status::invalid_argument("missing required pod_sandbox_id"));
    }
    let c = daemon
        .container_inspect(&r.pod_sandbox_id, false)
        .await
        .map_err(|e| {
            if e.kind == berth_types::ErrorKind::NotFound {
                Status::not_found(format!(
                    "failed to find sandbox {:?} in store: not found",
                    r.pod_sandbox_id
                ))
            } else {
                crate::error::status(e)
            }
        })?;
    let pid = c.state.as_ref().and_then(|s| s.pid).unwrap_or(0);
    let running = c.state.as_ref().and_then(|s| s.running).unwrap_or(false);
    if !running || pid <= 0 {
        return Err(Status::failed_precondition(format!(
            "sandbox {} is not running",
            r.pod_sandbox_id
        )));
    }
    let target = portforward::Target {
        pod_id: c.id.unwrap_or(r.pod_sandbox_id),
        pid,
    };
    let url = server.url("portforward", Pending::PortForward(target))?;
    Ok(Response::new(proto::PortForwardResponse { url }))
}

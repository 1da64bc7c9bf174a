//! The pod sandbox RPCs: RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus and
//! ListPodSandbox, over the daemon's pod sandboxes (`berth_daemon::sandbox`).

use std::collections::HashMap;

use berth_daemon::sandbox::{CniDirs, NsMode, PodDns, PodPort, PodRecord, PodSpec, PodState};
use berth_daemon::Daemon;
use serde_json::json;
use tonic::{Response, Status};

use crate::config::CriConfig;
use crate::error::status;
use crate::proto;

type RpcResult<T> = Result<Response<T>, Status>;

/// Where Debian's `containernetworking-plugins` installs the plugins; searched after the
/// configured directory.
const DEBIAN_CNI_BIN_DIR: &str = "/usr/lib/cni";

/// The CNI directories of `config`: its plugin directory, then Debian's.
pub(crate) fn cni_dirs(config: &CriConfig) -> CniDirs {
    let mut bin_dirs = vec![config.cni_bin_dir.clone()];
    if config.cni_bin_dir != std::path::Path::new(DEBIAN_CNI_BIN_DIR) {
        bin_dirs.push(DEBIAN_CNI_BIN_DIR.into());
    }
    CniDirs {
        conf_dir: config.cni_conf_dir.clone(),
        bin_dirs,
    }
}

pub(crate) fn ns_mode(m: i32) -> Result<NsMode, Status> {
    match proto::NamespaceMode::try_from(m) {
        Ok(proto::NamespaceMode::Pod) => Ok(NsMode::Pod),
        Ok(proto::NamespaceMode::Container) => Ok(NsMode::Container),
        Ok(proto::NamespaceMode::Node) => Ok(NsMode::Node),
        Ok(proto::NamespaceMode::Target) => Err(Status::unimplemented(
            "namespace mode TARGET is not supported by berth",
        )),
        Err(_) => Err(Status::invalid_argument(format!(
            "unknown namespace mode {m}"
        ))),
    }
}

fn proto_ns_mode(m: NsMode) -> i32 {
    match m {
        NsMode::Pod => proto::NamespaceMode::Pod as i32,
        NsMode::Container => proto::NamespaceMode::Container as i32,
        NsMode::Node => proto::NamespaceMode::Node as i32,
    }
}

/// The daemon's [`PodSpec`] for a `PodSandboxConfig`.
pub(crate) fn pod_spec(
    config: proto::PodSandboxConfig,
    runtime_handler: String,
) -> Result<PodSpec, Status> {
    let meta = config
        .metadata
        .ok_or_else(|| Status::invalid_argument("sandbox config must include metadata"))?;
    let linux = config.linux.unwrap_or_default();
    let ns = linux
        .security_context
        .and_then(|s| s.namespace_options)
        .unwrap_or_default();
    let port_mappings = config
        .port_mappings
        .into_iter()
        .map(|p| PodPort {
            protocol: match proto::Protocol::try_from(p.protocol) {
                Ok(proto::Protocol::Udp) => "udp",
                Ok(proto::Protocol::Sctp) => "sctp",
                _ => "tcp",
            }
            .to_string(),
            container_port: p.container_port,
            host_port: p.host_port,
            host_ip: p.host_ip,
        })
        .collect();
    Ok(PodSpec {
        name: meta.name,
        uid: meta.uid,
        namespace: meta.namespace,
        attempt: meta.attempt,
        hostname: config.hostname,
        log_directory: config.log_directory,
        dns: config.dns_config.map(|d| PodDns {
            servers: d.servers,
            searches: d.searches,
            options: d.options,
        }),
        port_mappings,
        labels: config.labels.into_iter().collect(),
        annotations: config.annotations.into_iter().collect(),
        cgroup_parent: linux.cgroup_parent,
        sysctls: linux.sysctls.into_iter().collect(),
        network: ns_mode(ns.network)?,
        pid: ns_mode(ns.pid)?,
        ipc: ns_mode(ns.ipc)?,
        runtime_handler,
    })
}

fn metadata(r: &PodRecord) -> proto::PodSandboxMetadata {
    proto::PodSandboxMetadata {
        name: r.spec.name.clone(),
        uid: r.spec.uid.clone(),
        namespace: r.spec.namespace.clone(),
        attempt: r.spec.attempt,
    }
}

/// A sandbox's state as the CRI sees it: Ready only while its holder runs.
fn state(d: &Daemon, r: &PodRecord) -> proto::PodSandboxState {
    if r.state == PodState::Ready && d.pod_holder_alive(r) {
        proto::PodSandboxState::SandboxReady
    } else {
        proto::PodSandboxState::SandboxNotready
    }
}

pub(crate) async fn run(
    d: &Daemon,
    c: &CriConfig,
    r: proto::RunPodSandboxRequest,
) -> RpcResult<proto::RunPodSandboxResponse> {
    let config = r
        .config
        .ok_or_else(|| Status::invalid_argument("sandbox config is required"))?;
    if !r.runtime_handler.is_empty() {
        return Err(Status::invalid_argument(format!(
            "no runtime for {:?} is configured",
            r.runtime_handler
        )));
    }
    let spec = pod_spec(config, r.runtime_handler)?;
    let id = d.pod_run(spec, &cni_dirs(c)).await.map_err(status)?;
    Ok(Response::new(proto::RunPodSandboxResponse {
        pod_sandbox_id: id,
    }))
}

pub(crate) async fn stop(
    d: &Daemon,
    c: &CriConfig,
    r: proto::StopPodSandboxRequest,
) -> RpcResult<proto::StopPodSandboxResponse> {
    d.pod_stop(&r.pod_sandbox_id, &cni_dirs(c))
        .await
        .map_err(status)?;
    Ok(Response::new(proto::StopPodSandboxResponse {}))
}

pub(crate) async fn remove(
    d: &Daemon,
    c: &CriConfig,
    r: proto::RemovePodSandboxRequest,
) -> RpcResult<proto::RemovePodSandboxResponse> {
    d.pod_remove(&r.pod_sandbox_id, &cni_dirs(c))
        .await
        .map_err(status)?;
    Ok(Response::new(proto::RemovePodSandboxResponse {}))
}

pub(crate) async fn status_of(
    d: &Daemon,
    r: proto::PodSandboxStatusRequest,
) -> RpcResult<proto::PodSandboxStatusResponse> {
    let rec = d.pod_get(&r.pod_sandbox_id).map_err(status)?;
    let st = state(d, &rec);
    let ready = st == proto::PodSandboxState::SandboxReady;
    let mut ips = rec.ips.iter();
    let network = proto::PodSandboxNetworkStatus {
        ip: if ready {
            ips.next().cloned().unwrap_or_default()
        } else {
            String::new()
        },
        additional_ips: if ready {
            ips.map(|ip| proto::PodIp { ip: ip.clone() }).collect()
        } else {
            Vec::new()
        },
    };
    let status = proto::PodSandboxStatus {
        id: rec.id.clone(),
        metadata: Some(metadata(&rec)),
        state: st as i32,
        created_at: rec.created_at,
        network: Some(network),
        linux: Some(proto::LinuxPodSandboxStatus {
            namespaces: Some(proto::Namespace {
                options: Some(proto::NamespaceOption {
                    network: proto_ns_mode(rec.spec.network),
                    pid: proto_ns_mode(rec.spec.pid),
                    ipc: proto_ns_mode(rec.spec.ipc),
                    target_id: String::new(),
                    userns_options: None,
                }),
            }),
        }),
        labels: rec.spec.labels.clone().into_iter().collect(),
        annotations: rec.spec.annotations.clone().into_iter().collect(),
        runtime_handler: rec.spec.runtime_handler.clone(),
    };
    let mut info = HashMap::new();
    if r.verbose {
        let verbose = json!({
            "pid": rec.holder_pid,
            "processStatus": if ready { "running" } else { "stopped" },
            "netNamespacePath": rec.netns.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            "hostname": rec.hostname(),
            "holder": "berth-init --pause",
            "runtimeHandler": rec.spec.runtime_handler,
            "cniNetwork": rec.cni_network,
            "cniResult": rec.cni_result,
            "containers": d.pod_containers(&rec.id),
            "config": rec.spec,
        });
        info.insert("info".to_string(), verbose.to_string());
    }
    Ok(Response::new(proto::PodSandboxStatusResponse {
        status: Some(status),
        info,
        containers_statuses: Vec::new(),
        timestamp: chrono_now_ns(),
    }))
}

pub(crate) fn chrono_now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default()
}

pub(crate) fn labels_match(
    selector: &HashMap<String, String>,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

pub(crate) async fn list(
    d: &Daemon,
    r: proto::ListPodSandboxRequest,
) -> RpcResult<proto::ListPodSandboxResponse> {
    let filter = r.filter.unwrap_or_default();
    let items = d
        .pod_list()
        .map_err(status)?
        .into_iter()
        .filter(|p| filter.id.is_empty() || p.id.starts_with(&filter.id))
        .filter(|p| labels_match(&filter.label_selector, &p.spec.labels))
        .map(|p| (state(d, &p), p))
        .filter(|(st, _)| filter.state.as_ref().is_none_or(|s| s.state == *st as i32))
        .map(|(st, p)| proto::PodSandbox {
            id: p.id.clone(),
            metadata: Some(metadata(&p)),
            state: st as i32,
            created_at: p.created_at,
            labels: p.spec.labels.clone().into_iter().collect(),
            annotations: p.spec.annotations.clone().into_iter().collect(),
            runtime_handler: p.spec.runtime_handler.clone(),
        })
        .collect();
    Ok(Response::new(proto::ListPodSandboxResponse { items }))
}

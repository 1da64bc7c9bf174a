//! The container RPCs: CreateContainer, StartContainer, StopContainer, RemoveContainer,
//! ListContainers and ContainerStatus. A CRI container is a berth container (the CRI id is
//! the berth id) made with the Docker model's fields where it has them; what it lacks (the
//! sandbox, CRI metadata, log path, namespaces, masked paths) rides in its
//! [`berth_daemon::sandbox::MEMBER_LABEL`] label.

use std::collections::{BTreeMap, HashMap};

use berth_api::models::{
    ContainerConfig, ContainerInspectResponse, ContainerStateStatusEnum, DeviceMapping, HostConfig,
};
use berth_api::ContainerCreateBody;
use berth_daemon::sandbox::{MemberMount, NsMode, PodMember, PodState, MEMBER_LABEL};
use berth_daemon::Daemon;
use berth_types::ErrorKind;
use serde_json::json;
use tonic::{Response, Status};

use crate::error::status;
use crate::proto;
use crate::sandbox::{chrono_now_ns, labels_match, ns_mode};

type RpcResult<T> = Result<Response<T>, Status>;

fn propagation(p: i32) -> &'static str {
    match proto::MountPropagation::try_from(p) {
        Ok(proto::MountPropagation::PropagationHostToContainer) => "rslave",
        Ok(proto::MountPropagation::PropagationBidirectional) => "rshared",
        _ => "rprivate",
    }
}

fn proto_propagation(p: &str) -> i32 {
    match p {
        "rslave" => proto::MountPropagation::PropagationHostToContainer as i32,
        "rshared" => proto::MountPropagation::PropagationBidirectional as i32,
        _ => proto::MountPropagation::PropagationPrivate as i32,
    }
}

/// A seccomp `SecurityProfile` as a Docker `--security-opt`; `None` is the default profile.
fn seccomp_opt(p: Option<&proto::SecurityProfile>) -> Result<Option<String>, Status> {
    use proto::security_profile::ProfileType;
    let localhost = |path: &str| -> Result<Option<String>, Status> {
        let json = std::fs::read_to_string(path).map_err(|e| {
            Status::invalid_argument(format!("failed to load seccomp profile {path:?}: {e}"))
        })?;
        Ok(Some(format!("seccomp={json}")))
    };
    match p {
        Some(p) => match ProfileType::try_from(p.profile_type) {
            Ok(ProfileType::RuntimeDefault) => Ok(None),
            Ok(ProfileType::Unconfined) => Ok(Some("seccomp=unconfined".into())),
            Ok(ProfileType::Localhost) => localhost(&p.localhost_ref),
            Err(_) => Err(Status::invalid_argument("unknown seccomp profile type")),
        },
        // containerd's default when none is given: no profile.
        None => Ok(Some("seccomp=unconfined".into())),
    }
}

pub(crate) async fn create(
    d: &Daemon,
    r: proto::CreateContainerRequest,
) -> RpcResult<proto::CreateContainerResponse> {
    let pod = d.pod_get(&r.pod_sandbox_id).map_err(status)?;
    if pod.state != PodState::Ready {
        return Err(Status::failed_precondition(format!(
            "sandbox {} is not ready",
            pod.id
        )));
    }
    let config = r
        .config
        .ok_or_else(|| Status::invalid_argument("container config is required"))?;
    let meta = config
        .metadata
        .ok_or_else(|| Status::invalid_argument("container config must include metadata"))?;
    if meta.name.is_empty() {
        return Err(Status::invalid_argument(
            "container metadata must include a name",
        ));
    }
    let image = config.image.map(|i| i.image).unwrap_or_default();
    if image.is_empty() {
        return Err(Status::invalid_argument(
            "container config must include an image",
        ));
    }
    let linux = config.linux.unwrap_or_default();
    let res = linux.resources.unwrap_or_default();
    let sc = linux.security_context.unwrap_or_default();
    let ns = sc.namespace_options.clone().unwrap_or_default();
    let caps = sc.capabilities.clone().unwrap_or_default();

    if let (Some(g), None, true) = (
        &sc.run_as_group,
        &sc.run_as_user,
        sc.run_as_username.is_empty(),
    ) {
        // containerd's check and wording: a group alone names no user to run as.
        return Err(Status::invalid_argument(format!(
            "user group \"{}\" is specified without user",
            g.value
        )));
    }
    if config
        .mounts
        .iter()
        .any(|m| m.image.as_ref().is_some_and(|i| !i.image.is_empty()))
    {
        // Image volumes (KEP 4639) are not implemented: said so, rather than read as a bind
        // of an empty host path.
        return Err(Status::unimplemented(
            "image volumes (Mount.image) are not supported by berth yet (see docs/cri.md)",
        ));
    }
    for m in config.mounts.iter().filter(|m| m.recursive_read_only) {
        // containerd's checks and wording.
        if !m.readonly {
            return Err(Status::invalid_argument(format!(
                "recursive read-only mount {:?} must be read-only",
                m.container_path
            )));
        }
        if m.propagation != proto::MountPropagation::PropagationPrivate as i32 {
            return Err(Status::invalid_argument(format!(
                "recursive read-only mount {:?} requires private propagation, got: {}",
                m.container_path,
                propagation(m.propagation)
            )));
        }
    }
    let mut security_opt = Vec::new();
    if sc.no_new_privs {
        security_opt.push("no-new-privileges".to_string());
    }
    security_opt.extend(seccomp_opt(sc.seccomp.as_ref())?);
    let mounts: Vec<MemberMount> = config
        .mounts
        .iter()
        .map(|m| MemberMount {
            container_path: m.container_path.clone(),
            host_path: m.host_path.clone(),
            readonly: m.readonly,
            propagation: propagation(m.propagation).to_string(),
            recursive_read_only: m.recursive_read_only,
        })
        .collect();
    let binds: Vec<String> = mounts
        .iter()
        .map(|m| {
            let mode = if m.readonly { "ro" } else { "rw" };
            format!(
                "{}:{}:{mode},{}",
                m.host_path, m.container_path, m.propagation
            )
        })
        .collect();
    let user = if !sc.run_as_username.is_empty() {
        Some(sc.run_as_username.clone())
    } else {
        sc.run_as_user.as_ref().map(|u| match &sc.run_as_group {
            Some(g) => format!("{}:{}", u.value, g.value),
            None => u.value.to_string(),
        })
    };
    let positive = |v: i64| (v > 0).then_some(v);
    let nonempty = |s: String| (!s.is_empty()).then_some(s);
    let host_config = HostConfig {
        network_mode: Some("none".into()),
        binds: (!binds.is_empty()).then_some(binds),
        devices: (!config.devices.is_empty()).then(|| {
            config
                .devices
                .iter()
                .map(|dev| DeviceMapping {
                    path_on_host: Some(dev.host_path.clone()),
                    path_in_container: Some(dev.container_path.clone()),
                    cgroup_permissions: Some(if dev.permissions.is_empty() {
                        "rwm".into()
                    } else {
                        dev.permissions.clone()
                    }),
                })
                .collect()
        }),
        privileged: Some(sc.privileged),
        cap_add: (!caps.add_capabilities.is_empty()).then_some(caps.add_capabilities.clone()),
        cap_drop: (!caps.drop_capabilities.is_empty()).then_some(caps.drop_capabilities.clone()),
        readonly_rootfs: Some(sc.readonly_rootfs),
        security_opt: (!security_opt.is_empty()).then_some(security_opt),
        group_add: (!sc.supplemental_groups.is_empty()).then(|| {
            sc.supplemental_groups
                .iter()
                .map(|g| g.to_string())
                .collect()
        }),
        memory: positive(res.memory_limit_in_bytes),
        // No swap unless asked for, as kubelet runs pods (containerd sets swap = memory).
        memory_swap: positive(res.memory_swap_limit_in_bytes)
            .or(positive(res.memory_limit_in_bytes)),
        cpu_shares: positive(res.cpu_shares),
        cpu_period: positive(res.cpu_period),
        cpu_quota: positive(res.cpu_quota),
        cpuset_cpus: nonempty(res.cpuset_cpus.clone()),
        cpuset_mems: nonempty(res.cpuset_mems.clone()),
        oom_score_adj: (res.oom_score_adj != 0).then_some(res.oom_score_adj),
        ..Default::default()
    };
    let log_path = if config.log_path.is_empty() || pod.spec.log_directory.is_empty() {
        String::new()
    } else {
        std::path::Path::new(&pod.spec.log_directory)
            .join(&config.log_path)
            .display()
            .to_string()
    };
    let member = PodMember {
        sandbox_id: pod.id.clone(),
        name: meta.name.clone(),
        attempt: meta.attempt,
        labels: config.labels.clone().into_iter().collect(),
        annotations: config.annotations.clone().into_iter().collect(),
        image: image.clone(),
        log_path,
        pid: ns_mode(ns.pid)?,
        ipc: match ns_mode(ns.ipc)? {
            // A container's IPC is its pod's unless the pod shares the host's.
            NsMode::Container => NsMode::Pod,
            m => m,
        },
        masked_paths: (!sc.masked_paths.is_empty()).then(|| sc.masked_paths.clone()),
        readonly_paths: (!sc.readonly_paths.is_empty()).then(|| sc.readonly_paths.clone()),
        cgroup_parent: pod.spec.cgroup_parent.clone(),
        mounts,
        created_at: chrono_now_ns(),
    };
    let mut labels: HashMap<String, String> = config.labels.clone();
    labels.insert(
        MEMBER_LABEL.into(),
        serde_json::to_string(&member).map_err(|e| Status::internal(e.to_string()))?,
    );
    let env: Vec<String> = config
        .envs
        .iter()
        .map(|kv| format!("{}={}", kv.key, String::from_utf8_lossy(&kv.value)))
        .collect();
    let body = ContainerCreateBody {
        config: ContainerConfig {
            image: Some(image),
            entrypoint: (!config.command.is_empty()).then_some(config.command.clone()),
            cmd: (!config.args.is_empty()).then_some(config.args.clone()),
            env: (!env.is_empty()).then_some(env),
            working_dir: nonempty(config.working_dir.clone()),
            tty: Some(config.tty),
            open_stdin: Some(config.stdin),
            stdin_once: Some(config.stdin_once),
            attach_stdin: Some(config.stdin),
            hostname: Some(pod.hostname()),
            user,
            labels: Some(labels),
            ..Default::default()
        },
        host_config: Some(host_config),
        networking_config: None,
    };
    // One container per name and attempt in a pod (kubelet's name reservation): the
    // container's name says which.
    let name = format!(
        "k8s_{}_{}_{}_{}_{}",
        meta.name, pod.spec.name, pod.spec.namespace, pod.spec.uid, meta.attempt
    );
    let created = d
        .container_create_in(berth_daemon::CRI_NAMESPACE, Some(&name), body)
        .await
        .map_err(status)?;
    Ok(Response::new(proto::CreateContainerResponse {
        container_id: created.id,
    }))
}

/// The membership of a CRI container; other berth containers are not the CRI's.
pub(crate) async fn inspect(
    d: &Daemon,
    id: &str,
) -> Result<(ContainerInspectResponse, PodMember), Status> {
    let not_found = || {
        Status::not_found(format!(
            "an error occurred when try to find container {id:?}: not found"
        ))
    };
    let c = match d.container_inspect(id, false).await {
        Ok(c) => c,
        Err(e) if e.kind == ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(status(e)),
    };
    let member = c
        .config
        .as_ref()
        .and_then(|cfg| cfg.labels.as_ref())
        .and_then(|l| l.get(MEMBER_LABEL))
        .and_then(|raw| serde_json::from_str::<PodMember>(raw).ok())
        .ok_or_else(not_found)?;
    Ok((c, member))
}

pub(crate) async fn start(
    d: &Daemon,
    r: proto::StartContainerRequest,
) -> RpcResult<proto::StartContainerResponse> {
    let (c, _) = inspect(d, &r.container_id).await?;
    let id = c.id.unwrap_or_default();
    d.container_start(&id).await.map_err(status)?;
    Ok(Response::new(proto::StartContainerResponse {}))
}

pub(crate) async fn stop(
    d: &Daemon,
    r: proto::StopContainerRequest,
) -> RpcResult<proto::StopContainerResponse> {
    let id = match inspect(d, &r.container_id).await {
        Ok((c, _)) => c.id.unwrap_or_default(),
        // Stopping what is gone is no error (kubelet retries stops).
        Err(s) if s.code() == tonic::Code::NotFound => {
            return Ok(Response::new(proto::StopContainerResponse {}))
        }
        Err(s) => return Err(s),
    };
    match d.container_stop(&id, None, Some(r.timeout.max(0))).await {
        Ok(()) => {}
        Err(e) if matches!(e.kind, ErrorKind::NotModified | ErrorKind::NotFound) => {}
        Err(e) => return Err(status(e)),
    }
    Ok(Response::new(proto::StopContainerResponse {}))
}

pub(crate) async fn remove(
    d: &Daemon,
    r: proto::RemoveContainerRequest,
) -> RpcResult<proto::RemoveContainerResponse> {
    let id = match inspect(d, &r.container_id).await {
        Ok((c, _)) => c.id.unwrap_or_default(),
        Err(s) if s.code() == tonic::Code::NotFound => {
            return Ok(Response::new(proto::RemoveContainerResponse {}))
        }
        Err(s) => return Err(s),
    };
    let opts = berth_daemon::RemoveOptions {
        force: true,
        ..Default::default()
    };
    match d.container_remove(&id, opts).await {
        Ok(()) => {}
        Err(e) if e.kind == ErrorKind::NotFound => {}
        Err(e) => return Err(status(e)),
    }
    Ok(Response::new(proto::RemoveContainerResponse {}))
}

fn rfc3339_ns(t: Option<&str>) -> i64 {
    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .filter(|n| *n > 0)
        .unwrap_or(0)
}

fn cri_state(c: &ContainerInspectResponse) -> proto::ContainerState {
    match c.state.as_ref().and_then(|s| s.status) {
        Some(ContainerStateStatusEnum::CREATED) => proto::ContainerState::ContainerCreated,
        Some(
            ContainerStateStatusEnum::RUNNING
            | ContainerStateStatusEnum::PAUSED
            | ContainerStateStatusEnum::RESTARTING,
        ) => proto::ContainerState::ContainerRunning,
        Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD) => {
            proto::ContainerState::ContainerExited
        }
        _ => proto::ContainerState::ContainerUnknown,
    }
}

fn image_spec(m: &PodMember) -> proto::ImageSpec {
    proto::ImageSpec {
        image: m.image.clone(),
        user_specified_image: m.image.clone(),
        ..Default::default()
    }
}

fn map(m: &BTreeMap<String, String>) -> HashMap<String, String> {
    m.clone().into_iter().collect()
}

pub(crate) async fn status_of(
    d: &Daemon,
    r: proto::ContainerStatusRequest,
) -> RpcResult<proto::ContainerStatusResponse> {
    let (c, m) = inspect(d, &r.container_id).await?;
    let st = cri_state(&c);
    let state = c.state.clone().unwrap_or_default();
    let exited = st == proto::ContainerState::ContainerExited;
    let exit_code = state.exit_code.unwrap_or(0) as i32;
    let reason = if !exited {
        String::new()
    } else if state.oom_killed.unwrap_or(false) {
        "OOMKilled".into()
    } else if exit_code == 0 {
        "Completed".into()
    } else {
        "Error".into()
    };
    let started_at = if st == proto::ContainerState::ContainerCreated {
        0
    } else {
        rfc3339_ns(state.started_at.as_deref())
    };
    let image_id = c.image.clone().unwrap_or_default();
    let id = c.id.clone().unwrap_or_default();
    let status = proto::ContainerStatus {
        id: id.clone(),
        metadata: Some(proto::ContainerMetadata {
            name: m.name.clone(),
            attempt: m.attempt,
        }),
        state: st as i32,
        created_at: m.created_at,
        started_at,
        finished_at: if exited {
            rfc3339_ns(state.finished_at.as_deref())
        } else {
            0
        },
        exit_code: if exited { exit_code } else { 0 },
        image: Some(image_spec(&m)),
        image_ref: image_id.clone(),
        reason,
        message: state.error.clone().unwrap_or_default(),
        labels: map(&m.labels),
        annotations: map(&m.annotations),
        mounts: m
            .mounts
            .iter()
            .map(|mm| proto::Mount {
                container_path: mm.container_path.clone(),
                host_path: mm.host_path.clone(),
                readonly: mm.readonly,
                propagation: proto_propagation(&mm.propagation),
                ..Default::default()
            })
            .collect(),
        log_path: m.log_path.clone(),
        resources: None,
        image_id,
        user: None,
        stop_signal: 0,
    };
    let mut info = HashMap::new();
    if r.verbose {
        let hc = c.host_config.clone().unwrap_or_default();
        let verbose = json!({
            "sandboxID": m.sandbox_id,
            "pid": state.pid.unwrap_or(0),
            "berthName": c.name,
            "privileged": hc.privileged.unwrap_or(false),
            "readonlyRootfs": hc.readonly_rootfs.unwrap_or(false),
            "command": c.path,
            "args": c.args,
            "user": c.config.as_ref().and_then(|x| x.user.clone()),
            "namespaces": { "pid": format!("{:?}", m.pid), "ipc": format!("{:?}", m.ipc) },
        });
        info.insert("info".to_string(), verbose.to_string());
    }
    Ok(Response::new(proto::ContainerStatusResponse {
        status: Some(status),
        info,
    }))
}

pub(crate) async fn list(
    d: &Daemon,
    r: proto::ListContainersRequest,
) -> RpcResult<proto::ListContainersResponse> {
    let filter = r.filter.unwrap_or_default();
    let mut containers = Vec::new();
    for (id, m) in d.pod_members() {
        if !filter.id.is_empty() && !id.starts_with(&filter.id) {
            continue;
        }
        if !filter.pod_sandbox_id.is_empty() && !m.sandbox_id.starts_with(&filter.pod_sandbox_id) {
            continue;
        }
        if !labels_match(&filter.label_selector, &m.labels) {
            continue;
        }
        // A container removed since the list was taken is simply not listed.
        let Ok((c, m)) = inspect(d, &id).await else {
            continue;
        };
        let st = cri_state(&c);
        if filter.state.as_ref().is_some_and(|s| s.state != st as i32) {
            continue;
        }
        let image_id = c.image.clone().unwrap_or_default();
        containers.push(proto::Container {
            id,
            pod_sandbox_id: m.sandbox_id.clone(),
            metadata: Some(proto::ContainerMetadata {
                name: m.name.clone(),
                attempt: m.attempt,
            }),
            image: Some(image_spec(&m)),
            image_ref: image_id.clone(),
            state: st as i32,
            created_at: m.created_at,
            labels: map(&m.labels),
            annotations: map(&m.annotations),
            image_id,
        });
    }
    containers.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    Ok(Response::new(proto::ListContainersResponse { containers }))
}

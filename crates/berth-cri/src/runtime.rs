//! `runtime.v1.RuntimeService`: the runtime's identity, status and configuration. Pods and
//! containers are the next step (docs/cri.md); their RPCs answer `Unimplemented` until then.

use std::path::Path;
use std::sync::Arc;

use berth_daemon::Daemon;
use serde_json::json;
use tonic::{Request, Response, Status};

use crate::config::{CriConfig, RuntimeState};
use crate::error::not_yet;
use crate::proto;

pub(crate) struct Runtime {
    daemon: Arc<Daemon>,
    config: CriConfig,
    state: Arc<RuntimeState>,
}

impl Runtime {
    pub(crate) fn new(daemon: Arc<Daemon>, config: CriConfig, state: Arc<RuntimeState>) -> Self {
        Self {
            daemon,
            config,
            state,
        }
    }

    fn pod_cidr(&self) -> String {
        match self.state.pod_cidr.lock() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The `config` entry of `Status`'s verbose info (crictl info prints it).
    fn verbose_config(&self) -> serde_json::Value {
        json!({
            "socket": self.config.socket.display().to_string(),
            "dataRoot": self.daemon.data_root().display().to_string(),
            "cgroupDriver": CGROUP_DRIVER_NAME,
            "cni": {
                "confDir": self.config.cni_conf_dir.display().to_string(),
                "binDir": self.config.cni_bin_dir.display().to_string(),
            },
            "podCIDR": self.pod_cidr(),
            "imageNamespace": "shared with the Docker API",
            "runtimeVersion": berth_daemon_version(&self.daemon),
        })
    }
}

/// berth's containers are placed in cgroups by path (cgroupfs) on both v1 and v2 hosts.
const CGROUP_DRIVER: proto::CgroupDriver = proto::CgroupDriver::Cgroupfs;
const CGROUP_DRIVER_NAME: &str = "cgroupfs";

fn berth_daemon_version(daemon: &Daemon) -> String {
    daemon.version().version
}

/// The first CNI network configuration in `dir`, as containerd looks for one: files named
/// `*.conf`, `*.conflist` or `*.json`, in lexical order.
pub(crate) fn first_cni_config(dir: &Path) -> Option<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("conf" | "conflist" | "json")
                )
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

/// `NetworkReady`: ready once a CNI network configuration is present (containerd's rule).
pub(crate) fn network_condition(conf_dir: &Path) -> proto::RuntimeCondition {
    match first_cni_config(conf_dir) {
        Some(_) => proto::RuntimeCondition {
            r#type: "NetworkReady".into(),
            status: true,
            reason: String::new(),
            message: String::new(),
        },
        None => proto::RuntimeCondition {
            r#type: "NetworkReady".into(),
            status: false,
            reason: "NetworkPluginNotReady".into(),
            message: format!(
                "Network plugin returns error: cni plugin not initialized: no network config found in {}",
                conf_dir.display()
            ),
        },
    }
}

type RpcResult<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl proto::runtime_service_server::RuntimeService for Runtime {
    async fn version(
        &self,
        _r: Request<proto::VersionRequest>,
    ) -> RpcResult<proto::VersionResponse> {
        Ok(Response::new(proto::VersionResponse {
            version: crate::KUBELET_API_VERSION.into(),
            runtime_name: crate::RUNTIME_NAME.into(),
            runtime_version: berth_daemon_version(&self.daemon),
            runtime_api_version: crate::RUNTIME_API_VERSION.into(),
        }))
    }

    async fn status(&self, r: Request<proto::StatusRequest>) -> RpcResult<proto::StatusResponse> {
        let verbose = r.into_inner().verbose;
        let runtime_ready = proto::RuntimeCondition {
            r#type: "RuntimeReady".into(),
            status: true,
            reason: String::new(),
            message: String::new(),
        };
        let mut info = std::collections::HashMap::new();
        if verbose {
            info.insert("config".to_string(), self.verbose_config().to_string());
        }
        Ok(Response::new(proto::StatusResponse {
            status: Some(proto::RuntimeStatus {
                conditions: vec![runtime_ready, network_condition(&self.config.cni_conf_dir)],
            }),
            info,
            runtime_handlers: vec![proto::RuntimeHandler {
                name: String::new(),
                features: Some(proto::RuntimeHandlerFeatures {
                    // `rro` binds (mount_setattr AT_RECURSIVE in the runtime).
                    recursive_read_only_mounts: true,
                    user_namespaces: false,
                }),
            }],
            features: Some(proto::RuntimeFeatures {
                supplemental_groups_policy: false,
                user_namespaces_host_network: false,
                mount_options: false,
            }),
        }))
    }

    async fn runtime_config(
        &self,
        _r: Request<proto::RuntimeConfigRequest>,
    ) -> RpcResult<proto::RuntimeConfigResponse> {
        Ok(Response::new(proto::RuntimeConfigResponse {
            linux: Some(proto::LinuxRuntimeConfiguration {
                cgroup_driver: CGROUP_DRIVER as i32,
            }),
        }))
    }

    async fn update_runtime_config(
        &self,
        r: Request<proto::UpdateRuntimeConfigRequest>,
    ) -> RpcResult<proto::UpdateRuntimeConfigResponse> {
        let cidr = r
            .into_inner()
            .runtime_config
            .and_then(|c| c.network_config)
            .map(|n| n.pod_cidr)
            .unwrap_or_default();
        // kubelet sends an empty CIDR when it has none: nothing to record.
        if !cidr.is_empty() {
            let mut slot = match self.state.pod_cidr.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            if *slot != cidr {
                tracing::info!(pod_cidr = %cidr, "CRI: pod CIDR updated");
                *slot = cidr;
            }
        }
        Ok(Response::new(proto::UpdateRuntimeConfigResponse {}))
    }

    type GetContainerEventsStream = crate::events::EventStream;

    async fn get_container_events(
        &self,
        _r: Request<proto::GetEventsRequest>,
    ) -> RpcResult<Self::GetContainerEventsStream> {
        crate::events::subscribe(self.daemon.clone())
    }

    async fn run_pod_sandbox(
        &self,
        r: Request<proto::RunPodSandboxRequest>,
    ) -> RpcResult<proto::RunPodSandboxResponse> {
        crate::sandbox::run(&self.daemon, &self.config, r.into_inner()).await
    }

    async fn stop_pod_sandbox(
        &self,
        r: Request<proto::StopPodSandboxRequest>,
    ) -> RpcResult<proto::StopPodSandboxResponse> {
        crate::sandbox::stop(&self.daemon, &self.config, r.into_inner()).await
    }

    async fn remove_pod_sandbox(
        &self,
        r: Request<proto::RemovePodSandboxRequest>,
    ) -> RpcResult<proto::RemovePodSandboxResponse> {
        crate::sandbox::remove(&self.daemon, &self.config, r.into_inner()).await
    }

    async fn pod_sandbox_status(
        &self,
        r: Request<proto::PodSandboxStatusRequest>,
    ) -> RpcResult<proto::PodSandboxStatusResponse> {
        crate::sandbox::status_of(&self.daemon, r.into_inner()).await
    }

    async fn list_pod_sandbox(
        &self,
        r: Request<proto::ListPodSandboxRequest>,
    ) -> RpcResult<proto::ListPodSandboxResponse> {
        crate::sandbox::list(&self.daemon, r.into_inner()).await
    }

    async fn create_container(
        &self,
        r: Request<proto::CreateContainerRequest>,
    ) -> RpcResult<proto::CreateContainerResponse> {
        crate::container::create(&self.daemon, r.into_inner()).await
    }

    async fn start_container(
        &self,
        r: Request<proto::StartContainerRequest>,
    ) -> RpcResult<proto::StartContainerResponse> {
        crate::container::start(&self.daemon, r.into_inner()).await
    }

    async fn stop_container(
        &self,
        r: Request<proto::StopContainerRequest>,
    ) -> RpcResult<proto::StopContainerResponse> {
        crate::container::stop(&self.daemon, r.into_inner()).await
    }

    async fn remove_container(
        &self,
        r: Request<proto::RemoveContainerRequest>,
    ) -> RpcResult<proto::RemoveContainerResponse> {
        crate::container::remove(&self.daemon, r.into_inner()).await
    }

    async fn list_containers(
        &self,
        r: Request<proto::ListContainersRequest>,
    ) -> RpcResult<proto::ListContainersResponse> {
        crate::container::list(&self.daemon, r.into_inner()).await
    }

    async fn container_status(
        &self,
        r: Request<proto::ContainerStatusRequest>,
    ) -> RpcResult<proto::ContainerStatusResponse> {
        crate::container::status_of(&self.daemon, r.into_inner()).await
    }

    async fn update_container_resources(
        &self,
        r: Request<proto::UpdateContainerResourcesRequest>,
    ) -> RpcResult<proto::UpdateContainerResourcesResponse> {
        crate::stats::update_resources(&self.daemon, r.into_inner()).await
    }

    async fn reopen_container_log(
        &self,
        r: Request<proto::ReopenContainerLogRequest>,
    ) -> RpcResult<proto::ReopenContainerLogResponse> {
        crate::stats::reopen_log(&self.daemon, r.into_inner()).await
    }

    async fn exec_sync(
        &self,
        r: Request<proto::ExecSyncRequest>,
    ) -> RpcResult<proto::ExecSyncResponse> {
        crate::streaming::exec_sync(&self.daemon, r.into_inner()).await
    }

    async fn exec(&self, r: Request<proto::ExecRequest>) -> RpcResult<proto::ExecResponse> {
        crate::streaming::exec(&self.daemon, self.state.streaming.get(), r.into_inner()).await
    }

    async fn attach(&self, r: Request<proto::AttachRequest>) -> RpcResult<proto::AttachResponse> {
        crate::streaming::attach(&self.daemon, self.state.streaming.get(), r.into_inner()).await
    }

    async fn port_forward(
        &self,
        r: Request<proto::PortForwardRequest>,
    ) -> RpcResult<proto::PortForwardResponse> {
        crate::streaming::port_forward(&self.daemon, self.state.streaming.get(), r.into_inner())
            .await
    }

    async fn container_stats(
        &self,
        r: Request<proto::ContainerStatsRequest>,
    ) -> RpcResult<proto::ContainerStatsResponse> {
        crate::stats::container_stats(&self.daemon, r.into_inner()).await
    }

    async fn list_container_stats(
        &self,
        r: Request<proto::ListContainerStatsRequest>,
    ) -> RpcResult<proto::ListContainerStatsResponse> {
        crate::stats::list_container_stats(&self.daemon, r.into_inner()).await
    }

    async fn pod_sandbox_stats(
        &self,
        r: Request<proto::PodSandboxStatsRequest>,
    ) -> RpcResult<proto::PodSandboxStatsResponse> {
        crate::stats::pod_sandbox_stats(&self.daemon, r.into_inner()).await
    }

    async fn list_pod_sandbox_stats(
        &self,
        r: Request<proto::ListPodSandboxStatsRequest>,
    ) -> RpcResult<proto::ListPodSandboxStatsResponse> {
        crate::stats::list_pod_sandbox_stats(&self.daemon, r.into_inner()).await
    }

    async fn checkpoint_container(
        &self,
        r: Request<proto::CheckpointContainerRequest>,
    ) -> RpcResult<proto::CheckpointContainerResponse> {
        crate::checkpoint::checkpoint(&self.daemon, r.into_inner()).await
    }

    async fn list_metric_descriptors(
        &self,
        _r: Request<proto::ListMetricDescriptorsRequest>,
    ) -> RpcResult<proto::ListMetricDescriptorsResponse> {
        crate::metrics::list_metric_descriptors().await
    }

    async fn list_pod_sandbox_metrics(
        &self,
        _r: Request<proto::ListPodSandboxMetricsRequest>,
    ) -> RpcResult<proto::ListPodSandboxMetricsResponse> {
        crate::metrics::list_pod_sandbox_metrics(&self.daemon).await
    }
    type StreamPodSandboxesStream = crate::streams::Streamed<proto::StreamPodSandboxesResponse>;

    async fn stream_pod_sandboxes(
        &self,
        r: Request<proto::StreamPodSandboxesRequest>,
    ) -> RpcResult<Self::StreamPodSandboxesStream> {
        crate::streams::pod_sandboxes(&self.daemon, r.into_inner()).await
    }

    type StreamContainersStream = crate::streams::Streamed<proto::StreamContainersResponse>;

    async fn stream_containers(
        &self,
        r: Request<proto::StreamContainersRequest>,
    ) -> RpcResult<Self::StreamContainersStream> {
        crate::streams::containers(&self.daemon, r.into_inner()).await
    }

    type StreamContainerStatsStream = crate::streams::Streamed<proto::StreamContainerStatsResponse>;

    async fn stream_container_stats(
        &self,
        r: Request<proto::StreamContainerStatsRequest>,
    ) -> RpcResult<Self::StreamContainerStatsStream> {
        crate::streams::container_stats(&self.daemon, r.into_inner()).await
    }

    type StreamPodSandboxStatsStream =
        crate::streams::Streamed<proto::StreamPodSandboxStatsResponse>;

    async fn stream_pod_sandbox_stats(
        &self,
        r: Request<proto::StreamPodSandboxStatsRequest>,
    ) -> RpcResult<Self::StreamPodSandboxStatsStream> {
        crate::streams::pod_sandbox_stats(&self.daemon, r.into_inner()).await
    }

    async fn checkpoint_pod(
        &self,
        _r: Request<proto::CheckpointPodRequest>,
    ) -> RpcResult<proto::CheckpointPodResponse> {
        Err(not_yet("CheckpointPod"))
    }

    async fn restore_pod(
        &self,
        _r: Request<proto::RestorePodRequest>,
    ) -> RpcResult<proto::RestorePodResponse> {
        Err(not_yet("RestorePod"))
    }

    type StreamPodSandboxMetricsStream =
        crate::streams::Streamed<proto::StreamPodSandboxMetricsResponse>;

    async fn stream_pod_sandbox_metrics(
        &self,
        r: Request<proto::StreamPodSandboxMetricsRequest>,
    ) -> RpcResult<Self::StreamPodSandboxMetricsStream> {
        crate::streams::pod_sandbox_metrics(&self.daemon, r.into_inner()).await
    }

    async fn update_pod_sandbox_resources(
        &self,
        _r: Request<proto::UpdatePodSandboxResourcesRequest>,
    ) -> RpcResult<proto::UpdatePodSandboxResourcesResponse> {
        Err(not_yet("UpdatePodSandboxResources"))
    }
}

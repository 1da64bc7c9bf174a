//! `/version`, `/info`, `/events`.

use berth_api::models;
use berth_api::version;
use berth_types::Result;
use futures::stream::BoxStream;

use crate::container::record::Status;
use crate::daemon::{Daemon, EMBEDDED_RUNTIME};
use crate::options::EventsOptions;

/// Whether the sysctl under /proc/sys reads `1` (false when it does not exist, as dockerd).
fn sysctl_on(name: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sys/{name}")).is_ok_and(|v| v.trim() == "1")
}

/// Whether the cgroup v1 memory controller has this file.
fn memory_cgroup_has(file: &str) -> bool {
    !crate::runtime::cgroups::is_unified()
        && std::path::Path::new("/sys/fs/cgroup/memory")
            .join(file)
            .exists()
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `GET /info`: the swagger model, plus what dockerd 20.10 still sent that the model lost.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Info {
    #[serde(flatten)]
    pub info: models::SystemInfo,
    /// Kernel memory limits, before API 1.42.
    #[serde(rename = "KernelMemory", skip_serializing_if = "Option::is_none")]
    pub kernel_memory: Option<bool>,
}

impl Daemon {
    pub fn version(&self) -> berth_api::SystemVersion {
        let kernel = kernel_version();
        let mut details = std::collections::BTreeMap::new();
        for (k, v) in [
            ("ApiVersion", version::CURRENT.to_string()),
            ("MinAPIVersion", version::MIN.to_string()),
            ("GitCommit", env!("CARGO_PKG_VERSION").to_string()),
            ("GoVersion", "rust".to_string()),
            ("Os", "linux".to_string()),
            ("Arch", go_arch().to_string()),
            ("KernelVersion", kernel.clone()),
            ("Experimental", "false".to_string()),
            ("BuildTime", String::new()),
        ] {
            details.insert(k.to_string(), v);
        }
        berth_api::SystemVersion {
            platform: berth_api::VersionPlatform {
                name: "berth".into(),
            },
            components: vec![berth_api::VersionComponent {
                name: "Engine".into(),
                version: version::ENGINE_VERSION.into(),
                details,
            }],
            version: version::ENGINE_VERSION.into(),
            api_version: version::CURRENT.into(),
            min_api_version: version::MIN.into(),
            git_commit: env!("CARGO_PKG_VERSION").into(),
            go_version: "rust".into(),
            os: "linux".into(),
            arch: go_arch().into(),
            kernel_version: kernel,
            experimental: false,
            build_time: String::new(),
        }
    }

    /// `GET /info` at API `api` (fields dockerd 20.10 still had are given before the version
    /// whose swagger dropped them).
    pub async fn info(&self, api: &str) -> Info {
        let all: Vec<_> = self
            .all()
            .iter()
            .map(|c| c.snapshot().state.status)
            .collect();
        let running = all.iter().filter(|s| matches!(s, Status::Running)).count() as i64;
        let paused = all.iter().filter(|s| matches!(s, Status::Paused)).count() as i64;
        let images = self.images.count().await;
        let (driver, cg_version) = crate::runtime::cgroups::driver_and_version();
        let mut runtimes = std::collections::HashMap::new();
        runtimes.insert(
            EMBEDDED_RUNTIME.to_string(),
            models::Runtime {
                path: Some("berth-shim (embedded libcontainer)".into()),
                ..Default::default()
            },
        );
        for (name, path, args) in &self.config.runtimes {
            runtimes.insert(
                name.clone(),
                models::Runtime {
                    path: Some(path.display().to_string()),
                    runtime_args: Some(args.clone()),
                    ..Default::default()
                },
            );
        }
        let uts = nix::sys::utsname::uname().ok();
        let mem = sys_mem_total();
        let info = models::SystemInfo {
            id: Some(self.daemon_id()),
            containers: Some(all.len() as i64),
            containers_running: Some(running),
            containers_paused: Some(paused),
            containers_stopped: Some(all.len() as i64 - running - paused),
            images: Some(images),
            driver: Some("overlay2".into()),
            driver_status: Some(vec![vec!["Backing Filesystem".into(), "extfs".into()]]),
            docker_root_dir: Some(self.config.data_root.display().to_string()),
            memory_limit: Some(true),
            swap_limit: Some(true),
            cpu_cfs_period: Some(true),
            cpu_cfs_quota: Some(true),
            cpu_shares: Some(true),
            cpu_set: Some(true),
            pids_limit: Some(true),
            oom_kill_disable: Some(!crate::runtime::cgroups::is_unified()),
            ipv4_forwarding: Some(true),
            debug: Some(self.config.debug),
            nfd: Some(
                std::fs::read_dir("/proc/self/fd")
                    .map(|d| d.count() as i64)
                    .unwrap_or(0),
            ),
            n_goroutines: Some(0),
            system_time: Some(crate::container::lifecycle::now_rfc3339()),
            logging_driver: Some("json-file".into()),
            cgroup_driver: Some(if driver == "systemd" {
                models::SystemInfoCgroupDriverEnum::SYSTEMD
            } else {
                models::SystemInfoCgroupDriverEnum::CGROUPFS
            }),
            cgroup_version: Some(if cg_version == "2" {
                models::SystemInfoCgroupVersionEnum::_2
            } else {
                models::SystemInfoCgroupVersionEnum::_1
            }),
            n_events_listener: Some(0),
            kernel_version: Some(kernel_version()),
            operating_system: Some(os_name()),
            os_version: Some(String::new()),
            os_type: Some("linux".into()),
            architecture: Some(
                uts.as_ref()
                    .map(|u| u.machine().to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            ncpu: Some(
                std::thread::available_parallelism()
                    .map(|n| n.get() as i64)
                    .unwrap_or(1),
            ),
            mem_total: Some(mem),
            index_server_address: Some("https://index.docker.io/v1/".into()),
            registry_config: Some(self.registry_service_config()),
            name: Some(
                uts.as_ref()
                    .map(|u| u.nodename().to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            labels: Some(Vec::new()),
            experimental_build: Some(false),
            server_version: Some(berth_api::version::ENGINE_VERSION.into()),
            runtimes: Some(runtimes),
            default_runtime: Some(self.config.default_runtime.clone()),
            live_restore_enabled: Some(true),
            isolation: None,
            init_binary: Some("docker-init".into()),
            security_options: Some(vec![
                "name=seccomp,profile=builtin".into(),
                "name=no-new-privileges".into(),
            ]),
            // dockerd's list is nil (null) without warnings.
            warnings: None,
            plugins: Some(models::PluginsInfo {
                volume: Some(vec!["local".into()]),
                network: Some(vec!["bridge".into(), "host".into(), "null".into()]),
                authorization: None,
                log: Some(vec![
                    crate::container::log_config::JSON_FILE.into(),
                    crate::container::log_config::LOCAL.into(),
                ]),
            }),
            default_address_pools: Some(
                self.nets
                    .config
                    .pools
                    .iter()
                    .map(|p| models::SystemInfoDefaultAddressPools {
                        base: Some(p.base.to_string()),
                        size: Some(i64::from(p.size)),
                    })
                    .collect(),
            ),
            bridge_nf_iptables: Some(sysctl_on("net/bridge/bridge-nf-call-iptables")),
            bridge_nf_ip6tables: Some(sysctl_on("net/bridge/bridge-nf-call-ip6tables")),
            // Kernel memory accounting, as dockerd's sysinfo finds it in the memory cgroup.
            kernel_memory_tcp: Some(memory_cgroup_has("memory.kmem.tcp.limit_in_bytes")),

            // berthd is never part of a swarm: what dockerd reports outside one.
            swarm: Some(models::SwarmInfo {
                node_id: Some(String::new()),
                node_addr: Some(String::new()),
                local_node_state: Some(models::LocalNodeState::INACTIVE),
                control_available: Some(false),
                error: Some(String::new()),
                ..Default::default()
            }),
            ..Default::default()
        };
        Info {
            info,
            kernel_memory: crate::image::ops::api_older(api, "1.42")
                .then(|| memory_cgroup_has("memory.kmem.limit_in_bytes")),
        }
    }

    /// Past events matching, then live ones until `until` (or forever).
    pub fn events(&self, opts: EventsOptions) -> Result<BoxStream<'static, models::EventMessage>> {
        opts.filters
            .validate(&[
                "container",
                "daemon",
                "event",
                "image",
                "label",
                "network",
                "node",
                "plugin",
                "scope",
                "type",
                "volume",
                "config",
                "secret",
                "service",
            ])
            .map_err(berth_types::Error::invalid)?;
        Ok(self.events.subscribe(opts))
    }

    /// `RegistryConfig` as dockerd reports it: insecure CIDRs, per-registry settings, mirrors.
    fn registry_service_config(&self) -> models::RegistryServiceConfig {
        let r = &self.config.registries;
        models::RegistryServiceConfig {
            insecure_registry_cidrs: Some(r.insecure_cidrs()),
            index_configs: Some(
                r.index_configs()
                    .into_iter()
                    .map(|i| {
                        let info = models::IndexInfo {
                            name: Some(i.name.clone()),
                            mirrors: Some(i.mirrors),
                            secure: Some(i.secure),
                            official: Some(i.official),
                        };
                        (i.name, info)
                    })
                    .collect(),
            ),
            mirrors: Some(r.mirrors().to_vec()),
            // berth pushes every layer: no registry is allowed non-distributable artifacts.
            allow_nondistributable_artifacts_cidrs: Some(Vec::new()),
            allow_nondistributable_artifacts_hostnames: Some(Vec::new()),
        }
    }

    /// A stable id for this daemon, kept in the data root.
    fn daemon_id(&self) -> String {
        let path = self.config.data_root.join("engine-id");
        if let Ok(s) = std::fs::read_to_string(&path) {
            return s.trim().to_string();
        }
        let id = uuid_like();
        let _ = std::fs::write(&path, &id);
        id
    }
}

fn uuid_like() -> String {
    let h = berth_types::id::generate();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn sys_mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<i64>().ok())
                })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| {
                l.trim_start_matches("PRETTY_NAME=")
                    .trim_matches('"')
                    .to_string()
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

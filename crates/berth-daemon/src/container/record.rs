//! A container's record: what was asked for at create, and its state. Persisted as one JSON
//! document per row in the `containers` table.

use std::collections::BTreeMap;

use berth_api::models::{ContainerConfig, EndpointSettings, HostConfig};
use serde::{Deserialize, Serialize};

/// dockerd's container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub oom_killed: bool,
    /// The health check's state; None without a health check.
    #[serde(default)]
    pub health: Option<HealthState>,
}

/// `State.Health` as dockerd keeps it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HealthState {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: i64,
    /// The last probe results, oldest first.
    pub log: Vec<ProbeResult>,
}

/// One probe run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProbeResult {
    /// RFC 3339 with nanoseconds.
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

impl State {
    pub fn running(&self) -> bool {
        matches!(
            self.status,
            Status::Running | Status::Paused | Status::Restarting
        )
    }
}

/// Everything berth knows about one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    /// With dockerd's leading slash: `/web`.
    pub name: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// `sha256:...`
    pub image_id: String,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// The process: entrypoint + cmd, split as dockerd's `Path` and `Args`.
    pub path: String,
    pub args: Vec<String>,
    pub state: State,
    pub restart_count: i64,
    /// Runtime name (`berth` = embedded, or a configured binary's name).
    pub runtime: String,
    #[serde(default)]
    pub has_been_started: bool,
    /// Stopped or killed by a user since its last start: `unless-stopped` leaves it down.
    #[serde(default)]
    pub has_been_manually_stopped: bool,
    /// Volumes, binds and tmpfs mounts, resolved at create.
    #[serde(default)]
    pub mount_points: Vec<crate::mount::points::MountPoint>,
    /// Its networks: what was asked for, and what was built while it runs.
    #[serde(default)]
    pub net: NetAttachments,
    /// Legacy links on the default bridge (`HostConfig.Links`), registered at create.
    #[serde(default)]
    pub links: Vec<crate::container::links::Link>,
}

/// A container's networks. `configured` is what the user asked for per network name (aliases,
/// `--ip`, `--mac-address`); `active` holds, while the container runs, the endpoint berth
/// built on each network (address, gateway, MAC, ids).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetAttachments {
    pub configured: BTreeMap<String, EndpointSettings>,
    #[serde(default)]
    pub active: BTreeMap<String, EndpointSettings>,
    /// The pinned network namespace while running.
    #[serde(default)]
    pub sandbox: Option<String>,
    /// Host-side veth per network name, while running.
    #[serde(default)]
    pub veths: BTreeMap<String, String>,
    /// Published ports, while running.
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
}

/// One published port as bound on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub proto: berth_network::ports::Proto,
    pub host_ip: std::net::Ipv4Addr,
    pub host_port: u16,
    pub container_ip: std::net::Ipv4Addr,
    pub container_port: u16,
}

impl Container {
    pub fn tty(&self) -> bool {
        self.config.tty.unwrap_or(false)
    }

    pub fn short_id(&self) -> &str {
        berth_types::id::short(&self.id)
    }

    /// The name without the leading slash.
    pub fn bare_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    pub fn auto_remove(&self) -> bool {
        self.host_config.auto_remove.unwrap_or(false)
    }

    /// The `Command` column of `docker ps`: path and args joined by spaces.
    pub fn command_line(&self) -> String {
        std::iter::once(self.path.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

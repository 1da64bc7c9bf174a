//! The typed Compose project, as Docker Compose v2 (compose-go `types`) models it.
//!
//! Names follow compose-go (`types.Project`, `types.ServiceConfig`, ...) so the planner can be
//! written against compose-go's behaviour. Every short syntax is already expanded by the loader:
//! ports are [`ServicePortConfig`]s, volumes [`ServiceVolumeConfig`]s, `depends_on` a map of
//! [`ServiceDependency`], service networks a map, environment a map of optional values.
//!
//! Field order and the `skip_serializing_if` rules mirror compose-go's JSON tags, so serializing
//! a [`Project`] gives what `docker compose config --format json` prints (see `render`).
//! Maps are `BTreeMap`s: Go prints map keys sorted.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `x-*` keys kept as loaded.
pub type Extensions = BTreeMap<String, Value>;
/// A string map (labels, driver_opts, sysctls, ...).
pub type Mapping = BTreeMap<String, String>;
/// A map whose values may be unset (`environment`, build `args`): `KEY` alone is `None`.
pub type MappingWithEquals = BTreeMap<String, Option<String>>;
pub type Labels = BTreeMap<String, String>;
pub type Options = BTreeMap<String, String>;

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}
fn is_zero_f32(v: &f32) -> bool {
    *v == 0.0
}
fn default_true() -> bool {
    true
}

/// The result of loading a set of compose files (`types.Project`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Project {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The project directory (`--project-directory`, else the first file's directory).
    #[serde(skip)]
    pub working_dir: String,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceConfig>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NetworkConfig>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, VolumeConfig>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretConfig>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, ConfigObjConfig>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, Value>,
    #[serde(flatten)]
    pub extensions: Extensions,
    /// The compose files loaded, absolute, in order.
    #[serde(skip)]
    pub compose_files: Vec<String>,
    /// The environment used for interpolation (OS environment over `.env`/`--env-file`).
    #[serde(skip)]
    pub environment: BTreeMap<String, String>,
    /// Services disabled because none of their profiles is active.
    #[serde(skip)]
    pub disabled_services: BTreeMap<String, ServiceConfig>,
    /// The active profiles.
    #[serde(skip)]
    pub profiles: Vec<String>,
    /// Warnings compose logs while loading (obsolete `version`, several default files, ...).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Project {
    /// Service names with their dependencies first (compose's `WithServices` walk, services
    /// visited in name order): the order to create and start them. `roots` empty: all.
    pub fn dependency_order(&self, roots: &[String]) -> Vec<String> {
        fn visit(
            p: &Project,
            n: &str,
            seen: &mut std::collections::BTreeSet<String>,
            out: &mut Vec<String>,
        ) {
            if !seen.insert(n.to_string()) {
                return;
            }
            if let Some(s) = p.services.get(n) {
                for d in s.depends_on.keys() {
                    if p.services.contains_key(d) {
                        visit(p, d, seen, out);
                    }
                }
                out.push(n.to_string());
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        let names: Vec<String> = if roots.is_empty() {
            self.services.keys().cloned().collect()
        } else {
            roots.to_vec()
        };
        for n in &names {
            visit(self, n, &mut seen, &mut out);
        }
        out
    }

    /// The enabled services that depend on `service`.
    pub fn dependents(&self, service: &str) -> Vec<String> {
        self.services
            .iter()
            .filter(|(_, s)| s.depends_on.contains_key(service))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The image a service runs: `image:`, else `<project>-<service>` for a build.
    pub fn image_name(&self, service: &str) -> String {
        match self.services.get(service) {
            Some(s) if !s.image.is_empty() => s.image.clone(),
            _ => format!("{}-{}", self.name, service),
        }
    }
}

/// One service (`types.ServiceConfig`). `name` is the map key, not serialized.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceConfig {
    #[serde(skip)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub develop: Option<DevelopConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<BlkioConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cgroup_parent: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cgroup: String,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub cpu_count: i64,
    #[serde(default, skip_serializing_if = "is_zero_f32")]
    pub cpu_percent: f32,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub cpu_period: i64,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub cpu_quota: i64,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub cpu_rt_period: i64,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub cpu_rt_runtime: i64,
    #[serde(default, skip_serializing_if = "is_zero_f32")]
    pub cpus: f32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cpuset: String,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub cpu_shares: i64,
    /// `None` when unset (the image's CMD); `Some(vec![])` clears it. Always serialized (null).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<ServiceConfigObjConfig>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_spec: Option<CredentialSpecConfig>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, ServiceDependency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceMapping>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dockerfile: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domainname: String,
    /// As `command`.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: MappingWithEquals,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_file: Vec<EnvFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<ExtendsConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    /// `host=ip` entries, sorted (compose-go's HostsList).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<DeviceRequest>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheckConfig>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipc: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub isolation: String,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub label_file: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingConfig>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_driver: String,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub log_opt: Mapping,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub mem_limit: UnitBytes,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub mem_reservation: UnitBytes,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub memswap_limit: UnitBytes,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub mem_swappiness: UnitBytes,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub net: String,
    /// `host`, `none`, `bridge`, `service:<name>`, `container:<name|id>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub network_mode: String,
    /// Network key → attachment (`None`: attached with no options).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Option<ServiceNetworkConfig>>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub oom_kill_disable: bool,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub oom_score_adj: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pid: String,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub pids_limit: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePortConfig>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pull_policy: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub restart: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceSecretConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub shm_size: UnitBytes,
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub storage_opt: Mapping,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub sysctls: Mapping,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tty: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, UlimitsConfig>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_api_socket: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub userns_mode: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uts: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub volume_driver: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ServiceVolumeConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<ServiceHook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<ServiceHook>,
    /// `x-*` keys (printed in YAML, not in JSON, as compose does).
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl ServiceConfig {
    /// How many containers the service runs: `scale`, else `deploy.replicas`, else 1.
    pub fn get_scale(&self) -> i64 {
        if let Some(s) = self.scale {
            return s;
        }
        self.deploy.as_ref().and_then(|d| d.replicas).unwrap_or(1)
    }

    /// Service networks ordered as compose connects them: priority descending, then name.
    pub fn networks_by_priority(&self) -> Vec<String> {
        let mut keys: Vec<(i64, &String)> = self
            .networks
            .iter()
            .map(|(k, v)| (v.as_ref().map(|n| n.priority).unwrap_or(0), k))
            .collect();
        keys.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        keys.into_iter().map(|(_, k)| k.clone()).collect()
    }

    /// True when the service has no profile or one of `profiles` (`*` enables all).
    pub fn has_profile(&self, profiles: &[String]) -> bool {
        self.profiles.is_empty()
            || profiles
                .iter()
                .any(|p| p == "*" || self.profiles.iter().any(|sp| sp == p))
    }

    /// The service names this one depends on (depends_on keys).
    pub fn get_dependencies(&self) -> Vec<String> {
        self.depends_on.keys().cloned().collect()
    }
}

/// `build` (`types.BuildConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub context: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dockerfile: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dockerfile_inline: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: MappingWithEquals,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provenance: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sbom: String,
    /// `default` or `id=path` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_to: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_cache: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_cache_filter: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub additional_contexts: Mapping,
    #[serde(default, skip_serializing_if = "is_false")]
    pub pull: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub isolation: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub network: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceSecretConfig>,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub shm_size: UnitBytes,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, UlimitsConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// `develop` (`types.DevelopConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DevelopConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<Trigger>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// One `develop.watch` rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub path: String,
    /// `sync`, `rebuild`, `sync+restart`, `sync+exec`, `restart`.
    pub action: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// Always printed in JSON (a struct in compose-go).
    #[serde(default)]
    pub exec: ServiceHook,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub initial_sync: bool,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// `post_start`/`pre_stop`/watch `exec` (`types.ServiceHook`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceHook {
    /// Always serialized (null when unset), as compose-go's ShellCommand.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: MappingWithEquals,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<ThrottleDevice>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// `blkio_config.weight_device` entry. compose-go's struct has no json tags: JSON (and the
/// config hash) says `Path`/`Weight`, YAML `path`/`weight` (render lowercases them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightDevice {
    #[serde(rename = "Path", alias = "path", default)]
    pub path: String,
    #[serde(rename = "Weight", alias = "weight", default)]
    pub weight: u16,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// `blkio_config.device_{read,write}_{bps,iops}` entry (`rate` a byte count, printed as a
/// string as compose's UnitBytes); keys as [`WeightDevice`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThrottleDevice {
    #[serde(rename = "Path", alias = "path", default)]
    pub path: String,
    #[serde(rename = "Rate", alias = "rate", default)]
    pub rate: UnitBytes,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// `devices` entry (short `host:container[:perms]` expanded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceMapping {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub permissions: String,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// `logging`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoggingConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: Options,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// `deploy` (`types.DeployConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    /// Always printed in JSON (a struct in compose-go).
    #[serde(default)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Always printed in JSON (a struct in compose-go).
    #[serde(default)]
    pub placement: Placement,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub endpoint_mode: String,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub failure_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<Duration>,
    #[serde(default, skip_serializing_if = "is_zero_f32")]
    pub max_failure_ratio: f32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub order: String,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// `deploy.resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resource>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        self.limits.is_none() && self.reservations.is_none() && self.extensions.is_empty()
    }
}

/// `deploy.resources.limits|reservations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// CPUs as a fraction (`"0.5"` → 0.5).
    #[serde(
        default,
        skip_serializing_if = "is_zero_f32",
        deserialize_with = "de_f32"
    )]
    pub cpus: f32,
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub memory: UnitBytes,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub pids: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRequest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<Value>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A device request (`deploy.resources.reservations.devices`, `gpus`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceRequest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// A number; `all` is -1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de_string_map"
    )]
    pub options: Mapping,
}

/// `deploy.restart_policy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestartPolicy {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<Value>,
    #[serde(
        rename = "max_replicas_per_node",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_replicas: Option<u64>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A service's attachment to one network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceNetworkConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: Options,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub gw_priority: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub priority: i64,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// One published port (`types.ServicePortConfig`), short syntax expanded: a range gives one
/// entry per port.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServicePortConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `ingress` (default) or `host`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub target: u32,
    /// Host port or range (`"8080"`, `"8000-8010"`), empty for an ephemeral port.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub published: String,
    /// `tcp` (default), `udp`, `sctp`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_protocol: String,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// The kind of a service mount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    #[default]
    Volume,
    Bind,
    Tmpfs,
    Npipe,
    Cluster,
    Image,
}

impl VolumeType {
    pub fn as_str(&self) -> &'static str {
        match self {
            VolumeType::Volume => "volume",
            VolumeType::Bind => "bind",
            VolumeType::Tmpfs => "tmpfs",
            VolumeType::Npipe => "npipe",
            VolumeType::Cluster => "cluster",
            VolumeType::Image => "image",
        }
    }
}

/// One service mount (`types.ServiceVolumeConfig`), short syntax expanded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeConfig {
    #[serde(rename = "type")]
    pub kind: VolumeType,
    /// Volume name (a key of `Project::volumes`, or empty for an anonymous volume), or the
    /// absolute host path of a bind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<ServiceVolumeBind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<ServiceVolumeVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<ServiceVolumeTmpfs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ServiceVolumeImage>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeBind {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selinux: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    /// Create the host path when missing (default true; printed only when true, as compose).
    #[serde(default = "default_true", skip_serializing_if = "is_false")]
    pub create_host_path: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub recursive: String,
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl Default for ServiceVolumeBind {
    fn default() -> Self {
        Self {
            selinux: String::new(),
            propagation: String::new(),
            create_host_path: true,
            recursive: String::new(),
            extensions: Extensions::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeVolume {
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Mapping,
    #[serde(default, skip_serializing_if = "is_false")]
    pub nocopy: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeTmpfs {
    #[serde(default, skip_serializing_if = "UnitBytes::is_zero")]
    pub size: UnitBytes,
    #[serde(
        default,
        skip_serializing_if = "is_zero_u32",
        deserialize_with = "de_mode"
    )]
    pub mode: u32,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeImage {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A service's reference to a secret or config (`types.FileReferenceConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileReferenceConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FileMode>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A service's secret: target defaults to `/run/secrets/<source>`.
pub type ServiceSecretConfig = FileReferenceConfig;
/// A service's config: target defaults to `/<source>` when mounted.
pub type ServiceConfigObjConfig = FileReferenceConfig;

/// `ulimits` entry: one number, or soft/hard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UlimitsConfig {
    pub single: i64,
    pub soft: i64,
    pub hard: i64,
}

impl Serialize for UlimitsConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        if self.single != 0 {
            return s.serialize_i64(self.single);
        }
        let mut st = s.serialize_struct("UlimitsConfig", 2)?;
        st.serialize_field("soft", &self.soft)?;
        st.serialize_field("hard", &self.hard)?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for UlimitsConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let int = |v: &Value| -> Result<i64, D::Error> {
            match v {
                Value::Number(n) => n
                    .as_i64()
                    .ok_or_else(|| de::Error::custom("ulimit must be an integer")),
                Value::String(s) => s
                    .parse()
                    .map_err(|_| de::Error::custom(format!("invalid ulimit {s:?}"))),
                _ => Err(de::Error::custom("ulimit must be an integer")),
            }
        };
        match &v {
            Value::Object(m) => Ok(UlimitsConfig {
                single: 0,
                soft: m.get("soft").map(int).transpose()?.unwrap_or(0),
                hard: m.get("hard").map(int).transpose()?.unwrap_or(0),
            }),
            other => Ok(UlimitsConfig {
                single: int(other)?,
                soft: 0,
                hard: 0,
            }),
        }
    }
}

/// `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceDependency {
    /// `service_started` (default), `service_healthy`, `service_completed_successfully`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition: String,
    /// Restart this service when the dependency is restarted by compose.
    #[serde(default, skip_serializing_if = "is_false")]
    pub restart: bool,
    #[serde(flatten)]
    pub extensions: Extensions,
    /// When false, a missing/disabled dependency is only warned about.
    #[serde(default = "default_true")]
    pub required: bool,
}

pub const SERVICE_CONDITION_STARTED: &str = "service_started";
pub const SERVICE_CONDITION_HEALTHY: &str = "service_healthy";
pub const SERVICE_CONDITION_COMPLETED_SUCCESSFULLY: &str = "service_completed_successfully";

impl Default for ServiceDependency {
    fn default() -> Self {
        Self {
            condition: SERVICE_CONDITION_STARTED.to_string(),
            restart: false,
            extensions: Extensions::new(),
            required: true,
        }
    }
}

/// `extends`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtendsConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
}

/// `env_file` entry. Serialized as compose-go does: the bare path when required with the
/// default format, else the mapping.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EnvFile {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Printed only when false (compose-go's OptOut).
    #[serde(default = "default_true")]
    pub required: bool,
    /// `raw` to skip interpolation of the file's values.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub format: String,
}

impl Serialize for EnvFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.required && self.format.is_empty() {
            return s.serialize_str(&self.path);
        }
        let mut m = s.serialize_map(None)?;
        if !self.path.is_empty() {
            m.serialize_entry("path", &self.path)?;
        }
        if !self.required {
            m.serialize_entry("required", &false)?;
        }
        if !self.format.is_empty() {
            m.serialize_entry("format", &self.format)?;
        }
        m.end()
    }
}

/// `healthcheck`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckConfig {
    /// `["NONE"]`, `["CMD", ...]`, `["CMD-SHELL", "..."]`; a string becomes CMD-SHELL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable: bool,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CredentialSpecConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registry: String,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A top-level network (`types.NetworkConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// The engine name: `<project>_<key>` unless set or external.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: Options,
    /// Always printed in JSON (a struct in compose-go).
    #[serde(default)]
    pub ipam: IpamConfig,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de_external"
    )]
    pub external: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub attachable: bool,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl IpamConfig {
    pub fn is_empty(&self) -> bool {
        self.driver.is_empty() && self.config.is_empty() && self.extensions.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamPool {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub aux_addresses: Mapping,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A top-level volume (`types.VolumeConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VolumeConfig {
    /// The engine name: `<project>_<key>` unless set or external.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: Options,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de_external"
    )]
    pub external: bool,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Labels,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A top-level secret or config (`types.FileObjectConfig`): from a `file`, an `environment`
/// variable or inline `content`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileObjectConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub environment: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "de_external"
    )]
    pub external: bool,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: Labels,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    #[serde(
        default,
        deserialize_with = "de_string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: Mapping,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub template_driver: String,
    #[serde(flatten)]
    pub extensions: Extensions,
}

pub type SecretConfig = FileObjectConfig;
pub type ConfigObjConfig = FileObjectConfig;

/// `include` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncludeConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project_directory: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_file: Vec<String>,
}

/// A duration in nanoseconds, printed as Go's `time.Duration.String()` (`1m30s`, `2m0s`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub i64);

impl Duration {
    pub fn as_std(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.max(0) as u64)
    }
    pub fn nanos(&self) -> i64 {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::units::format_go_duration(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                crate::units::parse_duration(v)
                    .map(Duration)
                    .map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                // A bare number is seconds in compose files.
                Ok(Duration(v.saturating_mul(1_000_000_000)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                self.visit_i64(v as i64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                Ok(Duration((v * 1e9) as i64))
            }
        }
        d.deserialize_any(V)
    }
}

/// A byte count (`mem_limit`, `shm_size`, ...): `"1g"`, `"512m"` or a number. Printed as a
/// string of bytes, as compose does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnitBytes(pub i64);

impl UnitBytes {
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

impl Serialize for UnitBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UnitBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = UnitBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UnitBytes, E> {
                crate::units::parse_bytes(v)
                    .map(UnitBytes)
                    .map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<UnitBytes, E> {
                Ok(UnitBytes(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<UnitBytes, E> {
                Ok(UnitBytes(v as i64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<UnitBytes, E> {
                Ok(UnitBytes(v as i64))
            }
        }
        d.deserialize_any(V)
    }
}

/// A file mode, printed as an octal string (`"0400"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl Serialize for FileMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("0{:o}", self.0))
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        de_mode(d).map(FileMode)
    }
}

/// A mode: a number as written (YAML `0755` is already octal) or an octal string.
fn de_mode<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_u64()
            .map(|v| v as u32)
            .ok_or_else(|| de::Error::custom("invalid mode")),
        Value::String(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8)
            .map_err(|_| de::Error::custom(format!("invalid mode {s:?}"))),
        _ => Err(de::Error::custom("invalid mode")),
    }
}

/// `external: true|false` or the legacy `external: {name: x}` (= true).
fn de_external<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::Object(_) => Ok(true),
        Value::Null => Ok(false),
        Value::String(s) => crate::node::parse_bool(&s)
            .ok_or_else(|| de::Error::custom(format!("invalid boolean {s:?}"))),
        _ => Err(de::Error::custom("external must be a boolean")),
    }
}

/// A string map whose values may be written as numbers or booleans (`max-file: 3`).
fn de_string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let m: BTreeMap<String, Value> = BTreeMap::deserialize(d)?;
    Ok(m.into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, v)
        })
        .collect())
}

/// A float given as a number or a string (`cpus: "0.5"`).
fn de_f32<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0) as f32),
        Value::String(s) => s
            .trim()
            .parse::<f32>()
            .map_err(|_| de::Error::custom(format!("invalid cpus {s:?}"))),
        Value::Null => Ok(0.0),
        _ => Err(de::Error::custom("cpus must be a number")),
    }
}

//! Container settings -> OCI runtime spec, with docker's defaults (moby `oci/defaults.go`,
//! `daemon/oci_linux.go`).

mod defaults;
mod host_devices;
pub mod resources;

use std::path::PathBuf;

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use crate::caps::{self, CapSet, CapsError};
use crate::seccomp::{self, SeccompError};

pub use defaults::{DEFAULT_SHM_SIZE, INIT_PATH, MASKED_PATHS, READONLY_PATHS};
pub use resources::{DeviceMapping, ResourceError, Resources, Throttle, Ulimit};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("No command specified")]
    NoCommand,
    #[error(transparent)]
    Caps(#[from] CapsError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error(transparent)]
    Resource(#[from] ResourceError),
    #[error("building the OCI spec: {0}")]
    Invalid(String),
}

/// The container's user, already resolved (see [`crate::user`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// `--security-opt seccomp=...`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SeccompChoice {
    /// docker's default profile.
    #[default]
    Default,
    /// No filter.
    Unconfined,
    /// A profile in docker's JSON format.
    Profile(String),
}

/// The container's network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// Share the host's.
    Host,
    /// A new, empty one (only loopback).
    #[default]
    None,
    /// Join this one (a path such as `/run/berth/netns/<id>`).
    Path(PathBuf),
}

/// The container's cgroup namespace (`--cgroupns`, `HostConfig.CgroupnsMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CgroupNamespace {
    /// dockerd's default: private on a pure cgroup v2 host, the host's otherwise.
    #[default]
    HostDefault,
    /// A new one: the container's own cgroup is the root of what it sees.
    Private,
    /// The host's: the container sees its cgroups' full paths.
    Host,
}

/// A bind mount from the host (the container's hosts, hostname and resolv.conf files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
}

/// A user-requested mount (`-v`, `--mount`, `--tmpfs`): any type, options as the OCI spec
/// takes them. The runtime resolves `destination` inside the rootfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecMount {
    pub destination: String,
    /// `bind` or `tmpfs`.
    pub typ: String,
    pub source: String,
    pub options: Vec<String>,
}

/// What the daemon knows about a container, in the terms the spec needs.
#[derive(Debug, Clone, Default)]
pub struct SpecInput {
    pub id: String,
    pub rootfs: PathBuf,
    /// The command: entrypoint followed by cmd.
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// Working directory; empty means "/".
    pub cwd: String,
    pub user: ProcessUser,
    pub hostname: String,
    /// `--domainname`; empty for none.
    pub domainname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    pub seccomp: SeccompChoice,
    pub read_only: bool,
    pub network: NetworkMode,
    pub mounts: Vec<BindMount>,
    /// Volumes, binds and tmpfs mounts the user asked for, after the default mounts.
    pub user_mounts: Vec<SpecMount>,
    /// `/dev/shm` size in bytes; `None` is docker's 64 MiB.
    pub shm_size: Option<u64>,
    /// `--init`: the host path of the init binary.
    pub init: Option<PathBuf>,
    /// `linux.cgroupsPath` (the daemon passes `/berth/<id>`).
    pub cgroups_path: String,
    pub oom_score_adj: Option<i32>,
    /// cgroup limits (`--memory`, `--cpus`, `--pids-limit`, ...).
    pub resources: Resources,
    /// Host devices made available (`--device`).
    pub devices: Vec<DeviceMapping>,
    /// `--ulimit`s.
    pub ulimits: Vec<Ulimit>,
    /// `--sysctl`s, on top of the defaults for a private network namespace.
    pub sysctls: std::collections::BTreeMap<String, String>,
    /// `--cgroupns`.
    pub cgroupns: CgroupNamespace,
    /// The embedded runtime's helper for a bind mount on `/dev` (the `berth-shim` binary):
    /// see [`DEV_BIND_HOOK_ARG`]. `None` for runtimes that leave a bound `/dev` alone (runc).
    pub dev_bind_hook: Option<PathBuf>,
}

/// The first argument of the `createContainer` hook that binds the host's `/dev` (or whatever
/// the user mounts there) over the container's `/dev`: `berth-shim --bind-dev <rootfs>
/// <source> <options>`. libcontainer always creates device nodes, `/dev/ptmx` and symlinks in
/// the container's `/dev`, where runc leaves a bind-mounted `/dev` alone; with the host's
/// `/dev` mounted there it would write into the host's `/dev`. So for the embedded runtime the
/// default tmpfs stays at `/dev` for libcontainer to populate, and the hook mounts the user's
/// `/dev` over it once the rootfs is ready, before `pivot_root`.
pub const DEV_BIND_HOOK_ARG: &str = "--bind-dev";

/// Facts about the host the spec depends on.
#[derive(Debug, Clone)]
pub struct HostInfo {
    /// The capability bounding set: the most a container can be given.
    pub bounding: CapSet,
    pub seccomp: seccomp::Host,
    /// `/sys/fs/cgroup` is a cgroup2 mount (pure v2): containers get a private cgroup namespace
    /// by default.
    pub cgroup2: bool,
    /// The kernel has cgroup namespaces (`/proc/self/ns/cgroup`).
    pub cgroup_namespaces: bool,
}

impl HostInfo {
    /// This host's facts, read once per process: none of them changes while it runs (its
    /// bounding set, the kernel, the cgroup mount), and reading them (`/proc/self/status`,
    /// `uname`, a `statfs`) was a tenth of each spec's build.
    pub fn current() -> Result<HostInfo, SpecError> {
        static CURRENT: std::sync::OnceLock<HostInfo> = std::sync::OnceLock::new();
        if let Some(host) = CURRENT.get() {
            return Ok(host.clone());
        }
        let host = HostInfo {
            bounding: caps::host_bounding_set()?,
            seccomp: seccomp::Host::current(),
            cgroup2: is_cgroup2(),
            cgroup_namespaces: std::path::Path::new("/proc/self/ns/cgroup").exists(),
        };
        Ok(CURRENT.get_or_init(|| host).clone())
    }
}

/// Whether a container with `mode` gets a cgroup namespace of its own on `host`.
pub fn private_cgroupns(mode: CgroupNamespace, host: &HostInfo) -> bool {
    let private = match mode {
        CgroupNamespace::HostDefault => host.cgroup2,
        CgroupNamespace::Private => true,
        CgroupNamespace::Host => false,
    };
    private && host.cgroup_namespaces
}

fn is_cgroup2() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// The spec's `linux.resources`: the device cgroup's rules (every device for a privileged
/// container, else the default list and each `--device`'s), then the limits. berthd also makes
/// the container's cgroup with them ahead of the spec (`crate::cgroup_ahead`).
pub fn linux_resources(
    privileged: bool,
    limits: &Resources,
    devices: &[DeviceMapping],
) -> Result<Value, ResourceError> {
    let mut resources = if privileged {
        json!({ "devices": [{ "allow": true, "access": "rwm" }] })
    } else {
        json!({ "devices": defaults::device_cgroup_rules() })
    };
    for (key, value) in limits.to_oci() {
        resources[key] = value;
    }
    for d in devices {
        let rule = resources::device_entries(d)?.1;
        if let Some(rules) = resources["devices"].as_array_mut() {
            rules.push(rule);
        }
    }
    Ok(resources)
}

/// The OCI spec for `input` on this host.
pub fn build(input: &SpecInput) -> Result<Spec, SpecError> {
    build_for(input, &HostInfo::current()?)
}

/// The OCI spec for `input` on `host`.
pub fn build_for(input: &SpecInput, host: &HostInfo) -> Result<Spec, SpecError> {
    if input.args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    let caps = caps::effective(
        &input.cap_add,
        &input.cap_drop,
        input.privileged,
        host.bounding,
    )?;
    let seccomp = match (&input.seccomp, input.privileged) {
        (_, true) | (SeccompChoice::Unconfined, _) => None,
        (SeccompChoice::Default, _) => Some(seccomp::default_oci(&host.seccomp, &caps)?),
        (SeccompChoice::Profile(json), _) => Some(seccomp::to_oci(
            &seccomp::parse_profile(json)?,
            &host.seccomp,
            &caps,
        )?),
    };

    let mut args = input.args.clone();
    let mut mounts = defaults::mounts(input.privileged, input.shm_size.unwrap_or(DEFAULT_SHM_SIZE));
    // dockerd's `WithMounts`: a user's mount replaces the default one at its destination, and
    // one on /dev replaces every default below /dev as well (the user's /dev brings its own).
    let dev_bind = input
        .user_mounts
        .iter()
        .find(|m| m.destination == "/dev" && m.typ == "bind");
    let hooked_dev = dev_bind.zip(input.dev_bind_hook.as_ref());
    let user_dests: Vec<&str> = input
        .user_mounts
        .iter()
        .map(|m| m.destination.as_str())
        .collect();
    let dev_mounted = user_dests.contains(&"/dev");
    mounts.retain(|m| {
        let dest = m["destination"].as_str().unwrap_or_default();
        if dest == "/dev" && hooked_dev.is_some() {
            return true;
        }
        let below_user_dev = dev_mounted && dest.starts_with("/dev/");
        !user_dests.contains(&dest) && !below_user_dev
    });
    for m in &input.mounts {
        let mut options = vec!["rbind", "rprivate"];
        if m.read_only {
            options.push("ro");
        }
        mounts.push(json!({ "destination": m.destination, "type": "bind", "source": m.source, "options": options }));
    }
    let mut create_container_hooks = Vec::new();
    for m in &input.user_mounts {
        if let Some((dev, hook)) = hooked_dev.filter(|(dev, _)| std::ptr::eq(*dev, m)) {
            create_container_hooks.push(json!({
                "path": hook,
                "args": [
                    "berth-shim",
                    DEV_BIND_HOOK_ARG,
                    input.rootfs,
                    dev.source,
                    dev.options.join(","),
                ],
            }));
            continue;
        }
        mounts.push(json!({ "destination": m.destination, "type": m.typ, "source": m.source, "options": m.options }));
    }
    if let Some(init) = &input.init {
        mounts.push(json!({ "destination": INIT_PATH, "type": "bind", "source": init, "options": ["bind", "ro"] }));
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }

    let mut namespaces = vec![json!({ "type": "mount" })];
    match &input.network {
        NetworkMode::Host => {}
        NetworkMode::None => namespaces.push(json!({ "type": "network" })),
        NetworkMode::Path(p) => namespaces.push(json!({ "type": "network", "path": p })),
    }
    namespaces.extend([
        json!({ "type": "uts" }),
        json!({ "type": "pid" }),
        json!({ "type": "ipc" }),
    ]);
    if private_cgroupns(input.cgroupns, host) {
        namespaces.push(json!({ "type": "cgroup" }));
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": input.cgroups_path,
    });
    linux["resources"] = linux_resources(input.privileged, &input.resources, &input.devices)?;
    if input.privileged {
        linux["devices"] = host_devices::host_devices().into();
    } else {
        linux["maskedPaths"] = MASKED_PATHS.into();
        linux["readonlyPaths"] = READONLY_PATHS.into();
    }
    if !input.devices.is_empty() {
        let mut devices = Vec::new();
        for d in &input.devices {
            devices.push(resources::device_entries(d)?.0);
        }
        match linux["devices"].as_array_mut() {
            // Privileged containers already have every host device under its own path.
            Some(existing) => {
                for d in devices {
                    if !existing.iter().any(|e| e["path"] == d["path"]) {
                        existing.push(d);
                    }
                }
            }
            None => linux["devices"] = devices.into(),
        }
    }
    let mut sysctl = serde_json::Map::new();
    if input.network != NetworkMode::Host {
        // Lets non-root processes bind low ports and ping, as docker does in its own netns.
        sysctl.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        sysctl.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
    }
    for (k, v) in &input.sysctls {
        sysctl.insert(k.clone(), v.clone().into());
    }
    if !sysctl.is_empty() {
        linux["sysctl"] = sysctl.into();
    }

    let mut user = json!({ "uid": input.user.uid, "gid": input.user.gid });
    if !input.user.additional_gids.is_empty() {
        user["additionalGids"] = input.user.additional_gids.clone().into();
    }
    let mut process = json!({
        "terminal": input.tty,
        "user": user,
        "args": args,
        "env": input.env,
        "cwd": if input.cwd.is_empty() { "/" } else { input.cwd.as_str() },
        "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
    });
    // Only ever `true` or absent, as docker's omitempty writes it: libcontainer reads an
    // explicit `false` as "set" and then loads seccomp after dropping CAP_SYS_ADMIN, which fails.
    if input.no_new_privileges {
        process["noNewPrivileges"] = true.into();
    }
    if let Some(adj) = input.oom_score_adj {
        process["oomScoreAdj"] = adj.into();
    }
    if !input.ulimits.is_empty() {
        process["rlimits"] = input.ulimits.iter().map(resources::rlimit).collect();
    }

    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": { "path": input.rootfs, "readonly": input.read_only },
        "hostname": input.hostname,
        "mounts": mounts,
        "linux": linux,
    });
    if !input.domainname.is_empty() {
        spec["domainname"] = json!(input.domainname);
    }
    if !create_container_hooks.is_empty() {
        spec["hooks"] = json!({ "createContainer": create_container_hooks });
    }
    let mut spec: Spec =
        serde_json::from_value(spec).map_err(|e| SpecError::Invalid(e.to_string()))?;
    // The filter goes in typed: through a JSON value and back, its few hundred syscall names
    // were half the build.
    if let Some(seccomp) = seccomp {
        let mut linux = spec.linux().clone().unwrap_or_default();
        linux.set_seccomp(Some(seccomp));
        spec.set_linux(Some(linux));
    }
    Ok(spec)
}

/// The OCI process for `docker exec` in a container built from `input`: the same user,
/// capabilities and no-new-privileges as its init, with `args`, `env`, `cwd` and `tty`.
pub fn exec_process(
    input: &SpecInput,
    args: Vec<String>,
    env: Vec<String>,
    cwd: &str,
    user: &ProcessUser,
    tty: bool,
) -> Result<oci_spec::runtime::Process, SpecError> {
    let host = HostInfo::current()?;
    let base = build_for(
        &SpecInput {
            args: args.clone(),
            env,
            cwd: cwd.to_string(),
            user: user.clone(),
            tty,
            init: None,
            ..input.clone()
        },
        &host,
    )?;
    base.process()
        .clone()
        .ok_or_else(|| SpecError::Invalid("no process in the spec".into()))
}

#[cfg(test)]
mod tests;

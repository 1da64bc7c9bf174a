//! `run`/`create` flags and their translation into the create request.

use std::collections::HashMap;

use berth_api::models::{
    ContainerConfig, EndpointIpamConfig, EndpointSettings, HostConfig, HostConfigLogConfig,
    NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use berth_api::ContainerCreateBody;
use clap::{ArgAction, Args};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum OptsError {
    #[error("invalid restart policy format: {0}")]
    Restart(String),
    #[error("invalid restart policy: unknown policy '{0}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")]
    UnknownRestartPolicy(String),
    #[error(transparent)]
    Health(#[from] crate::health_opts::HealthOptsError),
    #[error("invalid proto: {0}")]
    PortProto(String),
    #[error("invalid containerPort: {0}")]
    ContainerPort(String),
    #[error("invalid hostPort: {0}")]
    HostPort(String),
    #[error("invalid ranges specified for container and host Ports: {0} and {1}")]
    PortRanges(String, String),
    #[error("invalid spec: {0}: empty section between colons")]
    VolumeSpec(String),
    #[error("{0}")]
    Units(String),
    #[error("open {0}: {1}")]
    File(String, String),
    #[error("invalid argument \"{0}\" for \"{1}\" flag: {2}")]
    Flag(String, String, String),
    #[error("Invalid --security-opt: {0:?}")]
    SecurityOpt(String),
    #[error("opening seccomp profile ({0}) failed: {1}")]
    SeccompProfile(String, String),
    #[error("conflicting options: cannot specify both {0}")]
    Conflict(String),
    #[error("invalid value for --network: {0}")]
    Network(String),
    #[error("--cgroupns: invalid CGROUP mode")]
    CgroupnsMode,
}

/// Flags shared by `run` and `create`.
#[derive(Debug, Args, Default, Clone)]
pub struct ContainerOpts {
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub tty: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub init: bool,
    /// Give extended privileges to this container
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub read_only: bool,
    /// Connect a container to a network
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// Runtime to use for this container
    #[arg(long)]
    pub runtime: Option<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    #[command(flatten)]
    pub resources: crate::resource_opts::CreateResourceOpts,
    #[command(flatten)]
    pub health: crate::health_opts::HealthOpts,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    pub ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Add link to another container (name[:alias])
    #[arg(long)]
    pub link: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs")]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub quiet: bool,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// Reads KEY=VALUE lines: comments and blanks skipped, a bare KEY takes the local value.
pub fn read_kv_file(path: &str, from_env: bool) -> Result<Vec<String>, OptsError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| OptsError::File(path.into(), io_text(&e)))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.contains('=') || !from_env {
            out.push(line.to_string());
        } else if let Ok(v) = std::env::var(line) {
            out.push(format!("{line}={v}"));
        }
    }
    Ok(out)
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => e.to_string(),
    }
}

/// `-e KEY` takes KEY's local value (omitted when unset), `-e K=V` is sent as is.
pub fn expand_env(entries: &[String]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| {
            if e.contains('=') {
                Some(e.clone())
            } else {
                std::env::var(e).ok().map(|v| format!("{e}={v}"))
            }
        })
        .collect()
}

/// `--restart no|always|unless-stopped|on-failure[:N]`, as docker's `ParseRestartPolicy`; a
/// count on another policy is the daemon's to refuse. An unknown name is refused here since
/// the request's typed model cannot carry it (with the daemon's wording).
pub fn parse_restart(s: &str) -> Result<RestartPolicy, OptsError> {
    let (name, count) = match s.split_once(':') {
        Some(("", _)) => return Err(OptsError::Restart("no policy provided before colon".into())),
        Some((n, c)) => (n, c),
        None => (s, ""),
    };
    let maximum_retry_count = if count.is_empty() {
        None
    } else {
        Some(
            count
                .parse::<i64>()
                .map_err(|_| OptsError::Restart("maximum retry count must be an integer".into()))?,
        )
    };
    let policy = match name {
        "" => RestartPolicyNameEnum::EMPTY,
        "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => return Err(OptsError::UnknownRestartPolicy(name.into())),
    };
    Ok(RestartPolicy {
        name: Some(policy),
        maximum_retry_count,
    })
}

/// `--shm-size 64m` -> bytes (go-units RAMInBytes, shared with the daemon in berth-types).
pub fn parse_ram(s: &str) -> Result<i64, OptsError> {
    berth_types::gocompat::units::ram_in_bytes(s).map_err(|e| OptsError::Units(e.to_string()))
}

/// `--security-opt` values as docker sends them: a seccomp profile path is replaced by the
/// profile's compacted JSON, since the daemon may not see the client's files.
pub fn parse_security_opts(opts: &[String]) -> Result<Vec<String>, OptsError> {
    opts.iter()
        .map(|opt| {
            if opt == "no-new-privileges" {
                return Ok(opt.clone());
            }
            let Some((key, value)) = opt.split_once(['=', ':']) else {
                return Err(OptsError::SecurityOpt(opt.clone()));
            };
            if key != "seccomp" || value == "unconfined" || value == "builtin" {
                return Ok(opt.clone());
            }
            let text = std::fs::read_to_string(value).map_err(|e| {
                OptsError::SeccompProfile(value.into(), format!("open {value}: {}", io_text(&e)))
            })?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| OptsError::SeccompProfile(value.into(), e.to_string()))?;
            Ok(format!("seccomp={json}"))
        })
        .collect()
}

/// `--cpus 1.5` -> NanoCPUs, as docker's NanoCPUs flag value.
pub fn parse_cpus(s: &str) -> Result<i64, OptsError> {
    let flag = |why: String| OptsError::Flag(s.into(), "--cpus".into(), why);
    let value: f64 = s
        .trim()
        .parse()
        .map_err(|_| flag(format!("failed to parse {s} as a rational number")))?;
    if s.trim()
        .split_once('.')
        .is_some_and(|(_, frac)| frac.len() > 9)
        || !value.is_finite()
    {
        return Err(flag("value is too precise".into()));
    }
    let nanos = value * 1e9;
    if nanos < 0.0 {
        return Err(flag("value must be positive".into()));
    }
    Ok(nanos.round() as i64)
}

/// `-p [ip:][hostPort:]containerPort[/proto]` -> ("80/tcp", binding) per container port, with
/// docker's range rules: equal-length ranges map pairwise, a host range for one container port
/// lets the daemon pick, and a container range without host ports publishes each.
pub fn parse_publish(spec: &str) -> Result<Vec<(String, PortBinding)>, OptsError> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p),
        None => (spec, "tcp"),
    };
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(OptsError::PortProto(proto.into()));
    }
    let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
    let (container, host_port, host_ip) = match parts.as_slice() {
        [c] => (*c, "", ""),
        [c, h] => (*c, *h, ""),
        [c, h, ip] => (*c, *h, ip.trim_start_matches('[').trim_end_matches(']')),
        _ => return Err(OptsError::ContainerPort(spec.into())),
    };
    let range = |p: &str| -> Option<(u16, u16)> {
        let (a, b) = p.split_once('-').unwrap_or((p, p));
        let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
        (a > 0 && a <= b).then_some((a, b))
    };
    let (c_lo, c_hi) =
        range(container).ok_or_else(|| OptsError::ContainerPort(container.into()))?;
    let host = if host_port.is_empty() {
        None
    } else {
        Some(range(host_port).ok_or_else(|| OptsError::HostPort(host_port.into()))?)
    };
    let count = c_hi - c_lo;
    let binding = |hp: String| PortBinding {
        host_ip: Some(host_ip.to_string()),
        host_port: Some(hp),
    };
    let mut out = Vec::new();
    for i in 0..=count {
        let hp = match host {
            None => String::new(),
            Some((h_lo, h_hi)) if h_hi - h_lo == count => (h_lo + i).to_string(),
            Some((h_lo, h_hi)) if count == 0 => format!("{h_lo}-{h_hi}"),
            Some(_) => {
                return Err(OptsError::PortRanges(container.into(), host_port.into()));
            }
        };
        out.push((format!("{}/{proto}", c_lo + i), binding(hp)));
    }
    Ok(out)
}

pub struct Positionals {
    pub image: String,
    pub command: Vec<String>,
}

impl ContainerOpts {
    /// The create request for these flags; `attach` says which streams `run` attaches.
    pub fn to_create_body(
        &self,
        pos: &Positionals,
        detach: bool,
        attach: &[String],
    ) -> Result<ContainerCreateBody, OptsError> {
        let restart_policy = parse_restart(&self.restart)?;
        if self.rm
            && !matches!(
                restart_policy.name,
                None | Some(RestartPolicyNameEnum::EMPTY | RestartPolicyNameEnum::NO)
            )
        {
            return Err(OptsError::Conflict("--restart and --rm".into()));
        }
        let mut env = Vec::new();
        for f in &self.env_file {
            env.extend(read_kv_file(f, true)?);
        }
        env.extend(expand_env(&self.env));
        let mut labels = HashMap::new();
        for f in &self.label_file {
            for l in read_kv_file(f, false)? {
                let (k, v) = l.split_once('=').unwrap_or((&l, ""));
                labels.insert(k.to_string(), v.to_string());
            }
        }
        for l in &self.label {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            labels.insert(k.to_string(), v.to_string());
        }
        let mut exposed: HashMap<String, HashMap<(), ()>> = HashMap::new();
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for p in &self.publish {
            for (port, binding) in parse_publish(p)? {
                exposed.insert(port.clone(), HashMap::new());
                bindings
                    .entry(port)
                    .or_insert_with(|| Some(Vec::new()))
                    .get_or_insert_with(Vec::new)
                    .push(binding);
            }
        }
        for e in &self.expose {
            let port = if e.contains('/') {
                e.clone()
            } else {
                format!("{e}/tcp")
            };
            exposed.insert(port, HashMap::new());
        }
        let mut binds = Vec::new();
        let mut volumes: HashMap<String, HashMap<(), ()>> = HashMap::new();
        for v in &self.volume {
            if v.split(':').any(str::is_empty) {
                return Err(OptsError::VolumeSpec(v.clone()));
            }
            if v.contains(':') {
                binds.push(v.clone());
            } else {
                volumes.insert(v.clone(), HashMap::new());
            }
        }
        let mounts = self
            .mount
            .iter()
            .map(|m| crate::mount_opts::parse_mount(m))
            .collect::<Result<Vec<_>, _>>()?;
        let tmpfs: HashMap<String, String> = self
            .tmpfs
            .iter()
            .map(|t| {
                let (dest, opts) = t.split_once(':').unwrap_or((t, ""));
                (dest.to_string(), opts.to_string())
            })
            .collect();
        let network_mode = match self.network.as_deref() {
            None => "default".to_string(),
            Some("") => return Err(OptsError::Network(String::new())),
            Some(n) => n.to_string(),
        };
        let cgroupns_mode = match self.cgroupns.as_deref() {
            None | Some("") => None,
            Some(m) => Some(m.parse().map_err(|_| OptsError::CgroupnsMode)?),
        };
        let mut log_opts = HashMap::new();
        for o in &self.log_opt {
            let (k, v) = o.split_once('=').unwrap_or((o, ""));
            log_opts.insert(k.to_string(), v.to_string());
        }
        let attach_stdin =
            !detach && (self.interactive || attach.iter().any(|a| a.eq_ignore_ascii_case("stdin")));
        let (attach_stdout, attach_stderr) = if detach {
            (false, false)
        } else if attach.is_empty() {
            (true, true)
        } else {
            (
                attach.iter().any(|a| a.eq_ignore_ascii_case("stdout")),
                attach.iter().any(|a| a.eq_ignore_ascii_case("stderr")),
            )
        };
        let entrypoint = self.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                vec![String::new()]
            } else {
                vec![e.clone()]
            }
        });
        let config = ContainerConfig {
            hostname: self.hostname.clone(),
            domainname: self.domainname.clone(),
            user: self.user.clone(),
            attach_stdin: Some(attach_stdin),
            attach_stdout: Some(attach_stdout),
            attach_stderr: Some(attach_stderr),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            tty: Some(self.tty),
            open_stdin: Some(self.interactive),
            stdin_once: Some(self.interactive && attach_stdin),
            env: Some(env),
            cmd: (!pos.command.is_empty()).then(|| pos.command.clone()),
            image: Some(pos.image.clone()),
            volumes: (!volumes.is_empty()).then_some(volumes),
            working_dir: self.workdir.clone(),
            entrypoint,
            labels: Some(labels),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            healthcheck: self.health.to_health_config()?,
            ..Default::default()
        };
        let console_size = if self.tty {
            crate::term::window_size().map(|(h, w)| vec![h as i32, w as i32])
        } else {
            None
        };
        let host_config = HostConfig {
            binds: (!binds.is_empty()).then_some(binds),
            mounts: (!mounts.is_empty()).then_some(mounts),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            volumes_from: (!self.volumes_from.is_empty()).then(|| self.volumes_from.clone()),
            port_bindings: Some(bindings),
            publish_all_ports: Some(self.publish_all),
            dns: (!self.dns.is_empty()).then(|| self.dns.clone()),
            dns_search: (!self.dns_search.is_empty()).then(|| self.dns_search.clone()),
            dns_options: (!self.dns_option.is_empty()).then(|| self.dns_option.clone()),
            extra_hosts: (!self.add_host.is_empty()).then(|| {
                // docker sends `name:ip`; `name=ip` is accepted too.
                self.add_host
                    .iter()
                    .map(|h| h.replacen('=', ":", 1))
                    .collect()
            }),
            links: (!self.link.is_empty()).then(|| self.link.clone()),
            group_add: (!self.group_add.is_empty()).then(|| self.group_add.clone()),
            restart_policy: Some(restart_policy),
            auto_remove: Some(self.rm),
            network_mode: Some(network_mode),
            privileged: Some(self.privileged),
            cgroupns_mode,
            cap_add: (!self.cap_add.is_empty()).then(|| self.cap_add.clone()),
            cap_drop: (!self.cap_drop.is_empty()).then(|| self.cap_drop.clone()),
            security_opt: (!self.security_opt.is_empty())
                .then(|| parse_security_opts(&self.security_opt))
                .transpose()?,
            readonly_rootfs: Some(self.read_only),
            init: self.init.then_some(true),
            runtime: self.runtime.clone(),
            log_config: Some(HostConfigLogConfig {
                typ: self.log_driver.clone().or(Some(String::new())),
                config: Some(log_opts),
            }),
            shm_size: self.shm_size.as_deref().map(parse_ram).transpose()?,
            console_size,
            ..Default::default()
        };
        let mut host_config = host_config;
        self.resources.apply(&mut host_config)?;
        // --ip, --network-alias and --mac-address belong to the endpoint on the network given
        // (or "default"), as the docker CLI sends them.
        let endpoint = EndpointSettings {
            aliases: (!self.network_alias.is_empty()).then(|| self.network_alias.clone()),
            ipam_config: (self.ip.is_some() || self.ip6.is_some()).then(|| EndpointIpamConfig {
                ipv4_address: self.ip.clone(),
                ipv6_address: self.ip6.clone(),
                ..Default::default()
            }),
            mac_address: self.mac_address.clone(),
            // On a user-defined network, links are the endpoint's (DNS aliases), as the docker
            // CLI sends them; on the default bridge they are HostConfig.Links only.
            links: (!self.link.is_empty()
                && !matches!(
                    host_config.network_mode.as_deref(),
                    None | Some("" | "default" | "bridge" | "host" | "none")
                )
                && !host_config
                    .network_mode
                    .as_deref()
                    .is_some_and(|m| m.starts_with("container:")))
            .then(|| self.link.clone()),
            ..Default::default()
        };
        let networking_config =
            (endpoint != EndpointSettings::default()).then(|| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    host_config.network_mode.clone().unwrap_or_default(),
                    endpoint,
                )])),
            });
        Ok(ContainerCreateBody {
            config,
            host_config: Some(host_config),
            networking_config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seccomp_profiles_are_sent_inline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n").unwrap();
        let opts = vec![
            format!("seccomp={}", path.display()),
            "no-new-privileges".into(),
            "seccomp=unconfined".into(),
        ];
        assert_eq!(
            parse_security_opts(&opts).unwrap(),
            [
                "seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}",
                "no-new-privileges",
                "seccomp=unconfined"
            ]
        );
        let missing = parse_security_opts(&["seccomp=/no/such.json".into()])
            .unwrap_err()
            .to_string();
        assert_eq!(missing, "opening seccomp profile (/no/such.json) failed: open /no/such.json: no such file or directory");
        assert!(parse_security_opts(&["bogus".into()]).is_err());
    }

    #[test]
    fn cpus_become_nano_cpus() {
        assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("0.000000001"), Ok(1));
        assert!(parse_cpus("lots").is_err_and(|e| e.to_string() == "invalid argument \"lots\" for \"--cpus\" flag: failed to parse lots as a rational number"));
        assert!(parse_cpus("-1").is_err());
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            parse_restart("always").unwrap().name,
            Some(RestartPolicyNameEnum::ALWAYS)
        );
        let p = parse_restart("on-failure:3").unwrap();
        assert_eq!(
            (p.name, p.maximum_retry_count),
            (Some(RestartPolicyNameEnum::ON_FAILURE), Some(3))
        );
        // The daemon refuses a count on another policy, with its own message.
        assert_eq!(
            parse_restart("always:3").unwrap().maximum_retry_count,
            Some(3)
        );
        assert_eq!(
            parse_restart("sometimes").unwrap_err().to_string(),
            "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        );
        assert!(parse_restart(":3").is_err());
        assert!(parse_restart("on-failure:x").is_err());
    }

    #[test]
    fn ram_sizes() {
        assert_eq!(parse_ram("64m").unwrap(), 64 * 1024 * 1024);
        assert_eq!(parse_ram("1g").unwrap(), 1 << 30);
        assert_eq!(parse_ram("512").unwrap(), 512);
        assert!(parse_ram("lots").is_err());
    }

    #[test]
    fn ports() {
        let one = |s: &str| parse_publish(s).unwrap().remove(0);
        let (p, b) = one("127.0.0.1:8080:80/udp");
        assert_eq!(p, "80/udp");
        assert_eq!(
            (b.host_ip.as_deref(), b.host_port.as_deref()),
            (Some("127.0.0.1"), Some("8080"))
        );
        let (p, b) = one("8080:80");
        assert_eq!(
            (p.as_str(), b.host_port.as_deref()),
            ("80/tcp", Some("8080"))
        );
        let pairs: Vec<(String, String)> = parse_publish("9000-9001:90-91")
            .unwrap()
            .into_iter()
            .map(|(p, b)| (p, b.host_port.unwrap_or_default()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("90/tcp".into(), "9000".into()),
                ("91/tcp".into(), "9001".into())
            ]
        );
        assert_eq!(
            one("8000-8010:80").1.host_port.as_deref(),
            Some("8000-8010")
        );
        assert_eq!(parse_publish("90-92").unwrap().len(), 3);
        assert!(parse_publish("9000-9002:90-91").is_err());
        assert!(parse_publish("70000:80").is_err());
        assert!(parse_publish("80/xyz").is_err());
        assert!(parse_publish("abc").is_err());
    }

    #[test]
    fn body_from_flags() {
        let opts = ContainerOpts {
            interactive: true,
            tty: true,
            env: vec!["A=1".into()],
            label: vec!["k=v".into()],
            volume: vec!["/data".into(), "/src:/dst:ro".into()],
            restart: "no".into(),
            ..Default::default()
        };
        let pos = Positionals {
            image: "busybox".into(),
            command: vec!["sh".into()],
        };
        let body = opts.to_create_body(&pos, false, &[]).unwrap();
        assert_eq!(body.config.attach_stdin, Some(true));
        assert_eq!(body.config.stdin_once, Some(true));
        assert_eq!(body.config.env, Some(vec!["A=1".to_string()]));
        assert_eq!(body.config.cmd, Some(vec!["sh".to_string()]));
        let hc = body.host_config.unwrap();
        assert_eq!(hc.binds, Some(vec!["/src:/dst:ro".to_string()]));
        assert!(body.config.volumes.unwrap().contains_key("/data"));
        let detached = opts.to_create_body(&pos, true, &[]).unwrap();
        assert_eq!(detached.config.attach_stdout, Some(false));
    }

    #[test]
    fn env_file_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("env");
        std::fs::write(&f, "# comment\n\nA=1\nB=two words\n").unwrap();
        assert_eq!(
            read_kv_file(f.to_str().unwrap(), true).unwrap(),
            vec!["A=1", "B=two words"]
        );
        assert!(read_kv_file("/nonexistent/env", true).is_err());
    }
}

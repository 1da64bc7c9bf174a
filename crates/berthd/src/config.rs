//! daemon.json merged with the flags the way dockerd does it: unknown keys are refused, a
//! directive given both as a flag and in the file is refused, the file fills in the rest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::flags::{self, Flags};

/// The name of the runtime built into berth; it cannot be redefined.
pub const EMBEDDED_RUNTIME: &str = berth_daemon::EMBEDDED_RUNTIME;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("unable to configure the berth daemon with file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("open {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("unable to parse logging level: {0}")]
    LogLevel(String),
    #[error("invalid runtime argument: {0}")]
    RuntimeArgument(String),
    #[error("runtime name '{0}' is reserved")]
    ReservedRuntime(String),
    #[error("runtime '{0}' was already defined")]
    DuplicateRuntime(String),
    #[error("specified default runtime '{0}' does not exist")]
    UnknownDefaultRuntime(String),
    #[error("{0}")]
    Network(String),
    #[error("{0}")]
    Registry(String),
    #[error("invalid max concurrent downloads: {0}")]
    MaxConcurrentDownloads(usize),
}

/// Logging levels dockerd accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl LogLevel {
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(Self::Debug),
            "info" => Ok(Self::Info),
            "warn" | "warning" => Ok(Self::Warn),
            "error" => Ok(Self::Error),
            "fatal" => Ok(Self::Fatal),
            _ => Err(ConfigError::LogLevel(s.to_string())),
        }
    }

    /// The tracing filter directive (tracing has no "fatal": errors are the closest).
    pub fn directive(self) -> &'static str {
        match self {
            // Libraries' own debug output (hyper, h2, tonic) is not the daemon's.
            Self::Debug => "debug,h2=info,hyper=info,hyper_util=info,tower=info,tonic=info",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error | Self::Fatal => "error",
        }
    }
}

/// An extra OCI runtime: daemon.json `runtimes` or `--add-runtime`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Runtime {
    pub path: PathBuf,
    #[serde(rename = "runtimeArgs", default)]
    pub args: Vec<String>,
}

/// Everything berthd runs with, after flags and file are merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub hosts: Vec<String>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: PathBuf,
    pub debug: bool,
    pub log_level: LogLevel,
    pub default_runtime: String,
    pub runtimes: BTreeMap<String, Runtime>,
    /// daemon.json `log-driver` (json-file when unset).
    pub log_driver: String,
    /// daemon.json `log-opts`: the default driver's options.
    pub log_opts: BTreeMap<String, String>,
    /// `--bridge` (None: `none`), `--bip`, `--default-address-pool`, `--mtu`.
    pub bridge: Option<String>,
    pub bip: Option<String>,
    pub default_address_pools: Vec<berth_daemon::AddressPool>,
    pub mtu: u32,
    /// daemon.json `registry`: berth's registry server, run in-process (root defaults to
    /// `<data-root>/registry`).
    pub registry: Option<berth_registry::settings::Settings>,
    /// `insecure-registries`, `registry-mirrors`, `certs-dir`: how pulls, pushes and logins
    /// reach registries.
    pub registries: berth_distribution::RegistryConfig,
    /// `max-concurrent-downloads` (6 when unset).
    pub max_concurrent_downloads: usize,
    /// `--cri-socket` / `cri-socket`: where the CRI v1 endpoint listens; None when turned off
    /// (an empty path).
    pub cri_socket: Option<PathBuf>,
    /// `--cni-conf-dir` / `cni-conf-dir` and `--cni-bin-dir` / `cni-bin-dir`: the CRI's CNI
    /// network configurations and plugins; `None` for berth-cri's defaults.
    pub cni_conf_dir: Option<PathBuf>,
    pub cni_bin_dir: Option<PathBuf>,
    /// `--cri-stream-port` / `cri-stream-port`: the CRI streaming server's port (0: any).
    pub cri_stream_port: u16,
    /// `--cgroup-favordynmods` / `cgroup-favordynmods` (default true): set the cgroup mount
    /// option `favordynmods` at start (berth_runtime::cgroup_dynmods).
    pub cgroup_favordynmods: bool,
}

/// One daemon.json `default-address-pools` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct FilePool {
    base: String,
    size: u8,
}

/// The daemon.json keys berth understands.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileConfig {
    hosts: Option<Vec<String>>,
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    pidfile: Option<PathBuf>,
    debug: Option<bool>,
    log_level: Option<String>,
    default_runtime: Option<String>,
    runtimes: Option<BTreeMap<String, Runtime>>,
    log_driver: Option<String>,
    log_opts: Option<BTreeMap<String, String>>,
    bridge: Option<String>,
    bip: Option<String>,
    default_address_pools: Option<Vec<FilePool>>,
    mtu: Option<u32>,
    registry: Option<berth_registry::settings::Settings>,
    insecure_registries: Option<Vec<String>>,
    registry_mirrors: Option<Vec<String>>,
    certs_dir: Option<PathBuf>,
    registry_config_dir: Option<PathBuf>,
    max_concurrent_downloads: Option<usize>,
    cri_socket: Option<PathBuf>,
    cni_conf_dir: Option<PathBuf>,
    cni_bin_dir: Option<PathBuf>,
    cri_stream_port: Option<u16>,
    cgroup_favordynmods: Option<bool>,
}

const KNOWN_KEYS: &[&str] = &[
    "hosts",
    "data-root",
    "exec-root",
    "pidfile",
    "debug",
    "log-level",
    "default-runtime",
    "runtimes",
    "log-driver",
    "log-opts",
    "bridge",
    "bip",
    "default-address-pools",
    "mtu",
    "registry",
    "insecure-registries",
    "registry-mirrors",
    "certs-dir",
    "registry-config-dir",
    "max-concurrent-downloads",
    "cri-socket",
    "cni-conf-dir",
    "cni-bin-dir",
    "cri-stream-port",
    "cgroup-favordynmods",
];

/// Go's `%v` of a JSON value, for conflict messages.
fn go_format(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_format).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(o) => {
            format!(
                "map[{}]",
                o.iter()
                    .map(|(k, v)| format!("{k}:{}", go_format(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        other => other.to_string(),
    }
}

/// The flags that were given, as `(daemon.json key, value as pflag prints it)`.
fn given_flags(f: &Flags) -> Vec<(&'static str, String)> {
    let mut given = Vec::new();
    if !f.hosts.is_empty() {
        given.push(("hosts", format!("[{}]", f.hosts.join(" "))));
    }
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    for (key, value) in [
        ("data-root", path(&f.data_root)),
        ("exec-root", path(&f.exec_root)),
        ("pidfile", path(&f.pidfile)),
        ("cri-socket", f.cri_socket.clone()),
        ("cni-conf-dir", path(&f.cni_conf_dir)),
        ("cni-bin-dir", path(&f.cni_bin_dir)),
    ] {
        if let Some(v) = value {
            given.push((key, v));
        }
    }
    if f.debug {
        given.push(("debug", "true".into()));
    }
    if let Some(l) = &f.log_level {
        given.push(("log-level", l.clone()));
    }
    if let Some(r) = &f.default_runtime {
        given.push(("default-runtime", r.clone()));
    }
    if !f.add_runtime.is_empty() {
        given.push(("runtimes", format!("[{}]", f.add_runtime.join(" "))));
    }
    if let Some(b) = &f.bridge {
        given.push(("bridge", b.clone()));
    }
    if let Some(b) = &f.bip {
        given.push(("bip", b.clone()));
    }
    if !f.default_address_pool.is_empty() {
        given.push((
            "default-address-pools",
            format!("[{}]", f.default_address_pool.join(" ")),
        ));
    }
    if let Some(m) = f.mtu {
        given.push(("mtu", m.to_string()));
    }
    if let Some(p) = f.cri_stream_port {
        given.push(("cri-stream-port", p.to_string()));
    }
    if let Some(b) = f.cgroup_favordynmods {
        given.push(("cgroup-favordynmods", b.to_string()));
    }
    for (key, list) in [
        ("insecure-registries", &f.insecure_registry),
        ("registry-mirrors", &f.registry_mirror),
    ] {
        if !list.is_empty() {
            given.push((key, format!("[{}]", list.join(" "))));
        }
    }
    if let Some(d) = path(&f.certs_dir) {
        given.push(("certs-dir", d));
    }
    if let Some(d) = path(&f.registry_config_dir) {
        given.push(("registry-config-dir", d));
    }
    if let Some(n) = f.max_concurrent_downloads {
        given.push(("max-concurrent-downloads", n.to_string()));
    }
    given
}

/// Checks the raw file against the flags: unknown keys first, then duplicates (dockerd's order).
fn check_file(map: &Map<String, Value>, f: &Flags) -> Result<(), String> {
    let mut unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !KNOWN_KEYS.contains(k))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(format!(
            "the following directives don't match any configuration option: {}",
            unknown.join(", ")
        ));
    }
    let conflicts: Vec<String> = given_flags(f)
        .into_iter()
        .filter_map(|(key, flag)| {
            map.get(key)
                .map(|file| format!("{key}: (from flag: {flag}, from file: {})", go_format(file)))
        })
        .collect();
    if !conflicts.is_empty() {
        return Err(format!(
            "the following directives are specified both as a flag and in the configuration file: {}",
            conflicts.join(", ")
        ));
    }
    Ok(())
}

/// Parses daemon.json text and checks it against the flags.
fn parse_file(text: &str, path: &Path, f: &Flags) -> Result<FileConfig, ConfigError> {
    let err = |reason: String| ConfigError::File {
        path: path.display().to_string(),
        reason,
    };
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    let value: Value = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(err("the configuration must be a JSON object".into()));
    };
    check_file(&map, f).map_err(err)?;
    serde_json::from_value(Value::Object(map)).map_err(|e| err(e.to_string()))
}

/// `--add-runtime name=path`, checked as dockerd checks it.
fn add_runtime(runtimes: &mut BTreeMap<String, Runtime>, arg: &str) -> Result<(), ConfigError> {
    let (name, path) = arg
        .split_once('=')
        .ok_or_else(|| ConfigError::RuntimeArgument(arg.to_string()))?;
    let (name, path) = (name.trim().to_ascii_lowercase(), path.trim());
    if name.is_empty() || path.is_empty() {
        return Err(ConfigError::RuntimeArgument(arg.to_string()));
    }
    if name == EMBEDDED_RUNTIME {
        return Err(ConfigError::ReservedRuntime(name));
    }
    if runtimes.contains_key(&name) {
        return Err(ConfigError::DuplicateRuntime(name));
    }
    runtimes.insert(
        name,
        Runtime {
            path: PathBuf::from(path),
            args: Vec::new(),
        },
    );
    Ok(())
}

/// Merges flags with the text of daemon.json (`None` when there is no file).
pub fn merge(
    f: &Flags,
    file_text: Option<&str>,
    file_path: &Path,
) -> Result<Settings, ConfigError> {
    let file = match file_text {
        Some(text) => parse_file(text, file_path, f)?,
        None => FileConfig::default(),
    };
    let mut runtimes = BTreeMap::new();
    for arg in &f.add_runtime {
        add_runtime(&mut runtimes, arg)?;
    }
    for (name, rt) in file.runtimes.unwrap_or_default() {
        if name == EMBEDDED_RUNTIME {
            return Err(ConfigError::ReservedRuntime(name));
        }
        runtimes.insert(name, rt);
    }
    let default_runtime = f
        .default_runtime
        .clone()
        .or(file.default_runtime)
        .unwrap_or_else(|| EMBEDDED_RUNTIME.to_string());
    if default_runtime != EMBEDDED_RUNTIME && !runtimes.contains_key(&default_runtime) {
        return Err(ConfigError::UnknownDefaultRuntime(default_runtime));
    }
    let debug = f.debug || file.debug.unwrap_or(false);
    let log_level = match f.log_level.clone().or(file.log_level) {
        Some(l) => LogLevel::parse(&l)?,
        None => LogLevel::Info,
    };
    let hosts = if !f.hosts.is_empty() {
        f.hosts.clone()
    } else {
        file.hosts.unwrap_or_default()
    };
    let net_err = |e: berth_network::NetworkError| ConfigError::Network(e.to_string());
    let mut default_address_pools = Vec::new();
    for p in &f.default_address_pool {
        default_address_pools.push(berth_daemon::AddressPool::parse(p).map_err(net_err)?);
    }
    for p in file.default_address_pools.unwrap_or_default() {
        default_address_pools.push(
            berth_daemon::AddressPool::parse(&format!("base={},size={}", p.base, p.size))
                .map_err(net_err)?,
        );
    }
    let bip = f.bip.clone().or(file.bip);
    if let Some(b) = &bip {
        berth_network::subnet::parse_cidr(b).map_err(net_err)?;
    }
    let bridge = match f.bridge.clone().or(file.bridge) {
        Some(b) if b == "none" => None,
        Some(b) if b.is_empty() => Some("berth0".to_string()),
        Some(b) => Some(b),
        None => Some("berth0".to_string()),
    };
    let data_root = f
        .data_root
        .clone()
        .or(file.data_root)
        .unwrap_or_else(|| flags::DEFAULT_DATA_ROOT.into());
    let registry = file.registry.map(|mut r| {
        r.root.get_or_insert_with(|| data_root.join("registry"));
        r
    });
    let either = |flag: &Vec<String>, file: Option<Vec<String>>| {
        if flag.is_empty() {
            file.unwrap_or_default()
        } else {
            flag.clone()
        }
    };
    let registries = berth_distribution::RegistryConfig::new(
        &either(&f.insecure_registry, file.insecure_registries),
        &either(&f.registry_mirror, file.registry_mirrors),
        f.certs_dir
            .clone()
            .or(file.certs_dir)
            .unwrap_or_else(|| berth_distribution::certs::DEFAULT_CERTS_DIR.into()),
    )
    .map_err(|e| ConfigError::Registry(e.to_string()))?
    .with_hosts_dir(
        f.registry_config_dir
            .clone()
            .or(file.registry_config_dir)
            .unwrap_or_else(|| berth_distribution::hosts::DEFAULT_HOSTS_DIR.into()),
    );
    let max_concurrent_downloads = f
        .max_concurrent_downloads
        .or(file.max_concurrent_downloads)
        .unwrap_or(berth_daemon::distribution::DEFAULT_MAX_CONCURRENT_DOWNLOADS);
    if max_concurrent_downloads == 0 {
        return Err(ConfigError::MaxConcurrentDownloads(0));
    }
    let exec_root = f
        .exec_root
        .clone()
        .or(file.exec_root)
        .unwrap_or_else(|| flags::DEFAULT_EXEC_ROOT.into());
    // By default in the exec root (/run/berth/cri.sock): a private berthd with an exec root of
    // its own never takes over the system daemon's socket.
    let cri_socket = f
        .cri_socket
        .clone()
        .map(PathBuf::from)
        .or(file.cri_socket)
        .unwrap_or_else(|| exec_root.join(flags::CRI_SOCKET_NAME));
    Ok(Settings {
        cri_socket: (!cri_socket.as_os_str().is_empty()).then_some(cri_socket),
        cni_conf_dir: f.cni_conf_dir.clone().or(file.cni_conf_dir),
        cni_bin_dir: f.cni_bin_dir.clone().or(file.cni_bin_dir),
        cri_stream_port: f.cri_stream_port.or(file.cri_stream_port).unwrap_or(0),
        cgroup_favordynmods: f
            .cgroup_favordynmods
            .or(file.cgroup_favordynmods)
            .unwrap_or(true),
        registries,
        max_concurrent_downloads,
        registry,
        bridge,
        bip,
        default_address_pools,
        mtu: f.mtu.or(file.mtu).unwrap_or(0),
        hosts: if hosts.is_empty() {
            vec![flags::DEFAULT_HOST.to_string()]
        } else {
            hosts
        },
        data_root,
        exec_root,
        pidfile: f
            .pidfile
            .clone()
            .or(file.pidfile)
            .unwrap_or_else(|| flags::DEFAULT_PIDFILE.into()),
        debug,
        // -D wins over the log level, as in dockerd.
        log_level: if debug { LogLevel::Debug } else { log_level },
        default_runtime,
        runtimes,
        log_driver: file.log_driver.unwrap_or_else(|| "json-file".into()),
        log_opts: file.log_opts.unwrap_or_default(),
    })
}

/// Reads `--config-file` (or the default) and merges. A missing default file is fine; a missing
/// file that was asked for is not.
pub fn load(f: &Flags) -> Result<Settings, ConfigError> {
    let path = f
        .config_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(flags::DEFAULT_CONFIG_FILE));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && f.config_file.is_none() => None,
        Err(e) => {
            return Err(ConfigError::Open {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        }
    };
    merge(f, text.as_deref(), &path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn flags(args: &[&str]) -> Flags {
        let mut all = vec!["berthd"];
        all.extend_from_slice(args);
        Flags::try_parse_from(all).expect("flags")
    }

    fn merged(args: &[&str], file: &str) -> Result<Settings, ConfigError> {
        merge(
            &flags(args),
            Some(file),
            Path::new("/etc/berth/daemon.json"),
        )
    }

    #[test]
    fn cni_dirs_from_flag_or_file() {
        let none = merged(&[], "{}").expect("default");
        assert_eq!((none.cni_conf_dir, none.cni_bin_dir), (None, None));
        let flag = merged(&["--cni-conf-dir", "/c", "--cni-bin-dir", "/b"], "{}").expect("flag");
        assert_eq!(flag.cni_conf_dir, Some(PathBuf::from("/c")));
        assert_eq!(flag.cni_bin_dir, Some(PathBuf::from("/b")));
        let file = merged(&[], r#"{"cni-conf-dir": "/fc", "cni-bin-dir": "/fb"}"#).expect("file");
        assert_eq!(file.cni_conf_dir, Some(PathBuf::from("/fc")));
        assert_eq!(file.cni_bin_dir, Some(PathBuf::from("/fb")));
        let both =
            merged(&["--cni-conf-dir", "/a"], r#"{"cni-conf-dir": "/b"}"#).expect_err("both");
        assert!(both
            .to_string()
            .contains("cni-conf-dir: (from flag: /a, from file: /b)"));
    }

    #[test]
    fn cgroup_favordynmods_defaults_on_and_turns_off_by_flag_or_file() {
        assert!(merged(&[], "{}").expect("default").cgroup_favordynmods);
        assert!(
            merged(&["--cgroup-favordynmods"], "{}")
                .expect("bare flag")
                .cgroup_favordynmods
        );
        assert!(
            !merged(&["--cgroup-favordynmods=false"], "{}")
                .expect("flag")
                .cgroup_favordynmods
        );
        assert!(
            !merged(&[], r#"{"cgroup-favordynmods": false}"#)
                .expect("file")
                .cgroup_favordynmods
        );
        let both = merged(
            &["--cgroup-favordynmods=false"],
            r#"{"cgroup-favordynmods": false}"#,
        );
        assert!(
            both.is_err(),
            "a flag and the file both setting it conflict"
        );
    }

    #[test]
    fn cri_socket_from_flag_file_default_or_off() {
        let default = merged(&[], "{}").expect("default");
        assert_eq!(
            default.cri_socket,
            Some(PathBuf::from("/run/berth/cri.sock"))
        );
        let private = merged(&["--exec-root", "/tmp/x"], "{}").expect("exec root");
        assert_eq!(private.cri_socket, Some(PathBuf::from("/tmp/x/cri.sock")));
        let flag = merged(&["--cri-socket", "/tmp/c.sock"], "{}").expect("flag");
        assert_eq!(flag.cri_socket, Some(PathBuf::from("/tmp/c.sock")));
        let file = merged(&[], r#"{"cri-socket": "/tmp/f.sock"}"#).expect("file");
        assert_eq!(file.cri_socket, Some(PathBuf::from("/tmp/f.sock")));
        assert_eq!(
            merged(&[], r#"{"cri-socket": ""}"#)
                .expect("off")
                .cri_socket,
            None
        );
        assert_eq!(
            merged(&["--cri-socket="], "{}").expect("off").cri_socket,
            None
        );
        assert_eq!(default.cri_stream_port, 0);
        let port = merged(&["--cri-stream-port", "10010"], "{}").expect("flag");
        assert_eq!(port.cri_stream_port, 10010);
        let port = merged(&[], r#"{"cri-stream-port": 10011}"#).expect("file");
        assert_eq!(port.cri_stream_port, 10011);
        let both = merged(&["--cri-socket", "/a"], r#"{"cri-socket": "/b"}"#).expect_err("both");
        assert!(
            both.to_string()
                .contains("cri-socket: (from flag: /a, from file: /b)"),
            "{both}"
        );
    }

    #[test]
    fn registry_key_runs_a_registry_under_the_data_root() {
        let s = merged(
            &["--data-root", "/srv/berth"],
            r#"{"registry": {"addr": "127.0.0.1:5000", "read_only": true}}"#,
        )
        .expect("settings");
        let r = s.registry.expect("registry");
        assert_eq!(r.root.as_deref(), Some(Path::new("/srv/berth/registry")));
        assert!(r.read_only);
        assert!(merged(&[], r#"{"registry": {"bogus": 1}}"#).is_err());
        assert_eq!(merged(&[], "{}").expect("settings").registry, None);
    }

    #[test]
    fn registry_client_settings_from_flags_and_file() {
        let s = merged(
            &["--certs-dir", "/tmp/certs"],
            r#"{"insecure-registries":["reg.lan:5000","10.0.0.0/8"],"registry-mirrors":["http://127.0.0.1:5001"],"max-concurrent-downloads":3}"#,
        )
        .expect("settings");
        assert_eq!(s.registries.certs_dir(), Path::new("/tmp/certs"));
        assert_eq!(s.registries.mirrors(), ["http://127.0.0.1:5001/"]);
        assert_eq!(
            s.registries.insecure_cidrs(),
            ["10.0.0.0/8", "::1/128", "127.0.0.0/8"]
        );
        assert_eq!(s.registries.index_configs()[0].name, "reg.lan:5000");
        assert_eq!(s.max_concurrent_downloads, 3);
        let d = merge(&flags(&[]), None, Path::new("/x")).expect("settings");
        assert_eq!(d.registries.certs_dir(), Path::new("/etc/docker/certs.d"));
        assert_eq!(
            d.registries.hosts_dir(),
            Some(Path::new("/etc/berth/certs.d"))
        );
        assert_eq!(d.max_concurrent_downloads, 6);
        let h = merged(&["--registry-config-dir", "/tmp/hosts"], "{}").expect("flag");
        assert_eq!(h.registries.hosts_dir(), Some(Path::new("/tmp/hosts")));
        let h = merged(&[], r#"{"registry-config-dir": "/tmp/h2"}"#).expect("file");
        assert_eq!(h.registries.hosts_dir(), Some(Path::new("/tmp/h2")));
        assert!(merged(
            &["--registry-config-dir", "/a"],
            r#"{"registry-config-dir": "/b"}"#
        )
        .is_err());
        let flagged = merged(
            &[
                "--insecure-registry",
                "a:1",
                "--registry-mirror",
                "https://m",
            ],
            "",
        )
        .expect("settings");
        assert_eq!(flagged.registries.mirrors(), ["https://m/"]);
        let clash = merged(
            &["--insecure-registry", "a:1"],
            r#"{"insecure-registries":["b:2"]}"#,
        )
        .expect_err("both");
        assert!(reason(clash).contains("insecure-registries: (from flag: [a:1], from file: [b:2])"));
        assert!(matches!(
            merged(&[], r#"{"registry-mirrors":["mirror.lan"]}"#),
            Err(ConfigError::Registry(_))
        ));
        assert!(merged(&[], r#"{"max-concurrent-downloads":0}"#).is_err());
    }

    fn reason(e: ConfigError) -> String {
        match e {
            ConfigError::File { reason, .. } => reason,
            other => panic!("not a file error: {other:?}"),
        }
    }

    #[test]
    fn defaults_without_flags_or_file() {
        let s = merge(&flags(&[]), None, Path::new("/x")).expect("settings");
        assert_eq!(s.hosts, [flags::DEFAULT_HOST]);
        assert_eq!(s.data_root, PathBuf::from("/var/lib/berth"));
        assert_eq!(s.exec_root, PathBuf::from("/run/berth"));
        assert_eq!(s.pidfile, PathBuf::from("/run/berth/berthd.pid"));
        assert_eq!(s.log_level, LogLevel::Info);
        assert_eq!(s.default_runtime, "berth");
        assert!(!s.debug && s.runtimes.is_empty());
    }

    #[test]
    fn network_settings_from_flags_and_file() {
        let s = merged(
            &["-b", "br9", "--mtu", "1400"],
            r#"{"bip":"10.9.0.1/24","default-address-pools":[{"base":"10.10.0.0/16","size":24}]}"#,
        )
        .expect("settings");
        assert_eq!(s.bridge.as_deref(), Some("br9"));
        assert_eq!(s.bip.as_deref(), Some("10.9.0.1/24"));
        assert_eq!(s.mtu, 1400);
        assert_eq!(s.default_address_pools.len(), 1);
        let none = merged(&["--bridge", "none"], "").expect("settings");
        assert_eq!(none.bridge, None);
        assert_eq!(
            merge(&flags(&[]), None, Path::new("/x"))
                .expect("s")
                .bridge
                .as_deref(),
            Some("berth0")
        );
        assert!(merged(&["--bip", "nonsense"], "").is_err());
        assert!(merged(&["--default-address-pool", "base=10.0.0.0/8"], "").is_err());
        let clash =
            merged(&["--bip", "10.9.0.1/24"], r#"{"bip":"10.8.0.1/24"}"#).expect_err("both");
        assert!(reason(clash).contains("bip: (from flag: 10.9.0.1/24, from file: 10.8.0.1/24)"));
    }

    #[test]
    fn file_fills_in_what_flags_leave() {
        let s = merged(
            &["--exec-root", "/run/x"],
            r#"{"data-root":"/srv/berth","hosts":["unix:///tmp/b.sock"],"log-level":"warn",
                "runtimes":{"crun":{"path":"/usr/bin/crun","runtimeArgs":["--debug"]}},"default-runtime":"crun"}"#,
        )
        .expect("settings");
        assert_eq!(s.data_root, PathBuf::from("/srv/berth"));
        assert_eq!(s.exec_root, PathBuf::from("/run/x"));
        assert_eq!(s.hosts, ["unix:///tmp/b.sock"]);
        assert_eq!(s.log_level, LogLevel::Warn);
        assert_eq!(s.default_runtime, "crun");
        assert_eq!(
            s.runtimes["crun"],
            Runtime {
                path: "/usr/bin/crun".into(),
                args: vec!["--debug".into()]
            }
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_dockerds_message() {
        let e = merged(
            &[],
            r#"{"storage-driver":"overlay2","bogus":1,"debug":true}"#,
        )
        .expect_err("unknown");
        assert_eq!(
            reason(e),
            "the following directives don't match any configuration option: bogus, storage-driver"
        );
    }

    #[test]
    fn flag_and_file_conflicts_are_refused() {
        let e = merged(
            &["-D", "--data-root", "/a"],
            r#"{"debug":false,"data-root":"/b"}"#,
        )
        .expect_err("conflict");
        assert_eq!(
            reason(e),
            "the following directives are specified both as a flag and in the configuration file: \
             data-root: (from flag: /a, from file: /b), debug: (from flag: true, from file: false)"
        );
        let e = merged(&["-H", "unix:///a.sock"], r#"{"hosts":["unix:///b.sock"]}"#)
            .expect_err("hosts");
        assert_eq!(
            reason(e),
            "the following directives are specified both as a flag and in the configuration file: \
             hosts: (from flag: [unix:///a.sock], from file: [unix:///b.sock])"
        );
        let e = merged(
            &["--add-runtime", "crun=/usr/bin/crun"],
            r#"{"runtimes":{}}"#,
        )
        .expect_err("runtimes");
        assert!(reason(e).contains("runtimes: (from flag: [crun=/usr/bin/crun], from file: map[])"));
    }

    #[test]
    fn the_whole_error_names_the_file() {
        let e = merged(&[], "{nope").expect_err("json");
        assert!(
            e.to_string().starts_with(
                "unable to configure the berth daemon with file /etc/berth/daemon.json: "
            ),
            "{e}"
        );
        assert!(merged(&[], "[1]").is_err());
        assert!(merged(&[], r#"{"debug":"yes"}"#).is_err());
        assert!(merged(&[], "  ").is_ok());
    }

    #[test]
    fn debug_and_log_levels() {
        assert_eq!(merged(&["-D"], "{}").expect("s").log_level, LogLevel::Debug);
        assert_eq!(
            merged(&["-l", "error"], r#"{"debug":true}"#)
                .expect("s")
                .log_level,
            LogLevel::Debug
        );
        assert_eq!(
            merged(&["-l", "fatal"], "{}")
                .expect("s")
                .log_level
                .directive(),
            "error"
        );
        assert_eq!(
            merged(&["-l", "loud"], "{}"),
            Err(ConfigError::LogLevel("loud".into()))
        );
    }

    #[test]
    fn runtimes_are_validated() {
        assert_eq!(
            merged(&["--add-runtime", "crun"], "{}"),
            Err(ConfigError::RuntimeArgument("crun".into()))
        );
        assert_eq!(
            merged(&["--add-runtime", "berth=/x"], "{}"),
            Err(ConfigError::ReservedRuntime("berth".into()))
        );
        assert_eq!(
            merged(
                &["--add-runtime", "crun=/a", "--add-runtime", "CRUN=/b"],
                "{}"
            ),
            Err(ConfigError::DuplicateRuntime("crun".into()))
        );
        assert_eq!(
            merged(&["--default-runtime", "runc"], "{}"),
            Err(ConfigError::UnknownDefaultRuntime("runc".into()))
        );
        let s = merged(
            &[
                "--add-runtime",
                "runc=/usr/sbin/runc",
                "--default-runtime",
                "runc",
            ],
            "{}",
        )
        .expect("s");
        assert_eq!(s.runtimes["runc"].path, PathBuf::from("/usr/sbin/runc"));
        assert_eq!(
            merged(&[], r#"{"runtimes":{"berth":{"path":"/x"}}}"#),
            Err(ConfigError::ReservedRuntime("berth".into()))
        );
    }

    #[test]
    fn missing_config_file_only_matters_when_asked_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("daemon.json");
        let f = flags(&["--config-file", missing.to_str().expect("utf8")]);
        assert!(matches!(load(&f), Err(ConfigError::Open { .. })));
        std::fs::write(&missing, r#"{"debug":true}"#).expect("write");
        assert!(load(&f).expect("settings").debug);
    }
}

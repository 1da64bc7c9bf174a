//! Command-line flags, named as dockerd names them. Every setting is optional here so that the
//! daemon.json merge can tell a flag that was given from a default.

use std::path::PathBuf;

use clap::Parser;

pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";
pub const DEFAULT_PIDFILE: &str = "/run/berth/berthd.pid";
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";
/// The CRI socket's name in the exec root (so `/run/berth/cri.sock` by default).
pub const CRI_SOCKET_NAME: &str = "cri.sock";

#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "berthd",
    version,
    about = "A Docker-compatible container engine daemon"
)]
pub struct Flags {
    /// Daemon socket(s) to listen on, `unix:///path` [default: unix:///run/berth/berth.sock]
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,

    /// Root directory of persistent state [default: /var/lib/berth]
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,

    /// Root directory for execution state files [default: /run/berth]
    #[arg(long, value_name = "DIR")]
    pub exec_root: Option<PathBuf>,

    /// Path to use for the daemon PID file [default: /run/berth/berthd.pid]
    #[arg(short = 'p', long, value_name = "FILE")]
    pub pidfile: Option<PathBuf>,

    /// Daemon configuration file [default: /etc/berth/daemon.json]
    #[arg(long, value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") [default: info]
    #[arg(short = 'l', long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,

    /// Default OCI runtime for containers [default: berth]
    #[arg(long, value_name = "NAME")]
    pub default_runtime: Option<String>,

    /// Register an additional OCI compatible runtime, `name=path`
    #[arg(long = "add-runtime", value_name = "NAME=PATH")]
    pub add_runtime: Vec<String>,

    /// Attach containers to a network bridge ("none" disables the default bridge network)
    /// [default: berth0]
    #[arg(short = 'b', long, value_name = "NAME")]
    pub bridge: Option<String>,

    /// Network bridge IP, `address/prefix`
    #[arg(long, value_name = "CIDR")]
    pub bip: Option<String>,

    /// Default address pools for node specific local networks, `base=CIDR,size=N`
    #[arg(long = "default-address-pool", value_name = "POOL")]
    pub default_address_pool: Vec<String>,

    /// Set the containers network MTU
    #[arg(long, value_name = "BYTES")]
    pub mtu: Option<u32>,

    /// Enable insecure registry communication (`host[:port]` or a CIDR): no certificate
    /// verification for HTTPS, and a plain-HTTP fallback
    #[arg(long = "insecure-registry", value_name = "REGISTRY")]
    pub insecure_registry: Vec<String>,

    /// Preferred registry mirror for docker.io pulls (`http(s)://host[:port]`)
    #[arg(long = "registry-mirror", value_name = "URL")]
    pub registry_mirror: Vec<String>,

    /// Directory of per-registry certificates, `<dir>/<host:port>/{*.crt,*.cert,*.key}`
    /// [default: /etc/docker/certs.d]
    #[arg(long, value_name = "DIR")]
    pub certs_dir: Option<PathBuf>,

    /// Directory of per-registry host configurations in containerd's format,
    /// `<dir>/<registry host[:port]>/hosts.toml` (mirrors, plain HTTP), for every pull
    /// [default: /etc/berth/certs.d]
    #[arg(long, value_name = "DIR")]
    pub registry_config_dir: Option<PathBuf>,

    /// Set the max concurrent downloads per pull [default: 6]
    #[arg(long, value_name = "N")]
    pub max_concurrent_downloads: Option<usize>,

    /// Serve the Kubernetes CRI v1 (RuntimeService and ImageService) on this unix socket; an
    /// empty path turns it off [default: <exec-root>/cri.sock, i.e. /run/berth/cri.sock]
    // A string, not a path: clap refuses an empty path.
    #[arg(long, value_name = "PATH")]
    pub cri_socket: Option<String>,

    /// Directory of the CNI network configurations pods use [default: /etc/cni/net.d]
    #[arg(long, value_name = "DIR")]
    pub cni_conf_dir: Option<PathBuf>,

    /// Directory of the CNI plugins (Debian's /usr/lib/cni is searched after it) [default:
    /// /opt/cni/bin]
    #[arg(long, value_name = "DIR")]
    pub cni_bin_dir: Option<PathBuf>,
    /// The port of the CRI streaming server (exec, attach, port-forward URLs) on 127.0.0.1
    /// [default: 0, a free port]
    #[arg(long, value_name = "PORT")]
    pub cri_stream_port: Option<u16>,

    /// Mount the host's cgroups with `favordynmods` (Linux 6.0+): moving a container into its
    /// cgroup then takes ~0.2 ms instead of an RCU grace period (7-20 ms), for slightly dearer
    /// forks and exits host-wide [default: true]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub cgroup_favordynmods: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockerd_style_flags() {
        let f = Flags::try_parse_from([
            "berthd",
            "-H",
            "unix:///tmp/a.sock",
            "--host=unix:///tmp/b.sock",
            "--data-root",
            "/d",
            "-D",
            "--add-runtime",
            "crun=/usr/bin/crun",
            "-l",
            "warn",
        ])
        .expect("flags");
        assert_eq!(f.hosts, ["unix:///tmp/a.sock", "unix:///tmp/b.sock"]);
        assert_eq!(f.data_root, Some(PathBuf::from("/d")));
        assert!(f.debug);
        assert_eq!(f.add_runtime, ["crun=/usr/bin/crun"]);
        assert_eq!(f.log_level.as_deref(), Some("warn"));
        assert_eq!(f.exec_root, None);
    }
}

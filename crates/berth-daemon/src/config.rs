//! The daemon's settings, from berthd's flags and daemon.json.

use std::collections::HashMap;
use std::path::PathBuf;

/// Everything berthd's flags and daemon.json decide.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// The `berth-shim` binary.
    pub shim_binary: PathBuf,
    /// The static `berth-init` binary for `--init`.
    pub init_binary: Option<PathBuf>,
    /// `--default-runtime`; "berth" is the embedded runtime.
    pub default_runtime: String,
    /// daemon.json `runtimes`: name -> (path, args).
    pub runtimes: Vec<(String, PathBuf, Vec<String>)>,
    pub debug: bool,
    /// daemon.json `log-driver` and `log-opts`: what a container without `--log-driver` gets.
    pub log_driver: String,
    pub log_opts: HashMap<String, String>,
    pub net: crate::network::service::NetConfig,
    /// daemon.json `insecure-registries`, `registry-mirrors` and `certs-dir`.
    pub registries: berth_distribution::RegistryConfig,
    /// daemon.json `max-concurrent-downloads`: layers a pull fetches at the same time.
    pub max_concurrent_downloads: usize,
}

/// The name of the embedded runtime.
pub const EMBEDDED_RUNTIME: &str = "berth";

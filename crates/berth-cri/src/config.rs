//! What the CRI endpoint is configured with, and the state `UpdateRuntimeConfig` changes.

use std::path::PathBuf;
use std::sync::Mutex;

/// Where CNI network configurations are looked for unless configured otherwise.
pub const DEFAULT_CNI_CONF_DIR: &str = "/etc/cni/net.d";
/// Where CNI plugins are looked for unless configured otherwise.
pub const DEFAULT_CNI_BIN_DIR: &str = "/opt/cni/bin";

/// The CRI endpoint's settings (berthd's `--cri-socket` and daemon.json).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriConfig {
    /// The socket served.
    pub socket: PathBuf,
    /// CNI network configurations (`*.conf`, `*.conflist`, `*.json`).
    pub cni_conf_dir: PathBuf,
    /// CNI plugin binaries.
    pub cni_bin_dir: PathBuf,
    /// The streaming server's port on 127.0.0.1 (`--cri-stream-port`); 0: a free port.
    pub stream_port: u16,
}

impl CriConfig {
    pub fn new(socket: PathBuf) -> Self {
        Self {
            socket,
            cni_conf_dir: DEFAULT_CNI_CONF_DIR.into(),
            cni_bin_dir: DEFAULT_CNI_BIN_DIR.into(),
            stream_port: 0,
        }
    }
}

/// What kubelet tells the runtime at run time (`UpdateRuntimeConfig`).
#[derive(Debug, Default)]
pub(crate) struct RuntimeState {
    /// The node's pod CIDR; empty until kubelet sends it.
    pub pod_cidr: Mutex<String>,
    /// The streaming server, once it listens.
    pub streaming: std::sync::OnceLock<std::sync::Arc<crate::streaming::Streaming>>,
}

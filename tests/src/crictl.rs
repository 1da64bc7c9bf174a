//! `crictl` (cri-tools) against a daemon's CRI socket. The binary comes from
//! `scripts/build-crictl` (`BERTH_TEST_CRICTL`, else the pinned build under the target directory,
//! else `crictl` on PATH); a test that needs it fails when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cli::{self, Out};

/// The version `scripts/build-crictl` builds.
pub const CRICTL_VERSION: &str = "v1.37.0";

/// How long one crictl command may take (a pull included).
const TIMEOUT: Duration = Duration::from_secs(120);

/// The crictl binary; panics with how to get one when there is none.
#[track_caller]
pub fn crictl_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_TEST_CRICTL") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::paths::repo_root().join("target"));
    let built = target
        .join("tools")
        .join(format!("crictl-{CRICTL_VERSION}"))
        .join("crictl");
    if built.is_file() {
        return built;
    }
    if let Some(p) = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("crictl"))
            .find(|p| p.is_file())
    }) {
        return p;
    }
    panic!(
        "crictl not found ({} missing, none on PATH): run scripts/build-crictl or set BERTH_TEST_CRICTL",
        built.display()
    );
}

/// Runs `crictl <args>` against the CRI socket `socket` (runtime and image endpoint both).
#[track_caller]
pub fn crictl(socket: &Path, args: &[&str]) -> Out {
    cli::run(crictl_command(socket, args), None, TIMEOUT)
}

/// `crictl <args>` with `input` on its stdin.
#[track_caller]
pub fn crictl_with_input(socket: &Path, args: &[&str], input: &[u8]) -> Out {
    cli::run(crictl_command(socket, args), Some(input), TIMEOUT)
}

/// The arguments that point crictl at `socket`, then `args`.
#[track_caller]
pub fn crictl_args(socket: &Path, args: &[&str]) -> Vec<String> {
    let endpoint = format!("unix://{}", socket.display());
    // A config file of the test's own, so that no user config (/etc/crictl.yaml) changes what
    // is run; crictl insists on one existing.
    let config = socket.with_extension("crictl.yaml");
    if !config.exists() {
        let text = format!("runtime-endpoint: {endpoint}\nimage-endpoint: {endpoint}\n");
        if let Err(e) = std::fs::write(&config, text) {
            panic!("writing {}: {e}", config.display());
        }
    }
    let mut all: Vec<String> = vec![
        "--config".into(),
        config.display().to_string(),
        "--runtime-endpoint".into(),
        endpoint.clone(),
        "--image-endpoint".into(),
        endpoint,
        "--timeout".into(),
        "60s".into(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    all
}

/// `crictl <args>` against `socket`, to run or spawn.
#[track_caller]
pub fn crictl_command(socket: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(crictl_path());
    cmd.args(crictl_args(socket, args));
    cmd
}

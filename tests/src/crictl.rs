//! `crictl` (cri-tools) against a daemon's CRI socket. The binary comes from
//! `scripts/build-crictl` (`BERTH_TEST_CRICTL`, else the pinned build under the target directory,
//! else `crictl` on PATH); a test that needs it fails when it is missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cli::{self, Client, Out};
use crate::daemon::TestDaemon;

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

/// The directory of per-registry `hosts.toml` files of a daemon from
/// [`TestDaemon::start_with_cri`] (its `--registry-config-dir`).
pub fn hosts_dir(d: &TestDaemon) -> PathBuf {
    d.dir().join("hosts.d")
}

/// Writes `<hosts dir>/<registry>/hosts.toml` (containerd's format) with `text`.
#[track_caller]
pub fn write_hosts_toml(d: &TestDaemon, registry: &str, text: &str) {
    let dir = hosts_dir(d).join(registry);
    if let Err(e) =
        std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join("hosts.toml"), text))
    {
        panic!("writing {}/hosts.toml: {e}", dir.display());
    }
}

/// berth's own registry (`berth registry serve`) on 127.0.0.1, stopped on drop.
pub struct LocalRegistry {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
}

impl LocalRegistry {
    #[track_caller]
    pub fn start(d: &TestDaemon, root: &Path) -> Self {
        let mut child = Command::new(&d.bins.berth)
            .args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"])
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting berth registry serve: {e}"));
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        match line.trim().strip_prefix("registry listening on ") {
            Some(addr) => Self {
                addr: addr.to_string(),
                child,
            },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("berth registry serve printed {line:?}");
            }
        }
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Puts the busybox fixture (imported through the Docker API, so in the `default` image
/// namespace) into the CRI's `k8s.io` namespace as `docker.io/library/busybox:latest`, the way
/// an operator would: pushed to a local registry, and pulled through the CRI with a
/// `hosts.toml` sending docker.io there. The image keeps its id; the registry and the
/// `hosts.toml` are gone afterwards.
#[track_caller]
pub fn seed_busybox(d: &TestDaemon) {
    let root = d.dir().join("cri-seed-registry");
    let reg = LocalRegistry::start(d, &root);
    let pushed = format!("{}/library/busybox:latest", reg.addr);
    d.run(Client::Docker, &["tag", "busybox", &pushed])
        .success();
    d.run(Client::Docker, &["push", &pushed]).success();
    d.run(Client::Docker, &["rmi", &pushed]).success();
    write_hosts_toml(
        d,
        "docker.io",
        &format!("server = \"http://{}\"\n", reg.addr),
    );
    crictl(&d.cri_socket(), &["pull", "busybox"]).success();
    let _ = std::fs::remove_dir_all(hosts_dir(d).join("docker.io"));
    drop(reg);
    let _ = std::fs::remove_dir_all(&root);
}

/// Where Debian's `containernetworking-plugins` installs the CNI plugins.
pub const CNI_BIN: &str = "/usr/lib/cni";

/// A CNI bridge network of one test's own, for pods of a daemon started with
/// `--cni-conf-dir {dir}/net.d --cni-bin-dir {dir}/no-plugins-here` (the plugins are found in
/// [`CNI_BIN`]): bridge `cni-<tag><n>`, the /24 `10.<n>.<third>.0` inside the daemon's test
/// slot `n`. The bridge goes on drop.
pub struct CniBridge {
    pub bridge: String,
    /// `10.<n>.<third>`: the gateway is `<prefix>.1`.
    pub prefix: String,
}

impl CniBridge {
    /// Writes the network configuration list (bridge, host-local, portmap, loopback) into
    /// `<daemon dir>/net.d`, addresses kept under `<daemon dir>/ipam`.
    #[track_caller]
    pub fn write(d: &TestDaemon, tag: &str, third: u8) -> Self {
        let n = d.net.as_ref().map(|s| s.n).expect("a network slot");
        assert!(
            Path::new(CNI_BIN).join("bridge").is_file(),
            "the CNI plugins are missing from {CNI_BIN}: run scripts/install-deps (containernetworking-plugins)"
        );
        let net = CniBridge {
            bridge: format!("cni-{tag}{n}"),
            prefix: format!("10.{n}.{third}"),
        };
        let dir = d.dir().join("net.d");
        let conf = serde_json::json!({
            "cniVersion": "0.4.0",
            "name": format!("berth-{tag}"),
            "plugins": [
                {
                    "type": "bridge", "bridge": net.bridge, "isGateway": true, "ipMasq": false,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": format!("{}.0/24", net.prefix)}]],
                        "dataDir": d.dir().join("ipam"),
                    }
                },
                {"type": "portmap", "capabilities": {"portMappings": true}},
                {"type": "loopback"}
            ]
        });
        if let Err(e) = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("10-berth.conflist"), conf.to_string()))
        {
            panic!("writing {}: {e}", dir.display());
        }
        net
    }
}

impl Drop for CniBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

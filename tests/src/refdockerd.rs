//! A private reference dockerd (Debian's 20.10, `/usr/sbin/dockerd`) for the differential
//! harness: its own data root, exec root, pidfile, socket and cgroup parent under a temp dir, the
//! containerd it starts itself, and a default bridge of its own (`bdref<k>`, 10.99.<k>.1/24, user
//! networks from 10.<90+k>.0.0/16: away from the 10.100+ slots of berth's test daemons and from
//! the host's routes). No iptables rules, no userland proxy, no ip_forward change. The busybox
//! fixture is imported as busybox:latest, as into every test berthd. Dropping it removes its
//! containers and networks, stops it (SIGTERM, then SIGKILL) and removes its mounts, bridge and
//! cgroups.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use crate::http::{self, Response};
use crate::poll::wait_until;

pub const DOCKERD: &str = "/usr/sbin/dockerd";
const SLOTS: u8 = 9;
const API_TIMEOUT: Duration = Duration::from_secs(60);

pub struct RefDockerd {
    tmp: tempfile::TempDir,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub slot: u8,
    child: Option<Child>,
    _lock: Flock<File>,
    /// How long dockerd took to answer `/_ping`.
    pub startup: Duration,
}

impl RefDockerd {
    /// Whether the reference dockerd is installed.
    pub fn installed() -> bool {
        Path::new(DOCKERD).is_file()
    }

    /// The bridge of slot `k`.
    fn bridge_of(k: u8) -> String {
        format!("bdref{k}")
    }

    pub fn bridge(&self) -> String {
        Self::bridge_of(self.slot)
    }

    /// A /24 for user networks of this dockerd that its pool does not hand out by itself.
    pub fn spare_subnet(&self) -> (String, String) {
        let n = 90 + self.slot;
        (format!("10.{n}.250.0/24"), format!("10.{n}.250"))
    }

    /// Starts dockerd and imports busybox; an error says why it could not.
    pub fn start() -> Result<Self, String> {
        if !Self::installed() {
            return Err(format!(
                "{DOCKERD} is not installed (scripts/install-deps installs docker.io)"
            ));
        }
        let lock_dir = Path::new("/tmp/berth-e2e-net");
        std::fs::create_dir_all(lock_dir).map_err(|e| format!("{}: {e}", lock_dir.display()))?;
        let mut taken = None;
        for k in 0..SLOTS {
            let f = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(lock_dir.join(format!("refdockerd-{k}.lock")))
                .map_err(|e| format!("slot lock: {e}"))?;
            if let Ok(lock) = Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                taken = Some((k, lock));
                break;
            }
        }
        let (slot, lock) = taken.ok_or("every reference dockerd slot is taken")?;
        let tmp = tempfile::Builder::new()
            .prefix("berth-refd-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("temp dir: {e}"))?;
        let dir = tmp.path().to_path_buf();
        let bridge = Self::bridge_of(slot);
        // A previous holder may have crashed: start from a fresh bridge.
        let _ = ip(&["link", "del", &bridge]);
        ip(&["link", "add", "name", &bridge, "type", "bridge"])?;
        ip(&["addr", "add", &format!("10.99.{slot}.1/24"), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        let log = dir.join("dockerd.log");
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| format!("log: {e}"))?;
        let socket = dir.join("d.sock");
        let began = Instant::now();
        let child = Command::new(DOCKERD)
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .args(["--bridge", &bridge])
            .arg(format!(
                "--default-address-pool=base=10.{}.0.0/16,size=24",
                90 + slot
            ))
            .args(["--iptables=false", "--ip6tables=false", "--ip-masq=false"])
            .args(["--ip-forward=false", "--userland-proxy=false"])
            .arg(format!("--cgroup-parent=berth-refd-{slot}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {DOCKERD}: {e}"))?;
        let mut me = Self {
            tmp,
            socket,
            log,
            slot,
            child: Some(child),
            _lock: lock,
            startup: Duration::ZERO,
        };
        let up = wait_until(Duration::from_secs(60), || {
            let alive = me
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
            !alive
                || http::request(
                    &me.socket,
                    "GET",
                    "/_ping",
                    None,
                    b"",
                    Duration::from_secs(2),
                )
                .is_ok_and(|r| r.status == 200)
        });
        me.startup = began.elapsed();
        let alive = me
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)));
        if !up || !alive {
            return Err(format!("dockerd did not answer /_ping:\n{}", me.log_tail()));
        }
        me.import_busybox()?;
        Ok(me)
    }

    /// Starts it for a scenario: None (skipped) only with `BERTH_NO_DOCKERD=1` when dockerd is
    /// not installed; a failure when it is missing otherwise or does not start.
    #[track_caller]
    pub fn start_for_test() -> Option<Self> {
        crate::preflight::require_dockerd()?;
        Some(Self::start().unwrap_or_else(|e| panic!("reference dockerd: {e}")))
    }

    /// `unix://.../d.sock`, for DOCKER_HOST.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Runs the docker CLI against this daemon; its config (where `login` keeps credentials)
    /// lives in the daemon's temp dir.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        self.docker_input(args, None)
    }

    /// As [`Self::docker`], with `input` on stdin (for `login --password-stdin`).
    pub fn docker_input(&self, args: &[&str], input: Option<&str>) -> std::process::Output {
        use std::io::Write;
        let bins = crate::paths::Binaries::locate().unwrap_or_else(|e| panic!("{e}"));
        let mut child = Command::new(&bins.docker)
            .env("DOCKER_CONFIG", self.dir().join("cli"))
            .env("DOCKER_HOST", self.host())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("docker: {e}"));
        let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("docker stdin"));
        if let Some(input) = input {
            stdin
                .write_all(input.as_bytes())
                .unwrap_or_else(|e| panic!("docker stdin: {e}"));
        }
        drop(stdin);
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("docker: {e}"))
    }

    /// Runs docker and returns its stdout; fails the test on a non-zero exit.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The temp dir holding everything of this daemon's.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn import_busybox(&self) -> Result<(), String> {
        let tar_path = crate::daemon::busybox_tar();
        let tar = std::fs::read(&tar_path).map_err(|e| format!("{}: {e}", tar_path.display()))?;
        let path = "/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20%5B%22sh%22%5D";
        let r = http::request(
            &self.socket,
            "POST",
            path,
            Some("application/x-tar"),
            &tar,
            API_TIMEOUT,
        )
        .map_err(|e| e.to_string())?;
        if r.status != 200 || r.text().contains("\"error") {
            return Err(format!(
                "importing busybox into dockerd: {} {}",
                r.status,
                r.text()
            ));
        }
        Ok(())
    }

    /// One API request; None when dockerd cannot be reached.
    pub fn api(&self, method: &str, path: &str, body: &[u8]) -> Option<Response> {
        http::request(
            &self.socket,
            method,
            path,
            Some("application/json"),
            body,
            API_TIMEOUT,
        )
        .ok()
    }

    /// Removes every container, user network and volume (best effort).
    fn clean(&self) {
        if let Some(list) = self
            .api("GET", "/containers/json?all=1", b"")
            .and_then(|r| r.json())
        {
            for c in list.as_array().into_iter().flatten() {
                if let Some(id) = c["Id"].as_str() {
                    let _ = self.api("DELETE", &format!("/containers/{id}?force=1&v=1"), b"");
                }
            }
        }
        if let Some(list) = self.api("GET", "/networks", b"").and_then(|r| r.json()) {
            for n in list.as_array().into_iter().flatten() {
                let name = n["Name"].as_str().unwrap_or_default();
                if !["bridge", "host", "none"].contains(&name) {
                    if let Some(id) = n["Id"].as_str() {
                        let _ = self.api("DELETE", &format!("/networks/{id}"), b"");
                    }
                }
            }
        }
        let _ = self.api("POST", "/volumes/prune", b"");
    }

    /// Stops dockerd and removes what it left on the host.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        self.clean();
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if !wait_until(Duration::from_secs(20), || {
            matches!(child.try_wait(), Ok(Some(_)))
        }) {
            let _ = child.kill();
        }
        let _ = child.wait();
        // dockerd's containerd runs in its own process group; it exits with dockerd, but
        // whatever is left mounted under the roots would keep the temp dir busy.
        for sub in ["exec", "data"] {
            let _ = Command::new("umount")
                .arg("-R")
                .arg("-l")
                .arg(self.dir().join(sub))
                .stderr(Stdio::null())
                .status();
        }
        let _ = ip(&["link", "del", &self.bridge()]);
        // The cgroup parent dockerd made in every v1 hierarchy (or the v2 tree); empty by now.
        let parent = format!("berth-refd-{}", self.slot);
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir(e.path().join(&parent));
            }
        }
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(&parent));
    }
}

impl Drop for RefDockerd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

//! A private berthd for one test: its own data root, exec root and socket under a temp dir,
//! with the busybox fixture imported. Dropping it removes every container, stops the daemon and
//! fails the test if anything was left behind.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cli::{self, Client, Out, Spawned, COMMAND_TIMEOUT};
use crate::http::{self, Response};
use crate::leaks::Leaks;
use crate::paths::{self, Binaries};
use crate::poll::wait_until;

/// How long berthd may take to answer `/_ping` after starting.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long berthd may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a harness API call may take.
const API_TIMEOUT: Duration = Duration::from_secs(30);

/// The image every test can run.
pub const BUSYBOX: &str = "busybox";

pub struct TestDaemon {
    /// Owns the temp dir; removed last.
    tmp: tempfile::TempDir,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub socket: PathBuf,
    pub pidfile: PathBuf,
    /// berthd's stdout and stderr, appended across restarts.
    pub log: PathBuf,
    /// The docker CLI's config dir, so the user's contexts and config cannot interfere.
    docker_config: PathBuf,
    pub bins: Binaries,
    child: Option<Child>,
    started_at: SystemTime,
    /// Ids of every container this daemon has had, for the leak checks.
    seen_ids: Mutex<BTreeSet<String>>,
    /// Flags added to every launch of berthd (see [`TestDaemon::start_with`]).
    extra_args: Vec<String>,
    /// This daemon's bridge, subnet and pool (None against a reference dockerd).
    pub net: Option<crate::netslot::NetSlot>,
    /// `BERTH_FAILPOINT` for the next launch only (see [`TestDaemon::restart_with_failpoint`]).
    failpoint: Option<String>,
    /// `BERTH_INIT` instead of the static build (see [`TestDaemon::restart_with_init`]).
    init_override: Option<PathBuf>,
}

impl TestDaemon {
    /// Starts a daemon with busybox:latest imported. When this machine cannot start berthd
    /// (not root, binaries not built, fixtures missing) the test fails saying why, unless
    /// `BERTH_TEST_SKIP_BLACKBOX=1` is set: then None, after printing `skipped: ...`
    /// (see [`crate::preflight`]).
    #[track_caller]
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// [`TestDaemon::start`] with extra berthd flags; `{dir}` in them names the daemon's temp dir
    /// (for a config file written before the start, say).
    #[track_caller]
    pub fn start_with_setup(extra: &[&str], setup: impl FnOnce(&Path)) -> Option<Self> {
        Self::create(extra, setup)
    }

    /// [`TestDaemon::start`] with extra berthd flags.
    #[track_caller]
    pub fn start_with(extra: &[&str]) -> Option<Self> {
        Self::create(extra, |_| {})
    }

    #[track_caller]
    fn create(extra: &[&str], setup: impl FnOnce(&Path)) -> Option<Self> {
        if !crate::preflight::blackbox_can_run() {
            return None;
        }
        let bins = Binaries::locate().unwrap_or_else(|e| panic!("{e}"));
        let tmp = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("temp dir: {e}"));
        let root = tmp.path().to_path_buf();
        let docker_config = root.join("docker-config");
        if let Err(e) = std::fs::create_dir(&docker_config) {
            panic!("creating {}: {e}", docker_config.display());
        }
        let mut d = Self {
            data_root: root.join("data"),
            exec_root: root.join("exec"),
            socket: root.join("berth.sock"),
            pidfile: root.join("berthd.pid"),
            log: root.join("berthd.log"),
            docker_config,
            bins,
            child: None,
            started_at: SystemTime::now(),
            seen_ids: Mutex::new(BTreeSet::new()),
            extra_args: extra
                .iter()
                .map(|a| a.replace("{dir}", &root.display().to_string()))
                .collect(),
            net: if std::env::var_os("BERTH_TEST_DAEMON").is_some() {
                None
            } else {
                Some(
                    crate::netslot::NetSlot::take()
                        .unwrap_or_else(|| panic!("no free test network slot")),
                )
            },
            failpoint: None,
            init_override: None,
            tmp,
        };
        setup(&root);
        d.launch();
        d.import_busybox();
        Some(d)
    }

    /// [`TestDaemon::start`] with berthd's CRI endpoint on [`TestDaemon::cri_socket`].
    #[track_caller]
    /// Host configurations come from `{dir}/hosts.d` ([`crate::crictl::write_hosts_toml`]), and
    /// busybox is in the CRI's image namespace too ([`crate::crictl::seed_busybox`]).
    pub fn start_with_cri() -> Option<Self> {
        let d = Self::start_with(&[
            "--cri-socket",
            "{dir}/cri.sock",
            "--registry-config-dir",
            "{dir}/hosts.d",
        ])?;
        crate::crictl::seed_busybox(&d);
        Some(d)
    }

    /// [`TestDaemon::start_with_cri`] with CNI: configurations in `{dir}/net.d` (see
    /// [`crate::crictl::CniBridge`]), plugins in `{dir}/<plugins>` (a directory without them
    /// makes berthd fall back to the system's, `/usr/lib/cni`).
    #[track_caller]
    pub fn start_with_cni(plugins: &str) -> Option<Self> {
        let plugins = format!("{{dir}}/{plugins}");
        let d = Self::start_with(&[
            "--cri-socket",
            "{dir}/cri.sock",
            "--registry-config-dir",
            "{dir}/hosts.d",
            "--cni-conf-dir",
            "{dir}/net.d",
            "--cni-bin-dir",
            &plugins,
        ])?;
        crate::crictl::seed_busybox(&d);
        Some(d)
    }

    /// The CRI socket of a daemon from [`TestDaemon::start_with_cri`].
    pub fn cri_socket(&self) -> PathBuf {
        self.dir().join("cri.sock")
    }

    /// `unix:///.../berth.sock`
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The temp dir holding everything of this daemon's.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn berthd_args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-root".to_string(),
            self.data_root.display().to_string(),
            "--exec-root".into(),
            self.exec_root.display().to_string(),
            "-H".into(),
            self.host(),
            "--pidfile".into(),
            self.pidfile.display().to_string(),
        ];
        if let Some(slot) = &self.net {
            let given = |f: &str| {
                self.extra_args
                    .iter()
                    .any(|a| a == f || a.starts_with(&format!("{f}=")))
            };
            if !given("--bridge") && !given("-b") {
                args.extend(slot.daemon_args());
            }
        }
        // berthd serves the CRI on <exec-root>/cri.sock unless told otherwise: off for tests, which
        // ask for a socket of their own with `--cri-socket` (see [`TestDaemon::start_with_cri`]).
        if std::env::var_os("BERTH_TEST_DAEMON").is_none()
            && !self
                .extra_args
                .iter()
                .any(|a| a == "--cri-socket" || a.starts_with("--cri-socket="))
            && !self.config_file_sets("cri-socket")
        {
            args.push("--cri-socket=".into());
        }
        args.extend(self.extra_args.iter().cloned());
        // Extra daemon flags, e.g. `--bridge=none --iptables=false` for a reference dockerd.
        if let Ok(extra) = std::env::var("BERTH_TEST_DAEMON_ARGS") {
            args.extend(extra.split_whitespace().map(str::to_string));
        }
        args
    }

    /// Whether the `--config-file` among the extra flags has the daemon.json key `key`.
    fn config_file_sets(&self, key: &str) -> bool {
        let Some(i) = self.extra_args.iter().position(|a| a == "--config-file") else {
            return false;
        };
        let Some(path) = self.extra_args.get(i + 1) else {
            return false;
        };
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v.get(key).is_some())
    }

    /// Runs a second berthd with this one's data root but its own socket, exec root and pidfile,
    /// and returns how it ended (it should refuse to start).
    pub fn second_daemon_on_same_data_root(&self) -> crate::cli::Out {
        let other = self.dir().join("second");
        let mut cmd = Command::new(&self.bins.berthd);
        cmd.args(["--data-root", &self.data_root.display().to_string()])
            .args(["--exec-root", &other.join("exec").display().to_string()])
            .args(["-H", &format!("unix://{}", other.join("b.sock").display())])
            .args(["--pidfile", &other.join("pid").display().to_string()]);
        crate::cli::run(cmd, None, Duration::from_secs(20))
    }

    #[track_caller]
    fn launch(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.log.display()));
        let log_err = log.try_clone().unwrap_or_else(|e| panic!("dup log: {e}"));
        let mut cmd = Command::new(&self.bins.berthd);
        cmd.args(self.berthd_args());
        // berthd runs the init named by BERTH_INIT for `--init`; it must be the static build
        // (busybox has no libc), not the dynamic one cargo leaves beside berthd.
        if let Some(init) = static_init() {
            cmd.env("BERTH_INIT", init);
        }
        if let Some(init) = &self.init_override {
            cmd.env("BERTH_INIT", init);
        }
        if let Some(point) = self.failpoint.take() {
            cmd.env("BERTH_FAILPOINT", point);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.bins.berthd.display()));
        self.child = Some(child);
        let up = wait_until(START_TIMEOUT, || {
            self.ping().is_some_and(|r| r.status == 200) || !self.daemon_running()
        });
        if !up || !self.daemon_running() {
            panic!("berthd did not answer /_ping on {} within {START_TIMEOUT:?}\n--- berthd log ---\n{}", self.socket.display(), self.log_tail());
        }
    }

    /// The last lines of berthd's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Whether the berthd this harness started is still running.
    pub fn daemon_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// GET /_ping; None when nothing answers.
    pub fn ping(&self) -> Option<Response> {
        http::request(
            &self.socket,
            "GET",
            "/_ping",
            None,
            b"",
            Duration::from_secs(2),
        )
        .ok()
    }

    /// Sends a raw API request; fails the test when the daemon cannot be reached.
    #[track_caller]
    pub fn api(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Response {
        http::request(&self.socket, method, path, content_type, body, API_TIMEOUT).unwrap_or_else(
            |e| {
                panic!(
                    "{method} {path}: {e}\n--- berthd log ---\n{}",
                    self.log_tail()
                )
            },
        )
    }

    #[track_caller]
    fn import_busybox(&self) {
        let tar_path = busybox_tar();
        let tar = std::fs::read(&tar_path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", tar_path.display()));
        // changes=CMD ["sh"]
        let path = "/images/create?fromSrc=-&repo=busybox&tag=latest&changes=CMD%20%5B%22sh%22%5D";
        let r = self.api("POST", path, Some("application/x-tar"), &tar);
        let body = r.text();
        if r.status != 200 || body.contains("\"error") {
            panic!(
                "importing {} as busybox:latest: {} {body}\n--- berthd log ---\n{}",
                tar_path.display(),
                r.status,
                self.log_tail()
            );
        }
    }

    /// A client command with DOCKER_HOST pointing at this daemon.
    #[track_caller]
    pub fn command(&self, client: Client) -> Command {
        let mut cmd = Command::new(
            self.bins
                .client_path(client)
                .unwrap_or_else(|e| panic!("{e}")),
        );
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_API_VERSION");
        cmd
    }

    /// Runs `client args...` to completion (stdin /dev/null).
    #[track_caller]
    pub fn run(&self, client: Client, args: &[&str]) -> Out {
        let mut cmd = self.command(client);
        cmd.args(args);
        cli::run(cmd, None, COMMAND_TIMEOUT)
    }

    /// Runs `client args...` with `input` on stdin.
    #[track_caller]
    pub fn run_with_input(&self, client: Client, args: &[&str], input: &[u8]) -> Out {
        let mut cmd = self.command(client);
        cmd.args(args);
        cli::run(cmd, Some(input), COMMAND_TIMEOUT)
    }

    /// `docker args...` against this daemon.
    #[track_caller]
    pub fn docker(&self, args: &[&str]) -> Out {
        self.run(Client::Docker, args)
    }

    /// `berth args...` against this daemon.
    #[track_caller]
    pub fn berth(&self, args: &[&str]) -> Out {
        self.run(Client::Berth, args)
    }

    /// Starts `client args...` in the background, stdin piped.
    #[track_caller]
    pub fn spawn(&self, client: Client, args: &[&str]) -> Spawned {
        let mut cmd = self.command(client);
        cmd.args(args).stdin(Stdio::piped());
        Spawned::spawn(cmd).unwrap_or_else(|e| panic!("starting {} {args:?}: {e}", client.name()))
    }

    /// Starts `client args...` on a pseudo-terminal (for `-it`).
    #[track_caller]
    pub fn pty(&self, client: Client, args: &[&str]) -> Spawned {
        let program = self
            .bins
            .client_path(client)
            .unwrap_or_else(|e| panic!("{e}"));
        let host = self.host();
        let config = self.docker_config.display().to_string();
        crate::pty::spawn(
            program,
            args,
            &[("DOCKER_HOST", &host), ("DOCKER_CONFIG", &config)],
        )
        .unwrap_or_else(|e| panic!("starting script(1) for {} {args:?}: {e}", client.name()))
    }

    /// `inspect -f <format> <name>`, which must succeed; its output trimmed.
    #[track_caller]
    pub fn inspect(&self, client: Client, name: &str, format: &str) -> String {
        self.run(client, &["inspect", "-f", format, name])
            .success()
            .out()
            .to_string()
    }

    /// The running berthd's pid.
    pub fn berthd_pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// Every container id this daemon has had (listed now, or named by an event), for leak
    /// accounting.
    pub fn known_ids(&self) -> Vec<String> {
        self.harvest_ids();
        self.seen_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// SIGKILLs berthd (its containers keep running under their shims).
    pub fn kill9(&mut self) {
        self.harvest_ids();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts berthd again on the same roots and waits for it to answer.
    #[track_caller]
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Starts berthd again after [`TestDaemon::stop`] or [`TestDaemon::kill9`], on the same
    /// roots, and waits for it to answer.
    #[track_caller]
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "berthd is still running");
        self.launch();
    }

    /// Restarts berthd with `BERTH_FAILPOINT=point` (debug builds of berthd SIGKILL
    /// themselves on reaching that point; the next launch runs without it).
    #[track_caller]
    pub fn restart_with_failpoint(&mut self, point: &str) {
        self.stop();
        self.failpoint = Some(point.to_string());
        self.launch();
    }

    /// Restarts berthd (and its later launches) with `BERTH_INIT=init`.
    #[track_caller]
    pub fn restart_with_init(&mut self, init: &Path) {
        self.stop();
        self.init_override = Some(init.to_path_buf());
        self.launch();
    }

    /// Waits until berthd has died on its own (a failpoint); false if it still runs.
    pub fn wait_for_daemon_death(&mut self, timeout: Duration) -> bool {
        wait_until(timeout, || !self.daemon_running())
    }

    /// SIGKILLs berthd and starts it again: the reconnect scenario.
    #[track_caller]
    pub fn kill9_and_restart(&mut self) {
        self.kill9();
        self.launch();
    }

    /// Stops berthd: SIGTERM, then SIGKILL after a grace period. Returns whether it exited on
    /// SIGTERM.
    pub fn stop(&mut self) -> bool {
        if self.daemon_running() {
            self.harvest_ids();
        }
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let graceful = wait_until(STOP_TIMEOUT, || matches!(child.try_wait(), Ok(Some(_))));
        if !graceful {
            let _ = child.kill();
        }
        let _ = child.wait();
        graceful
    }

    /// Records the ids of every container the daemon knows now or has reported events for.
    fn harvest_ids(&self) {
        let mut found = Vec::new();
        if let Ok(r) = http::request(
            &self.socket,
            "GET",
            "/containers/json?all=1",
            None,
            b"",
            Duration::from_secs(10),
        ) {
            if let Some(serde_json::Value::Array(list)) = r.json() {
                found.extend(
                    list.iter()
                        .filter_map(|c| c["Id"].as_str().map(str::to_string)),
                );
            }
        }
        let since = self
            .started_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // A fractional `until` already past: the daemon answers at once instead of waiting for
        // the next whole second.
        let until = crate::host::unix_now_fraction();
        // filters={"type":["container"]}
        let path = format!(
            "/events?since={since}&until={until}&filters=%7B%22type%22%3A%5B%22container%22%5D%7D"
        );
        if let Ok(r) = http::request(
            &self.socket,
            "GET",
            &path,
            None,
            b"",
            Duration::from_secs(5),
        ) {
            let text = r.text();
            let events = serde_json::Deserializer::from_str(&text)
                .into_iter::<serde_json::Value>()
                .flatten();
            found.extend(events.filter_map(|e| {
                e["Actor"]["ID"]
                    .as_str()
                    .or(e["id"].as_str())
                    .map(str::to_string)
            }));
        }
        let mut seen = self.seen_ids.lock().unwrap_or_else(|p| p.into_inner());
        seen.extend(found.into_iter().filter(|id| id.len() == 64));
    }

    /// Force-removes every container; returns the ids it could not remove.
    fn remove_all_containers(&self) -> Vec<String> {
        let list = |d: &Self| -> Vec<String> {
            match http::request(
                &d.socket,
                "GET",
                "/containers/json?all=1",
                None,
                b"",
                API_TIMEOUT,
            )
            .ok()
            .and_then(|r| r.json())
            {
                Some(serde_json::Value::Array(list)) => list
                    .iter()
                    .filter_map(|c| c["Id"].as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            }
        };
        for id in list(self) {
            let _ = http::request(
                &self.socket,
                "DELETE",
                &format!("/containers/{id}?force=1&v=1"),
                None,
                b"",
                API_TIMEOUT,
            );
        }
        list(self)
    }

    /// Everything wrong with the state after the daemon stopped.
    fn teardown(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        // A test may have stopped or killed the daemon; containers outlive it, so bring it back
        // to remove them.
        if !self.daemon_running() {
            let args = self.berthd_args();
            let relaunched =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.launch()));
            if relaunched.is_err() {
                problems.push(format!("berthd {args:?} did not come back up for cleanup"));
            }
        }
        let mut bridges = Vec::new();
        if self.daemon_running() {
            self.harvest_ids();
            let left = self.remove_all_containers();
            if !left.is_empty() {
                problems.push(format!("containers still listed after rm -f: {left:?}"));
            }
            problems.extend(self.remove_all_networks(&mut bridges));
            self.harvest_ids();
            if !self.stop() {
                problems.push(format!(
                    "berthd did not exit within {STOP_TIMEOUT:?} of SIGTERM"
                ));
            }
        }
        let ids: Vec<String> = self
            .seen_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        // Shims exit just after the removal returns; give them a moment.
        let mut leaks = Leaks::find(self.dir(), &ids);
        if !leaks.is_empty() {
            wait_until(Duration::from_secs(5), || {
                leaks = Leaks::find(self.dir(), &ids);
                leaks.is_empty()
            });
        }
        if !leaks.is_empty() {
            problems.push(leaks.to_string());
            leaks.clean_up();
        }
        problems.extend(self.network_leaks(&bridges));
        problems
    }

    /// Removes every network the test made; returns what went wrong. `bridges` gets the Linux
    /// bridge of every bridge network the daemon had.
    fn remove_all_networks(&self, bridges: &mut Vec<String>) -> Vec<String> {
        let mut problems = Vec::new();
        let Some(serde_json::Value::Array(list)) =
            http::request(&self.socket, "GET", "/networks", None, b"", API_TIMEOUT)
                .ok()
                .and_then(|r| r.json())
        else {
            return problems;
        };
        for n in &list {
            if n["Driver"] != "bridge" {
                continue;
            }
            let id = n["Id"].as_str().unwrap_or_default();
            let bridge = n["Options"]["com.docker.network.bridge.name"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("br-{}", &id[..12.min(id.len())]));
            bridges.push(bridge);
            if n["Name"] == "bridge" {
                continue;
            }
            let r = http::request(
                &self.socket,
                "DELETE",
                &format!("/networks/{id}"),
                None,
                b"",
                API_TIMEOUT,
            );
            if !r.as_ref().is_ok_and(|r| r.status == 204) {
                problems.push(format!(
                    "network {} could not be removed: {:?}",
                    n["Name"],
                    r.map(|r| r.text())
                ));
            }
        }
        problems
    }

    /// veths left on the daemon's bridges, user bridges left on the host, published-port rules
    /// left in its table; then the slot's bridge and table go.
    fn network_leaks(&self, bridges: &[String]) -> Vec<String> {
        let Some(slot) = &self.net else {
            return Vec::new();
        };
        let mut problems = Vec::new();
        for b in bridges {
            let ports = crate::netslot::NetSlot::ports_of(b);
            if !ports.is_empty() {
                problems.push(format!("veths left on bridge {b}: {ports:?}"));
            }
            if *b != slot.bridge() && crate::netslot::NetSlot::link_exists(b) {
                problems.push(format!("bridge {b} left after its network was removed"));
                let _ = Command::new("ip").args(["link", "del", b]).output();
            }
        }
        let table = slot.table_listing();
        if table.contains("dnat to") {
            problems.push(format!(
                "published-port rules left in table {}:\n{table}",
                slot.table()
            ));
        }
        slot.remove_host_state();
        problems
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        let problems = self.teardown();
        if problems.is_empty() {
            return;
        }
        let report = format!(
            "berthd left things behind:\n{}\n--- berthd log ---\n{}",
            problems.join("\n"),
            self.log_tail()
        );
        if std::thread::panicking() {
            eprintln!("{report}");
        } else {
            panic!("{report}");
        }
    }
}

/// The static `berth-init`: $BERTH_TEST_INIT (scripts/test sets it from scripts/build-init),
/// else target/release/berth-init when it exists.
pub fn static_init() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_TEST_INIT") {
        return Some(PathBuf::from(p));
    }
    let release = paths::profile_dir()
        .ok()?
        .parent()?
        .join("release")
        .join("berth-init");
    release.is_file().then_some(release)
}

/// The busybox rootfs tarball: $BERTH_TEST_BUSYBOX_TAR, else made by scripts/make-busybox-image.
pub fn busybox_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        if let Some(p) = std::env::var_os("BERTH_TEST_BUSYBOX_TAR") {
            return PathBuf::from(p);
        }
        let script = paths::repo_root().join("scripts/make-busybox-image");
        let out = cli::run(Command::new(&script), None, Duration::from_secs(120));
        out.success();
        PathBuf::from(out.out().lines().last().unwrap_or_default())
    })
    .clone()
}

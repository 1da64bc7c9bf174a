//! The steps scenarios repeat, as methods of [`TestDaemon`]: one copy each.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::Client;
use crate::daemon::{TestDaemon, BUSYBOX};
use crate::host::SETTLE;
use crate::poll::{unique_name, wait_until};

impl TestDaemon {
    /// `run -d args...`, which must succeed; the new container's full id (64 hex digits).
    #[track_caller]
    pub fn run_detached(&self, c: Client, args: &[&str]) -> String {
        let mut all = vec!["run", "-d"];
        all.extend_from_slice(args);
        let out = self.run(c, &all);
        out.success();
        let id = out.out().lines().last().unwrap_or_default().to_string();
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "not a container id: {out}"
        );
        id
    }

    /// `run -d --name <name> --network none busybox cmd...`: a container with no network
    /// (nothing to set up, nothing to leak); its full id.
    #[track_caller]
    pub fn run_offline(&self, c: Client, name: &str, cmd: &[&str]) -> String {
        let mut args = vec!["--name", name, "--network", "none", BUSYBOX];
        args.extend_from_slice(cmd);
        self.run_detached(c, &args)
    }

    /// `<client> compose --progress plain -p <project>`, to run in the project directory `dir`:
    /// the classic builder, no colours, and none of the caller's `COMPOSE_*` settings.
    pub fn compose_command(&self, client: Client, dir: &Path, project: &str) -> Command {
        let mut cmd = self.command(client);
        cmd.current_dir(dir)
            .env("DOCKER_BUILDKIT", "0")
            .env("COMPOSE_ANSI", "never")
            .env("COMPOSE_STATUS_STDOUT", "0")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROFILES")
            .env_remove("COMPOSE_ENV_FILES")
            .args(["compose", "--progress", "plain", "-p", project]);
        cmd
    }

    /// [`TestDaemon::run_detached`], then waits until the container runs.
    #[track_caller]
    pub fn run_detached_running(&self, c: Client, args: &[&str]) -> String {
        let id = self.run_detached(c, args);
        self.wait_for_inspect(c, &id, "{{.State.Running}}", "true");
        id
    }

    /// Waits until `logs <name>` prints `needle` on stdout.
    #[track_caller]
    pub fn wait_for_log(&self, c: Client, name: &str, needle: &str) {
        let found = wait_until(SETTLE, || {
            self.run(c, &["logs", name]).stdout.contains(needle)
        });
        assert!(
            found,
            "{needle:?} never appeared in the logs of {name}: {}",
            self.run(c, &["logs", name])
        );
    }

    /// Waits until `inspect -f <format> <name>` (which must succeed every time) prints `want`.
    #[track_caller]
    pub fn wait_for_inspect(&self, c: Client, name: &str, format: &str, want: &str) {
        let ok = wait_until(SETTLE, || self.inspect(c, name, format) == want);
        assert!(
            ok,
            "{name}: {format} never became {want:?}; it is {:?}",
            self.inspect(c, name, format)
        );
    }

    /// `ps <args> --format {{.Names}}`, which must succeed, as a list.
    #[track_caller]
    pub fn ps_names(&self, c: Client, args: &[&str]) -> Vec<String> {
        let mut all = vec!["ps"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "{{.Names}}"]);
        self.run(c, &all)
            .success()
            .lines()
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// `GET /containers/<name>/json`, which must answer 200; the container as JSON.
    #[track_caller]
    pub fn inspect_json(&self, name: &str) -> serde_json::Value {
        let r = self.api("GET", &format!("/containers/{name}/json"), None, b"");
        assert_eq!(r.status, 200, "inspecting {name}: {}", r.text());
        r.json()
            .unwrap_or_else(|| panic!("inspecting {name}: not JSON: {}", r.text()))
    }

    /// `GET /berth/check` (`berth system check`), which must answer 200 with a `Problems`
    /// list; each problem as an `"<object>: <problem>"` line.
    #[track_caller]
    pub fn check_problems(&self) -> Vec<String> {
        let r = self.api("GET", "/berth/check", None, b"");
        assert_eq!(r.status, 200, "{}", r.text());
        let problems = r
            .json()
            .and_then(|j| j["Problems"].as_array().cloned())
            .unwrap_or_else(|| panic!("no Problems in {}", r.text()));
        problems
            .iter()
            .map(|p| {
                format!(
                    "{}: {}",
                    p["Object"].as_str().unwrap_or_default(),
                    p["Problem"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }

    /// The names of the daemon's volumes (`GET /volumes`, which must answer 200).
    #[track_caller]
    pub fn volume_names(&self) -> Vec<String> {
        let r = self.api("GET", "/volumes", None, b"");
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r
            .json()
            .unwrap_or_else(|| panic!("GET /volumes: not JSON: {}", r.text()));
        v["Volumes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v["Name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A fresh directory under this daemon's temp dir for one scenario's host-side files.
    #[track_caller]
    pub fn host_dir(&self, what: &str) -> PathBuf {
        let dir = self.dir().join(unique_name(what));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        dir
    }
}

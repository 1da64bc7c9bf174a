//! The steps scenarios repeat, as methods of [`TestDaemon`]: one copy each.

use std::path::PathBuf;

use crate::cli::Client;
use crate::daemon::TestDaemon;
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

    /// A fresh directory under this daemon's temp dir for one scenario's host-side files.
    #[track_caller]
    pub fn host_dir(&self, what: &str) -> PathBuf {
        let dir = self.dir().join(unique_name(what));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        dir
    }
}

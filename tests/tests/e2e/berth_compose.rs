//! `berth compose` against a private berthd: every command through berth's own Compose
//! (crates/berth-compose's engine), checked against the daemon's state with the docker CLI.
//! Services use the busybox fixture only; nothing is pulled.
//!
//! The interoperability scenarios with the real `docker compose` are in
//! berth_compose_interop.rs, which shares [`Proj`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use berth_tests::cli;
use berth_tests::Out;

use super::*;

/// How long one compose command may take (a build, or waiting for health).
pub const COMPOSE_TIMEOUT: Duration = Duration::from_secs(120);

/// A project directory and a daemon of its own. Dropping it runs `berth compose down -v`.
pub struct Proj {
    pub name: String,
    pub dir: PathBuf,
    pub d: TestDaemon,
}

impl Proj {
    pub fn start(what: &str, files: &[(&str, &str)]) -> Option<Self> {
        let d = TestDaemon::start()?;
        let name = unique_name(what);
        let dir = d.dir().join("project");
        let p = Self { name, dir, d };
        for (path, text) in files {
            p.write(path, text);
        }
        Some(p)
    }

    pub fn write(&self, path: &str, text: &str) {
        let path = self.dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    pub fn base(&self, client: Client) -> Command {
        self.d.compose_command(client, &self.dir, &self.name)
    }

    /// `berth compose -p <name> <args>` in the project directory.
    #[track_caller]
    pub fn berth(&self, args: &[&str]) -> Out {
        let mut cmd = self.base(Client::Berth);
        cmd.args(args);
        cli::run(cmd, None, COMPOSE_TIMEOUT)
    }

    /// The real `docker compose -p <name> <args>`.
    #[track_caller]
    pub fn docker_compose(&self, args: &[&str]) -> Out {
        let mut cmd = self.base(Client::Docker);
        cmd.args(args);
        cli::run(cmd, None, COMPOSE_TIMEOUT)
    }

    #[track_caller]
    pub fn docker(&self, args: &[&str]) -> Out {
        self.d.docker(args)
    }

    pub fn container(&self, service: &str, n: u32) -> String {
        format!("{}-{service}-{n}", self.name)
    }

    pub fn scoped(&self, name: &str) -> String {
        format!("{}_{name}", self.name)
    }

    #[track_caller]
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.d.inspect(Client::Docker, name, format)
    }

    /// name → ID of every container of the project (any state).
    #[track_caller]
    pub fn ids(&self) -> BTreeMap<String, String> {
        let out = self.docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
            "--format",
            "{{.Names}} {{.ID}}",
        ]);
        out.success()
            .lines()
            .iter()
            .filter_map(|l| l.split_once(' '))
            .map(|(n, i)| (n.to_string(), i.to_string()))
            .collect()
    }

    /// A container's labels.
    #[track_caller]
    pub fn labels(&self, name: &str) -> BTreeMap<String, String> {
        let raw = self.inspect(name, "{{json .Config.Labels}}");
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}"))
    }

    /// `ps --format json` rows, by name.
    #[track_caller]
    pub fn ps_json(&self, out: &Out) -> BTreeMap<String, serde_json::Value> {
        out.success()
            .lines()
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
            })
            .map(|v| (v["Name"].as_str().unwrap_or_default().to_string(), v))
            .collect()
    }
}

impl Drop for Proj {
    fn drop(&mut self) {
        let mut cmd = self.base(Client::Berth);
        cmd.args(["down", "-v", "--remove-orphans", "-t", "0"]);
        let _ = cli::run(cmd, None, COMPOSE_TIMEOUT);
    }
}

const TWO_SERVICES: &str = r#"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo web says hello; exec sleep 300"]
    labels:
      tier: front
    volumes: ["data:/data"]
    networks: [front, back]
    depends_on: [worker]
  worker:
    image: busybox
    command: ["sh", "-c", "echo worker ready; exec sleep 300"]
    networks: [back]
volumes:
  data: {}
networks:
  front: {}
  back: {}
"#;

#[test]
fn up_ps_logs_down_with_compose_labels() {
    let Some(p) = Proj::start("bcup", &[("compose.yaml", TWO_SERVICES)]) else {
        return;
    };
    let up = p.berth(&["up", "-d"]);
    up.success();
    for line in [
        format!(" Network {}  Created", p.scoped("front")),
        format!(" Network {}  Created", p.scoped("back")),
        format!(" Volume {}  Created", p.scoped("data")),
        format!(" Container {}  Created", p.container("worker", 1)),
        format!(" Container {}  Started", p.container("web", 1)),
    ] {
        up.stderr_has(&line);
    }
    // Dependencies are started first.
    let started = |s: &str| {
        up.stderr
            .find(&format!(" Container {}  Started", p.container(s, 1)))
            .unwrap_or_else(|| panic!("{up}"))
    };
    assert!(started("worker") < started("web"), "{up}");

    let rows = p.ps_json(&p.berth(&["ps", "--format", "json"]));
    let web = &rows[&p.container("web", 1)];
    assert_eq!(web["Service"], "web");
    assert_eq!(web["State"], "running");
    assert_eq!(web["Project"], p.name.as_str());
    assert_eq!(rows[&p.container("worker", 1)]["Service"], "worker");
    let table = p.berth(&["ps"]);
    table
        .success()
        .stdout_has("NAME")
        .stdout_has("SERVICE")
        .stdout_has(&p.container("web", 1));
    assert_eq!(
        p.berth(&["ps", "--services"]).success().lines(),
        ["web", "worker"]
    );
    assert_eq!(p.berth(&["ps", "-q"]).success().lines().len(), 2);

    let l = p.labels(&p.container("web", 1));
    let dir = std::fs::canonicalize(&p.dir).unwrap_or(p.dir.clone());
    assert_eq!(l["com.docker.compose.project"], p.name);
    assert_eq!(l["com.docker.compose.service"], "web");
    assert_eq!(l["com.docker.compose.container-number"], "1");
    assert_eq!(l["com.docker.compose.oneoff"], "False");
    assert_eq!(
        l["com.docker.compose.depends_on"],
        "worker:service_started:false"
    );
    assert_eq!(l["com.docker.compose.version"], "2.40.3");
    assert_eq!(
        l["com.docker.compose.project.working_dir"],
        dir.display().to_string()
    );
    assert_eq!(
        l["com.docker.compose.project.config_files"],
        dir.join("compose.yaml").display().to_string()
    );
    assert_eq!(l["com.docker.compose.config-hash"].len(), 64);
    assert!(
        l["com.docker.compose.image"].starts_with("sha256:"),
        "{l:?}"
    );
    assert_eq!(l["tier"], "front");
    assert_eq!(
        p.inspect(
            &p.scoped("front"),
            "{{index .Labels \"com.docker.compose.network\"}}"
        ),
        "front"
    );
    assert_eq!(
        p.d.run(
            Client::Docker,
            &[
                "volume",
                "inspect",
                "-f",
                "{{index .Labels \"com.docker.compose.volume\"}}",
                &p.scoped("data")
            ]
        )
        .success()
        .out(),
        "data"
    );
    // web reaches worker by service name on their shared network.
    let ping = p.berth(&["exec", "-T", "web", "ping", "-c", "1", "-W", "2", "worker"]);
    ping.success();

    assert!(
        wait_until(SETTLE, || p
            .berth(&["logs", "worker"])
            .stdout
            .contains("worker ready")),
        "{}",
        p.berth(&["logs", "worker"])
    );
    let all = p.berth(&["logs", "--no-color"]);
    let lines = all.success().lines();
    for (prefix, text) in [("web-1 ", "web says hello"), ("worker-1 ", "worker ready")] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(prefix) && l.contains(" | ") && l.ends_with(text)),
            "{all}"
        );
    }
    let bare = p.berth(&["logs", "--no-log-prefix", "web"]);
    assert_eq!(bare.success().out(), "web says hello", "{bare}");
    let ls = p.berth(&["ls"]);
    ls.success().stdout_has(&p.name).stdout_has("running(2)");

    let down = p.berth(&["down", "-v", "-t", "1"]);
    down.success()
        .stderr_has(&format!(" Container {}  Removed", p.container("web", 1)))
        .stderr_has(&format!(" Network {}  Removed", p.scoped("back")))
        .stderr_has(&format!(" Volume {}  Removed", p.scoped("data")));
    assert!(p.ids().is_empty());
    p.docker(&["network", "inspect", &p.scoped("front")])
        .code_is(1);
    p.docker(&["volume", "inspect", &p.scoped("data")])
        .code_is(1);
}

#[test]
fn second_up_recreates_only_changed_services() {
    let Some(p) = Proj::start("bcrec", &[("compose.yaml", TWO_SERVICES)]) else {
        return;
    };
    p.berth(&["up", "-d"]).success();
    let first = p.ids();
    assert_eq!(first.len(), 2);
    let again = p.berth(&["up", "-d"]);
    again
        .success()
        .stderr_has(&format!(" Container {}  Running", p.container("web", 1)));
    assert!(!again.stderr.contains("Recreate"), "{again}");
    assert_eq!(p.ids(), first, "a no-change up recreated something");

    p.write(
        "compose.yaml",
        &TWO_SERVICES.replace("worker ready", "worker ready v2"),
    );
    let changed = p.berth(&["up", "-d"]);
    changed.success().stderr_has(&format!(
        " Container {}  Recreated",
        p.container("worker", 1)
    ));
    let second = p.ids();
    let worker = p.container("worker", 1);
    let web = p.container("web", 1);
    assert_ne!(
        second[&worker], first[&worker],
        "the changed service was not recreated"
    );
    assert_eq!(
        second[&web], first[&web],
        "an unchanged service was recreated"
    );
    assert_eq!(p.inspect(&worker, "{{.State.Status}}"), "running");

    // --no-recreate keeps a diverged container, --force-recreate replaces unchanged ones.
    p.write(
        "compose.yaml",
        &TWO_SERVICES.replace("worker ready", "worker ready v3"),
    );
    p.berth(&["up", "-d", "--no-recreate"]).success();
    assert_eq!(p.ids(), second);
    p.berth(&["up", "-d", "--force-recreate", "web"]).success();
    let third = p.ids();
    assert_ne!(third[&web], second[&web]);
    assert_eq!(third.len(), 2);
}

#[test]
fn depends_on_conditions() {
    let yaml = r#"
services:
  db:
    image: busybox
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 300"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 30
  init:
    image: busybox
    command: ["sh", "-c", "exit ${INIT_CODE:-0}"]
  web:
    image: busybox
    command: ["sleep", "300"]
    depends_on:
      db:
        condition: service_healthy
      init:
        condition: service_completed_successfully
"#;
    let Some(p) = Proj::start("bcdep", &[("compose.yaml", yaml)]) else {
        return;
    };
    let up = p.berth(&["up", "-d"]);
    up.success()
        .stderr_has(&format!(" Container {}  Healthy", p.container("db", 1)))
        .stderr_has(&format!(" Container {}  Exited", p.container("init", 1)));
    assert_eq!(
        p.inspect(&p.container("db", 1), "{{.State.Health.Status}}"),
        "healthy"
    );
    assert_eq!(
        p.inspect(&p.container("web", 1), "{{.State.Status}}"),
        "running"
    );
    p.berth(&["down", "-t", "0"]).success();

    // A dependency that fails stops the dependent from starting, with compose's message.
    let mut cmd = p.base(Client::Berth);
    cmd.env("INIT_CODE", "3").args(["up", "-d"]);
    let failed = cli::run(cmd, None, COMPOSE_TIMEOUT);
    failed
        .code_is(1)
        .stderr_has("service \"init\" didn't complete successfully: exit 3");
    assert_eq!(
        p.inspect(&p.container("web", 1), "{{.State.Status}}"),
        "created"
    );
}

const HOSTNAME_SERVER: &str = r#"["nc", "-ll", "-p", "80", "-e", "hostname"]"#;

#[test]
fn exec_run_port_and_scale() {
    let yaml = format!(
        r#"
services:
  web:
    image: busybox
    command: {HOSTNAME_SERVER}
    ports: ["80"]
    environment:
      FROM_FILE: "yes"
  tool:
    image: busybox
    environment:
      FROM_FILE: "yes"
    profiles: [tools]
"#
    );
    let Some(p) = Proj::start("bcexec", &[("compose.yaml", &yaml)]) else {
        return;
    };
    p.berth(&["up", "-d", "--scale", "web=2"]).success();
    assert_eq!(p.ids().len(), 2);
    for n in 1..=2u32 {
        let name = p.container("web", n);
        let hostname = p.inspect(&name, "{{.Config.Hostname}}");
        let out = p.berth(&["exec", "-T", "--index", &n.to_string(), "web", "hostname"]);
        assert_eq!(out.success().out(), hostname, "{out}");
        let printed = p.berth(&["port", "--index", &n.to_string(), "web", "80"]);
        let want = p.inspect(
            &name,
            "{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}",
        );
        assert!(
            printed.success().out().ends_with(&format!(":{want}")),
            "{printed}"
        );
    }
    let env = p.berth(&[
        "exec",
        "-T",
        "-e",
        "EXTRA=2",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "web",
        "sh",
        "-c",
        "echo $FROM_FILE $EXTRA $(pwd) $(id -un)",
    ]);
    assert_eq!(env.success().out(), "yes 2 /tmp nobody", "{env}");
    p.berth(&["exec", "-T", "web", "sh", "-c", "exit 7"])
        .code_is(7);

    // run --rm: the command's code, the service's environment, nothing left.
    let before = p.ids();
    super::compose::run_rm_keeps_the_code_and_the_environment(|args| p.berth(args));
    assert_eq!(p.ids(), before, "run --rm left a container");
    // run -d: a one-off container, labelled so.
    let d = p.berth(&["run", "-d", "--name", "oneoff-x", "tool", "sleep", "300"]);
    assert_eq!(d.success().out(), "oneoff-x");
    let l = p.labels("oneoff-x");
    assert_eq!(l["com.docker.compose.oneoff"], "True");
    assert_eq!(l["com.docker.compose.service"], "tool");
    // Not a service container for ps; shown with -a.
    assert!(!p.berth(&["ps"]).stdout.contains("oneoff-x"));
    p.berth(&["ps", "-a"]).success().stdout_has("oneoff-x");
    // --entrypoint and -v.
    p.write("data/hello.txt", "from the host\n");
    let v = p.berth(&[
        "run",
        "--rm",
        "-T",
        "-v",
        "./data:/mnt:ro",
        "--entrypoint",
        "cat",
        "tool",
        "/mnt/hello.txt",
    ]);
    assert_eq!(v.success().out(), "from the host", "{v}");

    // scale down removes the highest replicas.
    p.berth(&["scale", "web=1"]).success();
    let ids = p.ids();
    assert!(
        ids.contains_key(&p.container("web", 1)) && !ids.contains_key(&p.container("web", 2)),
        "{ids:?}"
    );
}

#[test]
fn start_stop_restart_kill_pause_rm() {
    let Some(p) = Proj::start("bclife", &[("compose.yaml", TWO_SERVICES)]) else {
        return;
    };
    p.berth(&["up", "-d"]).success();
    let web = p.container("web", 1);
    let worker = p.container("worker", 1);
    let stop = p.berth(&["stop", "-t", "1"]);
    stop.success()
        .stderr_has(&format!(" Container {web}  Stopped"));
    // Dependents stop first.
    let at = |s: &str| {
        stop.stderr
            .find(&format!(" Container {s}  Stopped"))
            .unwrap_or(usize::MAX)
    };
    assert!(at(&web) < at(&worker), "{stop}");
    assert_eq!(p.inspect(&web, "{{.State.Status}}"), "exited");
    assert!(p.berth(&["ps", "-q"]).success().out().is_empty());
    assert_eq!(
        p.berth(&["ps", "-a", "--status", "exited", "-q"])
            .success()
            .lines()
            .len(),
        2
    );
    p.berth(&["start"])
        .success()
        .stderr_has(&format!(" Container {worker}  Started"));
    assert_eq!(p.inspect(&web, "{{.State.Status}}"), "running");
    let started_at = p.inspect(&web, "{{.State.StartedAt}}");
    p.berth(&["restart", "-t", "1", "web"]).success();
    assert_ne!(p.inspect(&web, "{{.State.StartedAt}}"), started_at);
    p.berth(&["pause", "web"]).success();
    assert_eq!(p.inspect(&web, "{{.State.Status}}"), "paused");
    p.berth(&["unpause", "web"]).success();
    assert_eq!(p.inspect(&web, "{{.State.Status}}"), "running");
    let top = p.berth(&["top", "web"]);
    top.success().stdout_has(&web).stdout_has("sleep 300");
    let images = p.berth(&["images"]);
    images.success().stdout_has("busybox").stdout_has(&worker);
    p.berth(&["kill", "-s", "KILL", "worker"]).success();
    assert!(wait_until(SETTLE, || p
        .inspect(&worker, "{{.State.Status}}")
        == "exited"));
    assert_eq!(p.inspect(&worker, "{{.State.ExitCode}}"), "137");
    // rm removes only stopped containers; -s stops first.
    p.berth(&["rm", "-f"])
        .success()
        .stderr_has(&format!(" Container {worker}  Removed"));
    assert_eq!(
        p.ids().keys().cloned().collect::<Vec<_>>(),
        std::slice::from_ref(&web)
    );
    p.berth(&["rm", "-f", "-s", "-v"]).success();
    assert!(p.ids().is_empty());
    p.berth(&["stop", "nosuch"])
        .code_is(1)
        .stderr_has("no such service: nosuch");
}

#[test]
fn build_then_up_uses_the_built_image() {
    let yaml = r#"
services:
  app:
    build:
      context: ./app
      args:
        GREETING: hi-from-args
    command: ["sh", "-c", "cat /greeting; exec sleep 300"]
"#;
    let dockerfile = "FROM busybox\nARG GREETING\nRUN echo $GREETING > /greeting\n";
    let Some(p) = Proj::start(
        "bcbuild",
        &[("compose.yaml", yaml), ("app/Dockerfile", dockerfile)],
    ) else {
        return;
    };
    let image = format!("{}-app", p.name);
    p.berth(&["build", "-q"]).success();
    p.docker(&["image", "inspect", &image]).success();
    let up = p.berth(&["up", "-d"]);
    up.success();
    assert!(
        !up.stderr.contains("Building"),
        "up rebuilt an image that exists: {up}"
    );
    assert_eq!(
        p.inspect(&p.container("app", 1), "{{.Config.Image}}"),
        image
    );
    assert!(wait_until(SETTLE, || p
        .berth(&["logs", "--no-log-prefix", "app"])
        .stdout
        .contains("hi-from-args")));
    // --build rebuilds (a changed build arg reaches the image), and a new image recreates.
    p.write("compose.yaml", &yaml.replace("hi-from-args", "second"));
    let id = p.ids();
    p.berth(&["up", "-d", "--build"]).success();
    assert_ne!(p.ids(), id);
    assert!(wait_until(SETTLE, || p
        .berth(&["logs", "--no-log-prefix", "app"])
        .stdout
        .contains("second")));
    // down --rmi local removes the built image.
    p.berth(&["down", "--rmi", "local", "-t", "0"]).success();
    p.docker(&["image", "inspect", &image]).code_is(1);
}

#[test]
fn attached_up_prefixes_output_and_exit_code_from() {
    let yaml = r#"
services:
  job:
    image: busybox
    command: ["sh", "-c", "sleep 1; echo job done; exit 4"]
  server:
    image: busybox
    command: ["sh", "-c", "echo server up; exec sleep 300"]
"#;
    let Some(p) = Proj::start("bcatt", &[("compose.yaml", yaml)]) else {
        return;
    };
    let out = p.berth(&["up", "--exit-code-from", "job", "-t", "1"]);
    out.code_is(4);
    let lines = out.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("job-1 ") && l.ends_with("| job done")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("server-1 ") && l.ends_with("| server up")),
        "{out}"
    );
    out.stdout_has("job-1 exited with code 4")
        .stdout_has("Attaching to job-1, server-1");
    // Aborting stopped the rest.
    assert_eq!(
        p.inspect(&p.container("server", 1), "{{.State.Status}}"),
        "exited"
    );
    // Without abort: up returns when every container has exited.
    p.write(
        "compose.yaml",
        "services:\n  a:\n    image: busybox\n    command: [\"echo\", \"only a\"]\n",
    );
    let out = p.berth(&["up", "--remove-orphans"]);
    out.success()
        .stdout_has("only a")
        .stdout_has("a-1 exited with code 0");
    // wait prints exit codes.
    p.berth(&["up", "-d"]).success();
    assert_eq!(p.berth(&["wait", "a"]).success().out(), "0");
}

#[test]
fn orphans_and_no_deps() {
    let Some(p) = Proj::start("bcorph", &[("compose.yaml", TWO_SERVICES)]) else {
        return;
    };
    // --no-deps starts only the named service.
    p.berth(&["up", "-d", "--no-deps", "web"]).success();
    assert_eq!(
        p.ids().keys().cloned().collect::<Vec<_>>(),
        [p.container("web", 1)]
    );
    p.berth(&["up", "-d"]).success();
    let one = "services:\n  worker:\n    image: busybox\n    command: [\"sleep\", \"300\"]\n";
    p.write("compose.yaml", one);
    let up = p.berth(&["up", "-d"]);
    up.success()
        .stderr_has("Found orphan containers")
        .stderr_has(&p.container("web", 1));
    assert!(p.ids().contains_key(&p.container("web", 1)));
    p.berth(&["up", "-d", "--remove-orphans"]).success();
    assert!(!p.ids().contains_key(&p.container("web", 1)));
    assert_eq!(p.berth(&["version", "--short"]).success().out(), "2.40.3");
}

#[test]
fn ctrl_c_stops_an_attached_up_and_wait_flag() {
    let Some(p) = Proj::start("bcint", &[("compose.yaml", TWO_SERVICES)]) else {
        return;
    };
    let mut cmd = p.base(Client::Berth);
    cmd.args(["up", "-t", "1"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{e}"));
    let web = p.container("web", 1);
    let running = wait_until(SETTLE, || {
        p.ids().contains_key(&web) && p.inspect(&web, "{{.State.Status}}") == "running"
    });
    assert!(running, "attached up did not start the project");
    // Give the log followers a moment to attach, then interrupt as a terminal would.
    std::thread::sleep(Duration::from_millis(500));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap_or_else(|e| panic!("{e}"));
    let exited = wait_until(SETTLE, || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
    }
    assert!(exited, "berth compose up did not end on SIGINT");
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("web says hello"), "{stdout}");
    assert!(stdout.contains("Gracefully Stopping"), "{stdout}");
    for c in [web.clone(), p.container("worker", 1)] {
        assert_eq!(
            p.inspect(&c, "{{.State.Status}}"),
            "exited",
            "{c} still running"
        );
    }
    // --wait returns once everything is running (and healthy when it has a check).
    let up = p.berth(&["up", "-d", "--wait", "--wait-timeout", "60"]);
    up.success()
        .stderr_has(&format!(" Container {web}  Healthy"));
    assert_eq!(p.inspect(&web, "{{.State.Status}}"), "running");
}

#[test]
fn events_json_and_cp() {
    let Some(p) = Proj::start("bcev", &[("compose.yaml", TWO_SERVICES)]) else {
        return;
    };
    p.berth(&["up", "-d"]).success();
    // cp both ways through SERVICE:PATH.
    p.write("in.txt", "copied in\n");
    p.berth(&["cp", "in.txt", "web:/tmp/in.txt"]).success();
    assert_eq!(
        p.berth(&["exec", "-T", "web", "cat", "/tmp/in.txt"])
            .success()
            .out(),
        "copied in"
    );
    let dest = p.dir.join("out.txt");
    p.berth(&["cp", "web:/tmp/in.txt", &dest.display().to_string()])
        .success();
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap_or_default(),
        "copied in\n"
    );
    // events --json: the project's container events with their service.
    let since = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        - 1)
    .to_string();
    p.berth(&["restart", "-t", "0", "worker"]).success();
    let until = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + 1)
    .to_string();
    let ev = p.berth(&[
        "events", "--json", "--since", &since, "--until", &until, "worker",
    ]);
    let rows: Vec<serde_json::Value> = ev
        .success()
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        rows.iter().any(|r| r["service"] == "worker"
            && r["action"] == "start"
            && r["type"] == "container"),
        "{ev}"
    );
    assert!(rows.iter().all(|r| r["service"] == "worker"), "{ev}");
}

#[test]
fn recreate_keeps_anonymous_volume_data() {
    let yaml = r#"
services:
  app:
    image: busybox
    command: ["sleep", "300"]
    volumes: ["/cache"]
"#;
    let Some(p) = Proj::start("bcanon", &[("compose.yaml", yaml)]) else {
        return;
    };
    p.berth(&["up", "-d"]).success();
    p.berth(&["exec", "-T", "app", "sh", "-c", "echo kept > /cache/f"])
        .success();
    let before = p.ids();
    p.write("compose.yaml", &yaml.replace("300", "301"));
    p.berth(&["up", "-d"]).success();
    assert_ne!(p.ids(), before, "not recreated");
    let out = p.berth(&["exec", "-T", "app", "cat", "/cache/f"]);
    assert_eq!(out.success().out(), "kept", "{out}");
}

#[test]
fn depends_on_restart_restarts_dependents_of_a_recreated_service() {
    let yaml = r#"
services:
  db:
    image: busybox
    command: ["sleep", "300"]
  web:
    image: busybox
    command: ["sleep", "300"]
    depends_on:
      db:
        condition: service_started
        restart: true
  other:
    image: busybox
    command: ["sleep", "300"]
    depends_on: [db]
"#;
    let Some(p) = Proj::start("bcrst", &[("compose.yaml", yaml)]) else {
        return;
    };
    p.berth(&["up", "-d"]).success();
    let web = p.container("web", 1);
    let other = p.container("other", 1);
    let (web_started, other_started) = (
        p.inspect(&web, "{{.State.StartedAt}}"),
        p.inspect(&other, "{{.State.StartedAt}}"),
    );
    let ids = p.ids();
    p.write("compose.yaml", &yaml.replacen("\"300\"", "\"301\"", 1));
    let up = p.berth(&["up", "-d"]);
    up.success()
        .stderr_has(&format!(" Container {web}  Restarting"));
    let after = p.ids();
    assert_eq!(after[&web], ids[&web], "web was recreated, not restarted");
    assert_ne!(after[&p.container("db", 1)], ids[&p.container("db", 1)]);
    assert_ne!(p.inspect(&web, "{{.State.StartedAt}}"), web_started);
    // Without `restart: true` a dependent is left running.
    assert_eq!(p.inspect(&other, "{{.State.StartedAt}}"), other_started);
}

#[test]
fn service_keys_reach_the_container() {
    let yaml = r#"
services:
  main:
    image: busybox
    container_name: ${NAME_PREFIX:-x}-main
    command: ["sleep", "300"]
    hostname: mainhost
    user: "1000"
    working_dir: /tmp
    volumes: ["/data"]
    tmpfs: ["/scratch"]
    extra_hosts: ["db.example=10.1.2.3"]
    ports: ["127.0.0.1::80"]
    expose: ["9000"]
    restart: unless-stopped
    stop_signal: SIGUSR1
    stop_grace_period: 7s
    cap_add: [NET_ADMIN]
    read_only: true
    init: true
    mem_limit: 64m
    secrets: [token]
    healthcheck:
      test: ["CMD", "true"]
      interval: 3s
  side:
    image: busybox
    command: ["sleep", "300"]
    network_mode: "service:main"
    volumes_from: [main]
    depends_on: [main]
secrets:
  token:
    file: ./token.txt
"#;
    let Some(p) = Proj::start(
        "bckeys",
        &[("compose.yaml", yaml), ("token.txt", "s3cret\n")],
    ) else {
        return;
    };
    p.berth(&["up", "-d"]).success();
    let main = "x-main";
    let side = p.container("side", 1);
    let f = |c: &str, t: &str| p.inspect(c, t);
    assert_eq!(
        f(
            main,
            "{{.Config.Hostname}} {{.Config.User}} {{.Config.WorkingDir}}"
        ),
        "mainhost 1000 /tmp"
    );
    assert_eq!(f(main, "{{json .HostConfig.Tmpfs}}"), r#"{"/scratch":""}"#);
    assert_eq!(
        f(main, "{{json .HostConfig.ExtraHosts}}"),
        r#"["db.example:10.1.2.3"]"#
    );
    assert_eq!(
        f(main, "{{.HostConfig.RestartPolicy.Name}}"),
        "unless-stopped"
    );
    assert_eq!(
        f(main, "{{.Config.StopSignal}} {{.Config.StopTimeout}}"),
        "SIGUSR1 7"
    );
    assert_eq!(f(main, "{{json .HostConfig.CapAdd}}"), r#"["NET_ADMIN"]"#);
    assert_eq!(
        f(
            main,
            "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Init}} {{.HostConfig.Memory}}"
        ),
        "true true 67108864"
    );
    assert_eq!(
        f(main, "{{json .Config.Healthcheck.Test}}"),
        r#"["CMD","true"]"#
    );
    assert!(f(main, "{{json .Config.ExposedPorts}}").contains("9000/tcp"));
    assert_eq!(
        f(
            main,
            "{{(index (index .HostConfig.PortBindings \"80/tcp\") 0).HostIp}}"
        ),
        "127.0.0.1"
    );
    let id = f(main, "{{.Id}}");
    assert_eq!(
        f(&side, "{{.HostConfig.NetworkMode}}"),
        format!("container:{id}")
    );
    assert_eq!(
        f(&side, "{{json .HostConfig.VolumesFrom}}"),
        format!(r#"["{main}"]"#)
    );
    // The secret file is mounted read-only where compose mounts it; volumes_from shares /data.
    p.berth(&[
        "exec",
        "-T",
        "-u",
        "0",
        "main",
        "sh",
        "-c",
        "echo shared > /data/f",
    ])
    .success();
    assert_eq!(
        p.berth(&["exec", "-T", "main", "cat", "/run/secrets/token"])
            .success()
            .out(),
        "s3cret"
    );
    assert!(wait_until(SETTLE, || p
        .berth(&["exec", "-T", "side", "cat", "/data/f"])
        .stdout
        .trim()
        == "shared"));
    // side shares main's network namespace: same hostname.
    assert_eq!(
        p.berth(&["exec", "-T", "side", "hostname"]).success().out(),
        "mainhost"
    );
}

#[test]
fn push_pull_and_up_pulls_missing_images() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let reg = super::registry::Served::start(root.path(), &[]);
    let image = format!("{}/bc/app:1", reg.addr);
    let yaml = format!(
        "services:\n  app:\n    build: .\n    image: {image}\n    command: [\"sh\", \"-c\", \"cat /built; exec sleep 300\"]\n"
    );
    let Some(p) = Proj::start(
        "bcpush",
        &[
            ("compose.yaml", &yaml),
            ("Dockerfile", "FROM busybox\nRUN echo built-here > /built\n"),
        ],
    ) else {
        return;
    };
    p.berth(&["build", "-q"]).success();
    p.berth(&["push"]).success().stderr_has(" app Pushed");
    p.docker(&["rmi", &image]).success();
    p.berth(&["pull"]).success().stderr_has(" app Pulled");
    p.docker(&["image", "inspect", &image]).success();
    // up pulls what is missing (pull_policy missing; a build section does not stop a pull of a
    // published image when asked with --pull always).
    p.docker(&["rmi", &image]).success();
    p.berth(&["up", "-d", "--pull", "always", "--no-build"])
        .success();
    assert!(wait_until(SETTLE, || p
        .berth(&["logs", "--no-log-prefix", "app"])
        .stdout
        .contains("built-here")));
}

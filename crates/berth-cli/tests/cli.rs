//! Differential tests: `berth` and the docker 28 CLI against the same reference dockerd.
//!
//! Needs a dockerd listening on /run/dockerref.sock with a `busybox:latest` image and the docker
//! CLI at /usr/local/bin/docker; each test prints why and returns when they are missing.

use std::os::unix::net::UnixStream;
use std::process::{Command, Output, Stdio};

const SOCKET: &str = "/run/dockerref.sock";
const DOCKER: &str = "/usr/local/bin/docker";

fn reference_available() -> bool {
    if UnixStream::connect(SOCKET).is_err() {
        eprintln!("skipping: no reference dockerd at {SOCKET}");
        return false;
    }
    if !std::path::Path::new(DOCKER).exists() {
        eprintln!("skipping: no docker CLI at {DOCKER}");
        return false;
    }
    let has_busybox = Command::new(DOCKER)
        .args([
            "-H",
            &format!("unix://{SOCKET}"),
            "image",
            "inspect",
            "busybox:latest",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_busybox {
        eprintln!("skipping: the reference dockerd has no busybox:latest image");
    }
    has_busybox
}

fn exec(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("DOCKER_HOST", format!("unix://{SOCKET}"))
        .stdin(Stdio::null())
        .output()
        .expect("spawn")
}

#[derive(Debug, PartialEq)]
struct Outcome {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

fn outcome(o: Output, program_name: &str) -> Outcome {
    // docker names itself in messages; berth uses the name it was invoked by
    let stderr = String::from_utf8_lossy(&o.stderr).replace(program_name, "PROG");
    Outcome {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr,
        code: o.status.code(),
    }
}

/// Runs both CLIs; a mismatch is retried once, since relative times ("5 seconds ago") can tick
/// over between the two runs.
fn same(args: &[&str]) -> Outcome {
    let berth = env!("CARGO_BIN_EXE_berth");
    let mut last = None;
    for _ in 0..2 {
        let d = outcome(exec(DOCKER, args), "docker");
        let b = outcome(exec(berth, args), "berth");
        if d == b {
            return b;
        }
        last = Some((d, b));
    }
    let (d, b) = last.expect("compared");
    panic!(
        "`{}` differs:\n docker: {d:?}\n berth:  {b:?}",
        args.join(" ")
    );
}

struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = exec(DOCKER, &["rm", "-f", &self.0]);
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    )
}

#[test]
fn listing_and_inspect_match_docker() {
    if !reference_available() {
        return;
    }
    let name = unique("cmp-exited");
    let c = Container(name.clone());
    let created = exec(
        DOCKER,
        &[
            "run",
            "--name",
            &c.0,
            "-l",
            "k=v",
            "busybox",
            "sh",
            "-c",
            "echo one; echo two >&2; echo three",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    let filter = format!("name={name}");
    same(&["images", "busybox"]);
    same(&["images", "-q"]);
    same(&["image", "ls", "--format", "{{json .}}"]);
    same(&["ps", "-a", "--filter", &filter]);
    same(&["ps", "-a", "--filter", &filter, "--no-trunc"]);
    same(&[
        "container",
        "ls",
        "-a",
        "--filter",
        &filter,
        "--format",
        "table {{.Names}}\t{{.Image}}\t{{.Command}}\t{{.Labels}}",
    ]);
    same(&["ps", "-a", "--filter", &filter, "--format", "{{json .}}"]);
    let out = same(&["ps", "-a", "-q", "--filter", &filter]);
    assert_eq!(out.stdout.trim().len(), 12);
    same(&["inspect", &name]);
    same(&["inspect", "busybox"]);
    same(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{json .Config.Cmd}} {{.Config.Labels}} {{.HostConfig.NetworkMode}}", &name]);
    let missing = same(&["inspect", &name, "no-such-object-xyz"]);
    assert_eq!(missing.code, Some(1));
    same(&["container", "inspect", "busybox"]);
    same(&["history", "busybox"]);
    same(&["history", "--no-trunc", "-q", "busybox"]);
    same(&["version", "--format", "{{.Server.Version}} {{.Server.Os}}"]);
    same(&["info", "--format", "{{.OSType}} {{.Images}}"]);
}

#[test]
fn logs_match_docker() {
    if !reference_available() {
        return;
    }
    let c = Container(unique("cmp-logs"));
    let created = exec(
        DOCKER,
        &[
            "run",
            "--name",
            &c.0,
            "busybox",
            "sh",
            "-c",
            "for i in 1 2 3; do echo out$i; echo err$i >&2; done",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    let all = same(&["logs", &c.0]);
    assert_eq!(all.stdout, "out1\nout2\nout3\n");
    same(&["logs", "--tail", "1", &c.0]);
    same(&["logs", "-t", &c.0]);
    same(&["logs", "--since", "10m", &c.0]);
    same(&["logs", "--until", "2000-01-01T00:00:00Z", &c.0]);
    same(&["logs", "--since", "bogus", &c.0]);
}

#[test]
fn run_and_exec_exit_codes_match_docker() {
    if !reference_available() {
        return;
    }
    let out = same(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.code, Some(3));
    assert_eq!(
        same(&["run", "--rm", "busybox", "/nonexistent"]).code,
        Some(127)
    );
    assert_eq!(
        same(&["run", "--rm", "busybox", "/etc/passwd"]).code,
        Some(126)
    );
    same(&[
        "run",
        "--rm",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "-u",
        "1:1",
        "-h",
        "box",
        "busybox",
        "sh",
        "-c",
        "echo $X $(pwd) $(id -u) $(hostname)",
    ]);
    same(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "busybox",
        "a",
        "-l",
        "b",
    ]);
    same(&["run", "--pull", "never", "no-such-image-xyz"]);

    let c = Container(unique("cmp-exec"));
    let started = exec(
        DOCKER,
        &["run", "-d", "--name", &c.0, "busybox", "sleep", "300"],
    );
    assert!(started.status.success(), "{started:?}");
    same(&["exec", &c.0, "echo", "hi"]);
    assert_eq!(same(&["exec", &c.0, "sh", "-c", "exit 4"]).code, Some(4));
    assert_eq!(same(&["exec", &c.0, "nope"]).code, Some(126));
    same(&[
        "exec",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        &c.0,
        "sh",
        "-c",
        "echo $A; pwd",
    ]);
    same(&["top", &c.0]);
}

#[test]
fn usage_errors_match_docker() {
    if !reference_available() {
        return;
    }
    for args in [
        vec!["run", "-z"],
        vec!["run", "--bogus", "x"],
        vec!["run", "-e"],
        vec!["run"],
        vec!["ps", "x"],
        vec!["ps", "--bogus"],
        vec!["rename", "a"],
        vec!["wait"],
        vec!["logs"],
        vec!["exec", "a"],
        vec!["image", "ls", "--bogus"],
        vec!["rm", "no-such-container-xyz", "no-such-container-abc"],
        vec!["stop", "no-such-container-xyz"],
        vec!["start", "no-such-container-xyz"],
        vec!["rmi", "no-such-image-xyz"],
    ] {
        same(&args);
    }
}

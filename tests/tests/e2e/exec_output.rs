//! Output is never lost: every byte a short process writes reaches `exec`, `attach`, `logs` and
//! `run`, through docker-py (which reads the upgraded socket under its buffered HTTP reader) and
//! the docker CLI; the start request's `Tty` decides an exec's framing; detach keys detach an
//! exec; `kill` with SIGKILL answers once the container has exited.
//!
//! The stress tests run `BERTH_STRESS_RUNS` rounds of each kind (200 execs, 100 runs by
//! default; set it to 1000 for the full stress). docker-py comes from the venv that
//! `scripts/install-deps` makes (`/opt/berth-test-venv`, or `BERTH_TEST_PYTHON`); without it the
//! docker-py tests fail unless `BERTH_NO_DOCKER_PY=1`.

use super::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;

use berth_tests::daemon::BUSYBOX;
use berth_tests::paths::repo_root;

/// Rounds of each stress: `BERTH_STRESS_RUNS`, or `default`.
fn stress_runs(default: usize) -> usize {
    std::env::var("BERTH_STRESS_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// The Python that has docker-py; None (after saying so) when `BERTH_NO_DOCKER_PY=1` and
/// there is none. Without it and without that variable the test fails.
fn docker_py_python() -> Option<PathBuf> {
    let python = std::env::var_os("BERTH_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/berth-test-venv/bin/python"));
    let has_it = Command::new(&python)
        .args(["-c", "import docker"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_it {
        return Some(python);
    }
    if std::env::var("BERTH_NO_DOCKER_PY").is_ok_and(|v| v == "1") {
        eprintln!(
            "skipped: no docker-py at {} and BERTH_NO_DOCKER_PY=1",
            python.display()
        );
        return None;
    }
    panic!(
        "docker-py is not installed for {} (run scripts/install-deps, or set BERTH_NO_DOCKER_PY=1)",
        python.display()
    );
}

/// Runs tests/clients/exec_stress.py MODE RUNS against `d`; its JSON summary.
fn docker_py_stress(
    d: &TestDaemon,
    python: &std::path::Path,
    mode: &str,
    runs: usize,
) -> serde_json::Value {
    let script = repo_root().join("tests/clients/exec_stress.py");
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .args([mode, &runs.to_string()])
        .env("DOCKER_HOST", d.host())
        .env("BERTH_TEST_IMAGE", BUSYBOX);
    // A generous deadline: a round is well under a second, even on a loaded machine.
    let deadline = Duration::from_secs(120) + Duration::from_secs(2) * runs as u32;
    let out = berth_tests::cli::run(cmd, None, deadline);
    assert_eq!(
        out.code,
        0,
        "docker-py {mode}: {out}\n--- berthd log ---\n{}",
        d.log_tail()
    );
    let line = out.stdout.lines().last().unwrap_or_default();
    let summary: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("docker-py {mode} printed no summary ({e}): {out}"));
    eprintln!("docker-py {mode}: {summary}");
    assert_eq!(summary["runs"], runs, "{summary}");
    assert_eq!(
        summary["lost"], 0,
        "docker-py {mode} lost output: {summary}"
    );
    assert_eq!(
        summary["bad_exit"], 0,
        "docker-py {mode} saw wrong exit codes: {summary}"
    );
    summary
}

#[test]
fn docker_py_exec_run_loses_no_output() {
    let Some(python) = docker_py_python() else {
        return;
    };
    let Some(d) = TestDaemon::start() else { return };
    let runs = stress_runs(200);
    // exec_run(cmd): the framed stream read with recv() under http.client's buffered reader.
    docker_py_stress(&d, &python, "exec", runs);
    // stdout and stderr apart, and the raw stream of a tty exec.
    docker_py_stress(&d, &python, "demux", runs / 4);
    docker_py_stress(&d, &python, "exec-tty", runs / 4);
}

#[test]
fn docker_py_run_and_attach_lose_no_output() {
    let Some(python) = docker_py_python() else {
        return;
    };
    let Some(d) = TestDaemon::start() else { return };
    let runs = stress_runs(100);
    // containers.run(): start, then logs(follow=True) and wait.
    docker_py_stress(&d, &python, "run", runs);
    // attach_socket before the start, read to the end of the stream.
    docker_py_stress(&d, &python, "attach", runs / 4);
}

#[test]
fn docker_cli_exec_and_run_lose_no_output() {
    let Some(d) = TestDaemon::start() else { return };
    let c = Client::Docker;
    let name = unique_name("exec-stress");
    d.run_offline(c, &name, &["sleep", "3600"]);
    let cases: [(&[&str], &str, i32); 3] = [
        (&["echo", "out"], "out\n", 0),
        (&["sh", "-c", "echo out; exit 3"], "out\n", 3),
        (&["sh", "-c", "echo out; sleep 0.05; exit 3"], "out\n", 3),
    ];
    let runs = stress_runs(200);
    let started = Instant::now();
    let mut lost = Vec::new();
    for i in 0..runs {
        let (cmd, want, code) = cases[i % cases.len()];
        let mut args = vec!["exec", name.as_str()];
        args.extend_from_slice(cmd);
        let out = d.run(c, &args);
        if out.stdout != want || out.code != code {
            lost.push(format!("{cmd:?}: {out}"));
        }
    }
    eprintln!(
        "docker exec: {runs} runs, {} lost, {:?}",
        lost.len(),
        started.elapsed()
    );
    assert!(
        lost.is_empty(),
        "{} of {runs} docker execs lost output, first: {}",
        lost.len(),
        lost[0]
    );

    let runs = stress_runs(100);
    let started = Instant::now();
    for _ in 0..runs {
        let out = d.run(
            c,
            &["run", "--rm", "--network", "none", BUSYBOX, "echo", "out"],
        );
        if out.stdout != "out\n" || out.code != 0 {
            lost.push(out.to_string());
        }
    }
    eprintln!(
        "docker run --rm: {runs} runs, {} lost, {:?}",
        lost.len(),
        started.elapsed()
    );
    assert!(
        lost.is_empty(),
        "{} of {runs} docker runs lost output, first: {}",
        lost.len(),
        lost[0]
    );
}

/// One request on its own connection, upgraded when `upgrade`; the whole answer until EOF,
/// split into the status line and the body.
fn raw_request(
    d: &TestDaemon,
    path: &str,
    body: &serde_json::Value,
    upgrade: bool,
) -> (String, Vec<u8>) {
    let mut s = UnixStream::connect(&d.socket).expect("connect");
    s.set_read_timeout(Some(SETTLE)).expect("timeout");
    let body = body.to_string();
    let conn = if upgrade {
        "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    } else {
        "Connection: close\r\n"
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{conn}\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body.as_bytes()).expect("write");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read to the end");
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head")
        + 4;
    let status = String::from_utf8_lossy(&all[..split])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    (status, all[split..].to_vec())
}

fn exec_create(d: &TestDaemon, ctr: &str, config: serde_json::Value) -> String {
    let r = d.api(
        "POST",
        &format!("/containers/{ctr}/exec"),
        Some("application/json"),
        config.to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
        .and_then(|v| v["Id"].as_str().map(str::to_string))
        .expect("exec id")
}

/// stdcopy frames: (stream, payload) in order; panics on a malformed stream.
fn frames(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        assert!(
            b.len() >= 8 && b[1..4] == [0, 0, 0],
            "not a stdcopy stream: {b:?}"
        );
        let len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        out.push((b[0], b[8..8 + len].to_vec()));
        b = &b[8 + len..];
    }
    out
}

/// What one stream carried in all, from frames.
fn stream_of(frames: &[(u8, Vec<u8>)], which: u8) -> Vec<u8> {
    frames
        .iter()
        .filter(|(s, _)| *s == which)
        .flat_map(|(_, p)| p.clone())
        .collect()
}

#[test]
fn exec_start_tty_decides_the_framing() {
    let Some(d) = TestDaemon::start() else { return };
    let name = unique_name("exec-framing");
    d.run_offline(Client::Docker, &name, &["sleep", "3600"]);
    let start = |exec_tty: bool, start_tty: bool| {
        let id = exec_create(
            &d,
            &name,
            serde_json::json!({
                "Cmd": ["sh", "-c", "echo out; echo err >&2"],
                "AttachStdout": true, "AttachStderr": true, "Tty": exec_tty,
            }),
        );
        let (status, body) = raw_request(
            &d,
            &format!("/v1.47/exec/{id}/start"),
            &serde_json::json!({"Detach": false, "Tty": start_tty}),
            true,
        );
        assert!(status.contains(" 101 "), "{status}");
        body
    };
    // Created with a tty, started without: the terminal's output in stdout frames.
    let f = frames(&start(true, false));
    assert_eq!(stream_of(&f, 1), b"out\r\nerr\r\n", "{f:?}");
    assert!(stream_of(&f, 2).is_empty(), "{f:?}");
    // Created without, started with: a raw stream of stdout; dockerd attaches no stderr then.
    assert_eq!(start(false, true), b"out\n");
    // Both without: stdout and stderr frames.
    let f = frames(&start(false, false));
    assert_eq!(
        (stream_of(&f, 1), stream_of(&f, 2)),
        (b"out\n".to_vec(), b"err\n".to_vec()),
        "{f:?}"
    );
    // Both with: the terminal's raw bytes.
    assert_eq!(start(true, true), b"out\r\nerr\r\n");
}

fn exec_inspect(d: &TestDaemon, id: &str) -> serde_json::Value {
    let r = d.api("GET", &format!("/exec/{id}/json"), None, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().expect("exec json")
}

#[test]
fn exec_detach_keys_over_raw_http() {
    let Some(d) = TestDaemon::start() else { return };
    let name = unique_name("exec-detach");
    d.run_offline(Client::Docker, &name, &["sleep", "3600"]);
    // Bad keys are refused at create, in dockerd's words.
    let r = d.api(
        "POST",
        &format!("/containers/{name}/exec"),
        Some("application/json"),
        br#"{"Cmd":["cat"],"DetachKeys":"ctrl-1"}"#,
    );
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text().contains("Invalid escape keys (ctrl-1) provided"),
        "{}",
        r.text()
    );

    // Keys from the create request (and, overriding them, from the start request): the stream
    // ends at once, the process runs on, and its exit code is recorded when it exits.
    for (create_keys, start_keys, typed) in [
        ("ctrl-a", None, b"\x01".as_slice()),
        ("ctrl-a", Some("ctrl-b,z"), b"\x01\x02z"),
    ] {
        let id = exec_create(
            &d,
            &name,
            serde_json::json!({
                "Cmd": ["sh", "-c", "echo ready; sleep 2; exit 7"],
                "AttachStdin": true, "AttachStdout": true, "Tty": true, "DetachKeys": create_keys,
            }),
        );
        let mut s = UnixStream::connect(&d.socket).expect("connect");
        s.set_read_timeout(Some(SETTLE)).expect("timeout");
        let mut start = serde_json::json!({"Tty": true});
        if let Some(k) = start_keys {
            start["DetachKeys"] = k.into();
        }
        let body = start.to_string();
        s.write_all(format!("POST /exec/{id}/start HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n{body}", body.len()).as_bytes()).expect("write");
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("ready") {
            let n = s.read(&mut buf).expect("read");
            assert!(
                n > 0,
                "stream ended before the output: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
        let t = Instant::now();
        s.write_all(typed).expect("type the keys");
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).expect("the stream ends");
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "detach took {:?}",
            t.elapsed()
        );
        let running = exec_inspect(&d, &id);
        assert_eq!(
            running["Running"], true,
            "the exec runs on after a detach: {running}"
        );
        assert!(wait_until(SETTLE, || exec_inspect(&d, &id)["Running"] == false));
        assert_eq!(
            exec_inspect(&d, &id)["ExitCode"],
            7,
            "{}",
            exec_inspect(&d, &id)
        );
    }

    // Without a tty the keys are input like any other.
    let id = exec_create(
        &d,
        &name,
        serde_json::json!({
            "Cmd": ["sh", "-c", "head -c 3 | od -An -c"],
            "AttachStdin": true, "AttachStdout": true, "Tty": false, "DetachKeys": "ctrl-a",
        }),
    );
    let mut s = UnixStream::connect(&d.socket).expect("connect");
    s.set_read_timeout(Some(SETTLE)).expect("timeout");
    let body = r#"{"Tty":false}"#;
    s.write_all(format!("POST /exec/{id}/start HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n{body}\x01xy", body.len()).as_bytes()).expect("write");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read");
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains("001   x   y"), "{text:?}");
}

#[test]
fn exec_detach_keys_from_the_cli_and_its_config() {
    let Some(d) = TestDaemon::start() else { return };
    let c = Client::Docker;
    let name = unique_name("exec-detach-cli");
    d.run_offline(c, &name, &["sleep", "3600"]);
    let detaches = |args: &[&str], typed: &[u8], marker: &str| {
        let mut all = vec!["exec", "-it"];
        all.extend_from_slice(args);
        let cmd = format!("echo ready; sleep {marker}");
        all.extend_from_slice(&[name.as_str(), "sh", "-c", &cmd]);
        let mut session = d.pty(c, &all);
        assert!(
            session.wait_for_stdout("ready", SETTLE),
            "{}",
            session.stdout()
        );
        session.write_stdin(typed);
        assert!(
            session.wait(SETTLE).is_some(),
            "exec did not detach on {typed:?}: {}",
            session.stdout()
        );
        // The process runs on.
        let ps = d.run(c, &["exec", &name, "ps", "-o", "args"]);
        assert!(ps.stdout.contains(&format!("sleep {marker}")), "{ps}");
    };
    // The default keys, then --detach-keys.
    detaches(&[], b"\x10\x11", "1001");
    detaches(&["--detach-keys", "ctrl-x,y"], b"\x18y", "1002");
    // config.json's detachKeys.
    write(
        &d.dir().join("docker-config/config.json"),
        r#"{"detachKeys":"ctrl-a"}"#,
    );
    detaches(&[], b"\x01", "1003");
}

#[test]
fn kill_answers_after_the_exit() {
    let Some(d) = TestDaemon::start() else { return };
    let c = Client::Docker;
    for i in 0..50 {
        let name = unique_name("kill-wait");
        d.run_offline(c, &name, &["sleep", "300"]);
        d.run(c, &["kill", &name]).success();
        let state = d.inspect(c, &name, "{{.State.Status}} {{.State.ExitCode}}");
        assert_eq!(state, "exited 137", "round {i}: inspect right after kill");
        d.run(c, &["rm", &name]).success();
    }
    // Any other signal is only delivered: kill answers while the container still runs.
    let name = unique_name("kill-usr1");
    d.run_offline(
        c,
        &name,
        &[
            "sh",
            "-c",
            "trap 'sleep 2; exit 9' USR1; echo ready; while :; do sleep 0.1; done",
        ],
    );
    d.wait_for_log(c, &name, "ready");
    let t = Instant::now();
    d.run(c, &["kill", "-s", "USR1", &name]).success();
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "kill -s USR1 took {:?}",
        t.elapsed()
    );
    assert_eq!(d.inspect(c, &name, "{{.State.Status}}"), "running");
    d.wait_for_inspect(
        c,
        &name,
        "{{.State.Status}} {{.State.ExitCode}}",
        "exited 9",
    );
}

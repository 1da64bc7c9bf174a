//! The terminal's size as a process starts: `docker run -t` (`HostConfig.ConsoleSize`) and
//! `docker exec -t` (`ConsoleSize` of `POST /exec/{id}/start`, API 1.42) give the process the
//! client's terminal size before it runs, so a command that reads it at once sees it, not 0x0.
//! Clients run on a pseudo-terminal of a known size (util-linux `script`, `stty rows/cols`).
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::time::Duration;

use berth_tests::{unique_name, Client, TestDaemon};

/// Runs `client args...` on a pty of 37 rows and 91 columns; its output once it exits 0.
fn on_a_37x91_terminal(d: &TestDaemon, client: Client, args: &[&str]) -> String {
    let mut line = vec!["stty rows 37 cols 91 && exec \"$0\" \"$@\"".to_string()];
    let program = match client {
        Client::Docker => "docker",
        Client::Berth => "berth",
    };
    // The client's path as the harness finds it, through DOCKER_HOST/DOCKER_CONFIG of the
    // daemon's command.
    let cmd = d.command(client);
    let path = cmd.get_program().to_string_lossy().into_owned();
    line.push(path);
    line.extend(args.iter().map(|a| a.to_string()));
    let envs: Vec<(String, String)> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
        .collect();
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let argv: Vec<&str> = std::iter::once("-c")
        .chain(line.iter().map(String::as_str))
        .collect();
    let mut s = berth_tests::pty::spawn(std::path::Path::new("sh"), &argv, &envs).unwrap();
    let code = s.wait(Duration::from_secs(60));
    assert_eq!(
        code,
        Some(0),
        "{program} {args:?}: {}\n{}",
        s.stdout(),
        s.stderr()
    );
    s.stdout()
}

/// The first line the process printed, without the terminal's `\r`.
fn first_line(out: &str) -> &str {
    out.lines().next().unwrap_or("").trim_end_matches('\r')
}

#[test]
fn exec_t_starts_at_the_clients_terminal_size() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    let name = unique_name("consize");
    d.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        "busybox",
        "sleep",
        "300",
    ])
    .success();
    for client in [Client::Docker, Client::Berth] {
        // Ten times: a size set after the process started would lose the race some of them.
        for _ in 0..10 {
            let out = on_a_37x91_terminal(&d, client, &["exec", "-t", &name, "stty", "size"]);
            assert_eq!(first_line(&out), "37 91", "{}: {out:?}", client.name());
        }
    }
    // Without -t there is no terminal, and no size to give.
    let out = d.docker(&["exec", &name, "sh", "-c", "stty size 2>&1; echo rc=$?"]);
    assert!(out.out().contains("rc=1"), "{}", out.out());
}

#[test]
fn run_t_starts_at_the_clients_terminal_size() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    for client in [Client::Docker, Client::Berth] {
        for _ in 0..3 {
            let out = on_a_37x91_terminal(
                &d,
                client,
                &[
                    "run",
                    "-t",
                    "--rm",
                    "--network",
                    "none",
                    "busybox",
                    "stty",
                    "size",
                ],
            );
            assert_eq!(first_line(&out), "37 91", "{}: {out:?}", client.name());
        }
    }
}

/// A JSON request to the daemon's API.
fn api_json(
    d: &TestDaemon,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> berth_tests::http::Response {
    d.api(
        method,
        path,
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

#[test]
fn console_size_of_the_api() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    // HostConfig.ConsoleSize is the init's size as it starts, and stays the container's.
    let name = unique_name("consize-api");
    let body = serde_json::json!({
        "Image": "busybox",
        "Cmd": ["sh", "-c", "stty size; echo rc=$?; sleep 300"],
        "Tty": true,
        "HostConfig": {"ConsoleSize": [12, 34], "NetworkMode": "none"},
    });
    let r = api_json(
        &d,
        "POST",
        &format!("/v1.47/containers/create?name={name}"),
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    d.docker(&["start", &name]).success();
    let logs = || d.docker(&["logs", &name]).out().to_string();
    assert!(
        berth_tests::wait_until(Duration::from_secs(20), || logs().contains("12 34")),
        "{}",
        logs()
    );
    // An older client's ConsoleSize is ignored (dockerd before API 1.42 has none on Linux):
    // the terminal is 0x0.
    let old = unique_name("consize-old");
    let r = api_json(
        &d,
        "POST",
        &format!("/v1.41/containers/create?name={old}"),
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    d.docker(&["start", &old]).success();
    let logs_old = || d.docker(&["logs", &old]).out().to_string();
    assert!(
        berth_tests::wait_until(Duration::from_secs(20), || logs_old().contains("rc=")),
        "{}",
        logs_old()
    );
    assert!(!logs_old().contains("12 34"), "{}", logs_old());
    // The exec's ConsoleSize, at API 1.42 and later, with Tty.
    let r = api_json(
        &d,
        "POST",
        &format!("/v1.47/containers/{name}/exec"),
        &serde_json::json!({"Cmd": ["stty", "size"], "Tty": true, "AttachStdout": true}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json().unwrap()["Id"].as_str().unwrap().to_string();
    let r = api_json(
        &d,
        "POST",
        &format!("/v1.47/exec/{id}/start"),
        &serde_json::json!({"Tty": true, "ConsoleSize": [21, 43]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text().trim_end(), "21 43");
    d.docker(&["rm", "-f", &name, &old]).success();
}

/// `crictl exec -it` (kubelet's client side: the terminal's size is the first resize message)
/// starts the process at crictl's terminal size, over SPDY and WebSocket.
#[test]
fn crictl_exec_t_starts_at_its_terminal_size() {
    use berth_tests::crictl::{crictl_args, crictl_path};
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let id = d.run_detached(
        Client::Docker,
        &["--network", "none", "busybox", "sleep", "300"],
    );
    for transport in ["spdy", "websocket"] {
        for _ in 0..5 {
            let args = crictl_args(
                &sock,
                &["exec", "-r", transport, "-it", &id, "stty", "size"],
            );
            let line = std::iter::once(crictl_path().display().to_string())
                .chain(args)
                .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
                .collect::<Vec<_>>()
                .join(" ");
            let script = format!("stty rows 37 cols 91 && exec {line}");
            let mut s =
                berth_tests::pty::spawn(std::path::Path::new("sh"), &["-c", &script], &[]).unwrap();
            assert_eq!(
                s.wait(Duration::from_secs(60)),
                Some(0),
                "{transport}: {}\n{}",
                s.stdout(),
                s.stderr()
            );
            let out = s.stdout();
            assert_eq!(first_line(&out), "37 91", "{transport}: {out:?}");
        }
    }
}

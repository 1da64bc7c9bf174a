//! CRI streaming driven by crictl (v1.37, scripts/build-crictl): ExecSync, and Exec, Attach and
//! PortForward through berthd's streaming server, over SPDY/3.1 (crictl's default transport)
//! and WebSocket (`-r websocket`). Until CRI containers exist the containers are made with the
//! Docker API: their ids are berth container ids, which the CRI calls take.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use berth_tests::cri_grpc::grpc;
use berth_tests::crictl::{crictl, crictl_args, crictl_command, crictl_path, crictl_with_input};
use berth_tests::{unique_name, Client, TestDaemon};

/// `docker run -d <args>`: the container's full id.
fn run_detached(d: &TestDaemon, args: &[&str]) -> String {
    let mut all = vec!["run", "-d", "--network", "none"];
    all.extend_from_slice(args);
    d.run(Client::Docker, &all).success().out().to_string()
}

/// A plain HTTP/1.1 GET of `url` (http://127.0.0.1:port/path): status code and body.
fn http_get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    assert!(host.starts_with("127.0.0.1:"), "{url}");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

fn as_str(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn exec_over_spdy_and_websocket_with_output_stdin_and_exit_codes() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let id = run_detached(&d, &["busybox", "sleep", "300"]);
    for transport in ["spdy", "websocket"] {
        let exec = |args: &[&str]| {
            let mut all = vec!["exec", "-r", transport];
            all.extend_from_slice(args);
            all.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        };
        let out = crictl(&sock, &as_str(&exec(&[&id, "echo", "hello", "world"])));
        out.success();
        assert_eq!(out.stdout, "hello world\n", "{transport}: {out:?}");

        // stdout and stderr apart; the exit code reaches crictl.
        let out = crictl(
            &sock,
            &as_str(&exec(&[&id, "sh", "-c", "echo out; echo err >&2; exit 3"])),
        );
        out.code_is(1)
            .stderr_has("command terminated with exit code 3")
            .stderr_has("err");
        assert_eq!(out.stdout, "out\n", "{transport}: {out:?}");

        // stdin, to its end.
        let out = crictl_with_input(
            &sock,
            &as_str(&exec(&["-i", &id, "sh", "-c", "cat; echo done"])),
            b"line one\nline two\n",
        );
        out.success();
        assert_eq!(
            out.stdout, "line one\nline two\ndone\n",
            "{transport}: {out:?}"
        );

        // A command that cannot start: 126 as under docker exec, with the runtime's reason.
        crictl(&sock, &as_str(&exec(&[&id, "/no/such/binary"])))
            .code_is(1)
            .stderr_has("command terminated with exit code 126");
    }
    // The exec'd processes are gone: only the container's own process is left.
    let top = d
        .run(Client::Docker, &["top", &id])
        .success()
        .out()
        .to_string();
    assert_eq!(top.lines().count(), 2, "{top}");
}

#[test]
fn exec_with_a_terminal() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let id = run_detached(&d, &["busybox", "sleep", "300"]);
    for transport in ["spdy", "websocket"] {
        let args = crictl_args(
            &sock,
            &[
                "exec",
                "-r",
                transport,
                "-it",
                &id,
                "sh",
                "-c",
                "tty; stty size; echo end-$((6*7))",
            ],
        );
        // crictl's terminal gets a size of its own, which the resize stream must carry in.
        let line = std::iter::once(crictl_path().display().to_string())
            .chain(args)
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!("stty rows 33 cols 99 && exec {line}");
        let mut s =
            berth_tests::pty::spawn(std::path::Path::new("sh"), &["-c", &script], &[]).unwrap();
        assert!(
            s.wait_for_stdout("end-42", Duration::from_secs(30)),
            "{transport}: {}\n{}",
            s.stdout(),
            s.stderr()
        );
        assert_eq!(
            s.wait(Duration::from_secs(20)),
            Some(0),
            "{transport}: {}",
            s.stdout()
        );
        let out = s.stdout();
        assert!(
            out.contains("/dev/pts/"),
            "{transport}: a terminal: {out:?}"
        );
        assert!(
            out.contains("\n33 99\r\n"),
            "{transport}: the size: {out:?}"
        );
    }
}

#[test]
fn exec_sync_output_exit_code_and_timeout() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let id = run_detached(&d, &["busybox", "sleep", "300"]);
    let out = crictl(
        &sock,
        &[
            "exec",
            "--sync",
            &id,
            "sh",
            "-c",
            "echo to-out; echo to-err >&2",
        ],
    );
    out.success().stdout_has("to-out").stdout_has("to-err");

    // Through gRPC: the fields apart, and a non-zero exit code is an answer, not an error.
    let sid = id.clone();
    let (stdout, stderr, code) = grpc(&sock, async move |mut rt, _| {
        let r = rt
            .exec_sync(berth_cri::proto::ExecSyncRequest {
                container_id: sid,
                cmd: vec![
                    "sh".into(),
                    "-c".into(),
                    "echo o; echo e >&2; exit 7".into(),
                ],
                timeout: 0,
            })
            .await
            .unwrap()
            .into_inner();
        (r.stdout, r.stderr, r.exit_code)
    });
    assert_eq!(
        (stdout.as_slice(), stderr.as_slice(), code),
        (&b"o\n"[..], &b"e\n"[..], 7)
    );
    crictl(&sock, &["exec", "--sync", &id, "sh", "-c", "exit 4"])
        .code_is(1)
        .stderr_has("exited with 4");

    // The timeout: an error after about a second, and the command killed.
    let started = Instant::now();
    crictl(
        &sock,
        &["exec", "--sync", "--timeout", "1", &id, "sleep", "77"],
    )
    .code_is(1)
    .stderr_has("timeout 1s exceeded");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let sid = id.clone();
    let code = grpc(&sock, async move |mut rt, _| {
        rt.exec_sync(berth_cri::proto::ExecSyncRequest {
            container_id: sid,
            cmd: vec!["sleep".into(), "78".into()],
            timeout: 1,
        })
        .await
        .unwrap_err()
        .code()
    });
    assert_eq!(code, tonic::Code::DeadlineExceeded);
    let top = d
        .run(Client::Docker, &["top", &id])
        .success()
        .out()
        .to_string();
    assert!(
        !top.contains("sleep 77") && !top.contains("sleep 78"),
        "{top}"
    );
}

#[test]
fn attach_over_spdy_and_websocket() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    for transport in ["spdy", "websocket"] {
        // Output only: the container's output until it exits.
        let id = run_detached(
            &d,
            &["busybox", "sh", "-c", "sleep 2; echo late; echo oops >&2"],
        );
        let out = crictl(&sock, &["attach", "-r", transport, &id]);
        out.success().stdout_has("late").stderr_has("oops");

        // stdin reaches the container; the container's answer comes back.
        let id = run_detached(
            &d,
            &["-i", "busybox", "sh", "-c", "read line; echo got-$line"],
        );
        let out = crictl_with_input(&sock, &["attach", "-r", transport, "-i", &id], b"ping\n");
        out.success().stdout_has("got-ping");
    }
}

#[test]
fn port_forward_into_a_containers_network_namespace() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    // --network none: the container's loopback is the only way in.
    let id = run_detached(
        &d,
        &[
            "busybox",
            "sh",
            "-c",
            "while true; do echo served-$((40+2)) | nc -l -p 8080; done",
        ],
    );
    // SPDY (crictl's default), and SPDY tunnelled in WebSocket.
    for transport in ["spdy", "websocket"] {
        let local = berth_tests::host::free_port();
        let unused = berth_tests::host::free_port();
        let mut pf = berth_tests::cli::Spawned::spawn({
            let mut c = crictl_command(
                &sock,
                &[
                    "port-forward",
                    "--transport",
                    transport,
                    &id,
                    &format!("{local}:8080"),
                    &format!("{unused}:9"),
                ],
            );
            c.stdin(std::process::Stdio::null());
            c
        })
        .unwrap();
        assert!(
            pf.wait_for_stdout("Forwarding from", Duration::from_secs(30)),
            "{transport}: {}\n{}",
            pf.stdout(),
            pf.stderr()
        );
        for _ in 0..2 {
            let mut got = String::new();
            let deadline = Instant::now() + Duration::from_secs(20);
            // nc may be between two connections: retry until it answers.
            while !got.contains("served-42") && Instant::now() < deadline {
                got.clear();
                let mut c = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let _ = c.read_to_string(&mut got);
                if !got.contains("served-42") {
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            assert_eq!(got, "served-42\n", "{transport}");
        }
        // Nothing listens on port 9 in the container: the client is told.
        let mut c = std::net::TcpStream::connect(("127.0.0.1", unused)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = String::new();
        let _ = c.read_to_string(&mut rest);
        assert_eq!(rest, "", "{transport}");
        assert!(
            berth_tests::poll::wait_until(Duration::from_secs(10), || pf
                .stderr()
                .contains("error forwarding port 9 to pod")),
            "{transport}: {}",
            pf.stderr()
        );
        pf.kill();
    }
}

#[test]
fn streaming_urls_are_checked_used_once_and_bad_tokens_are_404() {
    use berth_cri::proto::{AttachRequest, ExecRequest, PortForwardRequest};
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let id = run_detached(&d, &["busybox", "sleep", "300"]);
    let stopped = unique_name("stopped");
    d.run(
        Client::Docker,
        &["create", "--name", &stopped, "busybox", "true"],
    )
    .success();
    let exec = |id: &str, tty: bool, stdin: bool, stdout: bool, stderr: bool| ExecRequest {
        container_id: id.into(),
        cmd: vec!["true".into()],
        tty,
        stdin,
        stdout,
        stderr,
    };
    let sid = id.clone();
    let (url, attach_url, pf_url, errors) = grpc(&sock, async move |mut rt, _| {
        let url = rt
            .exec(exec(&sid, false, false, true, true))
            .await
            .unwrap()
            .into_inner()
            .url;
        let attach_url = rt
            .attach(AttachRequest {
                container_id: sid.clone(),
                stdin: false,
                tty: false,
                stdout: true,
                stderr: true,
            })
            .await
            .unwrap()
            .into_inner()
            .url;
        let pf_url = rt
            .port_forward(PortForwardRequest {
                pod_sandbox_id: sid.clone(),
                port: vec![80],
            })
            .await
            .unwrap()
            .into_inner()
            .url;
        let mut errors = Vec::new();
        for req in [
            exec(&sid, true, false, true, true),
            exec(&sid, false, false, false, false),
            ExecRequest {
                cmd: vec![],
                ..exec(&sid, false, false, true, false)
            },
            exec("no-such-container", false, false, true, false),
            exec(&stopped, false, false, true, false),
        ] {
            let e = rt.exec(req).await.unwrap_err();
            errors.push((e.code(), e.message().to_string()));
        }
        (url, attach_url, pf_url, errors)
    });
    assert_eq!(
        errors,
        vec![
            (
                tonic::Code::InvalidArgument,
                "tty and stderr cannot both be true".to_string()
            ),
            (
                tonic::Code::InvalidArgument,
                "one of stdin, stdout, or stderr must be set".to_string()
            ),
            (
                tonic::Code::InvalidArgument,
                "cmd must not be empty".to_string()
            ),
            (
                tonic::Code::NotFound,
                "failed to find container \"no-such-container\" in store: not found".to_string()
            ),
            (
                tonic::Code::FailedPrecondition,
                "container is in CONTAINER_CREATED state".to_string()
            ),
        ]
    );
    let port = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|r| r.split('/').next())
        .unwrap();
    assert!(url.contains("/exec/"), "{url}");
    assert!(
        attach_url.starts_with(&format!("http://127.0.0.1:{port}/attach/")),
        "{attach_url}"
    );
    assert!(
        pf_url.starts_with(&format!("http://127.0.0.1:{port}/portforward/")),
        "{pf_url}"
    );

    // A token only works on its own path.
    let token = url.rsplit('/').next().unwrap();
    let wrong = format!("http://127.0.0.1:{port}/attach/{token}");
    assert_eq!(http_get(&wrong, &[]).0, 404);
    // ... and that use spent it: the real path is 404 now too.
    assert_eq!(
        http_get(&url, &[]),
        (404, "404 page not found\n".to_string())
    );

    // Without an upgrade a request is refused (and the token is spent).
    let (code, body) = http_get(&attach_url, &[]);
    assert_eq!(code, 400, "{body}");
    assert_eq!(http_get(&attach_url, &[]).0, 404);
    // A protocol the server does not speak: 403 with what it does speak.
    let (code, body) = http_get(
        &pf_url,
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "SPDY/3.1"),
            ("X-Stream-Protocol-Version", "v9.portforward.example"),
        ],
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("portforward.k8s.io"), "{body}");

    // Tokens nobody issued.
    for bad in ["/exec/AAAAAAAAAAA", "/portforward/", "/nothing/here"] {
        assert_eq!(
            http_get(&format!("http://127.0.0.1:{port}{bad}"), &[]),
            (404, "404 page not found\n".to_string()),
            "{bad}"
        );
    }
}

#[test]
fn streaming_urls_expire_after_a_minute() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let id = run_detached(&d, &["busybox", "sleep", "300"]);
    let (fresh, old) = grpc(&sock, async move |mut rt, _| {
        let mut urls = Vec::new();
        for _ in 0..2 {
            let r = berth_cri::proto::ExecRequest {
                container_id: id.clone(),
                cmd: vec!["true".into()],
                tty: false,
                stdin: false,
                stdout: true,
                stderr: false,
            };
            urls.push(rt.exec(r).await.unwrap().into_inner().url);
        }
        (urls.pop().unwrap(), urls.pop().unwrap())
    });
    // Within the minute the URL is good (refused for want of an upgrade: not a 404).
    assert_eq!(http_get(&fresh, &[]).0, 400);
    std::thread::sleep(Duration::from_secs(61));
    assert_eq!(
        http_get(&old, &[]),
        (404, "404 page not found\n".to_string())
    );
}

#[test]
fn the_streaming_port_is_settable() {
    let port = berth_tests::host::free_port().to_string();
    let Some(d) =
        TestDaemon::start_with(&["--cri-socket", "{dir}/cri.sock", "--cri-stream-port", &port])
    else {
        return;
    };
    let sock = d.cri_socket();
    let id = run_detached(&d, &["busybox", "sleep", "300"]);
    let url = grpc(&sock, async move |mut rt, _| {
        let r = berth_cri::proto::AttachRequest {
            container_id: id,
            stdin: false,
            tty: false,
            stdout: true,
            stderr: false,
        };
        rt.attach(r).await.unwrap().into_inner().url
    });
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{port}/attach/")),
        "{url}"
    );
}

#[test]
fn attach_to_a_terminal() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    for transport in ["spdy", "websocket"] {
        let id = run_detached(&d, &["-it", "busybox", "sh"]);
        let args = crictl_args(&sock, &["attach", "-r", transport, "-it", &id]);
        let line = std::iter::once(crictl_path().display().to_string())
            .chain(args)
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!("stty rows 21 cols 77 && exec {line}");
        let mut s =
            berth_tests::pty::spawn(std::path::Path::new("sh"), &["-c", &script], &[]).unwrap();
        // Typed input reaches the shell; the attach resized the container's terminal.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !s.stdout().contains("size-21-77") && Instant::now() < deadline {
            s.write_stdin(b"echo size-$(stty size | tr ' ' -)\r");
            std::thread::sleep(Duration::from_millis(500));
        }
        assert!(
            s.stdout().contains("size-21-77"),
            "{transport}: {:?}",
            s.stdout()
        );
        // The shell's exit ends the container and the attach.
        s.write_stdin(b"exit\r");
        assert_eq!(
            s.wait(Duration::from_secs(20)),
            Some(0),
            "{transport}: {:?} {:?}",
            s.stdout(),
            s.stderr()
        );
        d.wait_for_inspect(Client::Docker, &id, "{{.State.Running}}", "false");
    }
}

/// Reads one unmasked WebSocket frame (the server's): opcode and payload.
fn ws_frame(s: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).ok()?;
    assert_eq!(h[1] & 0x80, 0, "a server's frames are not masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).ok()?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).ok()?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload).ok()?;
    Some((h[0] & 0x0f, payload))
}

#[test]
fn exec_over_websocket_v4_by_hand() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let id = run_detached(&d, &["busybox", "sleep", "300"]);
    let url = grpc(&sock, async move |mut rt, _| {
        let r = berth_cri::proto::ExecRequest {
            container_id: id,
            cmd: vec![
                "sh".into(),
                "-c".into(),
                "echo hi; echo ho >&2; exit 5".into(),
            ],
            tty: false,
            stdin: false,
            stdout: true,
            stderr: true,
        };
        rt.exec(r).await.unwrap().into_inner().url
    });
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: v4.channel.k8s.io, base64.channel.k8s.io\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    // RFC 6455's example key and its accept value.
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert!(
        head.contains("sec-websocket-protocol: v4.channel.k8s.io"),
        "{head}"
    );
    let (mut stdout, mut stderr, mut status) = (Vec::new(), Vec::new(), Vec::new());
    let mut closed = false;
    while let Some((op, payload)) = ws_frame(&mut s) {
        match (op, payload.split_first()) {
            (2, Some((1, data))) => stdout.extend_from_slice(data),
            (2, Some((2, data))) => stderr.extend_from_slice(data),
            (2, Some((3, data))) => status.extend_from_slice(data),
            (8, _) => {
                assert_eq!(&payload[..2], &1000u16.to_be_bytes(), "normal closure");
                closed = true;
                break;
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
    assert!(closed, "the server closes the connection");
    assert_eq!(
        (stdout.as_slice(), stderr.as_slice()),
        (&b"hi\n"[..], &b"ho\n"[..])
    );
    let status: serde_json::Value = serde_json::from_slice(&status).unwrap();
    assert_eq!(status["status"], "Failure", "{status}");
    assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
    assert_eq!(
        status["details"]["causes"][0]["reason"], "ExitCode",
        "{status}"
    );
    assert_eq!(status["details"]["causes"][0]["message"], "5", "{status}");
}

#[test]
fn a_client_that_goes_away_ends_its_execs_input() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let id = run_detached(&d, &["busybox", "sleep", "300"]);
    for transport in ["spdy", "websocket"] {
        let marker = format!("cat-{transport}");
        let mut c = crictl_command(
            &sock,
            &[
                "exec",
                "-r",
                transport,
                "-i",
                &id,
                "sh",
                "-c",
                &format!("cat; echo {marker}"),
            ],
        );
        c.stdin(std::process::Stdio::piped());
        let mut s = berth_tests::cli::Spawned::spawn(c).unwrap();
        s.write_stdin(b"echoed\n");
        assert!(
            s.wait_for_stdout("echoed", Duration::from_secs(30)),
            "{transport}: {}",
            s.stderr()
        );
        let top = || {
            d.run(Client::Docker, &["top", &id])
                .success()
                .out()
                .to_string()
        };
        assert!(top().contains(&marker), "{transport}: {}", top());
        // crictl dies without closing anything: its connection drops, and with it the
        // process's stdin.
        s.kill();
        assert!(
            berth_tests::poll::wait_until(Duration::from_secs(15), || !top().contains(&marker)),
            "{transport}: {}",
            top()
        );
    }
}

//! Behaviour and status codes the differential harness found different from dockerd 20.10, each
//! driven through a real berthd over the API (and the CLIs where they show it): the events'
//! legacy fields and the event kinds dockerd logs, refusals of kill/exec start/attach, the state
//! an exited container keeps, plugins, search, import from a URL, quiet builds, pushes of a
//! missing image and `BuilderSize`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_tests::http;
use berth_tests::tarball::tar_of;
use berth_tests::{unique_name, wait_until, TestDaemon};
use serde_json::Value;

use berth_tests::http::JSON;
const UPGRADE: &[(&str, &str)] = &[
    ("Connection", "Upgrade"),
    ("Upgrade", "tcp"),
    ("Content-Type", "application/json"),
];

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn lines(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .filter_map(Result::ok)
        .collect()
}

/// Events between `since` and now.
fn events_since(d: &TestDaemon, since: f64) -> Vec<Value> {
    let r = d.api(
        "GET",
        &format!("/events?since={since:.9}&until={:.9}", now()),
        None,
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    lines(&r.text())
}

fn find<'a>(events: &'a [Value], typ: &str, action: &str) -> Option<&'a Value> {
    events
        .iter()
        .find(|e| e["Type"] == typ && e["Action"] == action)
}

#[track_caller]
fn create(d: &TestDaemon, name: &str, body: &str) -> String {
    let r = d.api(
        "POST",
        &format!("/containers/create?name={name}"),
        JSON,
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "create {name}: {}", r.text());
    r.json()
        .and_then(|v| v["Id"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[track_caller]
fn start(d: &TestDaemon, name: &str) {
    let r = d.api("POST", &format!("/containers/{name}/start"), None, b"");
    assert_eq!(r.status, 204, "start {name}: {}", r.text());
}

#[track_caller]
fn wait_exited(d: &TestDaemon, name: &str) {
    assert!(
        wait_until(Duration::from_secs(20), || d.inspect_json(name)["State"]
            ["Status"]
            == "exited"),
        "{name} did not exit"
    );
}

/// Paths a [`serve`] server was asked for.
type Seen = Arc<Mutex<Vec<String>>>;

/// A one-thread HTTP server on 127.0.0.1 answering each request with `answer(path)`, for 60
/// seconds at most. TLS handshakes (a client trying HTTPS first) are dropped, as a plain HTTP
/// server fails them.
fn serve(answer: impl Fn(&str) -> (u16, Vec<u8>) + Send + 'static) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    listener.set_nonblocking(true).expect("nonblocking");
    let seen: Seen = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let stream = match listener.accept() {
                Ok((s, _)) => s,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream);
            match reader.fill_buf() {
                Ok(b) if !b.is_empty() && b[0] != 0x16 => {}
                _ => continue,
            }
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let Some(path) = request_line.split_whitespace().nth(1).map(str::to_string) else {
                continue;
            };
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
            }
            if let Ok(mut v) = record.lock() {
                v.push(path.clone());
            }
            let (status, body) = answer(&path);
            let mut stream = reader.into_inner();
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
        }
    });
    (port, seen)
}

#[test]
fn events_carry_legacy_fields_and_the_kinds_dockerd_logs() {
    let Some(d) = TestDaemon::start() else { return };
    let since = now() - 1.0;
    let name = unique_name("ev");
    let vol = unique_name("evvol");
    let id = create(
        &d,
        &name,
        &format!(
            r#"{{"Image":"busybox","Cmd":["sleep","300"],"Labels":{{"ev.l":"v"}},"HostConfig":{{"Binds":["{vol}:/data"]}}}}"#
        ),
    );
    start(&d, &name);
    let r = d.api("GET", &format!("/containers/{name}/top"), None, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    // No TTY: nothing to resize, yet dockerd answers 200 and logs it.
    let r = d.api(
        "POST",
        &format!("/containers/{name}/resize?h=40&w=100"),
        None,
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = d.api(
        "POST",
        &format!("/containers/{name}/attach?logs=1&stdout=1"),
        None,
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = d.api("POST", &format!("/containers/{name}/kill"), None, b"");
    assert_eq!(r.status, 204, "{}", r.text());
    wait_exited(&d, &name);
    // A second kill: dockerd's 409 and words.
    let r = d.api("POST", &format!("/containers/{name}/kill"), None, b"");
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        r.json().unwrap_or_default()["message"],
        format!("Cannot kill container: {name}: Container {id} is not running")
    );
    for path in ["/volumes/prune", "/networks/prune", "/build/prune"] {
        let r = d.api("POST", path, None, b"");
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    let events = events_since(&d, since);
    let create_ev = find(&events, "container", "create").expect("create event");
    assert_eq!(create_ev["status"], "create");
    assert_eq!(create_ev["id"], id.as_str());
    assert_eq!(create_ev["from"], "busybox");
    assert_eq!(create_ev["Actor"]["Attributes"]["ev.l"], "v");
    assert_eq!(create_ev["Actor"]["Attributes"]["name"], name.as_str());
    let die = find(&events, "container", "die").expect("die event");
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "137");
    assert!(
        die["Actor"]["Attributes"].get("execDuration").is_none(),
        "dockerd 20.10's die has no execDuration: {die}"
    );
    let resize = find(&events, "container", "resize").expect("resize event");
    assert_eq!(resize["Actor"]["Attributes"]["height"], "40");
    assert_eq!(resize["Actor"]["Attributes"]["width"], "100");
    for action in ["attach", "top", "kill"] {
        let e = find(&events, "container", action)
            .unwrap_or_else(|| panic!("no container {action} event in {events:?}"));
        assert_eq!(e["status"], action);
    }
    let mount = find(&events, "volume", "mount").expect("volume mount event");
    assert_eq!(mount["Actor"]["ID"], vol.as_str());
    assert_eq!(mount["Actor"]["Attributes"]["container"], id.as_str());
    assert_eq!(mount["Actor"]["Attributes"]["destination"], "/data");
    assert_eq!(mount["Actor"]["Attributes"]["read/write"], "true");
    assert!(
        mount.get("status").is_none(),
        "no legacy fields on volume events"
    );
    let unmount = find(&events, "volume", "unmount").expect("volume unmount event");
    assert_eq!(unmount["Actor"]["Attributes"]["container"], id.as_str());
    for typ in ["volume", "network", "builder"] {
        let e = find(&events, typ, "prune").unwrap_or_else(|| panic!("no {typ} prune event"));
        assert!(e["Actor"]["Attributes"]["reclaimed"].is_string(), "{e}");
    }
    // Image events carry status and id too.
    let r = d.api("POST", "/images/busybox/tag?repo=ev-tag&tag=1", None, b"");
    assert_eq!(r.status, 201, "{}", r.text());
    let events = events_since(&d, since);
    let tag = find(&events, "image", "tag").expect("tag event");
    assert_eq!(tag["status"], "tag");
    assert!(
        tag["id"].as_str().is_some_and(|i| i.starts_with("sha256:")),
        "{tag}"
    );
    assert!(tag.get("from").is_none(), "{tag}");
}

#[test]
fn a_finished_exec_is_refused_in_the_stream_and_leaves_exec_ids() {
    let Some(d) = TestDaemon::start() else { return };
    let name = unique_name("ex");
    create(&d, &name, r#"{"Image":"busybox","Cmd":["sleep","300"]}"#);
    start(&d, &name);
    let r = d.api(
        "POST",
        &format!("/containers/{name}/exec"),
        JSON,
        br#"{"Cmd":["true"],"AttachStdout":true,"AttachStderr":true}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let exec = r
        .json()
        .and_then(|v| v["Id"].as_str().map(str::to_string))
        .unwrap_or_default();
    let start_exec = |detach: bool| {
        http::request_with_headers(
            &d.socket,
            "POST",
            &format!("/exec/{exec}/start"),
            if detach { &UPGRADE[2..] } else { UPGRADE },
            format!(r#"{{"Detach":{detach},"Tty":false}}"#).as_bytes(),
            Duration::from_secs(30),
        )
        .expect("exec start")
    };
    let first = start_exec(false);
    assert_eq!(first.status, 101, "{}", first.text());
    assert!(
        wait_until(Duration::from_secs(10), || {
            d.api("GET", &format!("/exec/{exec}/json"), None, b"")
                .json()
                .is_some_and(|v| v["Running"] == false && v["ExitCode"] == 0)
        }),
        "the exec did not finish"
    );
    let ids = d.inspect_json(&name)["ExecIDs"].clone();
    assert!(
        !ids.as_array()
            .into_iter()
            .flatten()
            .any(|i| i == exec.as_str()),
        "a finished exec is still listed: {ids}"
    );
    let again = start_exec(false);
    assert_eq!(again.status, 101, "{}", again.text());
    let out = berth_tests::apidiff::demux(&again.body).expect("stdcopy frames");
    assert_eq!(
        String::from_utf8_lossy(out.get(&1).map(Vec::as_slice).unwrap_or_default()),
        format!("Error: Exec command {exec} has already run\r\n")
    );
    let detached = start_exec(true);
    assert_eq!(detached.status, 409, "{}", detached.text());
    assert_eq!(
        detached.json().unwrap_or_default()["message"],
        format!("Error: Exec command {exec} has already run")
    );
    // A detached exec leaves the list when it ends too.
    let r = d.api(
        "POST",
        &format!("/containers/{name}/exec"),
        JSON,
        br#"{"Cmd":["sleep","1"]}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let bg = r
        .json()
        .and_then(|v| v["Id"].as_str().map(str::to_string))
        .unwrap_or_default();
    let r = d.api(
        "POST",
        &format!("/exec/{bg}/start"),
        JSON,
        br#"{"Detach":true}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let listed = |id: &str| {
        d.inspect_json(&name)["ExecIDs"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i == id)
    };
    assert!(listed(&bg), "a running exec is listed");
    assert!(
        wait_until(Duration::from_secs(10), || !listed(&bg)),
        "the detached exec is still listed after it ended"
    );
}

#[test]
fn an_exited_container_keeps_its_config_flags_and_network_id() {
    let Some(d) = TestDaemon::start() else { return };
    let name = unique_name("gone");
    create(&d, &name, r#"{"Image":"busybox","Cmd":["true"]}"#);
    start(&d, &name);
    wait_exited(&d, &name);
    let v = d.inspect_json(&name);
    for flag in ["Tty", "OpenStdin", "StdinOnce", "AttachStdin"] {
        assert_eq!(v["Config"][flag], false, "Config.{flag}: {}", v["Config"]);
    }
    assert!(v["Config"]["Labels"].is_object(), "{}", v["Config"]);
    let bridge = &v["NetworkSettings"]["Networks"]["bridge"];
    assert!(
        bridge["NetworkID"].as_str().is_some_and(|s| !s.is_empty()),
        "{bridge}"
    );
    assert_eq!(bridge["EndpointID"], "", "{bridge}");
}

#[test]
fn attach_export_and_disconnect_answer_as_dockerd() {
    let Some(d) = TestDaemon::start() else { return };
    let r = http::request_with_headers(
        &d.socket,
        "POST",
        "/containers/ab-nope/attach?stream=1&stdout=1",
        UPGRADE,
        b"",
        Duration::from_secs(10),
    )
    .expect("attach");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.docker.raw-stream")
    );
    assert_eq!(r.text(), "No such container: ab-nope\r\n");
    let r = d.api("GET", "/containers/ab-nope/attach/ws?stdout=1", None, b"");
    assert_eq!(r.status, 404, "{}", r.text());
    let name = unique_name("ab");
    create(&d, &name, r#"{"Image":"busybox","Cmd":["sleep","300"]}"#);
    let r = d.api(
        "GET",
        &format!("/containers/{name}/attach/ws?stdout=1"),
        None,
        b"",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "not websocket protocol");
    let r = d.api("GET", &format!("/containers/{name}/export"), None, b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let net = unique_name("abnet");
    let r = d.api(
        "POST",
        "/networks/create",
        JSON,
        format!(r#"{{"Name":"{net}"}}"#).as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let body = format!(r#"{{"Container":"{name}"}}"#);
    // Connected, disconnected, and a second disconnect refused.
    for (action, want) in [("connect", 200), ("disconnect", 200), ("disconnect", 500)] {
        let r = d.api(
            "POST",
            &format!("/networks/{net}/{action}"),
            JSON,
            body.as_bytes(),
        );
        assert_eq!(r.status, want, "{action}: {}", r.text());
        if want == 500 {
            assert!(
                r.text().contains("is not connected to network"),
                "{}",
                r.text()
            );
        }
    }
    // The docker CLI says the same.
    let out = d.docker(&["network", "disconnect", &net, &name]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("is not connected to network"),
        "{}",
        out.stderr
    );
}

#[test]
fn plugins_are_an_empty_list() {
    let Some(d) = TestDaemon::start() else { return };
    let r = d.api("GET", "/plugins", None, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), Some(serde_json::json!([])));
    let r = d.api(
        "GET",
        "/plugins?filters=%7B%22enable%22%3A%5B%22true%22%5D%7D",
        None,
        b"",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json().unwrap_or_default()["message"],
        "Invalid filter 'enable'"
    );
    let r = d.api("GET", "/plugins/pl-x/json", None, b"");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json().unwrap_or_default()["message"],
        "plugin \"pl-x\" not found"
    );
    let r = d.api("POST", "/plugins/pl-x/upgrade?remote=pl-x", JSON, b"[]");
    assert_eq!(
        r.json().unwrap_or_default()["message"],
        "plugin \"pl-x:latest\" not found"
    );
    let out = d.docker(&["plugin", "ls", "--format", "{{.Name}}"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "");
}

#[test]
fn search_asks_the_registry_v1_api() {
    let Some(d) = TestDaemon::start() else { return };
    let results = r#"{"num_results":2,"query":"sr","results":[{"name":"sr/a","description":"A","star_count":3,"is_official":false,"is_automated":false},{"name":"sr/b","description":"B","star_count":0,"is_official":true,"is_automated":false}]}"#;
    // HTTPS first (refused by this plain server), then HTTP: ping, then search.
    let (port, seen) = serve(move |path| {
        if path.starts_with("/v1/_ping") {
            (200, b"true".to_vec())
        } else if path.starts_with("/v1/search") {
            (200, results.as_bytes().to_vec())
        } else {
            (404, Vec::new())
        }
    });
    let r = d.api(
        "GET",
        &format!("/images/search?term=127.0.0.1%3A{port}%2Fsr&limit=5"),
        None,
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json().unwrap_or_default();
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v[0]["name"], "sr/a");
    let r = d.api(
        "GET",
        &format!(
            "/images/search?term=127.0.0.1%3A{port}%2Fsr&filters=%7B%22stars%22%3A%5B%221%22%5D%7D"
        ),
        None,
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json().unwrap_or_default().as_array().map(Vec::len),
        Some(1)
    );
    let seen = seen.lock().map(|v| v.clone()).unwrap_or_default();
    assert!(
        seen.iter().any(|p| p.starts_with("/v1/search?q=sr&n=5")),
        "{seen:?}"
    );
    // Nothing listens on port 1: dockerd's 500 and its words.
    let r = d.api("GET", "/images/search?term=127.0.0.1%3A1%2Fsr", None, b"");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text().contains("invalid registry endpoint"),
        "{}",
        r.text()
    );
    let r = d.api("GET", "/images/search?term=sr&limit=0", None, b"");
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn import_downloads_from_a_url() {
    let Some(d) = TestDaemon::start() else { return };
    let tar = std::fs::read(berth_tests::daemon::busybox_tar()).expect("busybox tar");
    let (port, _seen) = serve(move |path| {
        if path == "/bb.tar" {
            (200, tar.clone())
        } else {
            (404, Vec::new())
        }
    });
    let r = d.api(
        "POST",
        &format!(
            "/images/create?fromSrc=http%3A%2F%2F127.0.0.1%3A{port}%2Fbb.tar&repo=from-url&tag=1"
        ),
        None,
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let msgs = lines(&r.text());
    assert_eq!(
        msgs.first().map(|m| m["status"].clone()),
        Some(Value::from(format!(
            "Downloading from http://127.0.0.1:{port}/bb.tar"
        )))
    );
    assert!(
        msgs.last()
            .and_then(|m| m["status"].as_str())
            .is_some_and(|s| s.starts_with("sha256:")),
        "{msgs:?}"
    );
    let r = d.api("GET", "/images/from-url:1/json", None, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = d.api(
        "POST",
        "/images/create?fromSrc=http%3A%2F%2F127.0.0.1%3A1%2Fbb.tar&repo=from-url",
        None,
        b"",
    );
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text().contains("Get \\\"http://127.0.0.1:1/bb.tar\\\""),
        "{}",
        r.text()
    );
}

#[test]
fn quiet_build_push_of_a_missing_image_and_builder_size() {
    let Some(d) = TestDaemon::start() else { return };
    let ctx = tar_of(&[("Dockerfile", "FROM busybox\nLABEL q=1\n")]);
    let r = d.api(
        "POST",
        "/build?t=qb%3A1&q=1",
        Some("application/x-tar"),
        &ctx,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let msgs = lines(&r.text());
    assert!(msgs.iter().all(|m| m.get("aux").is_none()), "{msgs:?}");
    let id = d
        .api("GET", "/images/qb:1/json", None, b"")
        .json()
        .and_then(|v| v["Id"].as_str().map(str::to_string))
        .unwrap_or_default();
    assert_eq!(
        msgs.last().map(|m| m["stream"].clone()),
        Some(Value::from(format!("{id}\n"))),
        "{msgs:?}"
    );
    // Both CLIs print the id of a quiet build.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("Dockerfile"), "FROM busybox\nLABEL q=2\n").expect("write");
    let ctx_dir = dir.path().display().to_string();
    for out in [
        d.berth(&["build", "-q", "-t", "qb:2", &ctx_dir]),
        d.docker(&["build", "-q", "-t", "qb:3", &ctx_dir]),
    ] {
        assert_eq!(out.code, 0, "{}: {}", out.command, out.stderr);
        assert!(
            out.stdout.trim().starts_with("sha256:"),
            "{}: {:?}",
            out.command,
            out.stdout
        );
    }
    let r = http::request_with_headers(
        &d.socket,
        "POST",
        "/images/qb-nope/push?tag=1",
        &[("X-Registry-Auth", "e30=")],
        b"",
        Duration::from_secs(30),
    )
    .expect("push");
    assert_eq!(r.status, 200, "{}", r.text());
    let msgs = lines(&r.text());
    assert_eq!(
        msgs.first().map(|m| m["status"].clone()),
        Some(Value::from(
            "The push refers to repository [docker.io/library/qb-nope]"
        ))
    );
    assert_eq!(
        msgs.last().map(|m| m["error"].clone()),
        Some(Value::from(
            "An image does not exist locally with the tag: qb-nope"
        ))
    );
    let df = d
        .api("GET", "/system/df", None, b"")
        .json()
        .unwrap_or_default();
    let total: i64 = df["BuildCache"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["Size"].as_i64())
        .sum();
    assert_eq!(
        df["BuilderSize"].as_i64(),
        Some(total),
        "{}",
        df["BuilderSize"]
    );
}

/// A websocket client's handshake on the daemon's socket; the stream after a 101.
fn ws_connect(d: &TestDaemon, path: &str) -> (String, std::os::unix::net::UnixStream) {
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://localhost\r\n\r\n"
    );
    s.write_all(req.as_bytes()).expect("handshake");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match std::io::Read::read(&mut s, &mut b) {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    (String::from_utf8_lossy(&head).into_owned(), s)
}

/// Reads server frames until a close frame or `want` bytes of payload.
fn ws_read(s: &mut std::os::unix::net::UnixStream, want: usize) -> (Vec<u8>, Vec<u8>) {
    use std::io::Read as _;
    let (mut payload, mut opcodes) = (Vec::new(), Vec::new());
    while payload.len() < want {
        let mut h = [0u8; 2];
        if s.read_exact(&mut h).is_err() {
            break;
        }
        let mut len = u64::from(h[1] & 0x7f);
        if len == 126 {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).expect("len");
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).expect("len");
            len = u64::from_be_bytes(b);
        }
        let mut data = vec![0u8; len as usize];
        s.read_exact(&mut data).expect("payload");
        opcodes.push(h[0] & 0x0f);
        if h[0] & 0x0f == 0x8 {
            break;
        }
        payload.extend(data);
    }
    (payload, opcodes)
}

#[test]
fn websocket_attach_streams_raw_output_and_takes_input() {
    let Some(d) = TestDaemon::start() else { return };
    let done = unique_name("wsdone");
    create(
        &d,
        &done,
        r#"{"Image":"busybox","Cmd":["sh","-c","echo out; echo err >&2"]}"#,
    );
    start(&d, &done);
    wait_exited(&d, &done);
    let (head, mut s) = ws_connect(
        &d,
        &format!("/containers/{done}/attach/ws?logs=1&stdout=1&stderr=1"),
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    let (payload, opcodes) = ws_read(&mut s, usize::MAX);
    // Not multiplexed: the output as the container wrote it, in binary frames (API 1.28+).
    assert_eq!(String::from_utf8_lossy(&payload), "out\nerr\n");
    assert!(opcodes.iter().all(|&o| o == 0x2 || o == 0x8), "{opcodes:?}");

    let live = unique_name("wslive");
    create(
        &d,
        &live,
        r#"{"Image":"busybox","Cmd":["cat"],"OpenStdin":true,"AttachStdin":true}"#,
    );
    start(&d, &live);
    let (head, mut s) = ws_connect(
        &d,
        &format!("/containers/{live}/attach/ws?stream=1&stdin=1&stdout=1"),
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // One masked text frame, as a browser sends.
    let mask = [1u8, 2, 3, 4];
    let mut f = vec![0x81, 0x80 | 6];
    f.extend_from_slice(&mask);
    f.extend(b"hello\n".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&f).expect("frame");
    let (payload, _) = ws_read(&mut s, 6);
    assert_eq!(String::from_utf8_lossy(&payload), "hello\n");
    let r = d.api("POST", &format!("/containers/{live}/kill"), None, b"");
    assert_eq!(r.status, 204, "{}", r.text());
}

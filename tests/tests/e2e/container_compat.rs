//! Container behaviours docker-py 7.2's integration tests found differing from dockerd 20.10:
//! links, `GroupAdd`, log options, `HostConfig.Runtime` and commit with pause. Where the CLIs
//! cannot express a request, raw HTTP with the shapes docker-py sends.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::time::Duration;

use berth_tests::{unique_name, wait_until, Client, TestDaemon};

fn create(d: &TestDaemon, name: &str, body: serde_json::Value) -> berth_tests::http::Response {
    d.api(
        "POST",
        &format!("/v1.45/containers/create?name={name}"),
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

#[test]
fn legacy_links_give_env_hosts_and_can_be_removed() {
    let Some(d) = TestDaemon::start() else { return };
    let web = unique_name("web");
    let app = unique_name("app");
    d.docker(&[
        "run", "-d", "--name", &web, "-e", "FOO=bar", "--expose", "80", "busybox", "sleep", "300",
    ])
    .success();
    let web_ip = d.inspect(
        Client::Docker,
        &web,
        "{{.NetworkSettings.Networks.bridge.IPAddress}}",
    );
    assert!(!web_ip.is_empty());
    let web_short = &d.inspect(Client::Docker, &web, "{{.Id}}")[..12];
    // docker-py's shape: HostConfig.Links as "name:alias".
    let r = create(
        &d,
        &app,
        serde_json::json!({
            "Image": "busybox",
            "Cmd": ["sh", "-c", "env; cat /etc/hosts; sleep 300"],
            "HostConfig": {"Links": [format!("{web}:my-db")], "NetworkMode": "bridge"},
        }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    d.docker(&["start", &app]).success();
    let logged = wait_until(Duration::from_secs(20), || {
        d.docker(&["logs", &app])
            .out()
            .contains(&format!("my-db {web_short} {web}"))
    });
    assert!(logged, "{}", d.docker(&["logs", &app]).out());
    let logs = d.docker(&["logs", &app]).out().to_string();
    for want in [
        format!("MY_DB_PORT=tcp://{web_ip}:80"),
        format!("MY_DB_PORT_80_TCP=tcp://{web_ip}:80"),
        format!("MY_DB_PORT_80_TCP_ADDR={web_ip}"),
        "MY_DB_PORT_80_TCP_PORT=80".to_string(),
        "MY_DB_PORT_80_TCP_PROTO=tcp".to_string(),
        format!("MY_DB_NAME=/{app}/my-db"),
        "MY_DB_ENV_FOO=bar".to_string(),
        format!("{web_ip}\tmy-db {web_short} {web}"),
    ] {
        assert!(logs.contains(&want), "{want:?} in:\n{logs}");
    }
    assert!(!logs.contains("MY_DB_ENV_PATH"), "{logs}");
    // Execs get the link variables too.
    d.docker(&["exec", &app, "env"])
        .success()
        .stdout_has("MY_DB_ENV_FOO=bar");
    let links = &d.inspect_json(&app)["HostConfig"]["Links"];
    assert_eq!(links, &serde_json::json!([format!("/{web}:/{app}/my-db")]));
    // dockerd lists the link name among the linked container's names.
    let r = d.api("GET", "/containers/json", None, b"");
    let list = r.json().unwrap();
    let names = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Names"][0] == format!("/{web}"))
        .map(|c| c["Names"].clone())
        .unwrap();
    assert_eq!(
        names,
        serde_json::json!([format!("/{web}"), format!("/{app}/my-db")])
    );

    // docker-py's remove_container(link_name, link=True).
    let r = d.api(
        "DELETE",
        &format!("/containers/{app}/my-db?link=1"),
        None,
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(d.inspect_json(&app)["HostConfig"]["Links"].is_null());
    assert_eq!(
        d.inspect_json(&web)["State"]["Running"],
        true,
        "the linked container stays"
    );
    let r = d.api(
        "DELETE",
        &format!("/containers/{app}/my-db?link=1"),
        None,
        b"",
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = d.api("DELETE", &format!("/containers/{web}?link=1"), None, b"");
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(
        r.json().unwrap()["message"],
        "Conflict, cannot remove the default link name of the container"
    );

    // The docker CLI: --link, then rm --link /parent/alias.
    let cli = unique_name("cli");
    d.docker(&[
        "run", "-d", "--name", &cli, "--link", &web, "busybox", "sleep", "300",
    ])
    .success();
    d.docker(&["exec", &cli, "ping", "-c", "1", "-W", "2", &web])
        .success();
    d.docker(&["rm", "--link", &format!("/{cli}/{web}")])
        .success();
    assert!(d.inspect_json(&cli)["HostConfig"]["Links"].is_null());

    // A link to a missing container: dockerd's 400.
    let r = create(
        &d,
        &unique_name("bad"),
        serde_json::json!({"Image": "busybox", "HostConfig": {"Links": ["nosuch:db"]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json().unwrap()["message"],
        "could not get container for nosuch: No such container: nosuch"
    );
}

#[test]
fn links_on_a_user_network_are_dns_names_of_the_linking_container() {
    let Some(d) = TestDaemon::start() else { return };
    let net = unique_name("ln");
    let web = unique_name("web");
    let app = unique_name("app");
    let other = unique_name("other");
    // Internal: no upstream resolvers, so unknown names fail at once.
    d.docker(&["network", "create", "--internal", &net])
        .success();
    d.docker(&[
        "run",
        "-d",
        "--name",
        &web,
        "--network",
        &net,
        "busybox",
        "sleep",
        "300",
    ])
    .success();
    let web_ip = d.inspect(
        Client::Docker,
        &web,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    for (name, links) in [(&app, true), (&other, false)] {
        let mut args = vec!["run", "-d", "--name", name, "--network", &net];
        let link = format!("{web}:store");
        if links {
            args.extend(["--link", &link]);
        }
        args.extend(["busybox", "sleep", "300"]);
        d.docker(&args).success();
    }
    let out = d.docker(&["exec", &app, "nslookup", "store"]);
    assert!(
        out.out().contains(&web_ip),
        "store resolves to web for the linking container: {}",
        out.out()
    );
    let out = d.docker(&["exec", &other, "nslookup", "store"]);
    assert!(
        !out.out().contains(&web_ip),
        "and for nobody else: {}",
        out.out()
    );
    let ins = d.inspect_json(&app);
    assert!(
        ins["HostConfig"]["Links"].is_null(),
        "{}",
        ins["HostConfig"]
    );
    assert_eq!(
        ins["NetworkSettings"]["Networks"][&net]["Links"],
        serde_json::json!([format!("{web}:store")])
    );
    for c in [&app, &other, &web] {
        d.docker(&["rm", "-f", c]).success();
    }
    d.docker(&["network", "rm", &net]).success();
}

mod group_add {
    use super::*;

    fn scenario(d: &TestDaemon, c: Client) {
        d.run(
            c,
            &[
                "run",
                "--rm",
                "--group-add",
                "www-data",
                "--group-add",
                "1234",
                "busybox",
                "id",
                "-G",
            ],
        )
        .success()
        .stdout_has("0 10 33 1234");
        d.run(
            c,
            &[
                "run",
                "--rm",
                "-u",
                "1000:1000",
                "--group-add",
                "www-data",
                "--group-add",
                "1234",
                "busybox",
                "id",
                "-G",
            ],
        )
        .success()
        .stdout_has("1000 33 1234");
        let name = unique_name("ga");
        d.run(
            c,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--group-add",
                "1234",
                "busybox",
                "sleep",
                "300",
            ],
        )
        .success();
        d.run(c, &["exec", &name, "id", "-G"])
            .success()
            .stdout_has("0 10 1234");
        d.run(c, &["exec", "-u", "1000", &name, "id", "-G"])
            .success()
            .stdout_has("0 1234");
        d.run(c, &["rm", "-f", &name]).success();
        d.run(
            c,
            &["run", "--rm", "--group-add", "nosuch", "busybox", "id"],
        )
        .code_is(125)
        .stderr_has("Unable to find group nosuch: no matching entries in group file");
    }

    #[test]
    fn docker() {
        if let Some(d) = TestDaemon::start() {
            scenario(&d, Client::Docker);
        }
    }

    #[test]
    fn berth() {
        if let Some(d) = TestDaemon::start() {
            scenario(&d, Client::Berth);
        }
    }
}

mod log_opts {
    use super::*;

    fn scenario(d: &TestDaemon, c: Client) {
        // max-file without max-size, and go-units spellings, as dockerd accepts them.
        for opts in [
            &["max-file=3"][..],
            &["max-size=10MiB"],
            &["max-size=10m", "max-file=2", "compress=true"],
            &["max-size=1.5m"],
            &["max-size=10MB"],
        ] {
            let mut args = vec!["run", "--rm"];
            for o in opts {
                args.extend(["--log-opt", o]);
            }
            args.extend(["busybox", "echo", "logged"]);
            d.run(c, &args).success().stdout_has("logged");
        }
        let name = unique_name("lo");
        d.run(
            c,
            &[
                "create",
                "--name",
                &name,
                "--log-opt",
                "max-size=10MiB",
                "busybox",
            ],
        )
        .success();
        assert_eq!(
            d.inspect_json(&name)["HostConfig"]["LogConfig"],
            serde_json::json!({"Type": "json-file", "Config": {"max-size": "10MiB"}})
        );
        // A bad value is refused when the container starts, as dockerd's driver reads it then.
        let bad = unique_name("bad");
        d.run(
            c,
            &[
                "create",
                "--name",
                &bad,
                "--log-opt",
                "max-size=lots",
                "busybox",
            ],
        )
        .success();
        d.run(c, &["start", &bad])
            .stderr_has("failed to initialize logging driver: invalid size: 'lots'");
        let out = d.run(c, &["create", "--log-opt", "foo=1", "busybox"]);
        assert_ne!(out.code, 0);
        out.stderr_has("unknown log opt 'foo' for json-file log driver");
    }

    #[test]
    fn docker() {
        if let Some(d) = TestDaemon::start() {
            scenario(&d, Client::Docker);
        }
    }

    #[test]
    fn berth() {
        if let Some(d) = TestDaemon::start() {
            scenario(&d, Client::Berth);
        }
    }
}

#[test]
fn log_opt_start_errors_are_dockerds() {
    let Some(d) = TestDaemon::start() else { return };
    for (driver, opt, want) in [
        (
            "json-file",
            ("compress", "true"),
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
        (
            "json-file",
            ("max-file", "0"),
            "max-file cannot be less than 1",
        ),
        (
            "local",
            ("max-file", "1"),
            "compression cannot be enabled when max file count is 1",
        ),
        (
            "local",
            ("max-size", "lots"),
            "invalid value for max-size: lots: invalid size: 'lots'",
        ),
    ] {
        let name = unique_name("lo");
        let r = create(
            &d,
            &name,
            serde_json::json!({
                "Image": "busybox",
                "Cmd": ["true"],
                "HostConfig": {"LogConfig": {"Type": driver, "Config": {opt.0: opt.1}}},
            }),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let r = d.api("POST", &format!("/containers/{name}/start"), None, b"");
        assert_eq!(r.status, 500, "{}", r.text());
        assert_eq!(
            r.json().unwrap()["message"],
            format!("failed to initialize logging driver: {want}")
        );
    }
}

#[test]
fn runtime_is_reported_as_requested() {
    let Some(d) = TestDaemon::start() else { return };
    let default_runtime = d.api("GET", "/info", None, b"").json().unwrap()["DefaultRuntime"]
        .as_str()
        .unwrap()
        .to_string();
    let plain = unique_name("rt");
    assert_eq!(
        create(&d, &plain, serde_json::json!({"Image": "busybox"})).status,
        201
    );
    assert_eq!(
        d.inspect_json(&plain)["HostConfig"]["Runtime"],
        default_runtime,
        "the daemon's default runtime by name, as dockerd reports runc"
    );
    let runtimes = d.api("GET", "/info", None, b"").json().unwrap()["Runtimes"].clone();
    if runtimes.get("runc").is_some() {
        let name = unique_name("runc");
        let r = create(
            &d,
            &name,
            serde_json::json!({"Image": "busybox", "Cmd": ["echo", "test"], "HostConfig": {"Runtime": "runc"}}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(d.inspect_json(&name)["HostConfig"]["Runtime"], "runc");
        d.docker(&["start", "-a", &name])
            .success()
            .stdout_has("test");
        assert_eq!(d.inspect_json(&name)["HostConfig"]["Runtime"], "runc");
    }
}

#[test]
fn commit_pauses_a_running_container_and_commits_an_exiting_one() {
    let Some(d) = TestDaemon::start() else { return };
    let name = unique_name("cp");
    d.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo x > /made; sleep 300",
    ])
    .success();
    assert!(wait_until(Duration::from_secs(20), || d
        .docker(&["exec", &name, "cat", "/made"])
        .out()
        .contains('x')));
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    let r = d.api(
        "POST",
        &format!("/commit?container={name}&repo=paused&pause=1"),
        Some("application/json"),
        b"{}",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let ev = d.api(
        "GET",
        &format!(
            "/events?since={since}&until={}&filters=%7B%22container%22%3A%5B%22{name}%22%5D%7D",
            since + 30
        ),
        None,
        b"",
    );
    let actions: Vec<String> = ev
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|e| e["Action"].as_str().unwrap_or_default().to_string())
        .collect();
    let around: Vec<&String> = actions
        .iter()
        .filter(|a| ["pause", "commit", "unpause"].contains(&a.as_str()))
        .collect();
    assert_eq!(around, ["pause", "commit", "unpause"], "{actions:?}");
    assert_eq!(d.inspect_json(&name)["State"]["Status"], "running");

    // Containers exiting while they are committed (the pause races the exit): every commit
    // succeeds, with the container's change.
    for i in 0..12 {
        let c = unique_name("exiting");
        let delay = format!("0.{:02}", i * 2);
        d.docker(&[
            "run",
            "-d",
            "--name",
            &c,
            "busybox",
            "sh",
            "-c",
            &format!("echo y > /made; sleep {delay}"),
        ])
        .success();
        std::thread::sleep(Duration::from_millis(20 * i));
        let r = d.api(
            "POST",
            &format!("/commit?container={c}&repo=exiting&tag=t{i}"),
            Some("application/json"),
            b"{}",
        );
        assert_eq!(r.status, 201, "commit {i}: {}", r.text());
        d.docker(&["rm", "-f", &c]).success();
    }
    d.docker(&["run", "--rm", "exiting:t11", "cat", "/made"])
        .success()
        .stdout_has("y");
}

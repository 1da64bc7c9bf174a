//! Values written the Go way reach berthd as dockerd reads them: go-units sizes (`--log-opt
//! max-size=10MiB`, decimal for json-file), Go durations (`--health-interval 1m30s`,
//! `HEALTHCHECK --interval=1.5s`, `--since 1m30s`), moby's signal names, go-units ulimits
//! (-1 unlimited), dockerd's stream error lines byte for byte, and go-units' printed sizes and
//! durations, with both CLIs (the shared `berth_types::gocompat` and `berth_api::stream`).
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use berth_tests::tarball::tar_of;
use berth_tests::{unique_name, Client, TestDaemon};
use serde_json::{json, Value};

fn inspect(d: &TestDaemon, what: &str, name: &str) -> Value {
    let r = d.api("GET", &format!("/{what}/{name}/json"), None, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().unwrap()
}

/// The status and lines (with their `\r\n`) of a build's answer.
fn build_answer(d: &TestDaemon, tag: &str, dockerfile: &str) -> (u16, Vec<String>) {
    let r = d.api(
        "POST",
        &format!("/build?t={tag}&rm=1"),
        Some("application/tar"),
        &tar_of(&[("Dockerfile", dockerfile)]),
    );
    let lines = r
        .text()
        .split_inclusive("\r\n")
        .map(str::to_string)
        .collect();
    (r.status, lines)
}

/// The lines of a build that was started (200; it may still fail in its stream).
#[track_caller]
fn build(d: &TestDaemon, tag: &str, dockerfile: &str) -> Vec<String> {
    let (status, lines) = build_answer(d, tag, dockerfile);
    assert_eq!(status, 200, "{lines:?}");
    lines
}

/// `max-size=10MiB` is accepted and kept as given; json-file reads sizes in decimal units
/// (go-units `FromHumanSize`, as dockerd's driver): with `max-size=1KiB` a file is rotated once
/// it holds 1000 bytes, so each entry of ~1010 bytes gets a file of its own (binary units would
/// put two in each).
fn log_sizes(d: &TestDaemon, c: Client) {
    let name = unique_name("mib");
    d.run(
        c,
        &[
            "run",
            "--name",
            &name,
            "--log-opt",
            "max-size=10MiB",
            "busybox",
            "echo",
            "logged",
        ],
    )
    .success();
    d.run(c, &["logs", &name]).success().stdout_has("logged");
    assert_eq!(
        inspect(d, "containers", &name)["HostConfig"]["LogConfig"],
        json!({"Type": "json-file", "Config": {"max-size": "10MiB"}})
    );
    let name = unique_name("kib");
    // 945 bytes of payload: an entry `{"log":"x...\n","stream":"stdout","time":"..."}` is
    // 1006 to 1016 bytes, between 1000 and 1024.
    d.run(
        c,
        &[
            "run",
            "--name",
            &name,
            "--log-opt",
            "max-size=1KiB",
            "--log-opt",
            "max-file=3",
            "busybox",
            "sh",
            "-c",
            "p=$(head -c 945 /dev/zero | tr '\\0' x); for i in 1 2 3 4; do echo $p; done",
        ],
    )
    .success();
    let log_path = inspect(d, "containers", &name)["LogPath"]
        .as_str()
        .unwrap()
        .to_string();
    for rotated in [format!("{log_path}.1"), format!("{log_path}.2")] {
        let text = std::fs::read_to_string(&rotated)
            .unwrap_or_else(|e| panic!("{rotated}: {e} (no rotation at 1000 bytes)"));
        let entries: Vec<&str> = text.lines().collect();
        assert_eq!(entries.len(), 1, "{rotated}: {text}");
        assert!(
            (1000..1024).contains(&(entries[0].len() + 1)),
            "entry of {} bytes",
            entries[0].len() + 1
        );
    }
    d.run(c, &["rm", "-f", &name]).success();
}

#[test]
fn log_opt_sizes_as_dockerd_docker() {
    let Some(d) = TestDaemon::start() else { return };
    log_sizes(&d, Client::Docker);
}

#[test]
fn log_opt_sizes_as_dockerd_berth() {
    let Some(d) = TestDaemon::start() else { return };
    log_sizes(&d, Client::Berth);
}

/// `--health-*` durations arrive in nanoseconds as Go's `time.ParseDuration` reads them, with
/// the same words for a bad one from both CLIs; `--since` takes a Go duration too.
#[test]
fn durations_round_trip_as_go() {
    let Some(d) = TestDaemon::start() else { return };
    let mut refused = Vec::new();
    for c in [Client::Docker, Client::Berth] {
        let name = unique_name("hc");
        d.run(
            c,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--health-cmd",
                "true",
                "--health-interval",
                "1m30s",
                "--health-timeout",
                "1.5s",
                "--health-start-period",
                "100ms",
                "busybox",
                "sleep",
                "60",
            ],
        )
        .success();
        let hc = &inspect(&d, "containers", &name)["Config"]["Healthcheck"];
        assert_eq!(hc["Interval"], json!(90_000_000_000_i64), "{c:?} {hc}");
        assert_eq!(hc["Timeout"], json!(1_500_000_000_i64), "{c:?} {hc}");
        assert_eq!(hc["StartPeriod"], json!(100_000_000_i64), "{c:?} {hc}");
        // The container's start is within the last 1m30s (until: a unix time just ahead).
        let until = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 2)
        .to_string();
        d.run(
            c,
            &[
                "events",
                "--since",
                "1m30s",
                "--until",
                &until,
                "--filter",
                &format!("container={name}"),
                "--format",
                "{{.Action}}",
            ],
        )
        .success()
        .stdout_has("start");
        d.run(c, &["rm", "-f", &name]).success();
        for (value, go) in [
            ("1d", r#"time: unknown unit "d" in duration "1d""#),
            ("90", r#"time: missing unit in duration "90""#),
            ("soon", r#"time: invalid duration "soon""#),
        ] {
            let out = d.run(c, &["create", "--health-interval", value, "busybox"]);
            assert_ne!(out.code, 0, "{c:?} {value}");
            out.stderr_has(&format!(
                "invalid argument \"{value}\" for \"--health-interval\" flag: {go}"
            ));
            refused.push(out.stderr.clone());
        }
    }
    // The same first line from both CLIs (berth names itself first).
    let first = |s: &String| {
        let line = s.lines().next().unwrap_or_default();
        line.strip_prefix("berth: ").unwrap_or(line).to_string()
    };
    assert_eq!(
        refused[..3].iter().map(first).collect::<Vec<_>>(),
        refused[3..].iter().map(first).collect::<Vec<_>>()
    );
}

/// A Dockerfile's and a commit's HEALTHCHECK durations are Go's; a bad one fails the build with
/// Go's words; every error line is dockerd's, byte for byte (`errorDetail` first, `code` only
/// when there is one).
#[test]
fn builder_durations_and_stream_errors_as_dockerd() {
    let Some(d) = TestDaemon::start() else { return };
    let tag = unique_name("hc");
    let lines = build(
        &d,
        &tag,
        "FROM busybox\nHEALTHCHECK --interval=1m30s --timeout=1.5s --start-period=100ms CMD true\n",
    );
    assert!(
        lines.iter().all(|l| !l.contains("errorDetail")),
        "{lines:?}"
    );
    let hc = &inspect(&d, "images", &tag)["Config"]["Healthcheck"];
    assert_eq!(hc["Interval"], json!(90_000_000_000_i64), "{hc}");
    assert_eq!(hc["Timeout"], json!(1_500_000_000_i64), "{hc}");
    assert_eq!(hc["StartPeriod"], json!(100_000_000_i64), "{hc}");

    // A bad duration is a Dockerfile parse error: refused before the build starts, as dockerd.
    let (status, lines) = build_answer(
        &d,
        &tag,
        "FROM busybox\nHEALTHCHECK --interval=1d CMD true\n",
    );
    assert_eq!(status, 400, "{lines:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&lines.concat()).unwrap(),
        json!({"message": "dockerfile parse error on line 2: time: unknown unit \"d\" in duration \"1d\""})
    );

    let m = "The command '/bin/sh -c exit 3' returned a non-zero code: 3";
    let lines = build(&d, &tag, "FROM busybox\nRUN exit 3\n");
    assert_eq!(
        lines.last().unwrap(),
        &format!("{{\"errorDetail\":{{\"code\":3,\"message\":\"{m}\"}},\"error\":\"{m}\"}}\r\n")
    );

    // A load that fails ends with the same kind of line, without a code.
    let r = d.api(
        "POST",
        "/images/load",
        Some("application/x-tar"),
        b"not a tar",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let last = text.split_inclusive("\r\n").last().unwrap();
    let v: Value = serde_json::from_str(last.trim_end()).unwrap();
    let m = v["error"].as_str().unwrap();
    assert_eq!(
        last,
        format!(
            "{{\"errorDetail\":{{\"message\":{}}},\"error\":{}}}\r\n",
            json!(m),
            json!(m)
        )
    );

    // commit --change durations.
    for c in [Client::Docker, Client::Berth] {
        let name = unique_name("ch");
        d.run(c, &["create", "--name", &name, "busybox"]).success();
        let image = unique_name("committed");
        d.run(
            c,
            &[
                "commit",
                "--change",
                "HEALTHCHECK --interval=1.5s --timeout=2m CMD true",
                &name,
                &image,
            ],
        )
        .success();
        let hc = &inspect(&d, "images", &image)["Config"]["Healthcheck"];
        assert_eq!(hc["Interval"], json!(1_500_000_000_i64), "{c:?} {hc}");
        assert_eq!(hc["Timeout"], json!(120_000_000_000_i64), "{c:?} {hc}");
        let out = d.run(
            c,
            &[
                "commit",
                "--change",
                "HEALTHCHECK --interval=1d CMD true",
                &name,
                &image,
            ],
        );
        assert_ne!(out.code, 0, "{c:?}");
        out.stderr_has(r#"time: unknown unit "d" in duration "1d""#);
        d.run(c, &["rm", &name]).success();
    }
}

/// moby's signal table (real-time names up to RTMIN+15), go-units ulimits
/// (-1 unlimited), and go-units' printed sizes and durations, the same from both CLIs.
#[test]
fn signals_ulimits_and_printed_units_as_docker() {
    let Some(d) = TestDaemon::start() else { return };
    let mut limits = Vec::new();
    let mut sizes = Vec::new();
    for c in [Client::Docker, Client::Berth] {
        let name = unique_name("sig");
        d.run(
            c,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "busybox",
                "sh",
                "-c",
                "trap 'echo got-usr1' USR1; while true; do sleep 0.1; done",
            ],
        )
        .success();
        assert!(
            berth_tests::wait_until(std::time::Duration::from_secs(10), || {
                d.run(
                    c,
                    &[
                        "ps",
                        "--filter",
                        &format!("name={name}"),
                        "--format",
                        "{{.Status}}",
                    ],
                )
                .out()
                .starts_with("Up ")
            }),
            "{c:?}: not up"
        );
        let status = d
            .run(
                c,
                &[
                    "ps",
                    "--filter",
                    &format!("name={name}"),
                    "--format",
                    "{{.Status}}",
                ],
            )
            .out()
            .trim()
            .to_string();
        let up = status.strip_prefix("Up ").unwrap();
        assert!(
            up == "Less than a second"
                || up == "1 second"
                || up
                    .strip_suffix(" seconds")
                    .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| (2..60).contains(&n))),
            "{c:?}: {status:?}"
        );
        d.run(c, &["kill", "-s", "sigusr1", &name]).success();
        assert!(
            berth_tests::wait_until(std::time::Duration::from_secs(10), || {
                d.run(c, &["logs", &name]).out().contains("got-usr1")
            }),
            "{c:?}: signals not delivered: {}",
            d.run(c, &["logs", &name]).out()
        );
        let out = d.run(c, &["kill", "-s", "RTMIN+16", &name]);
        assert_ne!(out.code, 0, "{c:?}");
        out.stderr_has("Invalid signal: RTMIN+16");
        // Real-time signals by moby's names, as a commit's STOPSIGNAL.
        let image = unique_name("rt");
        d.run(
            c,
            &["commit", "--change", "STOPSIGNAL RTMIN+3", &name, &image],
        )
        .success();
        assert_eq!(
            inspect(&d, "images", &image)["Config"]["StopSignal"],
            json!("RTMIN+3")
        );
        let out = d.run(
            c,
            &["commit", "--change", "STOPSIGNAL RTMIN+16", &name, &image],
        );
        assert_ne!(out.code, 0, "{c:?}");
        out.stderr_has("Invalid signal: RTMIN+16");
        d.run(c, &["rm", "-f", &name]).success();

        let out = d.run(
            c,
            &[
                "run",
                "--rm",
                "--ulimit",
                "core=1024:-1",
                "busybox",
                "grep",
                "core",
                "/proc/self/limits",
            ],
        );
        out.success();
        limits.push(out.out().split_whitespace().collect::<Vec<_>>().join(" "));
        let out = d.run(c, &["create", "--ulimit", "core=-1:1024", "busybox"]);
        assert_ne!(out.code, 0, "{c:?}");
        out.stderr_has(
            "ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: 1024",
        );

        sizes.push(
            d.run(c, &["images", "--format", "{{.Size}}", "busybox"])
                .success()
                .out()
                .trim()
                .to_string(),
        );
    }
    assert_eq!(limits[0], "Max core file size 1024 unlimited bytes");
    assert_eq!(limits[0], limits[1]);
    // go-units HumanSizeWithPrecision(size, 3): "4.26MB" and the like.
    let size = &sizes[0];
    let number = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    assert!(
        number.parse::<f64>().is_ok() && ["B", "kB", "MB", "GB"].contains(&&size[number.len()..]),
        "{size:?}"
    );
    assert_eq!(sizes[0], sizes[1]);
}

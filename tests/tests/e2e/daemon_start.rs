//! The daemon itself: version and info, containers surviving a kill -9 of berthd, the
//! client's message when no daemon answers, one daemon per data root, a missing program named
//! with its package at start, and external runtimes picked from PATH or daemon.json.

use super::*;

both_clients! {
    fn version_and_info(d, c) {
        let v = d.run(c, &["version", "--format", "{{.Server.Os}} {{.Server.APIVersion}}"]);
        v.success();
        let (os, api) = v.out().split_once(' ').unwrap_or_default();
        assert_eq!(os, "linux", "{v}");
        assert!(api.starts_with("1."), "{v}");

        let info = d.run(c, &["info", "--format", "{{.OSType}} {{.Images}} {{.Containers}}"]);
        info.success();
        assert_eq!(info.out(), "linux 1 0", "{info}");
    }

    fn survives_kill9_of_the_daemon(d, c) {
        let live = unique_name("live");
        let ticker = unique_name("ticker");
        let dies = unique_name("dies");
        d.run_detached(c, &["--name", &live, "busybox", "sleep", "300"]);
        d.run_detached(c, &["--name", &ticker, "busybox", "sh", "-c", "i=0; while :; do echo tick$i; i=$((i+1)); sleep 0.2; done"]);
        d.run_detached(c, &["--name", &dies, "busybox", "sh", "-c", "sleep 1; exit 9"]);
        let pid = d.inspect(c, &live, "{{.State.Pid}}");

        let t = Instant::now();
        d.kill9();
        // `dies` must exit while nobody is listening: wait out its second, and a bit more.
        std::thread::sleep(Duration::from_secs(2).saturating_sub(t.elapsed()));
        d.restart();

        let running = d.ps_names(c, &[]);
        assert!(running.contains(&live) && running.contains(&ticker) && !running.contains(&dies), "{running:?}");
        assert_eq!(d.inspect(c, &live, "{{.State.Running}} {{.State.Pid}}"), format!("true {pid}"));
        assert_eq!(d.run(c, &["exec", &live, "echo", "back"]).success().out(), "back");
        d.wait_for_inspect(c, &dies, "{{.State.Status}} {{.State.ExitCode}}", "exited 9");

        let seen = d.run(c, &["logs", &ticker]).lines().len();
        let mut follow = d.spawn(c, &["logs", "-f", &ticker]);
        let later = format!("tick{}\n", seen + 5);
        assert!(follow.wait_for_stdout(&later, SETTLE), "never saw {later:?}: {}", follow.stdout());
        follow.kill();

        d.run(c, &["stop", "-t", "1", &live]).success();
        assert_eq!(d.inspect(c, &live, "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
    }

    fn daemon_not_running(d, c) {
        assert!(d.stop(), "berthd did not exit on SIGTERM");
        let want = format!("Cannot connect to the Docker daemon at {}. Is the docker daemon running?", d.host());
        d.run(c, &["ps"]).code_is(1).stderr_has(&want);
    }
}

#[test]
fn a_second_daemon_on_the_same_data_root_is_refused() {
    let Some(d) = TestDaemon::start() else { return };
    let second = d.second_daemon_on_same_data_root();
    assert_ne!(second.code, 0, "{second}");
    assert!(
        second.stderr.contains("another berthd")
            && second.stderr.contains("is already using data root"),
        "{second}"
    );
    // The first one is untouched.
    d.run(Client::Berth, &["run", "--rm", "busybox", "true"])
        .success();
}

/// On a machine without nftables berthd refuses to start and names the package to install,
/// instead of failing at the first network operation.
#[test]
fn berthd_names_the_package_of_a_missing_program() {
    if !berth_tests::preflight::blackbox_can_run() {
        return;
    }
    let bins = berth_tests::paths::Binaries::locate().unwrap_or_else(|e| panic!("{e}"));
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    // A PATH with everything but nft: the directories of the usual tools, minus sbin.
    let mut cmd = std::process::Command::new(&bins.berthd);
    cmd.env("PATH", "/usr/bin:/bin")
        .args(["--data-root", &dir.join("data").display().to_string()])
        .args(["--exec-root", &dir.join("exec").display().to_string()])
        .args(["-H", &format!("unix://{}", dir.join("b.sock").display())])
        .args(["--pidfile", &dir.join("pid").display().to_string()]);
    let out = berth_tests::cli::run(cmd, None, Duration::from_secs(20));
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("nft not found") && out.stderr.contains("apt-get install nftables"),
        "{out}"
    );
    assert!(!dir.join("b.sock").exists(), "no socket is left behind");
}

/// `--runtime` picks an external OCI runtime: runc from PATH (as every dockerd offers), or one
/// named in daemon.json's `runtimes`; both run the same bundle as the embedded one.
#[test]
fn external_runtimes_from_path_and_daemon_json() {
    let Some(runc) = berth_tests::preflight::require_runc() else {
        return;
    };
    let runc = runc.display();
    let config = format!(r#"{{"runtimes": {{"other-runc": {{"path": "{runc}"}}}}}}"#);
    let Some(d) = TestDaemon::start_with_setup(&["--config-file", "{dir}/daemon.json"], |dir| {
        std::fs::write(dir.join("daemon.json"), &config).expect("writing daemon.json");
    }) else {
        return;
    };
    for c in [Client::Docker, Client::Berth] {
        for runtime in ["runc", "other-runc", "berth"] {
            let name = unique_name("rt");
            let out = d.run(
                c,
                &[
                    "run",
                    "--name",
                    &name,
                    "--runtime",
                    runtime,
                    "busybox",
                    "sh",
                    "-c",
                    "hostname; exit 3",
                ],
            );
            out.code_is(3);
            assert_eq!(d.inspect(c, &name, "{{.HostConfig.Runtime}}"), runtime);
            d.run(c, &["rm", &name]).success();
        }
        let bad = d.run(
            c,
            &[
                "run",
                "--rm",
                "--runtime",
                "no-such-runtime",
                "busybox",
                "true",
            ],
        );
        bad.code_is(125)
            .stderr_has("unknown or invalid runtime name: no-such-runtime");
    }
}

//! The start path (issue 19): `run --rm`'s writable layer is volatile and only its; `berth -D`
//! times each API round trip of `run`; `berthd --debug` traces the start's steps; a network
//! that fails while the runtime creates the container leaves nothing running or mounted.

use super::*;

/// The mount options of the container's `/`, from inside it.
fn root_mount_options(d: &TestDaemon, c: Client, extra: &[&str]) -> String {
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", "grep ' / / ' /proc/self/mountinfo"]);
    d.run(c, &args).success().out().to_string()
}

both_clients! {
    fn run_rm_layer_is_volatile(d, c) {
        // Thrown away at the exit: no sync of the filesystem under it when it is unmounted.
        let scratch = root_mount_options(d, c, &["--rm"]);
        assert!(scratch.contains(" - overlay ") && scratch.contains("volatile"), "{scratch}");
        // A container that stays keeps a durable layer, through a restart too.
        let name = unique_name("durable");
        let kept = root_mount_options(d, c, &["--name", &name]);
        assert!(kept.contains(" - overlay ") && !kept.contains("volatile"), "{kept}");
        let again = d.run(c, &["start", "-a", &name]).success().out().to_string();
        assert!(!again.contains("volatile"), "{again}");
        d.run(c, &["rm", &name]).success();

        // Output, exit codes and the removal are as before.
        assert_eq!(d.run(c, &["run", "--rm", "busybox", "sh", "-c", "echo out; echo >/f x; cat /f"]).success().stdout, "out\nx\n");
        d.run(c, &["run", "--rm", "busybox", "sh", "-c", "exit 7"]).code_is(7);
        assert!(d.ps_names(c, &["-a"]).is_empty());
        let mounts = berth_tests::leaks::mounts_under(&d.data_root);
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    }

    fn network_failing_beside_the_create_leaves_nothing(d, c) {
        // The veth is made while the runtime creates the container: a network whose bridge is
        // gone fails the start after the container exists; it must never run, and `--rm` and
        // the leak checks must find nothing left.
        let net = unique_name("nobridge");
        let id = d.run(c, &["network", "create", &net]).success().out().to_string();
        let bridge = format!("br-{}", &id[..12]);
        let deleted = std::process::Command::new("ip").args(["link", "del", &bridge]).status();
        assert!(deleted.is_ok_and(|s| s.success()), "deleting {bridge}");
        let marker = unique_name("ran");
        let out = d.run(c, &["run", "--rm", "--network", &net, "busybox", "sh", "-c", &format!("echo {marker}")]);
        out.code_is(125).stderr_has(&format!("link {bridge} not found"));
        assert!(!out.stdout.contains(&marker), "{out}");
        assert!(d.ps_names(c, &["-a"]).is_empty());

        // Without --rm the container stays, created, and can start once the network is back.
        let name = unique_name("kept");
        d.run(c, &["run", "--name", &name, "--network", &net, "busybox", "true"]).code_is(125);
        assert_eq!(d.inspect(c, &name, "{{.State.Status}}"), "created");
        d.run(c, &["rm", &name]).success();
        d.run(c, &["network", "rm", &net]).success();

        // The default network still works afterwards.
        assert_eq!(d.run(c, &["run", "--rm", "busybox", "echo", "ok"]).success().stdout, "ok\n");
    }
}

#[test]
fn berth_debug_times_each_round_trip_of_run() {
    let Some(d) = TestDaemon::start() else { return };
    let out = d.run(
        Client::Berth,
        &["-D", "run", "--rm", "busybox", "echo", "hi"],
    );
    assert_eq!(out.success().stdout, "hi\n", "{out}");
    for step in [
        "ping", "create", "attach", "wait", "start", "output", "removed", "total",
    ] {
        let line = out
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("level=debug msg=step step={step} ms=")));
        let ms = line
            .and_then(|l| l.rsplit("ms=").next())
            .and_then(|v| v.parse::<f64>().ok());
        assert!(ms.is_some_and(|v| v > 0.0), "no timing of {step}: {out}");
    }
    // The exit code is the container's, as without -D; no step lines without it.
    d.run(
        Client::Berth,
        &["-D", "run", "--rm", "busybox", "sh", "-c", "exit 4"],
    )
    .code_is(4);
    let plain = d.run(Client::Berth, &["run", "--rm", "busybox", "true"]);
    assert!(!plain.success().stderr.contains("msg=step"), "{plain}");
}

#[test]
fn berthd_debug_traces_the_start_path() {
    let Some(d) = TestDaemon::start_with(&["--debug"]) else {
        return;
    };
    d.run(Client::Berth, &["run", "--rm", "busybox", "true"])
        .success();
    let spans = [
        "create:",
        "start:rootfs_mount:",
        "start:net_plan:",
        "start:launch_shim:spec:",
        "start:launch_shim:runtime_create:",
        "start:net_wire:",
        "start:shim_start:",
        "exec:",
        "handle_exit:release:rootfs_unmount:",
        "handle_exit:remove:remove_snapshot:",
        "handle_exit:",
    ];
    let mut log = String::new();
    let all_there = wait_until(Duration::from_secs(10), || {
        log = std::fs::read_to_string(&d.log).unwrap_or_default();
        spans.iter().all(|s| {
            log.lines()
                .any(|l| l.contains(&format!("DEBUG {s}")) && l.contains("close time.busy="))
        })
    });
    assert!(all_there, "missing spans in berthd's log:\n{log}");
}

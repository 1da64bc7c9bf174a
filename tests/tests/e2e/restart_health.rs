//! Restart policies, health checks and signals through a real berthd: every policy (daemon
//! restarts included), RestartCount and the back-off, no restart after a user's stop or kill,
//! health transitions with their events, ps's health column and filter, stop signals and
//! timeouts, signals through `--init` and `--sig-proxy`, and wait conditions.

use std::time::{Duration, Instant};

use berth_tests::daemon::busybox_tar;
use berth_tests::host::{unix_now, SETTLE};
use berth_tests::{unique_name, wait_until, Client, TestDaemon};
use nix::sys::signal::Signal;

fn restart_count(d: &TestDaemon, c: Client, name: &str) -> i64 {
    d.inspect(c, name, "{{.RestartCount}}")
        .parse()
        .unwrap_or(-1)
}

/// `ps -a` rows of one container as "<status>" with a filter.
fn ps_status(d: &TestDaemon, c: Client, name: &str) -> String {
    d.run(
        c,
        &[
            "ps",
            "-a",
            "--filter",
            &format!("name=^{name}$"),
            "--format",
            "{{.Status}}",
        ],
    )
    .out()
    .to_string()
}

/// Actions of a container's events so far (`--until` now ends the stream).
fn actions(d: &TestDaemon, c: Client, name: &str) -> Vec<String> {
    let out = d.run(
        c,
        &[
            "events",
            "--since",
            "0",
            "--until",
            &format!("{}", unix_now() + 1),
            "--filter",
            &format!("container={name}"),
            "--format",
            "{{.Action}}",
        ],
    );
    out.success()
        .lines()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Imports busybox again as `tag` with Dockerfile-like `changes`.
#[track_caller]
fn import_with(d: &TestDaemon, c: Client, tag: &str, changes: &[&str]) {
    let tar = std::fs::read(busybox_tar()).expect("reading the busybox fixture");
    let mut args = vec!["import"];
    for ch in changes {
        args.extend_from_slice(&["-c", ch]);
    }
    args.extend_from_slice(&["-", tag]);
    d.run_with_input(c, &args, &tar).success();
}

both_clients! {
    fn restart_always_backs_off_and_stop_ends_it(d, c) {
        let name = unique_name("crash");
        let t = Instant::now();
        d.run_detached(c, &["--restart", "always", "--name", &name, "busybox", "sh", "-c", "echo run; exit 3"]);
        assert_eq!(d.inspect(c, &name, "{{.HostConfig.RestartPolicy.Name}}"), "always");
        assert!(wait_until(SETTLE, || restart_count(d, c, &name) >= 3), "never restarted 3 times: {}", restart_count(d, c, &name));
        // Back-off: 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s... A loop without it would restart dozens of
        // times in these seconds.
        std::thread::sleep(Duration::from_secs(4).saturating_sub(t.elapsed()));
        let count = restart_count(d, c, &name);
        assert!((3..=8).contains(&count), "{count} restarts in {:?}", t.elapsed());
        let runs = d.run(c, &["logs", &name]).stdout.matches("run\n").count() as i64;
        assert!(runs >= count, "{runs} runs logged for {count} restarts");
        // Each restart is a die and a start, without `restart` events (those are `docker restart`'s).
        let seen = actions(d, c, &name);
        assert!(seen.iter().filter(|a| *a == "die").count() >= 3, "{seen:?}");
        assert!(seen.iter().filter(|a| *a == "start").count() >= 4, "{seen:?}");
        assert!(!seen.iter().any(|a| a == "restart"), "{seen:?}");
        assert_eq!(d.inspect(c, &name, "{{.State.ExitCode}}"), "3");

        // A stop ends it, even in the middle of a back-off.
        d.run(c, &["stop", "-t", "1", &name]).success();
        d.wait_for_inspect(c, &name, "{{.State.Status}}", "exited");
        let stopped_at = restart_count(d, c, &name);
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(restart_count(d, c, &name), stopped_at);
        assert_eq!(d.inspect(c, &name, "{{.State.Status}}"), "exited");
        assert!(ps_status(d, c, &name).starts_with("Exited (3)"), "{}", ps_status(d, c, &name));

        // rm -f in the middle of a crash loop.
        let looping = unique_name("looping");
        d.run_detached(c, &["--restart", "always", "--name", &looping, "busybox", "false"]);
        for _ in 0..5 {
            d.run(c, &["rm", "-f", &looping]).success();
            if d.run(c, &["inspect", &looping]).code != 0 {
                break;
            }
        }
        d.run(c, &["inspect", &looping]).code_is(1).stderr_has("No such");
    }

    fn on_failure_retries_up_to_its_maximum(d, c) {
        let name = unique_name("retry");
        d.run_detached(c, &["--restart", "on-failure:2", "--name", &name, "busybox", "sh", "-c", "echo try; exit 5"]);
        d.wait_for_inspect(c, &name, "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", "exited 2 5");
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(d.inspect(c, &name, "{{.State.Status}} {{.RestartCount}}"), "exited 2");
        assert_eq!(d.run(c, &["logs", &name]).stdout, "try\ntry\ntry\n");
        assert_eq!(d.inspect(c, &name, "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"), "on-failure 2");

        // A success is not a failure.
        let ok = unique_name("ok");
        d.run_detached(c, &["--restart", "on-failure", "--name", &ok, "busybox", "true"]);
        d.wait_for_inspect(c, &ok, "{{.State.Status}}", "exited");
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(d.inspect(c, &ok, "{{.State.Status}} {{.RestartCount}}"), "exited 0");

        // A user's start forgets the retries.
        d.run(c, &["start", &name]).success();
        d.wait_for_inspect(c, &name, "{{.State.Status}} {{.RestartCount}}", "exited 2");
        assert_eq!(d.run(c, &["logs", &name]).stdout.matches("try").count(), 6);
    }

    fn user_kill_and_stop_are_not_failures_to_restart(d, c) {
        // docker kill cancels even `always` (dockerd's ExitOnNext).
        let killed = unique_name("killed");
        d.run_detached(c, &["--restart", "always", "--name", &killed, "busybox", "sleep", "300"]);
        d.run(c, &["kill", &killed]).success();
        d.wait_for_inspect(c, &killed, "{{.State.Status}} {{.State.ExitCode}}", "exited 137");
        std::thread::sleep(Duration::from_millis(800));
        assert_eq!(d.inspect(c, &killed, "{{.State.Status}} {{.RestartCount}}"), "exited 0");

        // Without a stop signal of its own, any signal from kill counts as the user stopping it.
        let trapped = unique_name("trapped");
        d.run_detached(c, &["--restart", "unless-stopped", "--name", &trapped, "busybox", "sh", "-c",
            "trap 'exit 12' USR1; echo ready; while :; do sleep 0.1; done"]);
        d.wait_for_log(c, &trapped, "ready");
        d.run(c, &["kill", "-s", "USR1", &trapped]).success();
        d.wait_for_inspect(c, &trapped, "{{.State.Status}} {{.State.ExitCode}}", "exited 12");
        std::thread::sleep(Duration::from_millis(800));
        assert_eq!(d.inspect(c, &trapped, "{{.State.Status}} {{.RestartCount}}"), "exited 0");

        // A crash inside the container (not the user) restarts unless-stopped.
        let crashes = unique_name("crashes");
        d.run_detached(c, &["--restart", "unless-stopped", "--name", &crashes, "busybox", "sh", "-c",
            "echo up; while [ ! -f /tmp/crash ]; do sleep 0.1; done; rm /tmp/crash; exit 3"]);
        d.wait_for_log(c, &crashes, "up");
        d.run(c, &["exec", &crashes, "touch", "/tmp/crash"]).success();
        assert!(wait_until(SETTLE, || restart_count(d, c, &crashes) == 1), "no restart after the crash");
        d.wait_for_inspect(c, &crashes, "{{.State.Status}}", "running");
        d.run(c, &["rm", "-f", &crashes]).success();
    }

    fn daemon_start_applies_each_policy(d, c) {
        let always = unique_name("always");
        let unless = unique_name("unless");
        let failure = unique_name("onfail");
        let never = unique_name("never");
        let live = unique_name("live");
        for (name, policy) in [(&always, "always"), (&unless, "unless-stopped"), (&never, "no")] {
            d.run_detached(c, &["--restart", policy, "--name", name, "busybox", "sh", "-c", "echo up; sleep 300"]);
            d.run(c, &["stop", "-t", "1", name]).success();
        }
        d.run_detached(c, &["--restart", "on-failure", "--name", &failure, "busybox", "true"]);
        d.run_detached(c, &["--restart", "unless-stopped", "--name", &live, "busybox", "sleep", "300"]);
        d.wait_for_inspect(c, &failure, "{{.State.Status}}", "exited");
        let live_pid = d.inspect(c, &live, "{{.State.Pid}}");

        d.restart();

        // dockerd starts `always` even after a manual stop; unless-stopped stays stopped.
        d.wait_for_inspect(c, &always, "{{.State.Status}} {{.RestartCount}}", "running 0");
        // The new run's first line may land just after it is seen running.
        assert!(wait_until(SETTLE, || d.run(c, &["logs", &always]).stdout == "up\nup\n"), "{}", d.run(c, &["logs", &always]));
        for name in [&unless, &failure, &never] {
            assert_eq!(d.inspect(c, name, "{{.State.Status}}"), "exited", "{name}");
        }
        assert_eq!(d.inspect(c, &live, "{{.State.Status}} {{.State.Pid}}"), format!("running {live_pid}"));
        let running = d.ps_names(c, &[]);
        assert!(running.contains(&always) && running.contains(&live) && running.len() == 2, "{running:?}");
    }

    fn daemon_restart_mid_back_off_resumes_the_policy(d, c) {
        let name = unique_name("loop");
        d.run_detached(c, &["--restart", "always", "--name", &name, "busybox", "sh", "-c", "echo run; exit 1"]);
        // Wait until the back-off is long (the 4th restart waits 0.8 s) and catch it between runs.
        assert!(wait_until(SETTLE, || restart_count(d, c, &name) >= 4), "no 4th restart");
        assert!(wait_until(SETTLE, || d.inspect(c, &name, "{{.State.Status}}") == "restarting"), "never seen restarting");
        // Between two runs there is nothing to exec into.
        let refused = wait_until(SETTLE, || {
            let out = d.run(c, &["exec", &name, "true"]);
            out.code != 0 && out.stderr.contains("is restarting, wait until the container is running")
        });
        assert!(refused, "exec was never refused while restarting");
        d.kill9();
        std::thread::sleep(Duration::from_millis(300));
        let runs_before = std::fs::read_dir(d.data_root.join("containers")).map(|r| r.count()).unwrap_or(0);
        assert_eq!(runs_before, 1);
        d.restart();
        let logged = |d: &TestDaemon| d.run(c, &["logs", &name]).stdout.matches("run\n").count();
        let before = logged(d);
        assert!(wait_until(SETTLE, || logged(d) >= before + 2), "the policy did not resume: {} runs", logged(d));
        d.run(c, &["rm", "-f", &name]).success();
    }

    fn restart_policy_validation(d, c) {
        d.run(c, &["run", "-d", "--restart", "always:3", "busybox", "true"])
            .code_is(125)
            .stderr_has("invalid restart policy: maximum retry count can only be used with 'on-failure'");
        d.run(c, &["run", "-d", "--restart", "sometimes", "busybox", "true"])
            .code_is(125)
            .stderr_has("invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'");
        d.run(c, &["run", "-d", "--restart", "on-failure:-1", "busybox", "true"])
            .code_is(125)
            .stderr_has("invalid restart policy: maximum retry count cannot be negative");
        d.run(c, &["run", "-d", "--restart", "on-failure:x", "busybox", "true"])
            .code_is(125)
            .stderr_has("invalid restart policy format: maximum retry count must be an integer");
        let hc = r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#;
        let resp = d.api("POST", "/containers/create", Some("application/json"), hc.as_bytes());
        assert_eq!(resp.status, 400, "{}", resp.text());
        assert!(resp.text().contains("can't create 'AutoRemove' container with restart policy"), "{}", resp.text());
        assert!(d.ps_names(c, &["-a"]).is_empty());
    }

    fn health_goes_starting_healthy_unhealthy(d, c) {
        let name = unique_name("health");
        let plain = unique_name("plain");
        d.run_detached(c, &["--name", &plain, "busybox", "sleep", "300"]);
        d.run_detached(c, &["--name", &name, "--health-cmd", "cat /tmp/ok", "--health-interval", "2s", "--health-retries", "2",
            "busybox", "sh", "-c", "echo fine > /tmp/ok; sleep 300"]);
        assert_eq!(d.inspect(c, &name, "{{json .Config.Healthcheck.Test}}"), r#"["CMD-SHELL","cat /tmp/ok"]"#);
        let status = ps_status(d, c, &name);
        assert!(status.starts_with("Up ") && status.ends_with("(health: starting)"), "{status}");
        assert_eq!(d.ps_names(c, &["--filter", "health=starting"]), [name.as_str()]);

        d.wait_for_inspect(c, &name, "{{.State.Health.Status}}", "healthy");
        assert!(ps_status(d, c, &name).ends_with("(healthy)"), "{}", ps_status(d, c, &name));
        assert_eq!(d.ps_names(c, &["--filter", "health=healthy"]), [name.as_str()]);
        assert_eq!(d.ps_names(c, &["--filter", "health=none"]), [plain.as_str()]);
        assert_eq!(d.inspect(c, &name, "{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}"), "0 fine");

        d.run(c, &["exec", &name, "rm", "/tmp/ok"]).success();
        d.wait_for_inspect(c, &name, "{{.State.Health.Status}} {{.State.Health.FailingStreak}}", "unhealthy 2");
        assert!(ps_status(d, c, &name).ends_with("(unhealthy)"), "{}", ps_status(d, c, &name));
        assert_eq!(d.ps_names(c, &["--filter", "health=unhealthy"]), [name.as_str()]);
        let log = d.inspect(c, &name, "{{json .State.Health.Log}}");
        let entries: serde_json::Value = serde_json::from_str(&log).expect("health log json");
        let entries = entries.as_array().cloned().unwrap_or_default();
        assert!((3..=5).contains(&entries.len()), "{log}");
        let newest = &entries[entries.len() - 1];
        assert_eq!(newest["ExitCode"], 1, "{log}");
        assert!(newest["Output"].as_str().unwrap_or_default().contains("No such file"), "{log}");
        assert!(newest["Start"].as_str().is_some_and(|s| s.starts_with("20")) && newest["End"].is_string(), "{log}");

        let seen = actions(d, c, &name);
        let health: Vec<&String> = seen.iter().filter(|a| a.starts_with("health_status")).collect();
        assert_eq!(health, ["health_status: healthy", "health_status: unhealthy"], "{seen:?}");
        assert!(seen.iter().any(|a| a == "exec_create: /bin/sh -c cat /tmp/ok"), "{seen:?}");
        assert!(seen.iter().any(|a| a == "exec_start: /bin/sh -c cat /tmp/ok"), "{seen:?}");

        d.run(c, &["ps", "--filter", "health=sick"]).code_is(1).stderr_has("Unrecognised filter value for health: sick");
    }

    fn health_from_the_image_timeouts_and_opt_out(d, c) {
        let image = unique_name("hcimage");
        import_with(d, c, &image, &["HEALTHCHECK --interval=1s --retries=1 CMD [\"true\"]", "CMD [\"sleep\", \"300\"]"]);
        let from_image = unique_name("fromimage");
        d.run_detached(c, &["--name", &from_image, &image]);
        d.wait_for_inspect(c, &from_image, "{{.State.Health.Status}}", "healthy");
        assert!(actions(d, c, &from_image).iter().any(|a| a.trim_end() == "exec_create: true"), "{:?}", actions(d, c, &from_image));

        // --health-* flags override the image's field by field; a probe past its timeout fails.
        let slow = unique_name("slow");
        d.run_detached(c, &["--name", &slow, "--health-cmd", "sleep 5", "--health-timeout", "300ms", &image]);
        d.wait_for_inspect(c, &slow, "{{.State.Health.Status}}", "unhealthy");
        assert_eq!(
            d.inspect(c, &slow, "{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}"),
            "-1 Health check exceeded timeout (300ms)"
        );
        assert_eq!(d.inspect(c, &slow, "{{json .Config.Healthcheck.Interval}}"), "1000000000");

        let opted_out = unique_name("nohc");
        d.run_detached(c, &["--name", &opted_out, "--no-healthcheck", &image]);
        assert_eq!(d.inspect(c, &opted_out, "{{json .Config.Healthcheck.Test}}"), r#"["NONE"]"#);
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(d.inspect(c, &opted_out, "{{json .State.Health}}"), "null");
        assert!(ps_status(d, c, &opted_out).ends_with("seconds") || ps_status(d, c, &opted_out).ends_with("second"), "{}", ps_status(d, c, &opted_out));

        d.run(c, &["run", "-d", "--no-healthcheck", "--health-cmd", "true", "busybox"]).code_is(125).stderr_has("--no-healthcheck conflicts with --health-* options");
        d.run(c, &["run", "-d", "--health-retries", "-1", "--health-cmd", "true", "busybox"]).code_is(125).stderr_has("--health-retries cannot be negative");
        d.run(c, &["run", "-d", "--health-interval", "soon", "busybox"]).code_is(125).stderr_has("invalid argument \"soon\" for \"--health-interval\" flag");
        d.run(c, &["run", "-d", "--health-cmd", "true", "--health-interval", "10us", "busybox"]).code_is(125).stderr_has("Interval in Healthcheck cannot be less than 1ms");
    }

    fn stop_signal_and_stop_timeout(d, c) {
        let usr1 = unique_name("usr1");
        d.run_detached(c, &["--stop-signal", "USR1", "--name", &usr1, "busybox", "sh", "-c",
            "trap 'echo got-usr1; exit 7' USR1; echo ready; while :; do sleep 0.1; done"]);
        d.wait_for_log(c, &usr1, "ready");
        assert_eq!(d.inspect(c, &usr1, "{{.Config.StopSignal}}"), "USR1");
        d.run(c, &["stop", &usr1]).success();
        assert_eq!(d.inspect(c, &usr1, "{{.State.ExitCode}}"), "7");
        d.wait_for_log(c, &usr1, "got-usr1");

        // STOPSIGNAL from the image.
        let image = unique_name("sigimage");
        import_with(d, c, &image, &["STOPSIGNAL SIGUSR2"]);
        let usr2 = unique_name("usr2");
        d.run_detached(c, &["--name", &usr2, &image, "sh", "-c", "trap 'exit 8' USR2; echo ready; while :; do sleep 0.1; done"]);
        d.wait_for_log(c, &usr2, "ready");
        assert_eq!(d.inspect(c, &usr2, "{{.Config.StopSignal}}"), "SIGUSR2");
        d.run(c, &["stop", &usr2]).success();
        assert_eq!(d.inspect(c, &usr2, "{{.State.ExitCode}}"), "8");

        // --stop-timeout bounds `stop` without -t.
        let stubborn = unique_name("stubborn");
        d.run_detached(c, &["--stop-timeout", "1", "--name", &stubborn, "busybox", "sh", "-c", "trap '' TERM; echo ready; sleep 100"]);
        d.wait_for_log(c, &stubborn, "ready");
        assert_eq!(d.inspect(c, &stubborn, "{{.Config.StopTimeout}}"), "1");
        let t = Instant::now();
        d.run(c, &["stop", &stubborn]).success();
        let took = t.elapsed();
        assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(6), "stop took {took:?}");
        assert_eq!(d.inspect(c, &stubborn, "{{.State.ExitCode}}"), "137");
    }

    fn signals_through_init_and_sig_proxy(d, c) {
        // kill -s reaches the command through berth-init as pid 1.
        let init = unique_name("init");
        d.run_detached(c, &["--init", "--name", &init, "busybox", "sh", "-c", "trap 'exit 9' HUP; echo ready; while :; do sleep 0.1; done"]);
        d.wait_for_log(c, &init, "ready");
        d.run(c, &["kill", "-s", "HUP", &init]).success();
        d.wait_for_inspect(c, &init, "{{.State.Status}} {{.State.ExitCode}}", "exited 9");

        // An attached run forwards the signals it gets to the container.
        let proxied = unique_name("proxied");
        let mut run = d.spawn(c, &["run", "--name", &proxied, "busybox", "sh", "-c", "trap 'echo got-int; exit 5' INT; echo ready; while :; do sleep 0.1; done"]);
        assert!(run.wait_for_stdout("ready", SETTLE), "{}{}", run.stdout(), run.stderr());
        run.signal(Signal::SIGINT);
        assert_eq!(run.wait(SETTLE), Some(5), "{}{}", run.stdout(), run.stderr());
        assert!(run.stdout().contains("got-int"), "{}", run.stdout());

        // --sig-proxy=false leaves the container alone.
        let alone = unique_name("alone");
        let mut run = d.spawn(c, &["run", "--sig-proxy=false", "--name", &alone, "busybox", "sh", "-c", "trap 'exit 5' USR1; echo ready; sleep 300"]);
        assert!(run.wait_for_stdout("ready", SETTLE), "{}{}", run.stdout(), run.stderr());
        run.signal(Signal::SIGUSR1);
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(d.inspect(c, &alone, "{{.State.Status}}"), "running");
        run.kill();
        d.run(c, &["rm", "-f", &alone]).success();
    }
}

/// `POST /containers/{id}/wait?condition=...` through the API (the CLI only waits for
/// not-running).
#[test]
fn wait_conditions() {
    let Some(d) = TestDaemon::start() else { return };
    let c = Client::Berth;
    let name = unique_name("waiter");
    d.run_detached(c, &["--name", &name, "busybox", "sleep", "300"]);
    let socket_host = d.socket.clone();
    let waiter = |cond: &str| {
        let path = format!("/containers/{name}/wait?condition={cond}");
        let socket = socket_host.clone();
        std::thread::spawn(move || {
            berth_tests::http::request(&socket, "POST", &path, None, b"", Duration::from_secs(30))
                .map(|r| (r.status, r.text()))
        })
    };
    let next_exit = waiter("next-exit");
    let removed = waiter("removed");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!next_exit.is_finished() && !removed.is_finished());
    d.run(c, &["kill", &name]).success();
    let (status, body) = next_exit.join().expect("thread").expect("wait request");
    assert_eq!(status, 200);
    assert!(body.contains("\"StatusCode\":137"), "{body}");
    assert!(
        !removed.is_finished(),
        "removed answered before the removal"
    );
    // not-running answers at once for a stopped container.
    let resp = d.api(
        "POST",
        &format!("/containers/{name}/wait?condition=not-running"),
        None,
        b"",
    );
    assert!(
        resp.text().contains("\"StatusCode\":137"),
        "{}",
        resp.text()
    );
    d.run(c, &["rm", &name]).success();
    let (status, body) = removed.join().expect("thread").expect("wait request");
    assert_eq!(status, 200, "{body}");
    let other = d.run_detached(c, &["busybox", "sleep", "300"]);
    let bad = d.api(
        "POST",
        &format!("/containers/{other}/wait?condition=sometime"),
        None,
        b"",
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
}

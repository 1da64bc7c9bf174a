//! A detached container's lifecycle: `ps` and its filters, attach, stop (SIGTERM and the
//! timeout), kill with a signal, restart, rename, top, wait and rm.

use super::*;

both_clients! {
    fn detached_ps_and_filters(d, c) {
        let name = unique_name("ps");
        let id = d.run_detached(c, &["--name", &name, "-l", "e2e.role=ps", "busybox", "sleep", "300"]);
        assert!(d.ps_names(c, &[]).contains(&name));
        assert_eq!(d.ps_names(c, &["--filter", "status=running", "--filter", &format!("name={name}")]), std::slice::from_ref(&name));
        assert_eq!(d.ps_names(c, &["--filter", "label=e2e.role=ps"]), std::slice::from_ref(&name));
        assert_eq!(d.ps_names(c, &["--filter", "label=e2e.role=other"]), Vec::<String>::new());
        assert!(d.ps_names(c, &["--filter", "ancestor=busybox"]).contains(&name));
        assert!(!d.ps_names(c, &["-a", "--filter", "status=exited"]).contains(&name));
        let quiet = d.run(c, &["ps", "-q", "--no-trunc", "--filter", &format!("name={name}")]);
        assert_eq!(quiet.success().out(), id, "{quiet}");

        let done = unique_name("exited");
        d.run(c, &["run", "--name", &done, "busybox", "true"]).success();
        assert!(!d.ps_names(c, &[]).contains(&done));
        assert!(d.ps_names(c, &["-a", "--filter", "status=exited"]).contains(&done));
        let status = d.run(c, &["ps", "-a", "--filter", &format!("name={done}"), "--format", "{{.Status}}"]);
        assert!(status.success().out().starts_with("Exited (0)"), "{status}");
    }

    fn attach(d, c) {
        let name = unique_name("attach");
        d.run_detached(c, &["-i", "--name", &name, "busybox", "cat"]);
        let mut attached = d.spawn(c, &["attach", &name]);
        attached.write_stdin(b"ping-through-attach\n");
        assert!(attached.wait_for_stdout("ping-through-attach", SETTLE), "{}{}", attached.stdout(), attached.stderr());
        d.run(c, &["kill", &name]).success();
        // attach ends with the container's exit code.
        assert_eq!(attached.wait(SETTLE), Some(137), "{}", attached.stderr());
    }

    fn stop_honours_sigterm_and_times_out(d, c) {
        let polite = unique_name("polite");
        d.run_detached(c, &["--name", &polite, "busybox", "sh", "-c",
            "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done"]);
        d.wait_for_log(c, &polite, "ready");
        let t = Instant::now();
        assert_eq!(d.run(c, &["stop", &polite]).success().out(), polite);
        assert!(t.elapsed() < Duration::from_secs(5), "stop took {:?} though the container exits on SIGTERM", t.elapsed());
        assert_eq!(d.inspect(c, &polite, "{{.State.Status}} {{.State.ExitCode}}"), "exited 0");

        let stubborn = unique_name("stubborn");
        d.run_detached(c, &["--name", &stubborn, "busybox", "sh", "-c", "trap '' TERM; echo ready; sleep 100"]);
        d.wait_for_log(c, &stubborn, "ready");
        let t = Instant::now();
        d.run(c, &["stop", "-t", "1", &stubborn]).success();
        let took = t.elapsed();
        assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(8), "stop -t 1 took {took:?}");
        assert_eq!(d.inspect(c, &stubborn, "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
    }

    fn kill_with_a_signal(d, c) {
        let name = unique_name("kill");
        d.run_detached(c, &["--name", &name, "busybox", "sh", "-c",
            "trap 'exit 12' USR1; echo ready; while :; do sleep 0.1; done"]);
        d.wait_for_log(c, &name, "ready");
        assert_eq!(d.run(c, &["kill", "-s", "USR1", &name]).success().out(), name);
        assert_eq!(d.run(c, &["wait", &name]).success().out(), "12");
        d.run(c, &["kill", &name]).code_is(1).stderr_has("is not running");

        let plain = unique_name("kill9");
        d.run_detached(c, &["--name", &plain, "busybox", "sleep", "300"]);
        d.run(c, &["kill", &plain]).success();
        assert_eq!(d.run(c, &["wait", &plain]).success().out(), "137");
    }

    fn restart(d, c) {
        let name = unique_name("restart");
        d.run_detached(c, &["--name", &name, "busybox", "sh", "-c", "echo started; sleep 300"]);
        d.wait_for_log(c, &name, "started");
        let before = d.inspect(c, &name, "{{.State.Pid}} {{.State.StartedAt}}");
        assert_eq!(d.run(c, &["restart", "-t", "1", &name]).success().out(), name);
        assert_eq!(d.inspect(c, &name, "{{.State.Running}}"), "true");
        let after = d.inspect(c, &name, "{{.State.Pid}} {{.State.StartedAt}}");
        let (pid_before, started_before) = before.split_once(' ').unwrap_or_default();
        let (pid_after, started_after) = after.split_once(' ').unwrap_or_default();
        assert_ne!(pid_before, pid_after);
        assert_ne!(started_before, started_after);
        assert!(wait_until(SETTLE, || d.run(c, &["logs", &name]).stdout == "started\nstarted\n"), "{}", d.run(c, &["logs", &name]));
    }

    fn rename(d, c) {
        let (old, new, other) = (unique_name("old"), unique_name("new"), unique_name("other"));
        let id = d.run_detached(c, &["--name", &old, "busybox", "sleep", "300"]);
        d.run(c, &["rename", &old, &new]).success();
        assert_eq!(d.inspect(c, &new, "{{.Id}} {{.Name}}"), format!("{id} /{new}"));
        d.run(c, &["container", "inspect", &old]).code_is(1).stderr_has(&format!("No such container: {old}"));
        let names = d.ps_names(c, &[]);
        assert!(names.contains(&new) && !names.contains(&old), "{names:?}");

        d.run(c, &["create", "--name", &other, "busybox", "true"]).success();
        d.run(c, &["rename", &new, &other])
            .code_is(1)
            .stderr_has(&format!("Conflict. The container name \"/{other}\" is already in use"));
    }

    fn top(d, c) {
        let name = unique_name("top");
        d.run_detached(c, &["--name", &name, "busybox", "sleep", "300"]);
        let out = d.run(c, &["top", &name]);
        let lines = out.success().lines();
        assert!(lines.first().is_some_and(|h| h.contains("PID")), "{out}");
        assert!(lines.iter().skip(1).any(|l| l.ends_with("sleep 300")), "{out}");
    }

    fn wait_reports_the_exit_code(d, c) {
        let name = unique_name("wait");
        d.run_detached(c, &["--name", &name, "busybox", "sh", "-c", "sleep 1; exit 4"]);
        assert_eq!(d.run(c, &["wait", &name]).success().out(), "4");
    }

    fn rm_of_a_running_container(d, c) {
        let name = unique_name("rm");
        d.run_detached(c, &["--name", &name, "busybox", "sleep", "300"]);
        d.run(c, &["rm", &name]).code_is(1).stderr_has("or force remove");
        assert_eq!(d.run(c, &["rm", "-f", &name]).success().out(), name);
        assert!(d.ps_names(c, &["-a"]).is_empty());
        d.run(c, &["container", "inspect", &name]).code_is(1).stderr_has("No such container");
    }
}

//! `docker run` in the foreground: output and exit codes, missing commands and images, name
//! conflicts, `-it` on a pty, `--rm`, user, workdir, environment, labels, `--init`, and flag
//! values refused as the docker CLI refuses them.

use super::*;

both_clients! {
    fn run_echo(d, c) {
        let out = d.run(c, &["run", "--rm", "busybox", "echo", "hello from berth"]);
        out.success();
        assert_eq!(out.stdout, "hello from berth\n", "{out}");

        let split = d.run(c, &["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2"]);
        split.success().stderr_has("err");
        assert_eq!(split.stdout, "out\n", "{split}");
    }

    fn run_exit_code(d, c) {
        d.run(c, &["run", "--rm", "busybox", "sh", "-c", "exit 3"]).code_is(3);
    }

    fn run_missing_command(d, c) {
        d.run(c, &["run", "--rm", "busybox", "no-such-command"])
            .code_is(127)
            .stderr_has("executable file not found");
        d.run(c, &["run", "--rm", "busybox", "/etc/passwd"]).code_is(126).stderr_has("permission denied");
    }

    fn run_unknown_image(d, c) {
        d.run(c, &["run", "--rm", "--pull", "never", "e2e-no-such-image"])
            .code_is(125)
            .stderr_has("No such image");
        // Pulling from a registry that is not there (loopback, refused at once) fails the run.
        d.run(c, &["run", "--rm", "localhost:1/e2e-no-such-image"])
            .code_is(125)
            .stderr_has("Unable to find image 'localhost:1/e2e-no-such-image:latest' locally");
    }

    fn name_conflict(d, c) {
        let name = unique_name("conflict");
        let created = d.run(c, &["create", "--name", &name, "busybox", "true"]);
        let id = created.success().out().to_string();
        let want = format!(
            "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
        );
        d.run(c, &["run", "--name", &name, "busybox", "true"]).code_is(125).stderr_has(&want);
    }

    fn run_it_through_a_pty(d, c) {
        let mut session = d.pty(c, &["run", "--rm", "-it", "busybox", "sh", "-c",
            "[ -t 0 ] && [ -t 1 ] && echo both-ttys; read x; echo got-$x; exit 6"]);
        assert!(session.wait_for_stdout("both-ttys", SETTLE), "{}", session.stdout());
        session.write_stdin(b"abc\n");
        assert_eq!(session.wait(SETTLE), Some(6), "{}", session.stdout());
        assert!(session.stdout().contains("got-abc"), "{}", session.stdout());
    }

    fn run_rm_leaves_nothing(d, c) {
        let name = unique_name("autorm");
        let mounts_before = berth_tests::leaks::mounts_under(&d.data_root);
        assert_eq!(d.run(c, &["run", "--rm", "--name", &name, "busybox", "echo", "bye"]).success().stdout, "bye\n");
        assert!(d.ps_names(c, &["-a"]).is_empty());
        let dirs: Vec<_> = std::fs::read_dir(d.data_root.join("containers")).map(|r| r.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        assert!(dirs.is_empty(), "container directories left: {dirs:?}");
        let mounts = berth_tests::leaks::mounts_under(&d.data_root);
        assert_eq!(mounts, mounts_before, "mounts left behind");
    }

    fn user_workdir_env(d, c) {
        assert_eq!(d.run(c, &["run", "--rm", "-u", "nobody", "busybox", "id"]).success().out(), "uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)");
        assert!(d.run(c, &["run", "--rm", "-u", "1234:5678", "busybox", "id"]).success().out().starts_with("uid=1234 gid=5678"));
        assert_eq!(d.run(c, &["run", "--rm", "-w", "/tmp/made/for/me", "busybox", "pwd"]).success().out(), "/tmp/made/for/me");

        let env = d.run(c, &["run", "--rm", "-e", "FOO=bar", "-e", "EMPTY=", "busybox", "env"]);
        let vars = env.success().lines();
        for want in ["FOO=bar", "EMPTY=", "HOME=/root", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] {
            assert!(vars.contains(&want), "{want} missing from {env}");
        }
        assert!(vars.iter().any(|v| v.starts_with("HOSTNAME=")), "{env}");

        let env_file = d.dir().join(format!("{}.env", unique_name("env")));
        std::fs::write(&env_file, "A=1\n# a comment\nB=two words\n").expect("writing the env file");
        let from_file = d.run(c, &["run", "--rm", "--env-file", &env_file.display().to_string(), "busybox", "sh", "-c", "echo \"$A|$B\""]);
        assert_eq!(from_file.success().out(), "1|two words");

        assert_eq!(d.run(c, &["run", "--rm", "--entrypoint", "echo", "busybox", "hi", "there"]).success().out(), "hi there");
        assert_eq!(d.run(c, &["run", "--rm", "--hostname", "myhost", "busybox", "sh", "-c", "hostname; cat /etc/hostname"]).success().stdout, "myhost\nmyhost\n");

        let labelled = unique_name("labels");
        d.run(c, &["create", "--name", &labelled, "-l", "a=b", "-l", "c", "busybox", "true"]).success();
        assert_eq!(d.inspect(c, &labelled, "{{json .Config.Labels}}"), r#"{"a":"b","c":""}"#);
    }

    fn init_is_pid_one(d, c) {
        assert_eq!(d.run(c, &["run", "--rm", "--init", "busybox", "cat", "/proc/1/comm"]).success().out(), "docker-init");
        // The init forwards SIGTERM to the command, which dies of it at once.
        let name = unique_name("init");
        d.run_detached(c, &["--init", "--name", &name, "busybox", "sleep", "300"]);
        let t = Instant::now();
        d.run(c, &["stop", "-t", "10", &name]).success();
        assert!(t.elapsed() < Duration::from_secs(5), "stop took {:?}", t.elapsed());
        assert_eq!(d.inspect(c, &name, "{{.State.ExitCode}}"), "143");
    }

    fn bad_flag_values(d, c) {
        d.run(c, &["run", "--rm", "--memory", "lots", "busybox", "true"]).code_is(125).stderr_has("invalid");
        d.run(c, &["run", "--rm", "--no-such-flag", "busybox", "true"]).code_is(125).stderr_has("unknown flag: --no-such-flag");
        d.run(c, &["run", "--rm", "--restart", "sometimes", "busybox", "true"]).code_is(125);
        d.run(c, &["run", "--rm", "--restart", "always", "busybox", "true"])
            .code_is(125)
            .stderr_has("conflicting options: cannot specify both --restart and --rm");
        d.run(c, &["run", "--rm", "-m", "1m", "busybox", "true"]).code_is(125).stderr_has("Minimum memory limit allowed is 6MB");
        assert!(d.ps_names(c, &["-a"]).is_empty(), "a rejected run left a container");
    }
}

//! `exec`: output, exit codes, user, workdir, environment, stdin, a failed start (126), and
//! `-it` through a pty.

use super::*;

both_clients! {
    fn exec_output_and_codes(d, c) {
        let name = unique_name("exec");
        d.run_detached(c, &["--name", &name, "busybox", "sleep", "300"]);
        assert_eq!(d.run(c, &["exec", &name, "echo", "hi"]).success().stdout, "hi\n");
        d.run(c, &["exec", &name, "sh", "-c", "exit 7"]).code_is(7);
        assert_eq!(d.run(c, &["exec", "-u", "nobody", &name, "id", "-u"]).success().out(), "65534");
        assert_eq!(d.run(c, &["exec", "-w", "/tmp", &name, "pwd"]).success().out(), "/tmp");
        assert_eq!(d.run(c, &["exec", "-e", "FOO=bar", &name, "sh", "-c", "echo $FOO"]).success().out(), "bar");
        // dockerd reports a failed exec start with 126, its message in the exec's output stream.
        let missing = d.run(c, &["exec", &name, "no-such-command"]);
        missing.code_is(126);
        assert!(format!("{}{}", missing.stdout, missing.stderr).contains("executable file not found"), "{missing}");
        let piped = d.run_with_input(c, &["exec", "-i", &name, "cat"], b"through stdin\n");
        assert_eq!(piped.success().stdout, "through stdin\n", "{piped}");
    }

    fn exec_it_through_a_pty(d, c) {
        let name = unique_name("exec-it");
        d.run_detached(c, &["--name", &name, "busybox", "sleep", "300"]);
        let mut session = d.pty(c, &["exec", "-it", &name, "sh"]);
        session.write_stdin(b"[ -t 0 ] && echo has-a-tty; echo $((6*7))\n");
        assert!(session.wait_for_stdout("has-a-tty", SETTLE), "{}", session.stdout());
        assert!(session.wait_for_stdout("42", SETTLE), "{}", session.stdout());
        session.write_stdin(b"exit 5\n");
        assert_eq!(session.wait(SETTLE), Some(5), "{}", session.stdout());
    }
}

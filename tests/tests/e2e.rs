//! The black-box suite: a user's session against a private berthd, each scenario run once with
//! the real docker CLI and once with berth (`<scenario>::docker`, `<scenario>::berth`).
//!
//! Every test starts its own daemon (so tests are independent and run in parallel), uses unique
//! names, waits by polling with deadlines, and leaves cleanup checks to the harness's Drop.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_tests::daemon::busybox_tar;
use berth_tests::{unique_name, wait_until, Client, TestDaemon};

/// The default capability set of a docker container, as /proc/<pid>/status shows it.
const DEFAULT_CAP_EFF: &str = "00000000a80425fb";
/// How long a container may take to reach a state the test waits for.
const SETTLE: Duration = Duration::from_secs(20);

/// Defines `mod $name { fn docker(); fn berth(); }`, each running the scenario with that client
/// against a fresh daemon.
macro_rules! both_clients {
    ($(fn $name:ident($d:ident, $c:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_mut, unused_variables)]
            fn scenario($d: &mut TestDaemon, $c: Client) $body

            #[test]
            fn docker() {
                if let Some(mut d) = TestDaemon::start() {
                    scenario(&mut d, Client::Docker);
                }
            }

            #[test]
            fn berth() {
                if let Some(mut d) = TestDaemon::start() {
                    scenario(&mut d, Client::Berth);
                }
            }
        }
    )*};
}

#[path = "e2e/api_behaviour.rs"]
mod api_behaviour;
#[path = "e2e/api_diff.rs"]
mod api_diff;
#[path = "e2e/bad_input.rs"]
mod bad_input;
#[path = "e2e/berth_compose.rs"]
mod berth_compose;
#[path = "e2e/berth_compose_interop.rs"]
mod berth_compose_interop;
#[path = "e2e/build.rs"]
mod build;
#[path = "e2e/build_features.rs"]
mod build_features;
#[path = "e2e/build_registry.rs"]
mod build_registry;
#[path = "e2e/build_stages.rs"]
mod build_stages;
#[path = "e2e/cgroup_escape.rs"]
mod cgroup_escape;
#[path = "e2e/compose.rs"]
mod compose;
#[path = "e2e/container_compat.rs"]
mod container_compat;
#[path = "e2e/cp_volumes.rs"]
mod cp_volumes;
#[path = "e2e/crash_consistency.rs"]
mod crash_consistency;
#[path = "e2e/exec_output.rs"]
mod exec_output;
#[path = "e2e/image_archive.rs"]
mod image_archive;
#[path = "e2e/image_compat.rs"]
mod image_compat;
#[path = "e2e/image_lifecycle.rs"]
mod image_lifecycle;
#[path = "e2e/network.rs"]
mod network;
#[path = "e2e/observe.rs"]
mod observe;
#[path = "e2e/registry.rs"]
mod registry;
#[path = "e2e/registry_server.rs"]
mod registry_server;
#[path = "e2e/registry_tls.rs"]
mod registry_tls;
#[path = "e2e/registry_xfer.rs"]
mod registry_xfer;
#[path = "e2e/resources.rs"]
mod resources;
#[path = "e2e/restart_health.rs"]
mod restart_health;
#[path = "e2e/shim_idle.rs"]
mod shim_idle;
#[path = "e2e/swarm_distribution.rs"]
mod swarm_distribution;
#[path = "e2e/terminal_progress.rs"]
mod terminal_progress;
#[path = "e2e/volumes.rs"]
mod volumes;

/// `run -d args...`; the new container's full id.
#[track_caller]
fn run_detached(d: &TestDaemon, c: Client, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    let out = d.run(c, &all);
    out.success();
    let id = out.out().lines().last().unwrap_or_default().to_string();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "not a container id: {out}"
    );
    id
}

/// Waits until `logs <name>` (stdout and stderr) contains `needle`.
#[track_caller]
fn wait_for_log(d: &TestDaemon, c: Client, name: &str, needle: &str) {
    let found = wait_until(SETTLE, || {
        let out = d.run(c, &["logs", name]);
        out.stdout.contains(needle) || out.stderr.contains(needle)
    });
    assert!(
        found,
        "{needle:?} never appeared in the logs of {name}: {}",
        d.run(c, &["logs", name])
    );
}

/// Waits until `inspect -f <format>` prints `want`.
#[track_caller]
fn wait_for_inspect(d: &TestDaemon, c: Client, name: &str, format: &str, want: &str) {
    let ok = wait_until(SETTLE, || {
        d.run(c, &["inspect", "-f", format, name]).out() == want
    });
    assert!(
        ok,
        "{name}: {format} never became {want:?}; it is {}",
        d.run(c, &["inspect", "-f", format, name])
    );
}

/// `ps <args> --format {{.Names}}` as a list.
#[track_caller]
fn ps_names(d: &TestDaemon, c: Client, args: &[&str]) -> Vec<String> {
    let mut all = vec!["ps"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "{{.Names}}"]);
    d.run(c, &all)
        .success()
        .lines()
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn sha256_of(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|t| t.as_secs())
        .unwrap_or(0)
}

/// A single capability line of /proc/self/status inside a container run with `flags`.
#[track_caller]
fn cap_eff(d: &TestDaemon, c: Client, flags: &[&str]) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "grep", "CapEff", "/proc/self/status"]);
    let out = d.run(c, &args);
    out.success();
    out.out()
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

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

    fn image_import_tag_history_rmi(d, c) {
        let repo = unique_name("img");
        let (v1, v2) = (format!("{repo}:v1"), format!("{repo}:v2"));
        let tar = busybox_tar();
        let tar_arg = tar.display().to_string();
        let imported = d.run(c, &["import", "-c", r#"CMD ["sh"]"#, &tar_arg, &v1]);
        imported.success();
        let id = imported.out().to_string();
        assert!(id.starts_with("sha256:") && id.len() == 71, "{imported}");
        let short = &id[7..19];

        let listed = d.run(c, &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
        assert!(listed.success().lines().contains(&format!("{v1} {short}").as_str()), "{listed}");

        // One layer, whose diff id is the digest of the uncompressed tarball itself.
        let inspected = d.run(c, &["image", "inspect", "-f", "{{.Id}}|{{json .Config.Cmd}}|{{json .RootFS.Layers}}", &v1]);
        let want = format!("{id}|[\"sh\"]|[\"sha256:{}\"]", sha256_of(&tar));
        assert_eq!(inspected.success().out(), want, "{inspected}");

        d.run(c, &["tag", &v1, &v2]).success();
        let tags = d.run(c, &["images", "--filter", &format!("reference={repo}"), "--format", "{{.Tag}} {{.ID}}"]);
        let mut lines = tags.success().lines();
        lines.sort();
        assert_eq!(lines, [format!("v1 {short}"), format!("v2 {short}")], "{tags}");

        let history = d.run(c, &["history", "--format", "{{.Comment}}", &v1]);
        history.success().stdout_has("Imported from -");

        d.run(c, &["rmi", &v2]).success().stdout_has(&format!("Untagged: {v2}"));
        d.run(c, &["image", "inspect", &v1]).success();
        let removed = d.run(c, &["rmi", &v1]);
        removed.success().stdout_has(&format!("Untagged: {v1}")).stdout_has(&format!("Deleted: {id}"));
        d.run(c, &["image", "inspect", &v1]).code_is(1).stderr_has("No such image");
    }

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

    fn detached_ps_and_filters(d, c) {
        let name = unique_name("ps");
        let id = run_detached(d, c, &["--name", &name, "-l", "e2e.role=ps", "busybox", "sleep", "300"]);
        assert!(ps_names(d, c, &[]).contains(&name));
        assert_eq!(ps_names(d, c, &["--filter", "status=running", "--filter", &format!("name={name}")]), std::slice::from_ref(&name));
        assert_eq!(ps_names(d, c, &["--filter", "label=e2e.role=ps"]), std::slice::from_ref(&name));
        assert_eq!(ps_names(d, c, &["--filter", "label=e2e.role=other"]), Vec::<String>::new());
        assert!(ps_names(d, c, &["--filter", "ancestor=busybox"]).contains(&name));
        assert!(!ps_names(d, c, &["-a", "--filter", "status=exited"]).contains(&name));
        let quiet = d.run(c, &["ps", "-q", "--no-trunc", "--filter", &format!("name={name}")]);
        assert_eq!(quiet.success().out(), id, "{quiet}");

        let done = unique_name("exited");
        d.run(c, &["run", "--name", &done, "busybox", "true"]).success();
        assert!(!ps_names(d, c, &[]).contains(&done));
        assert!(ps_names(d, c, &["-a", "--filter", "status=exited"]).contains(&done));
        let status = d.run(c, &["ps", "-a", "--filter", &format!("name={done}"), "--format", "{{.Status}}"]);
        assert!(status.success().out().starts_with("Exited (0)"), "{status}");
    }

    fn logs_tail_and_timestamps(d, c) {
        let name = unique_name("logs");
        run_detached(d, c, &["--name", &name, "busybox", "sh", "-c", "echo one; echo two; echo three; sleep 300"]);
        wait_for_log(d, c, &name, "three");
        let all = d.run(c, &["logs", &name]);
        assert_eq!(all.success().stdout, "one\ntwo\nthree\n", "{all}");
        let tail = d.run(c, &["logs", "--tail", "1", &name]);
        assert_eq!(tail.success().stdout, "three\n", "{tail}");
        let stamped = d.run(c, &["logs", "-t", &name]);
        let lines = stamped.success().lines();
        assert_eq!(lines.len(), 3, "{stamped}");
        for (line, want) in lines.iter().zip(["one", "two", "three"]) {
            let (ts, text) = line.split_once(' ').unwrap_or_default();
            assert_eq!(text, want, "{stamped}");
            // RFC 3339 with nanoseconds, UTC: 2006-01-02T15:04:05.999999999Z
            assert!(ts.len() > 20 && ts.as_bytes()[10] == b'T' && ts.ends_with('Z'), "bad timestamp {ts:?} in {stamped}");
        }

        let errs = unique_name("stderr");
        run_detached(d, c, &["--name", &errs, "busybox", "sh", "-c", "echo to-stderr >&2; sleep 300"]);
        wait_for_log(d, c, &errs, "to-stderr");
        let split = d.run(c, &["logs", &errs]);
        split.success().stderr_has("to-stderr");
        assert_eq!(split.stdout, "", "{split}");
    }

    fn logs_follow(d, c) {
        let name = unique_name("follow");
        run_detached(d, c, &["--name", &name, "busybox", "sh", "-c",
            "i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); sleep 0.1; done"]);
        let mut follow = d.spawn(c, &["logs", "-f", &name]);
        // The log grows while we read it: a line written well after `logs -f` started arrives.
        wait_for_log(d, c, &name, "line1");
        let later = {
            let n = d.run(c, &["logs", &name]).lines().len();
            format!("line{}\n", n + 10)
        };
        assert!(follow.wait_for_stdout(&later, SETTLE), "never saw {later:?}: {}", follow.stdout());
        assert!(follow.running(), "logs -f exited while the container runs");
        follow.kill();

        // logs -f ends when the container does.
        let short = unique_name("follow-end");
        run_detached(d, c, &["--name", &short, "busybox", "sh", "-c", "echo first; sleep 1; echo second"]);
        let mut ending = d.spawn(c, &["logs", "-f", &short]);
        assert_eq!(ending.wait(SETTLE), Some(0), "logs -f did not end: {}", ending.stderr());
        assert_eq!(ending.stdout(), "first\nsecond\n");
    }

    fn exec_output_and_codes(d, c) {
        let name = unique_name("exec");
        run_detached(d, c, &["--name", &name, "busybox", "sleep", "300"]);
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
        run_detached(d, c, &["--name", &name, "busybox", "sleep", "300"]);
        let mut session = d.pty(c, &["exec", "-it", &name, "sh"]);
        session.write_stdin(b"[ -t 0 ] && echo has-a-tty; echo $((6*7))\n");
        assert!(session.wait_for_stdout("has-a-tty", SETTLE), "{}", session.stdout());
        assert!(session.wait_for_stdout("42", SETTLE), "{}", session.stdout());
        session.write_stdin(b"exit 5\n");
        assert_eq!(session.wait(SETTLE), Some(5), "{}", session.stdout());
    }

    fn run_it_through_a_pty(d, c) {
        let mut session = d.pty(c, &["run", "--rm", "-it", "busybox", "sh", "-c",
            "[ -t 0 ] && [ -t 1 ] && echo both-ttys; read x; echo got-$x; exit 6"]);
        assert!(session.wait_for_stdout("both-ttys", SETTLE), "{}", session.stdout());
        session.write_stdin(b"abc\n");
        assert_eq!(session.wait(SETTLE), Some(6), "{}", session.stdout());
        assert!(session.stdout().contains("got-abc"), "{}", session.stdout());
    }

    fn attach(d, c) {
        let name = unique_name("attach");
        run_detached(d, c, &["-i", "--name", &name, "busybox", "cat"]);
        let mut attached = d.spawn(c, &["attach", &name]);
        attached.write_stdin(b"ping-through-attach\n");
        assert!(attached.wait_for_stdout("ping-through-attach", SETTLE), "{}{}", attached.stdout(), attached.stderr());
        d.run(c, &["kill", &name]).success();
        // attach ends with the container's exit code.
        assert_eq!(attached.wait(SETTLE), Some(137), "{}", attached.stderr());
    }

    fn stop_honours_sigterm_and_times_out(d, c) {
        let polite = unique_name("polite");
        run_detached(d, c, &["--name", &polite, "busybox", "sh", "-c",
            "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done"]);
        wait_for_log(d, c, &polite, "ready");
        let t = Instant::now();
        assert_eq!(d.run(c, &["stop", &polite]).success().out(), polite);
        assert!(t.elapsed() < Duration::from_secs(5), "stop took {:?} though the container exits on SIGTERM", t.elapsed());
        assert_eq!(d.inspect(c, &polite, "{{.State.Status}} {{.State.ExitCode}}"), "exited 0");

        let stubborn = unique_name("stubborn");
        run_detached(d, c, &["--name", &stubborn, "busybox", "sh", "-c", "trap '' TERM; echo ready; sleep 100"]);
        wait_for_log(d, c, &stubborn, "ready");
        let t = Instant::now();
        d.run(c, &["stop", "-t", "1", &stubborn]).success();
        let took = t.elapsed();
        assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(8), "stop -t 1 took {took:?}");
        assert_eq!(d.inspect(c, &stubborn, "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
    }

    fn kill_with_a_signal(d, c) {
        let name = unique_name("kill");
        run_detached(d, c, &["--name", &name, "busybox", "sh", "-c",
            "trap 'exit 12' USR1; echo ready; while :; do sleep 0.1; done"]);
        wait_for_log(d, c, &name, "ready");
        assert_eq!(d.run(c, &["kill", "-s", "USR1", &name]).success().out(), name);
        assert_eq!(d.run(c, &["wait", &name]).success().out(), "12");
        d.run(c, &["kill", &name]).code_is(1).stderr_has("is not running");

        let plain = unique_name("kill9");
        run_detached(d, c, &["--name", &plain, "busybox", "sleep", "300"]);
        d.run(c, &["kill", &plain]).success();
        assert_eq!(d.run(c, &["wait", &plain]).success().out(), "137");
    }

    fn restart(d, c) {
        let name = unique_name("restart");
        run_detached(d, c, &["--name", &name, "busybox", "sh", "-c", "echo started; sleep 300"]);
        wait_for_log(d, c, &name, "started");
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
        let id = run_detached(d, c, &["--name", &old, "busybox", "sleep", "300"]);
        d.run(c, &["rename", &old, &new]).success();
        assert_eq!(d.inspect(c, &new, "{{.Id}} {{.Name}}"), format!("{id} /{new}"));
        d.run(c, &["container", "inspect", &old]).code_is(1).stderr_has(&format!("No such container: {old}"));
        let names = ps_names(d, c, &[]);
        assert!(names.contains(&new) && !names.contains(&old), "{names:?}");

        d.run(c, &["create", "--name", &other, "busybox", "true"]).success();
        d.run(c, &["rename", &new, &other])
            .code_is(1)
            .stderr_has(&format!("Conflict. The container name \"/{other}\" is already in use"));
    }

    fn top(d, c) {
        let name = unique_name("top");
        run_detached(d, c, &["--name", &name, "busybox", "sleep", "300"]);
        let out = d.run(c, &["top", &name]);
        let lines = out.success().lines();
        assert!(lines.first().is_some_and(|h| h.contains("PID")), "{out}");
        assert!(lines.iter().skip(1).any(|l| l.ends_with("sleep 300")), "{out}");
    }

    fn wait_reports_the_exit_code(d, c) {
        let name = unique_name("wait");
        run_detached(d, c, &["--name", &name, "busybox", "sh", "-c", "sleep 1; exit 4"]);
        assert_eq!(d.run(c, &["wait", &name]).success().out(), "4");
    }

    fn rm_of_a_running_container(d, c) {
        let name = unique_name("rm");
        run_detached(d, c, &["--name", &name, "busybox", "sleep", "300"]);
        d.run(c, &["rm", &name]).code_is(1).stderr_has("or force remove");
        assert_eq!(d.run(c, &["rm", "-f", &name]).success().out(), name);
        assert!(ps_names(d, c, &["-a"]).is_empty());
        d.run(c, &["container", "inspect", &name]).code_is(1).stderr_has("No such container");
    }

    fn run_rm_leaves_nothing(d, c) {
        let name = unique_name("autorm");
        let mounts_before = berth_tests::leaks::mounts_under(&d.data_root);
        assert_eq!(d.run(c, &["run", "--rm", "--name", &name, "busybox", "echo", "bye"]).success().stdout, "bye\n");
        assert!(ps_names(d, c, &["-a"]).is_empty());
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
        run_detached(d, c, &["--init", "--name", &name, "busybox", "sleep", "300"]);
        let t = Instant::now();
        d.run(c, &["stop", "-t", "10", &name]).success();
        assert!(t.elapsed() < Duration::from_secs(5), "stop took {:?}", t.elapsed());
        assert_eq!(d.inspect(c, &name, "{{.State.ExitCode}}"), "143");
    }

    fn read_only_rootfs(d, c) {
        d.run(c, &["run", "--rm", "--read-only", "busybox", "touch", "/x"]).code_is(1).stderr_has("Read-only file system");
        d.run(c, &["run", "--rm", "busybox", "touch", "/x"]).success();
    }

    fn memory_limit_reaches_the_cgroup(d, c) {
        let name = unique_name("mem");
        // cgroup v1 (hybrid hosts) or v2: the container sees its own cgroup's limit.
        let read = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max";
        let out = d.run(c, &["run", "--name", &name, "-m", "64m", "busybox", "sh", "-c", read]);
        assert_eq!(out.success().out(), "67108864");
        assert_eq!(d.inspect(c, &name, "{{.HostConfig.Memory}}"), "67108864");
        d.run(c, &["rm", &name]).success();
    }

    fn capabilities(d, c) {
        assert_eq!(cap_eff(d, c, &[]), DEFAULT_CAP_EFF);
        assert_eq!(cap_eff(d, c, &["--cap-drop", "ALL"]), "0000000000000000");
        assert_eq!(cap_eff(d, c, &["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"]), "0000000000001000");
        assert_eq!(cap_eff(d, c, &["--cap-add", "SYS_ADMIN"]), "00000000a82425fb");
        let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
        let host_bounding = status.lines().find_map(|l| l.strip_prefix("CapBnd:")).unwrap_or_default().trim().to_string();
        assert_eq!(cap_eff(d, c, &["--privileged"]), host_bounding);
    }

    fn seccomp_default_and_unconfined(d, c) {
        // The default profile refuses unshare(2) without CAP_SYS_ADMIN; unconfined allows a user
        // namespace, which needs no capability.
        let confined = d.run(c, &["run", "--rm", "busybox", "unshare", "-U", "true"]);
        assert_ne!(confined.code, 0, "{confined}");
        d.run(c, &["run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "unshare", "-U", "true"]).success();
        // A profile file is read by the client and sent inline: this one refuses mkdir(2) only.
        let profile = d.dir().join(format!("{}.json", unique_name("no-mkdir")));
        let rules = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#;
        std::fs::write(&profile, rules).expect("writing the profile");
        let opt = format!("seccomp={}", profile.display());
        d.run(c, &["run", "--rm", "--security-opt", &opt, "busybox", "mkdir", "/made"]).code_is(1).stderr_has("Operation not permitted");
        d.run(c, &["run", "--rm", "--security-opt", &opt, "busybox", "touch", "/made"]).success();
    }

    fn proc_is_masked(d, c) {
        // Masked files are hidden under /dev/null (char 1:3) and read nothing. Which of them a
        // kernel has varies, so test those this host has.
        let masked: Vec<&str> = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats"]
            .into_iter()
            .filter(|p| std::path::Path::new(p).exists())
            .collect();
        assert!(!masked.is_empty(), "the host has none of the masked /proc files");
        for path in &masked {
            let script = format!("stat -c '%F %t:%T' {path}; cat {path} | wc -c");
            let out = d.run(c, &["run", "--rm", "busybox", "sh", "-c", &script]);
            assert_eq!(out.success().lines(), ["character special file 1:3", "0"], "{out}");
            let privileged = d.run(c, &["run", "--rm", "--privileged", "busybox", "stat", "-c", "%F", path]);
            // procfs reports its files as empty regular files.
            assert!(privileged.success().out().starts_with("regular"), "{privileged}");
        }
        if std::path::Path::new("/proc/acpi").is_dir() {
            let acpi = d.run(c, &["run", "--rm", "busybox", "stat", "-f", "-c", "%T", "/proc/acpi"]);
            assert_eq!(acpi.success().out(), "tmpfs", "{acpi}");
        }
        // /proc/sys is read-only (the kernel may lack /proc/sysrq-trigger, another such path).
        d.run(c, &["run", "--rm", "busybox", "sh", "-c", "echo x > /proc/sys/kernel/domainname"])
            .code_is(1)
            .stderr_has("Read-only file system");
    }

    fn etc_files(d, c) {
        let name = unique_name("etc");
        let id = run_detached(d, c, &["--name", &name, "busybox", "sleep", "300"]);
        let short = &id[..12];
        assert_eq!(d.run(c, &["exec", &name, "cat", "/etc/hostname"]).success().out(), short);
        assert_eq!(d.run(c, &["exec", &name, "hostname"]).success().out(), short);
        d.run(c, &["exec", &name, "cat", "/etc/hosts"]).success().stdout_has("localhost");
        d.run(c, &["exec", &name, "test", "-f", "/etc/resolv.conf"]).success();
        // They are mounted from the container's directory, not written into the image.
        let mounts = d.run(c, &["exec", &name, "cat", "/proc/self/mountinfo"]);
        for file in ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"] {
            assert!(mounts.stdout.lines().any(|l| l.split(' ').nth(4) == Some(file)), "{file} not mounted: {mounts}");
        }
    }

    fn network_none_has_only_loopback(d, c) {
        assert_eq!(d.run(c, &["run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"]).success().lines(), ["lo"]);
    }

    fn events_stream(d, c) {
        let name = unique_name("events");
        let since = (unix_now() - 1).to_string();
        let mut events = d.spawn(c, &["events", "--since", &since, "--filter", &format!("container={name}"), "--format", "{{.Action}}"]);
        d.run(c, &["run", "--rm", "--name", &name, "busybox", "true"]).success();
        assert!(events.wait_for_stdout("destroy", SETTLE), "{}{}", events.stdout(), events.stderr());
        events.kill();
        let seen: Vec<String> = events.stdout().lines().map(str::trim).filter(|a| ["create", "start", "die", "destroy"].contains(a)).map(str::to_string).collect();
        assert_eq!(seen, ["create", "start", "die", "destroy"], "{}", events.stdout());
    }

    fn survives_kill9_of_the_daemon(d, c) {
        let live = unique_name("live");
        let ticker = unique_name("ticker");
        let dies = unique_name("dies");
        run_detached(d, c, &["--name", &live, "busybox", "sleep", "300"]);
        run_detached(d, c, &["--name", &ticker, "busybox", "sh", "-c", "i=0; while :; do echo tick$i; i=$((i+1)); sleep 0.2; done"]);
        run_detached(d, c, &["--name", &dies, "busybox", "sh", "-c", "sleep 1; exit 9"]);
        let pid = d.inspect(c, &live, "{{.State.Pid}}");

        let t = Instant::now();
        d.kill9();
        // `dies` must exit while nobody is listening: wait out its second, and a bit more.
        std::thread::sleep(Duration::from_secs(2).saturating_sub(t.elapsed()));
        d.restart();

        let running = ps_names(d, c, &[]);
        assert!(running.contains(&live) && running.contains(&ticker) && !running.contains(&dies), "{running:?}");
        assert_eq!(d.inspect(c, &live, "{{.State.Running}} {{.State.Pid}}"), format!("true {pid}"));
        assert_eq!(d.run(c, &["exec", &live, "echo", "back"]).success().out(), "back");
        wait_for_inspect(d, c, &dies, "{{.State.Status}} {{.State.ExitCode}}", "exited 9");

        let seen = d.run(c, &["logs", &ticker]).lines().len();
        let mut follow = d.spawn(c, &["logs", "-f", &ticker]);
        let later = format!("tick{}\n", seen + 5);
        assert!(follow.wait_for_stdout(&later, SETTLE), "never saw {later:?}: {}", follow.stdout());
        follow.kill();

        d.run(c, &["stop", "-t", "1", &live]).success();
        assert_eq!(d.inspect(c, &live, "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
    }

    fn bad_flag_values(d, c) {
        d.run(c, &["run", "--rm", "--memory", "lots", "busybox", "true"]).code_is(125).stderr_has("invalid");
        d.run(c, &["run", "--rm", "--no-such-flag", "busybox", "true"]).code_is(125).stderr_has("unknown flag: --no-such-flag");
        d.run(c, &["run", "--rm", "--restart", "sometimes", "busybox", "true"]).code_is(125);
        d.run(c, &["run", "--rm", "--restart", "always", "busybox", "true"])
            .code_is(125)
            .stderr_has("conflicting options: cannot specify both --restart and --rm");
        d.run(c, &["run", "--rm", "-m", "1m", "busybox", "true"]).code_is(125).stderr_has("Minimum memory limit allowed is 6MB");
        assert!(ps_names(d, c, &["-a"]).is_empty(), "a rejected run left a container");
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
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: the black-box suite needs root");
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
    let Some(runc) = ["/usr/sbin/runc", "/usr/bin/runc"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
    else {
        eprintln!("skipped: runc is not installed");
        return;
    };
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

#[test]
fn api_ping_and_errors() {
    let Some(d) = TestDaemon::start() else { return };
    let ping = d.api("GET", "/_ping", None, b"");
    assert_eq!((ping.status, ping.text().as_str()), (200, "OK"));
    assert!(
        ping.header("API-Version")
            .is_some_and(|v| v.starts_with("1.")),
        "{:?}",
        ping.headers
    );
    assert_eq!(ping.header("OSType"), Some("linux"));

    for path in ["/containers/create", "/v1.41/containers/create"] {
        let bad = d.api("POST", path, Some("application/json"), b"{not json");
        assert_eq!(bad.status, 400, "{path}: {}", bad.text());
        let message = bad
            .json()
            .and_then(|j| j["message"].as_str().map(str::to_string))
            .unwrap_or_default();
        assert!(
            message.starts_with("invalid JSON"),
            "{path}: {}",
            bad.text()
        );
    }

    let missing = d.api("GET", "/containers/e2e-no-such-container/json", None, b"");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json().map(|j| j["message"].clone()),
        Some(serde_json::json!(
            "No such container: e2e-no-such-container"
        ))
    );
}

/// Runs `cmd` (e.g. `tar`) on the host; its stdout.
#[track_caller]
fn host(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .expect(cmd);
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The entries of a tar file, sorted, `./` prefixes and trailing `/` removed.
fn tar_names(path: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = host("tar", &["tf", &path.display().to_string()])
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty() && l != ".")
        .collect();
    names.sort();
    names
}

/// A fresh directory for host-side files of one scenario.
fn host_dir(d: &TestDaemon, what: &str) -> std::path::PathBuf {
    let dir = d.dir().join(unique_name(what));
    std::fs::create_dir_all(&dir).expect("host dir");
    dir
}

fn write(path: &std::path::Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

both_clients! {
    fn container_diff_and_export(d, c) {
        let name = unique_name("diff");
        d.run(c, &["run", "--name", &name, "busybox", "sh", "-c",
            "echo hi > /etc/e2e-new; rm /bin/true; mkdir -p /tmp/d; echo z > /tmp/d/f"]).success();
        let diff = d.run(c, &["diff", &name]);
        assert_eq!(
            diff.success().lines(),
            ["C /bin", "D /bin/true", "C /etc", "A /etc/e2e-new", "C /tmp", "A /tmp/d", "A /tmp/d/f"],
            "{diff}"
        );
        // A container that changed nothing prints nothing.
        let quiet = unique_name("diff-none");
        d.run(c, &["create", "--name", &quiet, "busybox", "true"]).success();
        assert_eq!(d.run(c, &["container", "diff", &quiet]).success().out(), "");

        let out = host_dir(d, "export").join("fs.tar");
        d.run(c, &["export", "-o", &out.display().to_string(), &name]).success();
        let names = tar_names(&out);
        for want in ["etc/e2e-new", "tmp/d/f", "bin/sh", "etc/passwd"] {
            assert!(names.iter().any(|n| n == want), "{want} missing from export: {names:?}");
        }
        assert!(!names.iter().any(|n| n == "bin/true"), "deleted file exported");
        let listing = host("tar", &["xOf", &out.display().to_string(), "etc/e2e-new"]);
        assert_eq!(listing, "hi\n");

        d.run(c, &["export", "-o", "/no/such/dir/x.tar", &name])
            .code_is(1)
            .stderr_has("failed to export container: invalid output path: stat /no/such/dir: no such file or directory");
        d.run(c, &["diff", "e2e-no-such-container"]).code_is(1).stderr_has("No such container: e2e-no-such-container");
    }

    fn cp_from_container(d, c) {
        let name = unique_name("cpfrom");
        d.run(c, &["run", "--name", &name, "busybox", "sh", "-c",
            "mkdir -p /data/sub; echo a > /data/a; echo b > /data/sub/b; ln -s /data/a /lnk; ln -s / /evil"]).success();
        let h = host_dir(d, "cpfrom");
        let hs = |p: &str| h.join(p).display().to_string();
        // A file to a new name, a directory into an existing directory, `dir/.` to a new name.
        d.run(c, &["cp", &format!("{name}:/data/a"), &hs("a-copy")]).success();
        assert_eq!(read(&h.join("a-copy")), "a\n");
        d.run(c, &["cp", &format!("{name}:/data"), &format!("{}/", h.display())]).success();
        assert_eq!(read(&h.join("data/sub/b")), "b\n");
        d.run(c, &["cp", &format!("{name}:/data/."), &hs("contents")]).success();
        assert_eq!(read(&h.join("contents/sub/b")), "b\n");
        // Over an existing file: the file takes the destination's name.
        write(&h.join("existing"), "old");
        d.run(c, &["cp", &format!("{name}:/data/a"), &hs("existing")]).success();
        assert_eq!(read(&h.join("existing")), "a\n");
        // A symlink is copied as a symlink, or followed with -L.
        d.run(c, &["cp", &format!("{name}:/lnk"), &hs("lnk")]).success();
        assert_eq!(std::fs::read_link(h.join("lnk")).expect("a symlink").display().to_string(), "/data/a");
        d.run(c, &["cp", "-L", &format!("{name}:/lnk"), &hs("followed")]).success();
        assert_eq!(read(&h.join("followed")), "a\n");
        // A container symlink to / resolves inside the container's root.
        d.run(c, &["cp", &format!("{name}:/evil/data/sub/b"), &hs("through-evil")]).success();
        assert_eq!(read(&h.join("through-evil")), "b\n");
        // To stdout as a tar stream.
        let tar = d.run(c, &["cp", &format!("{name}:/data/sub"), "-"]);
        tar.success().stdout_has("sub/b");
        // Errors as docker prints them.
        d.run(c, &["cp", &format!("{name}:/nope"), &hs("x")])
            .code_is(1)
            .stderr_has(&format!("Could not find the file /nope in container {name}"));
        d.run(c, &["cp", &format!("{name}:/data"), &hs("existing")]).code_is(1).stderr_has("cannot copy directory");
        d.run(c, &["cp", &format!("{name}:/data/a"), &hs("new-dir/")]).code_is(1).stderr_has("no such directory");
    }

    fn cp_into_container(d, c) {
        let name = unique_name("cpto");
        run_detached(d, c, &["--name", &name, "-u", "nobody", "busybox", "sh", "-c",
            "mkdir -p /tmp/dst; ln -s / /tmp/evil; ln -s ../../../../.. /tmp/evil2; sleep 300"]);
        wait_for_inspect(d, c, &name, "{{.State.Running}}", "true");
        // Running is not yet "set up": wait for the last link the command makes.
        assert!(wait_until(SETTLE, || d.run(c, &["exec", &name, "test", "-L", "/tmp/evil2"]).code == 0));
        let h = host_dir(d, "cpto");
        write(&h.join("src/top"), "top\n");
        write(&h.join("src/sub/f"), "f\n");
        let hs = |p: &str| h.join(p).display().to_string();
        let ctr = |p: &str| format!("{name}:{p}");
        d.run(c, &["cp", &hs("src"), &ctr("/tmp/dst")]).success();
        d.run(c, &["cp", &hs("src/."), &ctr("/tmp/contents")]).success();
        d.run(c, &["cp", &hs("src/top"), &ctr("/tmp/renamed")]).success();
        let marker = unique_name("marker");
        write(&h.join(&marker), "inside\n");
        d.run(c, &["cp", &hs(&marker), &ctr("/tmp/evil/tmp/")]).success();
        d.run(c, &["cp", &hs(&marker), &ctr("/tmp/evil2/")]).success();
        let found = d.run(c, &["exec", &name, "sh", "-c",
            &format!("cat /tmp/dst/src/top /tmp/dst/src/sub/f /tmp/contents/sub/f /tmp/renamed /tmp/{marker} /{marker}")]);
        assert_eq!(found.success().out(), "top\nf\nf\ntop\ninside\ninside", "{found}");
        for outside in [format!("/tmp/{marker}"), format!("/{marker}")] {
            assert!(!std::path::Path::new(&outside).exists(), "{outside} written on the host");
        }
        // Ownership: the archive's (root) by default, the container user's with -a.
        d.run(c, &["cp", "-a", &hs("src/top"), &ctr("/tmp/owned")]).success();
        let owners = d.run(c, &["exec", &name, "stat", "-c", "%u", "/tmp/renamed", "/tmp/owned"]);
        assert_eq!(owners.success().lines(), ["0", "65534"], "{owners}");
        // A tar on stdin into a directory.
        let tar_path = h.join("in.tar");
        host("tar", &["cf", &tar_path.display().to_string(), "-C", &h.display().to_string(), "src/top"]);
        let tar = std::fs::read(&tar_path).expect("tar");
        d.run_with_input(c, &["cp", "-", &ctr("/tmp/dst")], &tar).success();
        d.run_with_input(c, &["cp", "-", &ctr("/tmp/renamed")], &tar)
            .code_is(1)
            .stderr_has(&format!("destination \"{name}:/tmp/renamed\" must be a directory"));
        d.run(c, &["cp", &hs("src/top"), &ctr("/no/such/dir/x")])
            .code_is(1)
            .stderr_has(&format!("Could not find the file /no/such/dir in container {name}"));
        // A stopped container takes copies too.
        d.run(c, &["stop", "-t", "0", &name]).success();
        d.run(c, &["cp", &hs("src/top"), &ctr("/stopped")]).success();
        d.run(c, &["cp", &ctr("/stopped"), &hs("back")]).success();
        assert_eq!(read(&h.join("back")), "top\n");
        d.run(c, &["diff", &name]).success().stdout_has("A /stopped");
    }

    fn commit_with_changes(d, c) {
        let name = unique_name("commit");
        d.run(c, &["run", "--name", &name, "-e", "FROM_RUN=1", "busybox", "sh", "-c",
            "echo committed > /file; rm /bin/true; mkdir -p /etc/opq"]).success();
        let repo = unique_name("committed");
        let image = format!("{repo}:v1");
        let committed = d.run(c, &["commit",
            "-c", "ENV A=1", "-c", r#"CMD ["cat", "/file"]"#, "-c", "LABEL k=v", "-c", "EXPOSE 8080",
            "-c", "WORKDIR /etc", "-c", "USER nobody", "-c", "VOLUME /vol", "-c", r#"ENTRYPOINT []"#,
            "-m", "the message", "-a", "E2E <e2e@example.com>", "--pause=false", &name, &image]);
        let id = committed.success().out().to_string();
        assert!(id.starts_with("sha256:") && id.len() == 71, "{committed}");

        let run = d.run(c, &["run", "--rm", &image]);
        assert_eq!(run.success().out(), "committed", "{run}");
        d.run(c, &["run", "--rm", &image, "ls", "/bin/true"]).code_is(1);

        let cfg = d.inspect(c, &image,
            "{{.Id}}|{{.Comment}}|{{.Author}}|{{json .Config.Env}}|{{json .Config.Labels}}|{{json .Config.ExposedPorts}}|{{.Config.WorkingDir}}|{{.Config.User}}|{{json .Config.Volumes}}|{{len .RootFS.Layers}}");
        assert_eq!(cfg, format!(
            "{id}|the message|E2E <e2e@example.com>|[\"A=1\",\"FROM_RUN=1\"]|{{\"k\":\"v\"}}|{{\"8080/tcp\":{{}}}}|/etc|nobody|{{\"/vol\":{{}}}}|2"
        ));
        // The id is the digest of the config, and the new diff id the digest of the layer tar,
        // both as stored: what dockerd computes from the same bytes.
        let blobs = d.data_root.join("content/blobs/sha256");
        assert_eq!(format!("sha256:{}", sha256_of(&blobs.join(&id[7..]))), id);
        let layer = d.inspect(c, &image, "{{index .RootFS.Layers 1}}");
        let layer_blob = blobs.join(&layer[7..]);
        assert_eq!(format!("sha256:{}", sha256_of(&layer_blob)), layer);
        let names = tar_names(&layer_blob);
        assert_eq!(names, ["bin", "bin/.wh.true", "etc", "etc/opq", "file"], "{names:?}");

        let history = d.run(c, &["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", &image]);
        assert_eq!(history.success().lines().first().copied(),
            Some("sh -c echo committed > /file; rm /bin/true; mkdir -p /etc/opq|the message"), "{history}");

        // Without changes the container's config is kept; an unknown instruction is refused.
        let plain = d.run(c, &["container", "commit", &name]);
        plain.success();
        let kept = d.inspect(c, plain.out(), "{{json .Config.Cmd}}|{{json .RepoTags}}");
        assert_eq!(kept, r#"["sh","-c","echo committed > /file; rm /bin/true; mkdir -p /etc/opq"]|[]"#);
        d.run(c, &["commit", "-c", "RUN true", &name]).code_is(1).stderr_has("RUN is not a valid change command");
        d.run(c, &["commit", "e2e-no-such-container"]).code_is(1).stderr_has("No such container: e2e-no-such-container");

        // A running container is paused for the commit (the default) and running after it.
        let live = unique_name("commitlive");
        d.run(c, &["run", "-d", "--name", &live, "busybox", "sh", "-c", "echo live > /live; sleep 300"]).success();
        assert!(wait_until(Duration::from_secs(10), || {
            d.run(c, &["exec", &live, "cat", "/live"]).stdout.contains("live")
        }));
        d.run(c, &["commit", &live, &format!("{repo}:live")]).success();
        assert_eq!(d.inspect(c, &live, "{{.State.Status}}"), "running");
        // The docker CLI sends whole seconds: an `until` in the past would cut this second.
        let events = d.run(c, &["events", "--since", "1m", "--until", &(unix_now() + 1).to_string(),
            "--filter", &format!("container={live}"), "--format", "{{.Action}}"]);
        let actions: Vec<&str> = events.success().lines().into_iter()
            .filter(|a| ["pause", "commit", "unpause"].contains(a)).collect();
        assert_eq!(actions, ["pause", "commit", "unpause"], "{events}\n{}", events.stdout);
        d.run(c, &["rm", "-f", &live]).success();
    }
}

/// A tar built entry by entry, names written raw (`..`, absolute) as a hostile client would.
struct RawTar(tar::Builder<Vec<u8>>);

impl RawTar {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }

    fn entry(mut self, kind: tar::EntryType, name: &str, link: &str, data: &[u8]) -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        self.0.append(&h, data).expect("append");
        self
    }

    fn file(self, name: &str, data: &str) -> Self {
        self.entry(tar::EntryType::Regular, name, "", data.as_bytes())
    }

    fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(tar::EntryType::Symlink, name, target, b"")
    }

    fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(tar::EntryType::Link, name, target, b"")
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().expect("finish")
    }
}

#[test]
fn cp_archives_stay_inside_the_container() {
    let Some(d) = TestDaemon::start() else { return };
    let name = unique_name("corpus");
    d.berth(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "mkdir /dst; echo keep > /dst/keep; ln -s / /lnk; sleep 300",
    ])
    .success();
    wait_for_inspect(&d, Client::Berth, &name, "{{.State.Running}}", "true");
    let m = unique_name("m");
    let put = |path: &str, tar: Vec<u8>| {
        d.api(
            "PUT",
            &format!("/containers/{name}/archive?path={path}&noOverwriteDirNonDir=true"),
            Some("application/x-tar"),
            &tar,
        )
    };
    let message = |r: &berth_tests::http::Response| {
        r.json()
            .and_then(|j| j["message"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let in_ctr = |script: &str| d.berth(&["exec", &name, "sh", "-c", script]).stdout;

    // `../` names: refused, nothing written anywhere.
    let r = put(
        "/dst",
        RawTar::new()
            .file(&format!("../../../../../tmp/{m}-dotdot"), "x")
            .bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(message(&r).contains("outside"), "{}", r.text());
    // Absolute names are taken below the extraction point.
    let r = put(
        "/dst",
        RawTar::new().file(&format!("/tmp/{m}-abs"), "abs").bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(in_ctr(&format!("cat /dst/tmp/{m}-abs")), "abs");
    // A symlink to / (or up and out) followed by a write through it stays below /dst.
    let r = put(
        "/dst",
        RawTar::new()
            .symlink("s", "/")
            .file(&format!("s/tmp/{m}-through"), "t")
            .symlink("s2", "../../../../..")
            .file(&format!("s2/{m}-through2"), "t2")
            .bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        in_ctr(&format!("cat /dst/tmp/{m}-through /dst/{m}-through2")),
        "tt2"
    );
    // Hardlinks out of the extraction point are refused; an absolute target names a file
    // below it (here missing), as in dockerd's chrooted untar.
    let r = put(
        "/dst",
        RawTar::new()
            .hardlink(&format!("{m}-hard"), "../../../../etc/passwd")
            .bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = put(
        "/dst",
        RawTar::new()
            .hardlink(&format!("{m}-hard"), "/etc/passwd")
            .bytes(),
    );
    assert!(
        r.status == 400
            && message(&r).contains(&format!(
                "link /etc/passwd /{m}-hard: no such file or directory"
            )),
        "{}",
        r.text()
    );
    assert_eq!(
        in_ctr(&format!("ls /dst/{m}-hard 2>&1 >/dev/null | wc -l")),
        "1\n"
    );
    // Whiteout names are ordinary files in a copy: nothing is deleted or hidden.
    let r = put(
        "/dst",
        RawTar::new()
            .file(".wh.keep", "")
            .file(".wh..wh..opq", "")
            .bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        in_ctr("cat /dst/keep; ls -a /dst | grep -c '^.wh.'"),
        "keep\n2\n"
    );
    // An extraction point that is a symlink to / resolves inside the container's root.
    let r = put(
        "/lnk/tmp",
        RawTar::new().file(&format!("{m}-via-lnk"), "v").bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(in_ctr(&format!("cat /tmp/{m}-via-lnk")), "v");
    // A truncated archive fails.
    let mut cut = RawTar::new()
        .file(&format!("{m}-cut"), &"y".repeat(4096))
        .bytes();
    cut.truncate(1024);
    let r = put("/dst", cut);
    assert_eq!(r.status, 400, "{}", r.text());
    // docker's answers for bad extraction points and missing paths.
    let r = put("/nope", RawTar::new().file("f", "").bytes());
    assert_eq!(
        (r.status, message(&r)),
        (
            404,
            format!("Could not find the file /nope in container {name}")
        )
    );
    let r = put("/dst/keep", RawTar::new().file("f", "").bytes());
    assert_eq!(
        (r.status, message(&r)),
        (400, "extraction point is not a directory".to_string())
    );
    let r = d.api(
        "HEAD",
        &format!("/containers/{name}/archive?path=/nope"),
        None,
        b"",
    );
    assert_eq!(r.status, 404);
    let r = d.api(
        "GET",
        &format!("/containers/{name}/archive?path=/lnk/etc/passwd"),
        None,
        b"",
    );
    assert_eq!(r.status, 200);
    let stat = r
        .header("X-Docker-Container-Path-Stat")
        .unwrap_or_default()
        .to_string();
    let decoded = host("sh", &["-c", &format!("echo {stat} | base64 -d")]);
    assert!(
        decoded.starts_with(r#"{"name":"passwd","size":"#) && decoded.contains(r#""mode":420,"#),
        "{decoded}"
    );

    // Nothing reached the host.
    for suffix in [
        "dotdot", "abs", "through", "through2", "hard", "via-lnk", "cut",
    ] {
        for dir in ["/", "/tmp", "/etc"] {
            let p = std::path::Path::new(dir).join(format!("{m}-{suffix}"));
            assert!(!p.exists(), "{} written on the host", p.display());
        }
    }
}

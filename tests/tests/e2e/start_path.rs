//! The start path (issue 19): `run --rm`'s writable layer is volatile and only its; `berth -D`
//! times each API round trip of `run`; `berthd --debug` traces the start's steps; a network
//! that fails while the runtime creates the container leaves nothing running or mounted; the
//! runtime's release that follows a `--rm` removal leaves nothing either; the `/etc` files a
//! container binds come from its image's init layer, not its own; the init, cloned by the shim
//! itself, joins its cgroup and takes its limits; every run's output reaches its attach.

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

    fn the_etc_mount_points_come_from_the_images_init_layer(d, c) {
        // /etc/hosts, /etc/hostname and /etc/resolv.conf are bound over files of the image's
        // shared init layer, so a container's own layer gets none of them (no copy-up of /etc).
        let name = unique_name("initlayer");
        let out = d
            .run(c, &["run", "--name", &name, "--read-only", "busybox", "sh", "-c",
                "cat /etc/hostname; grep -c localhost /etc/hosts; test -s /etc/resolv.conf && echo resolv"])
            .success()
            .out()
            .to_string();
        let id = d.inspect(c, &name, "{{.Id}}");
        assert_eq!(out, format!("{}\n2\nresolv", &id[..12]), "{out}");
        let upper = d.data_root.join("overlay").join(&id).join("diff");
        let made: Vec<_> = std::fs::read_dir(&upper).expect("upper").collect();
        assert!(made.is_empty(), "the container's layer holds {made:?}");
        assert_eq!(d.run(c, &["diff", &name]).success().stdout, "");
        // dockerd lists the init layer first among the lower directories.
        let lower = d.inspect(c, &name, "{{.GraphDriver.Data.LowerDir}}");
        assert!(lower.split(':').next().is_some_and(|l| l.ends_with("/init")), "{lower}");
        // A second container of the image shares it; the image's own /etc is intact.
        let passwd = d.run(c, &["run", "--rm", "busybox", "sh", "-c", "head -1 /etc/passwd"]).success().out().to_string();
        assert!(passwd.starts_with("root:"), "{passwd}");
        d.run(c, &["rm", &name]).success();
    }

    fn a_start_failing_after_its_cgroup_is_made_leaves_none(d, c) {
        // berthd makes the container's cgroup beside the rootfs mount; a start that fails after
        // it (here in the spec: no such user) removes it with the rest.
        let name = unique_name("nouser");
        d.run(c, &["run", "--name", &name, "--user", "nosuchuser", "busybox", "true"])
            .code_is(125)
            .stderr_has("unable to find user nosuchuser");
        let id = d.inspect(c, &name, "{{.Id}}");
        assert_eq!(d.inspect(c, &name, "{{.State.Status}}"), "created");
        let cgroups = berth_tests::leaks::cgroups_of(std::slice::from_ref(&id));
        assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
        // Made ahead, the cgroup holds the limits the spec asks for, and the container is in it.
        let limits = d
            .run(c, &["run", "--rm", "--memory", "64m", "--pids-limit", "33", "busybox", "sh", "-c",
                "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null \
                 || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"])
            .success()
            .out()
            .to_string();
        assert_eq!(limits, "67108864\n33", "{limits}");
        d.run(c, &["rm", &name]).success();
    }

    fn every_run_delivers_its_whole_output_to_its_attach(d, c) {
        // berthd sends the attach, the wait and the Start to the shim in one burst, and the
        // shim serves what came before the Start first. The docker CLI closes its side of an
        // attach without stdin at once; the shim once took that end, read through a stale
        // poll event after the Start had served the attach, for the client going away, and
        // dropped the output of one run in twenty. Forty runs in a row each get all of it.
        for i in 0..40 {
            let out = d.run(c, &["run", "--rm", "--network", "none", "busybox", "sh", "-c",
                &format!("echo out{i}; echo err{i} >&2; exit 3")]);
            out.code_is(3);
            assert_eq!(out.stdout, format!("out{i}\n"), "run {i}: {out}");
            assert!(out.stderr.contains(&format!("err{i}")), "run {i}: {out}");
        }
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
        "create", "attach", "wait", "start", "output", "removed", "total",
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
        "start:cgroup_ahead:",
        "start:launch_shim:spec:",
        "start:launch_shim:runtime_create:",
        "start:net_wire:",
        "start:shim_start:",
        "exec:",
        "handle_exit:discard:net_down:",
        "handle_exit:discard:rootfs_detach:",
        "handle_exit:discard:remove_snapshot:",
        "handle_exit:discard:remove_record:",
        "handle_exit:",
        "released_after_removal:",
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

/// berthd's children running `berth-shim --spare`: the shim spawned ahead of the next start.
fn spares(berthd: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let parent = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("PPid:"))
                        .and_then(|v| v.trim().parse::<i32>().ok())
                });
            args.get(1) == Some(&&b"--spare"[..]) && parent == Some(berthd)
        })
        .collect()
}

/// The command line of `pid`, its arguments joined by spaces and the padding's NULs dropped.
fn command_line(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The scheduling policy of `pid` (`policy`, field 41 of /proc/<pid>/stat): 0 SCHED_OTHER,
/// 5 SCHED_IDLE.
fn sched_policy(pid: i32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process's stat");
    // After the command name's closing parenthesis, field 3 is first: field n at index n - 3.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat")
        .1
        .split_whitespace()
        .collect();
    fields[41 - 3].parse().expect("a policy number")
}

const SCHED_OTHER: u32 = 0;
const SCHED_IDLE: u32 = 5;

/// A start takes the shim berthd spawned ahead (its exec and startup are off the start's path):
/// that process becomes the container's shim, named by its `shim.json` in its command line as
/// a shim spawned for it would be, so a restarted berthd finds it; a new spare follows; spares
/// end with berthd and never outlive it. A spare waits in the SCHED_IDLE class, and what it
/// becomes (the shim and the container's processes) runs in the normal one.
#[test]
fn a_start_takes_the_spare_shim_and_a_new_one_follows() {
    let Some(mut d) = TestDaemon::start() else {
        return;
    };
    let c = Client::Berth;
    let berthd = d.berthd_pid().expect("a berthd of the test's own");
    let mut spare = Vec::new();
    assert!(
        berth_tests::wait_until(SETTLE, || {
            spare = spares(berthd);
            spare.len() == 1
        }),
        "one spare shim after berthd's start: {spare:?}"
    );
    let taken = spare[0];
    assert_eq!(sched_policy(taken), SCHED_IDLE, "a spare waits idle");

    let id = d.run_detached(c, &["busybox", "sleep", "600"]);
    let config = d.exec_root.join("bundles").join(&id).join("shim.json");
    let shim_line = command_line(taken);
    assert!(
        shim_line.ends_with(&format!(" {}", config.display())),
        "the spare became {id}'s shim: {shim_line}"
    );
    assert_eq!(
        sched_policy(taken),
        SCHED_OTHER,
        "the taken spare left SCHED_IDLE"
    );
    let init: i32 = d.inspect(c, &id, "{{.State.Pid}}").parse().expect("a pid");
    assert_eq!(
        sched_policy(init),
        SCHED_OTHER,
        "the container's init runs in the normal class"
    );
    let mut next = Vec::new();
    assert!(
        berth_tests::wait_until(SETTLE, || {
            next = spares(berthd);
            next.len() == 1 && next[0] != taken
        }),
        "a new spare after the start: {next:?}"
    );

    // Output and exit codes through a spare, with --rm leaving nothing.
    let out = d.run(
        c,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo hi; exit 3",
        ],
    );
    out.code_is(3);
    assert_eq!(out.stdout, "hi\n");

    // berthd killed: its spare ends (its stdin closes), the container's shim stays, and the
    // restarted berthd finds that shim by its command line and removes the container cleanly.
    let left = spares(berthd);
    d.kill9();
    assert!(
        berth_tests::wait_until(SETTLE, || left
            .iter()
            .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())),
        "spares outlived berthd: {left:?}"
    );
    assert!(
        std::path::Path::new(&format!("/proc/{taken}")).exists(),
        "the container's shim survives berthd"
    );
    d.start_again();
    assert_eq!(d.inspect(c, &id, "{{.State.Running}}"), "true");
    d.run(c, &["rm", "-f", &id]).success();
    assert!(
        berth_tests::wait_until(SETTLE, || !std::path::Path::new(&format!("/proc/{taken}"))
            .exists()),
        "the container's shim ended with it"
    );
    let shims: Vec<(i32, String)> = berth_tests::leaks::processes_naming(&d.exec_root, &[id])
        .into_iter()
        .filter(|(_, cmd)| cmd.contains("berth-shim"))
        .collect();
    assert!(shims.is_empty(), "shims left: {shims:?}");
}

/// A container's network namespace comes from one berthd made ahead of its start: each
/// container gets a new one, never one another container has, holding only `lo`, up, as a
/// namespace made at the start would.
#[test]
fn each_container_gets_a_new_network_namespace() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    let c = Client::Berth;
    // The first changes its namespace (an address on lo); the second must not see it.
    let first = d.run_detached(
        c,
        &[
            "--network",
            "none",
            "--cap-add",
            "NET_ADMIN",
            "busybox",
            "sh",
            "-c",
            "ip addr add 10.9.9.9/32 dev lo && sleep 600",
        ],
    );
    let second = d.run_detached(c, &["--network", "none", "busybox", "sleep", "600"]);
    let in_ctr = |id: &str, script: &str| {
        let out = d.run(c, &["exec", id, "sh", "-c", script]);
        out.code_is(0);
        out.stdout
    };
    assert!(
        berth_tests::wait_until(SETTLE, || in_ctr(&first, "ip -o addr show dev lo")
            .contains("10.9.9.9")),
        "the first container's address on lo"
    );
    let namespace = |id: &str| in_ctr(id, "readlink /proc/self/ns/net");
    assert_ne!(
        namespace(&first),
        namespace(&second),
        "two containers share a namespace"
    );
    let host = std::fs::read_link("/proc/self/ns/net").expect("the test's namespace");
    assert_ne!(namespace(&second).trim(), host.display().to_string());
    let addresses = in_ctr(&second, "ip -o addr show dev lo");
    assert!(addresses.contains("127.0.0.1"), "{addresses}");
    assert!(
        !addresses.contains("10.9.9.9"),
        "another container's address: {addresses}"
    );
    assert_eq!(in_ctr(&second, "ls /sys/class/net"), "lo\n");
    let flags = in_ctr(&second, "cat /sys/class/net/lo/flags");
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).expect("flags");
    assert_eq!(flags & 1, 1, "lo is not up");
    d.run(c, &["rm", "-f", &first, &second]).success();
}

/// `--rm`: the removal is answered once the record is gone, and the shim's release of the
/// runtime (cgroups, state) and the bundle's removal follow it. Nothing of the runs stays.
#[test]
fn the_release_after_a_run_rm_leaves_nothing() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    for c in [Client::Berth, Client::Docker] {
        assert_eq!(
            d.run(c, &["run", "--rm", "busybox", "echo", "bye"])
                .success()
                .stdout,
            "bye\n"
        );
        assert!(d.ps_names(c, &["-a"]).is_empty());
    }
    d.run(
        Client::Berth,
        &["run", "--rm", "busybox", "sh", "-c", "exit 3"],
    )
    .code_is(3);
    let ids = d.known_ids();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let traces = |id: &String| {
        [
            d.exec_root.join("bundles").join(id),
            d.exec_root.join("netns").join(id),
            d.exec_root.join("runtime").join(id),
            d.exec_root.join("s").join(format!("{}.sock", &id[..24])),
            d.data_root.join("containers").join(id),
        ]
        .into_iter()
        .filter(|p| p.exists())
        .collect::<Vec<_>>()
    };
    // The veths and the namespaces' pins go after the answer (`NetTeardown`), but they go.
    let bridge = d.net.as_ref().map(|s| s.bridge());
    let mut left = String::new();
    let clean = wait_until(Duration::from_secs(15), || {
        let processes = berth_tests::leaks::daemon_processes(&d.exec_root, &ids, d.berthd_pid());
        let cgroups = berth_tests::leaks::cgroups_of(&ids);
        let files: Vec<_> = ids.iter().flat_map(traces).collect();
        let veths = bridge
            .as_deref()
            .map(berth_tests::netslot::NetSlot::ports_of)
            .unwrap_or_default();
        left = format!("{processes:?} {cgroups:?} {files:?} veths {veths:?}");
        processes.is_empty() && cgroups.is_empty() && files.is_empty() && veths.is_empty()
    });
    assert!(clean, "left after the runs: {left}");
    assert!(berth_tests::leaks::mounts_under(&d.data_root).is_empty());
}

/// The container's init is cloned by its shim straight into a new PID namespace, without
/// libcontainer's intermediate process (vendored libcontainer's eleventh change), and does
/// first what the intermediate did for it: from the host, a running container's init is the
/// shim's child, PID 1 of its namespace, in the container's cgroup in every hierarchy, with
/// the rlimits and limits its spec asks for.
#[test]
fn the_init_is_the_shims_child_in_its_cgroup_with_its_limits() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    let c = Client::Berth;
    let id = d.run_detached(
        c,
        &[
            "--ulimit",
            "nofile=123:456",
            "--pids-limit",
            "33",
            "busybox",
            "sleep",
            "600",
        ],
    );
    let pid = d.inspect(c, &id, "{{.State.Pid}}");
    let proc_file = |name: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{name}"))
            .unwrap_or_else(|e| panic!("/proc/{pid}/{name}: {e}"))
    };
    let status = proc_file("status");
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_else(|| panic!("no {key} in {status}"))
    };
    assert_eq!(
        field("NSpid:"),
        vec![pid.as_str(), "1"],
        "PID 1 of its namespace"
    );
    let parent = field("PPid:")[0].to_string();
    let parent_cmdline = std::fs::read(format!("/proc/{parent}/cmdline")).expect("the parent");
    assert!(
        String::from_utf8_lossy(&parent_cmdline).contains("berth-shim"),
        "the init's parent is not its shim: {}",
        String::from_utf8_lossy(&parent_cmdline)
    );
    let cgroups = proc_file("cgroup");
    assert!(!cgroups.trim().is_empty());
    for line in cgroups.lines() {
        assert!(
            line.contains(&id),
            "a hierarchy the init did not join: {line}\n{cgroups}"
        );
    }
    let limits = proc_file("limits");
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    assert_eq!(
        open_files.split_whitespace().collect::<Vec<_>>()[3..5],
        ["123", "456"],
        "{open_files}"
    );
    let pids_max = d.run(
        c,
        &[
            "exec",
            &id,
            "sh",
            "-c",
            "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max",
        ],
    );
    assert_eq!(pids_max.success().out().trim(), "33");
    d.run(c, &["rm", "-f", &id]).success();
}

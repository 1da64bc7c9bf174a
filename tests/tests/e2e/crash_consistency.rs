//! A kill -9 of berthd at the worst moments never breaks a container, a volume or the blob
//! store, and failures leave nothing behind. The kill points are berthd's debug failpoints
//! (`BERTH_FAILPOINT`), so each scenario is deterministic; one scenario kills berthd at a
//! random moment among parallel `run -d`s and checks the invariants after the restart.

use std::path::PathBuf;
use std::time::Duration;

use berth_tests::leaks::Leaks;
use berth_tests::{unique_name, wait_until, Client, TestDaemon};

use super::build::{build, context};

const DEATH: Duration = Duration::from_secs(30);
const EMPTY_LAYER: &str = "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// Every shim process of this daemon (command line `berth-shim <exec-root>/bundles/<id>/shim.json`).
fn shims(d: &TestDaemon) -> Vec<(i32, String)> {
    Leaks::find(&d.exec_root, &[])
        .processes
        .into_iter()
        .filter(|(_, cmd)| cmd.ends_with("/shim.json"))
        .collect()
}

/// Shim processes and cgroup members still there for `id`.
fn running_for(d: &TestDaemon, id: &str) -> (Vec<(i32, String)>, Vec<i32>) {
    let leaks = Leaks::find(&d.exec_root, &[id.to_string()]);
    let shims: Vec<(i32, String)> = shims(d)
        .into_iter()
        .filter(|(_, cmd)| cmd.contains(&format!("/bundles/{id}/")))
        .collect();
    let members = leaks
        .cgroups
        .iter()
        .filter_map(|cg| std::fs::read_to_string(cg.join("cgroup.procs")).ok())
        .flat_map(|s| {
            s.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    (shims, members)
}

/// The traces a run of `id` leaves under the exec root.
fn runtime_files(d: &TestDaemon, id: &str) -> Vec<PathBuf> {
    [
        d.exec_root.join("bundles").join(id),
        d.exec_root.join("netns").join(id),
        d.exec_root.join("runtime").join(id),
        d.exec_root.join("s").join(format!("{}.sock", &id[..24])),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .collect()
}

#[track_caller]
fn create(d: &TestDaemon, args: &[&str]) -> String {
    let mut all = vec!["create"];
    all.extend_from_slice(args);
    let out = d.docker(&all);
    out.success();
    out.out().lines().last().unwrap_or_default().to_string()
}

#[track_caller]
fn status(d: &TestDaemon, id: &str) -> String {
    d.inspect(Client::Docker, id, "{{.State.Status}}")
}

/// Restarts berthd with the debug failpoint `failpoint`, runs `docker args` (whose answer
/// does not matter: berthd dies on the way) and waits for berthd to die there.
#[track_caller]
fn die_at(d: &mut TestDaemon, failpoint: &str, args: &[&str]) {
    d.restart_with_failpoint(failpoint);
    let _ = d.docker(args);
    assert!(
        d.wait_for_daemon_death(DEATH),
        "berthd did not reach the failpoint"
    );
}

/// A daemon with a created `sleep` container whose `docker start` killed berthd at
/// `failpoint`, and the container's id; None where the harness skips.
#[track_caller]
fn started_into_failpoint(failpoint: &str) -> Option<(TestDaemon, String)> {
    let mut d = TestDaemon::start()?;
    let id = create(&d, &["busybox", "sleep", "1000"]);
    die_at(&mut d, failpoint, &["start", &id]);
    Some((d, id))
}

/// No shim process and no cgroup member is left of `id`; else panics with `what` and them.
#[track_caller]
fn assert_nothing_runs(d: &TestDaemon, id: &str, what: &str) {
    let (shims, members) = running_for(d, id);
    assert!(
        shims.is_empty() && members.is_empty(),
        "{what}: {shims:?} {members:?}"
    );
}

/// Killed right after the shim reported the created container, before it was started: the
/// shim holds a created container berthd never recorded. After the restart the container is
/// `created` with nothing left of that run, starts, and is removable.
#[test]
fn killed_between_shim_launch_and_start() {
    let Some((mut d, id)) = started_into_failpoint("after-shim-launch") else {
        return;
    };
    let (shims, _) = running_for(&d, &id);
    assert!(
        !shims.is_empty(),
        "the kill point should leave the shim running"
    );

    d.restart();
    assert_eq!(status(&d, &id), "created");
    assert_nothing_runs(&d, &id, "left running");
    assert!(
        runtime_files(&d, &id).is_empty(),
        "left: {:?}",
        runtime_files(&d, &id)
    );

    d.docker(&["start", &id]).success();
    assert_eq!(status(&d, &id), "running");
    d.docker(&["exec", &id, "true"]).success();
    d.docker(&["rm", "-f", &id]).success();
    assert_nothing_runs(&d, &id, "rm -f left");
}

/// Killed as a `run --rm` container's record is deleted, before the runtime's release that
/// follows the removal: after the restart it is not listed, nothing of it runs, and nothing of
/// its run is left on the host.
#[test]
fn killed_between_a_run_rm_removal_and_the_release() {
    let Some(mut d) = TestDaemon::start() else {
        return;
    };
    let cidfile = d.dir().join(format!("{}.cid", unique_name("rm")));
    let cid = cidfile.display().to_string();
    die_at(
        &mut d,
        "rm-after-record",
        &["run", "--rm", "--cidfile", &cid, "busybox", "true"],
    );
    let id = std::fs::read_to_string(&cidfile).expect("the cidfile");
    assert_eq!(id.len(), 64, "{id:?}");
    d.restart();
    assert!(d.docker(&["ps", "-aq"]).success().out().is_empty());
    assert_nothing_runs(&d, &id, "left running");
    let mut left = Vec::new();
    let clean = wait_until(Duration::from_secs(10), || {
        left = runtime_files(&d, &id);
        left.extend(
            [d.data_root.join("containers").join(&id)]
                .into_iter()
                .filter(|p| p.exists()),
        );
        left.extend(berth_tests::leaks::cgroups_of(std::slice::from_ref(&id)));
        left.extend(berth_tests::leaks::mounts_under(&d.data_root));
        left.is_empty()
    });
    assert!(clean, "left: {left:?}");
    d.docker(&["run", "--rm", "busybox", "true"]).success();
    assert!(d.check_problems().is_empty(), "{:?}", d.check_problems());
}

/// Killed after the container was started but before that was recorded: after the restart
/// it is listed as running (it is), and stop and rm work.
#[test]
fn killed_between_start_and_its_record() {
    let Some((mut d, id)) = started_into_failpoint("after-shim-start") else {
        return;
    };

    d.restart();
    assert_eq!(status(&d, &id), "running");
    let pid = d.inspect(Client::Docker, &id, "{{.State.Pid}}");
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} is not running"
    );
    d.docker(&["exec", &id, "true"]).success();
    d.docker(&["stop", "-t", "1", &id]).success();
    assert_eq!(status(&d, &id), "exited");
    d.docker(&["start", &id]).success();
    d.docker(&["rm", "-f", &id]).success();
    assert_nothing_runs(&d, &id, "rm -f left");
}

/// Killed before it could read the shim's report: the shim cannot tell berthd, so it removes
/// the container itself; the restart finds it created and startable.
#[test]
fn killed_before_the_shim_reported() {
    let Some((mut d, id)) = started_into_failpoint("before-shim-result") else {
        return;
    };
    let gone = wait_until(Duration::from_secs(20), || {
        let (shims, members) = running_for(&d, &id);
        shims.is_empty() && members.is_empty()
    });
    assert!(
        gone,
        "the shim kept a container berthd never heard of: {:?}",
        running_for(&d, &id)
    );

    d.restart();
    assert_eq!(status(&d, &id), "created");
    d.docker(&["start", &id]).success();
    d.docker(&["rm", "-f", &id]).success();
}

/// The shim killed once the runtime has made the container, before its report: the
/// container's init, cloned from the shim, holds the report pipe until it execs, so no end of
/// file comes. berthd learns of the loss from the shim's exit, fails the start at once, and
/// nothing of the container keeps running; the next start (without the failpoint) works.
#[test]
fn shim_killed_before_its_report() {
    let Some(mut d) = TestDaemon::start() else {
        return;
    };
    let id = create(&d, &["--network", "none", "busybox", "sleep", "1000"]);
    d.restart_with_failpoint("shim-before-report");
    let mut start = d.spawn(Client::Docker, &["start", &id]);
    let code = start.wait(Duration::from_secs(30));
    assert!(
        code.is_some_and(|c| c != 0),
        "docker start did not fail promptly: {code:?} {}",
        start.stderr()
    );
    assert!(
        start.stderr().contains("shim exited without reporting"),
        "{}",
        start.stderr()
    );
    assert!(d.daemon_running(), "berthd died: {}", d.log_tail());
    let gone = wait_until(Duration::from_secs(20), || {
        let (shims, members) = running_for(&d, &id);
        shims.is_empty() && members.is_empty()
    });
    assert!(gone, "left running: {:?}", running_for(&d, &id));
    assert_eq!(status(&d, &id), "created");

    d.restart();
    d.docker(&["start", &id]).success();
    d.docker(&["rm", "-f", &id]).success();
}

/// kill -9 at a random moment during parallel `run -d`: afterwards every listed container is
/// truly running or startable, every one is removable, and nothing runs that is not listed.
#[test]
fn killed_during_parallel_runs() {
    let Some(mut d) = TestDaemon::start() else {
        return;
    };
    let mut runs: Vec<_> = (0..8)
        .map(|_| d.spawn(Client::Docker, &["run", "-d", "busybox", "sleep", "1000"]))
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    d.kill9();
    for r in &mut runs {
        let _ = r.wait(Duration::from_secs(30));
    }
    d.restart();
    let ids: Vec<String> = d
        .docker(&["ps", "-aq", "--no-trunc"])
        .success()
        .lines()
        .into_iter()
        .map(str::to_string)
        .collect();
    for id in &ids {
        match status(&d, id).as_str() {
            "running" => {
                let pid = d.inspect(Client::Docker, id, "{{.State.Pid}}");
                assert!(
                    std::path::Path::new(&format!("/proc/{pid}")).exists(),
                    "{id} is listed as running with pid {pid}, which is gone"
                );
            }
            "created" | "exited" => {
                assert_nothing_runs(&d, id, &format!("{id} is listed as stopped but runs"));
                d.docker(&["start", id]).success();
            }
            other => panic!("{id} is {other}"),
        }
    }
    // Every shim of this daemon belongs to a listed container.
    let all_shims = shims(&d);
    assert_eq!(
        all_shims.len(),
        ids.len(),
        "shims: {all_shims:?}, listed: {ids:?}"
    );
    for id in &ids {
        d.docker(&["rm", "-f", id]).success();
    }
    assert!(
        wait_until(Duration::from_secs(10), || shims(&d).is_empty()),
        "shims left after rm -f: {:?}",
        shims(&d)
    );
}

/// Killed in the middle of `volume rm` and `volume prune -af`: the volume is whole (listed,
/// with its data) or gone (not listed, no data) after the restart, never half.
#[test]
fn volume_removal_interrupted_by_a_crash() {
    let Some(mut d) = TestDaemon::start() else {
        return;
    };
    let v = unique_name("crashvol");
    d.docker(&["volume", "create", &v]).success();
    d.docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{v}:/d"),
        "busybox",
        "sh",
        "-c",
        "echo kept > /d/f",
    ])
    .success();

    // Before the record went: rolled back, whole.
    die_at(&mut d, "volume-rm-after-rename", &["volume", "rm", &v]);
    d.restart();
    assert!(
        d.volume_names().contains(&v),
        "the volume should still be listed"
    );
    d.docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{v}:/d"),
        "busybox",
        "cat",
        "/d/f",
    ])
    .success()
    .stdout_has("kept");
    assert!(d.check_problems().is_empty(), "{:?}", d.check_problems());

    // After the record went: finished, gone.
    die_at(&mut d, "volume-rm-after-row", &["volume", "prune", "-af"]);
    d.restart();
    assert!(!d.volume_names().contains(&v), "the volume should be gone");
    let left: Vec<_> = std::fs::read_dir(d.data_root.join("volumes"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in volumes/: {left:?}");
    assert!(d.check_problems().is_empty(), "{:?}", d.check_problems());

    // Killed between a create's record and its directory: finished at the restart.
    die_at(&mut d, "volume-create-after-row", &["volume", "create", &v]);
    d.restart();
    assert!(d.volume_names().contains(&v));
    d.docker(&["run", "--rm", "-v", &format!("{v}:/d"), "busybox", "true"])
        .success();
    assert!(d.check_problems().is_empty(), "{:?}", d.check_problems());
    d.docker(&["volume", "rm", &v]).success();
}

/// The bridge of user network `name` as the daemon names it, and whether the host has it
/// up with `gateway` on it.
fn bridge_of(d: &TestDaemon, name: &str) -> (String, bool) {
    let id = d.inspect(Client::Docker, name, "{{.Id}}");
    let bridge = format!("br-{}", &id[..12]);
    let gateway = d.inspect(
        Client::Docker,
        name,
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
    );
    let out = std::process::Command::new("ip")
        .args(["-o", "-4", "addr", "show", "dev", &bridge])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let up = !gateway.is_empty() && out.contains(&format!("inet {gateway}/"));
    (bridge, up)
}

/// A network create or rm killed half-way leaves no bridge named by nothing: the record is
/// made before the bridge and removed after it, so the restart finds the network and brings
/// its bridge back, and `network rm` then takes both.
#[test]
fn network_create_and_rm_interrupted_by_a_crash() {
    let Some(mut d) = TestDaemon::start() else {
        return;
    };
    let net = unique_name("crashnet");

    // Killed after the record, before the bridge: the restart makes the bridge.
    die_at(
        &mut d,
        "network-create-after-row",
        &["network", "create", &net],
    );
    d.restart();
    let (bridge, up) = bridge_of(&d, &net);
    assert!(
        up,
        "{bridge} should be up with the network's gateway after the restart"
    );
    d.docker(&["run", "--rm", "--network", &net, "busybox", "true"])
        .success();
    assert!(d.check_problems().is_empty(), "{:?}", d.check_problems());

    // Killed after the bridge went, before the record: still a whole network after the
    // restart, and removable.
    die_at(&mut d, "network-rm-after-bridge", &["network", "rm", &net]);
    d.restart();
    let (bridge, up) = bridge_of(&d, &net);
    assert!(
        up,
        "{bridge} should be back with the network's gateway after the restart"
    );
    d.docker(&["network", "rm", &net]).success();
    assert!(
        !std::path::Path::new("/sys/class/net")
            .join(&bridge)
            .exists(),
        "{bridge} left after network rm"
    );
    assert!(d.check_problems().is_empty(), "{:?}", d.check_problems());
}

/// A volume whose data is gone is reported by `system check` and refused by `run -v`, never
/// silently made again empty; a data directory without a record is reported too.
#[test]
fn volume_without_data_is_reported_not_recreated() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    let v = unique_name("lostdata");
    d.docker(&["volume", "create", &v]).success();
    let data = d.data_root.join("volumes").join(&v).join("_data");
    std::fs::remove_dir(&data).expect("removing _data");
    let stray = d.data_root.join("volumes").join("stray-dir");
    std::fs::create_dir_all(stray.join("_data")).expect("stray dir");

    let problems = d.check_problems();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(&format!("volume {v}: its data directory"))),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("volume stray-dir:") && p.contains("no volume record")),
        "{problems:?}"
    );
    d.berth(&["system", "check"])
        .code_is(1)
        .stdout_has(&format!("volume {v}: its data directory"));

    d.docker(&["run", "--rm", "-v", &format!("{v}:/d"), "busybox", "true"])
        .stderr_has("data directory")
        .code_is(125);
    assert!(!data.exists(), "run -v recreated the data directory");

    d.docker(&["volume", "rm", &v]).success();
    std::fs::remove_dir_all(&stray).expect("removing the stray dir");
    assert!(d.check_problems().is_empty(), "{:?}", d.check_problems());
}

/// A build of config-only steps (each committed with an empty layer) leaves no empty-layer
/// blob behind, and `system check` reports a blob nothing references.
#[test]
fn blobs_and_rows_agree() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    let blob = d.data_root.join("content/blobs/sha256").join(EMPTY_LAYER);
    let name = unique_name("emptyrun");
    let ctx = context(&[("Dockerfile", "FROM busybox\nENV A=1\nCMD [\"sh\"]\n")]);
    build(&d, Client::Docker, ctx.path(), &["-t", &name]).success();
    let layers = |img: &str| d.inspect(Client::Docker, img, "{{len .RootFS.Layers}}");
    assert_eq!(
        layers(&name),
        layers("busybox"),
        "config steps add no layer"
    );
    assert!(
        !blob.exists(),
        "the empty-layer blob was left after the build"
    );
    assert!(d.check_problems().is_empty(), "{:?}", d.check_problems());
    d.docker(&["rmi", &name]).success();
    d.docker(&["builder", "prune", "-af"]).success();
    assert!(!blob.exists());

    // A blob nothing references is reported.
    let stray = b"stray bytes\n";
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(stray)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    let hex = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let path = d.data_root.join("content/blobs/sha256").join(&hex);
    std::fs::write(&path, stray).expect("writing a stray blob");
    let problems = d.check_problems();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(&format!("blob sha256:{hex}: nothing references it"))),
        "{problems:?}"
    );
    std::fs::remove_file(&path).expect("removing the stray blob");
    assert!(d.check_problems().is_empty(), "{:?}", d.check_problems());
}

/// `run --rm` of an image with a VOLUME whose command does not exist removes the anonymous
/// volume it made, as dockerd does, every time.
#[test]
fn failed_run_rm_removes_its_anonymous_volume() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    let name = unique_name("withvolume");
    let ctx = context(&[("Dockerfile", "FROM busybox\nVOLUME /data\n")]);
    build(&d, Client::Docker, ctx.path(), &["-t", &name]).success();
    for c in [Client::Docker, Client::Berth, Client::Docker] {
        d.run(c, &["run", "--rm", &name, "/no/such/command"])
            .code_is(127);
        assert!(
            d.volume_names().is_empty(),
            "{}: {:?}",
            c.name(),
            d.volume_names()
        );
        assert!(d.docker(&["ps", "-aq"]).success().out().is_empty());
    }
    d.docker(&["rmi", &name]).success();
}

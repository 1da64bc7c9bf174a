//! A shim sleeps in poll while its container runs: while berthd is down (stopped or killed)
//! and after berthd reconnects, it uses next to no CPU.

use super::*;
use berth_tests::leaks::processes_naming;

/// CPU a shim may use over one measuring window; a busy loop uses the whole window.
const IDLE_BUDGET: Duration = Duration::from_millis(150);
const WINDOW: Duration = Duration::from_secs(2);

/// The fields of /proc/<pid>/stat after the command name (which is in parentheses and may hold
/// spaces): the first is field 3, the state.
fn stat_fields(pid: i32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/stat: {e}"));
    let rest = &stat[stat.rfind(')').expect("stat has a command") + 2..];
    rest.split(' ').map(str::to_string).collect()
}

/// utime + stime of `pid`, from /proc/<pid>/stat.
fn cpu_time(pid: i32) -> Duration {
    let fields = stat_fields(pid);
    // utime is field 14, stime field 15.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 1000 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { nix::libc::sysconf(nix::libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|h| *h > 0).unwrap_or(100)
}

/// The CPU `pid` uses over one window.
fn cpu_over_window(pid: i32) -> Duration {
    let before = cpu_time(pid);
    std::thread::sleep(WINDOW);
    cpu_time(pid).saturating_sub(before)
}

fn shim_pid(d: &TestDaemon, id: &str) -> i32 {
    let shims: Vec<i32> = processes_naming(&d.exec_root, &[id.to_string()])
        .into_iter()
        .filter(|(_, cmd)| cmd.contains("berth-shim") && cmd.contains(id))
        .map(|(pid, _)| pid)
        .collect();
    assert_eq!(shims.len(), 1, "one shim for {id}: {shims:?}");
    shims[0]
}

fn assert_idle(pid: i32, when: &str) {
    let used = cpu_over_window(pid);
    assert!(
        used <= IDLE_BUDGET,
        "the shim used {used:?} of CPU in {WINDOW:?} {when}"
    );
}

fn idle_across(stop: impl FnOnce(&mut TestDaemon), how: &str) {
    let Some(mut d) = TestDaemon::start() else {
        return;
    };
    let c = Client::Berth;
    // A container with a waiter (the daemon's monitor) and a log; a second one attached too.
    let id = d.run_detached(c, &["busybox", "sleep", "600"]);
    let mut attached = d.spawn(c, &["run", "busybox", "sh", "-c", "echo up; sleep 600"]);
    assert!(
        attached.wait_for_stdout("up", SETTLE),
        "{}",
        attached.stderr()
    );
    let shim = shim_pid(&d, &id);
    assert_idle(shim, "while berthd runs");

    stop(&mut d);
    assert_idle(shim, &format!("after berthd {how}"));

    d.start_again();
    assert_eq!(d.inspect(c, &id, "{{.State.Running}}"), "true");
    assert_idle(shim, "after berthd came back");
    attached.kill();
    d.run(c, &["rm", "-f", &id]).success();
}

#[test]
fn idle_after_sigterm() {
    idle_across(
        |d| {
            d.stop();
        },
        "was stopped",
    );
}

#[test]
fn idle_after_kill9() {
    idle_across(TestDaemon::kill9, "was killed");
}

/// The `PPid:`, and the session id (field 6 of /proc/<pid>/stat), of `pid`.
fn parent_and_session(pid: i32) -> (i32, i32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    let ppid = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("PPid");
    // The session is field 6.
    let sid = stat_fields(pid)[3].parse().expect("session");
    (ppid, sid)
}

/// berthd's children that have exited and not been reaped.
fn zombie_children(parent: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
                s.lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'))
                    && s.lines().any(|l| l == format!("PPid:\t{parent}"))
            })
        })
        .collect()
}

/// berthd spawns each shim in a session of its own and the shim stays its child (it no longer
/// forks to detach); berthd reaps it when it exits, so containers that come and go leave no
/// zombie behind.
#[test]
fn shims_are_berthd_s_children_in_their_own_session_and_reaped() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    let c = Client::Berth;
    let berthd = d.berthd_pid().expect("a berthd of the test's own");
    let id = d.run_detached(c, &["busybox", "sleep", "600"]);
    let shim = shim_pid(&d, &id);
    let (ppid, sid) = parent_and_session(shim);
    assert_eq!(ppid, berthd, "the shim is berthd's child");
    assert_eq!(sid, shim, "the shim leads a session of its own");
    assert_ne!(sid, parent_and_session(berthd).1, "not berthd's session");
    for _ in 0..5 {
        d.run(c, &["run", "--rm", "--network", "none", "busybox", "true"])
            .success();
    }
    d.run(c, &["rm", "-f", &id]).success();
    assert!(
        berth_tests::wait_until(SETTLE, || zombie_children(berthd).is_empty()),
        "unreaped children of berthd: {:?}",
        zombie_children(berthd)
    );
}

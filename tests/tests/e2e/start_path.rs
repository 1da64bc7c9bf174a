//! The start path's own guarantees: a `--rm` container's writable layer is mounted volatile (never
//! synced, nor at unmount), other containers' are not, and a volatile layer mounts again after a
//! restart; with `berthd --debug` the shim's trace of a run reaches berthd's log.

use super::*;

/// The super options of the container's root mount, as the container sees them.
fn root_mount_options(d: &TestDaemon, c: Client, extra: &[&str]) -> String {
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", "grep ' / / ' /proc/self/mountinfo"]);
    let out = d.run(c, &args);
    out.success();
    out.stdout.clone()
}

both_clients! {
    fn rm_layer_is_volatile(d, c) {
        let rm = root_mount_options(d, c, &["--rm"]);
        assert!(rm.contains(" - overlay "), "{rm}");
        assert!(rm.contains(",volatile"), "a --rm container's layer is volatile: {rm}");
        let name = unique_name("kept");
        let kept = root_mount_options(d, c, &["--name", &name]);
        assert!(kept.contains(" - overlay "), "{kept}");
        assert!(!kept.contains("volatile"), "a kept container's layer is synced: {kept}");
        d.run(c, &["rm", &name]).success();
    }

    fn volatile_layer_mounts_again_after_restart(d, c) {
        let name = unique_name("rmrestart");
        d.run(c, &["run", "-d", "--rm", "--name", &name, "busybox", "sh", "-c",
            "echo kept > /data; sleep 300"]).success();
        d.run(c, &["restart", "-t", "0", &name]).success();
        let out = d.run(c, &["exec", &name, "cat", "/data"]);
        out.success();
        assert_eq!(out.stdout, "kept\n", "{out}");
        d.run(c, &["rm", "-f", &name]).success();
    }
}

#[test]
fn debug_trace_reaches_the_daemon_log() {
    let Some(d) = TestDaemon::start_with(&["--debug"]) else {
        return;
    };
    d.berth(&["run", "--rm", "--network", "none", "busybox", "true"]).success();
    let log = std::fs::read_to_string(&d.log).unwrap_or_default();
    for want in [
        "span runtime_create took",
        "span rt_libcontainer_build took",
        "span shim_start took",
        "init reaped",
        "span runtime_delete took",
    ] {
        assert!(log.contains(want), "no {want:?} in berthd's log:\n{log}");
    }
}

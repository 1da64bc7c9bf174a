//! The shim's and the embedded runtime's side of the start path: with `berthd --debug` the
//! shim's trace of a run (its spans with durations, the runtime's own events from every process
//! of the create) reaches berthd's log, for a container that runs and one that fails to start.

use super::*;

#[test]
fn debug_trace_reaches_the_daemon_log() {
    let Some(d) = TestDaemon::start_with(&["--debug"]) else {
        return;
    };
    let out = d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo hi; exit 3",
    ]);
    out.code_is(3);
    assert_eq!(out.stdout, "hi\n", "{out}");
    let log = std::fs::read_to_string(&d.log).unwrap_or_default();
    for want in [
        "span shim_launch took",
        "span create_in_place took",
        "span rt_prepare took",
        "span rt_libcontainer_build took",
        "span start_in_place took",
        "span rt_start took",
        "init reaped",
        "span exit_file took",
        "span delete_in_place took",
        "span rt_libcontainer_delete took",
    ] {
        assert!(log.contains(want), "no {want:?} in berthd's log:\n{log}");
    }
    // The container's init, past its own clone, writes there too.
    assert!(
        log.lines()
            .any(|l| l.contains(" trace pid=") && l.contains("libcontainer::process::init")),
        "no event of the container's init in berthd's log:\n{log}"
    );
}

#[test]
fn no_trace_without_debug() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    let name = unique_name("notrace");
    d.berth(&["run", "-d", "--name", &name, "busybox", "sleep", "300"])
        .success();
    let id = d
        .berth(&["inspect", "-f", "{{.Id}}", &name])
        .success()
        .out()
        .to_string();
    let shim_log = d.exec_root.join("bundles").join(&id).join("shim.log");
    let text = std::fs::read_to_string(&shim_log).unwrap_or_default();
    assert!(
        !text.contains(" trace pid="),
        "a trace without --debug in {}:\n{text}",
        shim_log.display()
    );
    d.berth(&["rm", "-f", &name]).success();
}

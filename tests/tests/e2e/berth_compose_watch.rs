//! `berth compose watch` and `up --watch` (`develop.watch`): a watcher runs in the background
//! while the test changes files in the project directory and polls, with deadlines, until
//! the service container sees the change through `berth exec ... cat`.

use std::process::Stdio;

use berth_tests::Spawned;
use nix::sys::signal::Signal;

use super::berth_compose::Proj;
use super::*;

/// How long a change may take to reach a container (debounce, then sync, restart or rebuild).
const ARRIVE: Duration = Duration::from_secs(60);

/// `berth compose -p <name> <args>` started in the background.
fn spawn(p: &Proj, args: &[&str]) -> Spawned {
    let mut cmd = p.base(Client::Berth);
    cmd.args(args).stdin(Stdio::null());
    Spawned::spawn(cmd).unwrap_or_else(|e| panic!("spawning compose {args:?}: {e}"))
}

/// Waits for the watcher's `Watch enabled` line.
#[track_caller]
fn wait_enabled(w: &mut Spawned, needle: &str) {
    let ok = wait_until(Duration::from_secs(120), || {
        w.stdout().contains(needle) || !w.running()
    }) && w.stdout().contains(needle);
    assert!(
        ok,
        "no {needle:?}\nstdout:\n{}\nstderr:\n{}",
        w.stdout(),
        w.stderr()
    );
}

/// `cat <path>` in the container, when it succeeds.
fn cat(p: &Proj, ctr: &str, path: &str) -> Option<String> {
    let out = p.d.berth(&["exec", ctr, "cat", path]);
    (out.code == 0).then(|| out.stdout.clone())
}

#[track_caller]
fn wait_content(p: &Proj, w: &Spawned, ctr: &str, path: &str, want: Option<&str>) {
    let ok = wait_until(ARRIVE, || cat(p, ctr, path).as_deref() == want);
    assert!(
        ok,
        "{ctr}:{path} is {:?}, want {want:?}\nwatch stdout:\n{}\nwatch stderr:\n{}",
        cat(p, ctr, path),
        w.stdout(),
        w.stderr()
    );
}

/// Ctrl-C (or SIGTERM) ends the watch with 130 (compose's canceled context) and leaves the
/// project running.
#[track_caller]
fn interrupt(p: &Proj, w: &mut Spawned, ctr: &str) {
    interrupt_with(p, w, ctr, Signal::SIGINT)
}

#[track_caller]
fn interrupt_with(p: &Proj, w: &mut Spawned, ctr: &str, signal: Signal) {
    w.signal(signal);
    let code = w.wait(Duration::from_secs(30));
    if code.is_none() {
        w.kill();
    }
    assert_eq!(code, Some(130), "stderr:\n{}", w.stderr());
    assert_eq!(p.inspect(ctr, "{{.State.Running}}"), "true");
}

const SYNC: &str = r#"
services:
  web:
    image: busybox
    command: ["sleep", "300"]
    develop:
      watch:
        - path: ./src
          action: sync
          target: /app
          ignore:
            - "*.tmp"
            - cache/
        - path: ./inc
          action: sync
          target: /inc
          include:
            - "*.txt"
"#;

#[test]
fn sync_copies_changes_and_removes_deleted_files() {
    let Some(p) = Proj::start("bcwsync", &[("compose.yaml", SYNC), ("src/keep.txt", "k")]) else {
        return;
    };
    let ctr = p.container("web", 1);
    let mut w = spawn(&p, &["watch"]);
    wait_enabled(&mut w, "Watch enabled");
    // Without --no-up the project was started first.
    assert_eq!(p.inspect(&ctr, "{{.State.Running}}"), "true");

    p.write("src/a.txt", "v1");
    wait_content(&p, &w, &ctr, "/app/a.txt", Some("v1"));
    p.write("src/a.txt", "v2");
    wait_content(&p, &w, &ctr, "/app/a.txt", Some("v2"));
    // A new directory arrives with its content.
    p.write("src/sub/deep/b.txt", "bee");
    wait_content(&p, &w, &ctr, "/app/sub/deep/b.txt", Some("bee"));
    // Ignored paths never arrive: the marker written after them does.
    p.write("src/x.tmp", "tmp");
    p.write("src/cache/c.txt", "cached");
    p.write("src/.a.txt.swp", "vim");
    p.write("src/marker.txt", "m");
    wait_content(&p, &w, &ctr, "/app/marker.txt", Some("m"));
    std::thread::sleep(Duration::from_secs(1));
    for ignored in ["/app/x.tmp", "/app/cache/c.txt", "/app/.a.txt.swp"] {
        assert_eq!(cat(&p, &ctr, ignored), None, "{ignored} was synced");
    }
    // Deleted files and directories are removed in the container.
    std::fs::remove_file(p.dir.join("src/a.txt")).unwrap_or_else(|e| panic!("{e}"));
    wait_content(&p, &w, &ctr, "/app/a.txt", None);
    std::fs::remove_dir_all(p.dir.join("src/sub")).unwrap_or_else(|e| panic!("{e}"));
    wait_content(&p, &w, &ctr, "/app/sub/deep/b.txt", None);
    // `include`: only the matching files of that rule arrive.
    p.write("inc/skip.bin", "bin");
    p.write("inc/take.txt", "txt");
    wait_content(&p, &w, &ctr, "/inc/take.txt", Some("txt"));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        cat(&p, &ctr, "/inc/skip.bin"),
        None,
        "not included, yet synced"
    );
    // Files present before the watch (no initial_sync) were not copied.
    assert_eq!(cat(&p, &ctr, "/app/keep.txt"), None);

    let out = w.stdout();
    assert!(
        out.contains("Syncing service \"web\" after 1 changes were detected"),
        "{out}"
    );
    interrupt(&p, &mut w, &ctr);
}

const HOOKS: &str = r#"
services:
  web:
    image: busybox
    command: ["sleep", "300"]
    develop:
      watch:
        - path: ./cfg
          action: sync+restart
          target: /cfg
        - path: ./hooks
          action: sync+exec
          target: /hooks
          exec:
            command: ["sh", "-c", "cat /hooks/in.txt > /hook-out.txt; echo hook ran for $$WHO"]
            environment:
              WHO: watcher
        - path: ./seed
          action: sync
          target: /seed
          initial_sync: true
"#;

#[test]
fn sync_restart_sync_exec_and_initial_sync() {
    let Some(p) = Proj::start(
        "bcwhooks",
        &[
            ("compose.yaml", HOOKS),
            ("seed/s.txt", "seeded"),
            ("cfg/.keep", ""),
        ],
    ) else {
        return;
    };
    let ctr = p.container("web", 1);
    p.berth(&["up", "-d"]).success();
    let mut w = spawn(&p, &["watch", "--no-up"]);
    wait_enabled(&mut w, "Watch enabled");
    // initial_sync copied what was there before any change.
    assert_eq!(cat(&p, &ctr, "/seed/s.txt").as_deref(), Some("seeded"));

    let started = p.inspect(&ctr, "{{.State.StartedAt}}");
    p.write("cfg/app.conf", "conf1");
    wait_content(&p, &w, &ctr, "/cfg/app.conf", Some("conf1"));
    assert!(
        wait_until(ARRIVE, || p.inspect(&ctr, "{{.State.StartedAt}}")
            != started
            && w.stdout().contains("service(s) [\"web\"] restarted")),
        "not restarted\n{}\n{}",
        w.stdout(),
        w.stderr()
    );
    assert_eq!(p.inspect(&ctr, "{{.State.Running}}"), "true");

    p.write("hooks/in.txt", "hello hook");
    wait_content(&p, &w, &ctr, "/hook-out.txt", Some("hello hook"));
    assert!(
        wait_until(ARRIVE, || w.stdout().contains("hook ran for watcher")),
        "{}",
        w.stdout()
    );
    interrupt_with(&p, &mut w, &ctr, Signal::SIGTERM);
}

const REBUILD: &str = r#"
services:
  app:
    build: .
    command: ["sleep", "300"]
    develop:
      watch:
        - path: ./version.txt
          action: rebuild
        - path: ./conf
          action: sync
          target: /conf
"#;

#[test]
fn rebuild_recreates_with_the_new_image_and_dockerignore_applies() {
    let Some(p) = Proj::start(
        "bcwbuild",
        &[
            ("compose.yaml", REBUILD),
            (
                "Dockerfile",
                "FROM busybox\nCOPY version.txt /version.txt\n",
            ),
            ("version.txt", "v1"),
            (".dockerignore", "conf/*.log\n"),
        ],
    ) else {
        return;
    };
    let ctr = p.container("app", 1);
    let mut w = spawn(&p, &["watch"]);
    wait_enabled(&mut w, "Watch enabled");
    assert_eq!(cat(&p, &ctr, "/version.txt").as_deref(), Some("v1"));
    let first_id = p.inspect(&ctr, "{{.Id}}");

    // .dockerignore of the build context applies to sync rules too.
    p.write("conf/debug.log", "noise");
    p.write("conf/ok.txt", "fine");
    wait_content(&p, &w, &ctr, "/conf/ok.txt", Some("fine"));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(cat(&p, &ctr, "/conf/debug.log"), None);

    p.write("version.txt", "v2");
    wait_content(&p, &w, &ctr, "/version.txt", Some("v2"));
    assert_ne!(
        p.inspect(&ctr, "{{.Id}}"),
        first_id,
        "container not recreated"
    );
    let out = w.stdout();
    assert!(
        out.contains("Rebuilding service(s) [\"app\"] after changes were detected..."),
        "{out}"
    );
    assert!(
        out.contains("service(s) [\"app\"] successfully built"),
        "{out}"
    );

    // --prune (the default): the project's dangling images go at the next rebuild (the
    // previous one is still in use by the old container when the pruning runs).
    assert_eq!(dangling(&p), 1);
    for v in ["v3", "v4"] {
        p.write("version.txt", v);
        wait_content(&p, &w, &ctr, "/version.txt", Some(v));
    }
    assert_eq!(dangling(&p), 1, "{}", w.stdout());
    // Built images carry compose's labels.
    let image = p.inspect(&ctr, "{{.Image}}");
    p.docker(&["image", "inspect", "-f", "{{json .Config.Labels}}", &image])
        .success()
        .stdout_has(&format!("\"com.docker.compose.project\":\"{}\"", p.name))
        .stdout_has("\"com.docker.compose.service\":\"app\"");
    interrupt(&p, &mut w, &ctr);
}

/// How many dangling images of the project there are.
fn dangling(p: &Proj) -> usize {
    let project = format!("label=com.docker.compose.project={}", p.name);
    let out = p.docker(&[
        "images",
        "-q",
        "--filter",
        "dangling=true",
        "--filter",
        &project,
    ]);
    out.success()
        .lines()
        .iter()
        .filter(|l| !l.is_empty())
        .count()
}

#[test]
fn rebuild_without_prune_keeps_dangling_images() {
    let Some(p) = Proj::start(
        "bcwnoprune",
        &[
            ("compose.yaml", REBUILD),
            (
                "Dockerfile",
                "FROM busybox\nCOPY version.txt /version.txt\n",
            ),
            ("version.txt", "v1"),
        ],
    ) else {
        return;
    };
    let ctr = p.container("app", 1);
    let mut w = spawn(&p, &["watch", "--prune=false", "--quiet"]);
    wait_enabled(&mut w, "Watch enabled");
    for v in ["v2", "v3"] {
        p.write("version.txt", v);
        wait_content(&p, &w, &ctr, "/version.txt", Some(v));
    }
    assert_eq!(dangling(&p), 2);
    interrupt(&p, &mut w, &ctr);
}

const PLAIN: &str = r#"
services:
  web:
    image: busybox
    command: ["sleep", "300"]
"#;

#[test]
fn errors_as_compose() {
    let Some(p) = Proj::start("bcwerr", &[("compose.yaml", PLAIN)]) else {
        return;
    };
    p.berth(&["watch", "--no-up"]).code_is(1).stderr_has(
        "none of the selected services is configured for watch, consider setting a 'develop' section",
    );

    p.berth(&["up", "-d", "--watch"]).code_is(1).stderr_has(
        "--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch",
    );
    p.berth(&["up", "--no-build", "--watch"])
        .code_is(1)
        .stderr_has("--no-build and --watch are incompatible");
    // Nothing was started by the failed commands.
    assert!(p.ids().is_empty(), "{:?}", p.ids());
    // `up --watch` finds nothing to watch once it created the containers (not started).
    p.berth(&["up", "--watch"]).code_is(1).stderr_has(
        "none of the selected services is configured for watch, see https://docs.docker.com/compose/how-tos/file-watch/",
    );
    assert_eq!(
        p.inspect(&p.container("web", 1), "{{.State.Status}}"),
        "created"
    );

    p.write(
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    develop:\n      watch:\n        - path: ./src\n          action: sync\n",
    );
    p.berth(&["watch", "--no-up"])
        .code_is(1)
        .stderr_has("services.web.develop.watch: target is required for non-rebuild actions");
    p.write(
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    develop:\n      watch:\n        - path: ./src\n          action: rebuild\n",
    );
    p.berth(&["watch", "--no-up"])
        .code_is(1)
        .stderr_has("can't watch service \"web\" with action rebuild without a build context");
    p.write(
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    develop:\n      watch:\n        - path: ./src\n          action: teleport\n          target: /x\n",
    );
    let bad = p.berth(&["watch", "--no-up"]);
    bad.code_is(1);
    assert!(bad.stderr.contains("action"), "{bad}");
}

#[test]
fn up_watch_follows_logs_and_syncs() {
    let Some(p) = Proj::start("bcwup", &[("compose.yaml", SYNC), ("src/.keep", "")]) else {
        return;
    };
    let ctr = p.container("web", 1);
    let mut w = spawn(&p, &["up", "--watch"]);
    // Compose's prefix: the widest name (`#watch` here) plus one, then ` ⦿ `.
    wait_enabled(&mut w, "        ⦿ Watch enabled\nAttaching to web-1");
    p.write("src/u.txt", "up-watch");
    wait_content(&p, &w, &ctr, "/app/u.txt", Some("up-watch"));
    assert!(
        wait_until(ARRIVE, || w
            .stdout()
            .contains("        ⦿ Syncing service \"web\" after ")),
        "{}",
        w.stdout()
    );
    // Ctrl-C stops an attached `up`, as without --watch.
    w.signal(Signal::SIGINT);
    let code = w.wait(Duration::from_secs(60));
    if code.is_none() {
        w.kill();
    }
    assert_eq!(code, Some(130), "stderr:\n{}", w.stderr());
    assert_eq!(p.inspect(&ctr, "{{.State.Running}}"), "false");
}

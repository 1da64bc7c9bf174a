//! `berth push`/`pull`/`build` on a terminal (a pty from util-linux `script`): per-layer lines
//! redrawn in place, then the final lines docker prints.

use std::process::Command;

use super::registry::Served;
use super::*;

/// Runs `berth args...` against `d` on a pseudo-terminal; (exit code, everything it drew).
fn on_a_terminal(d: &TestDaemon, args: &[&str]) -> (i32, String) {
    let bins = berth_tests::paths::Binaries::locate().unwrap_or_else(|e| panic!("{e}"));
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = quote(&bins.berth.display().to_string());
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let out = Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .env("DOCKER_HOST", d.host())
        .env("COLUMNS", "120")
        .env("LINES", "40")
        .output()
        .unwrap_or_else(|e| panic!("running script(1): {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn push_and_pull_draw_layer_lines_on_a_terminal() {
    if !require_script() {
        return;
    }
    let Some(d) = TestDaemon::start() else { return };
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let reg = Served::start(root.path(), &[]);
    let image = format!("{}/e2e/{}:v1", reg.addr, unique_name("tty"));
    // A layer of its own: a fresh daemon has busybox's already ("Already exists").
    let ctr = unique_name("tty-src");
    d.berth(&[
        "run",
        "--name",
        &ctr,
        "busybox",
        "sh",
        "-c",
        &format!("echo {ctr} > /unique"),
    ])
    .success();
    d.berth(&["commit", &ctr, &image]).success();
    d.berth(&["rm", &ctr]).success();

    let (code, drawn) = on_a_terminal(&d, &["push", &image]);
    assert_eq!(code, 0, "{drawn}");
    assert!(
        drawn.contains("\u{1b}["),
        "drawn with terminal control sequences: {drawn:?}"
    );
    assert!(drawn.contains(": Pushed"), "{drawn}");
    assert!(drawn.contains("v1: digest: sha256:"), "{drawn}");

    let other = TestDaemon::start().unwrap_or_else(|| panic!("a second daemon"));
    let (code, drawn) = on_a_terminal(&other, &["pull", &image]);
    assert_eq!(code, 0, "{drawn}");
    assert!(drawn.contains("\u{1b}["), "{drawn:?}");
    assert!(drawn.contains(": Pull complete"), "{drawn}");
    assert!(drawn.contains("Digest: sha256:"), "{drawn}");
    assert!(
        drawn.contains(&format!("Status: Downloaded newer image for {image}")),
        "{drawn}"
    );
    other.berth(&["image", "inspect", &image]).success();
}

/// Whether script(1) is here to give the client a terminal (fails the test when it is not,
/// unless `BERTH_TEST_SKIP_BLACKBOX=1`).
fn require_script() -> bool {
    berth_tests::preflight::require(
        "script(1)",
        which("script").is_some(),
        "scripts/install-deps installs bsdutils",
        berth_tests::preflight::SKIP_VAR,
    )
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    })
}

#[test]
fn build_on_a_terminal_shows_steps_with_cache_marks() {
    if !require_script() {
        return;
    }
    let Some(d) = TestDaemon::start() else { return };
    let ctx = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo building now\nCMD echo done\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dir = ctx.path().display().to_string();
    let (code, drawn) = on_a_terminal(&d, &["build", "-t", "tty-built", &dir]);
    assert_eq!(code, 0, "{drawn}");
    assert!(drawn.contains("✔ Step 1/3 : FROM busybox"), "{drawn}");
    assert!(
        drawn.contains("✔ Step 2/3 : RUN echo building now"),
        "{drawn}"
    );
    assert!(
        drawn.contains("Successfully tagged tty-built:latest"),
        "{drawn}"
    );
    let (code, drawn) = on_a_terminal(&d, &["build", "-t", "tty-built", &dir]);
    assert_eq!(code, 0, "{drawn}");
    assert!(
        drawn.contains("✔ Step 2/3 : RUN echo building now  CACHED"),
        "{drawn}"
    );

    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo about to fail; exit 3\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (code, drawn) = on_a_terminal(&d, &["build", &dir]);
    assert_eq!(code, 3, "the RUN's exit code, as the docker CLI: {drawn}");
    assert!(drawn.contains("✗ Step 2/2"), "{drawn}");
    assert!(
        drawn.contains("about to fail"),
        "the failed step's output stays: {drawn}"
    );
    assert!(drawn.contains("returned a non-zero code: 3"), "{drawn}");
}

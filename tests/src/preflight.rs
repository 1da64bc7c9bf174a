//! Whether the black-box suite can run on this machine, and what happens when it cannot: the
//! test fails and says what is missing. Only an explicit skip variable turns that into a skip
//! (the test then passes, after printing `skipped: ...`), so a machine that cannot run the suite
//! never reports it as passed by accident.
//!
//! - `BERTH_TEST_SKIP_BLACKBOX=1`: skip every scenario that needs a berthd when berthd cannot
//!   be started here (not root, binaries not built, the busybox fixture or the docker CLI
//!   missing), and the programs `scripts/install-deps` installs (runc, script, htpasswd).
//! - `BERTH_NO_DOCKERD=1`, `BERTH_NO_DOCKER_REGISTRY=1`, `BERTH_NO_COMPOSE=1`,
//!   `BERTH_NO_DOCKER_PY=1`: skip the tests that need that reference peer when it is missing
//!   (the same variables tell `scripts/install-deps` not to install it).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::paths::Binaries;

/// Set to `1` to skip (rather than fail) the black-box scenarios on a machine that cannot run
/// them.
pub const SKIP_VAR: &str = "BERTH_TEST_SKIP_BLACKBOX";

/// Whether `var` is set to a non-empty value other than `0`.
pub fn var_set(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// What keeps this machine from starting a test berthd (empty when nothing does).
pub fn blackbox_missing() -> &'static [String] {
    static MISSING: OnceLock<Vec<String>> = OnceLock::new();
    MISSING.get_or_init(|| {
        let mut missing = Vec::new();
        if !nix::unistd::Uid::effective().is_root() {
            missing.push(format!(
                "berthd needs root, and this test runs as uid {}",
                nix::unistd::Uid::effective()
            ));
        }
        match Binaries::locate() {
            Ok(bins) => {
                if !bins.docker.is_file() {
                    missing.push(format!(
                        "the docker CLI is not at {} (scripts/install-deps installs it; \
                         BERTH_TEST_DOCKER names another)",
                        bins.docker.display()
                    ));
                }
            }
            Err(e) => missing.push(e.to_string()),
        }
        match std::env::var_os("BERTH_TEST_BUSYBOX_TAR") {
            Some(tar) if !Path::new(&tar).is_file() => missing.push(format!(
                "the busybox fixture BERTH_TEST_BUSYBOX_TAR={} does not exist \
                 (scripts/make-busybox-image makes it)",
                PathBuf::from(tar).display()
            )),
            Some(_) => {}
            None => {
                let script = crate::paths::repo_root().join("scripts/make-busybox-image");
                if !script.is_file() {
                    missing.push(format!(
                        "no busybox fixture: BERTH_TEST_BUSYBOX_TAR is unset and {} is missing",
                        script.display()
                    ));
                }
            }
        }
        if let Some(init) = std::env::var_os("BERTH_TEST_INIT") {
            if !Path::new(&init).is_file() {
                missing.push(format!(
                    "BERTH_TEST_INIT={} does not exist (scripts/build-init makes it)",
                    PathBuf::from(init).display()
                ));
            }
        }
        missing
    })
}

/// Whether a test that needs a berthd may go on: true when one can be started; false (after
/// printing `skipped: ...`) when it cannot and `BERTH_TEST_SKIP_BLACKBOX=1` is set. Otherwise
/// fails the test naming what is missing.
#[track_caller]
pub fn blackbox_can_run() -> bool {
    let missing = blackbox_missing();
    if missing.is_empty() {
        return true;
    }
    if var_set(SKIP_VAR) {
        eprintln!(
            "skipped ({SKIP_VAR} is set): the black-box suite cannot start berthd here: {}",
            missing.join("; ")
        );
        return false;
    }
    panic!(
        "the black-box suite cannot start berthd here:\n  - {}\nRun it as root after \
         `cargo build --workspace --bins` (sudo scripts/test does both), or set {SKIP_VAR}=1 \
         to skip it.",
        missing.join("\n  - ")
    );
}

/// Whether this test runs as root, which it needs for `why`: true when it does; false (after
/// printing `skipped: ...`) when not and `BERTH_TEST_SKIP_BLACKBOX=1` is set; otherwise fails
/// the test.
#[track_caller]
pub fn require_root(why: &str) -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return true;
    }
    if var_set(SKIP_VAR) {
        eprintln!("skipped ({SKIP_VAR} is set): {why} needs root");
        return false;
    }
    panic!("{why} needs root (run the tests as root, or set {SKIP_VAR}=1 to skip it)");
}

/// Whether a program a test needs is here: true when `found`; false (after printing
/// `skipped: ...`) when it is not and `skip_var` is set; otherwise fails the test naming
/// `what` and how to get it (`install`).
#[track_caller]
pub fn require(what: &str, found: bool, install: &str, skip_var: &str) -> bool {
    if found {
        return true;
    }
    if var_set(skip_var) {
        eprintln!("skipped ({skip_var} is set): {what} is not installed");
        return false;
    }
    panic!("{what} is not installed ({install}); set {skip_var}=1 to skip the tests that need it");
}

/// The first of `paths` that is a file.
pub fn first_file(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// The reference dockerd 20.10, or None (skipped) with `BERTH_NO_DOCKERD=1`; fails otherwise.
#[track_caller]
pub fn require_dockerd() -> Option<PathBuf> {
    let found = first_file(&["/usr/sbin/dockerd"]);
    require(
        "dockerd (/usr/sbin/dockerd, the reference daemon)",
        found.is_some(),
        "scripts/install-deps installs Debian's docker.io",
        "BERTH_NO_DOCKERD",
    )
    .then_some(found)
    .flatten()
}

/// runc, or None (skipped) with `BERTH_TEST_SKIP_BLACKBOX=1`; fails otherwise.
#[track_caller]
pub fn require_runc() -> Option<PathBuf> {
    let found = first_file(&["/usr/sbin/runc", "/usr/bin/runc"]);
    require(
        "runc",
        found.is_some(),
        "scripts/install-deps installs the runc package",
        SKIP_VAR,
    )
    .then_some(found)
    .flatten()
}

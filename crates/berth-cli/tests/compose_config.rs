//! `berth compose config` against the real `docker compose config` (Compose v2, installed by
//! scripts/install-deps as a docker CLI plugin) over the fixture projects in
//! tests/fixtures/compose: the JSON and YAML outputs must be byte-identical, and for the
//! invalid projects in tests/fixtures/compose-invalid the error message and exit code must be
//! the same. Needs no daemon. Fails (does not skip) when the plugin is missing, unless
//! `BERTH_NO_COMPOSE=1` opts out as for the other Compose tests.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(kind)
}

fn berth() -> &'static str {
    env!("CARGO_BIN_EXE_berth")
}

/// Runs a compose front end in `dir` with a controlled environment.
fn run(program: &str, pre: &[&str], dir: &Path, args: &[String]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(pre).args(args).current_dir(dir).env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/home/composetest")
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .env("DOCKER_CONFIG", dir.join(".no-docker-config"));
    // A fixture's `env` file: extra process environment (COMPOSE_FILE, ...).
    if let Ok(text) = std::fs::read_to_string(dir.join("env")) {
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd.output().unwrap()
}

/// True when the plugin is there; a missing plugin fails the test, unless the run opted out
/// with `BERTH_NO_COMPOSE=1` (as tests/tests/e2e/compose.rs; install-deps then skips it too).
fn docker_compose_present() -> bool {
    if std::env::var_os("BERTH_NO_COMPOSE").is_some_and(|v| !v.is_empty()) {
        eprintln!("skipped: BERTH_NO_COMPOSE is set");
        return false;
    }
    let out = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .expect("the docker CLI is not installed (scripts/install-deps installs it)");
    assert!(
        out.status.success(),
        "the docker compose plugin is missing (scripts/install-deps installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

fn variants(dir: &Path) -> Vec<Vec<String>> {
    match std::fs::read_to_string(dir.join("args")) {
        Ok(text) => text
            .lines()
            .map(|l| l.split_whitespace().map(String::from).collect())
            .collect(),
        Err(_) => vec![vec![]],
    }
}

fn dirs(kind: &str) -> Vec<PathBuf> {
    let mut d: Vec<PathBuf> = std::fs::read_dir(fixtures(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    d.sort();
    assert!(!d.is_empty(), "no fixtures in {kind}");
    d
}

#[test]
fn config_output_matches_docker_compose() {
    if !docker_compose_present() {
        return;
    }
    let mut failures = Vec::new();
    let mut compared = 0;
    for dir in dirs("compose") {
        for global in variants(&dir) {
            for format in ["json", "yaml"] {
                for extra in [
                    vec![],
                    vec!["--services"],
                    vec!["--images"],
                    vec!["--volumes"],
                    vec!["--hash", "*"],
                    vec!["--profiles"],
                    vec!["--networks"],
                    vec!["--variables"],
                ] {
                    if format == "yaml" && !extra.is_empty() {
                        continue;
                    }
                    let mut args = global.clone();
                    args.extend(["config", "--format", format].map(String::from));
                    args.extend(extra.iter().map(|s| s.to_string()));
                    let want = run("docker", &["compose"], &dir, &args);
                    let got = run(berth(), &["compose"], &dir, &args);
                    compared += 1;
                    assert!(
                        want.status.success(),
                        "docker compose failed on {}: {}",
                        dir.display(),
                        String::from_utf8_lossy(&want.stderr)
                    );
                    let mut w = String::from_utf8_lossy(&want.stdout).into_owned();
                    let mut g = String::from_utf8_lossy(&got.stdout).into_owned();
                    if !extra.is_empty() {
                        // compose walks Go maps for these lists: the order varies from run
                        // to run; compare as sets.
                        let sort = |s: &str| {
                            let mut l: Vec<&str> = s.lines().collect();
                            l.sort();
                            l.join("\n")
                        };
                        w = sort(&w);
                        g = sort(&g);
                    }
                    if w.trim_end() != g.trim_end() || !got.status.success() {
                        failures.push(format!(
                            "{} {:?}:\n--- docker compose\n{}\n--- berth compose (rc {:?}, stderr {})\n{}",
                            dir.display(),
                            args,
                            w,
                            got.status.code(),
                            String::from_utf8_lossy(&got.stderr),
                            g
                        ));
                    }
                }
            }
        }
    }
    assert!(compared > 20);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn config_variables_table_matches_docker_compose() {
    if !docker_compose_present() {
        return;
    }
    let mut rows = 0;
    for dir in dirs("compose") {
        for global in variants(&dir) {
            let mut args = global.clone();
            args.extend(["config", "--variables"].map(String::from));
            let want = run("docker", &["compose"], &dir, &args);
            let got = run(berth(), &["compose"], &dir, &args);
            assert!(
                want.status.success(),
                "{}",
                String::from_utf8_lossy(&want.stderr)
            );
            // A Go map's order: compare the rows as a set (the header stays first).
            let rows_of = |o: &Output| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                let mut l: Vec<String> = text.lines().map(String::from).collect();
                l[1..].sort();
                l
            };
            let (w, g) = (rows_of(&want), rows_of(&got));
            assert_eq!(w, g, "{} {args:?}", dir.display());
            rows += w.len() - 1;
        }
    }
    assert!(rows > 5, "the fixtures name only {rows} variables");
}

#[test]
fn config_errors_match_docker_compose() {
    if !docker_compose_present() {
        return;
    }
    let mut failures = Vec::new();
    for dir in dirs("compose-invalid") {
        let args = vec!["config".to_string(), "-q".to_string()];
        let want = run("docker", &["compose"], &dir, &args);
        let got = run(berth(), &["compose"], &dir, &args);
        assert!(
            !want.status.success(),
            "{} is valid for compose",
            dir.display()
        );
        let w = String::from_utf8_lossy(&want.stderr).trim().to_string();
        let g = String::from_utf8_lossy(&got.stderr).trim().to_string();
        if w != g || want.status.code() != got.status.code() {
            failures.push(format!(
                "{}:\n  docker compose ({:?}): {w}\n  berth compose  ({:?}): {g}",
                dir.display(),
                want.status.code(),
                got.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn config_without_any_file_fails_like_compose() {
    if !docker_compose_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = vec!["config".to_string()];
    let want = run("docker", &["compose"], dir.path(), &args);
    let got = run(berth(), &["compose"], dir.path(), &args);
    assert_eq!(got.status.code(), want.status.code());
    assert_eq!(
        String::from_utf8_lossy(&got.stderr).trim(),
        String::from_utf8_lossy(&want.stderr).trim()
    );
}

#[test]
fn config_warnings_match_docker_compose() {
    if !docker_compose_present() {
        return;
    }
    // `version:` is obsolete; legacy `external: {name:}` (the edge and kitchen fixtures).
    let strip = |o: &Output| -> Vec<String> {
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .map(|l| match l.split_once(" level=") {
                Some((_, rest)) => format!("level={rest}"),
                None => l.to_string(),
            })
            .collect()
    };
    for fixture in ["edge", "kitchen"] {
        let dir = fixtures("compose").join(fixture);
        let args = vec!["config".to_string(), "-q".to_string()];
        let want = run("docker", &["compose"], &dir, &args);
        let got = run(berth(), &["compose"], &dir, &args);
        assert!(!strip(&want).is_empty());
        assert_eq!(strip(&got), strip(&want), "{fixture}");
    }
}

#[test]
fn config_reads_a_file_from_stdin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(berth())
        .args([
            "compose",
            "-p",
            "fromstdin",
            "-f",
            "-",
            "config",
            "--format",
            "json",
        ])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"services:\n  web:\n    image: nginx\n    ports: ['8080:80']\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "fromstdin");
    assert_eq!(v["services"]["web"]["ports"][0]["published"], "8080");
    assert_eq!(v["networks"]["default"]["name"], "fromstdin_default");
}

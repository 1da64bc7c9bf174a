//! `berth compose` and the real `docker compose` (v2, with `DOCKER_BUILDKIT=0`) on the same
//! project and daemon: each sees, changes and takes down what the other started, and neither
//! recreates what the other created when nothing changed (same labels, same config hash).
//!
//! Without the plugin these tests fail and say so; `BERTH_NO_COMPOSE=1` makes them skip.

use std::collections::BTreeMap;

use super::berth_compose::Proj;

pub fn compose_wanted() -> bool {
    if std::env::var_os("BERTH_NO_COMPOSE").is_some_and(|v| !v.is_empty()) {
        eprintln!("skipped: BERTH_NO_COMPOSE is set");
        return false;
    }
    let ok = std::process::Command::new("docker")
        .args(["compose", "version", "--short"])
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the Docker Compose v2 plugin is missing (scripts/install-deps), or set BERTH_NO_COMPOSE=1"
    );
    true
}

const APP: &str = r#"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo web; exec sleep 300"]
    ports: ["80"]
    volumes: ["data:/data"]
    environment:
      MODE: "a<b"
    depends_on:
      db:
        condition: service_started
  db:
    image: busybox
    command: ["sleep", "300"]
    networks: [default, back]
    healthcheck:
      test: ["CMD", "true"]
      interval: 5s
volumes:
  data: {}
networks:
  back: {}
"#;

/// The labels compose compares, per container.
fn compose_labels(p: &Proj) -> BTreeMap<String, BTreeMap<String, String>> {
    p.ids()
        .keys()
        .map(|n| {
            let mut l = p.labels(n);
            l.retain(|k, _| k.starts_with("com.docker.compose."));
            (n.clone(), l)
        })
        .collect()
}

#[test]
fn docker_compose_project_seen_changed_and_taken_down_by_berth() {
    if !compose_wanted() {
        return;
    }
    let Some(p) = Proj::start("ioa", &[("compose.yaml", APP)]) else {
        return;
    };
    p.docker_compose(&["up", "-d"]).success();
    let by_docker = compose_labels(&p);
    let ids = p.ids();
    assert_eq!(ids.len(), 2);

    // berth sees the project.
    let rows = p.ps_json(&p.berth(&["ps", "--format", "json"]));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[&p.container("web", 1)]["Service"], "web");
    assert_eq!(rows[&p.container("db", 1)]["State"], "running");
    p.berth(&["ls"]).success().stdout_has(&p.name);
    // A no-change up by berth recreates nothing: the same config hash.
    let up = p.berth(&["up", "-d"]);
    up.success();
    assert!(!up.stderr.contains("Recreate"), "{up}");
    assert_eq!(p.ids(), ids);
    // A changed service: only that one is recreated, with the labels compose would set.
    p.write("compose.yaml", &APP.replace("echo web;", "echo web v2;"));
    p.berth(&["up", "-d"]).success();
    let after = p.ids();
    assert_ne!(after[&p.container("web", 1)], ids[&p.container("web", 1)]);
    assert_eq!(after[&p.container("db", 1)], ids[&p.container("db", 1)]);
    // docker compose agrees that nothing more is to be done.
    let check = p.docker_compose(&["up", "-d"]);
    check.success();
    assert!(!check.stderr.contains("Recreate"), "{check}");
    assert_eq!(p.ids(), after);
    // Then berth takes it all down.
    p.berth(&["down", "-v", "-t", "0"]).success();
    assert!(p.ids().is_empty());
    p.docker(&["network", "inspect", &p.scoped("default")])
        .code_is(1);
    p.docker(&["network", "inspect", &p.scoped("back")])
        .code_is(1);
    p.docker(&["volume", "inspect", &p.scoped("data")])
        .code_is(1);

    // berth's labels are compose's labels.
    p.write("compose.yaml", APP);
    p.berth(&["up", "-d"]).success();
    let by_berth = compose_labels(&p);
    assert_eq!(
        by_berth, by_docker,
        "labels differ between docker compose and berth compose"
    );
}

#[test]
fn berth_project_seen_kept_and_taken_down_by_docker_compose() {
    if !compose_wanted() {
        return;
    }
    let Some(p) = Proj::start("iob", &[("compose.yaml", APP)]) else {
        return;
    };
    p.berth(&["up", "-d"]).success();
    let ids = p.ids();
    let ps = p.docker_compose(&["ps", "--format", "json"]);
    let rows = p.ps_json(&ps);
    assert_eq!(rows.len(), 2, "{ps}");
    assert_eq!(rows[&p.container("web", 1)]["Service"], "web");
    // docker compose finds nothing to recreate.
    let up = p.docker_compose(&["up", "-d"]);
    up.success()
        .stderr_has(&format!(" Container {}  Running", p.container("web", 1)));
    assert!(!up.stderr.contains("Recreate"), "{up}");
    assert_eq!(p.ids(), ids);
    // docker compose changes one service; berth then has nothing to do either.
    p.write(
        "compose.yaml",
        &APP.replace("\"sleep\", \"300\"", "\"sleep\", \"301\""),
    );
    p.docker_compose(&["up", "-d"]).success();
    let after = p.ids();
    assert_ne!(after[&p.container("db", 1)], ids[&p.container("db", 1)]);
    assert_eq!(after[&p.container("web", 1)], ids[&p.container("web", 1)]);
    let again = p.berth(&["up", "-d"]);
    assert!(!again.success().stderr.contains("Recreate"), "{again}");
    // berth compose exec/logs on docker compose's replacement.
    assert_eq!(
        p.berth(&["exec", "-T", "db", "cat", "/proc/1/cmdline"])
            .success()
            .out()
            .replace('\0', " ")
            .trim(),
        "sleep 301"
    );
    p.docker_compose(&["down", "-v", "-t", "0"]).success();
    assert!(p.ids().is_empty());
    p.docker(&["volume", "inspect", &p.scoped("data")])
        .code_is(1);
    p.docker(&["network", "inspect", &p.scoped("back")])
        .code_is(1);
}

#[test]
fn env_files_hash_and_label_like_docker_compose() {
    if !compose_wanted() {
        return;
    }
    let yaml = r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "echo $$GREETING $$FROM_FILE; exec sleep 300"]
    environment:
      GREETING: ${GREETING}
    env_file: [app.env]
"#;
    let Some(p) = Proj::start(
        "ioenv",
        &[
            ("compose.yaml", yaml),
            (".env", "GREETING=hello\n"),
            ("app.env", "FROM_FILE=file\n"),
        ],
    ) else {
        return;
    };
    p.docker_compose(&["up", "-d"]).success();
    let by_docker = compose_labels(&p);
    let ids = p.ids();
    let up = p.berth(&["up", "-d"]);
    assert!(!up.success().stderr.contains("Recreate"), "{up}");
    assert_eq!(p.ids(), ids);
    p.berth(&["down", "-t", "0"]).success();
    p.berth(&["up", "-d"]).success();
    assert_eq!(compose_labels(&p), by_docker);
    // A changed env file changes the hash for both.
    p.write("app.env", "FROM_FILE=changed\n");
    let again = p.docker_compose(&["up", "-d"]);
    again.success().stderr_has("Recreate");
}

//! `berth compose` and the less common service keys, against a private berthd: secrets and
//! configs from `environment:`/`content:` with `uid`/`gid`/`mode`, `depends_on.restart` on
//! `restart`, the `post_start`/`pre_stop` hooks, and the keys compose maps straight to the
//! create body. Where the real `docker compose` is installed, it runs the same project on the
//! same daemon and both must agree (same config hash, nothing recreated, same inspect values).

use std::os::unix::fs::PermissionsExt;

use super::berth_compose::Proj;
use super::berth_compose_interop::compose_wanted;
use super::*;

const FILES: &str = r#"
services:
  app:
    image: busybox
    command: ["sleep", "300"]
    secrets:
      - envsec
      - source: envsec
        target: custom
        uid: "1000"
        gid: "2000"
        mode: 0400
      - source: filesec
        uid: "7"
        mode: 0440
    configs:
      - contentcfg
      - source: envcfg
        target: /etc/envcfg
        uid: "11"
        gid: "12"
        mode: 0600
      - source: filecfg
        target: relcfg
secrets:
  envsec:
    environment: MYSEC
  filesec:
    file: ./s.txt
configs:
  contentcfg:
    content: |
      hello $${X} world
  envcfg:
    environment: MYCFG
  filecfg:
    file: ./c.txt
"#;

/// `path` in the container: owner, group and octal mode, then the content.
fn stat_cat(p: &Proj, ctr: &str, path: &str) -> String {
    p.docker(&[
        "exec",
        ctr,
        "sh",
        "-c",
        &format!("stat -c '%u:%g:%a' {path}; cat {path}"),
    ])
    .success()
    .stdout
    .clone()
}

#[test]
fn secrets_and_configs_from_environment_and_content() {
    let Some(p) = Proj::start(
        "bcsec",
        &[
            ("compose.yaml", FILES),
            ("s.txt", "filesecret\n"),
            ("c.txt", "fileconfig\n"),
            (".env", "MYSEC=topsecret\nMYCFG=cfgval\n"),
        ],
    ) else {
        return;
    };
    let up = p.berth(&["up", "-d"]);
    up.success();
    // A file secret asking for uid/gid/mode: compose's warning, and a plain bind mount.
    up.stderr_has("secrets `uid`, `gid` and `mode` are not supported, they will be ignored");
    let app = p.container("app", 1);
    // Written at start, owned by root (no uid/gid: no copyUIDGID) with mode 0444.
    assert_eq!(
        stat_cat(&p, &app, "/run/secrets/envsec"),
        "0:0:444\ntopsecret"
    );
    assert_eq!(
        stat_cat(&p, &app, "/run/secrets/custom"),
        "1000:2000:400\ntopsecret"
    );
    assert_eq!(
        stat_cat(&p, &app, "/contentcfg"),
        "0:0:444\nhello ${X} world\n"
    );
    assert_eq!(stat_cat(&p, &app, "/etc/envcfg"), "11:12:600\ncfgval");
    // File-based ones stay read-only bind mounts (their uid/gid/mode ignored).
    assert_eq!(
        stat_cat(&p, &app, "/run/secrets/filesec"),
        "0:0:644\nfilesecret\n"
    );
    assert_eq!(stat_cat(&p, &app, "/relcfg"), "0:0:644\nfileconfig\n");
    let mounts = p.inspect(&app, "{{json .HostConfig.Mounts}}");
    assert!(mounts.contains("/run/secrets/filesec"), "{mounts}");
    assert!(!mounts.contains("envsec"), "{mounts}");

    // Every start writes them again, with the value of the moment.
    p.write(".env", "MYSEC=second\nMYCFG=cfgval\n");
    p.berth(&["stop", "-t", "0"]).success();
    p.berth(&["start"]).success();
    assert_eq!(
        stat_cat(&p, &app, "/run/secrets/custom"),
        "1000:2000:400\nsecond"
    );

    // A variable that is not set: compose's error; the container stays created.
    p.write(".env", "MYCFG=cfgval\n");
    p.berth(&["rm", "-s", "-f"]).success();
    let up = p.berth(&["up", "-d"]);
    up.code_is(1).stderr_has(&format!(
        "environment variable \"MYSEC\" required by secret \"{}\" is not set",
        p.scoped("envsec")
    ));
    assert_eq!(p.inspect(&app, "{{.State.Status}}"), "created");

    // Swarm's external secrets: compose's refusal at create.
    p.write(
        "compose.yaml",
        "services:\n  ext:\n    image: busybox\n    secrets: [outside]\nsecrets:\n  outside:\n    external: true\n",
    );
    p.berth(&["up", "-d", "ext"])
        .code_is(1)
        .stderr_has("unsupported external secret outside");
}

const RESTART: &str = r#"
services:
  db:
    image: busybox
    command: ["sleep", "300"]
  app:
    image: busybox
    command: ["sleep", "300"]
    depends_on:
      db:
        condition: service_started
        restart: true
  web:
    image: busybox
    command: ["sleep", "300"]
    depends_on:
      app:
        condition: service_started
        restart: true
  other:
    image: busybox
    command: ["sleep", "300"]
    depends_on: [db]
"#;

#[test]
fn restart_also_restarts_dependents_that_asked_for_it() {
    let Some(p) = Proj::start("bcrst", &[("compose.yaml", RESTART)]) else {
        return;
    };
    p.berth(&["up", "-d"]).success();
    let started = |s: &str| p.inspect(&p.container(s, 1), "{{.State.StartedAt}}");
    let before: Vec<String> = ["db", "app", "web", "other"]
        .iter()
        .map(|s| started(s))
        .collect();
    let out = p.berth(&["restart", "-t", "0", "db"]);
    out.success();
    let at = |s: &str| {
        out.stderr
            .find(&format!(" Container {}  Restarting", p.container(s, 1)))
            .unwrap_or_else(|| panic!("{s} not restarted: {out}"))
    };
    // Dependencies first: db, then app (restart: true on db), then web (on app).
    assert!(at("db") < at("app") && at("app") < at("web"), "{out}");
    assert!(
        !out.stderr.contains(&p.container("other", 1)),
        "other has no restart: true: {out}"
    );
    let after: Vec<String> = ["db", "app", "web", "other"]
        .iter()
        .map(|s| started(s))
        .collect();
    for i in 0..3 {
        assert_ne!(before[i], after[i], "{out}");
    }
    assert_eq!(before[3], after[3], "other was restarted: {out}");

    // --no-deps: only the named service.
    let out = p.berth(&["restart", "-t", "0", "--no-deps", "db"]);
    out.success();
    assert!(!out.stderr.contains(&p.container("app", 1)), "{out}");
    assert!(out.stderr.contains(&p.container("db", 1)), "{out}");
}

const HOOKS: &str = r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    user: "1000"
    volumes:
      - ./out:/out
    post_start:
      - command: ["sh", "-c", "id -u > /out/ps_user; pwd > /out/ps_pwd; echo $$HV > /out/ps_env; echo start >> /out/log"]
        user: root
        working_dir: /tmp
        environment:
          HV: hv1
    pre_stop:
      - command: sh -c 'echo stop-$$(id -u) >> /out/stops'
  talk:
    image: busybox
    command: ["sh", "-c", "echo main; sleep 2"]
    profiles: [talk]
    post_start:
      - command: ["sh", "-c", "echo hello-from-hook; echo err-from-hook >&2"]
  bad:
    image: busybox
    command: ["sleep", "300"]
    profiles: [bad]
    post_start:
      - command: ["sh", "-c", "exit 3"]
"#;

#[test]
fn post_start_and_pre_stop_hooks_run_as_execs() {
    let Some(p) = Proj::start("bchook", &[("compose.yaml", HOOKS)]) else {
        return;
    };
    let out = p.dir.join("out");
    std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777))
        .unwrap_or_else(|e| panic!("{e}"));
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap_or_default();
    p.berth(&["up", "-d"]).success();
    // The hook's user, working_dir and environment (the service runs as 1000).
    assert_eq!(read("ps_user"), "0\n");
    assert_eq!(read("ps_pwd"), "/tmp\n");
    assert_eq!(read("ps_env"), "hv1\n");
    assert_eq!(read("log"), "start\n");
    // pre_stop before stop, as the container's user; post_start again on start and restart.
    p.berth(&["stop"]).success();
    assert_eq!(read("stops"), "stop-1000\n");
    p.berth(&["start"]).success();
    p.berth(&["restart"]).success();
    assert_eq!(read("log"), "start\nstart\nstart\n");
    assert_eq!(read("stops"), "stop-1000\nstop-1000\n");
    // down runs pre_stop too.
    p.berth(&["down"]).success();
    assert_eq!(read("stops"), "stop-1000\nstop-1000\nstop-1000\n");
    // Attached `up`: the hook's output, prefixed as compose prefixes it.
    p.berth(&["--profile", "talk", "up", "talk"])
        .success()
        .stdout_has("talk-1 ->  | hello-from-hook\n")
        .stdout_has("talk-1 ->  | err-from-hook\n");
    // A failing hook fails the command; the container keeps running.
    let bad = p.berth(&["--profile", "bad", "up", "-d", "bad"]);
    bad.code_is(1).stderr_has("bad hook exited with status 3");
    assert_eq!(
        p.inspect(&p.container("bad", 1), "{{.State.Status}}"),
        "running"
    );
}

const RARE: &str = r#"
services:
  app:
    image: busybox
    command: ["sleep", "300"]
    userns_mode: host
    cgroup: private
    blkio_config:
      weight: 300
      weight_device:
        - path: /dev/null
          weight: 400
      device_read_bps:
        - path: /dev/null
          rate: 12mb
      device_write_iops:
        - path: /dev/null
          rate: 30
    mem_swappiness: 60
    oom_kill_disable: true
    cpu_count: 2
    cpu_percent: 50
    cpu_rt_runtime: 400
    cpu_rt_period: 1400
    annotations:
      com.example.a: "1"
    device_cgroup_rules:
      - "c 1:3 mr"
    external_links:
      - EXTERNAL:alias1
    networks:
      default:
        link_local_ips: ["169.254.8.8"]
"#;

/// The HostConfig fields the rare keys set, and the endpoint, of a container.
fn rare_fields(p: &Proj, ctr: &str) -> Vec<(String, String)> {
    let raw = p.inspect(ctr, "{{json .}}");
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}"));
    let h = &v["HostConfig"];
    let mut out: Vec<(String, String)> = [
        "UsernsMode",
        "CgroupnsMode",
        "DeviceCgroupRules",
        "MemorySwappiness",
        "OomKillDisable",
        "CpuCount",
        "CpuRealtimePeriod",
        "CpuRealtimeRuntime",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteIOps",
        "BlkioWeight",
        "BlkioWeightDevice",
        "CpuPercent",
        "OomKillDisable",
        "Annotations",
    ]
    .iter()
    .map(|k| (k.to_string(), h[*k].to_string()))
    .collect();
    let net = &v["NetworkSettings"]["Networks"][p.scoped("default")];
    out.push(("IPAMConfig".into(), net["IPAMConfig"].to_string()));
    out.push(("Links".into(), net["Links"].to_string()));
    out
}

#[test]
fn rare_service_keys_reach_the_container() {
    let Some(p) = Proj::start("bcrare", &[]) else {
        return;
    };
    let other = unique_name("bcext");
    p.write("compose.yaml", &RARE.replace("EXTERNAL", &other));
    p.docker(&["run", "-d", "--name", &other, "busybox", "sleep", "300"])
        .success();
    // Created only: the blkio throttles and real-time budget are not for this host's cgroups.
    p.berth(&["create"]).success();
    let app = p.container("app", 1);
    let got: std::collections::BTreeMap<String, String> =
        rare_fields(&p, &app).into_iter().collect();
    assert_eq!(got["UsernsMode"], "\"host\"");
    assert_eq!(got["CgroupnsMode"], "\"private\"");
    assert_eq!(got["DeviceCgroupRules"], "[\"c 1:3 mr\"]");
    assert_eq!(got["MemorySwappiness"], "60");
    assert_eq!(got["CpuCount"], "2");
    assert_eq!(got["CpuRealtimePeriod"], "1400");
    assert_eq!(got["CpuRealtimeRuntime"], "400");
    assert_eq!(
        got["BlkioDeviceReadBps"],
        r#"[{"Path":"/dev/null","Rate":12582912}]"#
    );
    assert_eq!(
        got["BlkioDeviceWriteIOps"],
        r#"[{"Path":"/dev/null","Rate":30}]"#
    );
    assert_eq!(got["Annotations"], r#"{"com.example.a":"1"}"#);
    assert_eq!(got["IPAMConfig"], r#"{"LinkLocalIPs":["169.254.8.8"]}"#);
    assert_eq!(got["Links"], format!("[\"{other}:alias1\"]"));

    // interface_name needs API 1.49 (Docker Engine 28.1): compose's refusal.
    p.write(
        "compose.yaml",
        "services:\n  nic:\n    image: busybox\n    networks:\n      default:\n        interface_name: eth7\n",
    );
    p.berth(&["create", "nic"])
        .code_is(1)
        .stderr_has("interface_name requires Docker Engine v28.1 or later");

    // build.secrets: the classic builder's refusal, as compose with DOCKER_BUILDKIT=0.
    p.write("Dockerfile", "FROM busybox\nRUN true\n");
    p.write("s.txt", "x\n");
    p.write(
        "compose.yaml",
        "services:\n  b:\n    build:\n      context: .\n      secrets: [bs]\nsecrets:\n  bs:\n    file: ./s.txt\n",
    );
    p.berth(&["build", "b"]).code_is(1).stderr_has(
        "the classic builder doesn't support secrets, set DOCKER_BUILDKIT=1 to use BuildKit",
    );
    p.docker(&["rm", "-f", &other]).success();
}

#[test]
fn attach_false_services_are_not_attached() {
    let Some(p) = Proj::start(
        "bcatt",
        &[(
            "compose.yaml",
            r#"
services:
  loud:
    image: busybox
    command: ["echo", "from-loud"]
  quiet:
    image: busybox
    attach: false
    command: ["echo", "from-quiet"]
"#,
        )],
    ) else {
        return;
    };
    let out = p.berth(&["up"]);
    out.success().stdout_has("Attaching to loud-1\n");
    assert!(!out.stdout.contains("from-quiet"), "{out}");
    out.stdout_has("from-loud");
    // Named with --attach, it is attached.
    let out = p.berth(&["up", "--attach", "quiet"]);
    out.success().stdout_has("from-quiet");
}

/// The same project through `docker compose` then `berth compose` on one daemon: the config
/// hash is compose's (nothing recreated) and the containers agree.
#[test]
fn docker_compose_and_berth_agree_on_files_hooks_and_rare_keys() {
    if !compose_wanted() {
        return;
    }
    let Some(p) = Proj::start("bcagree", &[]) else {
        return;
    };
    let other = unique_name("bcext");
    let rare = RARE.replace("EXTERNAL", &other);
    let project = format!(
        "{}\n  files:\n    image: busybox\n    command: [\"sleep\", \"300\"]\n    secrets:\n      - source: envsec\n        uid: \"5\"\n        mode: 0400\n    configs: [contentcfg]\n    post_start:\n      - command: [\"true\"]\n    pre_stop:\n      - command: [\"true\"]\nsecrets:\n  envsec:\n    environment: MYSEC\nconfigs:\n  contentcfg:\n    content: hi\n",
        rare.trim_end()
    );
    p.write("compose.yaml", &project);
    p.write(".env", "MYSEC=s3\n");
    p.docker(&["run", "-d", "--name", &other, "busybox", "sleep", "300"])
        .success();
    p.docker_compose(&["create"]).success();
    let files = p.container("files", 1);
    // (`docker compose -p x start` without `-f` acts on the name only: no secrets; `up` loads
    // the file.)
    p.docker_compose(&["up", "-d", "files"]).success();
    let theirs = rare_fields(&p, &p.container("app", 1));
    let their_file = stat_cat(&p, &files, "/run/secrets/envsec");
    let ids = p.ids();
    let out = p.berth(&["create"]);
    out.success();
    assert!(!out.stderr.contains("Recreate"), "{out}");
    assert_eq!(p.ids(), ids, "berth recreated what docker compose made");
    p.berth(&["up", "-d", "files"]).success();
    assert_eq!(p.ids(), ids);
    // Now berth creates them; the same fields and file as docker compose gave.
    p.berth(&["rm", "-s", "-f"]).success();
    p.berth(&["create"]).success();
    p.berth(&["start", "files"]).success();
    assert_eq!(rare_fields(&p, &p.container("app", 1)), theirs);
    assert_eq!(stat_cat(&p, &files, "/run/secrets/envsec"), their_file);
    assert_eq!(their_file, "5:0:400\ns3");
    let ids = p.ids();
    p.docker_compose(&["create"]).success();
    assert_eq!(p.ids(), ids, "docker compose recreated what berth made");
    p.docker(&["rm", "-f", &other]).success();
}

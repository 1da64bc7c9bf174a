//! Observability and housekeeping through a real berthd: stats (table, one-shot, stream),
//! pause/unpause, log rotation and drivers, container prune, ps filters and sizes.

use std::time::Duration;

use berth_tests::{unique_name, wait_until, Client, TestDaemon};

/// A container that holds ~20 MB, keeps a CPU busy and has a second process.
const HOG: &str =
    "x=$(head -c 20000000 /dev/zero | tr '\\0' a); sleep 1000 & while true; do :; done";

/// A counter printing a line every 100 ms.
const COUNTER: &str = "i=0; while true; do i=$((i+1)); echo n$i; sleep 0.1; done";

fn stats_json(d: &TestDaemon, name: &str, query: &str) -> serde_json::Value {
    let r = d.api(
        "GET",
        &format!("/containers/{name}/stats?{query}"),
        None,
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
        .unwrap_or_else(|| panic!("stats is one JSON frame: {}", r.text()))
}

fn log_lines(d: &TestDaemon, c: Client, name: &str) -> usize {
    d.run(c, &["logs", name]).success().lines().len()
}

both_clients! {
    fn stats_report_cpu_memory_and_pids(d, c) {
        let name = unique_name("hog");
        d.run(c, &["run", "-d", "--name", &name, "busybox", "sh", "-c", HOG]).success();
        // The hog has filled its memory once the table reports it.
        let mut row = String::new();
        let ok = wait_until(Duration::from_secs(20), || {
            let out = d.run(c, &["stats", "--no-stream", "--format",
                "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}|{{.NetIO}}", &name]);
            out.success();
            row = out.out().to_string();
            row.contains("MiB /") && !row.contains("|1|")
        });
        assert!(ok, "stats never showed the hog's memory and pids: {row}");
        let cols: Vec<&str> = row.split('|').collect();
        assert_eq!(cols[0], name);
        let mem: f64 = cols[1].split("MiB").next().unwrap_or("0").parse().unwrap_or(0.0);
        assert!(mem >= 15.0, "memory usage {}", cols[1]);
        assert!(cols[2].parse::<u32>().unwrap_or(0) >= 2, "pids {}", cols[2]);
        let cpu: f64 = cols[3].trim_end_matches('%').parse().unwrap_or(0.0);
        assert!(cpu > 10.0, "a busy loop shows CPU: {}", cols[3]);
        // eth0 on the bridge counts (IPv6 link-local chatter at least); lo does not.
        let (rx, tx) = cols[4].split_once(" / ").unwrap_or_default();
        assert!(rx.ends_with('B') && tx.ends_with('B'), "net I/O {}", cols[4]);

        // The default table, with docker's header.
        let table = d.run(c, &["stats", "--no-stream", &name]);
        table.success().stdout_has("CONTAINER ID   NAME").stdout_has("MEM USAGE / LIMIT")
            .stdout_has("BLOCK I/O").stdout_has("PIDS");

        // dockerd's JSON: stream=false has both samples, one-shot only the first.
        let s = stats_json(d, &name, "stream=false");
        assert!(s["memory_stats"]["usage"].as_u64().unwrap_or(0) > 15_000_000, "{s}");
        assert!(s["memory_stats"]["limit"].as_u64().unwrap_or(0) > 0, "{s}");
        assert!(s["memory_stats"]["stats"].is_object(), "{s}");
        assert!(s["pids_stats"]["current"].as_u64().unwrap_or(0) >= 2, "{s}");
        assert!(s["precpu_stats"]["system_cpu_usage"].as_u64().is_some(), "{s}");
        assert!(s["cpu_stats"]["online_cpus"].as_u64().unwrap_or(0) >= 1, "{s}");
        assert_eq!(s["name"], format!("/{name}"));
        assert!(s["blkio_stats"].is_object() && s["cpu_stats"]["throttling_data"].is_object());
        let first = stats_json(d, &name, "stream=false&one-shot=true");
        assert!(first["precpu_stats"]["system_cpu_usage"].is_null(), "{first}");
        assert_eq!(first["preread"], "0001-01-01T00:00:00Z");
        std::thread::sleep(Duration::from_millis(500));
        let later = stats_json(d, &name, "stream=false&one-shot=true");
        let usage = |v: &serde_json::Value| v["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap_or(0);
        assert!(usage(&later) > usage(&first), "cpu usage grows: {} then {}", usage(&first), usage(&later));
        let r = d.api("GET", &format!("/containers/{name}/stats?one-shot=1"), None, b"");
        assert_eq!(r.status, 400, "{}", r.text());

        // Streamed: a live table that keeps redrawing.
        let mut live = d.spawn(c, &["stats", &name]);
        let drew = wait_until(Duration::from_secs(10), || live.stdout().matches("MEM USAGE").count() >= 3);
        live.kill();
        assert!(drew, "live stats redraw: {}", live.stdout());

        // A stopped container: a frame with only its name and id.
        d.run(c, &["rm", "-f", &name]).success();
        let stopped = unique_name("idle");
        d.run(c, &["create", "--name", &stopped, "busybox", "true"]).success();
        let s = stats_json(d, &stopped, "stream=false");
        assert_eq!(s["read"], "0001-01-01T00:00:00Z");
        assert!(s["memory_stats"]["usage"].is_null(), "{s}");
        d.run(c, &["stats", "--no-stream", "nosuch-container"]).code_is(1)
            .stderr_has("No such container: nosuch-container");
    }

    fn pause_freezes_and_unpause_resumes(d, c) {
        let name = unique_name("counter");
        d.run(c, &["run", "-d", "--name", &name, "busybox", "sh", "-c", COUNTER]).success();
        assert!(wait_until(Duration::from_secs(10), || log_lines(d, c, &name) >= 3));
        d.run(c, &["pause", &name]).success().stdout_has(&name);
        assert_eq!(d.inspect(c, &name, "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"), "paused true true");
        let ps = d.run(c, &["ps", "--filter", &format!("name={name}"), "--format", "{{.Status}}"]);
        assert!(ps.success().out().ends_with("(Paused)"), "{ps}");
        let paused = d.run(c, &["ps", "-q", "--filter", "status=paused", "--filter", &format!("name={name}")]);
        assert_eq!(paused.success().lines().len(), 1, "{paused}");
        let frozen = log_lines(d, c, &name);
        std::thread::sleep(Duration::from_millis(800));
        assert_eq!(log_lines(d, c, &name), frozen, "a paused counter does not advance");
        let id = d.inspect(c, &name, "{{.Id}}");
        d.run(c, &["pause", &name]).code_is(1)
            .stderr_has(&format!("Container {id} is already paused"));
        d.run(c, &["exec", &name, "true"]).code_is(1).stderr_has("is paused, unpause the container before exec");

        d.run(c, &["unpause", &name]).success();
        assert_eq!(d.inspect(c, &name, "{{.State.Status}} {{.State.Paused}}"), "running false");
        assert!(wait_until(Duration::from_secs(5), || log_lines(d, c, &name) > frozen + 2),
            "unpause resumes the counter");
        d.run(c, &["unpause", &name]).code_is(1).stderr_has(&format!("Container {id} is not paused"));

        // Stop unfreezes to deliver its signal.
        d.run(c, &["pause", &name]).success();
        d.run(c, &["stop", "-t", "1", &name]).success();
        assert_eq!(d.inspect(c, &name, "{{.State.Status}} {{.State.Paused}}"), "exited false");
        d.run(c, &["pause", &name]).code_is(1).stderr_has(&format!("Container {id} is not running"));
        let events = d.run(c, &["events", "--since", "1m", "--until", &(crate::unix_now() + 1).to_string(), "--filter",
            &format!("container={name}"), "--format", "{{.Action}}"]);
        let actions = events.success().lines().join(" ");
        assert!(actions.contains("pause unpause pause"), "{actions}");

        // Kill of a paused container works too.
        let other = unique_name("frozen");
        d.run(c, &["run", "-d", "--name", &other, "busybox", "sleep", "1000"]).success();
        d.run(c, &["pause", &other]).success();
        d.run(c, &["kill", &other]).success();
        assert!(wait_until(Duration::from_secs(10), || d.inspect(c, &other, "{{.State.Status}}") == "exited"));
        assert_eq!(d.inspect(c, &other, "{{.State.ExitCode}}"), "137");
    }

    fn json_file_rotation_keeps_files_bounded_and_readable(d, c) {
        for compress in ["false", "true"] {
            let name = unique_name("chatty");
            d.run(c, &["run", "-d", "--name", &name, "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
                "--log-opt", &format!("compress={compress}"),
                "busybox", "sh", "-c", "i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo line-$i; done"]).success();
            d.run(c, &["wait", &name]).success();
            let id = d.inspect(c, &name, "{{.Id}}");
            let dir = d.data_root.join("containers").join(&id);
            let files: Vec<String> = std::fs::read_dir(&dir).expect("container dir")
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(&format!("{id}-json.log")))
                .collect();
            assert_eq!(files.len(), 3, "max-file=3 keeps three files: {files:?}");
            if compress == "true" {
                assert!(files.iter().any(|f| f.ends_with(".1.gz")), "{files:?}");
            }
            let out = d.run(c, &["logs", &name]);
            let lines = out.success().lines();
            assert_eq!(lines.last().copied(), Some("line-400"));
            // More than one 1k file holds (~15 entries): the rotated files were read, in order.
            assert!(lines.len() > 15, "{} lines", lines.len());
            let first: usize = lines[0].trim_start_matches("line-").parse().expect("number");
            let expected: Vec<String> = (first..=400).map(|i| format!("line-{i}")).collect();
            assert_eq!(lines, expected.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(d.run(c, &["logs", "--tail", "2", &name]).success().lines(), ["line-399", "line-400"]);
            let cfg = d.inspect(c, &name, "{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}}");
            assert_eq!(cfg, "json-file 1k");
        }
    }

    fn none_and_local_log_drivers(d, c) {
        let quiet = unique_name("nolog");
        d.run(c, &["run", "--name", &quiet, "--log-driver", "none", "busybox", "echo", "hi"])
            .success().stdout_has("hi");
        d.run(c, &["logs", &quiet]).code_is(1)
            .stderr_has("configured logging driver does not support reading");
        assert_eq!(d.inspect(c, &quiet, "{{.HostConfig.LogConfig.Type}}|{{.LogPath}}"), "none|");

        let local = unique_name("local");
        d.run(c, &["run", "--name", &local, "--log-driver", "local", "busybox", "echo", "kept"]).success();
        assert_eq!(d.run(c, &["logs", &local]).success().out(), "kept");
        assert_eq!(d.inspect(c, &local, "{{.HostConfig.LogConfig.Type}}"), "local");

        d.run(c, &["run", "--log-driver", "nosuch", "busybox"]).code_is(125)
            .stderr_has("logger: no log driver named 'nosuch' is registered");
        d.run(c, &["run", "--log-opt", "colour=blue", "busybox"]).code_is(125)
            .stderr_has("unknown log opt 'colour' for json-file log driver");
    }

    fn container_prune_removes_stopped_ones(d, c) {
        let keep_running = unique_name("up");
        let doomed = unique_name("doomed");
        let labelled = unique_name("labelled");
        d.run(c, &["run", "-d", "--name", &keep_running, "busybox", "sleep", "1000"]).success();
        d.run(c, &["run", "--name", &doomed, "busybox", "true"]).success();
        d.run(c, &["create", "--name", &labelled, "--label", "tier=web", "busybox"]).success();
        let labelled_id = d.inspect(c, &labelled, "{{.Id}}");

        let out = d.run(c, &["container", "prune", "-f", "--filter", "label=tier=web"]);
        out.success().stdout_has("Deleted Containers:").stdout_has(&labelled_id)
            .stdout_has("Total reclaimed space:");
        d.run(c, &["inspect", &labelled]).code_is(1);
        d.inspect(c, &doomed, "{{.Id}}");

        let out = d.run(c, &["container", "prune", "--force", "--filter", "until=1h"]);
        assert!(!out.success().stdout.contains("Deleted Containers"), "nothing is an hour old: {out}");
        d.run(c, &["container", "prune", "-f"]).success();
        d.run(c, &["inspect", &doomed]).code_is(1);
        assert_eq!(d.inspect(c, &keep_running, "{{.State.Status}}"), "running");
        d.run(c, &["container", "prune", "-f", "--filter", "colour=red"]).code_is(1)
            .stderr_has("invalid filter 'colour'");
    }

    fn ps_filters_and_sizes(d, c) {
        let web = unique_name("web");
        let isolated = unique_name("isolated");
        let done = unique_name("done");
        d.run(c, &["run", "-d", "--name", &web, "--expose", "8080", "busybox", "sh", "-c",
            "head -c 100000 /dev/zero > /blob; sleep 1000"]).success();
        d.run(c, &["run", "-d", "--name", &isolated, "--network", "none", "busybox", "sleep", "1000"]).success();
        d.run(c, &["run", "--name", &done, "busybox", "true"]).success();
        let names = |filters: &[&str]| -> Vec<String> {
            let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
            for f in filters {
                args.extend_from_slice(&["--filter", f]);
            }
            let mut v: Vec<String> = d.run(c, &args).success().lines().iter()
                .filter(|n| n.contains(std::process::id().to_string().as_str()))
                .map(|s| s.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(names(&["network=none"]), [isolated.as_str()]);
        assert_eq!(names(&["expose=8080"]), [web.as_str()]);
        assert_eq!(names(&["expose=8000-8090/tcp"]), [web.as_str()]);
        assert!(names(&["expose=8080/udp"]).is_empty());
        assert!(names(&["publish=8080"]).is_empty(), "nothing is published");
        assert!(names(&["volume=/data"]).is_empty(), "nothing is mounted");
        assert!(names(&["is-task=true"]).is_empty());
        assert_eq!(names(&["is-task=false"]).len(), 3);
        assert_eq!(names(&["status=exited"]), [done.as_str()]);
        assert_eq!(names(&[&format!("since={web}")]).len(), 2);
        assert_eq!(names(&[&format!("before={isolated}")]), [web.as_str()]);
        d.run(c, &["ps", "--filter", "is-task=maybe"]).code_is(1).stderr_has("Invalid filter 'is-task=[maybe]'");
        d.run(c, &["ps", "--filter", "expose=http"]).code_is(1).stderr_has("invalid filter 'expose=http'");
        let ports = d.run(c, &["ps", "--filter", &format!("name={web}"), "--format", "{{.Ports}}"]);
        assert_eq!(ports.success().out(), "8080/tcp");

        let size_rw = || -> i64 {
            d.run(c, &["inspect", "--size", "-f", "{{.SizeRw}} {{.SizeRootFs}}", &web])
                .success().out().split(' ').next().unwrap_or("0").parse().unwrap_or(0)
        };
        assert!(wait_until(Duration::from_secs(10), || size_rw() >= 100_000), "SizeRw {}", size_rw());
        assert!(size_rw() < 200_000, "SizeRw {}", size_rw());
        let size = d.run(c, &["ps", "-s", "--filter", &format!("name={web}"), "--format", "{{.Size}}"]);
        let size = size.success().out().to_string();
        assert!(size.starts_with("100kB (virtual ") || size.starts_with("101kB (virtual "), "{size}");
        let table = d.run(c, &["ps", "-s", "--filter", &format!("name={web}")]);
        table.success().stdout_has("SIZE");
    }
}

/// daemon.json `log-driver`/`log-opts` are what a container without its own gets.
#[test]
fn daemon_json_log_defaults_apply() {
    let Some(d) = TestDaemon::start_with_setup(&["--config-file", "{dir}/daemon.json"], |dir| {
        std::fs::write(
            dir.join("daemon.json"),
            r#"{"log-driver":"json-file","log-opts":{"max-size":"1k","max-file":"2"}}"#,
        )
        .expect("daemon.json");
    }) else {
        return;
    };
    let c = Client::Docker;
    let name = unique_name("defaults");
    d.run(
        c,
        &[
            "run",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo line-$i; done",
        ],
    )
    .success();
    assert_eq!(
        d.inspect(c, &name, "{{json .HostConfig.LogConfig}}"),
        r#"{"Type":"json-file","Config":{"max-file":"2","max-size":"1k"}}"#
    );
    let id = d.inspect(c, &name, "{{.Id}}");
    let dir = d.data_root.join("containers").join(&id);
    let logs = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains("-json.log"))
        .count();
    assert_eq!(logs, 2, "daemon.json's max-file=2");
    let own = unique_name("own");
    d.run(
        c,
        &[
            "run",
            "--name",
            &own,
            "--log-opt",
            "max-size=5k",
            "busybox",
            "true",
        ],
    )
    .success();
    assert_eq!(
        d.inspect(c, &own, "{{json .HostConfig.LogConfig.Config}}"),
        r#"{"max-file":"2","max-size":"5k"}"#
    );
}

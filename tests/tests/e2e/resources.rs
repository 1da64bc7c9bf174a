//! Resource limits through a private berthd, with the docker CLI and berth: what the container's
//! cgroup files say from inside, OOM kills, the pids limit against a fork loop, `update` on a
//! running container, `inspect`'s HostConfig, and dockerd's messages for impossible limits.

use std::path::Path;

use berth_tests::host::{cgroup_v2, unix_now};
use berth_tests::{unique_name, Client, TestDaemon};

const MB: u64 = 1024 * 1024;

/// A shell line printing a cgroup file of the container's own cgroup, v1 or v2 path.
fn cat_cgroup(v1: &str, v2: &str) -> String {
    format!(
        "cat /sys/fs/cgroup/{} 2>/dev/null || cat /sys/fs/cgroup/{}",
        v1, v2
    )
}

/// `run --rm <flags> busybox sh -c <script>`; its stdout lines.
#[track_caller]
fn run_script(d: &TestDaemon, c: Client, flags: &[&str], script: &str) -> Vec<String> {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    let out = d.run(c, &args);
    out.success();
    out.lines().into_iter().map(str::to_string).collect()
}

/// The number of CPUs the daemon sees (Go's `runtime.NumCPU` in dockerd's message).
fn host_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A block device of this host and its `major:minor`.
fn some_block_device() -> Option<(String, String)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    ["/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/loop0"]
        .into_iter()
        .find_map(|p| {
            let m = std::fs::metadata(p).ok()?;
            m.file_type().is_block_device().then(|| {
                let rdev = m.rdev();
                // glibc's gnu_dev_major / gnu_dev_minor.
                let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
                let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
                (p.to_string(), format!("{major}:{minor}"))
            })
        })
}

both_clients! {
    fn oom_kill_is_reported(d, c) {
        let name = unique_name("oom");
        let since = (unix_now() - 1).to_string();
        // No swap beyond the limit, so the allocation cannot escape into swap.
        let out = d.run(c, &["run", "--name", &name, "-m", "8m", "--memory-swap", "8m", "busybox", "sh", "-c", "tail /dev/zero"]);
        out.code_is(137);
        assert_eq!(d.inspect(c, &name, "{{.State.OOMKilled}} {{.State.ExitCode}} {{.State.Status}}"), "true 137 exited");
        let until = (unix_now() + 1).to_string();
        let events = d.run(c, &["events", "--since", &since, "--until", &until, "--filter", &format!("container={name}"), "--format", "{{.Action}}"]);
        let actions: Vec<&str> = events.success().lines();
        assert!(actions.contains(&"oom"), "no oom event: {events}");
        assert!(actions.iter().position(|a| *a == "oom") < actions.iter().position(|a| *a == "die"), "oom comes before die: {events}");
        // Under the limit the same container config runs normally.
        d.run(c, &["run", "--rm", "-m", "8m", "busybox", "true"]).success();
        d.run(c, &["rm", &name]).success();
    }

    fn pids_limit_stops_a_fork_loop(d, c) {
        // The inner shell forks sleeps until the limit stops it (busybox sh gives up at the
        // first failed fork); the outer one then reads the counters with builtins only, since
        // it cannot fork either, and kills everything.
        let script = "sh -c 'while :; do sleep 5 & done'; echo bomb $?; \
            read n < /sys/fs/cgroup/pids/pids.current || read n < /sys/fs/cgroup/pids.current; echo $n; \
            read m < /sys/fs/cgroup/pids/pids.max || read m < /sys/fs/cgroup/pids.max; echo $m; kill -9 -1";
        let out = d.run(c, &["run", "--rm", "--pids-limit", "20", "busybox", "sh", "-c", script]);
        out.success().stderr_has("can't fork");
        let lines = out.lines();
        assert_eq!(lines[0], "bomb 2", "{out}");
        let current: u32 = lines[1].parse().unwrap_or(u32::MAX);
        assert!((10..=20).contains(&current), "pids.current {current}: {out}");
        assert_eq!(lines[2], "20", "{out}");
        // The host is unharmed: the daemon still starts containers.
        d.run(c, &["run", "--rm", "busybox", "true"]).success();
        let name = unique_name("pids");
        d.run(c, &["create", "--name", &name, "--pids-limit", "20", "busybox"]).success();
        assert_eq!(d.inspect(c, &name, "{{.HostConfig.PidsLimit}}"), "20");
        d.run(c, &["rm", &name]).success();
    }

    fn cpu_and_memory_limits_reach_the_cgroup(d, c) {
        let cpus = if cgroup_v2() { "cpu.max".to_string() } else { "cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us".to_string() };
        let shares = cat_cgroup("cpu/cpu.shares", "cpu.weight");
        let cpuset = cat_cgroup("cpuset/cpuset.cpus", "cpuset.cpus");
        let memsw = cat_cgroup("memory/memory.memsw.limit_in_bytes", "memory.swap.max");
        let soft = cat_cgroup("memory/memory.soft_limit_in_bytes", "memory.low");
        let script = format!("cat /sys/fs/cgroup/{cpus}; {shares}; {cpuset}; {memsw}; {soft}");
        let name = unique_name("cpu");
        let flags = ["--name", name.as_str(), "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", "-m", "64m", "--memory-reservation", "32m"];
        let lines = run_script(d, c, &flags, &script);
        if cgroup_v2() {
            assert_eq!(lines[0], "50000 100000");
            assert_eq!(lines[3], (64 * MB).to_string(), "swap beside memory: twice the limit in all");
        } else {
            assert_eq!(&lines[..2], ["50000", "100000"]);
            let rest = &lines[2..];
            assert_eq!(rest[0], "512");
            assert_eq!(rest[1], "0");
            assert_eq!(rest[2], (128 * MB).to_string(), "memory+swap defaults to twice the limit");
            assert_eq!(rest[3], (32 * MB).to_string());
        }
        let quota = run_script(d, c, &["--cpu-period", "50000", "--cpu-quota", "25000"], &format!("cat /sys/fs/cgroup/{cpus}"));
        assert_eq!(quota.join(" "), "25000 50000");
        let _ = name;
    }

    fn inspect_shows_the_host_config(d, c) {
        let name = unique_name("hc");
        d.run(c, &["create", "--name", &name, "--cpus", "1.5", "-c", "256", "--cpuset-cpus", "0", "--cpuset-mems", "0", "-m", "32m", "--memory-reservation", "16m", "--oom-kill-disable", "--oom-score-adj", "300", "--ulimit", "nofile=100:200", "--sysctl", "net.ipv4.ip_forward=1", "--shm-size", "8m", "--pids-limit", "50", "busybox"]).success();
        let f = "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}} {{.HostConfig.CpusetMems}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} {{.HostConfig.OomKillDisable}} {{.HostConfig.OomScoreAdj}} {{.HostConfig.ShmSize}} {{.HostConfig.PidsLimit}}";
        let want = format!("1500000000 256 0 0 {} {} {} {} 300 {} 50", 32 * MB, 64 * MB, 16 * MB, !cgroup_v2(), 8 * MB);
        assert_eq!(d.inspect(c, &name, f), want);
        assert_eq!(d.inspect(c, &name, "{{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}:{{.Hard}}{{end}}"), "nofile=100:200");
        assert_eq!(d.inspect(c, &name, "{{json .HostConfig.Sysctls}}"), r#"{"net.ipv4.ip_forward":"1"}"#);
        d.run(c, &["rm", &name]).success();
    }

    fn ulimits_sysctls_devices_and_shm(d, c) {
        let script = "ulimit -n; ulimit -Hn; cat /proc/sys/net/ipv4/ip_forward; stat -c %t:%T /dev/mynull; df -k /dev/shm | tail -1 | awk '{print $2}'; cat /proc/self/oom_score_adj";
        let lines = run_script(d, c, &["--ulimit", "nofile=100:200", "--sysctl", "net.ipv4.ip_forward=1", "--device", "/dev/null:/dev/mynull:rw", "--shm-size", "8m", "--oom-score-adj", "500"], script);
        assert_eq!(lines, ["100", "200", "1", "1:3", "8192", "500"]);
        // The device cgroup grants only the permissions asked for (loop0 is no default device).
        if Path::new("/dev/loop0").exists() {
            d.run(c, &["run", "--rm", "--device", "/dev/loop0:/dev/myloop:r", "busybox", "sh", "-c", "echo x > /dev/myloop"]).code_is(1).stderr_has("can't create /dev/myloop: Operation not permitted");
            d.run(c, &["run", "--rm", "--device", "/dev/loop0:/dev/myloop:r", "busybox", "head", "-c", "0", "/dev/myloop"]).success();
        }
        if !cgroup_v2() {
            let oom = run_script(d, c, &["--oom-kill-disable", "-m", "16m"], "grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control");
            assert_eq!(oom, ["oom_kill_disable 1"]);
        }
        if let Some((dev, numbers)) = some_block_device() {
            let bps = format!("{dev}:1mb");
            let iops = format!("{dev}:100");
            let files = if cgroup_v2() { "io.max".to_string() } else { "blkio/blkio.throttle.read_bps_device /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device".to_string() };
            let lines = run_script(d, c, &["--device-read-bps", &bps, "--device-write-iops", &iops], &format!("cat /sys/fs/cgroup/{files}"));
            if cgroup_v2() {
                assert!(lines.iter().any(|l| l.starts_with(&numbers) && l.contains("rbps=1048576") && l.contains("wiops=100")), "{lines:?}");
            } else {
                assert_eq!(lines, [format!("{numbers} 1048576"), format!("{numbers} 100")]);
            }
        }
    }

    fn update_changes_limits_live(d, c) {
        let name = unique_name("upd");
        d.run_detached_running(c, &["--name", &name, "-m", "64m", "busybox", "sleep", "300"]);
        let read = |d: &TestDaemon, file_v1: &str, file_v2: &str| d.run(c, &["exec", &name, "sh", "-c", &cat_cgroup(file_v1, file_v2)]).success().out().to_string();
        assert_eq!(read(d, "pids/pids.max", "pids.max"), "max");
        d.run(c, &["update", "-m", "128m", "--memory-swap", "256m", "--cpus", "1", "--cpu-shares", "256", "--pids-limit", "30", "--memory-reservation", "64m", &name]).success().stdout_has(&name);
        assert_eq!(read(d, "memory/memory.limit_in_bytes", "memory.max"), (128 * MB).to_string());
        assert_eq!(read(d, "pids/pids.max", "pids.max"), "30");
        if cgroup_v2() {
            assert_eq!(read(d, "", "cpu.max"), "100000 100000");
        } else {
            assert_eq!(read(d, "memory/memory.memsw.limit_in_bytes", ""), (256 * MB).to_string());
            assert_eq!(read(d, "cpu/cpu.cfs_quota_us", ""), "100000");
            assert_eq!(read(d, "cpu/cpu.shares", ""), "256");
            assert_eq!(read(d, "memory/memory.soft_limit_in_bytes", ""), (64 * MB).to_string());
        }
        let f = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}} {{.HostConfig.MemoryReservation}}";
        assert_eq!(d.inspect(c, &name, f), format!("{} {} 1000000000 256 30 {}", 128 * MB, 256 * MB, 64 * MB));
        // dockerd's update rules.
        d.run(c, &["update", "-m", "512m", &name]).code_is(1).stderr_has("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
        d.run(c, &["update", "--cpu-quota", "50000", &name]).code_is(1).stderr_has("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");
        d.run(c, &["update", "-m", "1m", &name]).code_is(1).stderr_has("Minimum memory limit allowed is 6MB");
        d.run(c, &["update", &name]).code_is(1).stderr_has("you must provide one or more flags when using this command");
        d.run(c, &["update", "--cpus", "1", "no-such-container"]).code_is(1).stderr_has("No such container: no-such-container");
        assert_eq!(read(d, "memory/memory.limit_in_bytes", "memory.max"), (128 * MB).to_string(), "a refused update changes nothing");
        // The restart policy is stored (its behaviour is the restart manager's).
        d.run(c, &["update", "--restart", "on-failure:3", &name]).success();
        assert_eq!(d.inspect(c, &name, "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"), "on-failure:3");
        // Limits survive a daemon restart and a container restart.
        d.kill9_and_restart();
        assert_eq!(d.inspect(c, &name, "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}"), format!("{} 30", 128 * MB));
        d.run(c, &["restart", "-t", "0", &name]).success();
        assert_eq!(read(d, "pids/pids.max", "pids.max"), "30");
        d.run(c, &["rm", "-f", &name]).success();
    }

    fn update_on_a_stopped_container_applies_at_start(d, c) {
        let name = unique_name("updstop");
        d.run(c, &["create", "--name", &name, "busybox", "sh", "-c", &cat_cgroup("pids/pids.max", "pids.max")]).success();
        d.run(c, &["update", "--pids-limit", "25", &name]).success();
        assert_eq!(d.run(c, &["start", "-a", &name]).success().out(), "25");
        d.run(c, &["rm", &name]).success();
    }

    fn impossible_limits_are_refused(d, c) {
        let n = host_cpus();
        let too_many = (n + 1).to_string();
        let cpus_msg = format!("Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available");
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["-m", "1m"], "Minimum memory limit allowed is 6MB"),
            (vec!["--cpus", &too_many], &cpus_msg),
            (vec!["-m", "64m", "--memory-swap", "32m"], "Minimum memoryswap limit should be larger than memory limit, see usage"),
            (vec!["--memory-swap", "32m"], "You should always set the Memory limit when using Memoryswap limit, see usage"),
            (vec!["-m", "16m", "--memory-reservation", "32m"], "Minimum memory limit can not be less than memory reservation limit, see usage"),
            (vec!["--memory-reservation", "1m"], "Minimum memory reservation allowed is 6MB"),
            (vec!["--cpu-quota", "500"], "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
            (vec!["--cpu-period", "100"], "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
            (vec!["--cpus", "1", "--cpu-quota", "50000"], "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
            (vec!["--cpuset-cpus", "64"], "Requested CPUs are not available - requested 64, available: "),
            (vec!["--cpuset-mems", "9"], "Requested memory nodes are not available - requested 9, available: "),
            (vec!["--oom-score-adj", "2000"], "Invalid value 2000, range for oom score adj is [-1000, 1000]"),
            (vec!["--device", "/dev/no-such-device"], "error gathering device information while adding custom device \"/dev/no-such-device\": no such file or directory"),
            (vec!["--device-read-bps", "/dev/no-such-disk:1mb"], "/dev/no-such-disk: no such file or directory"),
            (vec!["--sysctl", "net.ipv4.ip_forward=1", "--network", "host"], "not allowed in host network namespace"),
        ];
        for (flags, msg) in &cases {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(flags);
            args.extend_from_slice(&["busybox", "true"]);
            // docker's exit code for "no such file or directory" is 127, else 125.
            let code = if msg.contains("no such file or directory") { 127 } else { 125 };
            d.run(c, &args).code_is(code).stderr_has(msg);
        }
        // Refused by the client before any request.
        for (flags, msg) in [
            (["--memory", "lots"], r#"invalid argument "lots" for "-m, --memory" flag"#),
            (["--memory-swap", "x"], r#"invalid argument "x" for "--memory-swap" flag"#),
            (["--ulimit", "bogus=1"], "invalid ulimit type: bogus"),
            (["--sysctl", "kernel.pid_max=5"], "sysctl 'kernel.pid_max=5' is not allowed"),
            (["--device-read-bps", "vda"], "bad format: vda"),
            (["--cpus", "lots"], r#"invalid argument "lots" for "--cpus" flag"#),
        ] {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(&flags);
            args.extend_from_slice(&["busybox", "true"]);
            d.run(c, &args).code_is(125).stderr_has(msg);
        }
        let left = d.run(c, &["ps", "-a", "-q"]);
        assert!(left.success().out().is_empty(), "a refused run left a container: {left}");
    }
}

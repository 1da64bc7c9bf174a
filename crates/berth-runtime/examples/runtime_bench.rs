//! Median wall time of create + start + wait for busybox `true`, per backend (needs root):
//! `cargo run --release -p berth-runtime --features embedded --example runtime_bench [runs]`.

use std::path::Path;
use std::time::{Duration, Instant};

use berth_runtime::embedded::EmbeddedRuntime;
use berth_runtime::external::ExternalRuntime;
use berth_runtime::spec::{self, SpecInput};
use berth_runtime::{ProcessIo, Runtime, Stdio};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args().nth(1).map_or(Ok(20), |a| a.parse())?;
    nix::sys::prctl::set_child_subreaper(true)?;
    let dir = tempfile::tempdir()?;
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin"))?;
    for d in ["proc", "sys", "dev", "etc", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))?;
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/true"))?;
    let input = SpecInput {
        rootfs,
        args: vec!["true".into()],
        env: vec!["PATH=/bin".into()],
        hostname: "bench".into(),
        cgroups_path: "/berth-bench/c".into(),
        ..Default::default()
    };
    spec::build(&input)?.save(dir.path().join("config.json"))?;

    let state = dir.path().join("state");
    let backends: Vec<(&str, Box<dyn Runtime>)> = vec![
        (
            "embedded (libcontainer)",
            Box::new(EmbeddedRuntime::new(&state)),
        ),
        (
            "runc",
            Box::new(ExternalRuntime::new("runc", &state, vec![])),
        ),
        // crun 1.8 cannot manage this hybrid cgroup layout; measured without cgroups.
        (
            "crun (--cgroup-manager=disabled)",
            Box::new(ExternalRuntime::new(
                "crun",
                &state,
                vec!["--cgroup-manager=disabled".into()],
            )),
        ),
    ];
    for (name, rt) in &backends {
        let mut times = Vec::with_capacity(runs);
        for i in 0..runs {
            let id = format!("bench-{i}");
            let t = Instant::now();
            let result = once(rt.as_ref(), &id, dir.path());
            let elapsed = t.elapsed();
            let _ = rt.delete(&id, true);
            if let Err(e) = result {
                println!("{name}: run {i} failed: {e}");
                break;
            }
            times.push(elapsed);
        }
        times.sort();
        if let Some(median) = times.get(times.len() / 2) {
            println!(
                "{name:34} median {:6.1} ms over {} runs (min {:.1}, max {:.1})",
                ms(*median),
                times.len(),
                ms(times[0]),
                ms(times[times.len() - 1])
            );
        }
    }
    for controller in std::fs::read_dir("/sys/fs/cgroup")?.flatten() {
        let _ = std::fs::remove_dir(controller.path().join("berth-bench"));
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn once(rt: &dyn Runtime, id: &str, bundle: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let spawned = rt.create(id, bundle, ProcessIo::Pipes(Stdio::default()))?;
    rt.start(id)?;
    match waitpid(Pid::from_raw(spawned.pid), None)? {
        WaitStatus::Exited(_, 0) => Ok(()),
        other => Err(format!("unexpected status {other:?}").into()),
    }
}

//! Where the default seccomp profile's cost goes (needs root for the loads):
//! `cargo run --release -p berth-runtime --features embedded --example seccomp_cost [runs]`.
//! Prints medians of: compiling with libseccomp and exporting the BPF, reading a cached
//! program, libseccomp's compile-and-load (what an init does without the cache), and loading
//! the precompiled program with seccomp(2) (what it does with it). Loads run in forked children.

use std::time::{Duration, Instant};

use berth_runtime::seccomp::{default_profile, to_oci, Host};
use berth_runtime::seccomp_cache::SeccompCache;
use libcontainer::seccomp::{compile_bpf, initialize_seccomp, load_bpf};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::args().nth(1).map_or(Ok(50), |a| a.parse())?;
    let caps: Vec<String> = berth_runtime::caps::DEFAULT
        .iter()
        .map(|c| c.to_string())
        .collect();
    let profile = to_oci(&default_profile()?, &Host::current(), &caps)?;
    let program = compile_bpf(&profile)?;
    println!(
        "default profile: {} rules, {} BPF instructions",
        profile.syscalls().as_ref().map_or(0, |s| s.len()),
        program.len() / 8
    );

    let compile = median(runs, || {
        let t = Instant::now();
        compile_bpf(&profile).map(|_| t.elapsed()).ok()
    });
    let dir = tempfile::tempdir()?;
    let cache = SeccompCache::new(dir.path());
    cache.program(&profile)?;
    let cached = median(runs, || {
        let t = Instant::now();
        cache.program(&profile).map(|_| t.elapsed()).ok()
    });
    let uncached_load = median(runs, || in_child(|| initialize_seccomp(&profile).is_ok()));
    let cached_load = median(runs, || in_child(|| load_bpf(&profile, &program).is_ok()));
    println!("compile + export (libseccomp):        {compile:?}");
    println!("cache hit (read + verify):            {cached:?}");
    println!("init without cache (compile + load):  {uncached_load:?}");
    println!("init with cache (seccomp(2) load):    {cached_load:?}");
    Ok(())
}

/// Runs `f` in a forked child with no_new_privs set; the child's own timing, or None.
fn in_child(f: impl Fn() -> bool) -> Option<Duration> {
    let (rd, wr) = nix::unistd::pipe().ok()?;
    // SAFETY: single-threaded example; the child only times `f` and writes to a pipe.
    match unsafe { fork() }.ok()? {
        ForkResult::Child => {
            let _ = nix::sys::prctl::set_no_new_privs();
            let t = Instant::now();
            let ok = f();
            let nanos = if ok { t.elapsed().as_nanos() as u64 } else { 0 };
            let _ = nix::unistd::write(&wr, &nanos.to_le_bytes());
            std::process::exit(0);
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut buf = [0u8; 8];
            let n = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&rd), &mut buf).ok()?;
            let _ = matches!(waitpid(child, None), Ok(WaitStatus::Exited(..)));
            let nanos = u64::from_le_bytes(buf);
            (n == 8 && nanos > 0).then(|| Duration::from_nanos(nanos))
        }
    }
}

fn median(runs: usize, mut f: impl FnMut() -> Option<Duration>) -> Duration {
    let mut times: Vec<Duration> = (0..runs).filter_map(|_| f()).collect();
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

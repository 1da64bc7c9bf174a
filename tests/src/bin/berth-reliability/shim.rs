//! A container's shim must stay idle while berthd is down and after it is back: its CPU time
//! (utime + stime) measured over a window in each phase.

use std::time::{Duration, Instant};

use berth_tests::{unique_name, wait_until, TestDaemon};

use crate::Ctx;

/// The most CPU an idle shim may use, in milliseconds per second.
const IDLE_MS_PER_S: f64 = 50.0;
const WINDOW: Duration = Duration::from_secs(2);

/// utime + stime of `pid`, in milliseconds.
fn cpu_ms(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the command: state is field 3, utime 14 and stime 15 (1-based).
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    let hz = clk_tck();
    Some((utime + stime) * 1000.0 / hz)
}

/// The clock ticks per second of /proc's times.
fn clk_tck() -> f64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(n)) if n > 0 => n as f64,
        _ => 100.0,
    }
}

/// The shim's CPU use over [`WINDOW`], in ms per second.
fn rate(pid: i32) -> Result<f64, String> {
    let start = cpu_ms(pid).ok_or_else(|| format!("shim {pid} is gone"))?;
    let t = Instant::now();
    std::thread::sleep(WINDOW);
    let end = cpu_ms(pid).ok_or_else(|| format!("shim {pid} is gone"))?;
    Ok((end - start) / t.elapsed().as_secs_f64())
}

fn shim_of(id: &str) -> Option<i32> {
    berth_tests::leaks::processes_naming(std::path::Path::new(id), &[])
        .into_iter()
        .find(|(_, cmd)| cmd.contains("shim"))
        .map(|(pid, _)| pid)
}

pub fn run(ctx: &mut Ctx) {
    let Some(mut d) = ctx.daemon("shim") else {
        return;
    };
    for how in ["sigterm", "kill9"] {
        ctx.check(&format!("shim/idle-across-{how}"), |ctx| {
            idle_across(ctx, &mut d, how)
        });
    }
    ctx.teardown("shim", d);
}

fn idle_across(ctx: &mut Ctx, d: &mut TestDaemon, how: &str) -> Result<(), String> {
    let name = unique_name("rel-shim");
    let mut args = vec![
        "run".to_string(),
        "-d".into(),
        "--name".into(),
        name.clone(),
    ];
    args.extend(ctx.runtime_args());
    args.extend(["busybox", "sleep", "600"].map(String::from));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = d.berth(&refs).success().out().to_string();
    let mut pid = None;
    wait_until(Duration::from_secs(10), || {
        pid = shim_of(&id);
        pid.is_some()
    });
    let pid = pid.ok_or_else(|| format!("no shim process names {id}"))?;
    let up = rate(pid)?;
    match how {
        "sigterm" => {
            d.stop();
        }
        _ => d.kill9(),
    }
    let down = rate(pid)?;
    d.restart();
    // Let it reconnect, then measure.
    let running = d.inspect(berth_tests::Client::Berth, &name, "{{.State.Running}}");
    let back = rate(pid)?;
    ctx.figure(
        "shim idle (CPU ms per s)",
        format!(
            "{how}: berthd up {up:.0}, down {down:.0}, back {back:.0} (limit {IDLE_MS_PER_S:.0})"
        ),
    );
    d.berth(&["rm", "-f", &name]).success();
    if running != "true" {
        return Err(format!(
            "the container is not running after the restart: {running}"
        ));
    }
    let over: Vec<String> = [("up", up), ("down", down), ("back", back)]
        .iter()
        .filter(|(_, r)| *r > IDLE_MS_PER_S)
        .map(|(phase, r)| format!("berthd {phase}: {r:.0} ms/s"))
        .collect();
    if over.is_empty() {
        Ok(())
    } else {
        Err(format!("shim {pid} is busy: {}", over.join(", ")))
    }
}

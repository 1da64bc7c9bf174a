//! `berth-reliability`: the black-box reliability suite. Against private berthds (the test
//! harness's [`TestDaemon`]) it runs
//!
//! - `churn`: run/rm cycles (default bridge, published port, user network, anonymous volume,
//!   a failing `run --rm` with an image volume) with leak accounting before and after;
//! - `crash`: kill -9 of berthd at several points of each stateful operation (load, pull,
//!   build, parallel create/start/rm, volume create/rm/prune, network create/connect), each
//!   followed by a restart and a consistency check;
//! - `shim`: a shim's CPU time while berthd is down (SIGTERM, kill -9) and after it is back;
//! - `cgroup`: a root process inside a limited container trying to raise its limits;
//! - `hostile`: bad references, hostile tars, long names, a huge exec environment.
//!
//! It prints a line per check, the figures, and `N passed, N failed`; it exits 1 on a failure.
//! `--quick` is bounded for CI; `--long` runs more cycles and repeats every kill point with
//! random timing.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use berth_tests::TestDaemon;

mod cgroup;
mod churn;
mod crash;
mod hostile;
mod shim;
mod stream;

/// How hard to push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quick,
    Long,
}

/// A small deterministic generator (xorshift64*), seeded from `--seed` or the clock.
pub struct Rng(u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// One check's outcome.
struct Outcome {
    name: String,
    failure: Option<String>,
}

/// What the checks share: the mode, the random source, the figures and the outcomes.
pub struct Ctx {
    pub mode: Mode,
    pub rng: Rng,
    /// `--runtime`: passed to every container the suite creates (to check the checks against
    /// another runtime, runc say).
    pub runtime: Option<String>,
    figures: BTreeMap<&'static str, Vec<String>>,
    outcomes: Vec<Outcome>,
}

impl Ctx {
    /// Adds a line to a section of the figures printed at the end.
    pub fn figure(&mut self, section: &'static str, line: impl Into<String>) {
        self.figures.entry(section).or_default().push(line.into());
    }

    /// `n` in quick mode, `long` in long mode.
    pub fn pick(&self, quick: usize, long: usize) -> usize {
        match self.mode {
            Mode::Quick => quick,
            Mode::Long => long,
        }
    }

    /// Runs one check: it fails when `f` returns an error or panics (the harness panics on a
    /// failed command or a daemon that does not come up).
    pub fn check(&mut self, name: &str, f: impl FnOnce(&mut Ctx) -> Result<(), String>) {
        let started = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(self)));
        let failure = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(panic) => Some(panic_text(&panic)),
        };
        let secs = started.elapsed().as_secs_f64();
        match &failure {
            None => println!("ok   {name} ({secs:.1}s)"),
            Some(why) => {
                println!("FAIL {name} ({secs:.1}s)");
                for line in why.lines().take(40) {
                    println!("       {line}");
                }
            }
        }
        self.outcomes.push(Outcome {
            name: name.to_string(),
            failure,
        });
    }

    /// Starts a daemon for a group (a failed start is that group's failed check).
    pub fn daemon(&mut self, group: &str) -> Option<TestDaemon> {
        let mut d = None;
        self.check(&format!("{group}/daemon-start"), |_| {
            d = TestDaemon::start();
            d.as_ref()
                .map(|_| ())
                .ok_or_else(|| "berthd cannot be started here".to_string())
        });
        d
    }

    /// Stops a group's daemon; what the harness finds left behind fails `<group>/teardown`.
    pub fn teardown(&mut self, group: &str, d: TestDaemon) {
        self.check(&format!("{group}/teardown"), move |_| {
            drop(d);
            Ok(())
        });
    }

    /// The flags that choose the runtime, for `create`/`run` argument lists.
    pub fn runtime_args(&self) -> Vec<String> {
        self.runtime
            .iter()
            .flat_map(|r| ["--runtime".to_string(), r.clone()])
            .collect()
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "panicked".to_string()
    }
}

const GROUPS: &[&str] = &["churn", "crash", "shim", "cgroup", "hostile"];

fn usage() -> ! {
    eprintln!(
        "usage: berth-reliability [--quick|--long] [--only GROUP[,GROUP...]] [--seed N] [--runtime NAME]\n\
         groups: {}",
        GROUPS.join(", ")
    );
    std::process::exit(2);
}

fn main() {
    let mut mode = Mode::Quick;
    let mut only: Vec<String> = Vec::new();
    let mut seed: Option<u64> = None;
    let mut runtime = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => mode = Mode::Quick,
            "--long" => mode = Mode::Long,
            "--only" => {
                let groups = args.next().unwrap_or_else(|| usage());
                only.extend(groups.split(',').map(str::to_string));
            }
            "--seed" => {
                seed = Some(
                    args.next()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--runtime" => runtime = Some(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    if let Some(bad) = only.iter().find(|g| !GROUPS.contains(&g.as_str())) {
        eprintln!("unknown group {bad:?}");
        usage();
    }
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    }) | 1;
    // A machine that cannot start berthd fails the suite at once, naming what is missing;
    // only BERTH_TEST_SKIP_BLACKBOX=1 turns that into a skip.
    let missing = berth_tests::preflight::blackbox_missing();
    if !missing.is_empty() {
        let skip = berth_tests::preflight::SKIP_VAR;
        if berth_tests::preflight::var_set(skip) {
            println!(
                "skipped ({skip} is set): berthd cannot be started here: {}",
                missing.join("; ")
            );
            return;
        }
        eprintln!(
            "berth-reliability: berthd cannot be started here:\n  - {}\nRun it as root after \
             `cargo build --workspace --bins` (scripts/reliability does both), or set {skip}=1 \
             to skip it.",
            missing.join("\n  - ")
        );
        std::process::exit(1);
    }
    // Panics are checks failing: their messages are printed with the check, not by the hook.
    std::panic::set_hook(Box::new(|_| {}));
    let mut ctx = Ctx {
        mode,
        rng: Rng(seed),
        runtime,
        figures: BTreeMap::new(),
        outcomes: Vec::new(),
    };
    println!(
        "berth reliability suite: {} mode, seed {seed}",
        match mode {
            Mode::Quick => "quick",
            Mode::Long => "long",
        }
    );
    let started = Instant::now();
    let wanted = |g: &str| only.is_empty() || only.iter().any(|o| o == g);
    if wanted("churn") {
        churn::run(&mut ctx);
    }
    if wanted("crash") {
        crash::run(&mut ctx);
    }
    if wanted("shim") {
        shim::run(&mut ctx);
    }
    if wanted("cgroup") {
        cgroup::run(&mut ctx);
    }
    if wanted("hostile") {
        hostile::run(&mut ctx);
    }

    println!("\n== figures ==");
    for (section, lines) in &ctx.figures {
        println!("-- {section}");
        for l in lines {
            println!("   {l}");
        }
    }
    let failed: Vec<&Outcome> = ctx
        .outcomes
        .iter()
        .filter(|o| o.failure.is_some())
        .collect();
    if !failed.is_empty() {
        println!("\n== failed checks ==");
        for o in &failed {
            let first = o
                .failure
                .as_deref()
                .and_then(|f| f.lines().next())
                .unwrap_or_default();
            println!("   {}: {first}", o.name);
        }
    }
    println!(
        "\n{} passed, {} failed ({:.0}s)",
        ctx.outcomes.len() - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    std::process::exit(i32::from(!failed.is_empty()));
}

/// Waits `d` for `ms` milliseconds.
pub fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

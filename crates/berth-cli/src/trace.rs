//! `berth -D` (`--debug`): how long each API round trip and step of a command took, one line
//! each on stderr in logrus' text form (`level=debug msg=step step=create ms=1.234`).
//! `scripts/bench/run-latency` reads them for its breakdown of a `run`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

static ON: AtomicBool = AtomicBool::new(false);

/// Turns the step lines on (`-D`).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

fn report(step: &str, since: Instant) {
    if ON.load(Ordering::Relaxed) {
        let ms = since.elapsed().as_secs_f64() * 1000.0;
        eprintln!("level=debug msg=step step={step} ms={ms:.3}");
    }
}

/// Awaits `f`, reporting how long it took as `step`.
pub async fn timed<F: Future>(step: &str, f: F) -> F::Output {
    let since = Instant::now();
    let out = f.await;
    report(step, since);
    out
}

/// A step that ends at [`Step::done`].
pub struct Step {
    name: &'static str,
    since: Instant,
}

pub fn step(name: &'static str) -> Step {
    Step {
        name,
        since: Instant::now(),
    }
}

impl Step {
    pub fn done(self) {
        report(self.name, self.since);
    }
}

//! The start-path trace (`berthd --debug`): spans with their durations and the runtime's debug
//! events, one line each in `<bundle>/shim.log`, stamped with the wall clock and the writing
//! process's pid (the runtime's create runs across the helper, libcontainer's intermediate and
//! the container's init, all writing to the same file).
//!
//! A minimal [`tracing::Subscriber`] rather than tracing-subscriber's: the shim stays small and
//! installs nothing at all unless berthd asked for the trace (`ShimConfig::trace`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::timefmt::now_fixed;

/// Installs the trace subscriber for this process (and every process it forks).
pub fn install() {
    let _ = tracing::subscriber::set_global_default(ShimTrace {
        next: AtomicU64::new(1),
        open: Mutex::new(HashMap::new()),
    });
}

struct ShimTrace {
    next: AtomicU64,
    /// Open spans: name and when they began.
    open: Mutex<HashMap<u64, (&'static str, Instant)>>,
}

fn line(text: &str) {
    let pid = std::process::id();
    crate::shimlog::raw(&format!("{} trace pid={pid} {text}", now_fixed()));
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for ShimTrace {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::DEBUG
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, (span.metadata().name(), Instant::now()));
        }
        Id::from_u64(id)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        line(&format!("{}:{}", event.metadata().target(), fields.0));
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}

    fn try_close(&self, id: Id) -> bool {
        let closed = self
            .open
            .lock()
            .ok()
            .and_then(|mut open| open.remove(&id.into_u64()));
        if let Some((name, began)) = closed {
            line(&format!(
                "span {name} took {}µs",
                began.elapsed().as_micros()
            ));
        }
        true
    }
}

//! Progress as Compose v2 shows it (`pkg/progress`), on stderr:
//! - plain: one line per event, ` Container p-web-1  Started`;
//! - tty: a block redrawn every 100 ms, `[+] Running 2/2` then one line per resource with a
//!   spinner (`✔` once done, `✘` on error), its state and the time it took;
//! - json: one object per event, `{"id":"Container p-web-1","text":"Started"}`;
//! - quiet: nothing.
//!
//! The mode is compose's global `--progress` / `--ansi` choice, set once per command by the CLI
//! ([`set_display`]); every [`Progress`] made afterwards follows it.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Tty,
    Json,
    Quiet,
}

impl Mode {
    /// Compose's choice (`cmd/compose/compose.go`): `--progress` wins; `--ansi never` means
    /// plain, `--ansi always` tty; otherwise tty when stderr is a terminal.
    pub fn choose(
        progress: Option<&str>,
        ansi: &str,
        stderr_is_terminal: bool,
    ) -> Result<Mode, String> {
        match progress.unwrap_or("auto") {
            "plain" => return Ok(Mode::Plain),
            "tty" => return Ok(Mode::Tty),
            "json" => return Ok(Mode::Json),
            "quiet" => return Ok(Mode::Quiet),
            "auto" => {}
            other => return Err(format!("unsupported --progress value {other:?}")),
        }
        Ok(match ansi {
            "never" => Mode::Plain,
            "always" => Mode::Tty,
            _ if stderr_is_terminal => Mode::Tty,
            _ => Mode::Plain,
        })
    }
}

struct Display {
    mode: Mode,
    /// The tty block's title: `Running`, `Stopping`, `Removing`...
    title: String,
    colour: bool,
}

static DISPLAY: OnceLock<Display> = OnceLock::new();

/// Sets the command's display once (the CLI does, before any engine is made).
pub fn set_display(mode: Mode, title: &str, colour: bool) {
    let _ = DISPLAY.set(Display {
        mode,
        title: title.to_string(),
        colour,
    });
}

/// Where an event leaves its resource: compose's `Working`, `Done`, `Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Working,
    Done,
    Error,
}

/// Compose's events are fixed pairs (`CreatingEvent` is Working, `CreatedEvent` Done...): the
/// ones in progress are the `-ing` words, except `Running`, which is a final state.
fn status_of(text: &str) -> Status {
    match text {
        "Error" => Status::Error,
        "Running" => Status::Done,
        t if t.ends_with("ing") => Status::Working,
        _ => Status::Done,
    }
}

struct Task {
    id: String,
    text: String,
    status: Status,
    started: Instant,
    ended: Option<Instant>,
}

#[derive(Default)]
struct Block {
    tasks: Vec<Task>,
    /// Lines drawn last time (to move back over them).
    drawn: usize,
    frame: usize,
    shutdown: bool,
}

struct Tty {
    title: String,
    colour: bool,
    block: Mutex<Block>,
    tick: Condvar,
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl Tty {
    fn width() -> usize {
        let (_, cols) = console::Term::stderr().size();
        usize::from(cols).max(20)
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// Draws the block over the previous drawing.
    fn draw(&self, b: &mut Block) {
        if b.tasks.is_empty() {
            return;
        }
        let width = Self::width();
        let mut out = String::new();
        if b.drawn > 0 {
            // Back to the title line of the last drawing.
            out.push_str(&format!("\x1b[{}A\r", b.drawn + 1));
        }
        out.push_str("\x1b[?25l");
        let done = b
            .tasks
            .iter()
            .filter(|t| t.status != Status::Working)
            .count();
        let first = format!("[+] {} {}/{}", self.title, done, b.tasks.len());
        let first = if done == b.tasks.len() {
            self.paint("34", &first)
        } else {
            first
        };
        out.push_str(&format!("{first}\x1b[K\n"));
        let pad_to = b.tasks.iter().map(|t| t.id.len()).max().unwrap_or(0);
        let now = Instant::now();
        for t in &b.tasks {
            let spinner = match t.status {
                Status::Done => self.paint("32", "✔"),
                Status::Error => self.paint("31", "✘"),
                Status::Working => SPINNER[b.frame % SPINNER.len()].to_string(),
            };
            let text = match t.status {
                Status::Done => self.paint("32", &t.text),
                Status::Error => self.paint("31", &t.text),
                Status::Working => t.text.clone(),
            };
            let left = format!(
                " {spinner} {}{} {text}",
                t.id,
                " ".repeat(pad_to.saturating_sub(t.id.len()))
            );
            let end = t.ended.unwrap_or(now);
            let timer = format!("{:.1}s ", end.duration_since(t.started).as_secs_f64());
            let used = console::measure_text_width(&left) + timer.len();
            let gap = width.saturating_sub(used).max(1);
            out.push_str(&format!(
                "{left}{}{}\x1b[K\n",
                " ".repeat(gap),
                self.paint("2", &timer)
            ));
        }
        out.push_str("\x1b[?25h");
        b.drawn = b.tasks.len();
        b.frame += 1;
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }

    fn event(&self, id: String, text: &str) {
        let mut b = lock(&self.block);
        let status = status_of(text);
        let now = Instant::now();
        match b.tasks.iter_mut().find(|t| t.id == id) {
            Some(t) => {
                if status != Status::Working && t.status == Status::Working {
                    t.ended = Some(now);
                }
                if status == Status::Working {
                    // Timed from the resource's first event to its last final one.
                    t.ended = None;
                }
                t.status = status;
                t.text = text.to_string();
            }
            None => b.tasks.push(Task {
                id,
                text: text.to_string(),
                status,
                started: now,
                ended: (status != Status::Working).then_some(now),
            }),
        }
    }

    /// A line printed above the block (warnings): the block is drawn again below it.
    fn line(&self, text: &str) {
        let mut b = lock(&self.block);
        let mut out = String::new();
        if b.drawn > 0 {
            out.push_str(&format!("\x1b[{}A\r\x1b[J", b.drawn + 1));
            b.drawn = 0;
        }
        out.push_str(text);
        out.push('\n');
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
        if !b.tasks.is_empty() {
            self.draw(&mut b);
        }
    }

    /// The last drawing of the block, which then stays on screen; later events start a new one.
    fn finish(&self) {
        let mut b = lock(&self.block);
        self.draw(&mut b);
        b.tasks.clear();
        b.drawn = 0;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct Progress {
    mode: Mode,
    tty: Option<Arc<Tty>>,
    ticker: Option<JoinHandle<()>>,
    lock: Mutex<()>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("mode", &self.mode)
            .finish()
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new(false)
    }
}

impl Progress {
    /// The command's display ([`set_display`]; plain when none was set), or nothing (`quiet`).
    pub fn new(quiet: bool) -> Self {
        let display = DISPLAY.get();
        let mode = if quiet {
            Mode::Quiet
        } else {
            display.map_or(Mode::Plain, |d| d.mode)
        };
        if mode != Mode::Tty {
            return Progress {
                mode,
                tty: None,
                ticker: None,
                lock: Mutex::new(()),
            };
        }
        let tty = Arc::new(Tty {
            title: display.map_or_else(|| "Running".to_string(), |d| d.title.clone()),
            colour: display.is_none_or(|d| d.colour),
            block: Mutex::new(Block::default()),
            tick: Condvar::new(),
        });
        let t = tty.clone();
        // Redraws every 100 ms while there is a block, as compose's ticker.
        let ticker = std::thread::Builder::new()
            .name("compose-progress".into())
            .spawn(move || {
                let mut b = lock(&t.block);
                loop {
                    let (next, _) = t
                        .tick
                        .wait_timeout(b, Duration::from_millis(100))
                        .unwrap_or_else(|p| p.into_inner());
                    b = next;
                    if b.shutdown {
                        return;
                    }
                    t.draw(&mut b);
                }
            })
            .ok();
        Progress {
            mode,
            tty: Some(tty),
            ticker,
            lock: Mutex::new(()),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// One resource's new state: ` <kind> <name>  <status>`.
    pub fn event(&self, kind: &str, name: &str, status: &str) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                let _g = lock(&self.lock);
                let _ = writeln!(std::io::stderr().lock(), " {kind} {name}  {status}");
            }
            Mode::Json => {
                let msg = serde_json::json!({"id": format!("{kind} {name}"), "text": status});
                let _g = lock(&self.lock);
                let _ = writeln!(std::io::stderr().lock(), "{msg}");
            }
            Mode::Tty => {
                if let Some(t) = &self.tty {
                    t.event(format!("{kind} {name}"), status);
                }
            }
        }
    }

    pub fn container(&self, name: &str, status: &str) {
        self.event("Container", name, status);
    }

    /// A free-form line (warnings); shown even when quiet, as compose's log lines.
    pub fn line(&self, text: &str) {
        match (&self.tty, self.mode) {
            (Some(t), _) => t.line(text),
            (None, Mode::Json) => {
                let msg = serde_json::json!({"tail": true, "text": text});
                let _g = lock(&self.lock);
                let _ = writeln!(std::io::stderr().lock(), "{msg}");
            }
            _ => {
                let _g = lock(&self.lock);
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    /// Ends the current block (tty): its last drawing stays, and what is printed next (the
    /// containers' logs of an attached `up`) goes below it.
    pub fn finish(&self) {
        if let Some(t) = &self.tty {
            t.finish();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(t) = &self.tty {
            t.finish();
            lock(&t.block).shutdown = true;
            t.tick.notify_all();
        }
        if let Some(h) = self.ticker.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_follows_progress_then_ansi_then_the_terminal() {
        assert_eq!(Mode::choose(Some("plain"), "always", true), Ok(Mode::Plain));
        assert_eq!(Mode::choose(Some("json"), "auto", false), Ok(Mode::Json));
        assert_eq!(Mode::choose(Some("tty"), "never", false), Ok(Mode::Tty));
        assert_eq!(Mode::choose(None, "never", true), Ok(Mode::Plain));
        assert_eq!(Mode::choose(None, "always", false), Ok(Mode::Tty));
        assert_eq!(Mode::choose(Some("auto"), "auto", true), Ok(Mode::Tty));
        assert_eq!(Mode::choose(None, "auto", false), Ok(Mode::Plain));
        assert!(Mode::choose(Some("fancy"), "auto", true).is_err());
    }

    #[test]
    fn ing_words_are_in_progress_except_running() {
        assert_eq!(status_of("Creating"), Status::Working);
        assert_eq!(status_of("Waiting"), Status::Working);
        assert_eq!(status_of("Created"), Status::Done);
        assert_eq!(status_of("Running"), Status::Done);
        assert_eq!(status_of("Healthy"), Status::Done);
        assert_eq!(status_of("Error"), Status::Error);
    }

    #[test]
    fn a_block_counts_done_tasks_and_keeps_first_seen_order() {
        let t = Tty {
            title: "Running".into(),
            colour: false,
            block: Mutex::new(Block::default()),
            tick: Condvar::new(),
        };
        t.event("Network p_default".into(), "Creating");
        t.event("Container p-web-1".into(), "Creating");
        t.event("Network p_default".into(), "Created");
        let b = lock(&t.block);
        assert_eq!(b.tasks.len(), 2);
        assert_eq!(b.tasks[0].id, "Network p_default");
        assert_eq!(b.tasks[0].status, Status::Done);
        assert!(b.tasks[0].ended.is_some());
        assert_eq!(b.tasks[1].status, Status::Working);
    }
}

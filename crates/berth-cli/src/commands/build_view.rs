//! How `berth build` shows the classic build stream: `plain` writes it as the docker CLI does
//! (for CI logs); `tty` keeps one line per step with a spinner and its time, marks cached
//! steps, shows the last lines of a running step's output under it, and base image pulls as
//! per-layer lines.

use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::jsonmessage::TtyProgress;

/// Output lines of the running step kept on screen.
const TAIL_LINES: usize = 6;

/// One message of the stream, as far as the view cares.
pub enum Event<'a> {
    /// `stream` text (may hold several lines).
    Text(&'a str),
    /// A pull's `status`, with its `id` and `progress`.
    Status {
        id: Option<&'a str>,
        status: &'a str,
        progress: Option<&'a str>,
    },
}

pub trait BuildView {
    fn show(&mut self, event: Event<'_>) -> std::io::Result<()>;
    /// The build ended (`failed`: with an error); the view is left as it stands.
    fn finish(&mut self, failed: bool) -> std::io::Result<()>;
}

/// The docker CLI's plain output.
pub struct Plain<W: Write> {
    out: W,
}

impl<W: Write> Plain<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }
}

impl<W: Write> BuildView for Plain<W> {
    fn show(&mut self, event: Event<'_>) -> std::io::Result<()> {
        match event {
            Event::Text(text) => write!(self.out, "{text}")?,
            // Progress updates are for terminals; the state changes are kept.
            Event::Status {
                progress: Some(p), ..
            } if !p.is_empty() => {}
            Event::Status {
                id: Some(id),
                status,
                ..
            } if !id.is_empty() => writeln!(self.out, "{id}: {status}")?,
            Event::Status { status, .. } => writeln!(self.out, "{status}")?,
        }
        self.out.flush()
    }

    fn finish(&mut self, _failed: bool) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The step currently shown with a spinner.
struct Step {
    line: ProgressBar,
    title: String,
    started: Instant,
    cached: bool,
}

/// The terminal view.
pub struct Tty {
    multi: MultiProgress,
    step: Option<Step>,
    tail: ProgressBar,
    recent: VecDeque<String>,
    pulls: TtyProgress,
    /// Output lines of the current step (printed whole if it fails).
    output: Vec<String>,
}

impl Tty {
    pub fn new(target: ProgressDrawTarget) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let tail = multi.add(ProgressBar::new_spinner());
        tail.set_style(
            ProgressStyle::with_template("{wide_msg:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let pulls = TtyProgress::within(multi.clone());
        Self {
            multi,
            step: None,
            tail,
            recent: VecDeque::new(),
            pulls,
            output: Vec::new(),
        }
    }

    fn end_step(&mut self, failed: bool) {
        let Some(step) = self.step.take() else {
            return;
        };
        let mark = if failed { "✗" } else { "✔" };
        let how = if step.cached {
            "CACHED".to_string()
        } else {
            format!("{:.1}s", step.started.elapsed().as_secs_f64())
        };
        step.line.set_style(
            ProgressStyle::with_template("{msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        step.line
            .finish_with_message(format!("{mark} {}  {how}", step.title));
        self.recent.clear();
        self.tail.set_message(String::new());
        if failed {
            for line in std::mem::take(&mut self.output) {
                self.note(&format!("  {line}"));
            }
        }
        self.output.clear();
    }

    /// A line that stays, above the running step's output.
    fn note(&self, text: &str) {
        let line = self
            .multi
            .insert_before(&self.tail, ProgressBar::new_spinner());
        line.set_style(
            ProgressStyle::with_template("{msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        line.finish_with_message(text.to_string());
    }

    fn begin_step(&mut self, title: &str) {
        self.end_step(false);
        let line = self
            .multi
            .insert_before(&self.tail, ProgressBar::new_spinner());
        line.set_style(
            ProgressStyle::with_template("{spinner} {msg}  {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        line.set_message(title.to_string());
        line.enable_steady_tick(Duration::from_millis(100));
        self.step = Some(Step {
            line,
            title: title.to_string(),
            started: Instant::now(),
            cached: false,
        });
    }

    fn output_line(&mut self, line: &str) {
        if self.recent.len() == TAIL_LINES {
            self.recent.pop_front();
        }
        self.recent.push_back(format!("  {line}"));
        self.output.push(line.to_string());
        self.tail
            .set_message(Vec::from(self.recent.clone()).join("\n"));
    }
}

impl BuildView for Tty {
    fn show(&mut self, event: Event<'_>) -> std::io::Result<()> {
        match event {
            Event::Status {
                id,
                status,
                progress,
            } => self.pulls.show(id, status, progress),
            Event::Text(text) => {
                // RUN's stderr comes wrapped in dockerd's red (`\x1b[91m` ... `\x1b[0m`);
                // this view draws its own lines, so the markers go.
                let text = text.replace("\u{1b}[91m", "").replace("\u{1b}[0m", "");
                for line in text.lines() {
                    if line.starts_with("Step ") {
                        self.begin_step(line);
                    } else if line == " ---> Using cache" {
                        if let Some(step) = &mut self.step {
                            step.cached = true;
                        }
                    } else if line.starts_with(" ---> ")
                        || line.starts_with("Removing intermediate container")
                    {
                        // Bookkeeping of the classic stream: the step line says it all.
                    } else if line.starts_with("Successfully ") || line.starts_with("[Warning]") {
                        self.end_step(false);
                        self.note(line);
                    } else {
                        self.output_line(line);
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, failed: bool) -> std::io::Result<()> {
        self.end_step(failed);
        self.pulls.finish();
        self.tail.finish();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::InMemoryTerm;

    fn screen(term: &InMemoryTerm) -> Vec<String> {
        term.contents()
            .lines()
            .map(|l| l.trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    #[test]
    fn steps_end_marked_with_cache_or_time_and_output_goes() {
        let term = InMemoryTerm::new(30, 100);
        let mut view = Tty::new(ProgressDrawTarget::term_like(Box::new(term.clone())));
        for text in [
            "Step 1/3 : FROM busybox\n",
            " ---> 1234abcd\n",
            "Step 2/3 : RUN echo hi\n",
            " ---> Using cache\n",
            " ---> 5678abcd\n",
            "Step 3/3 : RUN echo built\n",
            " ---> Running in 9abc\n",
            "built\n",
            "Removing intermediate container 9abc\n",
            " ---> 0def0def\n",
            "Successfully built 0def0def\n",
        ] {
            view.show(Event::Text(text)).unwrap();
        }
        view.finish(false).unwrap();
        let lines = screen(&term);
        assert!(
            lines[0].starts_with("✔ Step 1/3 : FROM busybox  "),
            "{lines:?}"
        );
        assert_eq!(lines[1], "✔ Step 2/3 : RUN echo hi  CACHED", "{lines:?}");
        assert!(
            lines[2].starts_with("✔ Step 3/3 : RUN echo built  "),
            "{lines:?}"
        );
        assert!(lines[2].ends_with('s'), "a time: {lines:?}");
        assert_eq!(lines[3], "Successfully built 0def0def", "{lines:?}");
        assert_eq!(lines.len(), 4, "no step output left once done: {lines:?}");
    }

    #[test]
    fn a_failed_step_keeps_its_output() {
        let term = InMemoryTerm::new(30, 100);
        let mut view = Tty::new(ProgressDrawTarget::term_like(Box::new(term.clone())));
        view.show(Event::Text("Step 1/2 : FROM busybox\n")).unwrap();
        view.show(Event::Text("Step 2/2 : RUN false\n")).unwrap();
        view.show(Event::Text("it went wrong\n")).unwrap();
        view.show(Event::Text("\u{1b}[91mon stderr\n\u{1b}[0m"))
            .unwrap();
        view.finish(true).unwrap();
        let lines = screen(&term);
        assert!(lines.iter().any(|l| l == "  it went wrong"), "{lines:?}");
        assert!(
            lines.iter().any(|l| l == "  on stderr"),
            "stderr's colour markers are dropped: {lines:?}"
        );
        assert!(!lines.iter().any(|l| l.contains('\u{1b}')), "{lines:?}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("✗ Step 2/2 : RUN false")),
            "{lines:?}"
        );
    }

    #[test]
    fn plain_is_the_docker_clis_text() {
        let mut out = Vec::new();
        let mut view = Plain::new(&mut out);
        view.show(Event::Text("Step 1/1 : FROM x\n")).unwrap();
        view.show(Event::Status {
            id: Some("v1"),
            status: "Pulling from x",
            progress: None,
        })
        .unwrap();
        view.show(Event::Status {
            id: Some("ab"),
            status: "Downloading",
            progress: Some("[=>  ] 1B/2B"),
        })
        .unwrap();
        view.show(Event::Status {
            id: None,
            status: "Digest: sha256:1",
            progress: None,
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Step 1/1 : FROM x\nv1: Pulling from x\nDigest: sha256:1\n"
        );
    }
}

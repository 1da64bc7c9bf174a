//! Prints the JSON progress stream of import/pull/push the way the docker CLI does: plain
//! status lines without a terminal; on one, a line per layer rewritten in place with its
//! progress bar.

use std::collections::HashMap;
use std::io::IsTerminal;

use berth_api::models::CreateImageInfo;
use berth_client::JsonLines;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::{CliError, CliResult};

/// Hands each message to `show`; the first error in the stream ends it.
async fn each_message(
    mut stream: JsonLines<CreateImageInfo>,
    mut show: impl FnMut(&CreateImageInfo) -> std::io::Result<()>,
) -> CliResult {
    while let Some(msg) = stream.next().await {
        let msg = msg?;
        if let Some(err) = msg
            .error_detail
            .as_ref()
            .and_then(|d| d.message.clone())
            .or(msg.error.clone())
        {
            return Err(CliError::status(1, err));
        }
        show(&msg)?;
    }
    Ok(())
}

/// Prints status lines; the first error in the stream ends it.
pub async fn display(
    stream: JsonLines<CreateImageInfo>,
    out: &mut impl std::io::Write,
) -> CliResult {
    each_message(stream, |msg| {
        // progress bars are only drawn on a terminal
        if msg
            .progress_detail
            .as_ref()
            .is_some_and(|p| p.total.is_some() || p.current.is_some())
        {
            return Ok(());
        }
        match (msg.id.as_deref(), msg.status.as_deref()) {
            (_, None) => Ok(()),
            (Some(id), Some(status)) if !id.is_empty() => writeln!(out, "{id}: {status}"),
            (_, Some(status)) => writeln!(out, "{status}"),
        }
    })
    .await
}

/// Shows the stream on stdout: per-layer progress lines on a terminal, plain lines otherwise.
pub async fn display_stdout(stream: JsonLines<CreateImageInfo>) -> CliResult {
    if std::io::stdout().is_terminal() {
        display_live(stream, ProgressDrawTarget::stdout()).await
    } else {
        display(stream, &mut std::io::stdout()).await
    }
}

/// [`display_stdout`] on stderr (the pull before `run`).
pub async fn display_stderr(stream: JsonLines<CreateImageInfo>) -> CliResult {
    if std::io::stderr().is_terminal() {
        display_live(stream, ProgressDrawTarget::stderr()).await
    } else {
        display(stream, &mut std::io::stderr()).await
    }
}

async fn display_live(stream: JsonLines<CreateImageInfo>, target: ProgressDrawTarget) -> CliResult {
    let mut tty = TtyProgress::new(target);
    let result = each_message(stream, |msg| {
        if let Some(status) = msg.status.as_deref() {
            tty.show(msg.id.as_deref(), status, msg.progress.as_deref());
        }
        Ok(())
    })
    .await;
    tty.finish();
    result
}

/// docker's terminal view of a progress stream: one line per id (a layer, the tag), updated
/// in place; messages without an id print above them.
pub struct TtyProgress {
    multi: MultiProgress,
    lines: HashMap<String, ProgressBar>,
    style: ProgressStyle,
}

impl TtyProgress {
    pub fn new(target: ProgressDrawTarget) -> Self {
        Self::within(MultiProgress::with_draw_target(target))
    }

    /// Lines added to a view drawn already (the build's).
    pub fn within(multi: MultiProgress) -> Self {
        Self {
            multi,
            lines: HashMap::new(),
            style: ProgressStyle::with_template("{prefix}: {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        }
    }

    pub fn show(&mut self, id: Option<&str>, status: &str, progress: Option<&str>) {
        let text = match progress.filter(|p| !p.is_empty()) {
            Some(p) => format!("{status} {p}"),
            None => status.to_string(),
        };
        match id.filter(|id| !id.is_empty()) {
            Some(id) => {
                let line = self.lines.entry(id.to_string()).or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(self.style.clone());
                    bar.set_prefix(id.to_string());
                    bar
                });
                line.set_message(text);
            }
            None => {
                let _ = self.multi.println(text);
            }
        }
    }

    /// Leaves every line as it last read.
    pub fn finish(&self) {
        for line in self.lines.values() {
            line.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::InMemoryTerm;

    #[test]
    fn layers_are_rewritten_in_place_and_plain_lines_go_above() {
        let term = InMemoryTerm::new(20, 100);
        let mut tty = TtyProgress::new(ProgressDrawTarget::term_like(Box::new(term.clone())));
        tty.show(Some("v1"), "Pulling from e2e/app", None);
        tty.show(Some("aaaa"), "Pulling fs layer", None);
        tty.show(Some("bbbb"), "Pulling fs layer", None);
        tty.show(
            Some("aaaa"),
            "Downloading",
            Some("[=====>     ]  1.2MB/2.4MB"),
        );
        tty.show(Some("aaaa"), "Pull complete", None);
        tty.show(Some("bbbb"), "Already exists", None);
        tty.show(None, "Digest: sha256:1234", None);
        tty.finish();
        let screen = term.contents();
        let lines: Vec<&str> = screen
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(
            lines,
            vec![
                "Digest: sha256:1234",
                "v1: Pulling from e2e/app",
                "aaaa: Pull complete",
                "bbbb: Already exists",
            ],
            "{screen}"
        );
    }
}

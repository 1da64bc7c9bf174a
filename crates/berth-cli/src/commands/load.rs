//! `load [-i FILE] [-q]`: an image archive from a file or stdin.

use std::io::{IsTerminal, Write};

use clap::Args;

use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub args: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: LoadArgs) -> CliResult {
    Arity::None.check(path, args.args.len())?;
    let body = match args.input.as_deref().filter(|i| !i.is_empty()) {
        None => {
            if std::io::stdin().is_terminal() {
                return Err(CliError::status(
                    1,
                    "requested load from stdin, but stdin is empty",
                ));
            }
            berth_client::body::from_reader(tokio::io::stdin())
        }
        Some(file) => {
            let f = tokio::fs::File::open(file).await.map_err(|e| {
                CliError::status(1, format!("open {file}: {}", e.to_string().to_lowercase()))
            })?;
            berth_client::body::from_reader(f)
        }
    };
    // As docker: without a terminal the daemon is asked not to send progress.
    let quiet = args.quiet || !std::io::stdout().is_terminal();
    let mut stream = ctx.client.image_load(body, quiet).await?;
    let mut out = std::io::stdout();
    while let Some(msg) = stream.next().await {
        let msg = msg?;
        if let Some(err) = msg
            .error_detail
            .as_ref()
            .map(|d| d.message.clone())
            .filter(|m| !m.is_empty())
            .or(msg.error.clone())
        {
            return Err(CliError::status(1, err));
        }
        if let Some(text) = msg.stream.as_deref() {
            write!(out, "{text}")?;
        } else if let Some(status) = msg.status.as_deref() {
            writeln!(out, "{status}")?;
        }
    }
    out.flush()?;
    Ok(())
}

//! `logs`: a container's output, demultiplexed unless it has a TTY.

use clap::Args;
use tokio::io::AsyncWriteExt;

use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use crate::format::timefmt::get_timestamp;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    pub container: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: LogsArgs) -> CliResult {
    Arity::Exactly(1).check(path, args.container.len())?;
    let name = &args.container[0];
    let info = ctx.client.container_inspect(name).await?;
    let tty = info
        .pointer("/Config/Tty")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let now = chrono::Utc::now();
    let parse = |flag: &str, v: Option<&str>| {
        v.filter(|s| !s.is_empty())
            .map(|s| get_timestamp(s, now))
            .transpose()
            .map_err(|e| CliError::status(1, format!("invalid value for \"{flag}\": {e}")))
    };
    let since = parse("since", args.since.as_deref())?;
    let until = parse("until", args.until.as_deref())?;
    let opts = berth_client::LogsOptions {
        follow: args.follow,
        stdout: true,
        stderr: true,
        since,
        until,
        timestamps: args.timestamps,
        tail: Some(args.tail.clone()),
        details: args.details,
    };
    let mut body = ctx.client.container_logs(name, &opts).await?;
    let mut stdout = tokio::io::stdout();
    if tty {
        tokio::io::copy(&mut body, &mut stdout).await?;
        stdout.flush().await?;
    } else {
        let mut stderr = tokio::io::stderr();
        berth_client::demux(body, &mut stdout, &mut stderr).await?;
    }
    Ok(())
}

//! `compose logs`: every service container's output, prefixed.

use berth_compose::engine::state::OneOff;
use clap::Args;
use futures::future::join_all;

use super::common;
use super::logprint::{short_name, LogPrinter};
use super::ComposeArgs;
use crate::error::{CliError, CliResult};
use crate::format::timefmt::get_timestamp;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// index of the container if service has multiple replicas
    #[arg(long)]
    pub index: Option<i64>,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    pub services: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &LogsArgs) -> CliResult {
    let (name, project) = common::project_or_name(compose, &args.services)?;
    common::check_services(project.as_ref(), &args.services)?;
    let engine = common::engine(host, true)?;
    let mut list =
        common::containers(&engine, &name, &args.services, true, OneOff::Exclude).await?;
    if let Some(i) = args.index {
        list.retain(|c| c.number() == i);
    }
    let now = chrono::Utc::now();
    let parse = |flag: &str, v: Option<&str>| {
        v.filter(|s| !s.is_empty())
            .map(|s| get_timestamp(s, now))
            .transpose()
            .map_err(|e| CliError::status(1, format!("invalid value for \"{flag}\": {e}")))
    };
    let since = parse("since", args.since.as_deref())?;
    let until = parse("until", args.until.as_deref())?;
    let names: Vec<String> = list.iter().map(|c| short_name(&name, &c.name())).collect();
    let printer = LogPrinter::new(&names, args.no_color, args.no_log_prefix);
    let jobs = list.iter().enumerate().map(|(i, c)| {
        let printer = printer.clone();
        let engine = &engine;
        let opts = berth_client::LogsOptions {
            follow: args.follow,
            stdout: true,
            stderr: true,
            since: since.clone(),
            until: until.clone(),
            timestamps: args.timestamps,
            tail: Some(args.tail.clone()),
            details: false,
        };
        let short = names[i].clone();
        async move {
            let info = engine.client.container_inspect(c.id()).await?;
            let tty = info
                .pointer("/Config/Tty")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let body = engine.client.container_logs(c.id(), &opts).await?;
            printer.copy(&short, i, body, tty).await?;
            Ok::<(), CliError>(())
        }
    });
    let results = join_all(jobs).await;
    results
        .into_iter()
        .collect::<CliResult<Vec<()>>>()
        .map(|_| ())
}

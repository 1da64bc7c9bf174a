//! `compose restart`: restart the project's containers, dependencies first.

use clap::Args;

use super::{lifecycle, ComposeArgs};
use crate::error::CliResult;

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Don't restart dependent services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
    pub services: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &RestartArgs) -> CliResult {
    let (engine, project, list) = lifecycle::select(host, compose, &args.services, true).await?;
    let e = &engine;
    let t = args.timeout;
    lifecycle::each(e, project.as_ref(), &list, false, |c| async move {
        e.progress.container(&c.name(), "Restarting");
        e.client.container_restart(c.id(), None, t).await?;
        e.progress.container(&c.name(), "Started");
        Ok(())
    })
    .await
}

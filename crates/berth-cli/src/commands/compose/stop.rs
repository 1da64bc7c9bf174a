//! `compose stop`: stop the project's running containers, dependents first.

use clap::Args;

use super::common::engine_err;
use super::{lifecycle, ComposeArgs};
use crate::error::CliResult;

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
    pub services: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &StopArgs) -> CliResult {
    let (engine, project, list) = lifecycle::select(host, compose, &args.services, false).await?;
    let e = &engine;
    let t = args.timeout;
    let p = project.as_ref();
    lifecycle::each(e, project.as_ref(), &list, true, |c| async move {
        e.progress.container(&c.name(), "Stopping");
        e.stop_with_hooks(p, &c, t).await.map_err(engine_err)?;
        e.progress.container(&c.name(), "Stopped");
        Ok(())
    })
    .await
}

//! `compose start`: start the project's existing containers, dependencies first.

use clap::Args;

use super::{lifecycle, ComposeArgs};
use crate::error::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Wait for services to be running|healthy. Implies detached mode.
    #[arg(long)]
    pub wait: bool,
    pub services: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &StartArgs) -> CliResult {
    let (engine, project, list) = lifecycle::select(host, compose, &args.services, true).await?;
    if list.is_empty() {
        return Err(CliError::status(1, "service has no container to start"));
    }
    let e = &engine;
    lifecycle::each(e, project.as_ref(), &list, false, |c| async move {
        if c.running() {
            return Ok(());
        }
        e.progress.container(&c.name(), "Starting");
        e.client.container_start(c.id(), None).await?;
        e.progress.container(&c.name(), "Started");
        Ok(())
    })
    .await
}

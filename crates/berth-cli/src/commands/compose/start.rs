//! `compose start`: start the project's existing containers, dependencies first.

use clap::Args;

use super::common::engine_err;
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
    let p = project.as_ref();
    lifecycle::each(e, project.as_ref(), &list, false, |c| async move {
        if c.running() {
            return Ok(());
        }
        let s = p.and_then(|p| Some((p, p.services.get(c.service())?)));
        if let Some((p, s)) = s {
            e.inject_files(p, s, c.id()).await.map_err(engine_err)?;
        }
        e.progress.container(&c.name(), "Starting");
        e.client.container_start(c.id(), None).await?;
        if let Some((_, s)) = s {
            e.post_start_hooks(s, c.id()).await.map_err(engine_err)?;
        }
        e.progress.container(&c.name(), "Started");
        Ok(())
    })
    .await
}

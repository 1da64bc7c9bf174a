//! `compose pause` and `compose unpause`.

use clap::Args;

use super::{lifecycle, ComposeArgs};
use crate::error::CliResult;

#[derive(Debug, Args)]
pub struct PauseArgs {
    pub services: Vec<String>,
}

pub async fn run(
    host: Option<&str>,
    compose: &ComposeArgs,
    args: &PauseArgs,
    pause: bool,
) -> CliResult {
    let (engine, project, list) = lifecycle::select(host, compose, &args.services, false).await?;
    let e = &engine;
    lifecycle::each(e, project.as_ref(), &list, false, |c| async move {
        if pause {
            e.progress.container(&c.name(), "Pausing");
            e.client.container_pause(c.id()).await?;
            e.progress.container(&c.name(), "Paused");
        } else {
            e.progress.container(&c.name(), "Unpausing");
            e.client.container_unpause(c.id()).await?;
            e.progress.container(&c.name(), "Unpaused");
        }
        Ok(())
    })
    .await
}

//! `compose kill`: signal the project's running containers.

use clap::Args;

use super::{lifecycle, ComposeArgs};
use crate::error::CliResult;

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// SIGNAL to send to the container
    #[arg(short = 's', long, default_value = "SIGKILL")]
    pub signal: String,
    pub services: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &KillArgs) -> CliResult {
    let (engine, project, list) = lifecycle::select(host, compose, &args.services, false).await?;
    let e = &engine;
    let sig = args.signal.as_str();
    lifecycle::each(e, project.as_ref(), &list, true, |c| async move {
        e.progress.container(&c.name(), "Killing");
        e.client.container_kill(c.id(), Some(sig)).await?;
        e.progress.container(&c.name(), "Killed");
        Ok(())
    })
    .await
}

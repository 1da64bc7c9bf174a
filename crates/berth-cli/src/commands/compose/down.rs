//! `compose down`: stop and remove the project's containers, networks, and with `-v` its
//! volumes, with `--rmi` its images.

use berth_compose::engine::down::DownOptions;
use clap::Args;

use super::common::{self, engine_err};
use super::ComposeArgs;
use crate::error::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")
    #[arg(long)]
    pub rmi: Option<String>,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short = 'v', long)]
    pub volumes: bool,
    pub services: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &DownArgs) -> CliResult {
    if let Some(r) = &args.rmi {
        if r != "local" && r != "all" {
            return Err(CliError::status(1, format!("invalid value for --rmi: {r}")));
        }
    }
    let (name, project) = common::project_or_name(compose, &[])?;
    let engine = common::engine(host, common::quiet_progress(compose))?;
    let opts = DownOptions {
        remove_orphans: args.remove_orphans,
        volumes: args.volumes,
        rmi: args.rmi.clone(),
        timeout: args.timeout,
    };
    engine
        .down(&name, project.as_ref(), &opts)
        .await
        .map_err(engine_err)
}

//! `compose rm`: remove the project's stopped service containers (`-s` stops them first).

use std::io::{BufRead, Write};

use berth_compose::engine::state::OneOff;
use clap::Args;

use super::common::{self, engine_err};
use super::ComposeArgs;
use crate::error::CliResult;

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short = 's', long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short = 'v', long)]
    pub volumes: bool,
    pub services: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &RmArgs) -> CliResult {
    let (name, project) = common::project_or_name(compose, &args.services)?;
    common::check_services(project.as_ref(), &args.services)?;
    let engine = common::engine(host, common::quiet_progress(compose))?;
    let mut list =
        common::containers(&engine, &name, &args.services, true, OneOff::Exclude).await?;
    if args.stop {
        let running: Vec<_> = list.iter().filter(|c| c.running()).cloned().collect();
        engine
            .in_reverse_order(project.as_ref(), &running, |c| {
                engine.stop_containers(project.as_ref(), c, None)
            })
            .await
            .map_err(engine_err)?;
        list = common::containers(&engine, &name, &args.services, true, OneOff::Exclude).await?;
    }
    list.retain(|c| !c.running());
    if list.is_empty() {
        engine.progress.line("No stopped containers");
        return Ok(());
    }
    if !args.force && crate::term::stdin_is_tty() {
        let names: Vec<String> = list.iter().map(|c| c.name()).collect();
        eprint!(
            "Going to remove {}\n? Are you sure? (y/N) ",
            names.join(", ")
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    }
    engine
        .remove_containers(project.as_ref(), &list, None, args.volumes)
        .await
        .map_err(engine_err)
}

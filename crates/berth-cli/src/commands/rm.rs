//! `rm`: remove containers (up to 50 at once, as the docker CLI).

use clap::Args;

use crate::commands::for_each_name_parallel;
use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: RmArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.containers.len())?;
    let client = &ctx.client;
    let (force, volumes, link) = (args.force, args.volumes, args.link);
    // The docker CLI's `rm -f` of a container that does not exist prints the daemon's error but
    // does not fail.
    for_each_name_parallel(
        &args.containers,
        None,
        |e| force && e.is_not_found(),
        |name| async move {
            let name = name.trim_start_matches('/').to_string();
            client
                .container_remove(&name, force, volumes, link)
                .await
                .map(|_| Some(name))
        },
    )
    .await
}

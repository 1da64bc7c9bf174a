//! `kill`: send a signal (default SIGKILL) to running containers.

use clap::Args;

use crate::commands::for_each_name_parallel;
use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: KillArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.containers.len())?;
    let client = &ctx.client;
    let signal = args.signal.as_deref();
    for_each_name_parallel(
        &args.containers,
        None,
        |_| false,
        |name| async move {
            client
                .container_kill(&name, signal)
                .await
                .map(|_| Some(name))
        },
    )
    .await
}

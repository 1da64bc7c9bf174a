//! `stop`: stop running containers (SIGTERM, then SIGKILL after the timeout).

use clap::Args;

use crate::commands::for_each_name_parallel;
use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "timeout", alias = "time")]
    pub timeout: Option<i64>,
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: StopArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.containers.len())?;
    let client = &ctx.client;
    let (signal, timeout) = (args.signal.as_deref(), args.timeout);
    for_each_name_parallel(
        &args.containers,
        None,
        |_| false,
        |name| async move {
            client
                .container_stop(&name, signal, timeout)
                .await
                .map(|_| Some(name))
        },
    )
    .await
}

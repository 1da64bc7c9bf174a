//! `wait`: block until containers stop, print their exit codes.

use clap::Args;

use crate::commands::for_each_name;
use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};

#[derive(Debug, Args)]
pub struct WaitArgs {
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: WaitArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.containers.len())?;
    let client = &ctx.client;
    for_each_name(&args.containers, None, |name| async move {
        let status = client
            .container_wait(&name, Some("not-running"))
            .await?
            .result()
            .await?;
        Ok(Some(status.status_code.to_string()))
    })
    .await
}

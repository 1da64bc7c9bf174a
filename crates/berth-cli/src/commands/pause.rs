//! `pause` and `unpause`: freeze and thaw every process of the containers.

use clap::Args;

use crate::commands::for_each_name;
use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};

#[derive(Debug, Args)]
pub struct PauseArgs {
    pub containers: Vec<String>,
}

pub async fn pause(ctx: &Ctx, path: &str, args: PauseArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.containers.len())?;
    let client = &ctx.client;
    for_each_name(&args.containers, None, |name| async move {
        client.container_pause(&name).await?;
        Ok(Some(name))
    })
    .await
}

pub async fn unpause(ctx: &Ctx, path: &str, args: PauseArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.containers.len())?;
    let client = &ctx.client;
    for_each_name(&args.containers, None, |name| async move {
        client.container_unpause(&name).await?;
        Ok(Some(name))
    })
    .await
}

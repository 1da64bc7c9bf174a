//! `diff CONTAINER`: what changed in the container's filesystem, as `A`/`C`/`D` lines.

use berth_api::models::ChangeType;
use clap::Args;

use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub containers: Vec<String>,
}

fn letter(kind: ChangeType) -> char {
    match kind {
        ChangeType::_0 => 'C',
        ChangeType::_1 => 'A',
        ChangeType::_2 => 'D',
    }
}

pub async fn run(ctx: &Ctx, path: &str, args: DiffArgs) -> CliResult {
    Arity::Exactly(1).check(path, args.containers.len())?;
    let changes = ctx.client.container_changes(&args.containers[0]).await?;
    for c in changes {
        println!("{} {}", letter(c.kind), c.path);
    }
    Ok(())
}

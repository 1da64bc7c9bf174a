//! `tag SOURCE TARGET`.

use clap::Args;

use crate::commands::create::split_tag;
use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};

#[derive(Debug, Args)]
pub struct TagArgs {
    pub names: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: TagArgs) -> CliResult {
    Arity::Exactly(2).check(path, args.names.len())?;
    let (repo, tag) = split_tag(&args.names[1]);
    ctx.client
        .image_tag(
            &args.names[0],
            &repo,
            Some(tag.as_deref().unwrap_or("latest")),
        )
        .await?;
    Ok(())
}

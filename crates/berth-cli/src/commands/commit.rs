//! `commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`: a new image from a container's changes.

use clap::{ArgAction, Args};

use crate::commands::create::split_tag;
use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub pause: bool,
    pub args: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: CommitArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.args.len())?;
    Arity::AtMost(2).check(path, args.args.len())?;
    let (repo, tag) = match args.args.get(1) {
        Some(r) => {
            let (repo, tag) = split_tag(r);
            (Some(repo), tag)
        }
        None => (None, None),
    };
    let opts = berth_client::CommitOptions {
        repo,
        tag,
        comment: args.message.clone(),
        author: args.author.clone(),
        pause: args.pause,
        changes: args.change.clone(),
    };
    let id = ctx.client.container_commit(&args.args[0], &opts).await?;
    println!("{id}");
    Ok(())
}

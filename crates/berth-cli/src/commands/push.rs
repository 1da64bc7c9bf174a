//! `push [-q] [-a] [--compression gzip|zstd] NAME[:TAG]`: an image (or every local tag of a
//! repository) to a registry, with docker's progress lines.

use clap::Args;

use crate::commands::create::split_tag;
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Layer compression: gzip (default) or zstd (berth only)
    #[arg(long)]
    pub compression: Option<String>,
    pub args: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: PushArgs) -> CliResult {
    Arity::Exactly(1).check(path, args.args.len())?;
    let (repo, tag) = split_tag(&args.args[0]);
    if args.all_tags && tag.is_some() {
        return Err(CliError::status(1, "tag can't be used with --all-tags/-a"));
    }
    let tag = if args.all_tags {
        String::new()
    } else {
        tag.unwrap_or_else(|| "latest".into())
    };
    let domain = berth_types::Reference::parse_name_only(&repo)
        .map(|r| r.domain)
        .unwrap_or_default();
    let auth = crate::docker_config::registry_auth_header(&domain);
    let stream = ctx
        .client
        .image_push_with(&repo, &tag, &auth, args.compression.as_deref())
        .await?;
    if args.quiet {
        crate::jsonmessage::display(stream, &mut std::io::sink()).await?;
        println!("{}", args.args[0]);
    } else {
        crate::jsonmessage::display_stdout(stream).await?;
    }
    Ok(())
}

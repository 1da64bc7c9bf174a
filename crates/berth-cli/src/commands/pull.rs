//! `pull [-q] [-a] [--platform P] NAME[:TAG|@DIGEST]`: an image (or every tag of a repository)
//! from a registry, with docker's progress lines.

use clap::Args;

use crate::commands::create::split_tag;
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Download all tagged images in the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    pub args: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: PullArgs) -> CliResult {
    Arity::Exactly(1).check(path, args.args.len())?;
    let image = &args.args[0];
    let reference =
        berth_types::Reference::parse(image).map_err(|e| CliError::status(1, e.message))?;
    let (repo, tag) = match image.split_once('@') {
        Some((repo, digest)) => (repo.to_string(), Some(digest.to_string())),
        None => split_tag(image),
    };
    // docker's wording for `-a` with a tag or digest.
    if args.all_tags && tag.is_some() {
        return Err(CliError::status(1, "tag can't be used with --all-tags/-a"));
    }
    let tag = if args.all_tags {
        String::new()
    } else {
        tag.unwrap_or_else(|| "latest".into())
    };
    let auth = crate::docker_config::registry_auth_header(&reference.domain);
    let stream = ctx
        .client
        .image_pull_with(&repo, &tag, &auth, args.platform.as_deref())
        .await?;
    if args.quiet {
        crate::jsonmessage::display(stream, &mut std::io::sink()).await?;
    } else {
        crate::jsonmessage::display_stdout(stream).await?;
    }
    if args.all_tags {
        println!("{}", reference.name());
    } else {
        println!("{reference}");
    }
    Ok(())
}

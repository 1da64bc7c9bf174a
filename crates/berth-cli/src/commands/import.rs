//! `import`: a filesystem tarball (file, URL or `-` for stdin) into an image.

use clap::Args;

use crate::commands::create::split_tag;
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    pub args: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: ImportArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.args.len())?;
    Arity::AtMost(2).check(path, args.args.len())?;
    let source = &args.args[0];
    let (repo, tag) = match args.args.get(1) {
        Some(r) => {
            let (repo, tag) = split_tag(r);
            (Some(repo), tag)
        }
        None => (None, None),
    };
    let is_url = source.starts_with("http://") || source.starts_with("https://");
    let body = if source == "-" {
        berth_client::body::from_reader(tokio::io::stdin())
    } else if is_url {
        berth_client::body::empty()
    } else {
        let file = tokio::fs::File::open(source).await.map_err(|e| {
            CliError::status(
                1,
                format!("open {source}: {}", e.to_string().to_lowercase()),
            )
        })?;
        berth_client::body::from_reader(file)
    };
    let opts = berth_client::ImportOptions {
        source: if is_url { source.clone() } else { "-".into() },
        repo,
        tag,
        message: args.message.clone(),
        changes: args.change.clone(),
        platform: args.platform.clone(),
    };
    let stream = ctx.client.image_import(&opts, body).await?;
    crate::jsonmessage::display(stream, &mut std::io::stdout()).await
}

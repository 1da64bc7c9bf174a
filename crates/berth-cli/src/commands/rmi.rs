//! `rmi` / `image rm`.

use clap::Args;

use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    pub images: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: RmiArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.images.len())?;
    let mut errors = Vec::new();
    for name in &args.images {
        match ctx
            .client
            .image_remove(name, args.force, args.no_prune)
            .await
        {
            Ok(items) => {
                let mut out = String::new();
                for item in items {
                    if let Some(u) = item.untagged {
                        out.push_str(&format!("Untagged: {u}\n"));
                    }
                    if let Some(d) = item.deleted {
                        out.push_str(&format!("Deleted: {d}\n"));
                    }
                }
                ctx.out(&out)?;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::status(1, errors.join("\n")))
    }
}

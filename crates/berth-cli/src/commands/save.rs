//! `save [-o FILE] IMAGE...`: the image archive to a file or to a redirected stdout.

use std::io::IsTerminal;
use std::path::Path;

use clap::Args;
use tokio::io::AsyncWriteExt;

use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    pub images: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: SaveArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.images.len())?;
    let output = args.output.as_deref().filter(|o| !o.is_empty());
    if output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::status(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let mut body = ctx.client.image_save(&args.images).await?;
    match output {
        None => {
            let mut stdout = tokio::io::stdout();
            tokio::io::copy(&mut body, &mut stdout).await?;
            stdout.flush().await?;
            Ok(())
        }
        Some(file) => save_to_file(&mut body, Path::new(file)).await,
    }
}

/// Writes next to `target` and renames into place only when the whole archive arrived, as
/// docker's atomic writer does; a failed save leaves no partial file.
async fn save_to_file(body: &mut berth_client::BodyReader, target: &Path) -> CliResult {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let failed = |e: std::io::Error| CliError::status(1, format!("failed to save image: {e}"));
    let result = async {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .await
            .map_err(failed)?;
        tokio::io::copy(body, &mut file).await?;
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(&tmp, target).await.map_err(failed)?;
        Ok(())
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

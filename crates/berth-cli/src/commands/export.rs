//! `export [-o FILE] CONTAINER`: the container's filesystem as a tar archive.

use std::io::IsTerminal;

use clap::Args;

use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use crate::output_file;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: ExportArgs) -> CliResult {
    Arity::Exactly(1).check(path, args.containers.len())?;
    let output = args.output.as_deref().filter(|o| !o.is_empty());
    match output {
        None if std::io::stdout().is_terminal() => {
            return Err(CliError::status(
                1,
                "cowardly refusing to save to a terminal. Use the -o flag or redirect",
            ))
        }
        Some(file) => output_file::validate(file)
            .map_err(|e| CliError::status(1, format!("failed to export container: {e}")))?,
        None => {}
    }
    let body = ctx.client.container_export(&args.containers[0]).await?;
    match output {
        None => output_file::copy_to_stdout(body).await,
        Some(file) => output_file::copy_to_file(file, body).await,
    }
}

//! `rename CONTAINER NEW_NAME`.

use clap::Args;

use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};

#[derive(Debug, Args)]
pub struct RenameArgs {
    pub names: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: RenameArgs) -> CliResult {
    Arity::Exactly(2).check(path, args.names.len())?;
    let new_name = args.names[1].trim_start_matches('/');
    if new_name.is_empty() {
        return Err(CliError::status(
            1,
            "Error: neither old nor new names may be empty",
        ));
    }
    ctx.client
        .container_rename(&args.names[0], new_name)
        .await?;
    Ok(())
}

//! `update [OPTIONS] CONTAINER [CONTAINER...]`: change resource limits and the restart policy.

use berth_api::models::HostConfig;
use clap::Args;

use crate::container_opts::parse_restart;
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use crate::resource_opts::ResourceOpts;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub resources: ResourceOpts,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: UpdateArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.containers.len())?;
    if !args.resources.any() && args.restart.is_none() {
        return Err(CliError::status(
            1,
            "you must provide one or more flags when using this command",
        ));
    }
    let mut changes = HostConfig::default();
    let invalid = |e: crate::container_opts::OptsError| CliError::status(125, e.to_string());
    args.resources.apply(&mut changes).map_err(invalid)?;
    if let Some(r) = &args.restart {
        changes.restart_policy = Some(parse_restart(r).map_err(invalid)?);
    }
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for name in &args.containers {
        match ctx.client.container_update(name, &changes).await {
            Ok(r) => {
                ctx.outln(name)?;
                warnings.extend(r.warnings.unwrap_or_default());
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !warnings.is_empty() {
        ctx.outln(&warnings.join("\n"))?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::status(1, errors.join("\n")))
    }
}

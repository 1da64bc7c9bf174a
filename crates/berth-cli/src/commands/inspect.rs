//! `inspect`: the daemon's JSON for containers and images, or `-f` templates over it.

use clap::Args;

use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use crate::format::inspect::Inspected;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// Only inspect objects of the given type
    #[arg(long = "type")]
    pub kind: Option<String>,
    pub names: Vec<String>,
}

async fn fetch(ctx: &Ctx, kind: Option<&str>, name: &str, size: bool) -> Result<Vec<u8>, String> {
    let not_found = |what: &str| format!("Error: No such {what}: {name}");
    match kind {
        // with a type, docker reports the daemon's own error
        Some("container") => ctx
            .client
            .container_inspect_raw(name, size)
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string()),
        Some("image") => ctx
            .client
            .image_inspect_raw(name)
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string()),
        Some("network") => ctx
            .client
            .network_inspect_raw(name)
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string()),
        _ => match ctx.client.container_inspect_raw(name, size).await {
            Ok(b) => Ok(b.to_vec()),
            Err(e) if e.is_not_found() => match ctx.client.image_inspect_raw(name).await {
                Ok(b) => Ok(b.to_vec()),
                Err(e) if e.is_not_found() => match ctx.client.network_inspect_raw(name).await {
                    Ok(b) => Ok(b.to_vec()),
                    Err(e) if e.is_not_found() => Err(not_found("object")),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        },
    }
}

pub async fn run(ctx: &Ctx, path: &str, args: InspectArgs, fixed_kind: Option<&str>) -> CliResult {
    Arity::AtLeast(1).check(path, args.names.len())?;
    let kind = fixed_kind.or(args.kind.as_deref());
    if let Some(k) = kind {
        if !matches!(k, "container" | "image" | "network") {
            return Err(CliError::status(
                1,
                format!("\"{k}\" is not a valid value for --type"),
            ));
        }
    }
    // docker fails early on a connection error instead of reporting "No such object"
    ctx.client.api_version().await?;
    let mut inspected = Inspected::new(args.format.as_deref())?;
    for name in &args.names {
        inspected.add(fetch(ctx, kind, name, args.size).await)?;
    }
    inspected.print(ctx)
}

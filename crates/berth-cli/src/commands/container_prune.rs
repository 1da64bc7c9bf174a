//! `container prune`: remove all stopped containers, after docker's confirmation prompt.

use clap::Args;

use crate::commands::image_prune::confirm;
use crate::commands::parse_filters;
use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};
use berth_types::gocompat::units::human_size_with_precision;

const WARNING: &str =
    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?";

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    pub rest: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: PruneArgs) -> CliResult {
    Arity::None.check(path, args.rest.len())?;
    let filters = parse_filters(&args.filter)?;
    if !args.force && !confirm(WARNING)? {
        return Ok(());
    }
    let report = ctx.client.container_prune(&filters).await?;
    let deleted = report.containers_deleted.unwrap_or_default();
    let mut out = String::new();
    if !deleted.is_empty() {
        out.push_str("Deleted Containers:\n");
        for id in &deleted {
            out.push_str(id);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}",
        human_size_with_precision(report.space_reclaimed.unwrap_or(0) as f64, 4)
    ));
    ctx.outln(&out)
}

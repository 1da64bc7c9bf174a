//! `builder prune [-a] [-f] [--filter until=...]`: remove build cache.

use clap::Args;

use crate::commands::image_prune::confirm;
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use berth_types::gocompat::units::human_size_with_precision;

#[derive(Debug, Args)]
pub struct BuildPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    pub rest: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: BuildPruneArgs) -> CliResult {
    Arity::None.check("builder prune", args.rest.len())?;
    let mut until = None;
    for f in &args.filter {
        match f.split_once('=') {
            Some(("until", v)) => until = Some(v.to_string()),
            _ => return Err(CliError::status(1, format!("invalid filter '{f}'"))),
        }
    }
    let warning = if args.all {
        "WARNING! This will remove all build cache.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling build cache.\nAre you sure you want to continue?"
    };
    if !args.force && !confirm(warning)? {
        return Ok(());
    }
    let report = ctx.client.build_prune(args.all, until).await?;
    let deleted: Vec<String> = report
        .get("CachesDeleted")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted build cache objects:");
        for d in &deleted {
            println!("{d}");
        }
        println!();
    }
    let reclaimed = report
        .get("SpaceReclaimed")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    println!(
        "Total reclaimed space: {}",
        human_size_with_precision(reclaimed as f64, 3)
    );
    Ok(())
}

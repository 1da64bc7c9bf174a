//! `image prune`: remove unused images, after docker's confirmation prompt.

use std::io::{BufRead, Write};

use clap::Args;

use crate::commands::parse_filters;
use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};
use berth_types::gocompat::units::human_size_with_precision;

const ALL_IMAGES_WARNING: &str = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?";
const DANGLING_WARNING: &str =
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue?";

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    pub rest: Vec<String>,
}

/// docker's `PromptForConfirmation`: prints the question, reads one line, true only for "y".
pub fn confirm(message: &str) -> CliResult<bool> {
    let mut out = std::io::stdout();
    write!(out, "{message} [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim().eq_ignore_ascii_case("y"))
}

/// The `Deleted Images:` block docker prints, or nothing when nothing was deleted.
pub fn deleted_block(items: &[berth_api::models::ImageDeleteResponseItem]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut s = String::from("Deleted Images:\n");
    for item in items {
        match (&item.untagged, &item.deleted) {
            (Some(u), _) if !u.is_empty() => s.push_str(&format!("untagged: {u}\n")),
            (_, Some(d)) => s.push_str(&format!("deleted: {d}\n")),
            _ => {}
        }
    }
    s
}

pub async fn run(ctx: &Ctx, path: &str, args: PruneArgs) -> CliResult {
    Arity::None.check(path, args.rest.len())?;
    let mut filters = parse_filters(&args.filter)?;
    filters.add("dangling", if args.all { "false" } else { "true" });
    let warning = if args.all {
        ALL_IMAGES_WARNING
    } else {
        DANGLING_WARNING
    };
    // A refusal is not an error: docker exits 0 without a word.
    if !args.force && !confirm(warning)? {
        return Ok(());
    }
    let report = ctx.client.image_prune(&filters).await?;
    let items = report.images_deleted.unwrap_or_default();
    let block = deleted_block(&items);
    let reclaimed = if items.is_empty() {
        0
    } else {
        report.space_reclaimed.unwrap_or(0)
    };
    if !block.is_empty() {
        ctx.outln(&block)?;
    }
    ctx.outln(&format!(
        "Total reclaimed space: {}",
        human_size_with_precision(reclaimed as f64, 4)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::models::ImageDeleteResponseItem;

    #[test]
    fn deleted_block_lists_untagged_then_deleted() {
        let items = vec![
            ImageDeleteResponseItem {
                untagged: Some("app:1".into()),
                deleted: None,
            },
            ImageDeleteResponseItem {
                untagged: None,
                deleted: Some("sha256:abc".into()),
            },
        ];
        assert_eq!(
            deleted_block(&items),
            "Deleted Images:\nuntagged: app:1\ndeleted: sha256:abc\n"
        );
        assert_eq!(deleted_block(&[]), "");
    }
}

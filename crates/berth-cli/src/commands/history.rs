//! `history`: an image's layers.

use clap::{ArgAction, Args};
use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};
use crate::format::strings::{ellipsis, truncate_id};
use crate::format::table::{render_rows, TableSpec};
use berth_types::gocompat::units::{human_duration, human_size_with_precision};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = true, action = ArgAction::Set)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    pub image: Vec<String>,
}

const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];
const DEFAULT: &str = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

pub async fn run(ctx: &Ctx, path: &str, args: HistoryArgs) -> CliResult {
    Arity::Exactly(1).check(path, args.image.len())?;
    let items = ctx.client.image_history(&args.image[0]).await?;
    let now = chrono::Utc::now().timestamp();
    let trunc = !args.no_trunc;
    let rows: Vec<Value> = items
        .iter()
        .map(|h| {
            let id = if h.id == "<missing>" || !trunc { h.id.clone() } else { truncate_id(&h.id) };
            let created_by = h.created_by.replace('\t', " ");
            let created_by = if trunc { ellipsis(&created_by, 45) } else { created_by };
            let created_at = chrono::DateTime::from_timestamp(h.created, 0)
                .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%dT%H:%M:%S%:z").to_string())
                .unwrap_or_default();
            let (since, size) = if args.human {
                (format!("{} ago", human_duration(std::time::Duration::from_secs((now - h.created).max(0) as u64))), human_size_with_precision(h.size as f64, 3))
            } else {
                (created_at.clone(), h.size.to_string())
            };
            json!({"ID": id, "CreatedSince": since, "CreatedAt": created_at, "CreatedBy": created_by, "Size": size, "Comment": h.comment})
        })
        .collect();
    let spec = TableSpec {
        default: DEFAULT,
        headers: HEADERS,
    };
    ctx.out(&render_rows(
        &spec,
        args.format.as_deref(),
        args.quiet,
        &rows,
    )?)
}

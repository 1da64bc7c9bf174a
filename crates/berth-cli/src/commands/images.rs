//! `images` / `image ls`: the image table.

use berth_api::models::ImageSummary;
use clap::Args;
use serde_json::{json, Value};

use crate::commands::parse_filters;
use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};
use crate::format::strings::truncate_id;
use crate::format::table::{render_rows, TableSpec};
use crate::format::timefmt::go_time_string;
use berth_types::gocompat::units::{human_duration, human_size, human_size_with_precision};

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub reference: Vec<String>,
}

pub const HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("ID", "IMAGE ID"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("VirtualSize", "SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("Containers", "CONTAINERS"),
];

const DEFAULT: &str = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DEFAULT_DIGESTS: &str =
    "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

fn split_repo_tag(rt: &str) -> (String, String) {
    match rt.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
        _ => (rt.to_string(), "<none>".to_string()),
    }
}

/// One row per tag (or one `<none>` row), as docker's image context.
pub fn rows(img: &ImageSummary, trunc: bool, now: i64) -> Vec<Value> {
    let id = if trunc {
        truncate_id(&img.id)
    } else {
        img.id.clone()
    };
    let size = human_size_with_precision(img.size as f64, 3);
    // docker prints these two with units.HumanSize (4 digits), unlike SIZE (3).
    let shared = if img.shared_size < 0 {
        "N/A".to_string()
    } else {
        human_size(img.shared_size as f64)
    };
    let unique = if img.shared_size < 0 {
        "N/A".to_string()
    } else {
        human_size((img.size - img.shared_size) as f64)
    };
    let containers = if img.containers < 0 {
        "N/A".to_string()
    } else {
        img.containers.to_string()
    };
    let digest_for = |repo: &str| {
        img.repo_digests
            .iter()
            .find_map(|d| {
                d.split_once('@')
                    .filter(|(r, _)| *r == repo)
                    .map(|(_, dg)| dg.to_string())
            })
            .unwrap_or_else(|| "<none>".to_string())
    };
    let mut tags: Vec<(String, String)> = img
        .repo_tags
        .iter()
        .filter(|t| *t != "<none>:<none>")
        .map(|t| split_repo_tag(t))
        .collect();
    if tags.is_empty() {
        tags.push(("<none>".into(), "<none>".into()));
    }
    tags.into_iter()
        .map(|(repo, tag)| {
            json!({
                "Containers": containers,
                "CreatedAt": go_time_string(img.created),
                "CreatedSince": format!("{} ago", human_duration(std::time::Duration::from_secs((now - img.created).max(0) as u64))),
                "Digest": digest_for(&repo),
                "ID": id,
                "Repository": repo,
                "SharedSize": shared,
                "Size": size,
                "Tag": tag,
                "UniqueSize": unique,
                "VirtualSize": human_size(img.size as f64),
            })
        })
        .collect()
}

pub async fn run(ctx: &Ctx, path: &str, args: ImagesArgs) -> CliResult {
    Arity::AtMost(1).check(path, args.reference.len())?;
    let mut filters = parse_filters(&args.filter)?;
    if let Some(r) = args.reference.first() {
        filters.add("reference", r);
    }
    let images = ctx
        .client
        .image_list(args.all, args.digests, &filters)
        .await?;
    let now = chrono::Utc::now().timestamp();
    let mut all_rows: Vec<Value> = images
        .iter()
        .flat_map(|i| rows(i, !args.no_trunc, now))
        .collect();
    if args.quiet {
        // -q lists each image once
        let mut seen = std::collections::HashSet::new();
        all_rows.retain(|r| seen.insert(r["ID"].as_str().unwrap_or_default().to_string()));
    }
    let default = if args.digests {
        DEFAULT_DIGESTS
    } else {
        DEFAULT
    };
    let spec = TableSpec {
        default,
        headers: HEADERS,
    };
    ctx.out(&render_rows(
        &spec,
        args.format.as_deref(),
        args.quiet,
        &all_rows,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_and_untagged_rows() {
        let img = ImageSummary {
            id: "sha256:c8072aa6a3e70d058ce9f0697888269b".into(),
            repo_tags: vec!["busybox:latest".into(), "reg:5000/bb:1".into()],
            created: 100,
            size: 1_984_172,
            shared_size: -1,
            containers: -1,
            ..Default::default()
        };
        let r = rows(&img, true, 105);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0]["Repository"].as_str(), r[0]["Tag"].as_str()),
            (Some("busybox"), Some("latest"))
        );
        assert_eq!(r[1]["Repository"], "reg:5000/bb");
        assert_eq!(r[0]["ID"], "c8072aa6a3e7");
        assert_eq!(r[0]["Size"], "1.98MB");
        assert_eq!(r[0]["CreatedSince"], "5 seconds ago");
        let untagged = ImageSummary {
            repo_tags: vec![],
            ..img
        };
        assert_eq!(rows(&untagged, true, 105)[0]["Tag"], "<none>");
    }
}

//! `compose images`: the images the project's containers use.

use berth_compose::engine::state::OneOff;
use clap::Args;
use serde_json::json;

use super::common;
use super::ComposeArgs;
use crate::error::CliResult;
use crate::format::tabwriter;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Only display IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &ImagesArgs) -> CliResult {
    let (name, project) = common::project_or_name(compose, &args.services)?;
    common::check_services(project.as_ref(), &args.services)?;
    let engine = common::engine(host, true)?;
    let mut list =
        common::containers(&engine, &name, &args.services, true, OneOff::Exclude).await?;
    list.sort_by_key(|c| c.name());
    let mut rows = Vec::new();
    for c in &list {
        let image_id = c.summary.image_id.clone().unwrap_or_default();
        let raw = engine.client.image_inspect_raw(&image_id).await?;
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
        let image = c.summary.image.clone().unwrap_or_default();
        let (repo, tag) = match image.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
            _ => (image.clone(), "latest".to_string()),
        };
        let size = v["Size"].as_i64().unwrap_or(0);
        rows.push(json!({
            "ID": image_id,
            "ContainerName": c.name(),
            "Repository": repo,
            "Tag": tag,
            "Size": size,
        }));
    }
    let ctx = crate::ctx::Ctx::new(host)?;
    if args.quiet {
        let mut ids: Vec<String> = rows
            .iter()
            .map(|r| r["ID"].as_str().unwrap_or_default().to_string())
            .collect();
        ids.dedup();
        return ctx.out(&ids.iter().map(|i| format!("{i}\n")).collect::<String>());
    }
    if args.format == "json" {
        return ctx.outln(&serde_json::to_string(&rows)?);
    }
    let mut text = String::from("CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE\n");
    for r in &rows {
        let id = r["ID"].as_str().unwrap_or_default();
        let short: String = id.trim_start_matches("sha256:").chars().take(12).collect();
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            r["ContainerName"].as_str().unwrap_or_default(),
            r["Repository"].as_str().unwrap_or_default(),
            r["Tag"].as_str().unwrap_or_default(),
            short,
            berth_types::gocompat::units::human_size_with_precision(
                r["Size"].as_i64().unwrap_or(0) as f64,
                3
            )
        ));
    }
    ctx.out(&tabwriter::align(&text))
}

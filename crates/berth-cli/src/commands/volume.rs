//! `volume create|ls|inspect|rm|prune`.

use std::collections::HashMap;

use berth_api::volume::VolumeCreateOptions;
use clap::Args;
use serde_json::{json, Value};

use crate::commands::image_prune::confirm;
use crate::commands::{for_each_name, parse_filters};
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use crate::format::inspect::Inspected;
use crate::format::table::{render_rows, TableSpec};
use berth_types::gocompat::units::human_size_with_precision;

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Specify volume name
    #[arg(long)]
    pub name: Option<String>,
    pub rest: Vec<String>,
}

fn key_values(items: &[String]) -> HashMap<String, String> {
    items
        .iter()
        .map(|i| {
            let (k, v) = i.split_once('=').unwrap_or((i, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

pub async fn create(ctx: &Ctx, path: &str, args: CreateArgs) -> CliResult {
    Arity::AtMost(1).check(path, args.rest.len())?;
    let name = match (args.name, args.rest.first()) {
        (Some(n), Some(p)) if n != *p => {
            return Err(CliError::status(
                1,
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg".to_string(),
            ))
        }
        (n, p) => n.or_else(|| p.cloned()),
    };
    let v = ctx
        .client
        .volume_create(&VolumeCreateOptions {
            name,
            driver: Some(args.driver),
            driver_opts: Some(key_values(&args.opt)),
            labels: Some(key_values(&args.label)),
            ..Default::default()
        })
        .await?;
    ctx.outln(&v.name)
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub rest: Vec<String>,
}

const LS_DEFAULT: &str = "table {{.Driver}}\t{{.Name}}";
const LS_HEADERS: &[(&str, &str)] = &[
    ("Driver", "DRIVER"),
    ("Name", "VOLUME NAME"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Scope", "SCOPE"),
    ("Labels", "LABELS"),
    ("Size", "SIZE"),
    ("Links", "LINKS"),
];

pub async fn ls(ctx: &Ctx, path: &str, args: LsArgs) -> CliResult {
    Arity::None.check(path, args.rest.len())?;
    let filters = parse_filters(&args.filter)?;
    let mut volumes = ctx
        .client
        .volume_list(&filters)
        .await?
        .volumes
        .unwrap_or_default();
    volumes.sort_by(|a, b| a.name.cmp(&b.name));
    let rows: Vec<Value> = volumes
        .iter()
        .map(|v| {
            let mut labels: Vec<String> = v
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            labels.sort();
            json!({
                "Driver": v.driver,
                "Name": v.name,
                "ID": v.name,
                "Mountpoint": v.mountpoint,
                "Scope": v.scope,
                "Labels": labels.join(","),
                "Size": "N/A",
                "Links": "N/A",
            })
        })
        .collect();
    let spec = TableSpec {
        default: LS_DEFAULT.trim_start_matches("table "),
        headers: LS_HEADERS,
    };
    let format = if args.quiet {
        Some("{{.Name}}")
    } else {
        args.format.as_deref()
    };
    ctx.out(&render_rows(&spec, format, false, &rows)?)
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    pub names: Vec<String>,
}

pub async fn inspect(ctx: &Ctx, path: &str, args: InspectArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.names.len())?;
    let mut inspected = Inspected::new(args.format.as_deref())?;
    for name in &args.names {
        let found = ctx.client.volume_inspect_raw(name).await;
        inspected.add(found.map(|raw| raw.to_vec()).map_err(|e| e.to_string()))?;
    }
    inspected.print(ctx)
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    pub names: Vec<String>,
}

pub async fn rm(ctx: &Ctx, path: &str, args: RmArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.names.len())?;
    for_each_name(&args.names, None, |name| async move {
        ctx.client.volume_remove(&name, args.force).await?;
        Ok(Some(name))
    })
    .await
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    pub rest: Vec<String>,
}

const PRUNE_WARNING: &str =
    "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?";
const PRUNE_ALL_WARNING: &str =
    "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?";

pub async fn prune(ctx: &Ctx, path: &str, args: PruneArgs) -> CliResult {
    Arity::None.check(path, args.rest.len())?;
    let mut filters = parse_filters(&args.filter)?;
    if args.all {
        filters.add("all", "true");
    }
    let warning = if args.all {
        PRUNE_ALL_WARNING
    } else {
        PRUNE_WARNING
    };
    if !args.force && !confirm(warning)? {
        return Ok(());
    }
    let report = ctx.client.volume_prune(&filters).await?;
    let deleted = report.volumes_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        let mut block = String::from("Deleted Volumes:\n");
        for d in &deleted {
            block.push_str(d);
            block.push('\n');
        }
        ctx.outln(&block)?;
    }
    ctx.outln(&format!(
        "Total reclaimed space: {}",
        human_size_with_precision(report.space_reclaimed.unwrap_or(0) as f64, 4)
    ))
}

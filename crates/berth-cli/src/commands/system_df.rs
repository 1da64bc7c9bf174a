//! `system df`: disk usage per object type, or per object with `-v`, as docker 28 prints it.

use berth_api::models::{ContainerSummary, ImageSummary, SystemDataUsageResponse};
use clap::Args;
use serde_json::{json, Value};

use crate::commands::{images, ps};
use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};
use crate::format::table::{render_rows, TableSpec};
use berth_types::gocompat::units::human_size_with_precision;

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    pub rest: Vec<String>,
}

const SUMMARY: TableSpec<'static> = TableSpec {
    default: "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    headers: &[
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ],
};
const IMAGES: &str = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const CONTAINERS: &str = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
const VOLUMES: TableSpec<'static> = TableSpec {
    default: "{{.Name}}\t{{.Links}}\t{{.Size}}",
    headers: &[
        ("Name", "VOLUME NAME"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
    ],
};
const BUILD_CACHE: TableSpec<'static> = TableSpec {
    default: "{{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
    headers: &[
        ("ID", "CACHE ID"),
        ("CacheType", "CACHE TYPE"),
        ("Size", "SIZE"),
        ("CreatedSince", "CREATED"),
        ("LastUsedSince", "LAST USED"),
        ("UsageCount", "USAGE"),
        ("Shared", "SHARED"),
    ],
};

fn size(v: i64) -> String {
    human_size_with_precision(v as f64, 4)
}

/// `"<size> (<pct>%)"`, or just the size when the total is 0.
fn reclaimable(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!("{} ({}%)", size(reclaimable), reclaimable * 100 / total)
    } else {
        size(reclaimable)
    }
}

fn summary_row(kind: &str, total: usize, active: usize, bytes: i64, reclaim: String) -> Value {
    json!({
        "Type": kind,
        "TotalCount": total.to_string(),
        "Active": active.to_string(),
        "Size": size(bytes),
        "Reclaimable": reclaim,
    })
}

fn container_active(c: &ContainerSummary) -> bool {
    let state = c.state.as_deref().unwrap_or_default();
    ["running", "paused", "restarting"]
        .iter()
        .any(|s| state.contains(s))
}

/// One row per type, as docker's DiskUsageContext computes them from the raw answer.
pub fn summary_rows(du: &SystemDataUsageResponse) -> Vec<Value> {
    let imgs: &[ImageSummary] = du.images.as_deref().unwrap_or_default();
    let layers = du.layers_size.unwrap_or(0);
    let used: i64 = imgs
        .iter()
        .filter(|i| i.containers != 0 && i.size != -1 && i.shared_size != -1)
        .map(|i| i.size - i.shared_size)
        .sum();
    let ctrs: &[ContainerSummary] = du.containers.as_deref().unwrap_or_default();
    let ctr_size: i64 = ctrs.iter().map(|c| c.size_rw.unwrap_or(0)).sum();
    let ctr_reclaim: i64 = ctrs
        .iter()
        .filter(|c| !container_active(c))
        .map(|c| c.size_rw.unwrap_or(0))
        .sum();
    let volumes = du.volumes.as_deref().unwrap_or_default();
    let cache = du.build_cache.as_deref().unwrap_or_default();
    let cache_size: i64 = cache.iter().filter_map(|b| b.size).sum();
    let cache_reclaim: i64 = cache
        .iter()
        .filter(|b| !b.in_use.unwrap_or(false) && !b.shared.unwrap_or(false))
        .filter_map(|b| b.size)
        .sum();
    vec![
        summary_row(
            "Images",
            imgs.len(),
            imgs.iter().filter(|i| i.containers > 0).count(),
            layers,
            reclaimable(layers - used, layers),
        ),
        summary_row(
            "Containers",
            ctrs.len(),
            ctrs.iter().filter(|c| container_active(c)).count(),
            ctr_size,
            reclaimable(ctr_reclaim, ctr_size),
        ),
        summary_row(
            "Local Volumes",
            volumes.len(),
            volumes.iter().filter(|v| volume_links(v) > 0).count(),
            volumes.iter().map(volume_size).sum(),
            reclaimable(
                volumes
                    .iter()
                    .filter(|v| volume_links(v) == 0)
                    .map(volume_size)
                    .sum(),
                volumes.iter().map(volume_size).sum(),
            ),
        ),
        summary_row(
            "Build Cache",
            cache.len(),
            cache.iter().filter(|b| b.in_use.unwrap_or(false)).count(),
            cache_size,
            size(cache_reclaim),
        ),
    ]
}

fn volume_links(v: &berth_api::models::Volume) -> i64 {
    v.usage_data.as_ref().map_or(0, |u| u.ref_count)
}

/// A volume's size; -1 (unknown, e.g. driver-mounted) counts as nothing.
fn volume_size(v: &berth_api::models::Volume) -> i64 {
    v.usage_data.as_ref().map_or(0, |u| u.size.max(0))
}

fn volume_rows(du: &SystemDataUsageResponse) -> Vec<Value> {
    du.volumes
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|v| {
            let shown = match v.usage_data.as_ref().map(|u| u.size) {
                Some(s) if s >= 0 => size(s),
                _ => "N/A".into(),
            };
            json!({ "Name": v.name, "Links": volume_links(v), "Size": shown })
        })
        .collect()
}

/// Per-object rows for `-v`: images show their first tag only; containers their writable size.
fn verbose_rows(du: &SystemDataUsageResponse, trunc: bool) -> (Vec<Value>, Vec<Value>) {
    let now = chrono::Utc::now().timestamp();
    let images = du
        .images
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|i| images::rows(i, trunc, now).into_iter().next())
        .collect();
    let containers = du
        .containers
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let mut c = c.clone();
            // docker does not display the virtual size here
            c.size_root_fs = Some(0);
            ps::row(&c, trunc, now)
        })
        .collect();
    (images, containers)
}

fn verbose_table(du: &SystemDataUsageResponse) -> CliResult<String> {
    let (images, containers) = verbose_rows(du, true);
    let image_spec = TableSpec {
        default: IMAGES,
        headers: images::HEADERS,
    };
    let container_spec = TableSpec {
        default: CONTAINERS,
        headers: ps::HEADERS,
    };
    let cache_size: i64 = du
        .build_cache
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|b| b.size)
        .sum();
    let mut out = String::from("Images space usage:\n\n");
    out.push_str(&render_rows(&image_spec, None, false, &images)?);
    out.push_str("\nContainers space usage:\n\n");
    out.push_str(&render_rows(&container_spec, None, false, &containers)?);
    out.push_str("\nLocal Volumes space usage:\n\n");
    out.push_str(&render_rows(&VOLUMES, None, false, &volume_rows(du))?);
    out.push_str(&format!("\nBuild cache usage: {}\n\n", size(cache_size)));
    out.push_str(&render_rows(&BUILD_CACHE, None, false, &[])?);
    Ok(out)
}

pub async fn run(ctx: &Ctx, path: &str, args: DfArgs) -> CliResult {
    Arity::None.check(path, args.rest.len())?;
    let du = ctx.client.system_df(&[]).await?;
    let format = args.format.as_deref().filter(|f| !f.is_empty());
    let text = match (args.verbose, format) {
        (true, None) => verbose_table(&du)?,
        (true, Some(f)) if f.trim() == "table" => verbose_table(&du)?,
        (true, Some(f)) => {
            // A custom template sees the lists: {{range .Images}}...{{end}}.
            let (images, containers) = verbose_rows(&du, false);
            let data = json!({
                "Images": images,
                "Containers": containers,
                "Volumes": volume_rows(&du),
                "BuildCache": [],
            });
            let spec = TableSpec {
                default: "",
                headers: &[],
            };
            // docker executes a verbose template once, without the newline it adds per row.
            let mut text = render_rows(&spec, Some(f), false, &[data])?;
            text.pop();
            text
        }
        (false, f) => render_rows(&SUMMARY, f, false, &summary_rows(&du))?,
    };
    ctx.out(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_follows_docker_arithmetic() {
        let du = SystemDataUsageResponse {
            layers_size: Some(4_000_000),
            images: Some(vec![
                ImageSummary {
                    size: 3_000_000,
                    shared_size: 0,
                    containers: 1,
                    ..Default::default()
                },
                ImageSummary {
                    size: 1_000_000,
                    shared_size: 0,
                    containers: 0,
                    ..Default::default()
                },
            ]),
            containers: Some(vec![
                ContainerSummary {
                    state: Some("running".into()),
                    size_rw: Some(100),
                    ..Default::default()
                },
                ContainerSummary {
                    state: Some("exited".into()),
                    size_rw: Some(300),
                    ..Default::default()
                },
            ]),
            volumes: Some(vec![]),
            build_cache: Some(vec![]),
        };
        let rows = summary_rows(&du);
        assert_eq!(rows[0]["TotalCount"], "2");
        assert_eq!(rows[0]["Active"], "1");
        assert_eq!(rows[0]["Size"], "4MB");
        assert_eq!(rows[0]["Reclaimable"], "1MB (25%)");
        assert_eq!(rows[1]["Size"], "400B");
        assert_eq!(rows[1]["Reclaimable"], "300B (75%)");
        assert_eq!(rows[2]["Reclaimable"], "0B");
        assert_eq!(rows[3]["Size"], "0B");
    }
}

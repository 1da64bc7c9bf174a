//! `compose events`: the daemon's container events for the project, as compose prints them.

use berth_api::Filters;
use berth_compose::engine::labels;
use clap::Args;
use serde_json::{json, Value};

use super::common;
use super::ComposeArgs;
use crate::error::CliResult;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Output events as a stream of json objects
    #[arg(long)]
    pub json: bool,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    pub services: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &EventsArgs) -> CliResult {
    let (name, project) = common::project_or_name(compose, &args.services)?;
    common::check_services(project.as_ref(), &args.services)?;
    let engine = common::engine(host, true)?;
    let mut f = Filters::default();
    f.add("type", "container");
    f.add("label", &labels::project_filter(&name));
    let mut stream = engine
        .client
        .events(args.since.as_deref(), args.until.as_deref(), &f)
        .await?;
    let ctx = crate::ctx::Ctx::new(host)?;
    while let Some(ev) = stream.next().await {
        let ev: Value = ev?;
        let attrs = ev["Actor"]["Attributes"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let service = attrs
            .get(labels::SERVICE)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !args.services.is_empty() && !args.services.contains(&service) {
            continue;
        }
        let nanos = ev["timeNano"].as_i64().unwrap_or(0);
        let time =
            chrono::DateTime::from_timestamp(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32)
                .unwrap_or_default();
        let id = ev["Actor"]["ID"].as_str().unwrap_or_default();
        let action = ev["Action"].as_str().unwrap_or_default();
        let kept: serde_json::Map<String, Value> = attrs
            .into_iter()
            .filter(|(k, _)| k == "image" || k == "name")
            .collect();
        if args.json {
            let v = json!({
                "attributes": kept,
                "id": id,
                "action": action,
                "service": service,
                "time": time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                "type": "container",
            });
            ctx.outln(&v.to_string())?;
        } else {
            let a: Vec<String> = kept
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            ctx.outln(&format!(
                "{} container {action} {id} ({})",
                time.format("%Y-%m-%d %H:%M:%S%.6f"),
                a.join(", ")
            ))?;
        }
    }
    Ok(())
}

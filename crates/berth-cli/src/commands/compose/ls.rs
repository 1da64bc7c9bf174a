//! `compose ls`: the projects on the daemon, with their state and files.

use std::collections::BTreeMap;

use berth_compose::engine::labels;
use clap::Args;
use serde_json::json;

use super::common::{self, engine_err};
use crate::error::{CliError, CliResult};
use crate::format::tabwriter;

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(long)]
    pub filter: Vec<String>,
    /// Format the output. Values: [table | json]
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Only display project names
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `running(2)`, `exited(1)`, `running(1), exited(1)` (states in first-seen order).
fn combined_status(states: &[String]) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for s in states {
        if !order.contains(s) {
            order.push(s.clone());
        }
        *counts.entry(s.clone()).or_default() += 1;
    }
    order
        .iter()
        .map(|s| format!("{s}({})", counts[s]))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn run(host: Option<&str>, args: &LsArgs) -> CliResult {
    let engine = common::engine(host, true)?;
    let projects = berth_compose::engine::state::projects(&engine.client, args.all)
        .await
        .map_err(engine_err)?;
    let mut rows = Vec::new();
    for (name, ctrs) in projects {
        if let Some(f) = args.filter.iter().find_map(|f| f.strip_prefix("name=")) {
            if !name.contains(f) {
                continue;
            }
        }
        let states: Vec<String> = ctrs.iter().map(|c| c.state().to_string()).collect();
        let mut files: Vec<String> = Vec::new();
        for c in &ctrs {
            let f = c.label(labels::CONFIG_FILES).to_string();
            if !f.is_empty() && !files.contains(&f) {
                files.push(f);
            }
        }
        rows.push((name, combined_status(&states), files.join(",")));
    }
    let ctx = crate::ctx::Ctx::new(host)?;
    if args.quiet {
        let text: String = rows.iter().map(|r| format!("{}\n", r.0)).collect();
        return ctx.out(&text);
    }
    match args.format.as_str() {
        "json" => {
            let v: Vec<_> = rows
                .iter()
                .map(|(n, s, f)| json!({"Name": n, "Status": s, "ConfigFiles": f}))
                .collect();
            ctx.outln(&serde_json::to_string(&v)?)
        }
        "table" | "" => {
            let mut text = String::from("NAME\tSTATUS\tCONFIG FILES\n");
            for (n, s, f) in &rows {
                text.push_str(&format!("{n}\t{s}\t{f}\n"));
            }
            ctx.out(&tabwriter::TabWriter::new(20, 3).format(&text))
        }
        other => Err(CliError::status(
            1,
            format!("format value {other:?} could not be parsed"),
        )),
    }
}

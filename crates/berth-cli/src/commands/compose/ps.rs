//! `compose ps`: the project's containers as compose lists them (table, JSON lines, a Go
//! template, `-q`, `--services`).

use berth_compose::engine::state::{Ctr, OneOff};
use clap::Args;
use serde_json::{json, Value};

use super::common;
use super::ComposeArgs;
use crate::error::{CliError, CliResult};
use crate::format::tabwriter;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Format output using a custom template: 'table', 'json', or a Go template
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Filter services by a property (supported filters: status)
    #[arg(long)]
    pub filter: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Include orphaned services (not declared by project)
    #[arg(long)]
    pub orphans: Option<bool>,
    /// Only display IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display services
    #[arg(long)]
    pub services: bool,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]
    #[arg(long)]
    pub status: Vec<String>,
    pub service: Vec<String>,
}

/// The row compose prints for a container (`ContainerSummary` of compose's API).
pub fn row(c: &Ctr, trunc: bool) -> Value {
    let now = chrono::Utc::now().timestamp();
    let base = crate::commands::ps::row(&c.summary, trunc, now);
    let publishers: Vec<Value> = c
        .summary
        .ports
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            json!({
                "URL": p.ip.clone().unwrap_or_default(),
                "TargetPort": p.private_port,
                "PublishedPort": p.public_port.unwrap_or(0),
                "Protocol": p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into()),
            })
        })
        .collect();
    let status = c.summary.status.clone().unwrap_or_default();
    let health = if status.contains("(healthy)") {
        "healthy"
    } else if status.contains("(unhealthy)") {
        "unhealthy"
    } else if status.contains("(health: starting)") {
        "starting"
    } else {
        ""
    };
    let exit_code = status
        .strip_prefix("Exited (")
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    json!({
        "Command": base["Command"],
        "CreatedAt": base["CreatedAt"],
        "ExitCode": exit_code,
        "Health": health,
        "ID": base["ID"],
        "Image": base["Image"],
        "Labels": base["Labels"],
        "LocalVolumes": base["LocalVolumes"],
        "Mounts": base["Mounts"],
        "Name": c.name(),
        "Names": c.name(),
        "Networks": base["Networks"],
        "Ports": base["Ports"],
        "Project": c.label(berth_compose::engine::labels::PROJECT),
        "Publishers": publishers,
        "RunningFor": base["RunningFor"],
        "Service": c.service(),
        "Size": base["Size"],
        "State": c.state(),
        "Status": status,
    })
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &PsArgs) -> CliResult {
    let (name, project) = common::project_or_name(compose, &args.service)?;
    common::check_services(project.as_ref(), &args.service)?;
    let engine = common::engine(host, true)?;
    let mut status = args.status.clone();
    if let Some(f) = &args.filter {
        match f.split_once('=') {
            Some(("status", v)) => status.push(v.to_string()),
            _ => return Err(CliError::status(1, format!("unknown filter {f}"))),
        }
    }
    let all = args.all || !status.is_empty();
    let oneoff = if args.all {
        OneOff::Include
    } else {
        OneOff::Exclude
    };
    let mut list = common::containers(&engine, &name, &args.service, all, oneoff).await?;
    if !status.is_empty() {
        list.retain(|c| status.iter().any(|s| s == c.state()));
    }
    if args.orphans == Some(false) {
        if let Some(p) = &project {
            list.retain(|c| p.services.contains_key(c.service()));
        }
    }
    list.sort_by_key(|c| c.name());
    let mut out = String::new();
    if args.services {
        let mut seen: Vec<String> = Vec::new();
        for c in &list {
            if !seen.iter().any(|s| s == c.service()) {
                seen.push(c.service().to_string());
            }
        }
        for s in seen {
            out.push_str(&s);
            out.push('\n');
        }
    } else if args.quiet {
        for c in &list {
            out.push_str(c.id());
            out.push('\n');
        }
    } else if args.format == "json" {
        for c in &list {
            out.push_str(&row(c, !args.no_trunc).to_string());
            out.push('\n');
        }
    } else if args.format == "table" || args.format.is_empty() {
        let mut text = String::from("NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS\n");
        for c in &list {
            let r = row(c, !args.no_trunc);
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                s("Name"),
                s("Image"),
                s("Command"),
                s("Service"),
                s("RunningFor"),
                s("Status"),
                s("Ports")
            ));
        }
        out = tabwriter::align(&text);
    } else {
        let (table, tmpl) = match args.format.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start().to_string()),
            None => (false, args.format.clone()),
        };
        let t = crate::format::template::FormatTemplate::parse(&tmpl, table)?;
        let mut text = String::new();
        let _ = table;
        for c in &list {
            text.push_str(&t.render(&row(c, !args.no_trunc))?);
            text.push('\n');
        }
        out = if table { tabwriter::align(&text) } else { text };
    }
    crate::ctx::Ctx::new(host)?.out(&out)
}

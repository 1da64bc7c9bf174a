//! `info`: system-wide information in docker's layout.

use clap::Args;
use serde_json::Value;

use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};
use crate::format::template::FormatTemplate;
use berth_types::gocompat::units::bytes_size;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    pub rest: Vec<String>,
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The server section: docker's prettyPrintServerInfo for the fields berth reports.
pub fn server_text(info: &Value) -> String {
    let mut o = String::from("Server:\n");
    let line = |o: &mut String, k: &str, v: String| o.push_str(&format!(" {k}: {v}\n"));
    line(&mut o, "Containers", text(info, "Containers"));
    o.push_str(&format!(
        "  Running: {}\n  Paused: {}\n  Stopped: {}\n",
        text(info, "ContainersRunning"),
        text(info, "ContainersPaused"),
        text(info, "ContainersStopped")
    ));
    line(&mut o, "Images", text(info, "Images"));
    line(&mut o, "Server Version", text(info, "ServerVersion"));
    line(&mut o, "Storage Driver", text(info, "Driver"));
    for pair in info
        .get("DriverStatus")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some([k, v]) = pair.as_array().map(Vec::as_slice) {
            o.push_str(&format!(
                "  {}: {}\n",
                k.as_str().unwrap_or(""),
                v.as_str().unwrap_or("")
            ));
        }
    }
    line(&mut o, "Logging Driver", text(info, "LoggingDriver"));
    line(&mut o, "Cgroup Driver", text(info, "CgroupDriver"));
    line(&mut o, "Cgroup Version", text(info, "CgroupVersion"));
    if let Some(runtimes) = info.get("Runtimes").and_then(Value::as_object) {
        let mut names: Vec<&String> = runtimes.keys().collect();
        names.sort();
        line(
            &mut o,
            "Runtimes",
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    line(&mut o, "Default Runtime", text(info, "DefaultRuntime"));
    if let Some(opts) = info.get("SecurityOptions").and_then(Value::as_array) {
        o.push_str(" Security Options:\n");
        for opt in opts.iter().filter_map(Value::as_str) {
            let mut name = None;
            let mut rest = Vec::new();
            for kv in opt.split(',') {
                match kv.split_once('=') {
                    Some(("name", n)) => name = Some(n.to_string()),
                    Some((k, v)) => rest.push((k.to_string(), v.to_string())),
                    None => name = Some(kv.to_string()),
                }
            }
            o.push_str(&format!("  {}\n", name.unwrap_or_default()));
            for (k, v) in rest {
                let mut chars = k.chars();
                let k = chars
                    .next()
                    .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                    .unwrap_or_default();
                o.push_str(&format!("   {k}: {v}\n"));
            }
        }
    }
    line(&mut o, "Kernel Version", text(info, "KernelVersion"));
    line(&mut o, "Operating System", text(info, "OperatingSystem"));
    line(&mut o, "OSType", text(info, "OSType"));
    line(&mut o, "Architecture", text(info, "Architecture"));
    line(&mut o, "CPUs", text(info, "NCPU"));
    line(
        &mut o,
        "Total Memory",
        bytes_size(info.get("MemTotal").and_then(Value::as_f64).unwrap_or(0.0)),
    );
    line(&mut o, "Name", text(info, "Name"));
    line(&mut o, "ID", text(info, "ID"));
    line(&mut o, "Docker Root Dir", text(info, "DockerRootDir"));
    line(&mut o, "Debug Mode", text(info, "Debug"));
    line(&mut o, "Experimental", text(info, "ExperimentalBuild"));
    registry_text(&mut o, info.get("RegistryConfig").unwrap_or(&Value::Null));
    line(
        &mut o,
        "Live Restore Enabled",
        text(info, "LiveRestoreEnabled"),
    );
    o
}

/// docker's "Insecure Registries" (insecure names, then CIDRs) and "Registry Mirrors".
fn registry_text(o: &mut String, reg: &Value) {
    let strings = |key: &str| -> Vec<String> {
        reg.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let cidrs = strings("InsecureRegistryCIDRs");
    let indexes = reg.get("IndexConfigs").and_then(Value::as_object);
    if !cidrs.is_empty() || indexes.is_some_and(|m| !m.is_empty()) {
        o.push_str(" Insecure Registries:\n");
        let mut insecure: Vec<&String> = indexes
            .into_iter()
            .flatten()
            .filter(|(_, v)| v.get("Secure").and_then(Value::as_bool) == Some(false))
            .map(|(k, _)| k)
            .collect();
        insecure.sort();
        for name in insecure {
            o.push_str(&format!("  {name}\n"));
        }
        for cidr in cidrs {
            o.push_str(&format!("  {cidr}\n"));
        }
    }
    let mirrors = strings("Mirrors");
    if !mirrors.is_empty() {
        o.push_str(" Registry Mirrors:\n");
        for m in mirrors {
            o.push_str(&format!("  {m}\n"));
        }
    }
}

pub async fn run(ctx: &Ctx, path: &str, args: InfoArgs) -> CliResult {
    Arity::None.check(path, args.rest.len())?;
    let info = ctx.client.info().await?;
    if let Some(fmt) = args.format.as_deref().filter(|f| !f.is_empty()) {
        let t = FormatTemplate::parse(if fmt == "json" { "{{json .}}" } else { fmt }, false)?;
        return ctx.outln(&t.render(&info)?);
    }
    let client = format!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: false\n\n",
        env!("CARGO_PKG_VERSION")
    );
    ctx.out(&(client + &server_text(&info)))
}

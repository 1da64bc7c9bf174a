//! `port CONTAINER [PRIVATE_PORT[/PROTO]]`: the container's published ports, from inspect.

use clap::Args;

use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};

#[derive(Debug, Args)]
pub struct PortArgs {
    pub names: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: PortArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.names.len())?;
    Arity::AtMost(2).check(path, args.names.len())?;
    let raw = ctx
        .client
        .container_inspect_raw(&args.names[0], false)
        .await?;
    let c: serde_json::Value = serde_json::from_slice(&raw)?;
    let ports = c["NetworkSettings"]["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let host = |b: &serde_json::Value| {
        let ip = b["HostIp"].as_str().unwrap_or_default();
        let port = b["HostPort"].as_str().unwrap_or_default();
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    };
    if let Some(want) = args.names.get(1) {
        let (port, proto) = want.split_once('/').unwrap_or((want, "tcp"));
        let key = format!("{port}/{proto}");
        let bindings = ports
            .get(&key)
            .and_then(|b| b.as_array())
            .cloned()
            .unwrap_or_default();
        if bindings.is_empty() {
            return Err(CliError::status(
                1,
                format!(
                    "Error: No public port '{key}' published for {}",
                    args.names[0]
                ),
            ));
        }
        let lines: Vec<String> = bindings.iter().map(host).collect();
        return ctx.outln(&lines.join("\n"));
    }
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (p, proto) = k.split_once('/').unwrap_or((k.as_str(), ""));
        (p.parse::<u32>().unwrap_or(0), proto.to_string())
    });
    let mut out = String::new();
    for k in keys {
        for b in ports[k].as_array().into_iter().flatten() {
            out.push_str(&format!("{k} -> {}\n", host(b)));
        }
    }
    ctx.out(&out)
}

//! `network create|ls|inspect|rm|prune|connect|disconnect`, with docker's flags, checks and
//! output.

use std::collections::HashMap;

use berth_api::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkCreateRequest,
};
use clap::{Args, Subcommand};

use crate::commands::image_prune::confirm;
use crate::commands::parse_filters;
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use crate::format::inspect::Inspected;
use crate::format::strings::truncate_id;
use crate::format::table::{render_rows, TableSpec};

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(aliases = ["list"])]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Enable or disable IPv6 networking
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ipv6: Option<bool>,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt")]
    pub ipam_opt: Vec<String>,
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub rest: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    pub verbose: bool,
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    pub rest: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long)]
    pub ip6: Option<String>,
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    pub names: Vec<String>,
}

pub async fn run(ctx: &Ctx, cmd: NetworkCommand) -> CliResult {
    match cmd {
        NetworkCommand::Create(a) => create(ctx, a).await,
        NetworkCommand::Ls(a) => ls(ctx, a).await,
        NetworkCommand::Inspect(a) => inspect(ctx, a).await,
        NetworkCommand::Rm(a) => rm(ctx, a).await,
        NetworkCommand::Prune(a) => prune(ctx, a).await,
        NetworkCommand::Connect(a) => connect(ctx, a).await,
        NetworkCommand::Disconnect(a) => disconnect(ctx, a).await,
    }
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

fn parse_v4(s: &str) -> Option<(u32, u8)> {
    let (a, p) = s.split_once('/').unwrap_or((s, "32"));
    let addr: std::net::Ipv4Addr = a.parse().ok()?;
    Some((u32::from(addr), p.parse().ok().filter(|p: &u8| *p <= 32)?))
}

fn contains(subnet: &str, addr: &str) -> bool {
    match (parse_v4(subnet), parse_v4(addr)) {
        (Some((s, sp)), Some((a, _))) => {
            let mask = if sp == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(sp))
            };
            s & mask == a & mask
        }
        _ => false,
    }
}

/// docker's `consolidateIpam`: each gateway and range must belong to one of the subnets.
fn consolidate_ipam(args: &CreateArgs) -> Result<Vec<IpamConfig>, CliError> {
    let err = |m: String| CliError::status(1, format!("Error response from daemon: {m}"));
    if args.subnet.is_empty() && (!args.gateway.is_empty() || !args.ip_range.is_empty()) {
        return Err(CliError::status(
            1,
            "every ip-range or gateway must have a corresponding subnet",
        ));
    }
    for (i, a) in args.subnet.iter().enumerate() {
        for b in &args.subnet[i + 1..] {
            if contains(a, b) || contains(b, a) {
                return Err(err(
                    "multiple overlapping subnet configuration is not allowed".into(),
                ));
            }
        }
    }
    let mut configs: Vec<IpamConfig> = args
        .subnet
        .iter()
        .map(|s| IpamConfig {
            subnet: Some(s.clone()),
            ..Default::default()
        })
        .collect();
    for r in &args.ip_range {
        let slot = configs
            .iter_mut()
            .find(|c| contains(c.subnet.as_deref().unwrap_or(""), r));
        match slot {
            Some(c) if c.ip_range.is_none() => c.ip_range = Some(r.clone()),
            Some(_) => {
                return Err(CliError::status(
                    1,
                    format!("cannot configure multiple ranges ({r}, ...) on the same subnet"),
                ))
            }
            None => {
                return Err(CliError::status(
                    1,
                    format!("no matching subnet for range {r}"),
                ))
            }
        }
    }
    for g in &args.gateway {
        let slot = configs
            .iter_mut()
            .find(|c| contains(c.subnet.as_deref().unwrap_or(""), g));
        match slot {
            Some(c) if c.gateway.is_none() => c.gateway = Some(g.clone()),
            Some(_) => {
                return Err(CliError::status(
                    1,
                    format!("cannot configure multiple gateways ({g}, ...) for the same subnet"),
                ))
            }
            None => {
                return Err(CliError::status(
                    1,
                    format!("no matching subnet for gateway {g}"),
                ))
            }
        }
    }
    Ok(configs)
}

async fn create(ctx: &Ctx, args: CreateArgs) -> CliResult {
    Arity::Exactly(1).check("network create", args.names.len())?;
    let config = consolidate_ipam(&args)?;
    let req = NetworkCreateRequest {
        name: args.names[0].clone(),
        driver: Some(args.driver.clone()),
        internal: Some(args.internal),
        attachable: Some(args.attachable),
        enable_ipv6: args.ipv6,
        ipam: Some(Ipam {
            driver: Some(args.ipam_driver.clone()),
            config: Some(config),
            options: Some(key_values(&args.ipam_opt)),
        }),
        options: Some(key_values(&args.opt)),
        labels: Some(key_values(&args.label)),
        ..Default::default()
    };
    let created = ctx.client.network_create(&req).await?;
    ctx.outln(&created.id)
}

const LS_HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
];

async fn ls(ctx: &Ctx, args: LsArgs) -> CliResult {
    Arity::None.check("network ls", args.rest.len())?;
    let filters = parse_filters(&args.filter)?;
    let networks = ctx.client.network_list(&filters).await?;
    let rows: Vec<serde_json::Value> = networks
        .iter()
        .map(|n| {
            let id = n.id.clone().unwrap_or_default();
            let labels = n
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            serde_json::json!({
                "ID": if args.no_trunc { id.clone() } else { truncate_id(&id) },
                "Name": n.name,
                "Driver": n.driver,
                "Scope": n.scope,
                "IPv6": n.enable_ipv6.unwrap_or(false),
                "Internal": n.internal.unwrap_or(false),
                "Labels": labels,
                "CreatedAt": n.created,
            })
        })
        .collect();
    let spec = TableSpec {
        default: "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        headers: LS_HEADERS,
    };
    ctx.out(&render_rows(
        &spec,
        args.format.as_deref(),
        args.quiet,
        &rows,
    )?)
}

async fn inspect(ctx: &Ctx, args: InspectArgs) -> CliResult {
    Arity::AtLeast(1).check("network inspect", args.names.len())?;
    let mut inspected = Inspected::new(args.format.as_deref())?;
    for name in &args.names {
        let found = ctx.client.network_inspect_raw(name).await;
        inspected.add(found.map(|raw| raw.to_vec()).map_err(|e| e.to_string()))?;
    }
    inspected.print(ctx)
}

async fn rm(ctx: &Ctx, args: RmArgs) -> CliResult {
    Arity::AtLeast(1).check("network rm", args.names.len())?;
    let mut failed = false;
    for name in &args.names {
        match ctx.client.network_remove(name).await {
            Ok(()) => ctx.outln(name)?,
            Err(e) if args.force && e.is_not_found() => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(CliError::status(1, ""))
    } else {
        Ok(())
    }
}

async fn prune(ctx: &Ctx, args: PruneArgs) -> CliResult {
    Arity::None.check("network prune", args.rest.len())?;
    let filters = parse_filters(&args.filter)?;
    if !args.force
        && !confirm("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?")?
    {
        return Ok(());
    }
    let report = ctx.client.network_prune(&filters).await?;
    let deleted = report.networks_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        ctx.out(&format!("Deleted Networks:\n{}\n", deleted.join("\n")))?;
    }
    Ok(())
}

async fn connect(ctx: &Ctx, args: ConnectArgs) -> CliResult {
    Arity::Exactly(2).check("network connect", args.names.len())?;
    let endpoint = EndpointSettings {
        aliases: (!args.alias.is_empty()).then(|| args.alias.clone()),
        ipam_config: (args.ip.is_some() || args.ip6.is_some()).then(|| EndpointIpamConfig {
            ipv4_address: args.ip.clone(),
            ipv6_address: args.ip6.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    ctx.client
        .network_connect(&args.names[0], &args.names[1], Some(endpoint))
        .await?;
    Ok(())
}

async fn disconnect(ctx: &Ctx, args: DisconnectArgs) -> CliResult {
    Arity::Exactly(2).check("network disconnect", args.names.len())?;
    ctx.client
        .network_disconnect(&args.names[0], &args.names[1], args.force)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(subnet: &[&str], gateway: &[&str], range: &[&str]) -> CreateArgs {
        CreateArgs {
            driver: "bridge".into(),
            subnet: subnet.iter().map(|s| s.to_string()).collect(),
            gateway: gateway.iter().map(|s| s.to_string()).collect(),
            ip_range: range.iter().map(|s| s.to_string()).collect(),
            internal: false,
            attachable: false,
            ipv6: None,
            label: Vec::new(),
            opt: Vec::new(),
            ipam_driver: "default".into(),
            ipam_opt: Vec::new(),
            names: vec!["n".into()],
        }
    }

    #[test]
    fn ipam_is_consolidated_as_docker_does() {
        let c = consolidate_ipam(&args(&["10.1.0.0/16"], &["10.1.0.254"], &["10.1.2.0/24"]))
            .expect("ok");
        assert_eq!(c[0].gateway.as_deref(), Some("10.1.0.254"));
        assert_eq!(c[0].ip_range.as_deref(), Some("10.1.2.0/24"));
        let e = consolidate_ipam(&args(&["10.1.0.0/16"], &["10.2.0.1"], &[])).expect_err("outside");
        assert!(
            e.to_string()
                .contains("no matching subnet for gateway 10.2.0.1"),
            "{e}"
        );
        assert!(consolidate_ipam(&args(&[], &["10.2.0.1"], &[])).is_err());
        assert!(consolidate_ipam(&args(&["10.0.0.0/8", "10.1.0.0/16"], &[], &[])).is_err());
    }
}

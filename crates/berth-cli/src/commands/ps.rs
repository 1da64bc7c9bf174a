//! `ps` / `container ls`: the container table.

use berth_api::models::{ContainerSummary, Port};
use clap::Args;
use serde_json::{json, Value};

use crate::commands::parse_filters;
use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};
use crate::format::strings::{ellipsis, go_quote, truncate_id};
use crate::format::table::{render_rows, TableSpec};
use crate::format::timefmt::go_time_string;
use berth_types::gocompat::units::{human_duration, human_size_with_precision};

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    pub rest: Vec<String>,
}

pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Networks", "NETWORKS"),
    ("Platform", "PLATFORM"),
];

const DEFAULT: &str =
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
const DEFAULT_WITH_SIZE: &str = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}";

/// docker's DisplayablePorts (without range folding).
pub fn display_ports(ports: &[Port]) -> String {
    let mut sorted: Vec<&Port> = ports.iter().collect();
    sorted.sort_by_key(|p| (p.private_port, p.public_port, p.ip.clone()));
    let parts: Vec<String> = sorted
        .iter()
        .map(|p| {
            let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
            match (p.ip.as_deref(), p.public_port) {
                (Some(ip), Some(public)) if !ip.is_empty() => {
                    let ip = if ip.contains(':') {
                        format!("[{ip}]")
                    } else {
                        ip.to_string()
                    };
                    format!("{ip}:{public}->{}/{proto}", p.private_port)
                }
                (_, Some(public)) => format!("{public}->{}/{proto}", p.private_port),
                _ => format!("{}/{proto}", p.private_port),
            }
        })
        .collect();
    parts.join(", ")
}

/// The row docker's ContainerContext exposes to templates.
pub fn row(c: &ContainerSummary, trunc: bool, now: i64) -> Value {
    let id = c.id.clone().unwrap_or_default();
    let mut image = c.image.clone().unwrap_or_default();
    if trunc {
        if let Some((name, _)) = image.split_once('@') {
            image = name.to_string();
        }
        if image.starts_with("sha256:") {
            image = truncate_id(&image);
        }
    }
    let command = c.command.clone().unwrap_or_default();
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    let mut names: Vec<String> = c
        .names
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    if trunc {
        // links show up as "/other/alias"; only plain names are shown
        names.retain(|n| !n.contains('/'));
    }
    let created = c.created.unwrap_or(0);
    let mut labels: Vec<String> = c
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    labels.sort();
    let mounts = c.mounts.clone().unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let n = m
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| m.source.clone())
                .unwrap_or_default();
            if trunc {
                ellipsis(&n, 15)
            } else {
                n
            }
        })
        .collect();
    let local_volumes = mounts
        .iter()
        .filter(|m| m.driver.as_deref() == Some("local"))
        .count();
    let mut networks: Vec<String> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let srw = human_size_with_precision(c.size_rw.unwrap_or(0) as f64, 3);
    let size = match c.size_root_fs {
        Some(v) if v > 0 => format!("{srw} (virtual {})", human_size_with_precision(v as f64, 3)),
        _ => srw,
    };
    json!({
        "Command": go_quote(&command),
        "CreatedAt": go_time_string(created),
        "ID": if trunc { truncate_id(&id) } else { id },
        "Image": image,
        "Labels": labels.join(","),
        "LocalVolumes": local_volumes.to_string(),
        "Mounts": mount_names.join(","),
        "Names": names.join(","),
        "Networks": networks.join(","),
        "Platform": null,
        "Ports": display_ports(&c.ports.clone().unwrap_or_default()),
        "RunningFor": format!("{} ago", human_duration(std::time::Duration::from_secs((now - created).max(0) as u64))),
        "Size": size,
        "State": c.state.clone().unwrap_or_default(),
        "Status": c.status.clone().unwrap_or_default(),
    })
}

/// docker asks the daemon for sizes when the template reads `.Size` (`{{json .}}` reads all).
fn format_uses_size(format: &str) -> bool {
    let f = format.trim();
    f == "json" || f.contains(".Size") || f.contains("json .}}") || f.contains("json . }}")
}

pub async fn run(ctx: &Ctx, path: &str, args: PsArgs) -> CliResult {
    Arity::None.check(path, args.rest.len())?;
    let filters = parse_filters(&args.filter)?;
    let limit = if args.latest {
        Some(1)
    } else if args.last > 0 {
        Some(args.last)
    } else {
        None
    };
    let size = args.size || args.format.as_deref().is_some_and(format_uses_size);
    let opts = berth_client::ListOptions {
        all: args.all || limit.is_some(),
        size,
        limit,
        filters,
    };
    let containers = ctx.client.container_list(&opts).await?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = containers
        .iter()
        .map(|c| row(c, !args.no_trunc, now))
        .collect();
    let default = if args.size {
        DEFAULT_WITH_SIZE
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
        &rows,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_fields() {
        let c = ContainerSummary {
            id: Some("0123456789abcdef0123".into()),
            names: Some(vec!["/web".into()]),
            image: Some("busybox".into()),
            command: Some("sh -c 'sleep 1000; echo done'".into()),
            created: Some(1000),
            status: Some("Up 3 seconds".into()),
            state: Some("running".into()),
            ..Default::default()
        };
        let r = row(&c, true, 1065);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Command"], "\"sh -c 'sleep 1000; …\"");
        assert_eq!(r["RunningFor"], "About a minute ago");
        let full = row(&c, false, 1005);
        assert_eq!(full["ID"], "0123456789abcdef0123");
        assert_eq!(full["RunningFor"], "5 seconds ago");
    }

    #[test]
    fn size_detection() {
        assert!(format_uses_size("json"));
        assert!(format_uses_size("{{json .}}"));
        assert!(format_uses_size("table {{.ID}}\t{{.Size}}"));
        assert!(!format_uses_size("{{.Names}}"));
    }

    #[test]
    fn ports_display() {
        use berth_api::models::PortTypeEnum;
        let ports = vec![
            Port {
                ip: Some("0.0.0.0".into()),
                private_port: 80,
                public_port: Some(8080),
                typ: Some(PortTypeEnum::TCP),
            },
            Port {
                ip: None,
                private_port: 53,
                public_port: None,
                typ: Some(PortTypeEnum::UDP),
            },
        ];
        assert_eq!(display_ports(&ports), "53/udp, 0.0.0.0:8080->80/tcp");
    }
}

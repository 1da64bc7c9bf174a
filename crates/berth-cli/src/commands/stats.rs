//! `stats`: a live table of the containers' CPU, memory, network, block I/O and pids, as
//! docker's (`--no-stream` prints it once).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::stats::StatsResponse;
use berth_client::Client;
use clap::Args;
use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult};
use crate::format::strings::truncate_id;
use crate::format::table::{render_rows, TableSpec};
use berth_types::gocompat::units::{bytes_size, human_size_with_precision};

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    pub containers: Vec<String>,
}

const DEFAULT: &str = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

const HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// The latest frame of one container, or why there is none.
#[derive(Debug, Clone)]
enum Latest {
    Waiting,
    Frame(Box<StatsResponse>),
    Failed(String),
}

type Board = Arc<Mutex<Vec<(String, Latest)>>>;

fn percent(v: f64) -> String {
    format!("{v:.2}%")
}

/// docker's statsContext for one container.
fn row(given: &str, latest: &Latest, trunc: bool) -> Value {
    let Latest::Frame(s) = latest else {
        return json!({
            "Container": given, "ID": given, "Name": "--", "CPUPerc": "--", "MemUsage": "-- / --",
            "MemPerc": "--", "NetIO": "--", "BlockIO": "--", "PIDs": "--",
        });
    };
    let mem = s.memory_usage_no_cache();
    let limit = s.memory_stats.limit.unwrap_or(0) as f64;
    let mem_perc = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (rx, tx) = s.network_io();
    let (read, write) = s.block_io();
    let name = s.name.trim_start_matches('/');
    json!({
        "Container": given,
        "ID": if trunc { truncate_id(&s.id) } else { s.id.clone() },
        "Name": if name.is_empty() { "--" } else { name },
        "CPUPerc": percent(s.cpu_percent()),
        "MemUsage": format!("{} / {}", bytes_size(mem), bytes_size(limit)),
        "MemPerc": percent(mem_perc),
        "NetIO": format!("{} / {}", human_size_with_precision(rx as f64, 3), human_size_with_precision(tx as f64, 3)),
        "BlockIO": format!("{} / {}", human_size_with_precision(read as f64, 3), human_size_with_precision(write as f64, 3)),
        "PIDs": s.pids_stats.current.unwrap_or(0).to_string(),
    })
}

fn set(board: &Board, key: &str, value: Latest) {
    if let Ok(mut b) = board.lock() {
        if let Some(slot) = b.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value;
        }
    }
}

/// Reads `key`'s frames into the board until the stream ends.
fn collect(client: Client, board: Board, key: String, stream: bool) {
    tokio::spawn(async move {
        let mut frames = match client.container_stats(&key, stream).await {
            Ok(f) => f,
            Err(e) => {
                set(&board, &key, Latest::Failed(e.to_string()));
                return;
            }
        };
        while let Some(frame) = frames.next().await {
            match frame {
                Ok(s) => set(&board, &key, Latest::Frame(Box::new(s))),
                Err(e) => {
                    set(&board, &key, Latest::Failed(e.to_string()));
                    return;
                }
            }
        }
    });
}

/// Adds the containers not on the board yet and starts their collectors, each with its own
/// client (connection) on the same daemon and API version.
fn watch(client: &Client, version: &str, board: &Board, keys: Vec<String>, stream: bool) {
    let fresh: Vec<String> = match board.lock() {
        Ok(mut b) => {
            let new: Vec<String> = keys
                .into_iter()
                .filter(|k| !b.iter().any(|(have, _)| have == k))
                .collect();
            b.extend(new.iter().map(|k| (k.clone(), Latest::Waiting)));
            new
        }
        Err(_) => Vec::new(),
    };
    for key in fresh {
        let own = Client::new(client.host().clone()).with_version(version);
        collect(own, board.clone(), key, stream);
    }
}

async fn listed(client: &Client, all: bool) -> CliResult<Vec<String>> {
    let opts = berth_client::ListOptions {
        all,
        ..Default::default()
    };
    let list = client.container_list(&opts).await?;
    Ok(list.into_iter().filter_map(|c| c.id).collect())
}

fn render(board: &Board, args: &StatsArgs) -> CliResult<String> {
    let rows: Vec<Value> = match board.lock() {
        Ok(b) => b
            .iter()
            .filter(|(_, l)| !matches!(l, Latest::Waiting))
            .map(|(k, l)| row(k, l, !args.no_trunc))
            .collect(),
        Err(_) => Vec::new(),
    };
    let spec = TableSpec {
        default: DEFAULT,
        headers: HEADERS,
    };
    render_rows(&spec, args.format.as_deref(), false, &rows)
        .map_err(|e| CliError::status(1, e.to_string()))
}

pub async fn run(ctx: &Ctx, _path: &str, args: StatsArgs) -> CliResult {
    let client = &ctx.client;
    let board: Board = Arc::new(Mutex::new(Vec::new()));
    let named = !args.containers.is_empty();
    let stream = !args.no_stream;
    let version = client.api_version().await?;
    if named {
        // A missing container is an error before anything is shown, as docker's.
        for name in &args.containers {
            client.container_inspect(name).await?;
        }
        watch(client, &version, &board, args.containers.clone(), stream);
    } else {
        watch(
            client,
            &version,
            &board,
            listed(client, args.all).await?,
            stream,
        );
    }
    if !stream {
        loop {
            let pending = board
                .lock()
                .map(|b| b.iter().any(|(_, l)| matches!(l, Latest::Waiting)))
                .unwrap_or(false);
            if !pending {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Ok(b) = board.lock() {
            if let Some((_, Latest::Failed(e))) =
                b.iter().find(|(_, l)| matches!(l, Latest::Failed(_)))
            {
                if named {
                    return Err(CliError::status(1, e.clone()));
                }
            }
        }
        return ctx.out(&render(&board, &args)?);
    }
    loop {
        if !named {
            let keys = listed(client, args.all).await?;
            // Containers that went away leave the table, as docker's does.
            if let Ok(mut b) = board.lock() {
                b.retain(|(k, _)| keys.contains(k));
            }
            watch(client, &version, &board, keys, stream);
        }
        let table = render(&board, &args)?;
        ctx.out(&format!("\x1b[2J\x1b[H{table}"))?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

//! `registry serve`: berth's own OCI Distribution registry, in the foreground.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::error::{CliError, CliResult};

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Run an OCI Distribution registry in the foreground
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub addr: SocketAddr,
    /// Directory holding the registry's blobs and repositories
    #[arg(long)]
    pub root: PathBuf,
    /// Serve pulls only; refuse every write with 405 UNSUPPORTED
    #[arg(long = "read-only")]
    pub read_only: bool,
}

pub async fn run(cmd: RegistryCommand) -> CliResult {
    match cmd {
        RegistryCommand::Serve(a) => serve(a).await,
    }
}

async fn serve(a: ServeArgs) -> CliResult {
    let config = berth_registry::Config {
        read_only: a.read_only,
        ..Default::default()
    };
    let registry = berth_registry::Registry::open(&a.root, config)
        .map_err(|e| CliError::status(1, format!("registry root {}: {e}", a.root.display())))?;
    let listener = tokio::net::TcpListener::bind(a.addr)
        .await
        .map_err(|e| CliError::status(1, format!("listen on {}: {e}", a.addr)))?;
    let local = listener.local_addr()?;
    // The bound address on stdout, so a script that asked for port 0 learns the port.
    println!("registry listening on {local}");
    tokio::select! {
        r = berth_registry::serve(listener, registry) => Ok(r?),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

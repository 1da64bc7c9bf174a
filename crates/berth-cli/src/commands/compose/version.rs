//! `compose version`: the Compose version berth follows.

use clap::Args;

use berth_compose::engine::labels::COMPOSE_VERSION;

use crate::error::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format the output. Values: [pretty | json]
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Shows only Compose's version number
    #[arg(long)]
    pub short: bool,
}

pub fn run(args: &VersionArgs) -> CliResult {
    let text = if args.short {
        COMPOSE_VERSION.to_string()
    } else {
        match args.format.as_deref() {
            Some("json") => serde_json::json!({"version": format!("v{COMPOSE_VERSION}")}).to_string(),
            None | Some("pretty") => format!("Docker Compose version v{COMPOSE_VERSION} (berth compose)"),
            Some(other) => return Err(CliError::status(1, format!("ERROR: Invalid format {other:?}. Supported formats are \"pretty\" and \"json\""))),
        }
    };
    println!("{text}");
    Ok(())
}

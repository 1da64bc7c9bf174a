//! `berth compose`: Compose v2's command line. Global flags here; one module per command.
//!
//! Every command loads the project with [`ComposeArgs::load`] (compose-go's project options:
//! `-f`, `-p`, `--project-directory`, `--env-file`, `--profile`, `COMPOSE_*`); commands that
//! talk to the daemon build a `Ctx` themselves, so `config` works without one.

pub mod config;

use std::path::PathBuf;

use berth_compose::{LoadError, LoadOptions, Project};
use clap::{Args, Subcommand};

use crate::error::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// Compose configuration files
    #[arg(short = 'f', long = "file")]
    pub file: Vec<String>,
    /// Project name
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    /// Specify an alternate working directory (default: the path of the, first specified, Compose file)
    #[arg(long = "project-directory")]
    pub project_directory: Option<String>,
    /// Specify an alternate environment file
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Specify a profile to enable
    #[arg(long = "profile")]
    pub profile: Vec<String>,
    /// Control when to print ANSI control characters ("never"|"always"|"auto")
    #[arg(long = "ansi", default_value = "auto")]
    pub ansi: String,
    /// Set type of progress output (auto, tty, plain, json, quiet)
    #[arg(long = "progress")]
    pub progress: Option<String>,
    /// Control max parallelism, -1 for unlimited
    #[arg(long = "parallel", default_value_t = -1, allow_negative_numbers = true)]
    pub parallel: i64,
    /// Run compose in backward compatibility mode
    #[arg(long = "compatibility")]
    pub compatibility: bool,
    /// Execute command in dry run mode
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Include all resources, even those not used by services
    #[arg(long = "all-resources")]
    pub all_resources: bool,
    #[command(subcommand)]
    pub command: ComposeCommand,
}

#[derive(Debug, Subcommand)]
pub enum ComposeCommand {
    /// Parse, resolve and render compose file in canonical format
    #[command(alias = "convert")]
    Config(config::ConfigArgs),
}

/// Per-load switches a command may set (`config --no-interpolate` ...).
#[derive(Debug, Default, Clone)]
pub struct LoadSwitches {
    pub skip_interpolation: bool,
    pub skip_normalization: bool,
    pub skip_consistency_check: bool,
    pub skip_resolve_paths: bool,
    /// Services named on the command line (their profiles are enabled).
    pub services: Vec<String>,
}

impl ComposeArgs {
    /// The loader options these flags and the process give.
    pub fn load_options(&self, sw: &LoadSwitches) -> LoadOptions {
        let mut o = LoadOptions::from_process();
        o.config_files = self.file.iter().map(PathBuf::from).collect();
        o.project_directory = self.project_directory.as_ref().map(PathBuf::from);
        o.project_name = self.project_name.clone();
        o.profiles = self
            .profile
            .iter()
            .flat_map(|p| p.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect();
        o.env_files = self.env_file.iter().map(PathBuf::from).collect();
        o.skip_interpolation = sw.skip_interpolation;
        o.skip_normalization = sw.skip_normalization;
        o.skip_consistency_check = sw.skip_consistency_check;
        o.skip_resolve_paths = sw.skip_resolve_paths;
        o.services = sw.services.clone();
        o.keep_unused_resources = self.all_resources;
        if self.file.iter().any(|f| f == "-") {
            let mut text = String::new();
            if std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).is_ok() {
                o.stdin = Some(text);
            }
        }
        o
    }

    /// Loads the project; errors are printed as compose prints them, exit 1.
    pub fn load(&self, sw: &LoadSwitches) -> CliResult<Project> {
        berth_compose::load(&self.load_options(sw)).map_err(load_error)
    }
}

/// A loader error as the compose CLI reports it.
pub fn load_error(e: LoadError) -> CliError {
    CliError::status(1, e.to_string())
}

/// Runs a compose command.
pub async fn run(host: Option<&str>, args: ComposeArgs) -> CliResult {
    let _ = host;
    match &args.command {
        ComposeCommand::Config(c) => config::run(&args, c),
    }
}

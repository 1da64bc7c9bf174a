//! `berth compose`: Compose v2's command line. Global flags here; one module per command.
//!
//! Every command loads the project with [`ComposeArgs::load`] (compose-go's project options:
//! `-f`, `-p`, `--project-directory`, `--env-file`, `--profile`, `COMPOSE_*`); commands that
//! talk to the daemon build a `Ctx` themselves, so `config` works without one.

pub mod config;

// The commands that drive the daemon (berth-compose's engine), one module per command.
pub mod build;
pub mod common;
pub mod cp;
pub mod create;
pub mod down;
pub mod events;
pub mod exec;
pub mod images;
pub mod kill;
pub mod lifecycle;
pub mod logprint;
pub mod logs;
pub mod ls;
pub mod pause;
pub mod port;
pub mod ps;
pub mod pull;
pub mod restart;
pub mod rm;
pub mod run;
pub mod scale;
pub mod start;
pub mod stop;
pub mod top;
pub mod up;
pub mod version;
pub mod wait;
pub mod watch;

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
    #[arg(long = "ansi", default_value = "auto", env = "COMPOSE_ANSI")]
    pub ansi: String,
    /// Set type of progress output (auto, tty, plain, json, quiet)
    #[arg(long = "progress", env = "COMPOSE_PROGRESS")]
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
    /// Build or rebuild services
    Build(build::BuildArgs),
    /// Copy files/folders between a service container and the local filesystem
    Cp(cp::CpArgs),
    /// Creates containers for a service
    Create(create::CreateArgs),
    /// Stop and remove containers, networks
    Down(down::DownArgs),
    /// Receive real time events from containers
    Events(events::EventsArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// List images used by the created containers
    Images(images::ImagesArgs),
    /// Force stop service containers
    Kill(kill::KillArgs),
    /// View output from containers
    Logs(logs::LogsArgs),
    /// List running compose projects
    Ls(ls::LsArgs),
    /// Pause services
    Pause(pause::PauseArgs),
    /// Print the public port for a port binding
    Port(port::PortArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Pull service images
    Pull(pull::PullArgs),
    /// Push service images
    Push(pull::PushArgs),
    /// Restart service containers
    Restart(restart::RestartArgs),
    /// Removes stopped service containers
    Rm(rm::RmArgs),
    /// Run a one-off command on a service
    Run(run::RunArgs),
    /// Scale services
    Scale(scale::ScaleArgs),
    /// Start services
    Start(start::StartArgs),
    /// Stop services
    Stop(stop::StopArgs),
    /// Display the running processes
    Top(top::TopArgs),
    /// Unpause services
    Unpause(pause::PauseArgs),
    /// Create and start containers
    Up(up::UpArgs),
    /// Show the Docker Compose version information
    Version(version::VersionArgs),
    /// Block until containers of all (or specified) services stop.
    Wait(wait::WaitArgs),
    /// Watch build context for service and rebuild/refresh containers when files are updated
    Watch(watch::WatchArgs),
}

/// Per-load switches a command may set (`config --no-interpolate` ...).
#[derive(Debug, Default, Clone)]
pub struct LoadSwitches {
    pub skip_interpolation: bool,
    pub skip_normalization: bool,
    pub skip_consistency_check: bool,
    pub skip_resolve_paths: bool,
    /// `config --hash`: env files left unread, as compose loads for it.
    pub skip_env_file_resolution: bool,
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
        o.skip_env_file_resolution = sw.skip_env_file_resolution;
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
        let p = berth_compose::load(&self.load_options(sw)).map_err(load_error)?;
        for w in &p.warnings {
            warn(w);
        }
        Ok(p)
    }
}

/// A warning on stderr as compose logs it (logrus: `WARN[0000] ...` on a terminal, else
/// `time="..." level=warning msg="..."`).
pub fn warn(msg: &str) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprintln!("WARN[0000] {msg}");
    } else {
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        eprintln!("time=\"{now}\" level=warning msg={msg:?}");
    }
}

/// Compose's progress display for this command: `--progress`, `--ansi`, `NO_COLOR`, the
/// terminal; the tty block's title is the command's (`[+] Stopping 2/2`).
fn set_display(args: &ComposeArgs) -> CliResult {
    use berth_compose::engine::progress::{self, Mode};
    use std::io::IsTerminal;
    let no_colour = std::env::var("NO_COLOR").is_ok_and(|v| !v.is_empty());
    let ansi = if no_colour && args.ansi == "auto" {
        "never"
    } else {
        args.ansi.as_str()
    };
    if !matches!(ansi, "auto" | "never" | "always") {
        return Err(CliError::status(
            1,
            format!("unsupported --ansi value {ansi:?}"),
        ));
    }
    let mode = Mode::choose(
        args.progress.as_deref(),
        ansi,
        std::io::stderr().is_terminal(),
    )
    .map_err(|m| CliError::status(1, m))?;
    let title = match &args.command {
        ComposeCommand::Stop(_) => "Stopping",
        ComposeCommand::Restart(_) => "Restarting",
        ComposeCommand::Kill(_) => "Killing",
        ComposeCommand::Pause(_) => "Pausing",
        ComposeCommand::Unpause(_) => "Unpausing",
        ComposeCommand::Rm(_) => "Removing",
        ComposeCommand::Pull(_) => "Pulling",
        ComposeCommand::Push(_) => "Pushing",
        _ => "Running",
    };
    progress::set_display(mode, title, ansi != "never");
    Ok(())
}

/// A loader error as the compose CLI reports it.
pub fn load_error(e: LoadError) -> CliError {
    CliError::status(1, e.to_string())
}

/// Runs a compose command.
pub async fn run(host: Option<&str>, args: ComposeArgs) -> CliResult {
    let a = &args;
    set_display(a)?;
    match &args.command {
        ComposeCommand::Config(c) => config::run(a, c),
        ComposeCommand::Build(c) => build::run(host, a, c).await,
        ComposeCommand::Cp(c) => cp::run(host, a, c).await,
        ComposeCommand::Create(c) => create::run(host, a, c).await,
        ComposeCommand::Down(c) => down::run(host, a, c).await,
        ComposeCommand::Events(c) => events::run(host, a, c).await,
        ComposeCommand::Exec(c) => exec::run(host, a, c).await,
        ComposeCommand::Images(c) => images::run(host, a, c).await,
        ComposeCommand::Kill(c) => kill::run(host, a, c).await,
        ComposeCommand::Logs(c) => logs::run(host, a, c).await,
        ComposeCommand::Ls(c) => ls::run(host, c).await,
        ComposeCommand::Pause(c) => pause::run(host, a, c, true).await,
        ComposeCommand::Port(c) => port::run(host, a, c).await,
        ComposeCommand::Ps(c) => ps::run(host, a, c).await,
        ComposeCommand::Pull(c) => pull::pull(host, a, c).await,
        ComposeCommand::Push(c) => pull::push(host, a, c).await,
        ComposeCommand::Restart(c) => restart::run(host, a, c).await,
        ComposeCommand::Rm(c) => rm::run(host, a, c).await,
        ComposeCommand::Run(c) => run::run(host, a, c).await,
        ComposeCommand::Scale(c) => scale::run(host, a, c).await,
        ComposeCommand::Start(c) => start::run(host, a, c).await,
        ComposeCommand::Stop(c) => stop::run(host, a, c).await,
        ComposeCommand::Top(c) => top::run(host, a, c).await,
        ComposeCommand::Unpause(c) => pause::run(host, a, c, false).await,
        ComposeCommand::Up(c) => up::run(host, a, c, false).await,
        ComposeCommand::Version(c) => version::run(c),
        ComposeCommand::Wait(c) => wait::run(host, a, c).await,
        ComposeCommand::Watch(c) => watch::run(host, a, c).await,
    }
}

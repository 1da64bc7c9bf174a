//! The command tree: global flags, verbs, and the `container`/`image`/`system` management forms.

use clap::{Parser, Subcommand};

use crate::commands::{
    attach, build, build_prune, commit, compose, container_prune, cp, create, diff, events, exec,
    export, history, image_prune, images, import, info, inspect, kill, load, login, logs, network,
    pause, port, ps, pull, push, registry, rename, restart, rm, rmi, run, save, start, stats, stop,
    system_check, system_df, tag, top, update, version, volume, wait,
};

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true
)]
pub struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", global = false)]
    pub host: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Set the logging level ("debug", "info", "warn", "error", "fatal")
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    pub log_level: String,
    /// Location of client config files
    #[arg(long)]
    pub config: Option<String>,
    /// Name of the context to use
    #[arg(short = 'c', long)]
    pub context: Option<String>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image
    Run(Lazy<run::RunArgs>),
    /// Create a new container
    Create(Lazy<create::CreateArgs>),
    /// Start one or more stopped containers
    Start(start::StartArgs),
    /// Stop one or more running containers
    Stop(stop::StopArgs),
    /// Restart one or more containers
    Restart(restart::RestartArgs),
    /// Kill one or more running containers
    Kill(kill::KillArgs),
    /// Remove one or more containers
    Rm(rm::RmArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// Execute a command in a running container
    Exec(Lazy<exec::ExecArgs>),
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Return low-level information on Docker objects
    Inspect(inspect::InspectArgs),
    /// Display the running processes of a container
    Top(top::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Pause all processes within one or more containers
    Pause(pause::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(pause::PauseArgs),
    /// Rename a container
    Rename(rename::RenameArgs),
    /// Update configuration of one or more containers
    Update(Lazy<update::UpdateArgs>),
    /// Block until one or more containers stop, then print their exit codes
    Wait(wait::WaitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(diff::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(export::ExportArgs),
    /// Create a new image from a container's changes
    Commit(commit::CommitArgs),
    /// List images
    Images(images::ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(import::ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(tag::TagArgs),
    /// Remove one or more images
    Rmi(rmi::RmiArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(save::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(load::LoadArgs),
    /// Build an image from a Dockerfile
    Build(Lazy<build::BuildArgs>),
    /// Download an image from a registry
    Pull(pull::PullArgs),
    /// Upload an image to a registry
    Push(push::PushArgs),
    /// Authenticate to a registry
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(login::LogoutArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(Lazy<BuilderCommand>),
    /// Show the Docker version information
    Version(version::VersionArgs),
    /// Display system-wide information
    Info(info::InfoArgs),
    /// Get real time events from the server
    Events(events::EventsArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(Lazy<ContainerCommand>),
    /// Manage images
    #[command(subcommand)]
    Image(Lazy<ImageCommand>),
    /// Manage networks
    #[command(subcommand)]
    Network(Lazy<network::NetworkCommand>),
    /// List port mappings or a specific mapping for the container
    Port(port::PortArgs),
    /// Manage Docker
    #[command(subcommand)]
    System(Lazy<SystemCommand>),
    /// Manage volumes
    #[command(subcommand)]
    Volume(Lazy<VolumeCommand>),
    /// Define and run multi-container applications (Docker Compose v2)
    Compose(Lazy<compose::ComposeArgs>),
    /// Run berth's own image registry
    #[command(subcommand)]
    Registry(Lazy<registry::RegistryCommand>),
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(volume::CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(volume::LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(volume::InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(volume::RmArgs),
    /// Remove unused local volumes
    Prune(volume::PruneArgs),
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show docker disk usage
    Df(system_df::DfArgs),
    /// Verify the image store: blob digests and every reference (berth only)
    Check(system_check::CheckArgs),
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(Lazy<run::RunArgs>),
    /// Create a new container
    Create(Lazy<create::CreateArgs>),
    Start(start::StartArgs),
    Stop(stop::StopArgs),
    Restart(restart::RestartArgs),
    Kill(kill::KillArgs),
    #[command(alias = "remove")]
    Rm(rm::RmArgs),
    #[command(aliases = ["ps", "list"])]
    Ls(ps::PsArgs),
    Logs(logs::LogsArgs),
    Exec(Lazy<exec::ExecArgs>),
    Attach(attach::AttachArgs),
    Inspect(inspect::InspectArgs),
    Top(top::TopArgs),
    Stats(stats::StatsArgs),
    Pause(pause::PauseArgs),
    Unpause(pause::PauseArgs),
    /// Remove all stopped containers
    Prune(container_prune::PruneArgs),
    Rename(rename::RenameArgs),
    /// Update configuration of one or more containers
    Update(Lazy<update::UpdateArgs>),
    Wait(wait::WaitArgs),
    Cp(cp::CpArgs),
    Diff(diff::DiffArgs),
    Export(export::ExportArgs),
    Commit(commit::CommitArgs),
    Port(port::PortArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    #[command(alias = "list")]
    Ls(images::ImagesArgs),
    #[command(alias = "remove")]
    Rm(rmi::RmiArgs),
    Inspect(inspect::InspectArgs),
    Import(import::ImportArgs),
    Tag(tag::TagArgs),
    History(history::HistoryArgs),
    /// Remove unused images
    Prune(image_prune::PruneArgs),
    Save(save::SaveArgs),
    Load(load::LoadArgs),
    /// Build an image from a Dockerfile
    Build(Lazy<build::BuildArgs>),
    Pull(pull::PullArgs),
    Push(push::PushArgs),
}

#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(build_prune::BuildPruneArgs),
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
}

/// A verb's arguments, added to the command tree only when that verb is the one parsed
/// (clap's `Command::defer`). Building every verb's arguments cost each invocation about 1 ms
/// of CPU and 400 page faults, most of it the ~100 options `run` and `create` share, which
/// appear four times in the tree, and compose's; the other verbs' are small.
#[derive(Debug)]
pub struct Lazy<T>(pub T);

impl<T: clap::FromArgMatches> clap::FromArgMatches for Lazy<T> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Lazy)
    }

    fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Lazy)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(
        &mut self,
        matches: &mut clap::ArgMatches,
    ) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

impl<T: clap::Args> clap::Args for Lazy<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }

    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_verb_about(cmd, T::augment_args))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_verb_about(cmd, T::augment_args_for_update))
    }
}

/// A group of verbs (`container`, `image`, ...) is deferred the same way: its verbs are added
/// only when that group is the one parsed.
impl<T: clap::Subcommand> clap::Subcommand for Lazy<T> {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_verb_about(cmd, T::augment_subcommands))
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_verb_about(cmd, T::augment_subcommands_for_update))
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

/// Adds the arguments, then puts back the verb's own description: eagerly, the derive sets the
/// variant's after the arguments' struct had set its own; deferred, the struct's comes last.
fn keep_verb_about(
    cmd: clap::Command,
    augment: fn(clap::Command) -> clap::Command,
) -> clap::Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let cmd = augment(cmd);
    let cmd = match about {
        Some(about) => cmd.about(about),
        None => cmd,
    };
    match long_about {
        Some(long_about) => cmd.long_about(long_about),
        None => cmd.long_about(None::<&'static str>),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_tree_is_consistent_with_every_verb_built() {
        // debug_assert builds the deferred verbs too.
        Cli::command().debug_assert();
    }

    #[test]
    fn deferred_verbs_parse_as_eager_ones_did() {
        let parse = |argv: &[&str]| Cli::try_parse_from(argv).expect("parses");
        let cli = parse(&[
            "berth",
            "-H",
            "unix:///x",
            "run",
            "-d",
            "--network",
            "none",
            "busybox",
            "sleep",
            "1",
        ]);
        assert_eq!(cli.host.as_deref(), Some("unix:///x"));
        let Some(Command::Run(Lazy(run))) = cli.command else {
            panic!("not run");
        };
        assert!(run.detach);
        assert_eq!(run.opts.network.as_deref(), Some("none"));
        assert_eq!(run.args, ["busybox", "sleep", "1"]);
        let cli = parse(&["berth", "container", "create", "--name", "x", "busybox"]);
        assert!(matches!(
            cli.command,
            Some(Command::Container(Lazy(ContainerCommand::Create(Lazy(_)))))
        ));
        // Deferred groups parse their verbs, and keep their own description.
        assert!(matches!(
            parse(&["berth", "image", "ls", "-q"]).command,
            Some(Command::Image(Lazy(ImageCommand::Ls(_))))
        ));
        assert!(matches!(
            parse(&["berth", "volume", "rm", "v1"]).command,
            Some(Command::Volume(Lazy(VolumeCommand::Rm(_))))
        ));
        assert!(matches!(
            parse(&["berth", "network", "create", "n1"]).command,
            Some(Command::Network(Lazy(_)))
        ));
        let err = Cli::try_parse_from(["berth", "container", "nosuchverb"]).expect_err("unknown");
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidSubcommand);
        let mut tree = Cli::command();
        tree.build();
        let group = tree.find_subcommand("container").expect("container");
        assert_eq!(
            group.get_about().map(ToString::to_string).as_deref(),
            Some("Manage containers")
        );
        // A deferred verb's flags are still checked, and its own description stays.
        let err = Cli::try_parse_from(["berth", "run", "--network"]).expect_err("no value");
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
        let mut tree = Cli::command();
        tree.build();
        let run = tree.find_subcommand("run").expect("run");
        assert_eq!(
            run.get_about().map(ToString::to_string).as_deref(),
            Some("Create and run a new container from an image")
        );
    }
}

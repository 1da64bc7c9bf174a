//! `berth`: the docker-compatible command line. The binary (`main.rs`) only calls [`main`],
//! so `scripts/build-cli` relinks it statically without compiling the CLI again.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod attach_io;
mod cli;
mod commands;
mod container_opts;
mod cp_paths;
mod ctx;
mod docker_config;
mod error;
mod format;
mod health_opts;
mod jsonmessage;
mod mount_opts;
mod output_file;
mod resource_opts;
mod term;
mod trace;
mod usage;

use clap::Parser;

use crate::cli::{Cli, Command, ContainerCommand, ImageCommand, SystemCommand, VolumeCommand};
use crate::ctx::Ctx;
use crate::error::{CliError, CliResult};

/// Parses the command line, runs the command and exits with its status.
pub fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let (text, code) = usage::from_clap(e, &args);
            if code == 0 {
                print!("{text}");
            } else {
                eprintln!("{text}");
            }
            std::process::exit(code);
        }
    };
    // One thread: a command is a few requests and streams, and worker threads (stacks, malloc
    // arenas, wake-ups) cost more CPU to start than they would ever save.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: {e}", usage::prog());
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async move {
        match dispatch(cli).await {
            Ok(()) => 0,
            Err(e) => {
                let text = e.to_string();
                if !text.is_empty() {
                    eprintln!("{text}");
                }
                e.code()
            }
        }
    });
    // Background stdin readers may still block; leave without waiting for them.
    runtime.shutdown_background();
    std::process::exit(code);
}

async fn dispatch(cli: Cli) -> CliResult {
    if cli.debug {
        trace::enable();
    }
    if cli.version {
        println!(
            "{} version {}, build berth",
            usage::prog(),
            berth_api::version::ENGINE_VERSION
        );
        return Ok(());
    }
    let Some(command) = cli.command else {
        return Err(CliError::status(0, format!("Usage:  {} [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n\nRun '{} --help' for more information", usage::prog(), usage::prog())));
    };
    if let Command::Compose(cli::Lazy(c)) = command {
        return commands::compose::run(cli.host.as_deref(), c).await; // builds its own Ctx
    }
    if let Command::Registry(cli::Lazy(c)) = command {
        return commands::registry::run(c).await; // serves; needs no daemon
    }
    let ctx = Ctx::new(cli.host.as_deref())?;
    match command {
        Command::Run(cli::Lazy(a)) => commands::run::run(&ctx, "run", a).await,
        Command::Create(cli::Lazy(a)) => commands::create::run(&ctx, "create", a).await,
        Command::Start(a) => commands::start::run(&ctx, "start", a).await,
        Command::Stop(a) => commands::stop::run(&ctx, "stop", a).await,
        Command::Restart(a) => commands::restart::run(&ctx, "restart", a).await,
        Command::Kill(a) => commands::kill::run(&ctx, "kill", a).await,
        Command::Rm(a) => commands::rm::run(&ctx, "rm", a).await,
        Command::Ps(a) => commands::ps::run(&ctx, "ps", a).await,
        Command::Logs(a) => commands::logs::run(&ctx, "logs", a).await,
        Command::Exec(cli::Lazy(a)) => commands::exec::run(&ctx, "exec", a).await,
        Command::Attach(a) => commands::attach::run(&ctx, "attach", a).await,
        Command::Inspect(a) => commands::inspect::run(&ctx, "inspect", a, None).await,
        Command::Top(a) => commands::top::run(&ctx, "top", a).await,
        Command::Stats(a) => commands::stats::run(&ctx, "stats", a).await,
        Command::Pause(a) => commands::pause::pause(&ctx, "pause", a).await,
        Command::Unpause(a) => commands::pause::unpause(&ctx, "unpause", a).await,
        Command::Rename(a) => commands::rename::run(&ctx, "rename", a).await,
        Command::Update(cli::Lazy(a)) => commands::update::run(&ctx, "update", a).await,
        Command::Wait(a) => commands::wait::run(&ctx, "wait", a).await,
        Command::Cp(a) => commands::cp::run(&ctx, "cp", a).await,
        Command::Diff(a) => commands::diff::run(&ctx, "diff", a).await,
        Command::Export(a) => commands::export::run(&ctx, "export", a).await,
        Command::Commit(a) => commands::commit::run(&ctx, "commit", a).await,
        Command::Images(a) => commands::images::run(&ctx, "images", a).await,
        Command::Import(a) => commands::import::run(&ctx, "import", a).await,
        Command::Save(a) => commands::save::run(&ctx, "save", a).await,
        Command::Load(a) => commands::load::run(&ctx, "load", a).await,
        Command::Build(cli::Lazy(a)) => commands::build::run(&ctx, a).await,
        Command::Pull(a) => commands::pull::run(&ctx, "pull", a).await,
        Command::Login(a) => commands::login::login(&ctx, a).await,
        Command::Logout(a) => commands::login::logout(&ctx, a).await,
        Command::Push(a) => commands::push::run(&ctx, "push", a).await,
        Command::Builder(cli::Lazy(cli::BuilderCommand::Build(a))) => {
            commands::build::run(&ctx, *a).await
        }
        Command::Builder(cli::Lazy(cli::BuilderCommand::Prune(a))) => {
            commands::build_prune::run(&ctx, a).await
        }
        Command::Tag(a) => commands::tag::run(&ctx, "tag", a).await,
        Command::Rmi(a) => commands::rmi::run(&ctx, "rmi", a).await,
        Command::History(a) => commands::history::run(&ctx, "history", a).await,
        Command::Version(a) => commands::version::run(&ctx, "version", a).await,
        Command::Info(a) => commands::info::run(&ctx, "info", a).await,
        Command::Events(a) => commands::events::run(&ctx, "events", a).await,
        Command::Container(cli::Lazy(c)) => match c {
            ContainerCommand::Run(cli::Lazy(a)) => {
                commands::run::run(&ctx, "container run", a).await
            }
            ContainerCommand::Create(cli::Lazy(a)) => {
                commands::create::run(&ctx, "container create", a).await
            }
            ContainerCommand::Start(a) => commands::start::run(&ctx, "container start", a).await,
            ContainerCommand::Stop(a) => commands::stop::run(&ctx, "container stop", a).await,
            ContainerCommand::Restart(a) => {
                commands::restart::run(&ctx, "container restart", a).await
            }
            ContainerCommand::Kill(a) => commands::kill::run(&ctx, "container kill", a).await,
            ContainerCommand::Rm(a) => commands::rm::run(&ctx, "container rm", a).await,
            ContainerCommand::Ls(a) => commands::ps::run(&ctx, "container ls", a).await,
            ContainerCommand::Logs(a) => commands::logs::run(&ctx, "container logs", a).await,
            ContainerCommand::Exec(cli::Lazy(a)) => {
                commands::exec::run(&ctx, "container exec", a).await
            }
            ContainerCommand::Attach(a) => commands::attach::run(&ctx, "container attach", a).await,
            ContainerCommand::Inspect(a) => {
                commands::inspect::run(&ctx, "container inspect", a, Some("container")).await
            }
            ContainerCommand::Top(a) => commands::top::run(&ctx, "container top", a).await,
            ContainerCommand::Stats(a) => commands::stats::run(&ctx, "container stats", a).await,
            ContainerCommand::Pause(a) => commands::pause::pause(&ctx, "container pause", a).await,
            ContainerCommand::Unpause(a) => {
                commands::pause::unpause(&ctx, "container unpause", a).await
            }
            ContainerCommand::Prune(a) => {
                commands::container_prune::run(&ctx, "container prune", a).await
            }
            ContainerCommand::Rename(a) => commands::rename::run(&ctx, "container rename", a).await,
            ContainerCommand::Update(cli::Lazy(a)) => {
                commands::update::run(&ctx, "container update", a).await
            }
            ContainerCommand::Wait(a) => commands::wait::run(&ctx, "container wait", a).await,
            ContainerCommand::Cp(a) => commands::cp::run(&ctx, "container cp", a).await,
            ContainerCommand::Diff(a) => commands::diff::run(&ctx, "container diff", a).await,
            ContainerCommand::Export(a) => commands::export::run(&ctx, "container export", a).await,
            ContainerCommand::Commit(a) => commands::commit::run(&ctx, "container commit", a).await,
            ContainerCommand::Port(a) => commands::port::run(&ctx, "container port", a).await,
        },
        Command::Network(cli::Lazy(c)) => commands::network::run(&ctx, c).await,
        Command::Port(a) => commands::port::run(&ctx, "port", a).await,
        Command::Image(cli::Lazy(c)) => match c {
            ImageCommand::Ls(a) => commands::images::run(&ctx, "image ls", a).await,
            ImageCommand::Rm(a) => commands::rmi::run(&ctx, "image rm", a).await,
            ImageCommand::Inspect(a) => {
                commands::inspect::run(&ctx, "image inspect", a, Some("image")).await
            }
            ImageCommand::Import(a) => commands::import::run(&ctx, "image import", a).await,
            ImageCommand::Save(a) => commands::save::run(&ctx, "image save", a).await,
            ImageCommand::Load(a) => commands::load::run(&ctx, "image load", a).await,
            ImageCommand::Build(cli::Lazy(a)) => commands::build::run(&ctx, a).await,
            ImageCommand::Pull(a) => commands::pull::run(&ctx, "image pull", a).await,
            ImageCommand::Push(a) => commands::push::run(&ctx, "image push", a).await,
            ImageCommand::Tag(a) => commands::tag::run(&ctx, "image tag", a).await,
            ImageCommand::History(a) => commands::history::run(&ctx, "image history", a).await,
            ImageCommand::Prune(a) => commands::image_prune::run(&ctx, "image prune", a).await,
        },
        Command::System(cli::Lazy(c)) => match c {
            SystemCommand::Df(a) => commands::system_df::run(&ctx, "system df", a).await,
            SystemCommand::Check(a) => commands::system_check::run(&ctx, "system check", a).await,
        },
        Command::Volume(cli::Lazy(c)) => match c {
            VolumeCommand::Create(a) => commands::volume::create(&ctx, "volume create", a).await,
            VolumeCommand::Ls(a) => commands::volume::ls(&ctx, "volume ls", a).await,
            VolumeCommand::Inspect(a) => commands::volume::inspect(&ctx, "volume inspect", a).await,
            VolumeCommand::Rm(a) => commands::volume::rm(&ctx, "volume rm", a).await,
            VolumeCommand::Prune(a) => commands::volume::prune(&ctx, "volume prune", a).await,
        },
        Command::Registry(cli::Lazy(c)) => commands::registry::run(c).await,
        Command::Compose(cli::Lazy(c)) => commands::compose::run(cli.host.as_deref(), c).await,
    }
}

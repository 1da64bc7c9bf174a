//! `compose create`: `up --no-start`.

use clap::Args;

use super::up::{self, UpArgs};
use super::ComposeArgs;
use crate::error::CliResult;

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// Don't build an image, even if it's policy
    #[arg(long = "no-build")]
    pub no_build: bool,
    /// If containers already exist, don't recreate them. Incompatible with --force-recreate.
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    /// Pull image before running ("always"|"missing"|"never"|"build")
    #[arg(long, default_value = "policy")]
    pub pull: String,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances
    #[arg(long)]
    pub scale: Vec<String>,
    /// Assume "yes" as answer to all prompts and run non-interactively
    #[arg(short = 'y', long)]
    pub yes: bool,
    pub services: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &CreateArgs) -> CliResult {
    let up = UpArgs {
        detach: true,
        build: args.build,
        no_build: args.no_build,
        pull: args.pull.clone(),
        wait: false,
        wait_timeout: None,
        scale: args.scale.clone(),
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        always_recreate_deps: false,
        no_deps: false,
        remove_orphans: args.remove_orphans,
        abort_on_container_exit: false,
        exit_code_from: None,
        no_start: true,
        timeout: None,
        attach: Vec::new(),
        no_attach: Vec::new(),
        no_color: false,
        no_log_prefix: false,
        quiet_pull: false,
        yes: args.yes,
        watch: false,
        services: args.services.clone(),
    };
    up::run(host, compose, &up, true).await
}

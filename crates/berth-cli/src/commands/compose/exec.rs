//! `compose exec`: a command in a service's running container (replica `--index`).

use clap::{ArgAction, Args};

use super::common;
use super::ComposeArgs;
use crate::commands::exec::ExecArgs as DockerExecArgs;
use crate::error::{CliError, CliResult};
use crate::term;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: i64,
    /// Disable pseudo-TTY allocation. By default `docker compose exec` allocates a TTY.
    #[arg(short = 'T', long = "no-tty")]
    pub no_tty: bool,
    /// Give extended privileges to the process
    #[arg(long)]
    pub privileged: bool,
    /// Run the command as this user
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// SERVICE COMMAND [ARGS...]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, action = ArgAction::Append)]
    pub args: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &ExecArgs) -> CliResult {
    if args.args.len() < 2 {
        return Err(CliError::status(1, "requires at least 2 arguments"));
    }
    let service = &args.args[0];
    let (name, project) = common::project_or_name(compose, std::slice::from_ref(service))?;
    common::check_services(project.as_ref(), std::slice::from_ref(service))?;
    let engine = common::engine(host, true)?;
    let c = common::service_container(&engine, &name, service, args.index).await?;
    let tty = !args.no_tty && term::stdin_is_tty();
    let ctx = crate::ctx::Ctx::new(host)?;
    let mut docker_args = vec![c.name()];
    docker_args.extend(args.args[1..].iter().cloned());
    crate::commands::exec::run(
        &ctx,
        "exec",
        DockerExecArgs {
            detach: args.detach,
            detach_keys: None,
            env: args.env.clone(),
            env_file: Vec::new(),
            interactive: !args.detach,
            privileged: args.privileged,
            tty,
            user: args.user.clone(),
            workdir: args.workdir.clone(),
            args: docker_args,
        },
    )
    .await
}

//! `start`: start containers; with `-a` attach and exit with the container's code.

use clap::{ArgAction, Args};

use crate::attach_io::{self, StreamEnd};
use crate::commands::for_each_name;
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use crate::term;

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    pub containers: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: StartArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.containers.len())?;
    if !(args.attach || args.interactive) {
        let client = &ctx.client;
        let keys = args.detach_keys.as_deref();
        return for_each_name(
            &args.containers,
            Some("start containers"),
            |name| async move {
                client
                    .container_start(&name, keys)
                    .await
                    .map(|_| Some(name))
            },
        )
        .await;
    }
    if args.containers.len() > 1 {
        return Err(CliError::status(
            1,
            "you cannot start and attach multiple containers at once",
        ));
    }
    let id = &args.containers[0];
    let info = ctx.client.container_inspect(id).await?;
    let tty = info
        .pointer("/Config/Tty")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let open_stdin = info
        .pointer("/Config/OpenStdin")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let stdin = args.interactive && open_stdin;
    let (opts, keys) = attach_io::stream_attach(args.detach_keys.as_deref(), stdin)?;
    let stream = ctx.client.container_attach(id, &opts).await?;
    let waiter = ctx.client.container_wait(id, Some("next-exit")).await?;
    let raw = if tty && stdin {
        Some(term::RawMode::enable().map_err(|e| CliError::status(1, e.to_string()))?)
    } else {
        None
    };
    if let Err(e) = ctx.client.container_start(id, None).await {
        drop(raw);
        return Err(CliError::status(1, e.to_string()));
    }
    let end = attach_io::pump(stream, tty, stdin, keys).await;
    drop(raw);
    if let StreamEnd::Detached = end? {
        return Ok(());
    }
    let status = waiter.result().await?;
    if status.status_code != 0 {
        return Err(CliError::exit(status.status_code as i32));
    }
    Ok(())
}

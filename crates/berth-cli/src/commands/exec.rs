//! `exec`: run a command in a running container; exit with its code.

use berth_api::models::ExecConfig;
use clap::{ArgAction, Args};

use crate::attach_io::{self, StreamEnd};
use crate::container_opts::{expand_env, read_kv_file};
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use crate::term;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, action = ArgAction::Append)]
    pub args: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: ExecArgs) -> CliResult {
    crate::usage::check_leading_flag(path, args.args.first())?;
    Arity::AtLeast(2).check(path, args.args.len())?;
    let container = &args.args[0];
    if args.tty && args.interactive && !args.detach && !term::stdin_is_tty() {
        return Err(CliError::status(1, "the input device is not a TTY"));
    }
    let mut env = Vec::new();
    for f in &args.env_file {
        env.extend(read_kv_file(f, true).map_err(|e| CliError::status(1, e.to_string()))?);
    }
    env.extend(expand_env(&args.env));
    let (_, keys) = attach_io::detach_keys(args.detach_keys.as_deref())?;
    let attach = !args.detach;
    let config = ExecConfig {
        attach_stdin: Some(attach && args.interactive),
        attach_stdout: Some(attach),
        attach_stderr: Some(attach),
        console_size: if args.tty {
            term::window_size().map(|(h, w)| vec![h as i32, w as i32])
        } else {
            None
        },
        detach_keys: args.detach_keys.clone(),
        tty: Some(args.tty),
        env: (!env.is_empty()).then_some(env),
        cmd: Some(args.args[1..].to_vec()),
        privileged: Some(args.privileged),
        user: args.user.clone(),
        working_dir: args.workdir.clone(),
    };
    let exec_id = ctx.client.exec_create(container, &config).await?;
    if args.detach {
        ctx.client.exec_start_detached(&exec_id, args.tty).await?;
        return Ok(());
    }
    let stream = ctx.client.exec_start_attached(&exec_id, args.tty).await?;
    let raw = if args.tty && args.interactive {
        Some(term::RawMode::enable().map_err(|e| CliError::status(1, e.to_string()))?)
    } else {
        None
    };
    let resize_task = args.tty.then(|| {
        let client = std::sync::Arc::new(berth_client::Client::new(ctx.client.host().clone()));
        let id = exec_id.clone();
        attach_io::monitor_resize(move |h, w| {
            let client = client.clone();
            let id = id.clone();
            async move {
                let _ = client.exec_resize(&id, h, w).await;
            }
        })
    });
    let end = attach_io::pump(stream, args.tty, args.interactive, keys).await;
    drop(raw);
    if let Some(t) = resize_task {
        t.abort();
    }
    if let StreamEnd::Detached = end? {
        return Ok(());
    }
    let state = ctx.client.exec_inspect(&exec_id).await?;
    let code = state.get("ExitCode").and_then(|v| v.as_i64()).unwrap_or(0);
    if code != 0 {
        return Err(CliError::exit(code as i32));
    }
    Ok(())
}

//! `attach`: connect the terminal to a running container; exit with its code.

use clap::{ArgAction, Args};

use crate::attach_io::{self, StreamEnd};
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use crate::term;

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = true, action = ArgAction::Set)]
    pub sig_proxy: bool,
    pub container: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: AttachArgs) -> CliResult {
    Arity::Exactly(1).check(path, args.container.len())?;
    let name = &args.container[0];
    let info = ctx.client.container_inspect(name).await?;
    let running = info
        .pointer("/State/Running")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if !running {
        return Err(CliError::status(
            1,
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if info
        .pointer("/State/Paused")
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
    {
        return Err(CliError::status(
            1,
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    let id = info
        .get("Id")
        .and_then(|v| v.as_str())
        .unwrap_or(name)
        .to_string();
    let tty = info
        .pointer("/Config/Tty")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let stdin = !args.no_stdin
        && info
            .pointer("/Config/OpenStdin")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
    if tty && stdin && !term::stdin_is_tty() {
        return Err(CliError::status(1, "the input device is not a TTY"));
    }
    let (opts, keys) = attach_io::stream_attach(args.detach_keys.as_deref(), stdin)?;
    let waiter = ctx.client.container_wait(&id, Some("next-exit")).await?;
    let stream = ctx.client.container_attach(&id, &opts).await?;
    let raw = if tty && stdin {
        Some(term::RawMode::enable().map_err(|e| CliError::status(1, e.to_string()))?)
    } else {
        None
    };
    let shared = std::sync::Arc::new(berth_client::Client::new(ctx.client.host().clone()));
    let resize_task = tty.then(|| {
        let c = shared.clone();
        let id = id.clone();
        attach_io::monitor_resize(move |h, w| {
            let c = c.clone();
            let id = id.clone();
            async move {
                let _ = c.container_resize(&id, h, w).await;
            }
        })
    });
    let proxies = if args.sig_proxy && !tty {
        crate::commands::run::proxy_signals(shared, id.clone())
    } else {
        Vec::new()
    };
    let end = attach_io::pump(stream, tty, stdin, keys).await;
    drop(raw);
    if let Some(t) = resize_task {
        t.abort();
    }
    for p in proxies {
        p.abort();
    }
    if let StreamEnd::Detached = end? {
        return Ok(());
    }
    let status = waiter.result().await?;
    if status.status_code != 0 {
        return Err(CliError::exit(status.status_code as i32));
    }
    Ok(())
}

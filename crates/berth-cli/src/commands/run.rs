//! `run`: create, attach, wait, start, stream until exit, exit with the container's code.

use clap::{ArgAction, Args};

use crate::attach_io::{self, StreamEnd};
use crate::commands::create::{create_container, with_help};
use crate::container_opts::{ContainerOpts, Positionals};
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use crate::term;
use crate::trace;

pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    #[command(flatten)]
    pub opts: ContainerOpts,
    /// Run container in background and print container ID
    #[arg(short = 'd', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub detach: bool,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long)]
    pub attach: Vec<String>,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = true, action = ArgAction::Set)]
    pub sig_proxy: bool,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, action = ArgAction::Append)]
    pub args: Vec<String>,
}

/// docker's exit code for a failed start: 127 missing executable, 126 not executable, else 125.
pub fn start_error_code(message: &str) -> i32 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

const PROXIED_SIGNALS: [(libc::c_int, &str); 6] = [
    (libc::SIGINT, "SIGINT"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGUSR2, "SIGUSR2"),
];

/// Forwards the signals we receive to the container (`--sig-proxy`).
pub fn proxy_signals(
    client: std::sync::Arc<berth_client::Client>,
    id: String,
) -> Vec<tokio::task::JoinHandle<()>> {
    PROXIED_SIGNALS
        .iter()
        .filter_map(|&(num, name)| {
            let mut sig =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(num)).ok()?;
            let client = client.clone();
            let id = id.clone();
            Some(tokio::spawn(async move {
                while sig.recv().await.is_some() {
                    let _ = client.container_kill(&id, Some(name)).await;
                }
            }))
        })
        .collect()
}

pub async fn run(ctx: &Ctx, path: &str, args: RunArgs) -> CliResult {
    crate::usage::check_leading_flag(path, args.args.first())?;
    Arity::AtLeast(1).check(path, args.args.len())?;
    let opts = &args.opts;
    if opts.tty && opts.interactive && !args.detach && !term::stdin_is_tty() {
        return Err(with_help("the input device is not a TTY", path, 1));
    }
    let detach_keys_spec = args
        .detach_keys
        .clone()
        .unwrap_or_else(|| DEFAULT_DETACH_KEYS.to_string());
    let detach_keys =
        attach_io::parse_detach_keys(&detach_keys_spec).map_err(|e| with_help(e, path, 125))?;
    let pos = Positionals {
        image: args.args[0].clone(),
        command: args.args[1..].to_vec(),
    };
    let total = trace::step("total");
    // No `GET /_ping` first: the create goes out at our API version, and only a daemon too old
    // for it makes the client negotiate (berth_client's `request_replayable`).
    let id = trace::timed(
        "create",
        create_container(ctx, opts, &pos, args.detach, &args.attach),
    )
    .await
    .map_err(|e| match e {
        CliError::Status { .. } => e,
        // docker maps a refused create like a failed start (a missing device is 127).
        other => {
            let code = start_error_code(&other.to_string());
            with_help(other, path, code)
        }
    })?;
    let client = &ctx.client;
    if args.detach {
        if let Err(e) = trace::timed("start", client.container_start(&id, None)).await {
            let code = start_error_code(&e.to_string());
            return Err(with_help(e, path, code));
        }
        total.done();
        return ctx.outln(&id);
    }
    let stdin = opts.interactive;
    let attach_opts = berth_client::AttachOptions {
        stream: true,
        stdin,
        stdout: args.attach.is_empty()
            || args.attach.iter().any(|a| a.eq_ignore_ascii_case("stdout")),
        stderr: args.attach.is_empty()
            || args.attach.iter().any(|a| a.eq_ignore_ascii_case("stderr")),
        logs: false,
        detach_keys: Some(detach_keys_spec.clone()),
    };
    let condition = if opts.rm { "removed" } else { "next-exit" };
    // Both must be in place before the start (no output lost, the exit seen) and neither
    // needs the other: one round trip, not two.
    let (stream, waiter) = tokio::join!(
        trace::timed("attach", client.container_attach(&id, &attach_opts)),
        trace::timed("wait", client.container_wait(&id, Some(condition))),
    );
    let stream = stream.map_err(|e| with_help(e, path, 125))?;
    let waiter = waiter.map_err(|e| with_help(e, path, 125))?;
    let raw = if opts.tty && stdin {
        Some(term::RawMode::enable().map_err(|e| with_help(e, path, 125))?)
    } else {
        None
    };
    if let Err(e) = trace::timed("start", client.container_start(&id, None)).await {
        drop(raw);
        let code = start_error_code(&e.to_string());
        eprintln!("{}", with_help(&e, path, code));
        if opts.rm {
            let _ = waiter.result().await;
        }
        return Err(CliError::exit(code));
    }
    let shared = std::sync::Arc::new(
        berth_client::Client::new(client.host().clone()).with_version(&client.api_version().await?),
    );
    let resize_task = opts.tty.then(|| {
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
    let proxies = if args.sig_proxy && !opts.tty {
        proxy_signals(shared.clone(), id.clone())
    } else {
        Vec::new()
    };
    let end = trace::timed(
        "output",
        attach_io::pump(stream, opts.tty, stdin, detach_keys),
    )
    .await;
    drop(raw);
    if let Some(t) = resize_task {
        t.abort();
    }
    for p in proxies {
        p.abort();
    }
    match end {
        Ok(StreamEnd::Detached) => return Ok(()),
        Ok(StreamEnd::Finished) => {}
        Err(e) => return Err(with_help(e, path, 125)),
    }
    // With --rm, the answer comes once the container is gone.
    let status = trace::timed(if opts.rm { "removed" } else { "exited" }, waiter.result())
        .await
        .map_err(|e| with_help(e, path, 125))?;
    total.done();
    if let Some(msg) = status
        .error
        .as_ref()
        .and_then(|e| e.message.clone())
        .filter(|m| !m.is_empty())
    {
        return Err(with_help(msg, path, 125));
    }
    if status.status_code != 0 {
        return Err(CliError::exit(status.status_code as i32));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> RunArgs {
        let mut v = vec!["run"];
        v.extend_from_slice(args);
        T::try_parse_from(v).unwrap().run
    }

    #[test]
    fn flags_before_image_and_command_after() {
        let a = parse(&["-it", "--rm", "-e", "A=1", "busybox", "ls", "-l", "--rm"]);
        assert!(a.opts.interactive && a.opts.tty && a.opts.rm);
        assert_eq!(a.opts.env, vec!["A=1"]);
        assert_eq!(a.args, vec!["busybox", "ls", "-l", "--rm"]);
    }

    #[test]
    fn bool_flags_take_explicit_values() {
        let a = parse(&["--sig-proxy=false", "-d", "--rm=false", "busybox"]);
        assert!(!a.sig_proxy && a.detach && !a.opts.rm);
        let b = parse(&["busybox"]);
        assert!(b.sig_proxy && !b.detach);
    }

    #[test]
    fn hostname_short_flag_is_not_help() {
        let a = parse(&["-h", "box", "--name", "n", "busybox"]);
        assert_eq!(a.opts.hostname.as_deref(), Some("box"));
        assert_eq!(a.opts.name.as_deref(), Some("n"));
    }

    #[test]
    fn unknown_flags_are_rejected() {
        // clap hands a leading unknown flag over as the first positional; we reject it as pflag does
        let a = parse(&["--bogus", "busybox"]);
        let err = crate::usage::check_leading_flag("run", a.args.first()).unwrap_err();
        assert_eq!(err.code(), 125);
        assert!(err
            .to_string()
            .starts_with("unknown flag: --bogus\n\nUsage:  "));
        let a = parse(&["-z"]);
        assert!(crate::usage::check_leading_flag("run", a.args.first())
            .unwrap_err()
            .to_string()
            .starts_with("unknown shorthand flag: 'z' in -z"));
        assert!(T::try_parse_from(["run", "-e"]).is_err());
    }

    #[test]
    fn exit_codes_for_start_errors() {
        assert_eq!(
            start_error_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(
            start_error_code("exec: \"/etc/passwd\": permission denied"),
            126
        );
        assert_eq!(start_error_code("something else"), 125);
    }
}

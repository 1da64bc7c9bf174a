//! `compose up` (and `create`): build or pull what is missing, converge, then either return
//! (`-d`) or follow every container's output, prefixed, until they exit or Ctrl-C stops them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use berth_compose::engine::up::{Member, Recreate, UpOptions};
use berth_compose::engine::Engine;
use berth_compose::Project;
use clap::Args;
use tokio::sync::mpsc;

use super::build::{build_services, BuildOptions};
use super::common::{self, engine_err};
use super::logprint::{short_name, LogPrinter};
use super::ComposeArgs;
use crate::error::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Detached mode: Run containers in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long = "no-build")]
    pub no_build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, default_value = "policy")]
    pub pull: String,
    /// Wait for services to be running|healthy. Implies detached mode.
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long = "wait-timeout")]
    pub wait_timeout: Option<u64>,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.
    #[arg(long)]
    pub scale: Vec<String>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them. Incompatible with --force-recreate.
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    /// Recreate dependent containers. Incompatible with --no-recreate.
    #[arg(long = "always-recreate-deps")]
    pub always_recreate_deps: bool,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Stops all containers if any container was stopped. Incompatible with -d
    #[arg(long = "abort-on-container-exit")]
    pub abort_on_container_exit: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit
    #[arg(long = "exit-code-from")]
    pub exit_code_from: Option<String>,
    /// Don't start the services after creating them
    #[arg(long = "no-start")]
    pub no_start: bool,
    /// Use this timeout in seconds for container shutdown when attached or when containers are already running
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<i64>,
    /// Restrict attaching to the specified services
    #[arg(long)]
    pub attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services
    #[arg(long = "no-attach")]
    pub no_attach: Vec<String>,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Pull without printing progress information
    #[arg(long = "quiet-pull")]
    pub quiet_pull: bool,
    /// Assume "yes" as answer to all prompts and run non-interactively
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Watch source code and rebuild/refresh containers when files are updated.
    #[arg(short = 'w', long)]
    pub watch: bool,
    pub services: Vec<String>,
}

/// `up --watch` without any `develop.watch` (compose's `NewWatcher`).
const WATCH_NONE: &str = "none of the selected services is configured for watch, see https://docs.docker.com/compose/how-tos/file-watch/";

/// `--scale a=2` into a map.
pub fn parse_scale(flags: &[String]) -> CliResult<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for f in flags {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            CliError::status(
                1,
                format!("invalid --scale option {f:?}. Should be SERVICE=NUM"),
            )
        })?;
        let n: i64 = v.parse().map_err(|_| {
            CliError::status(
                1,
                format!("invalid --scale option {f:?}. Should be SERVICE=NUM"),
            )
        })?;
        out.insert(k.to_string(), n);
    }
    Ok(out)
}

/// Build/pull step shared by `up`, `create` and `run`.
pub async fn prepare_images(
    engine: &Engine,
    project: &Project,
    services: &[String],
    build: bool,
    no_build: bool,
    pull: &str,
) -> CliResult {
    if !no_build {
        build_services(engine, project, services, &BuildOptions::default(), !build).await?;
    }
    let policy = match pull {
        "policy" | "" => None,
        p => Some(p),
    };
    engine
        .pull_missing(project, services, policy)
        .await
        .map_err(engine_err)
}

pub async fn run(
    host: Option<&str>,
    compose: &ComposeArgs,
    args: &UpArgs,
    create_only: bool,
) -> CliResult {
    if args.force_recreate && args.no_recreate {
        return Err(CliError::status(
            1,
            "--force-recreate and --no-recreate are incompatible",
        ));
    }
    let abort = args.abort_on_container_exit || args.exit_code_from.is_some();
    if args.detach && abort {
        return Err(CliError::status(
            1,
            "--abort-on-container-exit and --detach are incompatible",
        ));
    }
    if args.detach && args.watch {
        return Err(CliError::status(
            1,
            "--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch",
        ));
    }
    if args.no_build && args.watch {
        return Err(CliError::status(
            1,
            "--no-build and --watch are incompatible",
        ));
    }
    let mut project = common::load(compose, &args.services)?;
    common::check_services(Some(&project), &args.services)?;
    // Compose finds nothing to watch only once the containers are created (not started).
    let watch_none = args.watch
        && !project
            .services
            .values()
            .any(|s| s.develop.as_ref().is_some_and(|d| !d.watch.is_empty()));
    let scale = parse_scale(&args.scale)?;
    for k in scale.keys() {
        if !project.services.contains_key(k) {
            return Err(CliError::status(1, format!("no such service: {k}")));
        }
    }
    if let Some(svc) = &args.exit_code_from {
        if !project.services.contains_key(svc) {
            return Err(CliError::status(1, format!("no such service: {svc}")));
        }
    }
    for (k, n) in &scale {
        if let Some(s) = project.services.get_mut(k) {
            s.scale = Some(*n);
        }
    }
    let mut engine = common::engine(host, common::quiet_progress(compose))?;
    if !(create_only || args.no_start || args.detach || args.wait) {
        // Attached: hook output printed as compose does (`web-1 ->  | ...`).
        let printer = LogPrinter::new(&[], args.no_color, args.no_log_prefix);
        engine.hook_sink = Some(std::sync::Arc::new(move |name: &str, text: &str| {
            printer.lines(&format!("{name} "), 0, text)
        }));
    }
    let targets = Engine::targets(&project, &args.services, args.no_deps);
    prepare_images(
        &engine,
        &project,
        &targets,
        args.build,
        args.no_build,
        &args.pull,
    )
    .await?;
    let recreate = if args.force_recreate {
        Recreate::Force
    } else if args.no_recreate {
        Recreate::Never
    } else {
        Recreate::Diverged
    };
    let opts = UpOptions {
        services: args.services.clone(),
        no_deps: args.no_deps,
        recreate,
        recreate_deps: if args.always_recreate_deps {
            Recreate::Force
        } else if args.no_recreate {
            Recreate::Never
        } else {
            Recreate::Diverged
        },
        no_start: create_only || args.no_start || watch_none,
        scale,
        remove_orphans: args.remove_orphans,
        timeout: args.timeout,
        wait: args.wait,
        wait_timeout: args.wait_timeout.map(Duration::from_secs),
    };
    let members = engine.up(&project, &opts).await.map_err(engine_err)?;
    if watch_none {
        return Err(CliError::status(1, WATCH_NONE));
    }
    if create_only || args.no_start || args.detach || args.wait {
        return Ok(());
    }
    attach(&engine, &project, &targets, &members, args, abort).await
}

/// Attached mode: every container's output until all exit; Ctrl-C stops the project.
async fn attach(
    engine: &Engine,
    project: &Project,
    targets: &[String],
    members: &BTreeMap<String, Vec<Member>>,
    args: &UpArgs,
    abort: bool,
) -> CliResult {
    let attached: Vec<(String, Member)> = members
        .iter()
        .filter(|(svc, _)| targets.contains(svc))
        .filter(|(svc, _)| {
            if args.attach.is_empty() {
                // `attach: false` services are left out unless named with `--attach`.
                project
                    .services
                    .get(*svc)
                    .is_none_or(|s| s.attach != Some(false))
            } else {
                args.attach.contains(svc)
            }
        })
        .filter(|(svc, _)| !args.no_attach.contains(svc))
        .flat_map(|(svc, m)| m.iter().map(move |m| (svc.clone(), m.clone())))
        .collect();
    let names: Vec<String> = attached
        .iter()
        .map(|(_, m)| short_name(&project.name, &m.name))
        .collect();
    let printer = LogPrinter::new(&names, args.no_color, args.no_log_prefix);
    engine.progress.finish();
    // `--watch`: the file watch runs beside the logs; containers a rebuild creates are
    // followed too, and the logs end only with Ctrl-C.
    let mut session = if args.watch {
        let p = printer.clone();
        let log: super::watch::LogFn = Arc::new(move |line: &str| p.watch_line(line));
        Some(
            super::watch::Session::start(
                engine,
                project,
                targets,
                log,
                BuildOptions::default(),
                // Compose's `up --watch` does not prune.
                false,
                WATCH_NONE,
            )
            .await?,
        )
    } else {
        None
    };
    printer.status(&format!("Attaching to {}", names.join(", ")));
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, String, i64)>();
    let host = engine.client.host().clone();
    let version = engine.client.api_version().await?;
    let follow = |i: usize, svc: &String, m: &Member| {
        let client = berth_client::Client::new(host.clone()).with_version(&version);
        let printer = printer.clone();
        let tx = tx.clone();
        let short = short_name(&project.name, &m.name);
        let (svc, id) = (svc.clone(), m.id.clone());
        let tty = project.services.get(&svc).is_some_and(|s| s.tty);
        tokio::spawn(async move {
            let opts = berth_client::LogsOptions {
                follow: true,
                stdout: true,
                stderr: true,
                tail: Some("all".into()),
                ..Default::default()
            };
            if let Ok(body) = client.container_logs(&id, &opts).await {
                let _ = printer.copy(&short, i, body, tty).await;
            }
            let code = match client.container_wait(&id, Some("not-running")).await {
                Ok(h) => h.result().await.map(|r| r.status_code).unwrap_or(-1),
                Err(_) => -1,
            };
            let _ = tx.send((svc, short, code));
        });
    };
    for (i, (svc, m)) in attached.iter().enumerate() {
        follow(i, svc, m);
    }
    let mut followed = attached.len();
    let all_ids: Vec<String> = members.values().flatten().map(|m| m.id.clone()).collect();
    let mut remaining = attached.len();
    let mut exit_code: i64 = 0;
    let (printer_ref, ids_ref) = (&printer, &all_ids);
    let stop_all = |why: &'static str| async move {
        printer_ref.status(why);
        let ctrs = berth_compose::engine::state::containers(
            &engine.client,
            &project.name,
            false,
            berth_compose::engine::state::OneOff::Exclude,
        )
        .await
        .map_err(engine_err)?;
        let ctrs: Vec<_> = ctrs
            .into_iter()
            .filter(|c| ids_ref.iter().any(|i| i == c.id()))
            .collect();
        engine
            .in_reverse_order(Some(project), &ctrs, |c| {
                engine.stop_containers(Some(project), c, args.timeout)
            })
            .await
            .map_err(engine_err)
    };
    loop {
        let watched = async {
            match session.as_mut() {
                Some(s) => s.next(engine, project).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            created = watched => {
                match created {
                    Some(created) => {
                        for (svc, m) in created {
                            if attached.iter().any(|(s, _)| *s == svc) {
                                follow(followed, &svc, &m);
                                followed += 1;
                                remaining += 1;
                            }
                        }
                    }
                    None => session = None,
                }
            }
            got = rx.recv() => {
                let Some((svc, short, code)) = got else { break };
                printer.status(&format!("{short} exited with code {code}"));
                remaining -= 1;
                if args.exit_code_from.as_deref() == Some(svc.as_str()) {
                    exit_code = code;
                }
                if abort {
                    stop_all("Aborting on container exit...").await?;
                    break;
                }
                if remaining == 0 && session.is_none() {
                    break;
                }
            }
            _ = tokio::signal::ctrl_c() => {
                stop_all("Gracefully Stopping... press Ctrl+C again to force").await?;
                return Err(CliError::exit(130));
            }
        }
    }
    if exit_code != 0 {
        return Err(CliError::exit(exit_code as i32));
    }
    Ok(())
}

//! `compose watch` (and `up --watch`): act on file changes as `develop.watch` says — copy them
//! into the containers, restart them, run a command in them, or rebuild the image and
//! recreate them (`cmd/compose/watch.go`, `pkg/compose/watch.go`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use berth_compose::engine::up::{Member, Recreate, UpOptions};
use berth_compose::engine::watch::{self as w, go_quote_list, Plan, Watcher};
use berth_compose::engine::Engine;
use berth_compose::Project;
use clap::{ArgAction, Args};

use super::build::{build_services, BuildOptions};
use super::common::{self, engine_err};
use super::ComposeArgs;
use crate::error::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// hide build output
    #[arg(long)]
    pub quiet: bool,
    /// Prune dangling images on rebuild
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = ArgAction::Set)]
    pub prune: bool,
    /// Do not build & start services before watching
    #[arg(long = "no-up")]
    pub no_up: bool,
    pub services: Vec<String>,
}

/// Where watch writes its lines: plain for `watch`, with the `⦿` prefix under `up --watch`.
pub type LogFn = Arc<dyn Fn(&str) + Send + Sync>;

/// A running watch: the rules, the inotify watcher and what a rebuild needs.
pub struct Session {
    plan: Plan,
    watcher: Watcher,
    log: LogFn,
    build: BuildOptions,
    prune: bool,
}

impl Session {
    /// Plans the rules of `services`, runs the initial syncs, starts watching and logs
    /// `Watch enabled`. `none_msg`: the error when no selected service has a `develop` section.
    pub async fn start(
        engine: &Engine,
        project: &Project,
        services: &[String],
        log: LogFn,
        build: BuildOptions,
        prune: bool,
        none_msg: &str,
    ) -> CliResult<Self> {
        let plan = w::plan(project, services).map_err(engine_err)?;
        for warning in &plan.warnings {
            super::warn(warning);
        }
        for (svc, t) in &plan.initial {
            let files = w::initial_sync_files(project, svc, t).map_err(engine_err)?;
            engine
                .sync(&project.name, svc, &files)
                .await
                .map_err(engine_err)?;
        }
        if plan.paths.is_empty() {
            return Err(CliError::status(1, none_msg));
        }
        let watcher = Watcher::start(&plan.paths).map_err(engine_err)?;
        log("Watch enabled");
        Ok(Session {
            plan,
            watcher,
            log,
            build,
            prune,
        })
    }

    /// Waits for the next batch of changes and acts on it; returns the containers a rebuild
    /// created (for `up --watch` to follow). `None` when the watcher is gone.
    pub async fn next(
        &mut self,
        engine: &Engine,
        project: &Project,
    ) -> Option<Vec<(String, Member)>> {
        loop {
            match self.watcher.next().await? {
                Ok(batch) => {
                    return match self.handle(engine, project, &batch).await {
                        Ok(created) => Some(created),
                        Err(e) => {
                            super::warn(&format!("Error handling changed files: {e}"));
                            Some(Vec::new())
                        }
                    }
                }
                Err(e) => eprintln!("Watch disabled with errors: {e}"),
            }
        }
    }

    async fn handle(
        &self,
        engine: &Engine,
        project: &Project,
        batch: &[PathBuf],
    ) -> CliResult<Vec<(String, Member)>> {
        let log = &self.log;
        if batch.len() > 1000 {
            super::warn(&format!(
                "Very large batch of file changes detected: {} files. This may impact performance.",
                batch.len()
            ));
            log("Large batch of file changes detected. If you just switched branches, this is expected.");
        }
        let actions = w::classify(&self.plan.rules, batch);
        let mut created = Vec::new();
        if !actions.rebuild.is_empty() {
            let services: Vec<String> = actions.rebuild.iter().cloned().collect();
            created = self.rebuild(engine, project, &services).await?;
        }
        for (svc, paths) in &actions.sync {
            let n = actions.changes.get(svc).copied().unwrap_or(paths.len());
            log(&format!(
                "Syncing service {svc:?} after {n} changes were detected"
            ));
            engine
                .sync(&project.name, svc, paths)
                .await
                .map_err(engine_err)?;
        }
        if !actions.restart.is_empty() {
            let services: Vec<String> = actions.restart.iter().cloned().collect();
            restart(engine, project, &services).await?;
            log(&format!(
                "service(s) {} restarted",
                go_quote_list(&services)
            ));
        }
        for (svc, rules) in &actions.exec {
            for i in rules {
                engine
                    .watch_exec(&project.name, svc, &self.plan.rules[*i].trigger.exec)
                    .await
                    .map_err(engine_err)?;
            }
        }
        Ok(created)
    }

    /// Builds `services` and recreates their containers (`up --build` for them).
    async fn rebuild(
        &self,
        engine: &Engine,
        project: &Project,
        services: &[String],
    ) -> CliResult<Vec<(String, Member)>> {
        let log = &self.log;
        log(&format!(
            "Rebuilding service(s) {} after changes were detected...",
            go_quote_list(services)
        ));
        if let Err(e) = build_services(engine, project, services, &self.build, false).await {
            log(&format!("Build failed. Error: {}", e));
            return Err(e);
        }
        if self.prune {
            let mut keep = BTreeSet::new();
            for s in services {
                let image = berth_compose::engine::spec::image_name(project, &project.services[s]);
                if let Ok(Some(id)) =
                    berth_compose::engine::state::image_id(&engine.client, &image).await
                {
                    keep.insert(id);
                }
            }
            let _ = engine.prune_dangling(&project.name, &keep).await;
        }
        log(&format!(
            "service(s) {} successfully built",
            go_quote_list(services)
        ));
        let opts = UpOptions {
            services: services.to_vec(),
            no_deps: true,
            recreate: Recreate::Force,
            recreate_deps: Recreate::Never,
            ..Default::default()
        };
        // Compose recreates without progress lines here.
        let version = engine.client.api_version().await?;
        let client = berth_client::Client::new(engine.client.host().clone()).with_version(&version);
        let quiet = Engine::new(client, true);
        match quiet.up(project, &opts).await {
            Ok(members) => Ok(members
                .into_iter()
                .filter(|(svc, _)| services.contains(svc))
                .flat_map(|(svc, ms)| ms.into_iter().map(move |m| (svc.clone(), m)))
                .collect()),
            Err(e) => {
                let e = engine_err(e);
                log(&format!(
                    "Failed to recreate services after update. Error: {}",
                    e
                ));
                Err(e)
            }
        }
    }
}

/// Restarts the containers of `services` and of the services depending on them.
async fn restart(engine: &Engine, project: &Project, services: &[String]) -> CliResult {
    let all = berth_compose::engine::graph::Graph::with_dependents(project, services);
    let list = common::containers(
        engine,
        &project.name,
        &all,
        true,
        berth_compose::engine::state::OneOff::Exclude,
    )
    .await?;
    // Compose's internal restart: no progress lines, only the watch line after.
    for c in list {
        engine
            .client
            .container_restart(c.id(), None, None)
            .await
            .map_err(|e| engine_err(e.into()))?;
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub async fn interrupted() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &WatchArgs) -> CliResult {
    let mut project = common::load(compose, &args.services)?;
    common::check_services(Some(&project), &args.services)?;
    let engine = common::engine(host, common::quiet_progress(compose))?;
    let build = BuildOptions {
        quiet: args.quiet,
        ..Default::default()
    };
    let work = async {
        if !args.no_up {
            up(&engine, &mut project, &args.services, &build).await?;
        }
        let log: LogFn = Arc::new(|line: &str| {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        });
        let mut session = Session::start(
            &engine,
            &project,
            &args.services,
            log,
            build.clone(),
            args.prune,
            "none of the selected services is configured for watch, consider setting a 'develop' section",
        )
        .await?;
        while session.next(&engine, &project).await.is_some() {}
        Ok::<(), CliError>(())
    };
    // Compose cancels its context on SIGINT/SIGTERM and exits 130; the project keeps running.
    tokio::select! {
        r = work => r,
        _ = interrupted() => Err(CliError::exit(130)),
    }
}

/// `up -d` of the watched services: those with both `build` and `develop` always built.
async fn up(
    engine: &Engine,
    project: &mut Project,
    services: &[String],
    build: &BuildOptions,
) -> CliResult {
    let targets = Engine::targets(project, services, false);
    let (always, missing): (Vec<String>, Vec<String>) = targets.iter().cloned().partition(|s| {
        project
            .services
            .get(s)
            .is_some_and(|c| c.build.is_some() && c.develop.is_some())
    });
    build_services(engine, project, &always, build, false).await?;
    build_services(engine, project, &missing, build, true).await?;
    engine
        .pull_missing(project, &targets, None)
        .await
        .map_err(engine_err)?;
    let opts = UpOptions {
        services: services.to_vec(),
        recreate: Recreate::Diverged,
        recreate_deps: Recreate::Never,
        ..Default::default()
    };
    engine.up(project, &opts).await.map_err(engine_err)?;
    Ok(())
}

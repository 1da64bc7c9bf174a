//! `compose restart`: restart the project's containers, dependencies first. As compose, the
//! services that depend on a restarted one with `depends_on: {x: {restart: true}}` are
//! restarted too (after it meets their condition), and each container's `pre_stop` hooks run
//! before and `post_start` hooks after.

use std::collections::BTreeMap;
use std::sync::Mutex;

use berth_compose::engine::hooks::{restart_project, restart_targets};
use berth_compose::engine::state::OneOff;
use berth_compose::engine::up::Member;
use clap::Args;

use super::common::{self, engine_err};
use super::{lifecycle, ComposeArgs};
use crate::error::CliResult;

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Don't restart dependent services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long)]
    pub timeout: Option<i64>,
    pub services: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &RestartArgs) -> CliResult {
    let (name, project) = common::project_or_name(compose, &args.services)?;
    common::check_services(project.as_ref(), &args.services)?;
    let engine = common::engine(host, common::quiet_progress(compose))?;
    // Only the `restart: true` dependencies order (and widen) a restart.
    let project = project.as_ref().map(restart_project);
    let services = match &project {
        Some(p) => restart_targets(p, &args.services, args.no_deps),
        None => args.services.clone(),
    };
    let list = common::containers(&engine, &name, &services, true, OneOff::Exclude).await?;
    let mut by: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    for c in &list {
        by.entry(c.service().to_string()).or_default().push(Member {
            id: c.id().to_string(),
            name: c.name(),
            running: c.running(),
            recreated: false,
        });
    }
    let members = Mutex::new(by);
    let (e, p, m) = (&engine, project.as_ref(), &members);
    let t = args.timeout;
    lifecycle::each(e, p, &list, false, |c| async move {
        let s = p.and_then(|p| Some((p, p.services.get(c.service())?)));
        if let Some((p, s)) = s {
            e.wait_dependencies(p, s, m).await.map_err(engine_err)?;
            e.pre_stop_hooks(s, c.id()).await.map_err(engine_err)?;
        }
        e.progress.container(&c.name(), "Restarting");
        e.client.container_restart(c.id(), None, t).await?;
        if let Some((_, s)) = s {
            e.post_start_hooks(s, c.id()).await.map_err(engine_err)?;
        }
        e.progress.container(&c.name(), "Started");
        Ok(())
    })
    .await
}

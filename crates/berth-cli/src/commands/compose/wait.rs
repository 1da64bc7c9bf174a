//! `compose wait`: block until the services' containers stop; print their exit codes.

use berth_compose::engine::down::DownOptions;
use berth_compose::engine::state::OneOff;
use clap::Args;

use super::common::{self, engine_err};
use super::ComposeArgs;
use crate::error::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Drops project when the first container stops
    #[arg(long = "down-project")]
    pub down_project: bool,
    pub services: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &WaitArgs) -> CliResult {
    if args.services.is_empty() {
        return Err(CliError::status(
            1,
            "requires at least 1 arg(s), only received 0",
        ));
    }
    let (name, project) = common::project_or_name(compose, &args.services)?;
    common::check_services(project.as_ref(), &args.services)?;
    let engine = common::engine(host, common::quiet_progress(compose))?;
    let list = common::containers(&engine, &name, &args.services, true, OneOff::Exclude).await?;
    let ctx = crate::ctx::Ctx::new(host)?;
    let mut waits = Vec::new();
    let engine_ref = &engine;
    for c in &list {
        waits.push(Box::pin(async move {
            let h = engine_ref
                .client
                .container_wait(c.id(), Some("not-running"))
                .await?;
            Ok::<i64, CliError>(h.result().await?.status_code)
        }));
    }
    if args.down_project {
        if waits.is_empty() {
            return Ok(());
        }
        let (code, _, _) = futures::future::select_all(waits).await;
        ctx.outln(&code?.to_string())?;
        let opts = DownOptions::default();
        return engine
            .down(&name, project.as_ref(), &opts)
            .await
            .map_err(engine_err);
    }
    for w in waits {
        ctx.outln(&w.await?.to_string())?;
    }
    Ok(())
}

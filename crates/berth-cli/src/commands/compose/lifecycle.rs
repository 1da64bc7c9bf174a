//! Shared by `start`, `stop`, `restart`, `kill`, `pause`, `unpause`: the project's containers
//! of the named services, visited in dependency order (or reversed), with compose's lines.

use berth_compose::engine::graph::Graph;
use berth_compose::engine::state::{Ctr, OneOff};
use berth_compose::engine::Engine;
use berth_compose::Project;
use futures::future::join_all;

use super::common::{self, engine_err};
use super::ComposeArgs;
use crate::error::{CliError, CliResult};

/// The project (or its name), the engine and the containers of `services`.
pub async fn select(
    host: Option<&str>,
    compose: &ComposeArgs,
    services: &[String],
    all: bool,
) -> CliResult<(Engine, Option<Project>, Vec<Ctr>)> {
    let (name, project) = common::project_or_name(compose, services)?;
    common::check_services(project.as_ref(), services)?;
    let engine = common::engine(host, common::quiet_progress(compose))?;
    let list = common::containers(&engine, &name, services, all, OneOff::Exclude).await?;
    Ok((engine, project, list))
}

/// Runs `op` on every container, services in dependency order (`reverse`: dependents
/// first), replicas of a service at once. `op` prints its own lines.
pub async fn each<'a, F, Fut>(
    engine: &'a Engine,
    project: Option<&'a Project>,
    ctrs: &'a [Ctr],
    reverse: bool,
    op: F,
) -> CliResult
where
    F: Fn(Ctr) -> Fut + Copy + 'a,
    Fut: std::future::Future<Output = CliResult> + 'a,
{
    let group = |list: Vec<Ctr>| async move {
        let results = join_all(list.into_iter().map(op)).await;
        results
            .into_iter()
            .collect::<CliResult<Vec<()>>>()
            .map(|_| ())
    };
    match project {
        Some(p) if !reverse => {
            let names: Vec<String> = {
                let mut v: Vec<String> = ctrs.iter().map(|c| c.service().to_string()).collect();
                v.sort();
                v.dedup();
                v.retain(|s| p.services.contains_key(s));
                v
            };
            let graph = Graph::new(p, &names);
            let err: std::sync::Mutex<Option<CliError>> = std::sync::Mutex::new(None);
            let err_ref = &err;
            let res = graph
                .walk(false, |svc| async move {
                    let list: Vec<Ctr> = ctrs
                        .iter()
                        .filter(|c| c.service() == svc)
                        .cloned()
                        .collect();
                    match group(list).await {
                        Ok(()) => Ok(()),
                        Err(e) => {
                            *err_ref.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                            Err(())
                        }
                    }
                })
                .await;
            let others: Vec<Ctr> = ctrs
                .iter()
                .filter(|c| !p.services.contains_key(c.service()))
                .cloned()
                .collect();
            if res.is_err() {
                if let Some(e) = err.into_inner().unwrap_or_else(|p| p.into_inner()) {
                    return Err(e);
                }
            }
            group(others).await
        }
        _ => {
            let err: std::sync::Mutex<Option<CliError>> = std::sync::Mutex::new(None);
            let err_ref = &err;
            let res = engine
                .in_reverse_order(project, ctrs, |list| async move {
                    match group(list).await {
                        Ok(()) => Ok(()),
                        Err(e) => {
                            let msg = e.to_string();
                            *err_ref.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                            Err(berth_compose::engine::EngineError::msg(msg))
                        }
                    }
                })
                .await;
            if let Err(e) = res {
                return Err(err
                    .into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or_else(|| engine_err(e)));
            }
            Ok(())
        }
    }
}

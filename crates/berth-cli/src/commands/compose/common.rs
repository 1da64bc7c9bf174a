//! What the daemon-facing compose commands share: the engine, the project (or only its name
//! when no file is found and `-p` is given, as compose's `projectOrName`), service selection,
//! and compose's error wording.

use berth_compose::engine::state::{self, Ctr, OneOff};
use berth_compose::engine::{Engine, EngineError};
use berth_compose::Project;

use super::{ComposeArgs, LoadSwitches};
use crate::ctx::Ctx;
use crate::error::{CliError, CliResult};

/// The engine over the CLI's client (DOCKER_HOST, `-H`, DOCKER_API_VERSION).
pub fn engine(host: Option<&str>, quiet: bool) -> CliResult<Engine> {
    let ctx = Ctx::new(host)?;
    Ok(Engine::new(ctx.client, quiet))
}

/// Whether progress is silenced (`--progress quiet`).
pub fn quiet_progress(compose: &ComposeArgs) -> bool {
    compose.progress.as_deref() == Some("quiet")
}

/// An engine error as compose reports it.
pub fn engine_err(e: EngineError) -> CliError {
    match e {
        EngineError::Exit(code) => CliError::exit(code as i32),
        EngineError::Client(c) => CliError::status(
            1,
            c.daemon_message()
                .map(|m| format!("Error response from daemon: {m}"))
                .unwrap_or_else(|| c.to_string()),
        ),
        EngineError::Msg(m) => CliError::status(1, m),
    }
}

/// The project loaded from its files, with `services` (their profiles enabled).
pub fn load(compose: &ComposeArgs, services: &[String]) -> CliResult<Project> {
    let sw = LoadSwitches {
        services: services.to_vec(),
        ..Default::default()
    };
    compose.load(&sw)
}

/// The project, or only its name: `-p`/`COMPOSE_PROJECT_NAME` without a compose file.
pub fn project_or_name(
    compose: &ComposeArgs,
    services: &[String],
) -> CliResult<(String, Option<Project>)> {
    let sw = LoadSwitches {
        services: services.to_vec(),
        ..Default::default()
    };
    match berth_compose::load(&compose.load_options(&sw)) {
        Ok(p) => Ok((p.name.clone(), Some(p))),
        Err(e) => {
            let name = compose
                .project_name
                .clone()
                .or_else(|| std::env::var("COMPOSE_PROJECT_NAME").ok())
                .filter(|n| !n.is_empty());
            let no_file =
                compose.file.is_empty() && e.to_string().contains("no configuration file provided");
            match name {
                Some(n) if no_file => Ok((n, None)),
                _ => Err(super::load_error(e)),
            }
        }
    }
}

/// Every named service must exist (`no such service: x`).
pub fn check_services(project: Option<&Project>, services: &[String]) -> CliResult {
    if let Some(p) = project {
        for s in services {
            if !p.services.contains_key(s) {
                return Err(CliError::status(1, format!("no such service: {s}")));
            }
        }
    }
    Ok(())
}

/// The project's containers of `services` (all when empty).
pub async fn containers(
    engine: &Engine,
    name: &str,
    services: &[String],
    all: bool,
    oneoff: OneOff,
) -> CliResult<Vec<Ctr>> {
    let mut list = state::containers(&engine.client, name, all, oneoff)
        .await
        .map_err(engine_err)?;
    if !services.is_empty() {
        list.retain(|c| services.iter().any(|s| s == c.service()));
    }
    Ok(list)
}

/// The container of `service` replica `index` (`exec`, `port`, `cp`).
pub async fn service_container(
    engine: &Engine,
    name: &str,
    service: &str,
    index: i64,
) -> CliResult<Ctr> {
    let list = containers(engine, name, &[service.to_string()], false, OneOff::Exclude).await?;
    if list.is_empty() {
        return Err(CliError::status(
            1,
            format!("service {service:?} is not running"),
        ));
    }
    list.into_iter()
        .find(|c| c.number() == index)
        .ok_or_else(|| {
            CliError::status(
                1,
                format!("service {service:?} is not running container #{index}"),
            )
        })
}

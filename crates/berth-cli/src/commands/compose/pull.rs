//! `compose pull` and `compose push`: the services' images.

use berth_compose::engine::spec;
use clap::Args;
use futures::future::join_all;

use super::common::{self, engine_err};
use super::ComposeArgs;
use crate::error::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Ignore images that can be built
    #[arg(long = "ignore-buildable")]
    pub ignore_buildable: bool,
    /// Pull what it can and ignores images with pull failures
    #[arg(long = "ignore-pull-failures")]
    pub ignore_pull_failures: bool,
    /// Pull without printing progress information
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push what it can and ignores images with push failures
    #[arg(long = "ignore-push-failures")]
    pub ignore_push_failures: bool,
    /// Push without printing progress information
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

pub async fn pull(host: Option<&str>, compose: &ComposeArgs, args: &PullArgs) -> CliResult {
    let project = common::load(compose, &args.services)?;
    common::check_services(Some(&project), &args.services)?;
    let engine = common::engine(host, args.quiet || common::quiet_progress(compose))?;
    let services: Vec<String> = if args.services.is_empty() {
        project.services.keys().cloned().collect()
    } else {
        args.services.clone()
    };
    let jobs = services.iter().filter_map(|n| {
        let s = &project.services[n];
        if s.image.is_empty() || (args.ignore_buildable && s.build.is_some()) {
            return None;
        }
        Some((n.clone(), s.image.clone(), s.build.is_some()))
    });
    let results = join_all(jobs.map(|(svc, image, buildable)| {
        let engine = &engine;
        async move {
            match engine.pull_image(&svc, &image).await {
                Ok(()) => Ok(()),
                // A buildable service's image may not exist anywhere yet.
                Err(_) if buildable => Ok(()),
                Err(e) if args.ignore_pull_failures => {
                    engine.progress.line(&format!(" {svc} Warning {e}"));
                    Ok(())
                }
                Err(e) => Err(engine_err(e)),
            }
        }
    }))
    .await;
    results
        .into_iter()
        .collect::<CliResult<Vec<()>>>()
        .map(|_| ())
}

pub async fn push(host: Option<&str>, compose: &ComposeArgs, args: &PushArgs) -> CliResult {
    let project = common::load(compose, &args.services)?;
    common::check_services(Some(&project), &args.services)?;
    let engine = common::engine(host, args.quiet || common::quiet_progress(compose))?;
    for (name, s) in &project.services {
        if !args.services.is_empty() && !args.services.contains(name) {
            continue;
        }
        if s.build.is_none() || s.image.is_empty() {
            continue;
        }
        let image = spec::image_name(&project, s);
        let (repo, tag) = berth_compose::engine::up::split_reference(&image);
        engine.progress.line(&format!(" {name} Pushing "));
        let domain = berth_types::Reference::parse_name_only(&repo)
            .map(|r| r.domain)
            .unwrap_or_default();
        let auth = crate::docker_config::registry_auth_header(&domain);
        let mut stream = engine.client.image_push(&repo, &tag, &auth).await?;
        while let Some(m) = stream.next().await {
            if let Some(e) = m?.error {
                if args.ignore_push_failures {
                    engine.progress.line(&format!(" {name} Warning {e}"));
                    break;
                }
                return Err(CliError::status(1, e));
            }
        }
        engine.progress.line(&format!(" {name} Pushed "));
    }
    Ok(())
}

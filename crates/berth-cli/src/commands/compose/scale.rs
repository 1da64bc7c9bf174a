//! `compose scale SERVICE=NUM...`: replicas added or removed, nothing else recreated.

use berth_compose::engine::up::{Recreate, UpOptions};
use clap::Args;

use super::common::{self, engine_err};
use super::up::{parse_scale, prepare_images};
use super::ComposeArgs;
use crate::error::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// SERVICE=REPLICAS...
    pub scale: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &ScaleArgs) -> CliResult {
    let scale = parse_scale(&args.scale)?;
    if scale.is_empty() {
        return Err(CliError::status(
            1,
            "requires at least 1 arg(s), only received 0",
        ));
    }
    let services: Vec<String> = scale.keys().cloned().collect();
    let mut project = common::load(compose, &services)?;
    common::check_services(Some(&project), &services)?;
    for (k, n) in &scale {
        if let Some(s) = project.services.get_mut(k) {
            s.scale = Some(*n);
        }
    }
    let engine = common::engine(host, common::quiet_progress(compose))?;
    let targets = berth_compose::engine::Engine::targets(&project, &services, args.no_deps);
    prepare_images(&engine, &project, &targets, false, false, "policy").await?;
    let opts = UpOptions {
        services,
        no_deps: args.no_deps,
        recreate: Recreate::Never,
        recreate_deps: Recreate::Never,
        scale,
        ..Default::default()
    };
    engine
        .up(&project, &opts)
        .await
        .map_err(engine_err)
        .map(|_| ())
}

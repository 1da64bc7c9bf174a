//! `compose build`: each service's image, services built at once (`pkg/compose/build.go`,
//! the classic builder's `/build`).

use std::path::{Path, PathBuf};

use berth_compose::engine::{spec, Engine};
use berth_compose::model::{BuildConfig, Project};
use clap::Args;
use futures::future::join_all;

use super::common::{self, engine_err};
use super::ComposeArgs;
use crate::commands::build::{
    add_outside_dockerfile, dockerfile_only, pack_dir, random_dockerfile_name,
};
use crate::error::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Set build-time variables for services
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Build service dependencies too
    #[arg(long = "with-dependencies")]
    pub with_dependencies: bool,
    pub services: Vec<String>,
}

/// Options of one build round (from `build` or `up --build`).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub no_cache: bool,
    pub pull: bool,
    pub quiet: bool,
    pub args: Vec<(String, String)>,
}

fn err(msg: impl Into<String>) -> CliError {
    CliError::status(1, msg.into())
}

/// The tar context and the Dockerfile name in it.
fn context(b: &BuildConfig) -> CliResult<(Vec<u8>, String)> {
    let dir = PathBuf::from(if b.context.is_empty() {
        "."
    } else {
        &b.context
    });
    if !b.dockerfile_inline.is_empty() {
        let name = random_dockerfile_name();
        if dir.is_dir() {
            let packed = pack_dir(&dir, &name)?;
            return Ok((
                add_outside_dockerfile(packed, &name, b.dockerfile_inline.as_bytes())?,
                name,
            ));
        }
        return Ok((
            dockerfile_only(b.dockerfile_inline.as_bytes(), &name)?,
            name,
        ));
    }
    if !dir.is_dir() {
        return Err(err(format!(
            "unable to prepare context: path {:?} not found",
            dir.display().to_string()
        )));
    }
    let df = if b.dockerfile.is_empty() {
        "Dockerfile"
    } else {
        &b.dockerfile
    };
    let df_path = if Path::new(df).is_absolute() {
        PathBuf::from(df)
    } else {
        dir.join(df)
    };
    let dir_abs =
        std::fs::canonicalize(&dir).map_err(|e| err(format!("unable to prepare context: {e}")))?;
    let df_abs = std::fs::canonicalize(&df_path).map_err(|_| {
        err(format!(
            "failed to solve: failed to read dockerfile: open {}: no such file or directory",
            df_path.display()
        ))
    })?;
    match df_abs.strip_prefix(&dir_abs) {
        Ok(rel) => {
            let name = rel.to_string_lossy().into_owned();
            Ok((pack_dir(&dir, &name)?, name))
        }
        Err(_) => {
            let text = std::fs::read(&df_abs)?;
            let name = random_dockerfile_name();
            let packed = pack_dir(&dir, &name)?;
            Ok((add_outside_dockerfile(packed, &name, &text)?, name))
        }
    }
}

/// Builds one service's image.
/// What compose's classic builder refuses in a `build` section (`build_classic.go`): berthd
/// builds with the classic `/build` only, so these are refused with compose's words.
fn classic_unsupported(b: &berth_compose::model::BuildConfig) -> Option<&'static str> {
    if b.platforms.len() > 1 {
        Some("multi-arch build")
    } else if b.privileged {
        Some("privileged mode")
    } else if !b.additional_contexts.is_empty() {
        Some("additional contexts")
    } else if !b.ssh.is_empty() {
        Some("SSH keys")
    } else if !b.secrets.is_empty() {
        Some("secrets")
    } else {
        None
    }
}

pub async fn build_one(
    engine: &Engine,
    project: &Project,
    service: &str,
    opts: &BuildOptions,
) -> CliResult {
    let s = &project.services[service];
    let Some(b) = &s.build else {
        return Ok(());
    };
    let image = spec::image_name(project, s);
    let (tar, dockerfile) = context(b)?;
    let mut q: berth_client::client::Query<'static> = vec![
        ("t", image.clone()),
        ("dockerfile", dockerfile),
        ("rm", "1".into()),
    ];
    for t in &b.tags {
        q.push(("t", t.clone()));
    }
    let mut args: serde_json::Map<String, serde_json::Value> = b
        .args
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), serde_json::json!(v))))
        .collect();
    for (k, v) in &opts.args {
        args.insert(k.clone(), serde_json::json!(v));
    }
    if !args.is_empty() {
        q.push(("buildargs", serde_json::Value::Object(args).to_string()));
    }
    // Compose's getImageBuildLabels: the build's labels, then version, project and service.
    let mut labels = serde_json::json!(b.labels);
    if let Some(m) = labels.as_object_mut() {
        use berth_compose::labels as l;
        m.insert(l::VERSION.into(), l::COMPOSE_VERSION.into());
        m.insert(l::PROJECT.into(), project.name.clone().into());
        m.insert(l::SERVICE.into(), service.into());
    }
    q.push(("labels", labels.to_string()));
    if !b.target.is_empty() {
        q.push(("target", b.target.clone()));
    }
    if !b.network.is_empty() {
        q.push(("networkmode", b.network.clone()));
    }
    if !b.cache_from.is_empty() {
        q.push(("cachefrom", serde_json::json!(b.cache_from).to_string()));
    }
    if !b.extra_hosts.is_empty() {
        q.push((
            "extrahosts",
            b.extra_hosts
                .iter()
                .map(|h| h.replacen('=', ":", 1))
                .collect::<Vec<_>>()
                .join(","),
        ));
    }
    if !b.shm_size.is_zero() {
        q.push(("shmsize", b.shm_size.0.to_string()));
    }
    if opts.no_cache || b.no_cache {
        q.push(("nocache", "1".into()));
    }
    if opts.pull || b.pull {
        q.push(("pull", "1".into()));
    }
    if opts.quiet {
        q.push(("q", "1".into()));
    }
    if !s.platform.is_empty() {
        q.push(("platform", s.platform.clone()));
    }
    engine
        .progress
        .line(&format!(" Service {service}  Building"));
    if let Some(what) = classic_unsupported(b) {
        return Err(err(format!(
            "the classic builder doesn't support {what}, set DOCKER_BUILDKIT=1 to use BuildKit"
        )));
    }
    let mut stream = engine
        .client
        .image_build(berth_client::body::full(tar), q, &[])
        .await
        .map_err(|e| {
            err(format!(
                "failed to build {service}: {}",
                berth_compose::engine::api_message(&e)
            ))
        })?;
    while let Some(m) = stream.next().await {
        let m = m?;
        if let Some(e) = m.error {
            return Err(err(format!("failed to solve: {}", e.trim_end())));
        }
        if !opts.quiet {
            if let Some(text) = m.stream {
                eprint!("{text}");
            }
        }
    }
    engine.progress.line(&format!(" Service {service}  Built"));
    Ok(())
}

/// Builds `services` (those with a `build` section) at once. `only_missing`: skip services
/// whose image is present (`up` without `--build`).
pub async fn build_services(
    engine: &Engine,
    project: &Project,
    services: &[String],
    opts: &BuildOptions,
    only_missing: bool,
) -> CliResult {
    let mut todo = Vec::new();
    for name in services {
        let Some(s) = project.services.get(name) else {
            continue;
        };
        if s.build.is_none() {
            continue;
        }
        if only_missing {
            let image = spec::image_name(project, s);
            if berth_compose::engine::state::image_id(&engine.client, &image)
                .await
                .map_err(engine_err)?
                .is_some()
            {
                continue;
            }
        }
        todo.push(name.clone());
    }
    let results = join_all(todo.iter().map(|n| build_one(engine, project, n, opts))).await;
    results
        .into_iter()
        .collect::<CliResult<Vec<()>>>()
        .map(|_| ())
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &BuildArgs) -> CliResult {
    let project = common::load(compose, &args.services)?;
    common::check_services(Some(&project), &args.services)?;
    let engine = common::engine(host, common::quiet_progress(compose))?;
    let services = if args.services.is_empty() {
        project.services.keys().cloned().collect()
    } else if args.with_dependencies {
        Engine::targets(&project, &args.services, false)
    } else {
        args.services.clone()
    };
    let mut opts = BuildOptions {
        no_cache: args.no_cache,
        pull: args.pull,
        quiet: args.quiet,
        args: Vec::new(),
    };
    for a in &args.build_arg {
        match a.split_once('=') {
            Some((k, v)) => opts.args.push((k.to_string(), v.to_string())),
            None => {
                if let Some(v) = project.environment.get(a) {
                    opts.args.push((a.clone(), v.clone()));
                }
            }
        }
    }
    build_services(&engine, &project, &services, &opts, false).await
}

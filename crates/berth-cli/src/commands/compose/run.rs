//! `compose run`: a one-off container of a service (`<project>-<service>-run-<id>`, labelled
//! `oneoff=True`), its dependencies started first; attached, it exits with the command's code.

use std::collections::BTreeMap;

use berth_compose::engine::up::{Recreate, UpOptions};
use berth_compose::engine::{labels, spec, Engine};
use berth_compose::model::{ServicePortConfig, ServiceVolumeConfig, VolumeType};
use clap::{ArgAction, Args};

use super::common::{self, engine_err};
use super::up::prepare_images;
use super::ComposeArgs;
use crate::commands::start::StartArgs;
use crate::error::{CliError, CliResult};
use crate::term;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Build image before starting container
    #[arg(long)]
    pub build: bool,
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the entrypoint of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long, default_value_t = true)]
    pub interactive: bool,
    /// Add or override a label
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long, default_value = "policy")]
    pub pull: String,
    /// Remove container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(short = 'P', long = "service-ports")]
    pub service_ports: bool,
    /// Use the service's network useAliases in the network(s) the container connects to
    #[arg(long = "use-aliases")]
    pub use_aliases: bool,
    /// Run as specified username or uid
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// SERVICE [COMMAND] [ARGS...]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, action = ArgAction::Append)]
    pub args: Vec<String>,
}

fn slug() -> String {
    berth_types::id::generate()[..12].to_string()
}

/// `-p [ip:][host:]container[/proto]`.
fn parse_publish(spec: &str) -> CliResult<ServicePortConfig> {
    let (rest, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
    let bad = || CliError::status(1, format!("invalid port {spec:?}"));
    let target: u32 = parts[0].parse().map_err(|_| bad())?;
    let published = parts.get(1).map(|s| s.to_string()).unwrap_or_default();
    let host_ip = parts.get(2).map(|s| s.to_string()).unwrap_or_default();
    Ok(ServicePortConfig {
        target,
        published,
        host_ip,
        protocol: proto.to_string(),
        mode: "ingress".into(),
        ..Default::default()
    })
}

/// `-v src:dst[:ro]`: a bind when `src` is a path, else a named volume.
fn parse_volume(spec: &str, workdir: &str) -> CliResult<ServiceVolumeConfig> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => {
            return Err(CliError::status(
                1,
                format!("invalid volume specification: {spec:?}"),
            ))
        }
    };
    let path_like = src.starts_with('/') || src.starts_with('.') || src.starts_with('~');
    let source = if src.starts_with('.') {
        std::path::Path::new(workdir)
            .join(src)
            .display()
            .to_string()
    } else {
        src.to_string()
    };
    Ok(ServiceVolumeConfig {
        kind: if path_like {
            VolumeType::Bind
        } else {
            VolumeType::Volume
        },
        source,
        target: dst.to_string(),
        read_only: mode.split(',').any(|m| m == "ro"),
        ..Default::default()
    })
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &RunArgs) -> CliResult {
    let Some(service) = args.args.first().cloned() else {
        return Err(CliError::status(
            1,
            "requires at least 1 arg(s), only received 0",
        ));
    };
    let mut project = common::load(compose, std::slice::from_ref(&service))?;
    common::check_services(Some(&project), std::slice::from_ref(&service))?;
    let engine = common::engine(host, common::quiet_progress(compose))?;
    // Dependencies first, as `up --no-recreate` of them.
    let deps: Vec<String> = if args.no_deps {
        Vec::new()
    } else {
        Engine::targets(&project, std::slice::from_ref(&service), false)
            .into_iter()
            .filter(|s| *s != service)
            .collect()
    };
    let mut needed = deps.clone();
    needed.push(service.clone());
    prepare_images(&engine, &project, &needed, args.build, false, &args.pull).await?;
    if !deps.is_empty() {
        let opts = UpOptions {
            services: deps.clone(),
            no_deps: true,
            recreate: Recreate::Diverged,
            recreate_deps: Recreate::Diverged,
            remove_orphans: args.remove_orphans,
            ..Default::default()
        };
        engine.up(&project, &opts).await.map_err(engine_err)?;
    }
    engine
        .ensure_resources(&project, std::slice::from_ref(&service))
        .await
        .map_err(engine_err)?;
    // The dependencies' block ends before the one-off container's own output.
    engine.progress.finish();

    let tty = !args.no_tty && !args.detach && term::stdin_is_tty();
    let working_dir = project.working_dir.clone();
    let s = project
        .services
        .get_mut(&service)
        .ok_or_else(|| CliError::status(1, format!("no such service: {service}")))?;
    if args.args.len() > 1 {
        s.command = Some(args.args[1..].to_vec());
    }
    if let Some(e) = &args.entrypoint {
        s.entrypoint = Some(if e.is_empty() {
            Vec::new()
        } else {
            vec![e.clone()]
        });
    }
    for e in &args.env {
        match e.split_once('=') {
            Some((k, v)) => {
                s.environment.insert(k.to_string(), Some(v.to_string()));
            }
            None => {
                s.environment.insert(e.clone(), std::env::var(e).ok());
            }
        }
    }
    for l in &args.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        s.labels.insert(k.to_string(), v.to_string());
    }
    if let Some(u) = &args.user {
        s.user = u.clone();
    }
    if let Some(w) = &args.workdir {
        s.working_dir = w.clone();
    }
    for v in &args.volume {
        s.volumes.push(parse_volume(v, &working_dir)?);
    }
    let publish = args.service_ports || !args.publish.is_empty();
    if !args.service_ports {
        s.ports.clear();
    }
    for p in &args.publish {
        s.ports.push(parse_publish(p)?);
    }
    s.tty = tty;
    s.stdin_open = args.interactive && !args.detach;
    s.restart.clear();
    let s = s.clone();
    let slug = slug();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{service}-run-{slug}", project.name));
    let image_id =
        berth_compose::engine::state::image_id(&engine.client, &spec::image_name(&project, &s))
            .await
            .map_err(engine_err)?
            .unwrap_or_default();
    let members = std::sync::Mutex::new(BTreeMap::new());
    for c in berth_compose::engine::state::containers(
        &engine.client,
        &project.name,
        false,
        berth_compose::engine::state::OneOff::Exclude,
    )
    .await
    .map_err(engine_err)?
    {
        members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(c.service().to_string())
            .or_insert_with(Vec::new)
            .push(berth_compose::engine::up::Member {
                id: c.id().to_string(),
                name: c.name(),
                running: c.running(),
                recreated: false,
            });
    }
    let mut inst = engine
        .instance(&project, &s, &name, 1, &image_id, &members)
        .map_err(engine_err)?;
    inst.oneoff = true;
    inst.labels.insert(labels::SLUG.into(), slug.clone());
    let id = engine
        .create(&project, &s, &inst, &name, publish)
        .await
        .map_err(engine_err)?;
    engine
        .inject_files(&project, &s, &id)
        .await
        .map_err(engine_err)?;
    let ctx = crate::ctx::Ctx::new(host)?;
    if args.detach {
        engine.client.container_start(&id, None).await?;
        return ctx.outln(&name);
    }
    let result = crate::commands::start::run(
        &ctx,
        "start",
        StartArgs {
            attach: true,
            interactive: args.interactive,
            detach_keys: None,
            containers: vec![id.clone()],
        },
    )
    .await;
    if args.rm {
        let _ = engine.client.container_remove(&id, true, true, false).await;
    }
    result
}

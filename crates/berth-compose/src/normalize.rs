//! From the merged tree to a checked [`Project`]: typing, default network and names, paths,
//! environment (env_file), implicit dependencies, profiles and the consistency checks, as
//! compose-go's `normalize`, `paths`, `validation` and the CLI's project options do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::LoadError;
use crate::loader::{abs, is_remote, LoadOptions};
use crate::model::{
    NetworkConfig, Project, ServiceDependency, VolumeType, SERVICE_CONDITION_STARTED,
};
use crate::node::Node;

/// Types the merged, expanded tree.
pub fn to_project(mut merged: Node, name: &str) -> Result<Project, LoadError> {
    if let Some(m) = merged.as_map_mut() {
        m.insert("name".to_string(), Node::string(name));
        for k in ["services", "networks", "volumes", "secrets", "configs"] {
            if m.get(k).is_some_and(Node::is_null) {
                m.insert(k.to_string(), Node::map());
            }
        }
    }
    let j = merged.to_json();
    let mut project: Project =
        serde_json::from_value(j).map_err(|e| LoadError::Invalid(e.to_string()))?;
    for (k, s) in project.services.iter_mut() {
        s.name = k.clone();
    }
    project.name = name.to_string();
    Ok(project)
}

/// Makes relative paths absolute against the project directory (compose-go `paths`).
pub fn resolve_paths(p: &mut Project) {
    let wd = PathBuf::from(&p.working_dir);
    let home = p.environment.get("HOME").cloned();
    let home = home.as_deref();
    for s in p.services.values_mut() {
        if let Some(b) = &mut s.build {
            if b.context.is_empty() {
                b.context = ".".to_string();
            }
            if !is_remote(&b.context) {
                b.context = abs(&wd, &b.context, home);
            }
            for v in b.additional_contexts.values_mut() {
                if !is_remote(v) && !v.contains(':') {
                    *v = abs(&wd, v, home);
                }
            }
        }
        for e in s.env_file.iter_mut() {
            e.path = abs(&wd, &e.path, home);
        }
        for l in s.label_file.iter_mut() {
            *l = abs(&wd, l, home);
        }
        if let Some(ext) = &mut s.extends {
            if !ext.file.is_empty() {
                ext.file = abs(&wd, &ext.file, home);
            }
        }
        for v in s.volumes.iter_mut() {
            if v.kind == VolumeType::Bind && !v.source.is_empty() {
                v.source = abs(&wd, &v.source, home);
            }
        }
        if let Some(d) = &mut s.develop {
            for w in d.watch.iter_mut() {
                w.path = abs(&wd, &w.path, home);
            }
        }
    }
    for c in p.configs.values_mut().chain(p.secrets.values_mut()) {
        if !c.file.is_empty() {
            c.file = abs(&wd, &c.file, home);
        }
    }
}

/// Reads each service's `env_file`s into its environment (environment wins) and resolves
/// `KEY`-only entries from the project environment, as compose does. `env_file` stays in the
/// model (it is part of the config hash); `config` does not print it.
pub fn resolve_environment(p: &mut Project) -> Result<(), LoadError> {
    resolve_environment_with(p, true)
}

/// As [`resolve_environment`]; with `read_env_files` false the files are left unread
/// (compose's `WithoutEnvironmentResolution`, used by `config --hash`).
pub fn resolve_environment_with(p: &mut Project, read_env_files: bool) -> Result<(), LoadError> {
    let env = p.environment.clone();
    for s in p.services.values_mut() {
        let mut from_files: BTreeMap<String, Option<String>> = BTreeMap::new();
        for ef in s.env_file.iter().filter(|_| read_env_files) {
            let path = Path::new(&ef.path);
            if !path.exists() {
                if ef.required {
                    return Err(LoadError::Invalid(format!(
                        "env file {} not found: stat {}: no such file or directory",
                        ef.path, ef.path
                    )));
                }
                continue;
            }
            let values = if ef.format == "raw" {
                std::fs::read_to_string(path)?
                    .lines()
                    .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                    .collect()
            } else {
                crate::dotenv::read_file(path, &env).map_err(LoadError::Invalid)?
            };
            for (k, v) in values {
                from_files.insert(k, Some(v));
            }
        }
        for (k, v) in std::mem::take(&mut s.environment) {
            from_files.insert(k, v);
        }
        for (k, v) in from_files.iter_mut() {
            if v.is_none() {
                if let Some(val) = env.get(k) {
                    *v = Some(val.clone());
                }
            }
        }
        s.environment = from_files;
    }
    Ok(())
}

fn dep(restart: bool) -> ServiceDependency {
    ServiceDependency {
        condition: SERVICE_CONDITION_STARTED.to_string(),
        restart,
        extensions: Default::default(),
        required: true,
    }
}

/// Default network, resource names, implicit dependencies, build defaults.
pub fn normalize(p: &mut Project) {
    let project = p.name.clone();
    let p_env = p.environment.clone();
    let mut uses_default = false;
    for s in p.services.values_mut() {
        if s.network_mode.is_empty() && s.networks.is_empty() {
            s.networks.insert("default".to_string(), None);
        }
        if s.networks.contains_key("default") {
            uses_default = true;
        }
        if let Some(b) = &mut s.build {
            // Build args without a value take the environment's, or are dropped.
            let env = &p_env;
            b.args = std::mem::take(&mut b.args)
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Some(v) => Some((k, Some(v))),
                    None => env.get(&k).map(|e| (k, Some(e.clone()))),
                })
                .collect();
            if b.dockerfile.is_empty() && b.dockerfile_inline.is_empty() {
                b.dockerfile = "Dockerfile".to_string();
            }
        }
        // Implicit dependencies: network_mode service:, volumes_from, links.
        if let Some(target) = s.network_mode.strip_prefix("service:") {
            let t = target.to_string();
            s.depends_on.entry(t).or_insert_with(|| dep(true));
        }
        for l in s.links.clone() {
            let svc = l.split(':').next().unwrap_or_default().to_string();
            s.depends_on.entry(svc).or_insert_with(|| dep(true));
        }
        for vf in s.volumes_from.clone() {
            if vf.starts_with("container:") {
                continue;
            }
            let svc = vf.split(':').next().unwrap_or_default().to_string();
            s.depends_on.entry(svc).or_insert_with(|| dep(false));
        }
        // deploy.replicas mirrors scale.
        if let (Some(sc), Some(d)) = (s.scale, s.deploy.as_mut()) {
            if d.replicas.is_none() {
                d.replicas = Some(sc);
            }
        }
    }
    if uses_default && !p.networks.contains_key("default") {
        p.networks
            .insert("default".to_string(), NetworkConfig::default());
    }
    for (k, n) in p.networks.iter_mut() {
        if n.name.is_empty() {
            n.name = if n.external {
                k.clone()
            } else {
                format!("{project}_{k}")
            };
        }
    }
    for (k, v) in p.volumes.iter_mut() {
        if v.name.is_empty() {
            v.name = if v.external {
                k.clone()
            } else {
                format!("{project}_{k}")
            };
        }
    }
    for (k, v) in p.secrets.iter_mut().chain(p.configs.iter_mut()) {
        if v.name.is_empty() {
            v.name = if v.external {
                k.clone()
            } else {
                format!("{project}_{k}")
            };
        }
    }
}

/// Profiles, then the checks, then unused resources dropped.
pub fn finish(
    p: &mut Project,
    profiles: &[String],
    options: &LoadOptions,
) -> Result<(), LoadError> {
    p.profiles = profiles.to_vec();
    if !options.skip_resolve_paths {
        resolve_paths(p);
    }
    resolve_environment_with(p, !options.skip_env_file_resolution)?;
    if !options.skip_normalization {
        normalize(p);
    }
    apply_profiles(p, profiles);
    enable_services(p, &options.services)?;
    if !options.skip_consistency_check {
        check(p)?;
    }
    if !options.keep_unused_resources {
        without_unnecessary_resources(p);
    }
    Ok(())
}

/// Disables the services whose profiles are all inactive (`*` enables all).
pub fn apply_profiles(p: &mut Project, profiles: &[String]) {
    if profiles.iter().any(|x| x == "*") {
        return;
    }
    let names: Vec<String> = p.services.keys().cloned().collect();
    for n in names {
        let enabled = p.services.get(&n).is_some_and(|s| s.has_profile(profiles));
        if !enabled {
            if let Some(s) = p.services.remove(&n) {
                p.disabled_services.insert(n, s);
            }
        }
    }
}

/// Services named on the command line are enabled with their profiles, and so is every
/// service sharing one of those profiles (compose-go's `WithServicesEnabled`); a name that is
/// no service at all: `no such service: x`.
pub fn enable_services(p: &mut Project, names: &[String]) -> Result<(), LoadError> {
    let mut profiles = p.profiles.clone();
    let mut changed = false;
    for n in names {
        if p.services.contains_key(n) {
            continue;
        }
        let Some(s) = p.disabled_services.get(n) else {
            return Err(LoadError::Invalid(format!("no such service: {n}")));
        };
        profiles.extend(s.profiles.iter().cloned());
        changed = true;
    }
    if changed {
        let all: Vec<(String, crate::model::ServiceConfig)> =
            std::mem::take(&mut p.disabled_services)
                .into_iter()
                .collect();
        for (k, s) in all {
            if s.has_profile(&profiles) {
                p.services.insert(k, s);
            } else {
                p.disabled_services.insert(k, s);
            }
        }
        p.profiles = profiles;
    }
    Ok(())
}

/// compose-go's consistency checks, with its wording.
pub fn check(p: &Project) -> Result<(), LoadError> {
    for (name, s) in &p.services {
        if s.image.is_empty() && s.build.is_none() && s.provider.is_none() {
            return Err(LoadError::invalid(format!(
                "service {name:?} has neither an image nor a build context specified"
            )));
        }
        for net in s.networks.keys() {
            if !p.networks.contains_key(net) {
                return Err(LoadError::invalid(format!(
                    "service {name:?} refers to undefined network {net}"
                )));
            }
        }
        if !s.network_mode.is_empty() && !s.networks.is_empty() {
            return Err(LoadError::invalid(format!(
                "service {name} declares mutually exclusive `network_mode` and `networks`"
            )));
        }
        for v in &s.volumes {
            if v.kind == VolumeType::Volume
                && !v.source.is_empty()
                && !p.volumes.contains_key(&v.source)
            {
                return Err(LoadError::invalid(format!(
                    "service {name:?} refers to undefined volume {}",
                    v.source
                )));
            }
        }
        for sec in s
            .secrets
            .iter()
            .chain(s.build.iter().flat_map(|b| b.secrets.iter()))
        {
            if !p.secrets.contains_key(&sec.source) {
                return Err(LoadError::invalid(format!(
                    "service {name:?} refers to undefined secret {}",
                    sec.source
                )));
            }
        }
        for c in &s.configs {
            if !p.configs.contains_key(&c.source) {
                return Err(LoadError::invalid(format!(
                    "service {name:?} refers to undefined config {}",
                    c.source
                )));
            }
        }
        for (d, cfg) in &s.depends_on {
            if !p.services.contains_key(d) && cfg.required {
                return Err(LoadError::invalid(format!(
                    "service {name:?} depends on undefined service {d:?}"
                )));
            }
        }
        if let (Some(sc), Some(r)) = (s.scale, s.deploy.as_ref().and_then(|d| d.replicas)) {
            if sc != r {
                return Err(LoadError::invalid(format!(
                    "services.{name}: can't set distinct values on 'scale' and 'deploy.replicas'"
                )));
            }
        }
        if !s.container_name.is_empty() && s.get_scale() > 1 {
            return Err(LoadError::invalid(format!(
                "services.deploy.replicas: can't set container_name and {name} as container name must be unique"
            )));
        }
        if let Some(dev) = &s.develop {
            if dev
                .watch
                .iter()
                .any(|w| w.action != "rebuild" && w.action != "restart" && w.target.is_empty())
            {
                return Err(LoadError::invalid(format!(
                    "services.{name}.develop.watch: target is required for non-rebuild actions"
                )));
            }
        }
        if let Some(lim) = s.deploy.as_ref().and_then(|d| d.resources.limits.as_ref()) {
            if s.cpus != 0.0 && lim.cpus != 0.0 && s.cpus != lim.cpus {
                return Err(LoadError::invalid(format!(
                    "services.{name}: can't set distinct values on 'cpus' and 'deploy.resources.limits.cpus'"
                )));
            }
            if !s.mem_limit.is_zero() && !lim.memory.is_zero() && s.mem_limit != lim.memory {
                return Err(LoadError::invalid(format!(
                    "services.{name}: can't set distinct values on 'mem_limit' and 'deploy.resources.limits.memory'"
                )));
            }
            if s.pids_limit != 0 && s.pids_limit != lim.pids {
                return Err(LoadError::invalid(format!(
                    "services.{name}: can't set distinct values on 'pids_limit' and 'deploy.resources.limits.pids'"
                )));
            }
        }
    }
    for (kind, ext_list) in [
        (
            "volumes",
            p.volumes
                .iter()
                .map(|(k, v)| {
                    (
                        k,
                        v.external,
                        !v.driver.is_empty(),
                        !v.driver_opts.is_empty(),
                    )
                })
                .collect::<Vec<_>>(),
        ),
        (
            "networks",
            p.networks
                .iter()
                .map(|(k, v)| {
                    (
                        k,
                        v.external,
                        !v.driver.is_empty(),
                        !v.driver_opts.is_empty(),
                    )
                })
                .collect::<Vec<_>>(),
        ),
    ] {
        for (k, external, driver, opts) in ext_list {
            if external && driver {
                return Err(LoadError::Invalid(format!(
                    "{kind}.{k}: conflicting parameters \"external\" and \"driver\" specified"
                )));
            }
            if external && opts {
                return Err(LoadError::Invalid(format!(
                    "{kind}.{k}: conflicting parameters \"external\" and \"driver_opts\" specified"
                )));
            }
        }
    }
    check_cycles(p)
}

/// `dependency cycle detected: a -> b -> a`.
fn check_cycles(p: &Project) -> Result<(), LoadError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        p: &Project,
        n: &str,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Result<(), LoadError> {
        match marks.get(n) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].to_vec();
                cycle.push(n.to_string());
                return Err(LoadError::DependencyCycle(cycle.join(" -> ")));
            }
            None => {}
        }
        marks.insert(n.to_string(), Mark::Visiting);
        stack.push(n.to_string());
        if let Some(s) = p.services.get(n) {
            for d in s.depends_on.keys() {
                if p.services.contains_key(d) {
                    visit(p, d, marks, stack)?;
                }
            }
        }
        stack.pop();
        marks.insert(n.to_string(), Mark::Done);
        Ok(())
    }
    let mut marks = BTreeMap::new();
    for n in p.services.keys() {
        visit(p, n, &mut marks, &mut Vec::new())?;
    }
    Ok(())
}

/// Drops networks, volumes, secrets and configs that no enabled service uses.
pub fn without_unnecessary_resources(p: &mut Project) {
    let mut nets = BTreeSet::new();
    let mut vols = BTreeSet::new();
    let mut secs = BTreeSet::new();
    let mut cfgs = BTreeSet::new();
    for s in p.services.values() {
        nets.extend(s.networks.keys().cloned());
        for v in &s.volumes {
            if v.kind == VolumeType::Volume && !v.source.is_empty() {
                vols.insert(v.source.clone());
            }
        }
        secs.extend(s.secrets.iter().map(|x| x.source.clone()));
        if let Some(b) = &s.build {
            secs.extend(b.secrets.iter().map(|x| x.source.clone()));
        }
        cfgs.extend(s.configs.iter().map(|x| x.source.clone()));
    }
    p.networks.retain(|k, _| nets.contains(k));
    p.volumes.retain(|k, _| vols.contains(k));
    p.secrets.retain(|k, _| secs.contains(k));
    p.configs.retain(|k, _| cfgs.contains(k));
}

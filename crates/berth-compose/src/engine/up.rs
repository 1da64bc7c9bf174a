//! `up`/`create`/`start`: Compose v2's convergence (`pkg/compose/convergence.go`).
//!
//! Networks and volumes first; then, in dependency order with independent services at once,
//! each service's containers are made to match the config: extra replicas removed, diverged
//! ones (config hash or image changed) recreated, missing ones created. Then, again in
//! dependency order, stopped containers are started once each dependency meets its
//! `depends_on` condition.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};

use super::graph::Graph;
use super::state::{self, Ctr, OneOff};
use super::{api_message, labels, spec, Engine, EngineError, Result};
use crate::model::{
    Project, ServiceConfig, SERVICE_CONDITION_COMPLETED_SUCCESSFULLY, SERVICE_CONDITION_HEALTHY,
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Recreate {
    /// Recreate containers whose config hash or image changed.
    #[default]
    Diverged,
    Force,
    Never,
}

#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Services named on the command line (empty: all).
    pub services: Vec<String>,
    pub no_deps: bool,
    pub recreate: Recreate,
    /// Policy for the dependencies of the named services.
    pub recreate_deps: Recreate,
    pub no_start: bool,
    pub scale: BTreeMap<String, i64>,
    pub remove_orphans: bool,
    /// Stop timeout (`-t`), seconds.
    pub timeout: Option<i64>,
    pub wait: bool,
    pub wait_timeout: Option<Duration>,
}

/// A service container known during convergence.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub running: bool,
    /// Recreated by this `up` (its dependents with `depends_on.restart` are restarted).
    pub recreated: bool,
}

type Members = Mutex<BTreeMap<String, Vec<Member>>>;

const POLL: Duration = Duration::from_millis(100);

impl Engine {
    /// The services `up` acts on: the named ones and (unless `--no-deps`) their dependencies.
    pub fn targets(project: &Project, services: &[String], no_deps: bool) -> Vec<String> {
        if services.is_empty() {
            project.services.keys().cloned().collect()
        } else if no_deps {
            services.to_vec()
        } else {
            Graph::with_dependencies(project, services)
        }
    }

    /// Pulls the images services need and the daemon lacks (`pull_policy`, `--pull`).
    /// Services with a `build` section are left to the builder.
    pub async fn pull_missing(
        &self,
        project: &Project,
        services: &[String],
        policy: Option<&str>,
    ) -> Result<()> {
        let jobs = services.iter().filter_map(|name| {
            let s = project.services.get(name)?;
            let policy = policy
                .filter(|p| !p.is_empty())
                .unwrap_or(s.pull_policy.as_str());
            if s.image.is_empty() || (s.build.is_some() && policy != "always") {
                return None;
            }
            Some((name.clone(), s.image.clone(), policy.to_string()))
        });
        let mut seen = BTreeSet::new();
        let jobs: Vec<_> = jobs.filter(|(_, i, _)| seen.insert(i.clone())).collect();
        let results = join_all(jobs.into_iter().map(|(svc, image, policy)| async move {
            let present = state::image_id(&self.client, &image).await?.is_some();
            let pull = match policy.as_str() {
                "always" => true,
                "never" => {
                    if !present {
                        return Err(EngineError::msg(format!(
                            "Error response from daemon: No such image: {image}"
                        )));
                    }
                    false
                }
                _ => !present,
            };
            if pull {
                self.pull_image(&svc, &image).await?;
            }
            Ok(())
        }))
        .await;
        results.into_iter().collect::<Result<Vec<()>>>().map(|_| ())
    }

    /// Pulls one image with compose's progress lines.
    pub async fn pull_image(&self, service: &str, image: &str) -> Result<()> {
        self.progress.line(&format!(" {service} Pulling "));
        let (repo, tag) = split_reference(image);
        let mut stream = self.client.image_pull(&repo, &tag).await?;
        while let Some(msg) = stream.next().await {
            let msg = msg?;
            if let Some(e) = msg.error {
                self.progress.line(&format!(" {service} Error {e}"));
                return Err(EngineError::msg(e));
            }
        }
        self.progress.line(&format!(" {service} Pulled "));
        Ok(())
    }

    /// Creates the project's networks and volumes that do not exist yet.
    pub async fn ensure_resources(&self, project: &Project, services: &[String]) -> Result<()> {
        let mut nets = BTreeSet::new();
        let mut vols = BTreeSet::new();
        for s in services.iter().filter_map(|n| project.services.get(n)) {
            if s.network_mode.is_empty() {
                nets.extend(s.networks.keys().cloned());
            }
            for v in &s.volumes {
                if v.kind == crate::model::VolumeType::Volume
                    && project.volumes.contains_key(&v.source)
                {
                    vols.insert(v.source.clone());
                }
            }
        }
        for key in project.networks.keys().filter(|k| nets.contains(*k)) {
            self.ensure_network(project, key).await?;
        }
        let results = join_all(
            project
                .volumes
                .keys()
                .filter(|k| vols.contains(*k))
                .map(|k| self.ensure_volume(project, k)),
        )
        .await;
        results.into_iter().collect::<Result<Vec<()>>>().map(|_| ())
    }

    async fn ensure_network(&self, project: &Project, key: &str) -> Result<()> {
        let cfg = &project.networks[key];
        let name = spec::network_name(project, key);
        match self.client.network_inspect_raw(&name).await {
            Ok(raw) => {
                let v: Value = serde_json::from_slice(&raw).unwrap_or_default();
                if !cfg.external && v["Labels"][labels::PROJECT].is_null() {
                    self.progress.line(&format!(
                        "WARN[0000] a network with name {name} exists but was not created by compose.\nSet `external: true` to use an existing network"
                    ));
                }
                return Ok(());
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        if cfg.external {
            return Err(EngineError::msg(format!(
                "network {name} declared as external, but could not be found"
            )));
        }
        let mut lbl = cfg.labels.clone();
        lbl.insert(labels::PROJECT.into(), project.name.clone());
        lbl.insert(labels::NETWORK.into(), key.to_string());
        lbl.insert(labels::VERSION.into(), labels::COMPOSE_VERSION.into());
        lbl.insert(labels::CONFIG_HASH.into(), super::hash::network_hash(cfg));
        let pools: Vec<Value> = cfg
            .ipam
            .config
            .iter()
            .map(|p| {
                let mut m = serde_json::Map::new();
                for (k, v) in [
                    ("Subnet", &p.subnet),
                    ("Gateway", &p.gateway),
                    ("IPRange", &p.ip_range),
                ] {
                    if !v.is_empty() {
                        m.insert(k.into(), json!(v));
                    }
                }
                if !p.aux_addresses.is_empty() {
                    m.insert("AuxiliaryAddresses".into(), json!(p.aux_addresses));
                }
                Value::Object(m)
            })
            .collect();
        let mut body = json!({
            "Name": name,
            "CheckDuplicate": true,
            "Internal": cfg.internal,
            "Attachable": cfg.attachable,
            "Labels": lbl,
            "Options": cfg.driver_opts,
            "IPAM": {"Driver": if cfg.ipam.driver.is_empty() { "default" } else { cfg.ipam.driver.as_str() }, "Config": pools},
        });
        if !cfg.driver.is_empty() {
            body["Driver"] = json!(cfg.driver);
        }
        if let Some(v6) = cfg.enable_ipv6 {
            body["EnableIPv6"] = json!(v6);
        }
        self.progress.event("Network", &name, "Creating");
        let r: Result<Value, _> = self
            .client
            .post_json("/networks/create", &Vec::new(), &body)
            .await;
        if let Err(e) = r {
            self.progress.event("Network", &name, "Error");
            return Err(EngineError::msg(format!(
                "failed to create network {name}: {}",
                api_message(&e)
            )));
        }
        self.progress.event("Network", &name, "Created");
        Ok(())
    }

    async fn ensure_volume(&self, project: &Project, key: &str) -> Result<()> {
        let cfg = &project.volumes[key];
        let name = if cfg.name.is_empty() {
            format!("{}_{key}", project.name)
        } else {
            cfg.name.clone()
        };
        match self.client.volume_inspect_raw(&name).await {
            Ok(raw) => {
                let v: Value = serde_json::from_slice(&raw).unwrap_or_default();
                if !cfg.external && v["Labels"][labels::PROJECT].is_null() {
                    self.progress.line(&format!(
                        "WARN[0000] volume \"{name}\" already exists but was not created by Docker Compose. Use `external: true` to use an existing volume"
                    ));
                }
                return Ok(());
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        if cfg.external {
            return Err(EngineError::msg(format!(
                "external volume \"{name}\" not found"
            )));
        }
        let mut lbl = cfg.labels.clone();
        lbl.insert(labels::PROJECT.into(), project.name.clone());
        lbl.insert(labels::VOLUME.into(), key.to_string());
        lbl.insert(labels::VERSION.into(), labels::COMPOSE_VERSION.into());
        lbl.insert(labels::CONFIG_HASH.into(), super::hash::volume_hash(cfg));
        let mut body = json!({"Name": name, "Labels": lbl, "DriverOpts": cfg.driver_opts});
        if !cfg.driver.is_empty() {
            body["Driver"] = json!(cfg.driver);
        }
        self.progress.event("Volume", &name, "Creating");
        let r: Result<Value, _> = self
            .client
            .post_json("/volumes/create", &Vec::new(), &body)
            .await;
        if let Err(e) = r {
            self.progress.event("Volume", &name, "Error");
            return Err(e.into());
        }
        self.progress.event("Volume", &name, "Created");
        Ok(())
    }

    /// Stops and removes containers (orphans, extra replicas), concurrently.
    pub async fn remove_containers(
        &self,
        project: Option<&Project>,
        ctrs: &[Ctr],
        timeout: Option<i64>,
        volumes: bool,
    ) -> Result<()> {
        let results = join_all(ctrs.iter().map(|c| async move {
            let name = c.name();
            if c.running() {
                self.progress.container(&name, "Stopping");
                self.stop_with_hooks(project, c, timeout).await?;
                self.progress.container(&name, "Stopped");
            }
            self.progress.container(&name, "Removing");
            match self
                .client
                .container_remove(c.id(), true, volumes, false)
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(EngineError::from(e)),
            }
            self.progress.container(&name, "Removed");
            Ok(())
        }))
        .await;
        results.into_iter().collect::<Result<Vec<()>>>().map(|_| ())
    }

    /// The whole of `up` after images are present: resources, convergence, start, wait.
    pub async fn up(
        &self,
        project: &Project,
        opts: &UpOptions,
    ) -> Result<BTreeMap<String, Vec<Member>>> {
        let targets = Self::targets(project, &opts.services, opts.no_deps);
        let existing =
            state::containers(&self.client, &project.name, true, OneOff::Exclude).await?;
        let orphans: Vec<Ctr> = existing
            .iter()
            .filter(|c| {
                !project.services.contains_key(c.service())
                    && !project.disabled_services.contains_key(c.service())
            })
            .cloned()
            .collect();
        if !orphans.is_empty() {
            if opts.remove_orphans {
                self.remove_containers(None, &orphans, opts.timeout, false)
                    .await?;
            } else {
                let names: Vec<String> = orphans.iter().map(Ctr::name).collect();
                self.progress.line(&format!(
                    "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                    names.join(" ")
                ));
            }
        }
        self.ensure_resources(project, &targets).await?;
        let members: Members = Mutex::new(BTreeMap::new());
        // Services outside the targets that targets may refer to (network_mode, volumes_from).
        for c in &existing {
            if !targets.iter().any(|t| t == c.service()) {
                lock(&members)
                    .entry(c.service().to_string())
                    .or_default()
                    .push(Member {
                        id: c.id().to_string(),
                        name: c.name(),
                        running: c.running(),
                        recreated: false,
                    });
            }
        }
        let graph = Graph::new(project, &targets);
        let named: BTreeSet<&String> = opts.services.iter().collect();
        graph
            .walk(false, |svc| {
                let members = &members;
                let existing = &existing;
                let policy = if opts.services.is_empty() || named.contains(&svc) {
                    opts.recreate
                } else {
                    opts.recreate_deps
                };
                async move {
                    let s = &project.services[&svc];
                    let mine: Vec<Ctr> = existing
                        .iter()
                        .filter(|c| c.service() == svc)
                        .cloned()
                        .collect();
                    let scale = opts
                        .scale
                        .get(&svc)
                        .copied()
                        .unwrap_or_else(|| s.get_scale());
                    let got = self
                        .converge_service(project, s, mine, scale, policy, opts.timeout, members)
                        .await?;
                    lock(members).insert(svc, got);
                    Ok::<(), EngineError>(())
                }
            })
            .await?;
        if opts.no_start {
            return Ok(members.into_inner().unwrap_or_default());
        }
        self.start_services(project, &graph, &members).await?;
        if opts.wait {
            self.wait_healthy(project, &targets, &members, opts.wait_timeout)
                .await?;
        }
        Ok(members.into_inner().unwrap_or_default())
    }

    /// Makes one service's containers match its config; returns them in number order.
    #[allow(clippy::too_many_arguments)]
    async fn converge_service(
        &self,
        project: &Project,
        s: &ServiceConfig,
        mut mine: Vec<Ctr>,
        scale: i64,
        policy: Recreate,
        timeout: Option<i64>,
        members: &Members,
    ) -> Result<Vec<Member>> {
        let image = spec::image_name(project, s);
        let image_id = state::image_id(&self.client, &image)
            .await?
            .unwrap_or_default();
        mine.sort_by_key(Ctr::number);
        let scale = scale.max(0) as usize;
        let extra: Vec<Ctr> = if mine.len() > scale {
            mine.split_off(scale)
        } else {
            Vec::new()
        };
        self.remove_containers(Some(project), &extra, timeout, false)
            .await?;
        let expected = super::hash::service_hash(s);
        let mut next = mine.iter().map(Ctr::number).max().unwrap_or(0) + 1;
        let mut jobs = Vec::new();
        for c in &mine {
            let diverged = match policy {
                Recreate::Force => true,
                Recreate::Never => false,
                Recreate::Diverged => {
                    c.label(labels::CONFIG_HASH) != expected
                        || (!image_id.is_empty() && c.label(labels::IMAGE_DIGEST) != image_id)
                }
            };
            jobs.push((Some(c.clone()), c.number(), diverged));
        }
        while jobs.len() < scale {
            jobs.push((None, next, true));
            next += 1;
        }
        let results = join_all(jobs.into_iter().map(|(old, number, act)| {
            let image_id = image_id.clone();
            async move {
                match (old, act) {
                    (Some(c), false) => {
                        if c.running() {
                            self.progress.container(&c.name(), "Running");
                        }
                        Ok(Member {
                            id: c.id().to_string(),
                            name: c.name(),
                            running: c.running(),
                            recreated: false,
                        })
                    }
                    (Some(c), true) => {
                        self.recreate(project, s, &c, &image_id, timeout, members)
                            .await
                    }
                    (None, _) => {
                        let name = if s.container_name.is_empty() {
                            labels::container_name(&project.name, &s.name, number)
                        } else {
                            s.container_name.clone()
                        };
                        self.progress.container(&name, "Creating");
                        let inst = self.instance(project, s, &name, number, &image_id, members)?;
                        let id = self
                            .create(project, s, &inst, &name, true)
                            .await
                            .inspect_err(|_| {
                                self.progress.container(&name, "Error");
                            })?;
                        self.progress.container(&name, "Created");
                        Ok(Member {
                            id,
                            name,
                            running: false,
                            recreated: false,
                        })
                    }
                }
            }
        }))
        .await;
        results.into_iter().collect()
    }

    /// The per-container part of the create body, with service references resolved.
    pub fn instance(
        &self,
        project: &Project,
        s: &ServiceConfig,
        name: &str,
        number: i64,
        image_id: &str,
        members: &Members,
    ) -> Result<spec::Instance> {
        let first_of = |svc: &str| -> Result<Member> {
            lock(members)
                .get(svc)
                .and_then(|m| m.first().cloned())
                .ok_or_else(|| {
                    EngineError::msg(format!("service {svc:?} has no container to share"))
                })
        };
        let network_mode = match s.network_mode.strip_prefix("service:") {
            Some(svc) => Some(format!("container:{}", first_of(svc)?.id)),
            None => None,
        };
        let mut volumes_from = Vec::new();
        for v in &s.volumes_from {
            if let Some(c) = v.strip_prefix("container:") {
                volumes_from.push(c.to_string());
            } else {
                let (svc, mode) = v.split_once(':').unwrap_or((v, ""));
                let m = first_of(svc)?;
                volumes_from.push(if mode.is_empty() {
                    m.name
                } else {
                    format!("{}:{mode}", m.name)
                });
            }
        }
        let _ = project;
        Ok(spec::Instance {
            name: name.to_string(),
            number,
            oneoff: false,
            image_id: image_id.to_string(),
            network_mode,
            volumes_from,
            replace: None,
            labels: BTreeMap::new(),
            inherited_volumes: BTreeMap::new(),
        })
    }

    /// `POST /containers/create` named `create_name`; the new container's ID.
    pub async fn create(
        &self,
        project: &Project,
        s: &ServiceConfig,
        inst: &spec::Instance,
        create_name: &str,
        publish: bool,
    ) -> Result<String> {
        if super::spec_keys::interface_name(s).is_some() {
            let version = self.client.api_version().await?;
            if version_lt(&version, (1, 49)) {
                return Err(EngineError::msg(
                    "interface_name requires Docker Engine v28.1 or later",
                ));
            }
        }
        super::inject::check_objects(project, s)?;
        for w in super::inject::mount_warnings(project, s) {
            self.progress.line(&format!("WARN[0000] {w}"));
        }
        let body = spec::create_body(project, s, inst, publish);
        let mut q: berth_client::client::Query = vec![("name", create_name.to_string())];
        if !s.platform.is_empty() {
            q.push(("platform", s.platform.clone()));
        }
        let created: Value = self
            .client
            .post_json("/containers/create", &q, &body)
            .await
            .map_err(|e| {
                EngineError::msg(format!("Error response from daemon: {}", api_message(&e)))
            })?;
        // The daemon's warnings (discarded resources...), as compose shows them.
        for w in created["Warnings"].as_array().into_iter().flatten() {
            if let Some(w) = w.as_str().filter(|w| !w.is_empty()) {
                self.progress.line(&format!(" {} {w} ", s.name));
            }
        }
        Ok(created["Id"].as_str().unwrap_or_default().to_string())
    }

    async fn recreate(
        &self,
        project: &Project,
        s: &ServiceConfig,
        old: &Ctr,
        image_id: &str,
        timeout: Option<i64>,
        members: &Members,
    ) -> Result<Member> {
        let old_name = old.name();
        self.progress.container(&old_name, "Recreate");
        let name = if s.container_name.is_empty() {
            labels::container_name(&project.name, &s.name, old.number())
        } else {
            s.container_name.clone()
        };
        let short: String = old.id().chars().take(12).collect();
        let tmp = format!("{short}_{name}");
        let mut inst = self.instance(project, s, &name, old.number(), image_id, members)?;
        inst.replace = Some(old.id().to_string());
        // Anonymous volumes carry over (compose's inherited container).
        let info = self.client.container_inspect(old.id()).await?;
        for m in info["Mounts"].as_array().into_iter().flatten() {
            if m["Type"] == "volume" {
                if let (Some(dst), Some(name)) = (m["Destination"].as_str(), m["Name"].as_str()) {
                    let anonymous = s
                        .volumes
                        .iter()
                        .any(|v| v.target == dst && v.source.is_empty());
                    if anonymous {
                        inst.inherited_volumes
                            .insert(dst.to_string(), name.to_string());
                    }
                }
            }
        }
        let id = self.create(project, s, &inst, &tmp, true).await?;
        if old.running() {
            self.pre_stop_hooks(s, old.id()).await?;
        }
        self.client.container_stop(old.id(), None, timeout).await?;
        self.client
            .container_remove(old.id(), true, false, false)
            .await?;
        self.client.container_rename(&id, &name).await?;
        self.progress.container(&old_name, "Recreated");
        Ok(Member {
            id,
            name,
            running: false,
            recreated: true,
        })
    }

    /// Starts every stopped member, dependencies first, each after its dependencies met their
    /// conditions.
    pub async fn start_services(
        &self,
        project: &Project,
        graph: &Graph,
        members: &Members,
    ) -> Result<()> {
        graph
            .walk(false, |svc| async move {
                let s = &project.services[&svc];
                self.wait_dependencies(project, s, members).await?;
                let list = lock(members).get(&svc).cloned().unwrap_or_default();
                // `depends_on.restart`: a recreated dependency restarts the running dependents.
                let restart = s.depends_on.iter().any(|(dep, d)| {
                    d.restart
                        && lock(members)
                            .get(dep)
                            .is_some_and(|l| l.iter().any(|m| m.recreated))
                });
                if restart {
                    for m in list.iter().filter(|m| m.running) {
                        self.progress.container(&m.name, "Restarting");
                        self.pre_stop_hooks(s, &m.id).await?;
                        self.client.container_restart(&m.id, None, None).await?;
                        self.post_start_hooks(s, &m.id).await?;
                        self.progress.container(&m.name, "Started");
                    }
                }
                let results = join_all(list.iter().filter(|m| !m.running).map(|m| async move {
                    self.inject_files(project, s, &m.id).await?;
                    self.progress.container(&m.name, "Starting");
                    match self.client.container_start(&m.id, None).await {
                        Ok(()) => {
                            self.post_start_hooks(s, &m.id).await?;
                            self.progress.container(&m.name, "Started");
                            Ok(())
                        }
                        Err(e) => {
                            self.progress.container(&m.name, "Error");
                            Err(EngineError::msg(format!(
                                "Error response from daemon: {}",
                                api_message(&e)
                            )))
                        }
                    }
                }))
                .await;
                results.into_iter().collect::<Result<Vec<()>>>()?;
                if let Some(l) = lock(members).get_mut(&svc) {
                    l.iter_mut().for_each(|m| m.running = true);
                }
                Ok(())
            })
            .await
    }

    /// Waits until each dependency of `s` meets its `depends_on` condition.
    pub async fn wait_dependencies(
        &self,
        project: &Project,
        s: &ServiceConfig,
        members: &Members,
    ) -> Result<()> {
        for (dep, d) in &s.depends_on {
            if !project.services.contains_key(dep) {
                continue;
            }
            let known = lock(members).get(dep).cloned();
            let ctrs = match known {
                Some(c) => c,
                None => state::containers(&self.client, &project.name, true, OneOff::Exclude)
                    .await?
                    .into_iter()
                    .filter(|c| c.service() == dep)
                    .map(|c| Member {
                        id: c.id().to_string(),
                        name: c.name(),
                        running: c.running(),
                        recreated: false,
                    })
                    .collect(),
            };
            if ctrs.is_empty() && !d.required {
                continue;
            }
            match d.condition.as_str() {
                SERVICE_CONDITION_HEALTHY => {
                    for c in &ctrs {
                        self.progress.container(&c.name, "Waiting");
                        loop {
                            let v = self.client.container_inspect(&c.id).await?;
                            let st = &v["State"];
                            match st["Health"]["Status"].as_str() {
                                Some("healthy") => break,
                                Some("unhealthy") => {
                                    self.progress.container(&c.name, "Error");
                                    return Err(EngineError::msg(format!(
                                        "dependency failed to start: container {} is unhealthy",
                                        c.name
                                    )));
                                }
                                None if st["Status"] == "running" => {
                                    self.progress.container(&c.name, "Error");
                                    return Err(EngineError::msg(format!(
                                        "dependency failed to start: container {} has no healthcheck configured",
                                        c.name
                                    )));
                                }
                                _ => {}
                            }
                            if st["Status"] == "exited" {
                                self.progress.container(&c.name, "Error");
                                return Err(EngineError::msg(format!(
                                    "dependency failed to start: container {} exited ({})",
                                    c.name, st["ExitCode"]
                                )));
                            }
                            tokio::time::sleep(POLL).await;
                        }
                        self.progress.container(&c.name, "Healthy");
                    }
                }
                SERVICE_CONDITION_COMPLETED_SUCCESSFULLY => {
                    for c in &ctrs {
                        self.progress.container(&c.name, "Waiting");
                        let code = self
                            .client
                            .container_wait(&c.id, Some("not-running"))
                            .await?
                            .result()
                            .await?
                            .status_code;
                        if code != 0 {
                            self.progress.container(&c.name, "Error");
                            return Err(EngineError::msg(format!(
                                "service {dep:?} didn't complete successfully: exit {code}"
                            )));
                        }
                        self.progress.container(&c.name, "Exited");
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `--wait`: every container running (and healthy when it has a healthcheck).
    async fn wait_healthy(
        &self,
        project: &Project,
        targets: &[String],
        members: &Members,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let start = Instant::now();
        let all: Vec<Member> = targets
            .iter()
            .flat_map(|t| lock(members).get(t).cloned().unwrap_or_default())
            .collect();
        let _ = project;
        let results = join_all(all.iter().map(|m| async move {
            self.progress.container(&m.name, "Waiting");
            loop {
                let v = self.client.container_inspect(&m.id).await?;
                let st = &v["State"];
                let health = st["Health"]["Status"].as_str();
                match (st["Status"].as_str(), health) {
                    (Some("running"), None | Some("healthy")) => break,
                    (_, Some("unhealthy")) => {
                        self.progress.container(&m.name, "Error");
                        return Err(EngineError::msg(format!(
                            "container {} is unhealthy",
                            m.name
                        )));
                    }
                    (Some("exited"), _) => {
                        let code = st["ExitCode"].as_i64().unwrap_or(0);
                        if code == 0 {
                            self.progress.container(&m.name, "Exited");
                            return Ok(());
                        }
                        self.progress.container(&m.name, "Error");
                        return Err(EngineError::msg(format!(
                            "container {} exited ({code})",
                            m.name
                        )));
                    }
                    _ => {}
                }
                if let Some(t) = timeout {
                    if start.elapsed() > t {
                        return Err(EngineError::msg(format!(
                            "application not healthy after {}",
                            crate::units::format_go_duration(t.as_nanos() as i64)
                        )));
                    }
                }
                tokio::time::sleep(POLL).await;
            }
            self.progress.container(&m.name, "Healthy");
            Ok(())
        }))
        .await;
        results.into_iter().collect::<Result<Vec<()>>>().map(|_| ())
    }
}

/// Whether the API version `v` (`1.41`) is below `min`.
fn version_lt(v: &str, min: (u32, u32)) -> bool {
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let got = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    got < min
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `repo[:tag]` or `repo@digest` into the pull parameters (tag `latest` by default).
pub fn split_reference(image: &str) -> (String, String) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo.to_string(), digest.to_string());
    }
    let last_slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[last_slash..].rfind(':') {
        Some(i) => (
            image[..last_slash + i].to_string(),
            image[last_slash + i + 1..].to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            split_reference("busybox"),
            ("busybox".into(), "latest".into())
        );
        assert_eq!(
            split_reference("localhost:5000/a/b:1"),
            ("localhost:5000/a/b".into(), "1".into())
        );
        assert_eq!(
            split_reference("a@sha256:x"),
            ("a".into(), "sha256:x".into())
        );
    }
}

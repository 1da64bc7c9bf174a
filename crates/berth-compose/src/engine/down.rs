//! `down`, `stop`, `rm`: taking a project apart (`pkg/compose/down.go`), dependents first.

use std::collections::{BTreeMap, BTreeSet};

use berth_api::Filters;
use futures::future::join_all;

use super::graph::Graph;
use super::state::{self, Ctr, OneOff};
use super::{labels, spec, Engine, EngineError, Result};
use crate::model::Project;

#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    pub remove_orphans: bool,
    pub volumes: bool,
    /// `--rmi local|all`.
    pub rmi: Option<String>,
    pub timeout: Option<i64>,
}

impl Engine {
    /// Visits the containers grouped by service, dependents first; services the project does
    /// not know (orphans, or no project file) go first, all at once.
    pub async fn in_reverse_order<'a, F, Fut>(
        &'a self,
        project: Option<&'a Project>,
        ctrs: &'a [Ctr],
        visit: F,
    ) -> Result<()>
    where
        F: Fn(Vec<Ctr>) -> Fut + Copy + 'a,
        Fut: std::future::Future<Output = Result<()>> + 'a,
    {
        let mut by: BTreeMap<String, Vec<Ctr>> = BTreeMap::new();
        for c in ctrs {
            by.entry(c.service().to_string())
                .or_default()
                .push(c.clone());
        }
        let known: BTreeSet<String> = project
            .map(|p| p.services.keys().cloned().collect())
            .unwrap_or_default();
        let unknown: Vec<Ctr> = by
            .iter()
            .filter(|(s, _)| !known.contains(*s))
            .flat_map(|(_, c)| c.clone())
            .collect();
        if !unknown.is_empty() {
            visit(unknown).await?;
        }
        let Some(p) = project else {
            return Ok(());
        };
        let names: Vec<String> = by.keys().filter(|s| known.contains(*s)).cloned().collect();
        let graph = Graph::new(p, &names);
        let by = &by;
        graph
            .walk(true, |svc| async move {
                match by.get(&svc) {
                    Some(c) => visit(c.clone()).await,
                    None => Ok(()),
                }
            })
            .await
    }

    /// Stops containers (running ones), printing compose's lines; each service's `pre_stop`
    /// hooks run first when the project is known.
    pub async fn stop_containers(
        &self,
        project: Option<&Project>,
        ctrs: Vec<Ctr>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let results = join_all(ctrs.iter().filter(|c| c.running()).map(|c| async move {
            let name = c.name();
            self.progress.container(&name, "Stopping");
            self.stop_with_hooks(project, c, timeout).await?;
            self.progress.container(&name, "Stopped");
            Ok::<(), EngineError>(())
        }))
        .await;
        results.into_iter().collect::<Result<Vec<()>>>().map(|_| ())
    }

    pub async fn down(
        &self,
        name: &str,
        project: Option<&Project>,
        opts: &DownOptions,
    ) -> Result<()> {
        let all = state::containers(&self.client, name, true, OneOff::Include).await?;
        let (mine, orphans): (Vec<Ctr>, Vec<Ctr>) = all.into_iter().partition(|c| match project {
            None => true,
            Some(p) => {
                p.services.contains_key(c.service())
                    || p.disabled_services.contains_key(c.service())
            }
        });
        let mut targets = mine;
        if !orphans.is_empty() {
            if opts.remove_orphans {
                targets.extend(orphans);
            } else {
                let names: Vec<String> = orphans.iter().map(Ctr::name).collect();
                self.progress.line(&format!(
                    "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                    names.join(" ")
                ));
            }
        }
        let timeout = opts.timeout;
        let volumes = opts.volumes;
        self.in_reverse_order(project, &targets, move |ctrs| async move {
            self.remove_containers(project, &ctrs, timeout, volumes)
                .await
        })
        .await?;

        // Networks: the project's (or, without a file, every one labelled with it).
        let mut f = Filters::default();
        f.add("label", &labels::project_filter(name));
        let nets = self.client.network_list(&f).await?;
        let wanted: Option<BTreeSet<String>> = project.map(|p| {
            p.networks
                .iter()
                .filter(|(_, n)| !n.external)
                .map(|(k, _)| spec::network_name(p, k))
                .collect()
        });
        let nets: Vec<String> = nets
            .into_iter()
            .filter_map(|n| n.name)
            .filter(|n| wanted.as_ref().is_none_or(|w| w.contains(n)))
            .collect();
        let results = join_all(nets.iter().map(|n| async move {
            self.progress.event("Network", n, "Removing");
            match self.client.network_remove(n).await {
                Ok(()) => {
                    self.progress.event("Network", n, "Removed");
                    Ok(())
                }
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => {
                    self.progress.event("Network", n, "Error");
                    Err(EngineError::from(e))
                }
            }
        }))
        .await;
        results.into_iter().collect::<Result<Vec<()>>>()?;

        if opts.volumes {
            let list = self.client.volume_list(&f).await?;
            let wanted: Option<BTreeSet<String>> = project.map(|p| {
                p.volumes
                    .iter()
                    .filter(|(_, v)| !v.external)
                    .map(|(k, v)| {
                        if v.name.is_empty() {
                            format!("{}_{k}", p.name)
                        } else {
                            v.name.clone()
                        }
                    })
                    .collect()
            });
            let vols: Vec<String> = list
                .volumes
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.name)
                .filter(|n| wanted.as_ref().is_none_or(|w| w.contains(n)))
                .collect();
            let results = join_all(vols.iter().map(|v| async move {
                self.progress.event("Volume", v, "Removing");
                match self.client.volume_remove(v, false).await {
                    Ok(()) => {
                        self.progress.event("Volume", v, "Removed");
                        Ok(())
                    }
                    Err(e) if e.is_not_found() => Ok(()),
                    Err(e) => {
                        self.progress.event("Volume", v, "Error");
                        Err(EngineError::from(e))
                    }
                }
            }))
            .await;
            results.into_iter().collect::<Result<Vec<()>>>()?;
        }

        if let (Some(rmi), Some(p)) = (opts.rmi.as_deref(), project) {
            let mut images = BTreeSet::new();
            for s in p.services.values() {
                let local = s.image.is_empty();
                if rmi == "all" || local {
                    images.insert(spec::image_name(p, s));
                }
            }
            for i in images {
                if state::image_id(&self.client, &i).await?.is_none() {
                    continue;
                }
                self.progress.event("Image", &i, "Removing");
                match self.client.image_remove(&i, false, false).await {
                    Ok(_) => self.progress.event("Image", &i, "Removed"),
                    Err(e) => {
                        self.progress.event("Image", &i, "Error");
                        return Err(e.into());
                    }
                }
            }
        }
        Ok(())
    }
}

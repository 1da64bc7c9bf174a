//! Reading a project back from the daemon: its containers, networks and volumes, found by
//! compose's labels (so a project `docker compose` started is seen the same way).

use std::collections::HashMap;

use berth_api::models::ContainerSummary;
use berth_api::Filters;
use berth_client::{Client, ListOptions};

use super::{labels, Result};

/// Which containers: the service ones, one-off `run` ones, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneOff {
    Exclude,
    Only,
    Include,
}

/// A container of the project, as listed.
#[derive(Debug, Clone)]
pub struct Ctr {
    pub summary: ContainerSummary,
}

impl Ctr {
    pub fn id(&self) -> &str {
        self.summary.id.as_deref().unwrap_or_default()
    }
    pub fn name(&self) -> String {
        self.summary
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default()
    }
    pub fn label(&self, key: &str) -> &str {
        self.summary
            .labels
            .as_ref()
            .and_then(|l| l.get(key))
            .map(String::as_str)
            .unwrap_or_default()
    }
    pub fn service(&self) -> &str {
        self.label(labels::SERVICE)
    }
    pub fn number(&self) -> i64 {
        self.label(labels::CONTAINER_NUMBER).parse().unwrap_or(0)
    }
    pub fn oneoff(&self) -> bool {
        self.label(labels::ONEOFF) == "True"
    }
    pub fn state(&self) -> &str {
        self.summary.state.as_deref().unwrap_or_default()
    }
    pub fn running(&self) -> bool {
        matches!(self.state(), "running" | "restarting" | "paused")
    }
    pub fn labels(&self) -> HashMap<String, String> {
        self.summary.labels.clone().unwrap_or_default()
    }
}

/// The project's containers (all states when `all`), by service then number.
pub async fn containers(
    client: &Client,
    project: &str,
    all: bool,
    oneoff: OneOff,
) -> Result<Vec<Ctr>> {
    let mut filters = Filters::default();
    filters.add("label", &labels::project_filter(project));
    match oneoff {
        OneOff::Exclude => filters.add("label", &format!("{}=False", labels::ONEOFF)),
        OneOff::Only => filters.add("label", &format!("{}=True", labels::ONEOFF)),
        OneOff::Include => {}
    }
    let list = client
        .container_list(&ListOptions {
            all,
            filters,
            ..Default::default()
        })
        .await?;
    let mut out: Vec<Ctr> = list.into_iter().map(|summary| Ctr { summary }).collect();
    out.sort_by(|a, b| {
        a.service()
            .cmp(b.service())
            .then(a.number().cmp(&b.number()))
            .then(a.name().cmp(&b.name()))
    });
    Ok(out)
}

/// Projects with containers on the daemon: name → their containers (`compose ls`).
pub async fn projects(client: &Client, all: bool) -> Result<Vec<(String, Vec<Ctr>)>> {
    let mut filters = Filters::default();
    filters.add("label", labels::PROJECT);
    let list = client
        .container_list(&ListOptions {
            all,
            filters,
            ..Default::default()
        })
        .await?;
    let mut by: std::collections::BTreeMap<String, Vec<Ctr>> = Default::default();
    for summary in list {
        let c = Ctr { summary };
        by.entry(c.label(labels::PROJECT).to_string())
            .or_default()
            .push(c);
    }
    Ok(by.into_iter().collect())
}

/// The image ID of `image`, if the daemon has it.
pub async fn image_id(client: &Client, image: &str) -> Result<Option<String>> {
    match client.image_inspect_raw(image).await {
        Ok(raw) => {
            let v: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
            Ok(v["Id"].as_str().map(str::to_string))
        }
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

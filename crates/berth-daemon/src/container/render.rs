//! Docker views of containers: `ps` rows, `inspect` documents, `top` tables.

use std::collections::HashMap;

use berth_api::models::{
    self, ContainerInspectResponse, ContainerState, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryHostConfig, ContainerSummaryNetworkSettings, DriverData,
};
use berth_types::{Error, Result};

use crate::container::record::{Container, Status};
use crate::daemon::Daemon;
use crate::options::ListOptions;

fn status_enum(s: Status) -> ContainerStateStatusEnum {
    match s {
        Status::Created => ContainerStateStatusEnum::CREATED,
        Status::Running => ContainerStateStatusEnum::RUNNING,
        Status::Paused => ContainerStateStatusEnum::PAUSED,
        Status::Restarting => ContainerStateStatusEnum::RESTARTING,
        Status::Removing => ContainerStateStatusEnum::REMOVING,
        Status::Exited => ContainerStateStatusEnum::EXITED,
        Status::Dead => ContainerStateStatusEnum::DEAD,
    }
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// "Up 3 minutes", "Exited (0) 2 seconds ago", "Created" — dockerd's Status column.
fn human_status(c: &Container) -> String {
    let now = chrono::Utc::now();
    match c.state.status {
        Status::Running | Status::Paused => {
            let since = c
                .state
                .started_at
                .as_deref()
                .and_then(parse_time)
                .unwrap_or(now);
            let up = human_duration(now - since);
            match &c.state.health {
                _ if c.state.status == Status::Paused => format!("Up {up} (Paused)"),
                Some(h) if h.status == crate::container::health::STARTING => {
                    format!("Up {up} (health: starting)")
                }
                Some(h) => format!("Up {up} ({})", h.status),
                None => format!("Up {up}"),
            }
        }
        Status::Restarting => {
            let finished = c
                .state
                .finished_at
                .as_deref()
                .and_then(parse_time)
                .unwrap_or(now);
            format!(
                "Restarting ({}) {} ago",
                c.state.exit_code,
                human_duration(now - finished)
            )
        }
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        Status::Exited => match c.state.finished_at.as_deref().and_then(parse_time) {
            Some(t) if c.has_been_started => format!(
                "Exited ({}) {} ago",
                c.state.exit_code,
                human_duration(now - t)
            ),
            _ => "Created".into(),
        },
    }
}

/// The `health` filter's view: the status, or "none" without a health check.
fn health_status(c: &Container) -> &str {
    c.state
        .health
        .as_ref()
        .map(|h| h.status.as_str())
        .unwrap_or("none")
}

/// `State.Health` as dockerd shows it.
fn health_view(h: &crate::container::record::HealthState) -> models::Health {
    let status = match h.status.as_str() {
        crate::container::health::HEALTHY => models::HealthStatusEnum::HEALTHY,
        crate::container::health::UNHEALTHY => models::HealthStatusEnum::UNHEALTHY,
        crate::container::health::STARTING => models::HealthStatusEnum::STARTING,
        _ => models::HealthStatusEnum::NONE,
    };
    models::Health {
        status: Some(status),
        failing_streak: Some(h.failing_streak),
        log: Some(
            h.log
                .iter()
                .map(|r| models::HealthcheckResult {
                    start: Some(r.start.clone()),
                    end: Some(r.end.clone()),
                    exit_code: Some(r.exit_code),
                    output: Some(r.output.clone()),
                })
                .collect(),
        ),
    }
}

/// Go's `units.HumanDuration`.
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    if secs < 1 {
        return "Less than a second".into();
    } else if secs == 1 {
        return "1 second".into();
    } else if secs < 60 {
        return format!("{secs} seconds");
    }
    let mins = d.num_minutes();
    if mins == 1 {
        return "About a minute".into();
    } else if mins < 60 {
        return format!("{mins} minutes");
    }
    let hours = (d.num_seconds() as f64 / 3600.0).round() as i64;
    if hours == 1 {
        return "About an hour".into();
    } else if hours < 48 {
        return format!("{hours} hours");
    } else if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    } else if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    } else if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", hours / 24 / 365)
}

use crate::network::render::network_settings;

impl Daemon {
    pub async fn container_inspect(
        &self,
        key: &str,
        size: bool,
    ) -> Result<ContainerInspectResponse> {
        let ctr = self.lookup(key)?;
        let c = ctr.snapshot();
        let (size_rw, size_root_fs) = if size {
            let (rw, root) = self.container_sizes(&c).await;
            (Some(rw), Some(root))
        } else {
            (None, None)
        };
        let dir = self.container_dir(&c.id);
        let exec_ids: Vec<String> = self
            .execs
            .lock()
            .map(|m| {
                m.values()
                    // As dockerd, an exec leaves the container's list when it ends.
                    .filter(|e| e.container_id == c.id && e.state().exit_code.is_none())
                    .map(|e| e.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        let graph = self.images.graph_driver(&c.id, &c.image_id).await;
        Ok(ContainerInspectResponse {
            id: Some(c.id.clone()),
            created: Some(c.created.clone()),
            path: Some(c.path.clone()),
            args: Some(c.args.clone()),
            state: Some(ContainerState {
                status: Some(status_enum(c.state.status)),
                running: Some(
                    c.state.status == Status::Running || c.state.status == Status::Paused,
                ),
                paused: Some(c.state.status == Status::Paused),
                restarting: Some(c.state.status == Status::Restarting),
                oom_killed: Some(c.state.oom_killed),
                dead: Some(c.state.status == Status::Dead),
                pid: Some(c.state.pid),
                exit_code: Some(c.state.exit_code),
                error: Some(c.state.error.clone()),
                started_at: Some(
                    c.state
                        .started_at
                        .clone()
                        .unwrap_or_else(|| ZERO_TIME.into()),
                ),
                finished_at: Some(
                    c.state
                        .finished_at
                        .clone()
                        .unwrap_or_else(|| ZERO_TIME.into()),
                ),
                health: c.state.health.as_ref().map(health_view),
            }),
            image: Some(c.image_id.clone()),
            resolv_conf_path: Some(dir.join("resolv.conf").display().to_string()),
            hostname_path: Some(dir.join("hostname").display().to_string()),
            hosts_path: Some(dir.join("hosts").display().to_string()),
            log_path: Some(
                if crate::container::log_config::driver(c.host_config.log_config.as_ref())
                    == crate::container::log_config::NONE
                {
                    String::new()
                } else {
                    self.log_path(&c.id).display().to_string()
                },
            ),
            name: Some(c.name.clone()),
            restart_count: Some(c.restart_count),
            driver: Some("overlay2".into()),
            platform: Some("linux".into()),
            mount_label: Some(String::new()),
            process_label: Some(String::new()),
            app_armor_profile: Some(String::new()),
            exec_ids: if exec_ids.is_empty() {
                None
            } else {
                Some(exec_ids)
            },
            host_config: Some(berth_api::models::HostConfig {
                // dockerd shows the registered links, not what was asked for.
                links: self.links_shown(&c),
                ..c.host_config.clone()
            }),
            graph_driver: Some(graph),
            size_rw,
            size_root_fs,
            mounts: Some(c.mount_points.iter().map(|m| m.to_wire()).collect()),
            config: Some(c.config.clone()),
            network_settings: Some(network_settings(&c)),
        })
    }

    pub async fn container_list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        opts.filters
            .validate(&[
                "id", "name", "label", "status", "ancestor", "exited", "before", "since", "health",
                "network", "volume", "publish", "expose", "is-task",
            ])
            .map_err(Error::invalid)?;
        for h in opts.filters.get("health") {
            if ![
                crate::container::health::STARTING,
                crate::container::health::HEALTHY,
                crate::container::health::UNHEALTHY,
                "none",
            ]
            .contains(&h.as_str())
            {
                return Err(Error::invalid(format!(
                    "Unrecognised filter value for health: {h}"
                )));
            }
        }
        for s in opts.filters.get("status") {
            if ![
                "created",
                "restarting",
                "running",
                "removing",
                "paused",
                "exited",
                "dead",
            ]
            .contains(&s.as_str())
            {
                return Err(Error::invalid(format!("invalid filter 'status={s}'")));
            }
        }
        let port_filters = crate::container::ps_filters::PortFilters::parse(&opts.filters)?;
        let is_task = crate::container::ps_filters::is_task(&opts.filters)?;
        let mut all: Vec<Container> = self.all().iter().map(|c| c.snapshot()).collect();
        all.sort_by(|a, b| b.created.cmp(&a.created));
        let ancestors = self.resolve_ancestors(opts.filters.get("ancestor")).await;
        let before = self.created_of(opts.filters.get("before"))?;
        let since = self.created_of(opts.filters.get("since"))?;
        let f = &opts.filters;
        // `network=` values by name, and the names of the networks they give by id.
        let networks: Vec<String> = f
            .get("network")
            .iter()
            .flat_map(|v| {
                let by_id = self.nets.find(v).ok().map(|n| n.name);
                std::iter::once(v.clone()).chain(by_id)
            })
            .collect();
        let any = |key: &str, test: &dyn Fn(&str) -> bool| {
            let v = f.get(key);
            v.is_empty() || v.iter().any(|x| test(x))
        };
        let mut out = Vec::new();
        for c in all {
            // Without -a only running containers; status/exited filters widen it as dockerd.
            let implicit_all = !f.get("status").is_empty() || !f.get("exited").is_empty();
            if !opts.all && !implicit_all && !c.state.running() && opts.limit.unwrap_or(0) <= 0 {
                continue;
            }
            let labels = c.config.labels.clone().unwrap_or_default();
            let ok = any("id", &|v| c.id.starts_with(v))
                && any("name", &|v| name_matches(c.bare_name(), v))
                && any("status", &|v| v == c.state.status.as_str())
                && any("health", &|v| v == health_status(&c))
                && any("exited", &|v| {
                    c.state.status == Status::Exited
                        && c.has_been_started
                        && v.parse::<i64>().ok() == Some(c.state.exit_code)
                })
                && f.match_kv_list("label", &labels)
                && (f.get("ancestor").is_empty() || ancestors.contains(&c.image_id))
                && before.as_ref().is_none_or(|b| c.created < *b)
                && since.as_ref().is_none_or(|s| c.created > *s)
                // berth runs no swarm tasks.
                && is_task != Some(true)
                && (f.get("network").is_empty()
                    || networks.iter().any(|n| crate::container::ps_filters::on_network(&c, n)))
                && any("volume", &|v| crate::container::ps_filters::has_volume(&c, v))
                && port_filters.matches(&c);
            if ok {
                let mut summary = self.summary(&c);
                if opts.size {
                    let (rw, root) = self.container_sizes(&c).await;
                    summary.size_rw = Some(rw);
                    summary.size_root_fs = Some(root);
                }
                out.push(summary);
            }
        }
        if let Some(limit) = opts.limit.filter(|l| *l > 0) {
            out.truncate(limit as usize);
        }
        Ok(out)
    }

    async fn resolve_ancestors(&self, names: &[String]) -> Vec<String> {
        let mut ids = Vec::new();
        for n in names {
            if let Ok(img) = self.images.resolve(n).await {
                ids.push(img.id);
            }
        }
        ids
    }

    fn created_of(&self, keys: &[String]) -> Result<Option<String>> {
        match keys.first() {
            None => Ok(None),
            Some(k) => Ok(Some(self.lookup(k)?.snapshot().created)),
        }
    }

    pub(crate) fn summary(&self, c: &Container) -> ContainerSummary {
        let created = parse_time(&c.created)
            .map(|t| t.timestamp())
            .unwrap_or_default();
        let mode = c
            .host_config
            .network_mode
            .clone()
            .unwrap_or_else(|| "bridge".into());
        let networks = crate::network::render::shown_endpoints(c);
        ContainerSummary {
            id: Some(c.id.clone()),
            names: Some(
                std::iter::once(c.name.clone())
                    .chain(self.link_names_of(c))
                    .collect(),
            ),
            image: Some(c.config.image.clone().unwrap_or_default()),
            image_id: Some(c.image_id.clone()),
            command: Some(c.command_line()),
            created: Some(created),
            ports: Some(crate::network::render::summary_ports(c)),
            size_rw: None,
            size_root_fs: None,
            labels: Some(c.config.labels.clone().unwrap_or_default()),
            state: Some(c.state.status.as_str().to_string()),
            status: Some(human_status(c)),
            host_config: Some(ContainerSummaryHostConfig {
                network_mode: Some(mode),
                annotations: None,
            }),
            network_settings: Some(ContainerSummaryNetworkSettings {
                networks: Some(networks),
            }),
            mounts: Some(c.mount_points.iter().map(|m| m.to_wire()).collect()),
        }
    }

    pub async fn container_top(
        &self,
        key: &str,
        ps_args: Option<&str>,
    ) -> Result<models::ContainerTopResponse> {
        let ctr = self.lookup(key)?;
        let c = ctr.snapshot();
        if !c.state.running() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let pids = crate::runtime::cgroups::pids(&c.id);
        let args = ps_args
            .filter(|a| !a.is_empty())
            .unwrap_or("-ef")
            .to_string();
        // dockerd runs the host's ps and keeps the rows whose PID belongs to the container.
        let output = tokio::process::Command::new("ps")
            .args(args.split_whitespace())
            .output()
            .await
            .map_err(|e| Error::internal(format!("running ps: {e}")))?;
        if !output.status.success() {
            return Err(Error::internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
        let pid_col = titles
            .iter()
            .position(|t| t == "PID")
            .ok_or_else(|| Error::internal("Couldn't find PID field in ps output"))?;
        let mut processes = Vec::new();
        for line in lines {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < titles.len() {
                continue;
            }
            let Ok(pid) = fields[pid_col].parse::<i32>() else {
                continue;
            };
            if !pids.contains(&pid) {
                continue;
            }
            // The last column (the command) may contain spaces.
            let mut row: Vec<String> = fields[..titles.len() - 1]
                .iter()
                .map(|s| s.to_string())
                .collect();
            row.push(fields[titles.len() - 1..].join(" "));
            processes.push(row);
        }
        self.container_event(&c, "top", &[]);
        Ok(models::ContainerTopResponse {
            titles: Some(titles),
            processes: Some(processes),
        })
    }
}

/// dockerd's name filter is a regular expression match against the name; berth supports
/// substring matches plus `^`/`$` anchors, which covers what clients send.
fn name_matches(name: &str, pattern: &str) -> bool {
    let p = pattern.trim_start_matches('/');
    let (anchored_start, p) = match p.strip_prefix('^') {
        Some(rest) => (true, rest.trim_start_matches('/')),
        None => (false, p),
    };
    let (anchored_end, p) = match p.strip_suffix('$') {
        Some(rest) => (true, rest),
        None => (false, p),
    };
    match (anchored_start, anchored_end) {
        (true, true) => name == p,
        (true, false) => name.starts_with(p),
        (false, true) => name.ends_with(p),
        (false, false) => name.contains(p),
    }
}

pub(crate) fn driver_data(
    lower: Vec<String>,
    upper: String,
    work: String,
    merged: String,
) -> DriverData {
    let mut data = HashMap::new();
    if !lower.is_empty() {
        data.insert("LowerDir".to_string(), lower.join(":"));
    }
    data.insert("UpperDir".to_string(), upper);
    data.insert("WorkDir".to_string(), work);
    data.insert("MergedDir".to_string(), merged);
    DriverData {
        name: "overlay2".into(),
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_go_units() {
        assert_eq!(
            human_duration(chrono::Duration::seconds(0)),
            "Less than a second"
        );
        assert_eq!(human_duration(chrono::Duration::seconds(5)), "5 seconds");
        assert_eq!(
            human_duration(chrono::Duration::seconds(65)),
            "About a minute"
        );
        assert_eq!(human_duration(chrono::Duration::minutes(5)), "5 minutes");
        assert_eq!(human_duration(chrono::Duration::hours(3)), "3 hours");
        assert_eq!(human_duration(chrono::Duration::days(3)), "3 days");
    }

    #[test]
    fn name_filter_matches_like_docker() {
        assert!(name_matches("web-1", "web"));
        assert!(name_matches("web-1", "^/web"));
        assert!(!name_matches("my-web", "^web"));
        assert!(name_matches("web", "^web$"));
    }
}

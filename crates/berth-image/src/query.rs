//! `docker images`, `docker image inspect` and `docker history`.

use std::collections::HashMap;

use berth_api::models::{
    ContainerConfig as ApiContainerConfig, DriverData, HistoryResponseItem,
    ImageConfig as ApiImageConfig, ImageInspect, ImageInspectMetadata, ImageInspectRootFs,
    ImageSummary,
};
use berth_api::Filters;
use berth_types::Reference;

use crate::config::unix_seconds;
use crate::error::ImageError;
use crate::records;
use crate::service::ImageService;

/// `GET /images/{name}/json`'s answer: the API model plus what dockerd sent before API 1.45
/// and the model lacks (`Container`, `ContainerConfig`); those are left out when `None`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InspectedImage {
    #[serde(flatten)]
    pub inspect: ImageInspect,
    /// The config's `container` (`""` when it has none).
    #[serde(rename = "Container", skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The config's `container_config`; a zero config (Go's zero `container.Config`, which
    /// dockerd 20.10 keeps by value) when the image has none.
    #[serde(rename = "ContainerConfig", skip_serializing_if = "Option::is_none")]
    pub container_config: Option<ApiContainerConfig>,
}

const LIST_FILTERS: &[&str] = &["dangling", "label", "before", "since", "reference", "until"];
/// Go's zero time, which dockerd reports for an image that was never tagged.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl ImageService {
    /// `GET /images/json`. `all` also shows untagged intermediate images (those with children).
    pub fn list(&self, all: bool, filters: &Filters) -> Result<Vec<ImageSummary>, ImageError> {
        filters
            .validate(LIST_FILTERS)
            .map_err(ImageError::Invalid)?;
        // dockerd takes exactly "true" or "false" here (prune is laxer).
        let dangling = match filters.get("dangling") {
            [] => None,
            [v] if v == "true" => Some(true),
            [v] if v == "false" => Some(false),
            values => return Err(crate::filtering::invalid_filter("dangling", values)),
        };
        let time_bound = |key: &str| -> Result<Option<i64>, ImageError> {
            match filters.get(key).last() {
                None => Ok(None),
                Some(name) => {
                    let img = self.resolve(name)?;
                    Ok(Some(unix_seconds(img.created.as_deref())))
                }
            }
        };
        let before = time_bound("before")?;
        let since = time_bound("since")?;
        let until = match filters.get("until").last() {
            None => None,
            Some(v) => Some(parse_until(v)?),
        };

        let mut out = Vec::new();
        for row in records::images_in(&self.db, &self.ns)? {
            let config = self.read_config(&row.id)?;
            let created = unix_seconds(config.created.as_deref());
            if before.is_some_and(|b| created >= b)
                || since.is_some_and(|s| created <= s)
                || until.is_some_and(|u| created >= u)
            {
                continue;
            }
            let labels: HashMap<String, String> = config
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default()
                .into_iter()
                .collect();
            if !filters.match_kv_list("label", &labels) {
                continue;
            }
            let (mut tags, mut digests) = self.familiar_refs(&row.id)?;
            // Digest references alone do not make an image "tagged".
            let is_dangling = tags.is_empty();
            if dangling.is_some_and(|d| d != is_dangling) {
                continue;
            }
            let patterns = filters.get("reference");
            if !patterns.is_empty() {
                tags.retain(|t| reference_matches(patterns, t));
                digests.retain(|d| reference_matches(patterns, d));
                if tags.is_empty() && digests.is_empty() {
                    continue;
                }
            }
            if tags.is_empty()
                && digests.is_empty()
                && !all
                && !records::children_of(&self.db, &row.id)?.is_empty()
            {
                continue;
            }
            out.push(ImageSummary {
                id: row.id.clone(),
                parent_id: row.parent.clone().unwrap_or_default(),
                repo_tags: tags,
                repo_digests: digests,
                created,
                size: row.size,
                shared_size: -1,
                virtual_size: None,
                labels,
                containers: -1,
                manifests: None,
            });
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// `GET /images/{name}/json` as the API model.
    pub fn inspect(&self, name: &str) -> Result<ImageInspect, ImageError> {
        Ok(self.inspect_full(name)?.inspect)
    }

    /// `GET /images/{name}/json` with the image's `Container` and `ContainerConfig`.
    pub fn inspect_full(&self, name: &str) -> Result<InspectedImage, ImageError> {
        let img = self.resolve(name)?;
        let row = records::image(&self.db, &img.id)?
            .ok_or_else(|| ImageError::NotFound(name.to_string()))?;
        let api_config: ApiImageConfig = serde_json::to_value(&img.config)
            .and_then(serde_json::from_value)
            .map_err(|e| ImageError::BadConfig {
                digest: img.id.clone(),
                message: e.to_string(),
            })?;
        let raw = &img.raw;
        let container_config: ApiContainerConfig =
            serde_json::to_value(raw.container_config.clone().unwrap_or_default())
                .and_then(serde_json::from_value)
                .map_err(|e| ImageError::BadConfig {
                    digest: img.id.clone(),
                    message: e.to_string(),
                })?;
        let inspect = ImageInspect {
            id: Some(img.id.clone()),
            repo_tags: Some(img.repo_tags.clone()),
            repo_digests: Some(img.repo_digests.clone()),
            parent: Some(row.parent.clone().unwrap_or_default()),
            comment: Some(raw.comment.clone().unwrap_or_default()),
            created: raw.created.clone(),
            docker_version: Some(raw.docker_version.clone().unwrap_or_default()),
            author: Some(raw.author.clone().unwrap_or_default()),
            config: Some(api_config),
            architecture: Some(raw.architecture.clone()),
            variant: raw.variant.clone(),
            os: Some(raw.os.clone()),
            os_version: None,
            size: Some(img.size),
            virtual_size: None,
            graph_driver: Some(self.graph_driver(&img)),
            root_fs: Some(ImageInspectRootFs {
                typ: raw.rootfs.typ.clone(),
                layers: Some(raw.rootfs.diff_ids.iter().map(|d| d.to_string()).collect()),
            }),
            metadata: Some(ImageInspectMetadata {
                last_tag_time: Some(
                    row.last_tag_time
                        .clone()
                        .unwrap_or_else(|| ZERO_TIME.to_string()),
                ),
            }),
        };
        Ok(InspectedImage {
            inspect,
            container: Some(raw.container.clone().unwrap_or_default()),
            container_config: Some(container_config),
        })
    }

    /// overlay2-style GraphDriver data: the top layer is the "upper", the rest (top first) the
    /// lower dirs, as dockerd reports for images.
    fn graph_driver(&self, img: &crate::Image) -> DriverData {
        let mut data = HashMap::new();
        if let Some((top, lowers)) = img.layer_dirs.split_last() {
            let top_dir = top.parent().unwrap_or(top);
            data.insert("UpperDir".to_string(), top.display().to_string());
            data.insert(
                "WorkDir".to_string(),
                top_dir.join("work").display().to_string(),
            );
            data.insert(
                "MergedDir".to_string(),
                top_dir.join("merged").display().to_string(),
            );
            if !lowers.is_empty() {
                let lower: Vec<String> = lowers
                    .iter()
                    .rev()
                    .map(|p| p.display().to_string())
                    .collect();
                data.insert("LowerDir".to_string(), lower.join(":"));
            }
        }
        DriverData {
            name: "overlay2".to_string(),
            data,
        }
    }

    /// `GET /images/{name}/history`: newest first; only the top entry carries the image id and
    /// tags, the others show `<missing>` as for any image dockerd did not build itself.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryResponseItem>, ImageError> {
        let img = self.resolve(name)?;
        let layers = records::layers_of(&self.db, &img.id)?;
        let mut layer_sizes = layers.iter().map(|l| l.size);
        let mut items = Vec::with_capacity(img.raw.history.len());
        for h in &img.raw.history {
            let size = if h.empty_layer {
                0
            } else {
                layer_sizes.next().unwrap_or(0)
            };
            items.push(HistoryResponseItem {
                id: "<missing>".to_string(),
                created: unix_seconds(h.created.as_deref()),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        items.reverse();
        if let Some(top) = items.first_mut() {
            top.id = img.id.clone();
            top.tags = img.repo_tags.clone();
        }
        Ok(items)
    }
}

/// dockerd matches `reference=` patterns (path.Match globs) against the familiar name and the
/// familiar `name:tag`.
fn reference_matches(patterns: &[String], familiar: &str) -> bool {
    let name = Reference::parse_name_only(familiar)
        .map(|r| r.familiar_name())
        .unwrap_or_else(|_| familiar.to_string());
    patterns
        .iter()
        .any(|p| glob(p.as_bytes(), name.as_bytes()) || glob(p.as_bytes(), familiar.as_bytes()))
}

/// Go's `path.Match` subset: `*` (not across `/`), `?`, and literal characters.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && glob(p, &s[1..])),
        (Some(b'?'), Some(c)) if *c != b'/' => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

/// `until=`: a unix timestamp or an RFC 3339 time.
fn parse_until(v: &str) -> Result<i64, ImageError> {
    if let Ok(n) = v.split('.').next().unwrap_or(v).parse::<i64>() {
        return Ok(n);
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp())
        .map_err(|_| ImageError::Invalid(format!("invalid filter 'until={v}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_path_match() {
        assert!(glob(b"busy*", b"busybox"));
        assert!(glob(b"busybox:*", b"busybox:latest"));
        assert!(!glob(b"*", b"me/app"));
        assert!(glob(b"*/app", b"me/app"));
        assert!(reference_matches(&["busybox".into()], "busybox:latest"));
        assert!(!reference_matches(&["alpine".into()], "busybox:latest"));
    }
}

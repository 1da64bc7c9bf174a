//! `GET /system/df`: images (with shared sizes and container counts), containers (with the
//! size of their writable layers), volumes (with their usage) and build cache (berth has none
//! yet: empty).

use std::collections::HashMap;

use berth_api::models;
use berth_types::{Error, Result};

use crate::daemon::Daemon;

/// Which parts `GET /system/df?type=...` asked for (all when none was named).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsageParts {
    pub images: bool,
    pub containers: bool,
    pub volumes: bool,
    pub build_cache: bool,
}

impl DiskUsageParts {
    pub const ALL: Self = Self {
        images: true,
        containers: true,
        volumes: true,
        build_cache: true,
    };

    /// From the `type` values (`container`, `image`, `volume`, `build-cache`), with dockerd's
    /// error for anything else.
    pub fn from_types(types: &[String]) -> Result<Self> {
        if types.is_empty() {
            return Ok(Self::ALL);
        }
        let mut parts = Self {
            images: false,
            containers: false,
            volumes: false,
            build_cache: false,
        };
        for t in types {
            match t.as_str() {
                "container" => parts.containers = true,
                "image" => parts.images = true,
                "volume" => parts.volumes = true,
                "build-cache" => parts.build_cache = true,
                other => return Err(Error::invalid(format!("unknown object type: {other}"))),
            }
        }
        Ok(parts)
    }
}

/// `GET /system/df`: the swagger model plus `BuilderSize`, which dockerd 20.10 still sent
/// (the build cache's total size).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DiskUsage {
    #[serde(flatten)]
    pub usage: models::SystemDataUsageResponse,
    #[serde(rename = "BuilderSize")]
    pub builder_size: i64,
}

impl Daemon {
    /// At API `api`: before 1.44 each image's `VirtualSize` repeats its `Size`.
    pub async fn system_df(&self, parts: DiskUsageParts, api: &str) -> Result<DiskUsage> {
        let mut out = models::SystemDataUsageResponse::default();
        let mut image_sizes = HashMap::new();
        if parts.images || parts.containers {
            let svc = self.images.service.clone();
            let usage = tokio::task::spawn_blocking(move || svc.disk_usage())
                .await
                .map_err(|e| Error::internal(format!("disk usage task: {e}")))??;
            let mut counts: HashMap<String, i64> = HashMap::new();
            for c in self.all() {
                *counts.entry(c.snapshot().image_id).or_insert(0) += 1;
            }
            let mut images = usage.images;
            for img in &mut images {
                img.containers = counts.get(&img.id).copied().unwrap_or(0);
                img.virtual_size = crate::image::ops::api_older(api, "1.44").then_some(img.size);
                image_sizes.insert(img.id.clone(), img.size);
            }
            if parts.images {
                out.layers_size = Some(usage.layers_size);
                out.images = Some(images);
            }
        }
        if parts.containers {
            let mut all: Vec<_> = self.all().iter().map(|c| c.snapshot()).collect();
            all.sort_by(|a, b| b.created.cmp(&a.created));
            let mut containers = Vec::with_capacity(all.len());
            for c in all {
                let mut summary = self.summary(&c);
                let svc = self.images.service.clone();
                let id = c.id.clone();
                // The writable layer is the snapshot's upper directory.
                let rw = tokio::task::spawn_blocking(move || {
                    svc.snapshot_paths(&id)
                        .ok()
                        .and_then(|p| berth_snapshot::dir_size(&p.upper).ok())
                        .unwrap_or(0) as i64
                })
                .await
                .unwrap_or(0);
                summary.size_rw = Some(rw);
                summary.size_root_fs =
                    Some(rw + image_sizes.get(&c.image_id).copied().unwrap_or(0));
                containers.push(summary);
            }
            out.containers = Some(containers);
        }
        if parts.volumes {
            out.volumes = Some(
                self.volume_usage()
                    .await?
                    .into_iter()
                    .map(crate::volume::lifecycle::to_model)
                    .collect(),
            );
        }
        if parts.build_cache {
            let rfc3339 = |secs: i64| {
                chrono::DateTime::from_timestamp(secs, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            };
            out.build_cache = Some(
                self.build_cache_entries()
                    .await?
                    .into_iter()
                    .map(|e| models::BuildCache {
                        id: Some(e.key.chars().take(25).collect()),
                        typ: Some(models::BuildCacheTypeEnum::REGULAR),
                        description: Some(e.description),
                        in_use: Some(e.in_use),
                        shared: Some(false),
                        size: Some(e.size),
                        created_at: rfc3339(e.created_at),
                        last_used_at: rfc3339(e.last_used),
                        usage_count: Some(1),
                        ..models::BuildCache::default()
                    })
                    .collect(),
            );
        }
        let builder_size = out
            .build_cache
            .iter()
            .flatten()
            .filter_map(|b| b.size)
            .sum();
        Ok(DiskUsage {
            usage: out,
            builder_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_select_parts() {
        assert_eq!(
            DiskUsageParts::from_types(&[]).ok(),
            Some(DiskUsageParts::ALL)
        );
        let p = DiskUsageParts::from_types(&["image".into()]).expect("image");
        assert!(p.images && !p.containers && !p.volumes && !p.build_cache);
        let e = DiskUsageParts::from_types(&["images".into()]).expect_err("bad");
        assert_eq!(e.message, "unknown object type: images");
    }
}

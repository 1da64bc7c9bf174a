//! The builder's cache: a step's key to the image it made (table `build_cache`).
//!
//! A key already covers the parent image, so a hit is always right for that parent. The rows
//! go with their image (`ON DELETE CASCADE`); `builder prune` drops rows and removes the
//! intermediate images only the cache kept.

use std::collections::BTreeSet;

use rusqlite::{params, OptionalExtension};

use crate::error::ImageError;
use crate::records;
use crate::remove::ImageUser;
use crate::service::ImageService;

/// One cache entry, for `system df`.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub key: String,
    pub image_id: String,
    pub created_at: i64,
    pub last_used: i64,
    /// Bytes of the layer the step added (0 for a metadata-only step).
    pub size: i64,
    /// The step's history entry (`/bin/sh -c ...`).
    pub description: String,
    /// The image is tagged or below a tagged image: pruning the entry frees nothing.
    pub in_use: bool,
}

/// What `builder prune` removed.
#[derive(Debug, Clone, Default)]
pub struct CachePruneReport {
    pub caches_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl ImageService {
    /// Whether `ancestor` is `image` or one of its parents (the parent links builds and
    /// commits record), as dockerd's `imageCache.isParent` walks them for `--cache-from`.
    pub fn is_self_or_parent(&self, ancestor: &str, image: &str) -> Result<bool, ImageError> {
        let mut cur = image.to_string();
        let mut seen = BTreeSet::new();
        loop {
            if cur == ancestor {
                return Ok(true);
            }
            if !seen.insert(cur.clone()) {
                return Ok(false);
            }
            match records::image(&self.db, &cur)?.and_then(|r| r.parent) {
                Some(p) if !p.is_empty() => cur = p,
                _ => return Ok(false),
            }
        }
    }

    /// The image a step with `key` made, if it is still there.
    pub fn cache_lookup(&self, key: &str) -> Result<Option<String>, ImageError> {
        let found: Option<String> = self.db.with(|c| {
            c.query_row(
                "SELECT image_id FROM build_cache WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(berth_store::DbError::from)
        })?;
        if found.is_some() {
            self.db.with(|c| {
                c.execute(
                    "UPDATE build_cache SET last_used = ?2 WHERE key = ?1",
                    params![key, now()],
                )
                .map_err(berth_store::DbError::from)
            })?;
        }
        Ok(found)
    }

    /// Records that the step with `key` made `image_id`.
    pub fn cache_store(&self, key: &str, image_id: &str) -> Result<(), ImageError> {
        let t = now();
        self.db.with(|c| {
            c.execute(
                "INSERT INTO build_cache (key, image_id, created_at, last_used) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT(key) DO UPDATE SET image_id = excluded.image_id, last_used = excluded.last_used",
                params![key, image_id, t],
            )
            .map_err(berth_store::DbError::from)
        })?;
        Ok(())
    }

    /// Images a tag keeps alive: the tagged ones and all their ancestors.
    fn kept_by_tags(&self) -> Result<BTreeSet<String>, ImageError> {
        let mut kept = BTreeSet::new();
        let rows = records::all_images(&self.db)?;
        let parent_of: std::collections::HashMap<String, Option<String>> = rows
            .iter()
            .map(|r| (r.id.clone(), r.parent.clone()))
            .collect();
        for row in &rows {
            if records::refs_of(&self.db, &self.ns, &row.id)?.is_empty() {
                continue;
            }
            let mut cur = Some(row.id.clone());
            while let Some(id) = cur {
                if !kept.insert(id.clone()) {
                    break;
                }
                cur = parent_of.get(&id).cloned().flatten();
            }
        }
        Ok(kept)
    }

    /// Every cache entry, oldest first.
    pub fn cache_entries(&self) -> Result<Vec<CacheEntry>, ImageError> {
        let rows: Vec<(String, String, i64, i64)> = self.db.with(|c| {
            let mut st = c
                .prepare("SELECT key, image_id, created_at, last_used FROM build_cache ORDER BY created_at")
                .map_err(berth_store::DbError::from)?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(berth_store::DbError::from)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(berth_store::DbError::from)?;
            Ok::<_, ImageError>(rows)
        })?;
        let kept = self.kept_by_tags()?;
        let sizes = records::layer_sizes(&self.db)?;
        let mut out = Vec::with_capacity(rows.len());
        for (key, image_id, created_at, last_used) in rows {
            let config = self.read_config(&image_id)?;
            let last = config.history.last();
            let made_layer = last.is_some_and(|h| !h.empty_layer);
            let size = if made_layer {
                records::layers_of(&self.db, &image_id)?
                    .last()
                    .and_then(|l| sizes.get(&l.chain_id).copied())
                    .unwrap_or(0)
            } else {
                0
            };
            out.push(CacheEntry {
                in_use: kept.contains(&image_id),
                key,
                image_id,
                created_at,
                last_used,
                size,
                description: last.and_then(|h| h.created_by.clone()).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// `builder prune`: drops the entries last used before `until` (all with `all`; otherwise
    /// only those whose image no tag keeps) and removes the images nothing else needs.
    pub fn cache_prune(
        &self,
        all: bool,
        until: Option<i64>,
        users: &dyn Fn(&str) -> Vec<ImageUser>,
    ) -> Result<CachePruneReport, ImageError> {
        let entries = self.cache_entries()?;
        let sizes = records::layer_sizes(&self.db)?;
        let mut report = CachePruneReport::default();
        for e in entries {
            if until.is_some_and(|u| e.last_used > u) || (!all && e.in_use) {
                continue;
            }
            self.db.with(|c| {
                c.execute("DELETE FROM build_cache WHERE key = ?1", params![e.key])
                    .map_err(berth_store::DbError::from)
            })?;
            report.caches_deleted.push(e.key.clone());
            let removable = records::image(&self.db, &e.image_id)?.is_some()
                && records::refs_of(&self.db, &self.ns, &e.image_id)?.is_empty()
                && records::children_of(&self.db, &e.image_id)?.is_empty()
                && users(&e.image_id).is_empty();
            if !removable {
                continue;
            }
            match self.remove(&e.image_id, false, false, users) {
                Ok(items) => {
                    report.space_reclaimed += items
                        .iter()
                        .filter_map(|d| d.deleted.as_ref())
                        .filter_map(|d| sizes.get(d))
                        .map(|s| *s as u64)
                        .sum::<u64>();
                }
                Err(ImageError::Conflict(_)) | Err(ImageError::NotFound(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(report)
    }
}

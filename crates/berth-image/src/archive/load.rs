//! `docker load`: spool the archive, verify and store every config and layer, then record the
//! images and tags in one transaction. Any failure removes what this load created.

use std::collections::HashMap;
use std::io::{self, Read};

use berth_types::{Digest, Reference};

use super::error::ArchiveError;
use super::plan::{plan, ImagePlan, MAX_JSON};
use super::spool::Spool;
use super::verify::{is_limit_error, LimitedReader};
use crate::compression::{decompress, Compression};
use crate::config::{self, ImageConfig};
use crate::error::ImageError;
use crate::records::{self, ImageRow, LayerRow};
use crate::service::ImageService;

/// Bounds on what one load may unpack.
#[derive(Debug, Clone, Copy)]
pub struct LoadLimits {
    /// Uncompressed bytes one layer may expand to (a decompression bomb's guard).
    pub max_layer_bytes: u64,
}

impl Default for LoadLimits {
    fn default() -> Self {
        // Layers are streamed to disk, so the bound is about disk, not memory.
        Self {
            max_layer_bytes: 1 << 40,
        }
    }
}

/// What a load did, as dockerd reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The lines of dockerd's output stream (`Loaded image: busybox:latest`), newline-free.
    pub messages: Vec<String>,
    /// Ids of the loaded images, in archive order, without repeats.
    pub ids: Vec<String>,
}

/// Blobs and layers this load created, removed again if it fails.
#[derive(Default)]
struct Created {
    blobs: Vec<Digest>,
    layers: Vec<Digest>,
}

/// An image verified and stored, waiting for its database rows.
struct StagedImage {
    id: String,
    created: Option<String>,
    chain_ids: Vec<Digest>,
    size: i64,
    tags: Vec<Reference>,
}

impl ImageService {
    /// Loads a `docker save` archive (any of the formats in [`crate::archive`]).
    pub fn load_archive(
        &self,
        reader: impl Read,
        limits: LoadLimits,
    ) -> Result<LoadReport, ImageError> {
        let started = std::time::Instant::now();
        let mut spool = Spool::read(reader, &self.content)?;
        let spooled = started.elapsed();
        let plans = plan(&spool)?;
        let _guard = self.lock()?;
        let mut created = Created::default();
        let result = self.load_plans(&mut spool, &plans, limits, &mut created);
        if result.is_err() {
            self.discard_unreferenced(&created.blobs, &created.layers);
        }
        tracing::info!(
            spool_ms = spooled.as_millis() as u64,
            store_ms = (started.elapsed() - spooled).as_millis() as u64,
            ok = result.is_ok(),
            "image load"
        );
        result
    }

    fn load_plans(
        &self,
        spool: &mut Spool,
        plans: &[ImagePlan],
        limits: LoadLimits,
        created: &mut Created,
    ) -> Result<LoadReport, ImageError> {
        let mut new_layers: HashMap<Digest, LayerRow> = HashMap::new();
        let mut staged = Vec::with_capacity(plans.len());
        for plan in plans {
            staged.push(self.stage_image(spool, plan, limits, &mut new_layers, created)?);
        }

        // Messages first (they need the tags' previous owners), then one transaction.
        let mut report = LoadReport::default();
        let mut ids_text = Vec::new();
        let mut last_tag_count = 0;
        for img in &staged {
            ids_text.push(format!("Loaded image ID: {}", img.id));
            for tag in &img.tags {
                if let Some(prev) = records::image_for_ref(&self.db, &tag.to_string())? {
                    if prev != img.id {
                        report.messages.push(format!(
                            "The image {} already exists, renaming the old one with ID {prev} to empty string",
                            tag.familiar()
                        ));
                    }
                }
                report
                    .messages
                    .push(format!("Loaded image: {}", tag.familiar()));
            }
            last_tag_count = img.tags.len();
            if !report.ids.contains(&img.id) {
                report.ids.push(img.id.clone());
            }
        }
        // dockerd lists the ids when the last image carried no tag.
        if last_tag_count == 0 {
            report.messages.extend(ids_text);
        }

        let now = config::now_rfc3339();
        self.db.transaction(|tx| -> Result<(), ImageError> {
            for row in new_layers.values() {
                records::insert_layer(tx, row)?;
            }
            for img in &staged {
                let chains: Vec<String> = img.chain_ids.iter().map(Digest::to_string).collect();
                let row = ImageRow {
                    id: img.id.clone(),
                    parent: None,
                    created: img.created.clone(),
                    size: img.size,
                    last_tag_time: None,
                };
                records::insert_image(tx, &row, &chains, &now)?;
                for tag in &img.tags {
                    records::set_ref(tx, &tag.to_string(), &img.id, false, &now)?;
                }
            }
            Ok(())
        })?;
        Ok(report)
    }

    /// Verifies and stores one image's config and layers (blobs and unpacked snapshots).
    fn stage_image(
        &self,
        spool: &mut Spool,
        plan: &ImagePlan,
        limits: LoadLimits,
        new_layers: &mut HashMap<Digest, LayerRow>,
        created: &mut Created,
    ) -> Result<StagedImage, ImageError> {
        // The id hashes the config bytes exactly as stored: never re-serialised.
        let config_bytes = spool.read_small(&plan.config, MAX_JSON)?;
        let id = Digest::of(&config_bytes);
        let config: ImageConfig =
            serde_json::from_slice(&config_bytes).map_err(|e| ArchiveError::BadJson {
                what: format!("image config {id}"),
                message: e.to_string(),
            })?;
        if !config.os.is_empty() && config.os != "linux" {
            return Err(ArchiveError::WrongOs(config.os.clone()).into());
        }
        let diff_ids = &config.rootfs.diff_ids;
        if plan.layers.len() != diff_ids.len() {
            return Err(ArchiveError::LayerCount {
                expected: plan.layers.len(),
                actual: diff_ids.len(),
            }
            .into());
        }
        let chain_ids = config::chain_ids(diff_ids);
        let mut size = 0;
        for (index, (diff_id, chain_id)) in diff_ids.iter().zip(&chain_ids).enumerate() {
            if let Some(row) = new_layers.get(chain_id) {
                size += row.size;
                continue;
            }
            if let Some(row) = self.existing_layer(chain_id)? {
                size += row.size;
                continue;
            }
            let t0 = std::time::Instant::now();
            if !self.content.exists(diff_id) {
                self.store_layer_blob(spool, &plan.layers[index], index, diff_id, limits)?;
                created.blobs.push(diff_id.clone());
            }
            let t1 = std::time::Instant::now();
            let blob = self.content.open_blob(diff_id)?;
            let unpacked = self.snapshots.unpack_layer(chain_id, blob)?;
            tracing::debug!(%diff_id, blob_ms = (t1 - t0).as_millis() as u64, unpack_ms = t1.elapsed().as_millis() as u64, "layer loaded");
            let layer_size = match unpacked {
                Some(stats) => {
                    created.layers.push(chain_id.clone());
                    stats.size as i64
                }
                None => berth_snapshot::dir_size(&self.snapshots.layer_diff(chain_id)).unwrap_or(0)
                    as i64,
            };
            size += layer_size;
            new_layers.insert(
                chain_id.clone(),
                LayerRow {
                    chain_id: chain_id.to_string(),
                    diff_id: diff_id.to_string(),
                    size: layer_size,
                    blob: Some(diff_id.to_string()),
                },
            );
        }
        if !self.content.exists(&id) {
            self.content.write_bytes(&config_bytes, Some(&id))?;
            created.blobs.push(id.clone());
        }
        Ok(StagedImage {
            id: id.to_string(),
            created: config.created.clone(),
            chain_ids,
            size,
            tags: plan.tags.clone(),
        })
    }

    /// A layer already stored whole (row, unpacked directory and tar): identical layers are
    /// kept once, so it is not read from the archive again.
    fn existing_layer(&self, chain_id: &Digest) -> Result<Option<LayerRow>, ImageError> {
        let Some(row) = records::layer(&self.db, &chain_id.to_string())? else {
            return Ok(None);
        };
        let blob_ok = row
            .blob
            .as_deref()
            .and_then(|b| b.parse::<Digest>().ok())
            .is_some_and(|d| self.content.exists(&d));
        Ok((blob_ok && self.snapshots.has_layer(chain_id)).then_some(row))
    }

    /// Publishes layer `index` (archive member `path`) as the blob `diff_id`: an uncompressed
    /// member that already hashes to it is moved; a compressed one is decompressed into a new
    /// blob, verified as it is written.
    fn store_layer_blob(
        &self,
        spool: &mut Spool,
        path: &str,
        index: usize,
        diff_id: &Digest,
        limits: LoadLimits,
    ) -> Result<(), ImageError> {
        let (resolved, member) = spool.resolve(path)?;
        let (member_digest, member_size) = (member.digest().clone(), member.size());
        let mismatch = |actual: &Digest| ArchiveError::DiffId {
            index,
            expected: diff_id.to_string(),
            actual: actual.to_string(),
        };
        if &member_digest == diff_id {
            if member_size > limits.max_layer_bytes {
                return Err(ArchiveError::LayerTooLarge {
                    index,
                    limit: limits.max_layer_bytes,
                }
                .into());
            }
            let parked = spool
                .take(&resolved)
                .ok_or_else(|| ArchiveError::MissingMember(path.to_string()))?;
            parked.publish()?;
            return Ok(());
        }
        let file = member
            .open()
            .map_err(|e| ArchiveError::Read(io::Error::other(e)))?;
        let (kind, reader) = decompress(file).map_err(ArchiveError::Read)?;
        if kind == Compression::None {
            return Err(mismatch(&member_digest).into());
        }
        let mut limited = LimitedReader::new(reader, limits.max_layer_bytes);
        let mut writer = self.content.writer()?;
        if let Err(e) = io::copy(&mut limited, &mut writer) {
            return Err(if is_limit_error(&e) {
                ArchiveError::LayerTooLarge {
                    index,
                    limit: limits.max_layer_bytes,
                }
            } else {
                ArchiveError::Read(io::Error::new(
                    e.kind(),
                    format!("layer {index} ({path}): {e}"),
                ))
            }
            .into());
        }
        match writer.commit(Some(diff_id)) {
            Ok(_) => Ok(()),
            Err(berth_store::ContentError::DigestMismatch { actual, .. }) => {
                Err(mismatch(&actual).into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

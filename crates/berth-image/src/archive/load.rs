//! `docker load`: spool the archive, verify and store every config and layer, then record the
//! images and tags in one transaction. Any failure removes what this load created.

use std::collections::HashMap;
use std::io::{self, Read};

use berth_snapshot::Snapshotter;
use berth_store::{ContentStore, ParkedBlob};
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
                if let Some(prev) = records::image_for_ref(&self.db, &self.ns, &tag.to_string())? {
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
                records::insert_image(tx, &self.ns, &row, &chains, &now)?;
                for tag in &img.tags {
                    records::set_ref(tx, &self.ns, &tag.to_string(), &img.id, false, &now)?;
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
        // Layers this image brings: blob sources are taken from the spool in order (that needs
        // the spool), then stored and unpacked in parallel: overlay layers are independent
        // directories, so no layer waits for its parent.
        let mut jobs = Vec::new();
        let mut later = Vec::new();
        let mut scheduled = std::collections::HashSet::new();
        for (index, (diff_id, chain_id)) in diff_ids.iter().zip(&chain_ids).enumerate() {
            if let Some(row) = new_layers.get(chain_id) {
                size += row.size;
                continue;
            }
            if let Some(row) = self.existing_layer(chain_id)? {
                size += row.size;
                continue;
            }
            let stored = self.content.exists(diff_id);
            let job = |source| LayerJob {
                index,
                diff_id: diff_id.clone(),
                chain_id: chain_id.clone(),
                source,
            };
            if stored {
                jobs.push(job(LayerSource::Stored));
            } else if !scheduled.insert(diff_id.clone()) {
                // The same content again under another parent: unpack once its blob exists.
                later.push(job(LayerSource::Stored));
            } else {
                jobs.push(job(self.layer_source(
                    spool,
                    &plan.layers[index],
                    index,
                    diff_id,
                    limits,
                )?));
            }
        }
        for batch in [jobs, later] {
            let expected = batch.len();
            let results = run_layer_jobs(&self.content, &self.snapshots, batch, limits);
            let mut failure = (results.len() != expected)
                .then(|| ImageError::Input(io::Error::other("a layer worker panicked")));
            for (job, outcome) in results {
                if outcome.blob_created {
                    created.blobs.push(job.diff_id.clone());
                }
                let unpacked = match outcome.unpacked {
                    Ok(unpacked) => unpacked,
                    Err(e) => {
                        failure.get_or_insert(e);
                        continue;
                    }
                };
                let layer_size = match unpacked {
                    Some(stats) => {
                        created.layers.push(job.chain_id.clone());
                        stats.size as i64
                    }
                    None => berth_snapshot::dir_size(&self.snapshots.layer_diff(&job.chain_id))
                        .unwrap_or(0) as i64,
                };
                size += layer_size;
                new_layers.insert(
                    job.chain_id.clone(),
                    LayerRow {
                        chain_id: job.chain_id.to_string(),
                        diff_id: job.diff_id.to_string(),
                        size: layer_size,
                        blob: Some(job.diff_id.to_string()),
                    },
                );
            }
            if let Some(e) = failure {
                return Err(e);
            }
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
    pub(crate) fn existing_layer(&self, chain_id: &Digest) -> Result<Option<LayerRow>, ImageError> {
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

    /// Where layer `index` (archive member `path`) comes from: the spooled member itself when
    /// it already hashes to `diff_id` (it is moved, not copied), else the compressed member.
    fn layer_source(
        &self,
        spool: &mut Spool,
        path: &str,
        index: usize,
        diff_id: &Digest,
        limits: LoadLimits,
    ) -> Result<LayerSource, ImageError> {
        let (resolved, member) = spool.resolve(path)?;
        let (member_digest, member_size) = (member.digest().clone(), member.size());
        if &member_digest != diff_id {
            let file = member
                .open()
                .map_err(|e| ArchiveError::Read(io::Error::other(e)))?;
            return Ok(LayerSource::Compressed {
                file,
                path: path.to_string(),
                member_digest,
            });
        }
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
        Ok(LayerSource::Parked(parked))
    }
}

/// Where a layer's uncompressed tar comes from.
enum LayerSource {
    /// Already a blob in the content store.
    Stored,
    /// A spooled member that hashes to the layer's DiffID: published as it is.
    Parked(ParkedBlob),
    /// A compressed member: decompressed into a new blob, verified against the DiffID.
    Compressed {
        file: std::fs::File,
        path: String,
        member_digest: Digest,
    },
}

struct LayerJob {
    index: usize,
    diff_id: Digest,
    chain_id: Digest,
    source: LayerSource,
}

struct LayerOutcome {
    blob_created: bool,
    unpacked: Result<Option<berth_snapshot::UnpackStats>, ImageError>,
}

/// Most layers stored and unpacked at once: unpacking is disk- and CPU-bound.
const MAX_PARALLEL_LAYERS: usize = 4;

/// Stores and unpacks `jobs` on up to [`MAX_PARALLEL_LAYERS`] threads; results in job order.
fn run_layer_jobs(
    content: &ContentStore,
    snapshots: &Snapshotter,
    jobs: Vec<LayerJob>,
    limits: LoadLimits,
) -> Vec<(LayerJob, LayerOutcome)> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_PARALLEL_LAYERS)
        .min(jobs.len());
    if workers <= 1 {
        return jobs
            .into_iter()
            .map(|mut job| {
                let outcome = run_layer_job(content, snapshots, &mut job, limits);
                (job, outcome)
            })
            .collect();
    }
    let queue = std::sync::Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>());
    let mut done: Vec<(usize, LayerJob, LayerOutcome)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let next = match queue.lock() {
                            Ok(mut q) => q.pop(),
                            Err(_) => None,
                        };
                        let Some((order, mut job)) = next else { break };
                        let outcome = run_layer_job(content, snapshots, &mut job, limits);
                        mine.push((order, job, outcome));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    done.sort_by_key(|(order, _, _)| *order);
    done.into_iter()
        .map(|(_, job, outcome)| (job, outcome))
        .collect()
}

/// Makes the job's blob exist, then unpacks the layer from it. A blob created is reported
/// even when the unpack then fails, so that the caller removes it.
fn run_layer_job(
    content: &ContentStore,
    snapshots: &Snapshotter,
    job: &mut LayerJob,
    limits: LoadLimits,
) -> LayerOutcome {
    let started = std::time::Instant::now();
    let unpack_blob = |chain_id: &Digest, diff_id: &Digest| -> Result<_, ImageError> {
        Ok(snapshots.unpack_layer(chain_id, content.open_blob(diff_id)?)?)
    };
    let source = std::mem::replace(&mut job.source, LayerSource::Stored);
    let (blob_created, unpacked) = match source {
        LayerSource::Stored => (false, unpack_blob(&job.chain_id, &job.diff_id)),
        LayerSource::Parked(parked) => match parked.open() {
            Err(e) => (false, Err(e.into())),
            // The unpack reads the spooled file while another thread makes it durable and
            // publishes it: the fsync no longer waits in line.
            Ok(data) => std::thread::scope(|scope| {
                let publish = scope.spawn(move || parked.publish());
                let unpacked = snapshots
                    .unpack_layer(&job.chain_id, data)
                    .map_err(Into::into);
                match publish.join() {
                    Ok(Ok(created)) => (created, unpacked),
                    Ok(Err(e)) => (false, unpacked.and(Err(e.into()))),
                    Err(_) => (
                        false,
                        Err(ImageError::Input(io::Error::other(
                            "blob publisher panicked",
                        ))),
                    ),
                }
            }),
        },
        LayerSource::Compressed {
            file,
            path,
            member_digest,
        } => match store_decompressed(
            content,
            file,
            &path,
            job.index,
            &job.diff_id,
            &member_digest,
            limits,
        ) {
            Err(e) => (false, Err(e)),
            Ok(()) => (true, unpack_blob(&job.chain_id, &job.diff_id)),
        },
    };
    tracing::debug!(
        diff_id = %job.diff_id,
        ms = started.elapsed().as_millis() as u64,
        "layer stored and unpacked"
    );
    LayerOutcome {
        blob_created,
        unpacked,
    }
}

/// Decompresses layer `index` (member `path`) into a new blob, verified against `diff_id`.
fn store_decompressed(
    content: &ContentStore,
    file: std::fs::File,
    path: &str,
    index: usize,
    diff_id: &Digest,
    member_digest: &Digest,
    limits: LoadLimits,
) -> Result<(), ImageError> {
    let mismatch = |actual: &Digest| ArchiveError::DiffId {
        index,
        expected: diff_id.to_string(),
        actual: actual.to_string(),
    };
    let (kind, reader) = decompress(file).map_err(ArchiveError::Read)?;
    if kind == Compression::None {
        return Err(mismatch(member_digest).into());
    }
    let mut limited = LimitedReader::new(reader, limits.max_layer_bytes);
    let mut writer = content.writer()?;
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

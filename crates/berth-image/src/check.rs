//! `berth system check`: verifies every blob against its digest and every database reference
//! (image -> config blob, image -> layers -> tar blobs and unpacked directories, container
//! snapshot -> layers), and that every blob and unpacked layer is referenced, reporting each
//! problem found.
//!
//! Check-on-use: an image's config is verified against its digest whenever it is read (so
//! `run`, `inspect` and `history` of an image with a damaged config fail with "image ... is
//! corrupt"). Layer tars are verified here only; containers run on the unpacked layer
//! directories, which are checked for presence.

use berth_api::{CheckProblem, SystemCheckReport};
use berth_store::ContentError;
use berth_types::Digest;

use crate::config::ImageConfig;
use crate::error::ImageError;
use crate::records;
use crate::service::ImageService;

fn problem(object: String, problem: String) -> CheckProblem {
    CheckProblem { object, problem }
}

impl ImageService {
    /// Runs every check; problems are in the report, errors only when the check itself fails.
    pub fn check(&self) -> Result<SystemCheckReport, ImageError> {
        let mut report = SystemCheckReport::default();
        // Hashing can take a while: no lock, and a blob deleted meanwhile is simply skipped.
        for digest in self.content.list()? {
            match self.content.verify(&digest) {
                Ok(None) => report.blobs_checked += 1,
                Ok(Some(actual)) => {
                    report.blobs_checked += 1;
                    report.problems.push(problem(
                        format!("blob {digest}"),
                        format!("content does not match its digest (it hashes to {actual})"),
                    ));
                }
                Err(ContentError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }

        // The references are read under the write lock, so they are consistent.
        let _guard = self.lock()?;
        for row in records::all_images(&self.db)? {
            report.images_checked += 1;
            let object = format!("image {}", row.id);
            let layers = records::layers_of(&self.db, &row.id)?;
            let Ok(config_digest) = row.id.parse::<Digest>() else {
                report
                    .problems
                    .push(problem(object, "its id is not a digest".into()));
                continue;
            };
            if !self.content.exists(&config_digest) {
                report.problems.push(problem(
                    object,
                    format!("config blob {config_digest} is missing"),
                ));
                continue;
            }
            let bytes = match std::fs::read(self.content.blob_path(&config_digest)) {
                Ok(b) => b,
                Err(e) => {
                    report
                        .problems
                        .push(problem(object, format!("reading config blob: {e}")));
                    continue;
                }
            };
            let config: ImageConfig = match serde_json::from_slice(&bytes) {
                Ok(c) => c,
                Err(e) => {
                    report
                        .problems
                        .push(problem(object, format!("config does not parse: {e}")));
                    continue;
                }
            };
            let listed: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
            let configured: Vec<String> = config
                .rootfs
                .diff_ids
                .iter()
                .map(|d| d.to_string())
                .collect();
            if listed != configured {
                report.problems.push(problem(
                    object,
                    format!(
                        "its layers ({}) differ from its config's rootfs ({})",
                        listed.len(),
                        configured.len()
                    ),
                ));
            }
        }
        for layer in records::all_layers(&self.db)? {
            report.layers_checked += 1;
            let object = format!("layer {}", layer.chain_id);
            if let Some(blob) = &layer.blob {
                match blob.parse::<Digest>() {
                    Ok(d) if self.content.exists(&d) => {}
                    Ok(d) => report
                        .problems
                        .push(problem(object.clone(), format!("tar blob {d} is missing"))),
                    Err(_) => report
                        .problems
                        .push(problem(object.clone(), format!("bad blob name {blob:?}"))),
                }
            }
            match layer.chain_id.parse::<Digest>() {
                Ok(chain) if self.snapshots.has_layer(&chain) => {}
                _ => report
                    .problems
                    .push(problem(object, "its unpacked directory is missing".into())),
            }
        }
        let (blobs, layers) = self.unreferenced()?;
        for blob in blobs {
            report.problems.push(problem(
                format!("blob {blob}"),
                "nothing references it (no image, layer or lease)".into(),
            ));
        }
        for chain in layers {
            report.problems.push(problem(
                format!("layer {chain}"),
                "its unpacked directory is referenced by no image, container or lease".into(),
            ));
        }
        for chain in self.snapshots.snapshot_lowers()? {
            if !self.snapshots.has_layer(&chain) {
                report.problems.push(problem(
                    format!("layer {chain}"),
                    "a container snapshot stacks on it, but it is not unpacked".into(),
                ));
            }
        }
        Ok(report)
    }
}

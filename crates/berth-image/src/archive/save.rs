//! `docker save`: the OCI layout plus docker's `manifest.json` and `repositories`, as docker
//! 25+ writes it. Names are resolved first ([`ImageService::save_plan`]) so a bad name fails
//! before any byte is streamed.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};

use berth_types::{Digest, Reference};

use super::error::ArchiveError;
use super::oci::{self, Descriptor, Index, Manifest, ManifestItem, Platform};
use super::verify::VerifyingReader;
use crate::config::{self, ImageConfig};
use crate::error::ImageError;
use crate::service::ImageService;

/// One image to save.
#[derive(Debug, Clone)]
struct SaveImage {
    id: Digest,
    /// The config blob exactly as stored.
    config: Vec<u8>,
    parsed: ImageConfig,
    chain_ids: Vec<Digest>,
    /// Tags to write, in the order they were asked for.
    tags: Vec<Reference>,
}

/// The images a save will write, resolved.
#[derive(Debug, Clone, Default)]
pub struct SavePlan {
    images: Vec<SaveImage>,
}

impl SavePlan {
    /// The ids of the images, in order.
    pub fn ids(&self) -> Vec<String> {
        self.images.iter().map(|i| i.id.to_string()).collect()
    }
}

fn write_err(e: std::io::Error) -> ImageError {
    ArchiveError::Write(e).into()
}

impl ImageService {
    /// Resolves the names as dockerd's `docker save` does: `repo:tag` saves that tag, a bare
    /// `repo` every tag of the repository, an id (or prefix) or `repo@digest` the image without
    /// tags.
    pub fn save_plan(&self, names: &[String]) -> Result<SavePlan, ImageError> {
        let mut plan = SavePlan::default();
        for name in names {
            let parsed = if name.starts_with("sha256:") {
                None
            } else {
                Reference::parse_name_only(name).ok()
            };
            match parsed {
                Some(r) if r.tag.is_none() && r.digest.is_none() => {
                    let tagged = self.tags_of_repository(&r.name())?;
                    if tagged.is_empty() {
                        let id = self.resolve_id(name)?;
                        self.add_to_plan(&mut plan, &id, None)?;
                    }
                    for (reference, id) in tagged {
                        self.add_to_plan(&mut plan, &id, Some(reference))?;
                    }
                }
                Some(r) if r.digest.is_none() => {
                    let id = self.resolve_id(name)?;
                    self.add_to_plan(&mut plan, &id, Some(r))?;
                }
                _ => {
                    let id = self.resolve_id(name)?;
                    self.add_to_plan(&mut plan, &id, None)?;
                }
            }
        }
        Ok(plan)
    }

    /// `(tag reference, image id)` of every tag of the repository `name` (normalised).
    fn tags_of_repository(&self, name: &str) -> Result<Vec<(Reference, String)>, ImageError> {
        let prefix = format!("{name}:");
        let rows: Vec<(String, String)> = self.db.with(|c| {
            let mut st = c.prepare(
                "SELECT name, image_id FROM image_refs
                 WHERE namespace = ?2 AND is_digest = 0 AND substr(name, 1, length(?1)) = ?1
                 ORDER BY name",
            )?;
            let rows = st.query_map([&prefix, &*self.ns], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(berth_store::DbError::from)
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(n, id)| Reference::parse(&n).ok().map(|r| (r, id)))
            .collect())
    }

    fn add_to_plan(
        &self,
        plan: &mut SavePlan,
        id: &str,
        tag: Option<Reference>,
    ) -> Result<(), ImageError> {
        let at = match plan.images.iter().position(|i| i.id.to_string() == id) {
            Some(at) => at,
            None => {
                let digest: Digest =
                    id.parse()
                        .map_err(|e: berth_types::Error| ImageError::BadConfig {
                            digest: id.to_string(),
                            message: e.message,
                        })?;
                let bytes = self.content.read_bytes(&digest)?;
                let parsed: ImageConfig =
                    serde_json::from_slice(&bytes).map_err(|e| ImageError::BadConfig {
                        digest: id.to_string(),
                        message: e.to_string(),
                    })?;
                if parsed.rootfs.diff_ids.is_empty() {
                    return Err(ArchiveError::EmptyImage.into());
                }
                plan.images.push(SaveImage {
                    id: digest,
                    chain_ids: config::chain_ids(&parsed.rootfs.diff_ids),
                    config: bytes,
                    parsed,
                    tags: Vec::new(),
                });
                plan.images.len() - 1
            }
        };
        if let Some(t) = tag {
            if !plan.images[at].tags.contains(&t) {
                plan.images[at].tags.push(t);
            }
        }
        Ok(())
    }

    /// Streams the archive of `plan` into `out`. Every layer is checked against its diff id
    /// as it is written; a corrupted layer aborts the stream.
    pub fn save(&self, plan: &SavePlan, out: impl Write) -> Result<(), ImageError> {
        let mut tar = tar::Builder::new(out);
        append_dir(&mut tar, "blobs/")?;
        append_dir(&mut tar, "blobs/sha256/")?;
        let mut written: HashSet<Digest> = HashSet::new();
        let mut index = Vec::new();
        let mut items = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();

        for img in &plan.images {
            let mtime = config::unix_seconds(img.parsed.created.as_deref()).max(0) as u64;
            let mut layers = Vec::new();
            for (diff_id, chain_id) in img.parsed.rootfs.diff_ids.iter().zip(&img.chain_ids) {
                let file = self.layer_tar(chain_id)?;
                let size = file.metadata().map_err(write_err)?.len();
                if written.insert(diff_id.clone()) {
                    let reader = VerifyingReader::new(file, diff_id.clone());
                    append_file(&mut tar, &oci::blob_path(diff_id), size, mtime, reader)?;
                }
                layers.push(Descriptor {
                    media_type: oci::MEDIA_OCI_LAYER.into(),
                    digest: diff_id.clone(),
                    size: size as i64,
                    annotations: None,
                    platform: None,
                });
            }
            if written.insert(img.id.clone()) {
                append_bytes(&mut tar, &oci::blob_path(&img.id), mtime, &img.config)?;
            }
            let platform = Platform {
                architecture: img.parsed.architecture.clone(),
                os: img.parsed.os.clone(),
                variant: img.parsed.variant.clone(),
            };
            let manifest = Manifest {
                schema_version: 2,
                media_type: oci::MEDIA_OCI_MANIFEST.into(),
                config: Descriptor {
                    media_type: oci::MEDIA_OCI_CONFIG.into(),
                    digest: img.id.clone(),
                    size: img.config.len() as i64,
                    annotations: None,
                    platform: Some(platform.clone()),
                },
                layers,
            };
            let manifest_bytes = to_json(&manifest)?;
            let manifest_digest = Digest::of(&manifest_bytes);
            if written.insert(manifest_digest.clone()) {
                append_bytes(
                    &mut tar,
                    &oci::blob_path(&manifest_digest),
                    0,
                    &manifest_bytes,
                )?;
            }
            let descriptor = |annotations| Descriptor {
                media_type: oci::MEDIA_OCI_MANIFEST.into(),
                digest: manifest_digest.clone(),
                size: manifest_bytes.len() as i64,
                annotations,
                platform: Some(platform.clone()),
            };
            if img.tags.is_empty() {
                index.push(descriptor(None));
            }
            let top_diff = img
                .parsed
                .rootfs
                .diff_ids
                .last()
                .map(|d| d.hex().to_string())
                .unwrap_or_default();
            for tag in &img.tags {
                let tag_name = tag.tag.clone().unwrap_or_default();
                index.push(descriptor(Some(BTreeMap::from([
                    (oci::ANNOTATION_IMAGE_NAME.to_string(), tag.to_string()),
                    (oci::ANNOTATION_REF_NAME.to_string(), tag_name.clone()),
                ]))));
                repositories
                    .entry(tag.familiar_name())
                    .or_default()
                    .insert(tag_name, top_diff.clone());
            }
            items.push(ManifestItem {
                config: oci::blob_path(&img.id),
                repo_tags: (!img.tags.is_empty())
                    .then(|| img.tags.iter().map(Reference::familiar).collect()),
                layers: img
                    .parsed
                    .rootfs
                    .diff_ids
                    .iter()
                    .map(oci::blob_path)
                    .collect(),
                parent: None,
            });
        }

        let index = Index {
            schema_version: 2,
            media_type: oci::MEDIA_OCI_INDEX.into(),
            manifests: index,
        };
        append_bytes(&mut tar, oci::INDEX_FILE, 0, &to_json(&index)?)?;
        // Go's json.Encoder ends documents with a newline; dockerd's files have it.
        let mut manifest_json = to_json(&items)?;
        manifest_json.push(b'\n');
        append_bytes(&mut tar, oci::MANIFEST_FILE, 0, &manifest_json)?;
        append_bytes(
            &mut tar,
            oci::OCI_LAYOUT_FILE,
            0,
            oci::OCI_LAYOUT_CONTENT.as_bytes(),
        )?;
        if !repositories.is_empty() {
            let mut repos = to_json(&repositories)?;
            repos.push(b'\n');
            append_bytes(&mut tar, oci::REPOSITORIES_FILE, 0, &repos)?;
        }
        tar.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(write_err)
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(value).map_err(|e| write_err(std::io::Error::other(e)))
}

fn header(path: &str, size: u64, mtime: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    // Our paths are short ASCII (`blobs/sha256/<hex>` is 77 bytes): set_path cannot fail.
    let _ = h.set_path(path);
    h.set_cksum();
    h
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<(), ImageError> {
    let h = header(path, 0, 0, 0o755, tar::EntryType::Directory);
    tar.append(&h, std::io::empty()).map_err(write_err)
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    mtime: u64,
    data: &[u8],
) -> Result<(), ImageError> {
    append_file(tar, path, data.len() as u64, mtime, data)
}

fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    mtime: u64,
    data: impl Read,
) -> Result<(), ImageError> {
    let h = header(path, size, mtime, 0o644, tar::EntryType::Regular);
    tar.append(&h, data).map_err(write_err)
}

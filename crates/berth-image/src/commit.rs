//! `docker commit`: a new image from a parent image plus one layer (a container's changes).
//!
//! As dockerd's `NewChildImage`: the parent's rootfs and history are kept, the layer's diff id
//! (sha256 of the uncompressed tar) is appended unless the layer is empty (an empty tar, whose
//! history entry is then marked `empty_layer`), and the image's `parent` is recorded. The layer
//! tar is written once into the content store, then unpacked as a snapshot layer. A failure
//! at any step removes the blobs, rows and layer directories this commit created.

use std::io::{self, Write};

use berth_types::{Digest, Reference};

use crate::config::{self, History, ImageConfig, RootFs, RunConfig};
use crate::error::ImageError;
use crate::records::{self, ImageRow, LayerRow};
use crate::service::ImageService;

/// The diff id of an empty layer: an archive of nothing but the two end-of-archive blocks.
pub const EMPTY_LAYER_DIFF_ID: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// What a commit records besides the layer.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The image the container was created from (`sha256:` id).
    pub parent_id: String,
    /// The new image's runtime config (changes applied, merged with the container's).
    pub config: RunConfig,
    /// The container the image is made from, recorded as the config's `container` (dockerd:
    /// the committed container, a classic build's RUN container); empty: none.
    pub container: String,
    /// That container's config, recorded as `container_config` (dockerd's commit: the
    /// container's own config; its classic builder: the step's config, whose `Cmd` is the
    /// command or the `#(nop)` line the history shows).
    pub container_config: Option<RunConfig>,
    pub author: String,
    pub comment: String,
    /// The history entry's `created_by` (the container's command).
    pub created_by: String,
    pub repo_tag: Option<Reference>,
    /// The config's and history entry's `created` (RFC 3339); now when unset. Builds set it
    /// from `SOURCE_DATE_EPOCH` so that the same inputs give the same image id.
    pub created: Option<String>,
}

/// The parent of an image built `FROM scratch`: no layers, no history.
pub fn scratch() -> crate::Image {
    crate::Image {
        id: String::new(),
        config: RunConfig::default(),
        raw: ImageConfig {
            architecture: crate::service::go_arch().to_string(),
            os: "linux".to_string(),
            ..ImageConfig::default()
        },
        created: None,
        repo_tags: Vec::new(),
        repo_digests: Vec::new(),
        chain_ids: Vec::new(),
        layer_dirs: Vec::new(),
        size: 0,
    }
}

impl ImageService {
    /// Creates the image. `write_layer` writes the layer's uncompressed tar into the writer it
    /// is given. Returns the new image id.
    pub fn commit(
        &self,
        write_layer: impl FnOnce(&mut dyn Write) -> io::Result<()>,
        opts: CommitOptions,
    ) -> Result<String, ImageError> {
        let _guard = self.lock()?;
        let parent = if opts.parent_id.is_empty() {
            scratch()
        } else {
            self.load(&opts.parent_id)?
        };

        let mut writer = self.content.writer()?;
        write_layer(&mut writer).map_err(ImageError::Input)?;
        let layer_existed_before = |d: &Digest| records::blob_referenced(&self.db, &d.to_string());
        let (diff_id, _) = writer.commit(None)?;
        let mut created_blobs = Vec::new();
        if !layer_existed_before(&diff_id)? {
            created_blobs.push(diff_id.clone());
        }
        let empty = diff_id.to_string() == EMPTY_LAYER_DIFF_ID;
        let mut diff_ids = parent.raw.rootfs.diff_ids.clone();
        if !empty {
            diff_ids.push(diff_id.clone());
        }
        let chain = config::chain_ids(&diff_ids);
        let new_chain = chain.last().cloned().filter(|_| !empty);
        let layer_was_there = new_chain
            .as_ref()
            .is_some_and(|c| self.snapshots.has_layer(c));
        let result = self.commit_layer_and_config(
            &parent,
            &opts,
            &diff_id,
            diff_ids,
            &chain,
            new_chain.as_ref(),
            &mut created_blobs,
        );
        if result.is_err() {
            let new_layers: Vec<Digest> =
                new_chain.into_iter().filter(|_| !layer_was_there).collect();
            self.discard_unreferenced(&created_blobs, &new_layers);
        } else if empty {
            // An empty layer is recorded only as an `empty_layer` history entry; its tar blob
            // (two zero blocks) is referenced by nothing unless some pulled image lists it.
            self.discard_unreferenced(std::slice::from_ref(&diff_id), &[]);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn commit_layer_and_config(
        &self,
        parent: &crate::Image,
        opts: &CommitOptions,
        diff_id: &Digest,
        diff_ids: Vec<Digest>,
        chain: &[Digest],
        new_chain: Option<&Digest>,
        created_blobs: &mut Vec<Digest>,
    ) -> Result<String, ImageError> {
        let mut layer_size = 0i64;
        if let Some(chain_id) = new_chain {
            let blob = self.content.open_blob(diff_id)?;
            layer_size = match self.snapshots.unpack_layer(chain_id, blob)? {
                Some(stats) => stats.size as i64,
                None => match records::layer(&self.db, &chain_id.to_string())? {
                    Some(row) => row.size,
                    None => berth_snapshot::dir_size(&self.snapshots.layer_diff(chain_id))
                        .unwrap_or(0) as i64,
                },
            };
        }
        let created = opts.created.clone().unwrap_or_else(config::now_rfc3339);
        let non_empty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        let mut history = parent.raw.history.clone();
        history.push(History {
            created: Some(created.clone()),
            author: non_empty(&opts.author),
            created_by: Some(opts.created_by.clone()),
            comment: non_empty(&opts.comment),
            empty_layer: new_chain.is_none(),
        });
        let image_config = ImageConfig {
            architecture: parent.raw.architecture.clone(),
            author: non_empty(&opts.author),
            comment: non_empty(&opts.comment),
            config: Some(opts.config.clone()),
            container: non_empty(&opts.container),
            container_config: opts.container_config.clone(),
            created: Some(created.clone()),
            docker_version: None,
            history,
            os: parent.raw.os.clone(),
            variant: parent.raw.variant.clone(),
            rootfs: RootFs {
                typ: "layers".to_string(),
                diff_ids,
            },
        };
        let bytes = serde_json::to_vec(&image_config)
            .map_err(|e| ImageError::Invalid(format!("encoding image config: {e}")))?;
        let config_digest = Digest::of(&bytes);
        if !self.content.exists(&config_digest) {
            self.content.write_bytes(&bytes, Some(&config_digest))?;
            created_blobs.push(config_digest.clone());
        }
        let id = config_digest.to_string();
        let now = config::now_rfc3339();
        self.db.transaction(|tx| -> Result<(), ImageError> {
            if let Some(chain_id) = new_chain {
                records::insert_layer(
                    tx,
                    &LayerRow {
                        chain_id: chain_id.to_string(),
                        diff_id: diff_id.to_string(),
                        size: layer_size,
                        blob: Some(diff_id.to_string()),
                    },
                )?;
            }
            let row = ImageRow {
                id: id.clone(),
                parent: Some(parent.id.clone()).filter(|p| !p.is_empty()),
                created: Some(created.clone()),
                size: parent.size + layer_size,
                last_tag_time: None,
            };
            let chain_strings: Vec<String> = chain.iter().map(|c| c.to_string()).collect();
            records::insert_image(tx, &self.ns, &row, &chain_strings, &now)?;
            if let Some(r) = &opts.repo_tag {
                records::set_ref(tx, &self.ns, &r.to_string(), &id, r.digest.is_some(), &now)?;
            }
            Ok(())
        })?;
        Ok(id)
    }
}

/// dockerd's `merge`: fills the fields a commit's config (built from `--change` lines) left
/// unset from the container's config.
pub fn merge_container_config(user: &mut RunConfig, container: &RunConfig) {
    if user.user.is_empty() {
        user.user = container.user.clone();
    }
    match (&mut user.exposed_ports, &container.exposed_ports) {
        (Some(mine), Some(theirs)) if !mine.is_empty() => {
            for (k, v) in theirs {
                mine.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        (Some(mine), _) if !mine.is_empty() => {}
        (mine, theirs) => *mine = theirs.clone(),
    }
    let user_env = user.env.clone().unwrap_or_default();
    if user_env.is_empty() {
        user.env = container.env.clone();
    } else {
        let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
        let mut env = user_env;
        for e in container.env.iter().flatten() {
            if !env.iter().any(|u| key(u) == key(e)) {
                env.push(e.clone());
            }
        }
        user.env = Some(env);
    }
    let mut labels = user.labels.clone().unwrap_or_default();
    for (k, v) in container.labels.iter().flatten() {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    user.labels = Some(labels);
    if user.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if user.cmd.as_ref().is_none_or(Vec::is_empty) {
            user.cmd = container.cmd.clone();
            user.args_escaped = container.args_escaped;
        }
        if user.entrypoint.is_none() {
            user.entrypoint = container.entrypoint.clone();
        }
    }
    if let Some(theirs) = &container.healthcheck {
        match &mut user.healthcheck {
            None => user.healthcheck = Some(theirs.clone()),
            Some(mine) => {
                if mine.test.as_ref().is_none_or(Vec::is_empty) {
                    mine.test = theirs.test.clone();
                }
                for (m, t) in [
                    (&mut mine.interval, theirs.interval),
                    (&mut mine.timeout, theirs.timeout),
                    (&mut mine.start_period, theirs.start_period),
                    (&mut mine.retries, theirs.retries),
                ] {
                    if *m == 0 {
                        *m = t;
                    }
                }
            }
        }
    }
    if user.working_dir.is_empty() {
        user.working_dir = container.working_dir.clone();
    }
    match (&mut user.volumes, &container.volumes) {
        (Some(mine), Some(theirs)) if !mine.is_empty() => {
            for (k, v) in theirs {
                mine.insert(k.clone(), v.clone());
            }
        }
        (Some(mine), _) if !mine.is_empty() => {}
        (mine, theirs) => *mine = theirs.clone(),
    }
    if user.stop_signal.as_deref().is_none_or(str::is_empty) {
        user.stop_signal = container.stop_signal.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_changes_and_fills_the_rest_from_the_container() {
        let mut user = RunConfig {
            env: Some(vec!["A=1".into()]),
            ..RunConfig::default()
        };
        let container = RunConfig {
            env: Some(vec!["PATH=/bin".into(), "A=0".into()]),
            cmd: Some(vec!["sh".into()]),
            working_dir: "/w".into(),
            user: "nobody".into(),
            ..RunConfig::default()
        };
        merge_container_config(&mut user, &container);
        assert_eq!(user.env, Some(vec!["A=1".into(), "PATH=/bin".into()]));
        assert_eq!(user.cmd, Some(vec!["sh".into()]));
        assert_eq!(user.working_dir, "/w");
        assert_eq!(user.user, "nobody");

        // Ports and volumes from --change survive a container that has none.
        let mut ports = RunConfig {
            exposed_ports: Some([("80/tcp".to_string(), Default::default())].into()),
            volumes: Some([("/v".to_string(), Default::default())].into()),
            ..RunConfig::default()
        };
        merge_container_config(&mut ports, &container);
        assert_eq!(ports.exposed_ports.map(|p| p.len()), Some(1));
        assert_eq!(ports.volumes.map(|v| v.len()), Some(1));

        // An entrypoint from --change drops the container's command.
        let mut with_ep = RunConfig {
            entrypoint: Some(vec!["/bin/top".into()]),
            ..RunConfig::default()
        };
        merge_container_config(&mut with_ep, &container);
        assert_eq!(with_ep.cmd, None);
    }

    #[test]
    fn the_empty_layer_digest_is_two_zero_blocks() {
        assert_eq!(Digest::of(&[0u8; 1024]).to_string(), EMPTY_LAYER_DIFF_ID);
    }
}

//! `POST /commit`: a container's changes as a new image layer over its image.
//!
//! The layer is the container's upper dir archived by descriptors, overlay whiteouts written as
//! `.wh.` files and opaque dirs as `.wh..wh..opq` (what dockerd's overlay2 driver produces), the
//! runtime's mount-point files left out (dockerd keeps them in its init layer). With `pause`
//! (the default) a running container is frozen while its upper dir is read, as dockerd does.

use std::collections::HashMap;

use berth_image::{merge_container_config, CommitOptions, RunConfig};
use berth_snapshot::tree_tar::{TreeTar, TreeTarOptions};
use berth_types::{Error, Reference, Result};

use crate::container::record::Status;
use crate::daemon::Daemon;
use crate::system::events::Kind;

/// What `POST /commit` asks for.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    pub container: String,
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: String,
    pub author: String,
    /// Freeze a running container while its changes are read.
    pub pause: bool,
    /// Dockerfile instructions applied to the new image's config (`--change`).
    pub changes: Vec<String>,
    /// The request body: a container config that is the new image's config, before the
    /// changes and the container's own config fill it in (dockerd's `CreateImageFromContainer`).
    pub config: Option<serde_json::Value>,
}

fn skip_init_files(rel: &[u8], st: &libc::stat) -> bool {
    berth_snapshot::changes::is_init_mountpoint(rel, st)
}

impl Daemon {
    /// Creates the image; returns its id.
    pub async fn container_commit(&self, req: CommitRequest) -> Result<String> {
        let ctr = self.lookup(&req.container)?;
        let c = ctr.snapshot();
        match c.state.status {
            Status::Dead => {
                return Err(Error::conflict(format!(
                    "You cannot commit container {} which is Dead",
                    c.id
                )))
            }
            Status::Removing => {
                return Err(Error::conflict(format!(
                    "You cannot commit container {} which is being removed",
                    c.id
                )))
            }
            _ => {}
        }
        // dockerd's `RepoTagReference`: `repo`, no digest, then `tag` (default `latest`).
        let repo_tag = match req.repo.as_deref().filter(|r| !r.is_empty()) {
            None => None,
            Some(repo) => {
                if Reference::parse_name_only(repo)?.digest.is_some() {
                    return Err(Error::invalid("cannot commit to digest reference"));
                }
                Some(Reference::parse_repo_tag(
                    repo,
                    req.tag.as_deref().unwrap_or(""),
                )?)
            }
        };
        let mut config: RunConfig = match req.config.as_ref().filter(|v| !v.is_null()) {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| Error::invalid(format!("invalid JSON: {e}")))?,
            None => RunConfig::default(),
        };
        berth_image::changes::apply_changes(&mut config, &req.changes)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let container_config: RunConfig = serde_json::to_value(&c.config)
            .and_then(serde_json::from_value)
            .map_err(|e| Error::internal(format!("container config: {e}")))?;
        merge_container_config(&mut config, &container_config);
        let opts = CommitOptions {
            parent_id: c.image_id.clone(),
            config,
            author: req.author.clone(),
            comment: req.comment.clone(),
            created_by: c.config.cmd.clone().unwrap_or_default().join(" "),
            repo_tag: repo_tag.clone(),
            created: None,
        };

        // dockerd pauses a running, unpaused container for the commit and unpauses it after.
        // Like dockerd, a pause that fails (the container exited between the check and the
        // freeze, so its cgroup is gone or it is no longer running) does not fail the commit:
        // a stopped container's changes are committed as they are.
        let mut paused_here = false;
        if req.pause && c.state.status == Status::Running {
            match self.container_pause(&c.id).await {
                Ok(()) => paused_here = true,
                Err(e) => {
                    tracing::debug!(container = %c.id, error = %e.message, "commit without pause")
                }
            }
        }
        let result = self.commit_paused(&ctr, opts).await;
        if let Ok(image_id) = &result {
            // Before the unpause, as dockerd logs it.
            let image_ref = repo_tag
                .as_ref()
                .map(Reference::familiar)
                .unwrap_or_default();
            self.container_event(
                &c,
                "commit",
                &[
                    ("comment", req.comment.clone()),
                    ("imageID", image_id.clone()),
                    ("imageRef", image_ref.clone()),
                ],
            );
            if !image_ref.is_empty() {
                let mut attrs = HashMap::new();
                attrs.insert("name".to_string(), image_ref);
                self.events.emit(Kind::Image, "tag", image_id, attrs);
            }
        }
        if paused_here {
            if let Err(e) = self.container_unpause(&c.id).await {
                tracing::warn!(container = %c.id, error = %e.message, "unpause after commit");
            }
        }
        let image_id = result?;
        Ok(image_id)
    }

    /// Archives the container's upper dir into the new image.
    async fn commit_paused(
        &self,
        ctr: &std::sync::Arc<crate::daemon::Ctr>,
        opts: CommitOptions,
    ) -> Result<String> {
        let svc = self.images.service();
        let id = ctr.id.clone();
        let ctr_for_lock = ctr.clone();
        let image_id = tokio::task::spawn_blocking(move || -> Result<String> {
            // The op lock keeps the container from being removed while its upper dir is read.
            let _op = ctr_for_lock.op.blocking_lock();
            let paths = svc.snapshot_paths(&id)?;
            let upper = std::fs::File::open(&paths.upper)
                .map_err(|e| Error::internal(format!("opening {}: {e}", paths.upper.display())))?;
            let write_layer = |w: &mut dyn std::io::Write| {
                let mut t = TreeTar::new(
                    w,
                    TreeTarOptions {
                        overlay_whiteouts: true,
                        skip: Some(skip_init_files),
                        mtime_clamp: None,
                    },
                );
                use std::os::fd::AsFd;
                t.append_contents(upper.as_fd())
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                t.finish()
                    .map_err(|e| std::io::Error::other(e.to_string()))
                    .map(drop)
            };
            Ok(svc.commit(write_layer, opts)?)
        })
        .await
        .map_err(|e| Error::internal(format!("commit task: {e}")))??;
        Ok(image_id)
    }
}

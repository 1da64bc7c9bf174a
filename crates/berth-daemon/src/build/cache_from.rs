//! `--cache-from`: images (built elsewhere, pulled here) whose history stands in for steps,
//! as dockerd's classic `ImageCache`: a source matches a step when the parent's history and
//! layers are a prefix of the source's and the source's next history entry was created by
//! the same command. The step's image is then the parent plus the source's layer at that
//! point (or the source itself when that entry is its last and the config agrees).

use berth_image::{CommitOptions, Image, ImageService};
use berth_types::Result;

use super::snapshot::{commit_config, load_image};

/// Whether `parent`'s history and layers are where `source` starts.
fn is_valid_parent(source: &Image, parent: &Image) -> bool {
    let (sh, ph) = (&source.raw.history, &parent.raw.history);
    let (sd, pd) = (&source.raw.rootfs.diff_ids, &parent.raw.rootfs.diff_ids);
    !sh.is_empty()
        && ph.len() < sh.len()
        && pd.len() <= sd.len()
        && sh[..ph.len()] == ph[..]
        && sd[..pd.len()] == pd[..]
}

/// The image standing in for the step that would commit `opts`, if a source has one.
pub fn probe(
    svc: &ImageService,
    sources: &[String],
    opts: &CommitOptions,
) -> Result<Option<String>> {
    if sources.is_empty() {
        return Ok(None);
    }
    let parent = load_image(svc, &opts.parent_id)?;
    let at = parent.raw.history.len();
    for name in sources {
        let Ok(source) = svc.resolve(name) else {
            continue;
        };
        if !is_valid_parent(&source, &parent) {
            continue;
        }
        let entry = &source.raw.history[at];
        if entry.created_by.as_deref() != Some(opts.created_by.as_str()) {
            continue;
        }
        if at + 1 == source.raw.history.len() && source.config == opts.config {
            return Ok(Some(source.id.clone()));
        }
        let restored = CommitOptions {
            parent_id: opts.parent_id.clone(),
            config: opts.config.clone(),
            // As dockerd's `restoreCachedImage`: no container, a zero container config.
            container: String::new(),
            container_config: None,
            author: entry.author.clone().unwrap_or_default(),
            comment: entry.comment.clone().unwrap_or_default(),
            created_by: opts.created_by.clone(),
            repo_tag: None,
            created: entry.created.clone(),
        };
        if entry.empty_layer {
            return Ok(Some(commit_config(svc, restored)?));
        }
        let layer = parent.raw.rootfs.diff_ids.len();
        let Some(chain) = source.chain_ids.get(layer) else {
            continue;
        };
        let mut tar = svc.layer_tar(chain)?;
        let id = svc.commit(|w| std::io::copy(&mut tar, w).map(drop), restored)?;
        return Ok(Some(id));
    }
    Ok(None)
}

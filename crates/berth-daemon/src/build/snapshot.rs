//! Scratch snapshots for COPY, ADD and WORKDIR steps: a writable layer over the parent image,
//! mounted, changed through descriptors opened inside it, archived and removed again.

use std::path::Path;

use berth_image::{CommitOptions, Image, ImageService};
use berth_snapshot::tree_tar::{TreeTar, TreeTarOptions};
use berth_types::{Error, Result};

/// Runs `f` on a mounted writable layer over `image`; with `commit`, the layer's changes
/// become a new image. The snapshot is always removed. Returns `f`'s value and the image id.
pub fn with_snapshot<T>(
    svc: &ImageService,
    image: &Image,
    commit: Option<(CommitOptions, Option<u64>)>,
    f: impl FnOnce(&Path) -> Result<T>,
) -> Result<(T, Option<String>)> {
    let id = berth_types::id::generate();
    let result = run(svc, &id, image, commit, f);
    if let Err(e) = svc.snapshot_remove(&id) {
        tracing::warn!(snapshot = %id, error = %e, "removing a build snapshot");
    }
    result
}

fn run<T>(
    svc: &ImageService,
    id: &str,
    image: &Image,
    commit: Option<(CommitOptions, Option<u64>)>,
    f: impl FnOnce(&Path) -> Result<T>,
) -> Result<(T, Option<String>)> {
    let paths = svc.snapshot_prepare(id, image)?;
    std::fs::create_dir_all(&paths.merged)
        .map_err(|e| Error::internal(format!("creating {}: {e}", paths.merged.display())))?;
    svc.snapshot_mount(id, &paths.merged)?;
    let value = f(&paths.merged);
    if let Err(e) = svc.snapshot_unmount(&paths.merged) {
        tracing::warn!(snapshot = %id, error = %e, "unmounting a build snapshot");
    }
    let value = value?;
    let Some((opts, clamp)) = commit else {
        return Ok((value, None));
    };
    let image_id = commit_upper(svc, &paths.upper, opts, clamp)?;
    Ok((value, Some(image_id)))
}

/// Archives an upper directory as a layer over `opts.parent_id` (overlay whiteouts become
/// `.wh.` files, the runtime's mount-point files are left out).
pub fn commit_upper(
    svc: &ImageService,
    upper: &Path,
    opts: CommitOptions,
    clamp: Option<u64>,
) -> Result<String> {
    let upper = std::fs::File::open(upper)
        .map_err(|e| Error::internal(format!("opening {}: {e}", upper.display())))?;
    let write_layer = |w: &mut dyn std::io::Write| {
        let mut t = TreeTar::new(
            w,
            TreeTarOptions {
                overlay_whiteouts: true,
                skip: Some(berth_snapshot::changes::is_init_mountpoint),
                mtime_clamp: clamp,
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
}

/// An image with only a config change: an empty layer, marked `empty_layer` in its history.
pub fn commit_config(svc: &ImageService, opts: CommitOptions) -> Result<String> {
    let write_layer = |w: &mut dyn std::io::Write| w.write_all(&[0u8; 1024]);
    Ok(svc.commit(write_layer, opts)?)
}

/// The image `id` (`""`: scratch).
pub fn load_image(svc: &ImageService, id: &str) -> Result<Image> {
    if id.is_empty() {
        return Ok(berth_image::scratch());
    }
    Ok(svc.resolve(id)?)
}

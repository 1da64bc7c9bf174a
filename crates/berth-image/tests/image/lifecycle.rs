//! The image lifecycle on a temp data root: garbage collection and leases, prune, disk usage,
//! the integrity check and check-on-use.

use std::fs;
use std::path::Path;

use berth_api::Filters;
use berth_image::{ImageError, ImageService, ImageUser, ImportOptions};
use berth_store::Db;
use berth_types::{Digest, Reference};

/// A small root filesystem tar whose content (and so whose layer) depends on `marker`.
fn rootfs_tar(marker: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in [
        ("etc/marker", marker.as_bytes()),
        ("etc/passwd", &b"root:x:0:0:root:/root:/bin/sh\n"[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).expect("path");
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("append");
    }
    b.into_inner().expect("tar")
}

fn open(root: &Path) -> ImageService {
    let db = Db::open(root.join("berth.db")).expect("db");
    ImageService::open(root, db).expect("open")
}

fn import(svc: &ImageService, marker: &str, tag: Option<&str>, changes: &[&str]) -> String {
    svc.import(
        &rootfs_tar(marker)[..],
        ImportOptions {
            repo_tag: tag.map(|t| Reference::parse(t).expect("reference")),
            changes: changes.iter().map(|c| c.to_string()).collect(),
            message: None,
        },
    )
    .expect("import")
    .id
}

fn no_users(_: &str) -> Vec<ImageUser> {
    Vec::new()
}

fn blobs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root.join("content/blobs/sha256"))
        .expect("blobs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn layer_dirs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root.join("overlay"))
        .expect("overlay")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 64)
        .collect();
    v.sort();
    v
}

/// The deterministic interleaving: a writer holds a lease while it has published content but
/// not recorded it; a collection in that window keeps the content, one after the release
/// removes it.
#[test]
fn a_lease_keeps_what_it_protects_from_gc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = open(dir.path());
    let lease = svc.leases().acquire("test writer").expect("lease");
    let (blob, _) = svc
        .content()
        .write_from_leased(&mut &rootfs_tar("leased")[..], None, &lease)
        .expect("write");
    lease.protect_layer(&blob).expect("protect layer");
    let layer = svc
        .snapshotter()
        .unpack_layer(&blob, svc.content().open_blob(&blob).expect("open"))
        .expect("unpack");
    assert!(layer.is_some());

    let report = svc.collect_garbage().expect("gc");
    assert!(
        report.blobs_removed.is_empty() && report.layers_removed.is_empty(),
        "{report:?}"
    );
    assert!(svc.content().exists(&blob));
    assert!(svc.snapshotter().has_layer(&blob));

    drop(lease);
    let report = svc.collect_garbage().expect("gc");
    assert_eq!(report.blobs_removed, std::slice::from_ref(&blob));
    assert_eq!(report.layers_removed, std::slice::from_ref(&blob));
    assert!(report.bytes_freed > 0);
    assert!(!svc.content().exists(&blob) && !svc.snapshotter().has_layer(&blob));
}

#[test]
fn startup_collects_what_a_crash_left_unreferenced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (kept, orphan) = {
        let svc = open(dir.path());
        let kept = import(&svc, "kept", Some("kept:1"), &[]);
        // A crash after publishing a blob and unpacking its layer, before the rows: simulated by
        // writing both without a lease or rows and "crashing" (dropping the service).
        let (orphan, _) = svc
            .content()
            .write_from(&mut &rootfs_tar("orphan")[..], None)
            .expect("write");
        svc.snapshotter()
            .unpack_layer(&orphan, svc.content().open_blob(&orphan).expect("open"))
            .expect("unpack");
        fs::write(
            dir.path().join("content/ingest/tmp-partial"),
            b"half a blob",
        )
        .expect("ingest");
        (kept, orphan)
    };
    let before = blobs(dir.path());
    assert!(before.contains(&orphan.hex().to_string()));

    let svc = open(dir.path());
    assert!(!svc.content().exists(&orphan));
    assert!(!svc.snapshotter().has_layer(&orphan));
    assert_eq!(
        fs::read_dir(dir.path().join("content/ingest"))
            .expect("ingest")
            .count(),
        0
    );
    // The image is whole.
    assert_eq!(svc.resolve_id("kept:1").expect("resolve"), kept);
    assert!(svc.check().expect("check").problems.is_empty());
}

#[test]
fn forced_rmi_keeps_layers_a_container_snapshot_stacks_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = open(dir.path());
    let id = import(&svc, "used", Some("used:1"), &[]);
    let image = svc.resolve("used:1").expect("resolve");
    svc.snapshot_prepare("c0ffee", &image).expect("prepare");
    let stopped = |i: &str| {
        if i == id {
            vec![ImageUser {
                container_id: "c0ffee".into(),
                running: false,
            }]
        } else {
            Vec::new()
        }
    };
    let items = svc.remove(&id, true, false, &stopped).expect("forced rmi");
    // The image goes; its layer stays for the container, so it is not reported deleted.
    assert_eq!(
        items
            .iter()
            .filter_map(|i| i.deleted.clone())
            .collect::<Vec<_>>(),
        std::slice::from_ref(&id)
    );
    assert!(svc.snapshotter().has_layer(&image.chain_ids[0]));
    assert!(svc.check().expect("check").problems.is_empty());

    // Once the container's snapshot is gone, the layer and its blob are garbage.
    svc.snapshot_remove("c0ffee").expect("remove snapshot");
    let report = svc.collect_garbage().expect("gc");
    assert_eq!(report.layers_removed, image.chain_ids);
    assert!(blobs(dir.path()).is_empty(), "{:?}", blobs(dir.path()));
    assert!(layer_dirs(dir.path()).is_empty());
}

#[test]
fn prune_removes_dangling_then_unused_images() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = open(dir.path());
    let tagged = import(&svc, "tagged", Some("app:1"), &[]);
    let dangling = import(&svc, "dangling", None, &[]);
    let labelled = import(&svc, "labelled", None, &["LABEL keep=yes"]);
    let used = import(&svc, "used", Some("used:1"), &[]);
    let users = |i: &str| {
        if i == used {
            vec![ImageUser {
                container_id: "abc".into(),
                running: false,
            }]
        } else {
            Vec::new()
        }
    };

    let mut f = Filters::default();
    f.add("label!", "keep=yes");
    let report = svc.prune(&f, &users).expect("prune");
    let deleted: Vec<String> = report
        .images_deleted
        .iter()
        .filter_map(|d| d.deleted.clone())
        .collect();
    assert!(deleted.contains(&dangling), "{deleted:?}");
    assert!(!deleted.contains(&labelled) && !deleted.contains(&tagged));
    // The image and its one layer; the reclaimed space is the layer's unpacked size.
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert!(report.space_reclaimed > 0);

    let mut all = Filters::default();
    all.add("dangling", "false");
    let report = svc.prune(&all, &users).expect("prune -a");
    let untagged: Vec<String> = report
        .images_deleted
        .iter()
        .filter_map(|d| d.untagged.clone())
        .collect();
    assert_eq!(untagged, ["app:1"]);
    assert!(svc.resolve_id("used:1").is_ok(), "a used image stays");
    assert!(svc.resolve_id(&labelled).is_err());

    let mut bad = Filters::default();
    bad.add("reference", "x");
    assert_eq!(
        svc.prune(&bad, &no_users)
            .expect_err("bad filter")
            .to_string(),
        "invalid filter 'reference'"
    );
}

#[test]
fn disk_usage_counts_shared_layers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = open(dir.path());
    // Same rootfs, different configs: two images over one layer.
    let a = import(&svc, "same", Some("a:1"), &["ENV A=1"]);
    let b = import(&svc, "same", Some("b:1"), &["ENV B=1"]);
    let c = import(&svc, "other", Some("c:1"), &[]);
    let usage = svc.disk_usage().expect("df");
    let by_id = |id: &str| {
        usage
            .images
            .iter()
            .find(|i| i.id == id)
            .cloned()
            .expect("listed")
    };
    let (ia, ib, ic) = (by_id(&a), by_id(&b), by_id(&c));
    assert_eq!(ia.shared_size, ia.size);
    assert_eq!(ib.shared_size, ib.size);
    assert_eq!(ic.shared_size, 0);
    assert_eq!(usage.layers_size, ia.size + ic.size);
}

#[test]
fn check_names_a_corrupt_blob_and_use_of_the_image_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = open(dir.path());
    let id = import(&svc, "fine", Some("fine:1"), &[]);
    let broken = import(&svc, "broken", Some("broken:1"), &[]);
    assert!(svc.check().expect("check").problems.is_empty());

    let config: Digest = broken.parse().expect("digest");
    let path = svc.content().blob_path(&config);
    let mut bytes = fs::read(&path).expect("read");
    bytes.push(b' ');
    fs::write(&path, &bytes).expect("corrupt");
    let layer = svc.resolve("fine:1").expect("resolve").raw.rootfs.diff_ids[0].clone();
    fs::write(svc.content().blob_path(&layer), b"not the layer").expect("corrupt");

    let report = svc.check().expect("check");
    let objects: Vec<&str> = report.problems.iter().map(|p| p.object.as_str()).collect();
    assert!(
        objects.contains(&format!("blob {broken}").as_str()),
        "{report:?}"
    );
    assert!(
        objects.contains(&format!("blob {layer}").as_str()),
        "{report:?}"
    );
    assert_eq!(report.images_checked, 2);

    match svc.resolve("broken:1") {
        Err(e @ ImageError::Corrupt { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&broken) && text.contains("does not match its digest"),
                "{text}"
            );
        }
        other => panic!("expected a corrupt-image error, got {other:?}"),
    }
    // The other image's config is intact, and it runs from its unpacked layer.
    assert_eq!(svc.resolve("fine:1").expect("resolve").id, id);

    // A missing unpacked layer is a problem too.
    let chain = svc.resolve("fine:1").expect("resolve").chain_ids[0].clone();
    fs::remove_dir_all(dir.path().join("overlay").join(chain.hex())).expect("rm layer");
    let report = svc.check().expect("check");
    assert!(report
        .problems
        .iter()
        .any(|p| p.object == format!("layer {chain}") && p.problem.contains("unpacked directory")));
}

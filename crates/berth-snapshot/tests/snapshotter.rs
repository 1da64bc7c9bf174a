//! Layer unpack, container snapshots and real overlay mounts (needs root and overlayfs).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth_snapshot::{SnapshotError, Snapshotter};
use berth_types::Digest;

fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).expect("path");
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_600_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *data).expect("append");
    }
    b.into_inner().expect("tar")
}

fn chain(n: u8) -> Digest {
    Digest::of(&[n])
}

#[test]
fn unpack_is_shared_and_atomic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snap = Snapshotter::open(tmp.path().join("overlay")).expect("open");
    let stats = snap
        .unpack_layer(&chain(1), &layer_tar(&[("a", b"1")])[..])
        .expect("unpack");
    assert_eq!(stats.map(|s| s.size), Some(1));
    // Same chain id: not unpacked again, the stream is not even read.
    assert_eq!(
        snap.unpack_layer(&chain(1), &b"not a tar"[..])
            .expect("again"),
        None
    );
    assert_eq!(snap.layers().expect("layers"), vec![chain(1)]);

    // A failing unpack leaves neither the layer nor temporary directories nor short links.
    let mut bad = layer_tar(&[("ok", b"x")]);
    bad.truncate(600);
    assert!(snap.unpack_layer(&chain(2), &bad[..]).is_err());
    assert!(!snap.has_layer(&chain(2)));
    let mut names: Vec<String> = fs::read_dir(snap.root())
        .expect("root")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec![chain(1).hex().to_string(), "l".to_string()]);
    assert_eq!(fs::read_dir(snap.root().join("l")).expect("l").count(), 1);

    snap.remove_layer(&chain(1)).expect("remove");
    assert!(!snap.has_layer(&chain(1)));
    assert_eq!(
        fs::read_dir(snap.root().join("l")).expect("l").count(),
        0,
        "short link removed"
    );
}

#[test]
fn mounted_snapshot_shows_layers_and_writes_to_upper() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snap = Snapshotter::open(tmp.path().join("overlay")).expect("open");
    snap.unpack_layer(
        &chain(1),
        &layer_tar(&[("bin/tool", b"v1"), ("etc/gone", b"x"), ("etc/keep", b"k")])[..],
    )
    .expect("base");
    snap.unpack_layer(
        &chain(2),
        &layer_tar(&[("bin/tool", b"v2"), ("etc/.wh.gone", b"")])[..],
    )
    .expect("top");

    let id = "c0ffee";
    let paths = snap.prepare(id, &[chain(1), chain(2)]).expect("prepare");
    assert_eq!(
        paths.lowers,
        vec![snap.layer_diff(&chain(1)), snap.layer_diff(&chain(2))]
    );
    assert!(matches!(
        snap.prepare(id, &[]),
        Err(SnapshotError::Exists(_))
    ));
    assert!(matches!(
        snap.prepare("other", &[chain(9)]),
        Err(SnapshotError::MissingLayer(_))
    ));
    assert!(matches!(
        snap.prepare("../evil", &[]),
        Err(SnapshotError::InvalidId(_))
    ));

    snap.mount(id, &paths.merged).expect("mount");
    assert_eq!(
        fs::read(paths.merged.join("bin/tool")).expect("tool"),
        b"v2",
        "top layer wins"
    );
    assert_eq!(fs::read(paths.merged.join("etc/keep")).expect("keep"), b"k");
    assert!(
        !paths.merged.join("etc/gone").exists(),
        "whiteout hides the lower file"
    );

    fs::write(paths.merged.join("etc/new"), b"written").expect("write");
    fs::remove_file(paths.merged.join("etc/keep")).expect("rm");
    assert_eq!(
        fs::read(paths.upper.join("etc/new")).expect("upper"),
        b"written"
    );
    assert!(fs::symlink_metadata(paths.upper.join("etc/keep"))
        .expect("wh")
        .file_type()
        .is_char_device());
    assert_eq!(
        fs::read(snap.layer_diff(&chain(1)).join("etc/keep")).expect("lower intact"),
        b"k"
    );

    snap.unmount(&paths.merged).expect("unmount");
    assert!(!paths.merged.join("bin/tool").exists());
    snap.unmount(&paths.merged)
        .expect("unmounting twice is fine");

    // Remount, then remove while mounted: remove unmounts and leaves nothing behind.
    snap.mount(id, &paths.merged).expect("remount");
    assert_eq!(
        fs::read(paths.merged.join("etc/new")).expect("persisted"),
        b"written"
    );
    snap.remove(id).expect("remove");
    assert!(!snap.root().join(id).exists());
    assert_eq!(
        fs::read_dir(snap.root().join("l")).expect("l").count(),
        2,
        "only the two layer links remain"
    );
    assert!(matches!(snap.paths(id), Err(SnapshotError::NotFound(_))));
    let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(paths.merged.to_str().expect("utf8")));
}

#[test]
fn many_layers_mount_beyond_a_page_of_options() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snap = Snapshotter::open(tmp.path().join("overlay")).expect("open");
    let count = 130u8;
    let mut ids = Vec::new();
    for i in 0..count {
        let name = format!("f{i}");
        snap.unpack_layer(&chain(i), &layer_tar(&[(&name, &[i])])[..])
            .expect("unpack");
        ids.push(chain(i));
    }
    let opts_len: usize = ids
        .iter()
        .map(|c| snap.layer_diff(c).as_os_str().len() + 1)
        .sum();
    assert!(
        opts_len > 4096,
        "the test must exceed a page of lowerdir options"
    );
    let paths = snap.prepare("many", &ids).expect("prepare");
    let started = std::time::Instant::now();
    snap.mount("many", &paths.merged).expect("mount");
    eprintln!("mounting {count} layers took {:?}", started.elapsed());
    for i in [0u8, 64, 129] {
        assert_eq!(
            fs::read(paths.merged.join(format!("f{i}"))).expect("file"),
            [i]
        );
    }
    assert_eq!(
        fs::metadata(paths.merged.join("f0")).expect("meta").mtime(),
        1_600_000_000
    );
    snap.remove("many").expect("remove");
}

#[test]
fn snapshot_without_layers_mounts_an_empty_lower() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snap = Snapshotter::open(tmp.path().join("overlay")).expect("open");
    let paths = snap.prepare("empty", &[]).expect("prepare");
    snap.mount("empty", &paths.merged).expect("mount");
    fs::write(paths.merged.join("x"), b"y").expect("write");
    assert_eq!(fs::read(paths.upper.join("x")).expect("upper"), b"y");
    snap.remove("empty").expect("remove");
    assert!(!snap.root().join("empty").exists());
}

#[test]
fn reopening_sweeps_what_a_crash_left_half_made() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("overlay");
    let snap = Snapshotter::open(&root).expect("open");
    snap.unpack_layer(&chain(1), &layer_tar(&[("a", b"1")])[..])
        .expect("unpack");
    snap.prepare("kept", &[chain(1)]).expect("prepare");
    // What a daemon killed mid-create leaves: an unrenamed prepare with its recorded short link,
    // and a short link whose directory was removed before the link was.
    let half = root.join("tmp-HALFMADE");
    fs::create_dir_all(half.join("diff")).expect("half");
    fs::write(half.join("link"), "HALFLINK").expect("record");
    std::os::unix::fs::symlink("../half/diff", root.join("l/HALFLINK")).expect("link");
    std::os::unix::fs::symlink("../gone/diff", root.join("l/ORPHANLINK")).expect("orphan");
    drop(snap);

    let snap = Snapshotter::open(&root).expect("reopen");
    let mut names: Vec<String> = fs::read_dir(&root)
        .expect("root")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![chain(1).hex().to_string(), "kept".into(), "l".into()]
    );
    let mut links: Vec<String> = fs::read_dir(root.join("l"))
        .expect("l")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    links.sort();
    let expected =
        vec![fs::read_to_string(root.join(chain(1).hex()).join("link")).expect("record")];
    assert_eq!(links, expected, "only the live layer's link stays");
    assert!(
        !root.join("kept/link").exists(),
        "a container snapshot has no short link: it is never a lower"
    );
    assert!(snap.paths("kept").is_ok());
}

/// `discard` sets a snapshot aside at once (no link, no `lower`, not a snapshot any more, its
/// layers free for garbage collection); a trash directory never deleted (a crash) is swept at
/// the next open.
#[test]
fn discarded_snapshot_is_gone_at_once_and_its_trash_swept_at_open() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("overlay");
    let snap = Snapshotter::open(&root).expect("open");
    snap.unpack_layer(&chain(1), &layer_tar(&[("a", b"1")])[..])
        .expect("unpack");
    let paths = snap.prepare("gone", &[chain(1)]).expect("prepare");
    snap.prepare("kept", &[chain(1)]).expect("prepare");
    snap.mount("gone", &paths.merged).expect("mount");
    fs::write(paths.merged.join("written"), b"x").expect("write");
    // A snapshot an older berth made has a short link too, which goes with it.
    fs::write(root.join("gone/link"), "OLDLINK").expect("record");
    std::os::unix::fs::symlink("../gone/diff", root.join("l/OLDLINK")).expect("link");
    assert_eq!(fs::read_dir(root.join("l")).expect("l").count(), 2);

    let trash = snap.discard("gone").expect("discard").expect("a snapshot");
    assert!(!root.join("gone").exists());
    assert!(
        trash.join("diff/written").exists(),
        "files are deleted later"
    );
    assert!(!trash.join("lower").exists());
    let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(paths.merged.to_str().expect("utf8")));
    assert_eq!(snap.snapshot_ids().expect("ids"), vec!["kept".to_string()]);
    assert_eq!(
        fs::read_dir(root.join("l")).expect("l").count(),
        1,
        "only the layer's short link stays"
    );
    assert!(matches!(
        snap.paths("gone"),
        Err(SnapshotError::NotFound(_))
    ));
    assert!(snap.discard("gone").expect("discard again").is_none());
    // Only `kept` holds the layer now.
    snap.remove("kept").expect("remove");
    assert!(snap.snapshot_lowers().expect("lowers").is_empty());
    drop(snap);

    let _snap = Snapshotter::open(&root).expect("reopen");
    assert!(!trash.exists(), "the trash is swept at open");
    berth_snapshot::remove_trash(&trash).expect("a missing trash is fine");
}

/// A layer tar of directories (`name/`), symlinks (`name -> target`) and files.
fn layer_tar_of(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_500_000_000);
        if let Some(dir) = name.strip_suffix('/') {
            h.set_path(dir).expect("path");
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o750);
            h.set_size(0);
            h.set_cksum();
            b.append(&h, &[][..]).expect("append");
        } else if let Some((link, target)) = name.split_once(" -> ") {
            h.set_path(link).expect("path");
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_link_name(target).expect("link");
            h.set_mode(0o777);
            h.set_size(0);
            h.set_cksum();
            b.append(&h, &[][..]).expect("append");
        } else {
            h.set_path(name).expect("path");
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, data.as_bytes()).expect("append");
        }
    }
    b.into_inner().expect("tar")
}

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn container_snapshots_share_their_chains_init_layer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snap = Snapshotter::open(tmp.path().join("overlay")).expect("open");
    snap.unpack_layer(
        &chain(1),
        &layer_tar_of(&[("etc/", ""), ("etc/passwd", "root")])[..],
    )
    .expect("base");
    snap.unpack_layer(
        &chain(2),
        &layer_tar_of(&[("etc/hosts", "the image's")])[..],
    )
    .expect("top");
    let init = snap.root().join(chain(2).hex()).join("init");

    let paths = snap
        .prepare_container("c1", &[chain(1), chain(2)])
        .expect("prepare");
    assert_eq!(paths.lowers.last(), Some(&init));
    assert_eq!(paths.lowers.len(), 3);
    assert_eq!(
        names_in(&init.join("etc")),
        ["hostname", "hosts", "resolv.conf"]
    );
    for f in ["hostname", "hosts", "resolv.conf"] {
        let m = fs::symlink_metadata(init.join("etc").join(f)).expect("stat");
        assert!(
            m.is_file() && m.len() == 0 && m.mode() & 0o7777 == 0o644,
            "{f}: {m:?}"
        );
    }
    // The image's /etc as it is (the topmost layer's, as overlay shows it): the init layer's
    // directory hides its attributes when merged.
    let etc = fs::symlink_metadata(init.join("etc")).expect("etc");
    let image_etc = fs::symlink_metadata(snap.layer_diff(&chain(2)).join("etc")).expect("etc");
    assert_eq!(
        (etc.mode(), etc.uid(), etc.gid(), etc.mtime()),
        (
            image_etc.mode(),
            image_etc.uid(),
            image_etc.gid(),
            image_etc.mtime()
        )
    );
    let with_own_etc = snap.root().join(chain(1).hex()).join("init/etc");
    snap.prepare_container("c0", &[chain(1)])
        .expect("base only");
    let etc = fs::symlink_metadata(&with_own_etc).expect("etc");
    assert_eq!((etc.mode() & 0o7777, etc.mtime()), (0o750, 1_500_000_000));
    assert!(fs::read_to_string(snap.root().join("c1/lower"))
        .expect("lower")
        .ends_with("+init\n"));

    // Mounted, the files are there as mount points and the container's layer stays empty.
    let target = tmp.path().join("mnt");
    fs::create_dir(&target).expect("mkdir");
    snap.mount("c1", &target).expect("mount");
    let hosts = fs::metadata(target.join("etc/hosts")).expect("hosts");
    assert!(hosts.is_file() && hosts.len() == 0);
    assert_eq!(
        fs::read_to_string(target.join("etc/passwd")).expect("passwd"),
        "root"
    );
    assert!(target.join("etc/resolv.conf").is_file());
    snap.unmount(&target).expect("unmount");
    assert!(names_in(&paths.upper).is_empty());

    // Made once: the next container of the chain takes the same directory; no temporary one
    // is left; a plain snapshot (the builder's) has none; the layer's removal takes it.
    let inode = fs::metadata(&init).expect("init").ino();
    let again = snap
        .prepare_container("c2", &[chain(1), chain(2)])
        .expect("again");
    assert_eq!(again.lowers.last(), Some(&init));
    assert_eq!(fs::metadata(&init).expect("init").ino(), inode);
    assert!(!names_in(snap.root()).iter().any(|n| n.starts_with("tmp-")));
    let plain = snap.prepare("b1", &[chain(1), chain(2)]).expect("plain");
    assert_eq!(plain.lowers.len(), 2);
    // Only its top layer's: a container of the lower chain alone gets its own.
    let lower_only = snap
        .prepare_container("c3", &[chain(1)])
        .expect("lower only");
    assert_eq!(
        lower_only.lowers.last(),
        Some(&snap.root().join(chain(1).hex()).join("init"))
    );
    for id in ["c0", "c1", "c2", "c3", "b1"] {
        snap.remove(id).expect("remove");
    }
    snap.remove_layer(&chain(2)).expect("remove layer");
    assert!(!init.exists());
}

#[test]
fn init_layer_leaves_links_in_the_image_to_the_runtime() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let snap = Snapshotter::open(tmp.path().join("overlay")).expect("open");
    // /etc a symlink: no init layer at all (the runtime resolves and makes what it binds).
    snap.unpack_layer(
        &chain(1),
        &layer_tar_of(&[("etc -> usr/etc", ""), ("usr/etc/", "")])[..],
    )
    .expect("linked etc");
    let paths = snap.prepare_container("c1", &[chain(1)]).expect("prepare");
    assert_eq!(paths.lowers.len(), 1);
    assert!(!snap.root().join(chain(1).hex()).join("init").exists());
    assert!(!fs::read_to_string(snap.root().join("c1/lower"))
        .expect("lower")
        .contains("+init"));

    // A file the image links elsewhere is left out; the others are made.
    snap.unpack_layer(
        &chain(2),
        &layer_tar_of(&[("etc/", ""), ("etc/resolv.conf -> ../run/resolv.conf", "")])[..],
    )
    .expect("linked file");
    snap.prepare_container("c2", &[chain(2)]).expect("prepare");
    let init_etc = snap.root().join(chain(2).hex()).join("init/etc");
    assert_eq!(names_in(&init_etc), ["hostname", "hosts"]);

    // Over it, an opaque /etc hides the link: then it is made too.
    snap.unpack_layer(
        &chain(3),
        &layer_tar_of(&[("etc/", ""), ("etc/.wh..wh..opq", ""), ("etc/group", "g")])[..],
    )
    .expect("opaque");
    snap.prepare_container("c3", &[chain(2), chain(3)])
        .expect("prepare");
    let init_etc = snap.root().join(chain(3).hex()).join("init/etc");
    assert_eq!(names_in(&init_etc), ["hostname", "hosts", "resolv.conf"]);

    // And a whiteout of the link, in a layer above it, too.
    snap.unpack_layer(&chain(4), &layer_tar_of(&[("etc/.wh.resolv.conf", "")])[..])
        .expect("whiteout");
    snap.prepare_container("c4", &[chain(2), chain(4)])
        .expect("prepare");
    let init_etc = snap.root().join(chain(4).hex()).join("init/etc");
    assert_eq!(names_in(&init_etc), ["hostname", "hosts", "resolv.conf"]);
}

//! Regression tests for the unpacker: metadata, whiteouts, and every escape class.

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::{unpack_layer, UnpackError};
use crate::sys;

/// Builds tars with raw, unvalidated names (tar::Builder refuses `..`, which is the point).
struct TarBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl TarBuilder {
    fn new() -> Self {
        Self {
            b: tar::Builder::new(Vec::new()),
        }
    }
    fn header(name: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        let bytes = name.as_bytes();
        assert!(
            bytes.len() < 100,
            "test names must fit the ustar name field"
        );
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h
    }
    fn file(mut self, name: &str, data: &[u8]) -> Self {
        let mut h = Self::header(name, tar::EntryType::Regular, 0o644, data.len() as u64);
        h.set_cksum();
        self.b.append(&h, data).expect("append");
        self
    }
    fn file_owned(
        mut self,
        name: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
    ) -> Self {
        let mut h = Self::header(name, tar::EntryType::Regular, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_cksum();
        self.b.append(&h, data).expect("append");
        self
    }
    fn dir(mut self, name: &str, mode: u32) -> Self {
        let mut h = Self::header(name, tar::EntryType::Directory, mode, 0);
        h.set_cksum();
        self.b.append(&h, &[][..]).expect("append");
        self
    }
    fn link(mut self, kind: tar::EntryType, name: &str, target: &str) -> Self {
        let mut h = Self::header(name, kind, 0o777, 0);
        h.set_link_name_literal(target).expect("link name");
        h.set_cksum();
        self.b.append(&h, &[][..]).expect("append");
        self
    }
    fn node(mut self, name: &str, kind: tar::EntryType, major: u32, minor: u32) -> Self {
        let mut h = Self::header(name, kind, 0o640, 0);
        h.set_device_major(major).expect("major");
        h.set_device_minor(minor).expect("minor");
        h.set_cksum();
        self.b.append(&h, &[][..]).expect("append");
        self
    }
    fn file_with_xattr(mut self, name: &str, key: &str, value: &[u8]) -> Self {
        let pax_key = format!("SCHILY.xattr.{key}");
        self.b
            .append_pax_extensions([(pax_key.as_str(), value)])
            .expect("pax");
        self.file(name, b"x")
    }
    fn bytes(self) -> Vec<u8> {
        self.b.into_inner().expect("finish")
    }
}

/// A layer root and a sibling "host" directory that must never be touched.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    host: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("layer/diff");
    let host = tmp.path().join("host");
    fs::create_dir_all(&root).expect("root");
    fs::create_dir_all(&host).expect("host");
    fs::write(host.join("secret"), b"host secret").expect("secret");
    Fixture {
        _tmp: tmp,
        root,
        host,
    }
}

fn unpack(root: &Path, tar: Vec<u8>) -> Result<super::UnpackStats, UnpackError> {
    unpack_layer(&tar[..], root)
}

fn host_untouched(f: &Fixture) {
    let names: Vec<_> = fs::read_dir(&f.host)
        .expect("host")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("secret")],
        "host dir gained entries"
    );
    assert_eq!(
        fs::read(f.host.join("secret")).expect("secret"),
        b"host secret"
    );
    assert_eq!(
        fs::metadata(f.host.join("secret")).expect("meta").nlink(),
        1,
        "host file was hard-linked"
    );
    let outside: Vec<_> = fs::read_dir(f.root.parent().and_then(Path::parent).expect("tmp"))
        .expect("tmp")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let mut outside = outside;
    outside.sort();
    assert_eq!(
        outside,
        ["host", "layer"],
        "entries appeared next to the layer"
    );
}

#[test]
fn preserves_metadata_links_and_nodes() {
    let f = fixture();
    let tar = TarBuilder::new()
        .dir("etc/", 0o755)
        .file_owned("etc/shadow", b"root:*:", 0o4640, 1000, 42, 1_500_000_000)
        .link(
            tar::EntryType::Symlink,
            "etc/localtime",
            "/usr/share/zoneinfo/UTC",
        )
        .link(tar::EntryType::Link, "etc/shadow-", "etc/shadow")
        .node("dev/null", tar::EntryType::Char, 1, 3)
        .node("run/fifo", tar::EntryType::Fifo, 0, 0)
        .file_with_xattr("bin/ping", "user.berth", b"cap")
        .file("deep/auto/created/file", b"implicit parents")
        .bytes();
    let stats = unpack(&f.root, tar).expect("unpack");
    assert_eq!(stats.entries, 8);
    assert_eq!(stats.size, 7 + 1 + 16);

    let m = fs::metadata(f.root.join("etc/shadow")).expect("shadow");
    assert_eq!(m.mode() & 0o7777, 0o4640, "setuid survives chown");
    assert_eq!((m.uid(), m.gid()), (1000, 42));
    assert_eq!(m.mtime(), 1_500_000_000);
    assert_eq!(m.nlink(), 2, "hardlink shares the inode");
    assert_eq!(
        fs::read(f.root.join("etc/shadow-")).expect("link"),
        b"root:*:"
    );
    assert_eq!(
        fs::read_link(f.root.join("etc/localtime")).expect("symlink"),
        Path::new("/usr/share/zoneinfo/UTC")
    );
    let etc = fs::metadata(f.root.join("etc")).expect("etc");
    assert_eq!(
        etc.mtime(),
        1_600_000_000,
        "dir mtime set after its children"
    );
    assert_eq!(etc.permissions().mode() & 0o7777, 0o755);

    let null = fs::symlink_metadata(f.root.join("dev/null")).expect("null");
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o640);
    assert!(fs::symlink_metadata(f.root.join("run/fifo"))
        .expect("fifo")
        .file_type()
        .is_fifo());
    assert_eq!(
        fs::metadata(f.root.join("deep/auto")).expect("auto").mode() & 0o777,
        0o755
    );

    let ping = fs::File::open(f.root.join("bin/ping")).expect("ping");
    assert_eq!(
        sys::fgetxattr(ping.as_fd(), b"user.berth").expect("xattr"),
        b"cap"
    );
}

#[test]
fn later_entries_replace_earlier_ones() {
    let f = fixture();
    let tar = TarBuilder::new()
        .file("a", b"old")
        .dir("d/", 0o755)
        .file("d/x", b"keep")
        .file("a", b"new")
        .dir("d/", 0o700)
        .bytes();
    unpack(&f.root, tar).expect("unpack");
    assert_eq!(fs::read(f.root.join("a")).expect("a"), b"new");
    assert_eq!(
        fs::read(f.root.join("d/x")).expect("x"),
        b"keep",
        "dir over dir merges"
    );
    assert_eq!(
        fs::metadata(f.root.join("d")).expect("d").mode() & 0o777,
        0o700
    );
}

#[test]
fn dotdot_names_are_rejected() {
    for name in ["../escaped", "a/../../escaped", "./../host/secret"] {
        let f = fixture();
        let err = unpack(&f.root, TarBuilder::new().file(name, b"pwned").bytes()).expect_err(name);
        assert!(matches!(err, UnpackError::Breakout { .. }), "{name}: {err}");
        host_untouched(&f);
    }
}

#[test]
fn absolute_names_stay_inside() {
    let f = fixture();
    let host_path = f.host.join("secret");
    let tar = TarBuilder::new()
        .file("/abs/file", b"inside")
        .file(host_path.to_str().expect("utf8"), b"pwned")
        .file("/../../up/file", b"inside too")
        .bytes();
    unpack(&f.root, tar).expect("unpack");
    assert_eq!(fs::read(f.root.join("abs/file")).expect("abs"), b"inside");
    let inner = f.root.join(host_path.strip_prefix("/").expect("relative"));
    assert_eq!(fs::read(inner).expect("inner"), b"pwned");
    assert_eq!(fs::read(f.root.join("up/file")).expect("up"), b"inside too");
    host_untouched(&f);
}

#[test]
fn symlinked_parents_resolve_inside_the_root() {
    let f = fixture();
    let host = f.host.to_str().expect("utf8").to_string();
    // An absolute symlink is legal in a rootfs; writing through it must stay in the layer.
    let tar = TarBuilder::new()
        .dir(&format!("{host}/"), 0o755)
        .link(tar::EntryType::Symlink, "evil", &host)
        .file("evil/secret", b"pwned")
        .file("evil/new", b"pwned")
        .link(tar::EntryType::Symlink, "up", "/..")
        .file("up/up/escaped", b"pwned")
        .bytes();
    unpack(&f.root, tar).expect("unpack");
    let inner = f.root.join(host.trim_start_matches('/'));
    assert_eq!(fs::read(inner.join("secret")).expect("inner"), b"pwned");
    assert_eq!(fs::read(f.root.join("escaped")).expect("escaped"), b"pwned");
    host_untouched(&f);
}

#[test]
fn dangling_symlinked_parent_fails_without_touching_the_host() {
    let f = fixture();
    let host = f.host.to_str().expect("utf8").to_string();
    let tar = TarBuilder::new()
        .link(tar::EntryType::Symlink, "evil", &host)
        .file("evil/new", b"pwned")
        .bytes();
    let err = unpack(&f.root, tar).expect_err("dangling parent");
    assert!(matches!(err, UnpackError::Entry { .. }), "{err}");
    host_untouched(&f);
}

#[test]
fn relative_symlinks_climbing_out_are_rejected() {
    let f = fixture();
    let err = unpack(
        &f.root,
        TarBuilder::new()
            .link(tar::EntryType::Symlink, "a/evil", "../../../host")
            .bytes(),
    )
    .expect_err("escape");
    assert!(matches!(err, UnpackError::InvalidSymlink { .. }), "{err}");
    host_untouched(&f);
}

#[test]
fn hardlinks_cannot_reach_outside() {
    // Lexical escape: rejected.
    let f = fixture();
    let err = unpack(
        &f.root,
        TarBuilder::new()
            .link(tar::EntryType::Link, "hl", "../../host/secret")
            .bytes(),
    )
    .expect_err("escape");
    assert!(matches!(err, UnpackError::InvalidHardlink { .. }), "{err}");
    host_untouched(&f);

    // Absolute host path: looked up inside the root, where it does not exist.
    let f = fixture();
    let target = f.host.join("secret");
    let err = unpack(
        &f.root,
        TarBuilder::new()
            .link(tar::EntryType::Link, "hl", target.to_str().expect("utf8"))
            .bytes(),
    )
    .expect_err("absolute");
    assert!(matches!(err, UnpackError::Entry { .. }), "{err}");
    assert!(!f.root.join("hl").exists());
    host_untouched(&f);

    // Through a symlinked directory pointing at the host: still resolved inside the root.
    let f = fixture();
    let host = f.host.to_str().expect("utf8").to_string();
    let err = unpack(
        &f.root,
        TarBuilder::new()
            .link(tar::EntryType::Symlink, "evil", &host)
            .link(tar::EntryType::Link, "hl", "evil/secret")
            .bytes(),
    )
    .expect_err("via symlink");
    assert!(matches!(err, UnpackError::Entry { .. }), "{err}");
    host_untouched(&f);
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let f = fixture();
    let tar = TarBuilder::new()
        .dir("etc/", 0o755)
        .file(".wh.removed", b"")
        .file("etc/.wh.passwd", b"")
        .dir("opaque/", 0o755)
        .file("opaque/.wh..wh..opq", b"")
        .file("opaque/kept", b"k")
        .file(".wh..wh.plnk", b"")
        .bytes();
    unpack(&f.root, tar).expect("unpack");
    for p in ["removed", "etc/passwd"] {
        let m = fs::symlink_metadata(f.root.join(p)).expect(p);
        assert!(m.file_type().is_char_device(), "{p} is a whiteout");
        assert_eq!(m.rdev(), 0);
    }
    assert!(!f.root.join(".wh.removed").exists());
    assert!(!f.root.join("opaque/.wh..wh..opq").exists());
    assert!(!f.root.join(".wh..wh.plnk").exists());
    let opaque = fs::File::open(f.root.join("opaque")).expect("opaque");
    assert_eq!(
        sys::fgetxattr(opaque.as_fd(), b"trusted.overlay.opaque").expect("xattr"),
        b"y"
    );
    assert_eq!(fs::read(f.root.join("opaque/kept")).expect("kept"), b"k");
}

#[test]
fn whiteouts_cannot_land_outside() {
    let f = fixture();
    let err = unpack(
        &f.root,
        TarBuilder::new().file("../host/.wh.secret", b"").bytes(),
    )
    .expect_err("escape");
    assert!(matches!(err, UnpackError::Breakout { .. }), "{err}");
    host_untouched(&f);

    let f = fixture();
    let host = f.host.to_str().expect("utf8").to_string();
    let tar = TarBuilder::new()
        .dir(&format!("{host}/"), 0o755)
        .link(tar::EntryType::Symlink, "evil", &host)
        .file("evil/.wh.secret", b"")
        .file("evil/.wh..wh..opq", b"")
        .bytes();
    unpack(&f.root, tar).expect("contained");
    let inner = f.root.join(host.trim_start_matches('/'));
    assert!(fs::symlink_metadata(inner.join("secret"))
        .expect("inner")
        .file_type()
        .is_char_device());
    host_untouched(&f);
    let host_dir = fs::File::open(&f.host).expect("host");
    assert!(
        sys::fgetxattr(host_dir.as_fd(), b"trusted.overlay.opaque").is_err(),
        "host dir marked opaque"
    );

    let f = fixture();
    let err = unpack(&f.root, TarBuilder::new().file("a/.wh...", b"").bytes())
        .expect_err("dotdot whiteout");
    assert!(matches!(err, UnpackError::InvalidWhiteout { .. }), "{err}");
    host_untouched(&f);
}

#[test]
fn a_symlink_swapped_in_for_a_directory_stays_inside() {
    let f = fixture();
    let host = f.host.to_str().expect("utf8").to_string();
    // `d` is a directory, then a symlink to the host path, then written through.
    let tar = TarBuilder::new()
        .dir("d/", 0o755)
        .file("d/x", b"first")
        .dir(&format!("{host}/"), 0o755)
        .link(tar::EntryType::Symlink, "d", &host)
        .file("d/secret", b"pwned")
        .bytes();
    unpack(&f.root, tar).expect("contained");
    assert!(fs::symlink_metadata(f.root.join("d"))
        .expect("d")
        .file_type()
        .is_symlink());
    let inner = f.root.join(host.trim_start_matches('/'));
    assert_eq!(fs::read(inner.join("secret")).expect("inner"), b"pwned");
    host_untouched(&f);
}

#[test]
fn symlink_loops_fail_without_touching_anything() {
    let f = fixture();
    let tar = TarBuilder::new()
        .link(tar::EntryType::Symlink, "a", "b")
        .link(tar::EntryType::Symlink, "b", "/a")
        .file("a/x", b"looped")
        .bytes();
    let err = unpack(&f.root, tar).expect_err("loop");
    match &err {
        UnpackError::Entry { source, .. } => {
            assert_eq!(source.raw_os_error(), Some(libc::ELOOP), "{err}")
        }
        other => panic!("not an entry error: {other}"),
    }
    host_untouched(&f);
}

#[test]
fn magic_link_parents_resolve_inside_the_layer() {
    // `/proc/self/root` in a layer is a path like any other: looked up inside the layer, it
    // names the layer's own `proc/self/root`, never the unpacking process's root.
    let f = fixture();
    let host = f.host.to_str().expect("utf8").to_string();
    let rel = host.trim_start_matches('/');
    let err = unpack(
        &f.root,
        TarBuilder::new()
            .link(tar::EntryType::Symlink, "m", "/proc/self/root")
            .file(&format!("m/{rel}/secret"), b"pwned")
            .bytes(),
    )
    .expect_err("no proc in the layer");
    assert!(matches!(err, UnpackError::Entry { .. }), "{err}");
    host_untouched(&f);

    let f = fixture();
    unpack(
        &f.root,
        TarBuilder::new()
            .dir("proc/self/root/", 0o755)
            .link(tar::EntryType::Symlink, "m", "/proc/self/root")
            .file(&format!("m/{rel}/secret"), b"pwned")
            .bytes(),
    )
    .expect("inside the layer");
    assert_eq!(
        fs::read(f.root.join("proc/self/root").join(rel).join("secret")).expect("inner"),
        b"pwned"
    );
    host_untouched(&f);
}

#[test]
fn device_nodes_are_replaced_never_written_through() {
    let f = fixture();
    let tar = TarBuilder::new()
        .node("null", tar::EntryType::Char, 1, 3)
        .file("null", b"data")
        .node("zero", tar::EntryType::Char, 1, 5)
        .link(tar::EntryType::Link, "zero-link", "zero")
        .file("zero-link", b"data")
        .bytes();
    unpack(&f.root, tar).expect("unpack");
    for name in ["null", "zero-link"] {
        let m = fs::symlink_metadata(f.root.join(name)).expect(name);
        assert!(m.file_type().is_file(), "{name} is not a regular file now");
        assert_eq!(fs::read(f.root.join(name)).expect(name), b"data");
    }
    let zero = fs::symlink_metadata(f.root.join("zero")).expect("zero");
    assert!(zero.file_type().is_char_device(), "the node itself stays");
    assert_eq!(
        zero.nlink(),
        1,
        "the link was replaced, not written through"
    );
    host_untouched(&f);
}

#[test]
fn a_symlink_swapped_in_concurrently_never_leads_out() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let f = fixture();
    fs::create_dir(f.root.join("d")).expect("d");
    std::os::unix::fs::symlink(&f.host, f.root.join("abs")).expect("abs");
    std::os::unix::fs::symlink("../../host", f.root.join("rel")).expect("rel");
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (root, stop) = (f.root.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let link = if i.is_multiple_of(2) { "abs" } else { "rel" };
                i += 1;
                // d (a directory) <-> a symlink out of the layer, over and over.
                let _ = fs::rename(root.join("d"), root.join("d.real"));
                let _ = fs::rename(root.join(link), root.join("d"));
                std::thread::yield_now();
                let _ = fs::rename(root.join("d"), root.join(link));
                let _ = fs::rename(root.join("d.real"), root.join("d"));
            }
        })
    };
    let mut tar = TarBuilder::new();
    for i in 0..300 {
        tar = tar.file(&format!("d/f{i}"), b"x");
    }
    let tar = tar.bytes();
    for _ in 0..10 {
        // Each run may fail (a parent vanished mid-way) or succeed; neither may write out.
        let _ = unpack(&f.root, tar.clone());
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().expect("swapper");
    host_untouched(&f);
}

//! ImageService end to end on a temp data root: import a busybox rootfs, resolve, list,
//! inspect, history, tag, rmi, and run from a mounted snapshot (needs root and overlayfs).

use std::fs;
use std::io::Write;
use std::path::Path;

use berth_api::Filters;
use berth_image::{ImageService, ImageUser, ImportOptions};
use berth_store::Db;
use berth_types::{Digest, ErrorKind, Reference};

/// A minimal root filesystem: /bin/busybox plus a few applet links.
fn busybox_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for dir in ["bin/", "etc/", "tmp/"] {
        let mut h = tar::Header::new_gnu();
        h.set_path(dir).expect("path");
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(if dir == "tmp/" { 0o1777 } else { 0o755 });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..]).expect("dir");
    }
    let busybox = fs::read("/bin/busybox").expect("/bin/busybox is installed");
    let mut h = tar::Header::new_gnu();
    h.set_path("bin/busybox").expect("path");
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(busybox.len() as u64);
    h.set_cksum();
    b.append(&h, &busybox[..]).expect("busybox");
    for applet in ["sh", "echo", "cat", "ls"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_path(format!("bin/{applet}")).expect("path");
        h.set_link_name("busybox").expect("link");
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        h.set_cksum();
        b.append(&h, &[][..]).expect("link");
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\n";
    let mut h = tar::Header::new_gnu();
    h.set_path("etc/passwd").expect("path");
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(passwd.len() as u64);
    h.set_cksum();
    b.append(&h, &passwd[..]).expect("passwd");
    b.into_inner().expect("tar")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("gz");
    gz.finish().expect("gz")
}

fn service() -> (tempfile::TempDir, ImageService) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path().join("berth.db")).expect("db");
    let svc = ImageService::open(dir.path(), db).expect("open");
    (dir, svc)
}

fn import(svc: &ImageService, data: &[u8], tag: Option<&str>, changes: &[&str]) -> String {
    svc.import(
        data,
        ImportOptions {
            repo_tag: tag.map(|t| Reference::parse(t).expect("ref")),
            changes: changes.iter().map(|s| s.to_string()).collect(),
            message: None,
        },
    )
    .expect("import")
    .id
}

fn no_users(_: &str) -> Vec<ImageUser> {
    Vec::new()
}

/// Everything under the data root except the database files, for leftover checks.
fn store_listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in [
        "content/blobs/sha256",
        "content/ingest",
        "overlay",
        "overlay/l",
    ] {
        for e in fs::read_dir(root.join(sub)).expect("dir") {
            out.push(format!(
                "{sub}/{}",
                e.expect("entry").file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn import_busybox_with_changes_and_resolve() {
    let (dir, svc) = service();
    let tar = busybox_tar();
    let id = import(
        &svc,
        &gzip(&tar),
        Some("busybox"),
        &[
            "CMD echo hello",
            "ENV PATH=/bin GREETING=hi",
            "WORKDIR /tmp",
            "EXPOSE 8080",
            "LABEL org.test=yes",
            "USER root",
        ],
    );

    // The id is the sha256 of the stored config bytes.
    let digest: Digest = id.parse().expect("digest");
    let bytes =
        fs::read(dir.path().join("content/blobs/sha256").join(digest.hex())).expect("config blob");
    assert_eq!(Digest::of(&bytes), digest);
    let config: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(config["rootfs"]["type"], "layers");
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        Digest::of(&tar).to_string(),
        "diff id is the uncompressed tar's"
    );
    assert_eq!(config["history"][0]["comment"], "Imported from -");
    assert_eq!(config["os"], "linux");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["/bin/sh", "-c", "echo hello"])
    );
    // The layer tar is kept as a blob for save.
    assert!(dir
        .path()
        .join("content/blobs/sha256")
        .join(Digest::of(&tar).hex())
        .is_file());

    let img = svc.resolve("busybox").expect("by name");
    assert_eq!(img.id, id);
    assert_eq!(
        img.config.env,
        Some(vec!["PATH=/bin".into(), "GREETING=hi".into()])
    );
    assert_eq!(img.config.working_dir, "/tmp");
    assert_eq!(img.config.user, "root");
    assert!(img
        .config
        .exposed_ports
        .as_ref()
        .expect("ports")
        .contains_key("8080/tcp"));
    assert_eq!(img.repo_tags, vec!["busybox:latest".to_string()]);
    assert_eq!(img.layer_dirs.len(), 1);
    assert!(img.layer_dirs[0].join("bin/busybox").is_file());
    assert!(img.size > 100_000, "busybox is big: {}", img.size);

    let hex = id.trim_start_matches("sha256:");
    for name in [
        &id[..],
        hex,
        &hex[..12],
        &hex[..5],
        "busybox:latest",
        "docker.io/library/busybox",
    ] {
        assert_eq!(svc.resolve_id(name).expect(name), id, "{name}");
    }
    let err = berth_types::Error::from(svc.resolve("nothere").expect_err("missing"));
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::NotFound, "No such image: nothere:latest")
    );
    let err = berth_types::Error::from(svc.resolve("busybox:1.0").expect_err("missing tag"));
    assert_eq!(err.message, "No such image: busybox:1.0");
    let missing = format!("sha256:{}", "0".repeat(64));
    assert_eq!(
        berth_types::Error::from(svc.resolve(&missing).expect_err("id")).message,
        format!("No such image: {missing}")
    );
    assert_eq!(
        berth_types::Error::from(svc.resolve("Busy").expect_err("bad")).kind,
        ErrorKind::InvalidArgument
    );

    // Importing the same rootfs again (plain this time) shares the layer but is a new image.
    let id2 = import(&svc, &tar, None, &[]);
    assert_ne!(id2, id, "created time differs");
    let img2 = svc.resolve(&id2).expect("second");
    assert_eq!(img2.chain_ids, img.chain_ids);
    assert_eq!(svc.snapshotter().layers().expect("layers").len(), 1);
    assert!(img2.repo_tags.is_empty());
    // The short id prefix of two images may be ambiguous; a full-length prefix never is.
    assert_eq!(svc.resolve_id(&id2[7..30]).expect("prefix"), id2);
}

#[test]
fn failed_imports_leave_nothing_behind() {
    let (dir, svc) = service();
    let before = store_listing(dir.path());

    let err = svc
        .import(
            &busybox_tar()[..],
            ImportOptions {
                changes: vec!["RUN rm -rf /".into()],
                ..Default::default()
            },
        )
        .expect_err("invalid change");
    assert_eq!(
        berth_types::Error::from(err).message,
        "RUN is not a valid change command"
    );

    let mut truncated = gzip(&busybox_tar());
    truncated.truncate(truncated.len() / 2);
    assert!(svc
        .import(&truncated[..], ImportOptions::default())
        .is_err());

    let evil = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..9].copy_from_slice(b"../escape");
        h.set_mode(0o644);
        h.set_size(1);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, &b"x"[..]).expect("append");
        b.into_inner().expect("tar")
    };
    let err = berth_types::Error::from(
        svc.import(&evil[..], ImportOptions::default())
            .expect_err("breakout"),
    );
    assert_eq!(err.kind, ErrorKind::InvalidArgument, "{}", err.message);

    assert_eq!(store_listing(dir.path()), before);
    assert!(svc
        .list(false, &Filters::default())
        .expect("list")
        .is_empty());
}

#[test]
fn list_inspect_and_history() {
    let (_dir, svc) = service();
    let a = import(
        &svc,
        &busybox_tar(),
        Some("busybox:1"),
        &["LABEL tier=base"],
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = svc
        .import(
            &busybox_tar()[..],
            ImportOptions {
                message: Some("second".into()),
                changes: vec!["LABEL tier=app".into()],
                repo_tag: None,
            },
        )
        .expect("import")
        .id;

    let all = svc.list(false, &Filters::default()).expect("list");
    assert_eq!(
        all.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![b.clone(), a.clone()],
        "newest first"
    );
    let mut f = Filters::default();
    f.add("dangling", "true");
    assert_eq!(
        svc.list(false, &f)
            .expect("dangling")
            .iter()
            .map(|s| &s.id)
            .collect::<Vec<_>>(),
        vec![&b]
    );
    let mut f = Filters::default();
    f.add("label", "tier=base");
    assert_eq!(
        svc.list(false, &f)
            .expect("label")
            .iter()
            .map(|s| &s.id)
            .collect::<Vec<_>>(),
        vec![&a]
    );
    let mut f = Filters::default();
    f.add("reference", "busy*");
    let r = svc.list(false, &f).expect("reference");
    assert_eq!(
        (r.len(), r[0].repo_tags.clone()),
        (1, vec!["busybox:1".to_string()])
    );
    let mut f = Filters::default();
    f.add("since", "busybox:1");
    assert_eq!(
        svc.list(false, &f)
            .expect("since")
            .iter()
            .map(|s| &s.id)
            .collect::<Vec<_>>(),
        vec![&b]
    );
    let mut f = Filters::default();
    f.add("before", &b);
    assert_eq!(
        svc.list(false, &f)
            .expect("before")
            .iter()
            .map(|s| &s.id)
            .collect::<Vec<_>>(),
        vec![&a]
    );
    let mut f = Filters::default();
    f.add("bogus", "1");
    assert_eq!(
        berth_types::Error::from(svc.list(false, &f).expect_err("bad filter")).message,
        "invalid filter 'bogus'"
    );

    let inspect = svc.inspect("busybox:1").expect("inspect");
    assert_eq!(inspect.id.as_deref(), Some(a.as_str()));
    assert_eq!(inspect.repo_tags, Some(vec!["busybox:1".to_string()]));
    assert_eq!(inspect.os.as_deref(), Some("linux"));
    assert_eq!(
        inspect.architecture.as_deref(),
        Some(berth_image::go_arch())
    );
    let root_fs = inspect.root_fs.expect("rootfs");
    assert_eq!(
        (root_fs.typ.as_str(), root_fs.layers.map(|l| l.len())),
        ("layers", Some(1))
    );
    let gd = inspect.graph_driver.expect("graph driver");
    assert_eq!(gd.name, "overlay2");
    assert!(Path::new(&gd.data["UpperDir"])
        .join("bin/busybox")
        .is_file());
    assert_ne!(
        inspect.metadata.and_then(|m| m.last_tag_time).as_deref(),
        Some("0001-01-01T00:00:00Z")
    );
    let labels = inspect.config.and_then(|c| c.labels).expect("labels");
    assert_eq!(labels.get("tier").map(String::as_str), Some("base"));
    let json = serde_json::to_value(svc.inspect(&b).expect("inspect b")).expect("json");
    assert_eq!(json["Comment"], "second");
    assert_eq!(json["Metadata"]["LastTagTime"], "0001-01-01T00:00:00Z");

    let history = svc.history(&b).expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, b);
    assert_eq!(history[0].comment, "second");
    assert!(history[0].size > 100_000);
}

#[test]
fn rmi_follows_dockerd() {
    let (dir, svc) = service();
    let empty_store = store_listing(dir.path());
    let id = import(&svc, &busybox_tar(), Some("busybox"), &[]);
    let short = &id[7..19];
    svc.tag("busybox", "me/app", "v1").expect("tag");
    assert_eq!(svc.resolve("me/app:v1").expect("tagged").repo_tags.len(), 2);

    // By id with two repositories: must be forced.
    let err = berth_types::Error::from(
        svc.remove(short, false, false, &no_users)
            .expect_err("multi"),
    );
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert_eq!(
        err.message,
        format!("conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories")
    );

    // By tag with another tag left: just untag.
    let out = svc
        .remove("me/app:v1", false, false, &no_users)
        .expect("untag");
    assert_eq!(
        serde_json::to_value(&out).expect("json"),
        serde_json::json!([{"Untagged": "me/app:v1"}])
    );

    // Last tag, a stopped container uses the image.
    let stopped = |_: &str| {
        vec![ImageUser {
            container_id: "c".repeat(64),
            running: false,
        }]
    };
    let err = berth_types::Error::from(
        svc.remove("busybox", false, false, &stopped)
            .expect_err("in use"),
    );
    assert_eq!(
        err.message,
        format!("conflict: unable to remove repository reference \"busybox\" (must force) - container cccccccccccc is using its referenced image {short}")
    );
    // By id while a container runs: cannot be forced.
    let running = |_: &str| {
        vec![ImageUser {
            container_id: "d".repeat(64),
            running: true,
        }]
    };
    let err =
        berth_types::Error::from(svc.remove(&id, true, false, &running).expect_err("running"));
    assert_eq!(
        err.message,
        format!("conflict: unable to delete {short} (cannot be forced) - image is being used by running container dddddddddddd")
    );
    // Forced untag while running: the tag goes, the image stays.
    let out = svc
        .remove("busybox", true, false, &running)
        .expect("forced untag");
    assert_eq!(
        serde_json::to_value(&out).expect("json"),
        serde_json::json!([{"Untagged": "busybox:latest"}])
    );
    assert!(svc.resolve(&id).is_ok());

    // Dangling and unused: deleted with its layer; nothing is left in the store.
    svc.tag(&id, "busybox", "").expect("retag");
    let out = svc
        .remove("busybox", false, false, &no_users)
        .expect("delete");
    let items = serde_json::to_value(&out).expect("json");
    assert_eq!(items[0], serde_json::json!({"Untagged": "busybox:latest"}));
    assert_eq!(items[1], serde_json::json!({"Deleted": id}));
    assert_eq!(
        items.as_array().map(Vec::len),
        Some(3),
        "image and its layer: {items}"
    );
    assert!(svc.resolve(&id).is_err());
    assert_eq!(store_listing(dir.path()), empty_store);
    assert_eq!(
        berth_types::Error::from(
            svc.remove("busybox", false, false, &no_users)
                .expect_err("gone")
        )
        .message,
        "No such image: busybox:latest"
    );
}

#[test]
fn shared_layers_survive_until_the_last_image_goes() {
    let (dir, svc) = service();
    let a = import(&svc, &busybox_tar(), Some("a"), &[]);
    let b = import(&svc, &busybox_tar(), Some("b"), &["CMD sh"]);
    let out = svc.remove("a", false, false, &no_users).expect("rm a");
    assert_eq!(out.len(), 2, "untag + delete image, layer kept: {out:?}");
    assert!(svc.resolve(&b).expect("b").layer_dirs[0]
        .join("bin/busybox")
        .is_file());
    let out = svc.remove(&b, false, false, &no_users).expect("rm b by id");
    assert_eq!(out.len(), 3, "untag b, delete image, delete layer: {out:?}");
    assert!(svc.resolve(&a).is_err());
    assert_eq!(
        fs::read_dir(dir.path().join("content/blobs/sha256"))
            .expect("blobs")
            .count(),
        0
    );
}

#[test]
fn snapshot_runs_busybox_with_a_writable_upper() {
    let (dir, svc) = service();
    import(&svc, &gzip(&busybox_tar()), Some("busybox"), &[]);
    let img = svc.resolve("busybox").expect("image");
    let cid = "e".repeat(64);
    let paths = svc.snapshot_prepare(&cid, &img).expect("prepare");
    assert_eq!(paths.lowers, img.layer_dirs);
    let target = dir.path().join("rootfs");
    fs::create_dir(&target).expect("target");
    svc.snapshot_mount(&cid, &target).expect("mount");

    let out = std::process::Command::new("chroot")
        .arg(&target)
        .args([
            "/bin/sh",
            "-c",
            "echo written > /tmp/new && cat /etc/passwd",
        ])
        .output()
        .expect("chroot");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("root:x:0:0"));
    assert_eq!(
        fs::read_to_string(paths.upper.join("tmp/new")).expect("upper"),
        "written\n"
    );
    assert!(
        !img.layer_dirs[0].join("tmp/new").exists(),
        "the image layer is untouched"
    );

    svc.snapshot_unmount(&target).expect("unmount");
    assert!(!target.join("bin/busybox").exists());
    svc.snapshot_remove(&cid).expect("remove");
    assert!(svc.snapshot_paths(&cid).is_err());
    assert!(!dir.path().join("overlay").join(&cid).exists());
}

//! docker save/load through ImageService: round trips, the three archive formats, and hostile
//! archives that must be refused without leaving anything behind.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use berth_image::{ImageService, LoadLimits};
use berth_store::Db;
use berth_types::{Digest, ErrorKind};
use serde_json::json;

fn service(dir: &Path) -> ImageService {
    let db = Db::open(dir.join("berth.db")).expect("db");
    ImageService::open(dir, db).expect("open")
}

fn entry(
    b: &mut tar::Builder<Vec<u8>>,
    path: &str,
    kind: tar::EntryType,
    data: &[u8],
    link: Option<&str>,
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_mtime(1_700_000_000);
    // Raw bytes: hostile names must reach the reader unchanged.
    let name = &mut h.as_old_mut().name;
    name[..path.len()].copy_from_slice(path.as_bytes());
    if let Some(l) = link {
        h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_cksum();
    b.append(&h, data).expect("append");
}

/// A layer tar with the given (path, content) files.
fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, data) in files {
        entry(&mut b, p, tar::EntryType::Regular, data, None);
    }
    b.into_inner().expect("layer")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("gz");
    gz.finish().expect("gz")
}

fn config(diff_ids: &[Digest]) -> Vec<u8> {
    // Deliberately not how serde_json would print it: the id must hash these exact bytes.
    let ids: Vec<String> = diff_ids.iter().map(|d| format!("\"{d}\"")).collect();
    format!(
        "{{\"architecture\":\"amd64\",\"config\":{{\"Cmd\":[\"sh\"],\"Env\":[\"PATH=/bin\"]}},\"created\":\"2024-01-02T03:04:05Z\",  \"os\":\"linux\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[{}]}}}}",
        ids.join(",")
    )
    .into_bytes()
}

/// A legacy docker-archive (dockerd <= 24): `<n>/layer.tar` dirs, `<id>.json`, manifest.json.
/// The second layer dir holds a symlink to the first one's tar when `dup` is set.
fn legacy_archive(layers: &[Vec<u8>], tags: &[&str], dup_symlink: bool) -> (Vec<u8>, Digest) {
    let diff_ids: Vec<Digest> = layers.iter().map(|l| Digest::of(l)).collect();
    let cfg = config(&diff_ids);
    let id = Digest::of(&cfg);
    let mut b = tar::Builder::new(Vec::new());
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let dir = format!("{i:064}");
        entry(
            &mut b,
            &format!("{dir}/"),
            tar::EntryType::Directory,
            b"",
            None,
        );
        entry(
            &mut b,
            &format!("{dir}/VERSION"),
            tar::EntryType::Regular,
            b"1.0",
            None,
        );
        if dup_symlink && i > 0 && layers[i] == layers[0] {
            entry(
                &mut b,
                &format!("{dir}/layer.tar"),
                tar::EntryType::Symlink,
                b"",
                Some(&format!("../{:064}/layer.tar", 0)),
            );
        } else {
            entry(
                &mut b,
                &format!("{dir}/layer.tar"),
                tar::EntryType::Regular,
                l,
                None,
            );
        }
        paths.push(format!("{dir}/layer.tar"));
    }
    entry(
        &mut b,
        &format!("{}.json", id.hex()),
        tar::EntryType::Regular,
        &cfg,
        None,
    );
    let manifest =
        json!([{"Config": format!("{}.json", id.hex()), "RepoTags": tags, "Layers": paths}]);
    entry(
        &mut b,
        "manifest.json",
        tar::EntryType::Regular,
        manifest.to_string().as_bytes(),
        None,
    );
    (b.into_inner().expect("tar"), id)
}

/// A plain OCI layout (no manifest.json) with the given layer blobs (maybe compressed) and a
/// nested index holding an arm64 manifest first, then ours.
fn oci_archive(blobs: &[Vec<u8>], diff_ids: &[Digest], name: &str) -> (Vec<u8>, Digest) {
    let cfg = config(diff_ids);
    let id = Digest::of(&cfg);
    let mut b = tar::Builder::new(Vec::new());
    entry(
        &mut b,
        "oci-layout",
        tar::EntryType::Regular,
        br#"{"imageLayoutVersion":"1.0.0"}"#,
        None,
    );
    let put = |b: &mut tar::Builder<Vec<u8>>, data: &[u8]| -> Digest {
        let d = Digest::of(data);
        entry(
            b,
            &format!("blobs/sha256/{}", d.hex()),
            tar::EntryType::Regular,
            data,
            None,
        );
        d
    };
    let layers: Vec<_> = blobs
        .iter()
        .map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": Digest::of(l).to_string(), "size": l.len()}))
        .collect();
    for l in blobs {
        put(&mut b, l);
    }
    put(&mut b, &cfg);
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": id.to_string(), "size": cfg.len()},
        "layers": layers}).to_string();
    let m = put(&mut b, manifest.as_bytes());
    let nested = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": Digest::of(b"elsewhere").to_string(), "size": 9,
         "platform": {"architecture": "arm64", "os": "linux"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m.to_string(), "size": manifest.len(),
         "platform": {"architecture": berth_image::go_arch(), "os": "linux"}}]}).to_string();
    let n = put(&mut b, nested.as_bytes());
    let index = json!({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": n.to_string(), "size": nested.len(),
         "annotations": {"org.opencontainers.image.ref.name": name}}]});
    entry(
        &mut b,
        "index.json",
        tar::EntryType::Regular,
        index.to_string().as_bytes(),
        None,
    );
    (b.into_inner().expect("tar"), id)
}

/// Blobs, unpacked layers and images in a data root: what a failed load must not change.
fn store_state(
    dir: &Path,
    svc: &ImageService,
) -> (BTreeSet<String>, BTreeSet<String>, usize, usize) {
    let names = |p: &Path| -> BTreeSet<String> {
        fs::read_dir(p)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let l = fs::read_dir(dir.join("overlay/l"))
        .map(|r| r.count())
        .unwrap_or(0);
    let ingest = fs::read_dir(dir.join("content/ingest"))
        .map(|r| r.count())
        .unwrap_or(0);
    let images = svc.list(true, &Default::default()).expect("list").len();
    let _ = l;
    (
        names(&dir.join("content/blobs/sha256")),
        names(&dir.join("overlay")),
        ingest,
        images,
    )
}

#[test]
fn save_then_load_keeps_id_layers_and_tags() {
    let a = tempfile::tempdir().expect("tmp");
    let svc = service(a.path());
    let (archive, id) = legacy_archive(
        &[layer(&[("bin/a", b"one")]), layer(&[("bin/b", b"two")])],
        &["me/app:v1"],
        false,
    );
    let report = svc
        .load_archive(&archive[..], LoadLimits::default())
        .expect("load legacy");
    assert_eq!(report.ids, vec![id.to_string()]);
    assert_eq!(report.messages, vec!["Loaded image: me/app:v1".to_string()]);
    svc.tag("me/app:v1", "me/app", "v2").expect("tag");

    let plan = svc.save_plan(&["me/app".to_string()]).expect("plan");
    let mut out = Vec::new();
    svc.save(&plan, &mut out).expect("save");

    // The archive is an OCI layout plus manifest.json and repositories.
    let mut names = BTreeSet::new();
    let mut manifest = Vec::new();
    let mut ar = tar::Archive::new(&out[..]);
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        if let Some(hex) = name.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
            assert_eq!(Digest::of(&data).hex(), hex, "blob {name}");
        }
        if name == "manifest.json" {
            manifest = data;
        }
        names.insert(name);
    }
    for f in ["oci-layout", "index.json", "manifest.json", "repositories"] {
        assert!(names.contains(f), "{f} in {names:?}");
    }
    let m: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest");
    assert_eq!(m[0]["Config"], format!("blobs/sha256/{}", id.hex()));
    assert_eq!(m[0]["RepoTags"], json!(["me/app:v1", "me/app:v2"]));

    // Into a fresh store: same id, same layers.
    let b = tempfile::tempdir().expect("tmp");
    let svc2 = service(b.path());
    let report = svc2
        .load_archive(&out[..], LoadLimits::default())
        .expect("load ours");
    assert_eq!(report.ids, vec![id.to_string()]);
    let img1 = svc.resolve("me/app:v2").expect("resolve");
    let img2 = svc2.resolve("me/app:v2").expect("resolve");
    assert_eq!(img1.id, img2.id);
    assert_eq!(img1.chain_ids, img2.chain_ids);
    assert_eq!(
        fs::read(img2.layer_dirs[1].join("bin/b")).expect("file"),
        b"two"
    );

    // Loading again moves nothing and adds nothing.
    let before = store_state(b.path(), &svc2);
    svc2.load_archive(&out[..], LoadLimits::default())
        .expect("again");
    assert_eq!(store_state(b.path(), &svc2), before);
}

#[test]
fn legacy_symlinked_duplicate_layers_and_untagged_images() {
    let d = tempfile::tempdir().expect("tmp");
    let svc = service(d.path());
    let l = layer(&[("x", b"same")]);
    let (archive, id) = legacy_archive(&[l.clone(), l], &[], true);
    let report = svc
        .load_archive(&archive[..], LoadLimits::default())
        .expect("load");
    assert_eq!(report.messages, vec![format!("Loaded image ID: {id}")]);
    let img = svc.resolve(&id.to_string()).expect("resolve");
    assert_eq!(img.chain_ids.len(), 2);
    assert!(img.repo_tags.is_empty());
}

#[test]
fn oci_layout_with_gzip_and_zstd_layers_picks_the_host_platform() {
    let d = tempfile::tempdir().expect("tmp");
    let svc = service(d.path());
    let l1 = layer(&[("etc/one", b"1")]);
    let l2 = layer(&[("etc/two", b"2")]);
    let blobs = vec![gzip(&l1), zstd::encode_all(&l2[..], 3).expect("zstd")];
    let (archive, id) = oci_archive(
        &blobs,
        &[Digest::of(&l1), Digest::of(&l2)],
        "example.com/team/app:1.0",
    );
    // The nested index names an arm64 manifest whose blob is absent: picking it would fail.
    let report = svc
        .load_archive(&archive[..], LoadLimits::default())
        .expect("load");
    assert_eq!(report.ids, vec![id.to_string()]);
    assert_eq!(
        report.messages,
        vec!["Loaded image: example.com/team/app:1.0".to_string()]
    );
    let img = svc.resolve("example.com/team/app:1.0").expect("tag");
    assert_eq!(
        fs::read(img.layer_dirs[1].join("etc/two")).expect("two"),
        b"2"
    );
    // A gzipped whole archive loads too, and a retag reports the move as dockerd does.
    let (archive2, id2) = oci_archive(&[gzip(&l2)], &[Digest::of(&l2)], "example.com/team/app:1.0");
    let report = svc
        .load_archive(&gzip(&archive2)[..], LoadLimits::default())
        .expect("gz archive");
    assert_eq!(report.messages[0], format!("The image example.com/team/app:1.0 already exists, renaming the old one with ID {id} to empty string"));
    assert_eq!(
        svc.resolve("example.com/team/app:1.0").expect("tag").id,
        id2.to_string()
    );
}

fn assert_refused(
    svc: &ImageService,
    dir: &Path,
    archive: &[u8],
    limits: LoadLimits,
    needle: &str,
) {
    let before = store_state(dir, svc);
    let err = svc.load_archive(archive, limits).expect_err(needle);
    let e = berth_types::Error::from(err);
    assert!(
        e.message.contains(needle),
        "{:?} does not contain {needle:?}",
        e.message
    );
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
    assert_eq!(store_state(dir, svc), before, "after {needle}");
}

#[test]
fn hostile_archives_are_refused_and_leave_nothing() {
    let d = tempfile::tempdir().expect("tmp");
    let svc = service(d.path());
    // One good image first, so "unchanged" is not just "empty".
    let (good, _) = legacy_archive(&[layer(&[("ok", b"ok")])], &["good:1"], false);
    svc.load_archive(&good[..], LoadLimits::default())
        .expect("good");
    let lim = LoadLimits::default();

    // A first good layer gets stored and unpacked before the second one fails: both go.
    let escape = {
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, "../escaped", tar::EntryType::Regular, b"x", None);
        b.into_inner().expect("tar")
    };
    let (a, _) = legacy_archive(&[layer(&[("fine", b"fine")]), escape], &["bad:1"], false);
    assert_refused(&svc, d.path(), &a, lim, "is outside of \"/\"");

    // A layer whose bytes do not hash to the config's diff id.
    let (mut a, _) = legacy_archive(&[layer(&[("fine", b"fine")])], &["bad:2"], false);
    let pos = a.windows(4).position(|w| w == b"fine").expect("content");
    // Flip a byte of the layer member: it no longer hashes to the diff id.
    a[pos] = b'F';
    assert_refused(&svc, d.path(), &a, lim, "invalid diffID for layer 0");

    // A truncated gzip layer.
    let l = layer(&[("big", &vec![7u8; 100_000])]);
    let mut gz = gzip(&l);
    gz.truncate(gz.len() / 2);
    let (a, _) = oci_archive(&[gz.clone()], &[Digest::of(&l)], "bad:3");
    assert_refused(&svc, d.path(), &a, lim, "reading image archive");

    // One bad layer among good ones unpacked beside it: the good ones go too.
    let good1 = layer(&[("one", &vec![1u8; 300_000])]);
    let good2 = layer(&[("two", &vec![2u8; 300_000])]);
    let (a, _) = oci_archive(
        &[gzip(&good1), gz.clone(), good2.clone()],
        &[Digest::of(&good1), Digest::of(&l), Digest::of(&good2)],
        "bad:6",
    );
    assert_refused(&svc, d.path(), &a, lim, "reading image archive");

    // A decompression bomb against a small limit.
    let bomb = layer(&[("zeros", &vec![0u8; 4 << 20])]);
    let (a, _) = oci_archive(&[gzip(&bomb)], &[Digest::of(&bomb)], "bad:4");
    assert_refused(
        &svc,
        d.path(),
        &a,
        LoadLimits {
            max_layer_bytes: 1 << 20,
        },
        "larger than the limit",
    );

    // An OCI blob whose content does not match its name.
    let (mut a, _) = oci_archive(
        &[gzip(&layer(&[("f", b"f")]))],
        &[Digest::of(&layer(&[("f", b"f")]))],
        "bad:5",
    );
    let pos = a
        .windows(10)
        .position(|w| w == b"\"os\":\"linu")
        .expect("config");
    a[pos + 2] = b'O';
    assert_refused(&svc, d.path(), &a, lim, "does not match its digest");

    // Member names outside the archive.
    let mut b = tar::Builder::new(Vec::new());
    entry(
        &mut b,
        "../../manifest.json",
        tar::EntryType::Regular,
        b"[]",
        None,
    );
    assert_refused(
        &svc,
        d.path(),
        &b.into_inner().expect("tar"),
        lim,
        "path outside of the archive",
    );

    // A manifest that names a config through a symlink leaving the archive stays inside it.
    let mut b = tar::Builder::new(Vec::new());
    entry(
        &mut b,
        "cfg",
        tar::EntryType::Symlink,
        b"",
        Some("/etc/passwd"),
    );
    entry(
        &mut b,
        "manifest.json",
        tar::EntryType::Regular,
        br#"[{"Config":"cfg","RepoTags":null,"Layers":[]}]"#,
        None,
    );
    assert_refused(
        &svc,
        d.path(),
        &b.into_inner().expect("tar"),
        lim,
        "cfg not found",
    );

    // No manifest at all; a null manifest.
    assert_refused(
        &svc,
        d.path(),
        &layer(&[("x", b"y")]),
        lim,
        "neither manifest.json nor index.json",
    );
    let mut b = tar::Builder::new(Vec::new());
    entry(
        &mut b,
        "manifest.json",
        tar::EntryType::Regular,
        b"null",
        None,
    );
    assert_refused(
        &svc,
        d.path(),
        &b.into_inner().expect("tar"),
        lim,
        "manifest cannot be null",
    );
    assert_eq!(svc.list(true, &Default::default()).expect("list").len(), 1);
}

//! Image namespaces over one store: the Docker API's `default` and the CRI's `k8s.io` each see
//! their own images and names; an image in both is stored once and outlives the removal from
//! either.

use std::sync::Arc;

use berth_api::Filters;
use berth_image::{ImageService, ImportOptions, DEFAULT_NAMESPACE};
use berth_store::Db;
use berth_types::{Digest, ErrorKind, Reference};

fn rootfs() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let data = b"namespaces\n";
    let mut h = tar::Header::new_gnu();
    h.set_path("etc/motd").expect("path");
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, &data[..]).expect("append");
    b.into_inner().expect("tar")
}

fn names(svc: &ImageService) -> Vec<String> {
    let mut out: Vec<String> = svc
        .list(false, &Filters::default())
        .expect("list")
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .collect();
    out.sort();
    out
}

/// Stores the image `id` of `from` in `to` as a pull does when its layers are present.
fn pull_existing(from: &ImageService, to: &Arc<ImageService>, id: &str, name: &str) {
    let img = from.resolve(id).expect("resolve");
    let digest: Digest = id.parse().expect("digest");
    let config = from.content().read_bytes(&digest).expect("config");
    let session = to.begin_pull().expect("begin");
    let layers: Vec<_> = img
        .chain_ids
        .iter()
        .zip(&img.raw.rootfs.diff_ids)
        .map(|(c, d)| session.existing(c, d).expect("existing").expect("stored"))
        .collect();
    let reference = Reference::parse(name).expect("reference");
    let got = session
        .commit(&config, &layers, &[(reference, false)])
        .expect("commit");
    assert_eq!(got, id);
}

#[test]
fn namespaces_list_their_own_images_over_shared_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path().join("berth.db")).expect("db");
    let docker = ImageService::open(dir.path(), db).expect("open");
    assert_eq!(docker.namespace(), DEFAULT_NAMESPACE);
    let k8s = Arc::new(docker.in_namespace("k8s.io"));
    let id = docker
        .import(
            &rootfs()[..],
            ImportOptions {
                repo_tag: Some(Reference::parse("app:1").expect("ref")),
                ..Default::default()
            },
        )
        .expect("import")
        .id;

    // Only the Docker namespace has it, by name, id or id prefix.
    assert_eq!(names(&docker), ["app:1"]);
    assert!(names(&k8s).is_empty());
    for name in ["app:1", id.as_str(), &id[7..19]] {
        let e = k8s.resolve_id(name).expect_err("not in k8s.io");
        assert_eq!(
            berth_types::Error::from(e).kind,
            ErrorKind::NotFound,
            "{name}"
        );
    }

    // The same image in k8s.io, under another name: one row, one set of blobs and layers.
    let blobs_before = docker.check().expect("check").problems.len();
    pull_existing(&docker, &k8s, &id, "registry.k8s.io/app:2");
    assert_eq!(names(&k8s), ["registry.k8s.io/app:2"]);
    assert_eq!(names(&docker), ["app:1"]);
    assert_eq!(k8s.resolve_id(&id).expect("by id"), id);
    assert!(docker.resolve_id("registry.k8s.io/app:2").is_err());
    assert_eq!(docker.check().expect("check").problems.len(), blobs_before);

    // Removing it from k8s.io keeps Docker's image and its files.
    let none = |_: &str| Vec::new();
    let out = k8s.remove(&id, true, false, &none).expect("rmi k8s.io");
    assert!(out
        .iter()
        .any(|i| i.deleted.as_deref() == Some(id.as_str())));
    assert!(names(&k8s).is_empty());
    let img = docker.resolve("app:1").expect("still in default");
    assert!(img.layer_dirs.iter().all(|d| d.is_dir()), "layers kept");
    assert!(docker.check().expect("check").problems.is_empty());

    // Back in k8s.io, then removed from default: k8s.io keeps it.
    pull_existing(&docker, &k8s, &id, "registry.k8s.io/app:2");
    docker
        .remove("app:1", false, false, &none)
        .expect("rmi default");
    assert!(names(&docker).is_empty());
    assert!(docker.resolve_id(&id).is_err());
    let img = k8s
        .resolve("registry.k8s.io/app:2")
        .expect("still in k8s.io");
    assert!(img.layer_dirs.iter().all(|d| d.is_dir()), "layers kept");

    // The last namespace's removal deletes the files.
    k8s.remove("registry.k8s.io/app:2", false, false, &none)
        .expect("rmi last");
    assert!(img.layer_dirs.iter().all(|d| !d.exists()), "layers removed");
    let digest: Digest = id.parse().expect("digest");
    assert!(
        docker.content().read_bytes(&digest).is_err(),
        "config blob removed"
    );
}

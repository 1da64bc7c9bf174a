//! The CRI's image namespace (`k8s.io`, as containerd's) beside the Docker API's, over one
//! content store; and per-registry host configuration (`--registry-config-dir`, containerd's
//! `hosts.toml`) for every pull, CRI and Docker API alike. Images are served by berth's own
//! `registry serve` on 127.0.0.1; crictl comes from scripts/build-crictl.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::path::Path;

use berth_tests::cri_config::parse;
use berth_tests::crictl::{crictl, hosts_dir, write_hosts_toml, LocalRegistry};
use berth_tests::{unique_name, Client, TestDaemon};

/// Files under `dir`, recursively (blobs of the content store, unpacked layer directories).
fn count_entries(dir: &Path, depth: usize) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            if depth > 1 && e.path().is_dir() {
                count_entries(&e.path(), depth - 1)
            } else {
                1
            }
        })
        .sum()
}

fn blobs(d: &TestDaemon) -> usize {
    count_entries(&d.data_root.join("content/blobs/sha256"), 1)
}

fn layer_dirs(d: &TestDaemon) -> usize {
    count_entries(&d.data_root.join("overlay"), 1)
}

/// `ImageFsInfo`'s used bytes.
fn image_fs_used(sock: &Path) -> u64 {
    let fs = parse(crictl(sock, &["imagefsinfo", "-o", "json"]).success());
    fs["status"]["imageFilesystems"][0]["usedBytes"]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn docker_names(d: &TestDaemon) -> String {
    d.run(
        Client::Docker,
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
    )
    .success()
    .stdout
    .clone()
}

fn cri_names(sock: &Path) -> Vec<String> {
    let list = parse(crictl(sock, &["images", "-o", "json"]).success());
    list["images"]
        .as_array()
        .map(|a| {
            a.iter()
                .flat_map(|i| i["repoTags"].as_array().cloned().unwrap_or_default())
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// An image of its own with a 2 MiB layer of random bytes, committed in the Docker namespace.
fn commit_big(d: &TestDaemon, image: &str) {
    let name = unique_name("big");
    d.run(
        Client::Docker,
        &[
            "run",
            "--name",
            &name,
            "busybox",
            "dd",
            "if=/dev/urandom",
            "of=/blob",
            "bs=1048576",
            "count=2",
        ],
    )
    .success();
    d.run(Client::Docker, &["commit", &name, image]).success();
    d.run(Client::Docker, &["rm", &name]).success();
}

#[test]
fn docker_and_cri_namespaces_list_their_own_images_over_one_store() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let root = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::start(&d, &root.path().join("reg"));

    // busybox is in both (the harness pulled it into k8s.io), with one id.
    let id_of = |name: &str| {
        d.run(Client::Docker, &["image", "inspect", "-f", "{{.Id}}", name])
            .success()
            .stdout
            .trim()
            .to_string()
    };
    let bb = parse(crictl(&sock, &["inspecti", "-o", "json", "busybox"]).success());
    assert_eq!(bb["status"]["id"], id_of("busybox").as_str(), "{bb}");

    // Docker-only and CRI-only images: each list shows its own.
    let docker_only = format!("{}/e2e/{}:1", reg.addr, unique_name("docker-only"));
    super::registry::commit_unique(&d, Client::Docker, &docker_only);
    let cri_only = format!("{}/e2e/{}:1", reg.addr, unique_name("cri-only"));
    super::registry::commit_unique(&d, Client::Docker, &cri_only);
    d.run(Client::Docker, &["push", &cri_only]).success();
    d.run(Client::Docker, &["rmi", &cri_only]).success();
    crictl(&sock, &["pull", &cri_only]).success();
    assert!(docker_names(&d).contains(&docker_only));
    assert!(!docker_names(&d).contains(&cri_only));
    let cri = cri_names(&sock);
    assert!(cri.contains(&cri_only), "{cri:?}");
    assert!(!cri.contains(&docker_only), "{cri:?}");
    crictl(&sock, &["inspecti", &docker_only]).code_is(1);
    d.run(Client::Docker, &["image", "inspect", &cri_only])
        .code_is(1)
        .stderr_has("No such image");
    // Not by id either: the namespaces hold different images.
    let docker_only_id = id_of(&docker_only);
    crictl(&sock, &["inspecti", &docker_only_id]).code_is(1);

    // The same image pulled in both is stored once: the CRI pull of what Docker has adds no
    // blob and no layer.
    let shared = format!("{}/e2e/{}:1", reg.addr, unique_name("shared"));
    commit_big(&d, &shared);
    d.run(Client::Docker, &["push", &shared]).success();
    let shared_id = id_of(&shared);
    let (blobs_before, layers_before) = (blobs(&d), layer_dirs(&d));
    let used_before = image_fs_used(&sock);
    crictl(&sock, &["pull", &shared])
        .success()
        .stdout_has(&shared_id);
    assert_eq!(blobs(&d), blobs_before, "no blob stored twice");
    assert_eq!(layer_dirs(&d), layers_before, "no layer unpacked twice");
    let used_both = image_fs_used(&sock);
    assert!(
        used_both.abs_diff(used_before) < 512 * 1024,
        "ImageFsInfo {used_before} -> {used_both} for an image already stored"
    );

    // Removing it from the Docker API keeps the CRI's (and its 2 MiB layer).
    d.run(Client::Docker, &["rmi", &shared]).success();
    d.run(Client::Docker, &["image", "inspect", &shared])
        .code_is(1);
    let st = parse(crictl(&sock, &["inspecti", "-o", "json", &shared]).success());
    assert_eq!(st["status"]["id"], shared_id.as_str(), "{st}");
    assert!(
        image_fs_used(&sock).abs_diff(used_both) < 512 * 1024,
        "the layer stays while k8s.io holds the image"
    );

    // Back in Docker (pulled again), then removed from the CRI: Docker keeps it and runs it.
    d.run(Client::Docker, &["pull", &shared]).success();
    crictl(&sock, &["rmi", &shared]).success();
    crictl(&sock, &["inspecti", &shared]).code_is(1);
    assert_eq!(id_of(&shared), shared_id);
    d.run(
        Client::Docker,
        &[
            "run",
            "--rm",
            &shared,
            "sh",
            "-c",
            "test -s /blob && echo ok",
        ],
    )
    .success()
    .stdout_has("ok");

    // Gone from both: the layer's bytes are freed, as ImageFsInfo shows.
    d.run(Client::Docker, &["rmi", &shared]).success();
    let used_after = image_fs_used(&sock);
    assert!(
        used_after + 2 * 1024 * 1024 <= used_both + 256 * 1024,
        "ImageFsInfo {used_both} -> {used_after} after the last removal"
    );
    assert!(blobs(&d) < blobs_before, "the image's blobs are collected");

    // busybox is untouched in both.
    crictl(&sock, &["inspecti", "busybox"]).success();
    d.run(Client::Docker, &["image", "inspect", "busybox"])
        .success();
}

/// Pushes busybox to `reg` as `<reg>/pause:3.9` and returns its id.
fn push_pause(d: &TestDaemon, reg: &LocalRegistry) -> String {
    let local = format!("{}/pause:3.9", reg.addr);
    d.run(Client::Docker, &["tag", "busybox", &local]).success();
    d.run(Client::Docker, &["push", &local]).success();
    d.run(Client::Docker, &["rmi", &local]).success();
    d.run(
        Client::Docker,
        &["image", "inspect", "-f", "{{.Id}}", "busybox"],
    )
    .success()
    .stdout
    .trim()
    .to_string()
}

#[test]
fn hosts_toml_serves_registry_k8s_io_from_a_local_registry_to_cri_and_docker() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let root = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::start(&d, &root.path().join("reg"));
    let id = push_pause(&d, &reg);

    // A plain-HTTP mirror tried first; the upstream (`server`) is never reached when it works
    // (a closed port here: the test never leaves 127.0.0.1).
    write_hosts_toml(
        &d,
        "registry.k8s.io",
        &format!(
            "server = \"http://127.0.0.1:1\"\n\n[host.\"http://{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            reg.addr
        ),
    );
    crictl(&sock, &["pull", "registry.k8s.io/pause:3.9"])
        .success()
        .stdout_has(&id);
    let st = parse(
        crictl(
            &sock,
            &["inspecti", "-o", "json", "registry.k8s.io/pause:3.9"],
        )
        .success(),
    );
    // The same image as busybox (one id), under both names.
    let list = |key: &str| -> Vec<String> {
        st["status"][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        list("repoTags").contains(&"registry.k8s.io/pause:3.9".to_string()),
        "{st}"
    );
    assert!(
        list("repoDigests")
            .iter()
            .any(|d| d.starts_with("registry.k8s.io/pause@sha256:")),
        "{st}"
    );
    // The Docker API's pulls use the same configuration.
    d.run(Client::Docker, &["pull", "registry.k8s.io/pause:3.9"])
        .success()
        .stdout_has("registry.k8s.io/pause:3.9");
    assert!(docker_names(&d).contains("registry.k8s.io/pause:3.9"));

    // A mirror that fails hands over to the `server`; `server` alone may be plain HTTP.
    write_hosts_toml(
        &d,
        "k8s.gcr.io",
        &format!(
            "server = \"http://{}\"\n\n[host.\"http://127.0.0.1:1\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            reg.addr
        ),
    );
    crictl(&sock, &["pull", "k8s.gcr.io/pause:3.9"])
        .success()
        .stdout_has(&id);
    d.run(Client::Docker, &["pull", "k8s.gcr.io/pause:3.9"])
        .success();

    // A mirror without the pull capability is not used for pulls: the server (closed) is, and
    // the pull fails.
    write_hosts_toml(
        &d,
        "quay.io",
        &format!(
            "server = \"http://127.0.0.1:1\"\n\n[host.\"http://{}\"]\n  capabilities = [\"push\"]\n",
            reg.addr
        ),
    );
    crictl(&sock, &["pull", "quay.io/pause:3.9"])
        .code_is(1)
        .stderr_has("failed to pull and unpack image");

    // `_default` configures every registry without a directory of its own (gcr.io here).
    write_hosts_toml(
        &d,
        "_default",
        &format!("server = \"http://{}\"\n", reg.addr),
    );
    crictl(&sock, &["pull", "gcr.io/pause:3.9"])
        .success()
        .stdout_has(&id);

    // Edits apply to the next pull; a file that does not parse fails the pull and names it.
    write_hosts_toml(&d, "registry.k8s.io", "server = [\n");
    let bad = crictl(&sock, &["pull", "registry.k8s.io/pause:3.9"]);
    bad.code_is(1).stderr_has(
        &hosts_dir(&d)
            .join("registry.k8s.io/hosts.toml")
            .display()
            .to_string(),
    );
    d.run(Client::Docker, &["pull", "registry.k8s.io/pause:3.9"])
        .code_is(1)
        .stderr_has("hosts.toml");
}

#[test]
fn daemon_json_registry_config_dir_applies_to_docker_pulls() {
    let Some(d) = TestDaemon::start_with_setup(&["--config-file", "{dir}/daemon.json"], |dir| {
        let text =
            serde_json::json!({ "registry-config-dir": dir.join("hosts").display().to_string() })
                .to_string();
        std::fs::write(dir.join("daemon.json"), text).unwrap();
    }) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::start(&d, &root.path().join("reg"));
    let id = push_pause(&d, &reg);
    let dir = d.dir().join("hosts").join("registry.k8s.io");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("hosts.toml"),
        format!("server = \"http://{}\"\n", reg.addr),
    )
    .unwrap();
    d.run(Client::Docker, &["pull", "registry.k8s.io/pause:3.9"])
        .success();
    let got = d
        .run(
            Client::Docker,
            &[
                "image",
                "inspect",
                "-f",
                "{{.Id}}",
                "registry.k8s.io/pause:3.9",
            ],
        )
        .success()
        .stdout
        .trim()
        .to_string();
    assert_eq!(got, id);
}

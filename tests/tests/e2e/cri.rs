//! berthd's CRI v1 endpoint driven by `crictl` (cri-tools, built by scripts/build-crictl): the
//! runtime's identity, status and configuration, and the image service over the image store
//! the Docker API uses, in the CRI's own namespace (`k8s.io`; tests/tests/e2e/cri_images.rs
//! has the namespaces and registry hosts). A missing crictl fails these tests.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use berth_tests::cri_config::parse;
use berth_tests::cri_grpc::grpc;
use berth_tests::crictl::crictl;
use berth_tests::{unique_name, Client, TestDaemon};

use super::registry::Served;

#[test]
fn version_status_and_runtime_config() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    assert!(sock.exists(), "no CRI socket at {}", sock.display());

    let v = crictl(&sock, &["version"]);
    v.success()
        .stdout_has("RuntimeName:  berth")
        .stdout_has("RuntimeApiVersion:  v1")
        .stdout_has("Version:  0.1.0");
    let engine = d.run(Client::Docker, &["version", "-f", "{{.Server.Version}}"]);
    v.stdout_has(&format!("RuntimeVersion:  {}", engine.stdout.trim()));

    let info = parse(crictl(&sock, &["info", "-o", "json"]).success());
    let conditions = info["status"]["conditions"].as_array().unwrap();
    let cond = |t: &str| {
        conditions
            .iter()
            .find(|c| c["type"] == t)
            .unwrap_or_else(|| panic!("no {t} condition in {info}"))
            .clone()
    };
    assert_eq!(cond("RuntimeReady")["status"], true, "{info}");
    // Ready exactly when the host has a CNI network configuration (containerd's rule).
    let has_cni_conf = std::fs::read_dir("/etc/cni/net.d")
        .map(|dir| {
            dir.flatten().any(|e| {
                let p = e.path();
                p.is_file()
                    && matches!(
                        p.extension().and_then(|x| x.to_str()),
                        Some("conf" | "conflist" | "json")
                    )
            })
        })
        .unwrap_or(false);
    let net = cond("NetworkReady");
    assert_eq!(net["status"], has_cni_conf, "{info}");
    if !has_cni_conf {
        assert_eq!(net["reason"], "NetworkPluginNotReady", "{info}");
    }
    // The verbose info (crictl asks for it) carries berthd's CRI configuration.
    assert_eq!(info["config"]["cgroupDriver"], "cgroupfs", "{info}");
    assert_eq!(
        info["config"]["dataRoot"],
        d.data_root.display().to_string(),
        "{info}"
    );
    assert_eq!(info["config"]["podCIDR"], "", "{info}");

    crictl(&sock, &["runtime-config"])
        .success()
        .stdout_has("CGROUPFS");

    // kubelet's pod CIDR is recorded and shown; an empty one leaves it as it was.
    crictl(
        &sock,
        &["update-runtime-config", "--pod-cidr", "10.244.7.0/24"],
    )
    .success();
    let info = parse(crictl(&sock, &["info", "-o", "json"]).success());
    assert_eq!(info["config"]["podCIDR"], "10.244.7.0/24", "{info}");
    crictl(&sock, &["update-runtime-config", "--pod-cidr", ""]).success();
    let info = parse(crictl(&sock, &["info", "-o", "json"]).success());
    assert_eq!(info["config"]["podCIDR"], "10.244.7.0/24", "{info}");

    // No pods yet (tests/tests/e2e/cri_pods.rs runs them).
    assert!(crictl(&sock, &["pods", "-q"]).success().out().is_empty());
}

#[test]
fn images_inspecti_and_imagefsinfo_over_the_docker_store() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let id = d
        .run(
            Client::Docker,
            &["image", "inspect", "-f", "{{.Id}}", "busybox"],
        )
        .success()
        .stdout
        .trim()
        .to_string();

    // The busybox fixture, pulled into the CRI's namespace by the harness, keeps its id.
    let list = parse(crictl(&sock, &["images", "-o", "json"]).success());
    let images = list["images"].as_array().unwrap();
    let bb = images
        .iter()
        .find(|i| i["id"] == id.as_str())
        .unwrap_or_else(|| panic!("busybox {id} not in {list}"));
    assert_eq!(
        bb["repoTags"][0], "docker.io/library/busybox:latest",
        "{list}"
    );
    assert!(
        bb["size"].as_str().unwrap().parse::<u64>().unwrap() > 0,
        "{list}"
    );
    crictl(&sock, &["images"])
        .success()
        .stdout_has("docker.io/library/busybox")
        .stdout_has(&id.trim_start_matches("sha256:")[..13]);
    // A filter by name.
    let one = parse(crictl(&sock, &["images", "-o", "json", "busybox"]).success());
    assert_eq!(one["images"].as_array().unwrap().len(), 1, "{one}");
    let none = parse(crictl(&sock, &["images", "-o", "json", "nothing-here:1"]).success());
    assert!(
        none["images"].as_array().is_none_or(|a| a.is_empty()),
        "{none}"
    );

    // inspecti: by short name, by qualified name and by id, with the verbose image spec.
    for name in ["busybox", "docker.io/library/busybox:latest", id.as_str()] {
        let st = parse(crictl(&sock, &["inspecti", "-o", "json", name]).success());
        assert_eq!(st["status"]["id"], id.as_str(), "{name}: {st}");
        assert!(
            st["info"]["imageSpec"]["config"]["Cmd"].is_array(),
            "{name}: {st}"
        );
    }
    crictl(&sock, &["inspecti", "no-such-image:1"])
        .code_is(1)
        .stderr_has("no such image");

    let fs = parse(crictl(&sock, &["imagefsinfo", "-o", "json"]).success());
    let usage = &fs["status"]["imageFilesystems"][0];
    assert_eq!(
        usage["fsId"]["mountpoint"],
        d.data_root.join("overlay").display().to_string(),
        "{fs}"
    );
    let used: u64 = usage["usedBytes"]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let inodes: u64 = usage["inodesUsed"]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // busybox's unpacked layer is in there.
    assert!(used > 500_000 && inodes > 10, "{fs}");
}

#[test]
fn pull_with_credentials_and_remove() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let root = tempfile::tempdir().unwrap();
    let users = super::registry_server::htpasswd(root.path(), &[("kube", "s3cret")]);
    let users_arg = users.to_str().unwrap();
    let s = Served::start(
        &root.path().join("data"),
        &["--htpasswd", users_arg, "--auth-realm", "e2e"],
    );
    let image = format!("{}/e2e/{}:1", s.addr, unique_name("cri"));
    // An image of its own (not busybox's id), so that removing it leaves the fixture alone.
    super::registry::commit_unique(&d, Client::Docker, &image);
    d.run_with_input(
        Client::Docker,
        &["login", "-u", "kube", "--password-stdin", &s.addr],
        b"s3cret",
    )
    .success();
    d.run(Client::Docker, &["push", &image]).success();
    // A second name for the same image, for the removal below.
    d.run(Client::Docker, &["tag", &image, &format!("{image}-b")])
        .success();
    d.run(Client::Docker, &["push", &format!("{image}-b")])
        .success();
    let id = d
        .run(
            Client::Docker,
            &["image", "inspect", "-f", "{{.Id}}", &image],
        )
        .success()
        .stdout
        .trim()
        .to_string();
    d.run(Client::Docker, &["rmi", &image, &format!("{image}-b")])
        .success();

    // Without credentials the registry refuses; nothing is stored.
    crictl(&sock, &["pull", &image])
        .code_is(1)
        .stderr_has("failed to pull and unpack image");
    crictl(&sock, &["inspecti", &image]).code_is(1);

    let pulled = crictl(&sock, &["pull", "--creds", "kube:s3cret", &image]);
    pulled.success();
    pulled.stdout_has(&format!("Image is up to date for {id}"));
    // The `auth` form (base64 user:password) works too, on a pull of what is already there.
    crictl(&sock, &["pull", "--auth", "a3ViZTpzM2NyZXQ=", &image])
        .success()
        .stdout_has(&id);
    let st = parse(crictl(&sock, &["inspecti", "-o", "json", &image]).success());
    assert_eq!(st["status"]["repoTags"][0], image.as_str(), "{st}");
    assert!(
        st["status"]["repoDigests"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}@sha256:", image.trim_end_matches(":1"))),
        "{st}"
    );

    // The CRI's own namespace: `docker images` does not list what the CRI pulled.
    let docker_images = d
        .run(
            Client::Docker,
            &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        )
        .success()
        .stdout
        .clone();
    assert!(!docker_images.contains(&image), "{docker_images}");

    // rmi removes the image and every name it has (a second tag goes too), and busybox stays.
    crictl(
        &sock,
        &["pull", "--creds", "kube:s3cret", &format!("{image}-b")],
    )
    .success()
    .stdout_has(&id);
    crictl(&sock, &["rmi", &image])
        .success()
        .stdout_has(&format!("Deleted: {image}"));
    crictl(&sock, &["inspecti", &image]).code_is(1);
    crictl(&sock, &["inspecti", &format!("{image}-b")]).code_is(1);
    crictl(&sock, &["inspecti", "busybox"]).success();
}

#[test]
fn daemon_json_sets_the_socket() {
    let Some(d) = TestDaemon::start_with_setup(&["--config-file", "{dir}/daemon.json"], |dir| {
        let sock = dir.join("from-json.sock");
        let text = serde_json::json!({ "cri-socket": sock.display().to_string() }).to_string();
        std::fs::write(dir.join("daemon.json"), text).unwrap();
    }) else {
        return;
    };
    let sock = d.dir().join("from-json.sock");
    crictl(&sock, &["version"])
        .success()
        .stdout_has("RuntimeName:  berth");
    // The flag's default socket is not served when daemon.json names another.
    assert!(!d.cri_socket().exists());
    // Both as a flag and in the file: refused, with dockerd's wording.
    let cfg = d.dir().join("daemon.json");
    let out = berth_tests::cli::run(
        {
            let mut c = std::process::Command::new(&d.bins.berthd);
            c.args([
                "--config-file",
                cfg.to_str().unwrap(),
                "--cri-socket",
                "/tmp/x.sock",
            ]);
            c
        },
        None,
        std::time::Duration::from_secs(20),
    );
    assert_ne!(out.code, 0);
    out.stderr_has("the following directives are specified both as a flag and in the configuration file: cri-socket: (from flag: /tmp/x.sock, from file:");
}

#[test]
fn the_test_daemon_serves_no_cri_unless_asked() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    assert!(!d.cri_socket().exists());
    let cmdline = std::fs::read_to_string(d.pidfile.clone())
        .ok()
        .and_then(|pid| std::fs::read(format!("/proc/{}/cmdline", pid.trim())).ok())
        .unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("--cri-socket=\0"),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );
}

#[test]
fn absent_images_are_no_error_and_bad_requests_are_refused() {
    use berth_cri::proto::{
        CheckpointPodRequest, ImageSpec, ImageStatusRequest, PullImageRequest, RemoveImageRequest,
    };
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let spec = |name: &str| {
        Some(ImageSpec {
            image: name.to_string(),
            ..Default::default()
        })
    };
    grpc(&d.cri_socket(), async |mut rt, mut img| {
        // RemoveImage of what is not there succeeds (kubelet's image GC may race), twice.
        for _ in 0..2 {
            img.remove_image(RemoveImageRequest {
                image: spec("docker.io/library/not-here:1"),
            })
            .await
            .unwrap();
        }
        // ImageStatus of an absent image: an empty answer, not NotFound.
        let st = img
            .image_status(ImageStatusRequest {
                image: spec("not-here:1"),
                verbose: true,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(st.image.is_none() && st.info.is_empty(), "{st:?}");
        // An empty image name is InvalidArgument for each image RPC.
        let e = img
            .remove_image(RemoveImageRequest { image: spec("") })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        let e = img
            .pull_image(PullImageRequest {
                image: spec("Bad:Name"),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        // What is not served yet says so.
        let e = rt
            .checkpoint_pod(CheckpointPodRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unimplemented, "{e:?}");
    });
    // busybox is untouched by all of it.
    crictl(&d.cri_socket(), &["inspecti", "busybox"]).success();
}

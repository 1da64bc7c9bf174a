//! `berth registry serve` as a user runs it: the built binary on 127.0.0.1, driven over HTTP.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_tests::http::{request_tcp, Response};
use berth_tests::paths::Binaries;
use sha2::{Digest as _, Sha256};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A running `berth registry serve`; killed and reaped on drop.
pub(crate) struct Served {
    child: Child,
    pub(crate) addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    pub(crate) fn start(root: &Path, extra: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", root, extra)
    }

    /// [`Served::start`] listening on `addr` (port 0: any).
    pub(crate) fn start_on(addr: &str, root: &Path, extra: &[&str]) -> Self {
        let bins = Binaries::locate().unwrap();
        let mut child = Command::new(&bins.berth)
            .args(["registry", "serve", "--addr", addr, "--root"])
            .arg(root)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("registry listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Self { child, addr }
    }

    pub(crate) fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        request_tcp(&self.addr, method, path, headers, body, TIMEOUT).unwrap()
    }
}

pub(crate) fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

pub(crate) fn error_code(r: &Response) -> String {
    r.json().unwrap()["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn push_pull_and_refusals() {
    let root = tempfile::tempdir().unwrap();
    let s = Served::start(root.path(), &[]);
    let r = s.req("GET", "/v2/", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );

    // Config monolithic, layer in two chunks.
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let cd = digest(config);
    let r = s.req(
        "POST",
        &format!("/v2/e2e/app/blobs/uploads/?digest={cd}"),
        &[],
        config,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let layer: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let ld = digest(&layer);
    let r = s.req("POST", "/v2/e2e/app/blobs/uploads/", &[], b"");
    assert_eq!(r.status, 202);
    let loc = r.header("location").unwrap().to_string();
    let r = s.req(
        "PATCH",
        &loc,
        &[("Content-Range", "0-59999")],
        &layer[..60_000],
    );
    assert_eq!(r.header("range"), Some("0-59999"));
    let r = s.req(
        "PATCH",
        &loc,
        &[("Content-Range", "70000-99999")],
        &layer[70_000..],
    );
    assert_eq!(r.status, 416);
    let r = s.req(
        "PATCH",
        &loc,
        &[("Content-Range", "60000-99999")],
        &layer[60_000..],
    );
    assert_eq!(r.status, 202);
    let r = s.req("PUT", &format!("{loc}?digest={ld}"), &[], b"");
    assert_eq!(r.status, 201, "{}", r.text());

    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}],
    }))
    .unwrap();
    let ct = ("Content-Type", "application/vnd.oci.image.manifest.v1+json");
    let r = s.req("PUT", "/v2/e2e/app/manifests/v1", &[ct], &manifest);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("docker-content-digest"),
        Some(digest(&manifest).as_str())
    );

    let r = s.req("GET", "/v2/e2e/app/manifests/v1", &[], b"");
    assert_eq!(r.body, manifest);
    let r = s.req("GET", &format!("/v2/e2e/app/blobs/{ld}"), &[], b"");
    assert_eq!(r.body, layer);
    let r = s.req(
        "GET",
        &format!("/v2/e2e/app/blobs/{ld}"),
        &[("Range", "bytes=10-19")],
        b"",
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, layer[10..20].to_vec());
    let r = s.req("GET", "/v2/_catalog", &[], b"");
    assert_eq!(
        r.json().unwrap()["repositories"],
        serde_json::json!(["e2e/app"])
    );

    // Refusals: a `../` name, a wrong digest, a manifest naming a missing blob.
    let r = s.req("POST", "/v2/../../etc/blobs/uploads/", &[], b"");
    assert_eq!((r.status, error_code(&r).as_str()), (400, "NAME_INVALID"));
    let r = s.req(
        "POST",
        &format!("/v2/e2e/app/blobs/uploads/?digest={cd}"),
        &[],
        b"other",
    );
    assert_eq!((r.status, error_code(&r).as_str()), (400, "DIGEST_INVALID"));
    let missing = String::from_utf8(manifest.clone())
        .unwrap()
        .replace(&ld, &digest(b"gone"));
    let r = s.req("PUT", "/v2/e2e/app/manifests/v2", &[ct], missing.as_bytes());
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    drop(s);

    // The same root, read-only: pulls work, pushes are refused.
    let ro = Served::start(root.path(), &["--read-only"]);
    assert_eq!(
        ro.req("GET", "/v2/e2e/app/manifests/v1", &[], b"").body,
        manifest
    );
    let r = ro.req("PUT", "/v2/e2e/app/manifests/v3", &[ct], &manifest);
    assert_eq!((r.status, error_code(&r).as_str()), (405, "UNSUPPORTED"));
    let r = ro.req("GET", "/v2/e2e/app/tags/list", &[], b"");
    assert_eq!(r.json().unwrap()["tags"], serde_json::json!(["v1"]));
}

pub(crate) use berth_tests::refdockerd::RefDockerd;

/// The reference client against berth's server: dockerd pushes (uploads, HEAD checks, a
/// cross-repository mount) and pulls back by tag and by digest.
#[test]
fn reference_dockerd_pushes_and_pulls() {
    let Some(dockerd) = RefDockerd::start_for_test() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let s = Served::start(root.path(), &[]);
    let busybox = berth_tests::daemon::busybox_tar();
    let busybox = busybox.to_str().unwrap();
    dockerd.ok(&["import", "-c", "CMD [\"sh\"]", busybox, "busybox:latest"]);
    let first = format!("{}/lib/busybox:v1", s.addr);
    let second = format!("{}/other/bb:v2", s.addr);
    dockerd.ok(&["tag", "busybox:latest", &first]);
    let pushed = dockerd.ok(&["push", &first]);
    let digest = pushed
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in {pushed:?}"))
        .to_string();
    dockerd.ok(&["tag", "busybox:latest", &second]);
    let mounted = dockerd.ok(&["push", &second]);
    assert!(mounted.contains("Mounted from lib/busybox"), "{mounted}");

    let r = s.req("GET", "/v2/_catalog", &[], b"");
    assert_eq!(
        r.json().unwrap()["repositories"],
        serde_json::json!(["lib/busybox", "other/bb"])
    );

    dockerd.ok(&["rmi", &first, &second, "busybox:latest"]);
    let by_digest = format!("{}/lib/busybox@{digest}", s.addr);
    dockerd.ok(&["pull", &first]);
    dockerd.ok(&["pull", &by_digest]);
    let repo_digests = dockerd.ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", &first]);
    assert!(repo_digests.contains(&digest), "{repo_digests}");
}

/// Every file named `hex` under `root` (the registry's blob files).
fn files_named(root: &Path, hex: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n.to_string_lossy() == hex) {
                out.push(p);
            }
        }
    }
    out
}

/// Commits `image`: busybox plus a layer with a file no other image has (`/unique`).
pub(crate) fn commit_unique(d: &berth_tests::TestDaemon, c: berth_tests::Client, image: &str) {
    let name = berth_tests::unique_name("cu");
    d.run(
        c,
        &[
            "run",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            &format!("echo {name} > /unique"),
        ],
    )
    .success();
    d.run(c, &["commit", &name, image]).success();
    d.run(c, &["rm", &name]).success();
}

mod client {
    use super::*;
    use berth_tests::{unique_name, Client, TestDaemon};

    both_clients! {
        fn push_then_pull_into_another_daemon(d, c) {
            let root = tempfile::tempdir().unwrap();
            let s = Served::start(root.path(), &[]);
            let repo = format!("{}/e2e/{}", s.addr, unique_name("bb"));
            let image = format!("{repo}:v1");
            // busybox plus a layer of its own: the other daemons have busybox's layer already.
            commit_unique(d, c, &image);
            let id = d.inspect(c, &image, "{{.Id}}");
            let pushed = d.run(c, &["push", &image]);
            pushed.success()
                .stdout_has(&format!("The push refers to repository [{repo}]"))
                .stdout_has(": Pushed")
                .stdout_has("v1: digest: sha256:");
            let digest = pushed.out().lines().find_map(|l| l.split("digest: ").nth(1)).and_then(|r| r.split(' ').next()).unwrap().to_string();
            d.run(c, &["push", &image]).success().stdout_has(": Layer already exists");

            let Some(other) = TestDaemon::start() else { return };
            let pulled = other.run(c, &["pull", &image]);
            pulled.success()
                .stdout_has(&format!("v1: Pulling from {repo}"))
                .stdout_has(": Already exists")
                .stdout_has(": Pull complete")
                .stdout_has(&format!("Digest: {digest}"))
                .stdout_has(&format!("Status: Downloaded newer image for {image}"));
            assert_eq!(other.inspect(c, &image, "{{.Id}}"), id, "the same image id on both sides");
            assert_eq!(other.inspect(c, &image, "{{index .RepoDigests 0}}"), format!("{repo}@{digest}"));
            other.run(c, &["run", "--rm", &image, "echo", "pulled"]).success().stdout_has("pulled");
            other.run(c, &["pull", &image]).success().stdout_has(&format!("Status: Image is up to date for {image}"));
            other.run(c, &["pull", &format!("{repo}@{digest}")]).success();
            other.run(c, &["pull", &format!("{repo}:nope")]).code_is(1).stderr_has("not found");

            // run pulls what is missing.
            let fresh = TestDaemon::start().unwrap();
            fresh.run(c, &["run", "--rm", &image, "echo", "auto"]).success().stdout_has("auto").stderr_has(&format!("Unable to find image '{image}' locally"));
        }

        fn a_corrupt_blob_is_refused_and_leaves_nothing(d, c) {
            let root = tempfile::tempdir().unwrap();
            let s = Served::start(root.path(), &[]);
            let image = format!("{}/e2e/{}:v1", s.addr, unique_name("bad"));
            commit_unique(d, c, &image);
            let pushed = d.run(c, &["push", &image]);
            pushed.success();
            // Flip the stored layer's bytes behind the registry's back.
            let manifest = s.req("GET", &format!("/v2/{}/manifests/v1", image.split_once('/').unwrap().1.trim_end_matches(":v1")), &[("Accept", "application/vnd.docker.distribution.manifest.v2+json")], b"");
            assert_eq!(manifest.status, 200, "{}", manifest.text());
            let doc: serde_json::Value = serde_json::from_str(&manifest.text()).unwrap();
            // The image's own layer (the other daemon has busybox's).
            let layer = doc["layers"][1]["digest"].as_str().unwrap().to_string();
            let files = files_named(root.path(), layer.trim_start_matches("sha256:"));
            assert!(!files.is_empty(), "layer file not found under the registry root");
            let mut flipped = 0;
            for f in &files {
                let mut bytes = std::fs::read(f).unwrap();
                let n = bytes.len();
                // Repository links carry the name too; only the blob has the bytes.
                if n < 64 {
                    continue;
                }
                flipped += 1;
                bytes[n / 2] ^= 0xff;
                std::fs::write(f, bytes).unwrap();
            }
            assert!(flipped > 0, "no blob file to corrupt among {files:?}");
            let Some(other) = TestDaemon::start() else { return };
            let before = other.run(c, &["images", "-a", "-q"]).success().out().to_string();
            other.run(c, &["pull", &image]).code_is(1).stderr_has("digest mismatch");
            assert_eq!(other.run(c, &["images", "-a", "-q"]).success().out(), before, "nothing stored");
            assert_eq!(other.berth(&["system", "check"]).code, 0, "the store is consistent (berth only)");
        }
    }
}

/// Debian's docker-registry with htpasswd Basic auth on 127.0.0.1 (when it is installed).
struct ReferenceRegistry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for ReferenceRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ReferenceRegistry {
    fn start(user: &str, password: &str) -> Option<Self> {
        let have_registry = berth_tests::preflight::require(
            "docker-registry (/usr/bin/docker-registry, the reference registry)",
            Path::new("/usr/bin/docker-registry").is_file(),
            "scripts/install-deps installs Debian's docker-registry",
            "BERTH_NO_DOCKER_REGISTRY",
        );
        let have_htpasswd = berth_tests::preflight::require(
            "htpasswd (/usr/bin/htpasswd)",
            Path::new("/usr/bin/htpasswd").is_file(),
            "scripts/install-deps installs apache2-utils",
            berth_tests::preflight::SKIP_VAR,
        );
        if !(have_registry && have_htpasswd) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let hp = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .unwrap();
        std::fs::write(dir.path().join("htpasswd"), &hp.stdout).unwrap();
        let port = berth_tests::host::free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\nhttp:\n  addr: {addr}\nauth:\n  htpasswd:\n    realm: basic-realm\n    path: {root}/htpasswd\n",
            root = dir.path().display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = berth_tests::wait_until(TIMEOUT, || std::net::TcpStream::connect(&addr).is_ok());
        assert!(up, "docker-registry did not start on {addr}");
        Some(Self {
            child,
            addr,
            _dir: dir,
        })
    }
}

mod login {
    use super::*;
    use berth_tests::{unique_name, Client, TestDaemon};

    both_clients! {
        fn login_push_pull_logout_with_basic_auth(d, c) {
            let Some(reg) = ReferenceRegistry::start("alice", "s3cret") else { return };
            d.run(c, &["login", "-u", "alice", "-p", "wrong", &reg.addr])
                .code_is(1)
                .stderr_has(&format!("login attempt to http://{}/v2/ failed with status: 401 Unauthorized", reg.addr));
            d.run_with_input(c, &["login", "-u", "alice", "--password-stdin", &reg.addr], b"s3cret\n")
                .success()
                .stdout_has("Login Succeeded");
            let config = std::fs::read_to_string(d.dir().join("docker-config").join("config.json")).unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
            assert_eq!(v["auths"][reg.addr.as_str()]["auth"], "YWxpY2U6czNjcmV0", "config.json: {config}");

            let image = format!("{}/alice/{}:1", reg.addr, unique_name("bb"));
            d.run(c, &["tag", "busybox", &image]).success();
            d.run(c, &["push", &image]).success().stdout_has(": Pushed");
            d.run(c, &["rmi", &image]).success();
            d.run(c, &["pull", &image]).success().stdout_has("Status: Downloaded newer image");
            d.run(c, &["run", "--rm", &image, "echo", "authed"]).success().stdout_has("authed");

            d.run(c, &["logout", &reg.addr]).success().stdout_has(&format!("Removing login credentials for {}", reg.addr));
            d.run(c, &["rmi", &image]).success();
            // Without credentials the registry refuses (the docker CLI would prompt on a TTY).
            let other = TestDaemon::start().unwrap();
            other.berth(&["pull", &image]).code_is(1).stderr_has("unauthorized");
        }
    }
}

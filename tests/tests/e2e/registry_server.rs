//! berth's registry server beyond the basics: auth (htpasswd Basic, the built-in token issuer),
//! TLS, a config file, `berth registry gc` while serving, berthd's daemon.json `registry`, and
//! a cross-check of status codes against Debian's docker-registry. Driven over real HTTP and
//! by the reference dockerd 20.10 when it is installed.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use berth_tests::host::free_port;
use berth_tests::http::{request_tcp, Response};
use berth_tests::paths::Binaries;
use berth_tests::TestDaemon;

use super::registry::{digest, error_code, RefDockerd, Served};

const TIMEOUT: Duration = Duration::from_secs(10);

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// An htpasswd file with bcrypt entries, made by `htpasswd -B` (apache2-utils) as a user
/// would, or by the bcrypt crate when that is not installed.
pub(crate) fn htpasswd(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("htpasswd");
    let tool = Path::new("/usr/bin/htpasswd").is_file();
    let mut text = String::new();
    for (user, password) in users {
        if tool {
            let out = Command::new("/usr/bin/htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .unwrap();
            assert!(out.status.success());
            text.push_str(String::from_utf8(out.stdout).unwrap().trim());
            text.push('\n');
        } else {
            text.push_str(&format!("{user}:{}\n", bcrypt::hash(password, 5).unwrap()));
        }
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem).
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

fn push_blob(s: &Served, repo: &str, data: &[u8], auth: &[(&str, &str)]) -> String {
    let d = digest(data);
    let r = s.req(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        auth,
        data,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    d
}

fn manifest(config: &str, layers: &[(&str, usize)]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": layers.iter().map(|(d, s)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

const OCI_MANIFEST: (&str, &str) = ("Content-Type", "application/vnd.oci.image.manifest.v1+json");

/// `--htpasswd`, then the same users behind the built-in token issuer, then a config file
/// whose keys the flags override.
#[test]
fn serve_with_basic_auth_tokens_and_a_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let users = htpasswd(tmp.path(), &[("alice", "wonderland"), ("bob", "builder")]);
    let users_arg = users.to_str().unwrap();

    let root = tmp.path().join("root");
    let s = Served::start(&root, &["--htpasswd", users_arg, "--auth-realm", "e2e"]);
    let r = s.req("GET", "/v2/", &[], b"");
    assert_eq!((r.status, error_code(&r).as_str()), (401, "UNAUTHORIZED"));
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"e2e\""));
    let wrong = basic("alice", "queen");
    let r = s.req("GET", "/v2/", &[("Authorization", &wrong)], b"");
    assert_eq!(r.status, 401);
    let r = s.req(
        "POST",
        &format!("/v2/lib/app/blobs/uploads/?digest={}", digest(b"x")),
        &[("Authorization", &wrong)],
        b"x",
    );
    assert_eq!(r.status, 401);
    let alice = basic("alice", "wonderland");
    let auth = [("Authorization", alice.as_str())];
    assert_eq!(s.req("GET", "/v2/", &auth, b"").status, 200);
    let config = push_blob(&s, "lib/app", b"{}", &auth);
    let r = s.req(
        "PUT",
        "/v2/lib/app/manifests/v1",
        &[OCI_MANIFEST, auth[0]],
        &manifest(&config, &[]),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    drop(s);

    // Token auth through berth's own issuer, on the same storage.
    let s = Served::start(&root, &["--htpasswd", users_arg, "--token-issuer"]);
    let r = s.req("GET", "/v2/lib/app/manifests/v1", &[], b"");
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap().to_string();
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"http://{}/token\",service=\"berth-registry\",scope=\"repository:lib/app:pull\"",
            s.addr
        )
    );
    let token_path = "/token?service=berth-registry&scope=repository:lib/app:pull";
    let r = s.req("GET", token_path, &[("Authorization", &wrong)], b"");
    assert_eq!(r.status, 401);
    let r = s.req("GET", token_path, &auth, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let bearer = format!("Bearer {}", r.json().unwrap()["token"].as_str().unwrap());
    let with_token = [("Authorization", bearer.as_str())];
    let r = s.req("GET", "/v2/lib/app/manifests/v1", &with_token, b"");
    assert_eq!(r.status, 200);
    // A token for lib/app is no good for another repository, nor for pushing.
    let r = s.req("GET", "/v2/lib/other/tags/list", &with_token, b"");
    assert_eq!((r.status, error_code(&r).as_str()), (403, "DENIED"));
    let r = s.req("POST", "/v2/lib/app/blobs/uploads/", &with_token, b"");
    assert_eq!((r.status, error_code(&r).as_str()), (403, "DENIED"));
    drop(s);

    // A config file: read-only and htpasswd from the file, the address from the flag.
    let cfg = tmp.path().join("registry.toml");
    std::fs::write(
        &cfg,
        format!(
            "addr = \"127.0.0.1:1\"\nread_only = true\n[auth.htpasswd]\nrealm = \"from-file\"\npath = \"{users_arg}\"\n[gc]\ngrace = \"2h\"\n"
        ),
    )
    .unwrap();
    let s = Served::start(&root, &["--config", cfg.to_str().unwrap()]);
    let r = s.req("GET", "/v2/", &[], b"");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"from-file\"")
    );
    let bob = basic("bob", "builder");
    let r = s.req(
        "GET",
        "/v2/lib/app/manifests/v1",
        &[("Authorization", &bob)],
        b"",
    );
    assert_eq!(r.status, 200);
    let r = s.req(
        "DELETE",
        "/v2/lib/app/manifests/v1",
        &[("Authorization", &bob)],
        b"",
    );
    assert_eq!((r.status, error_code(&r).as_str()), (405, "UNSUPPORTED"));
    drop(s);
    // A config file with an unknown key is refused at start.
    std::fs::write(&cfg, "colour = \"blue\"\n").unwrap();
    let bins = Binaries::locate().unwrap();
    let out = Command::new(&bins.berth)
        .args([
            "registry",
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--root",
        ])
        .arg(&root)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown field `colour`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn age(path: &Path, by: Duration) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - by).unwrap();
}

fn blob_file(root: &Path, d: &str) -> PathBuf {
    root.join("content/blobs/sha256").join(&d[7..])
}

fn berth_gc(root: &Path, extra: &[&str]) -> String {
    let bins = Binaries::locate().unwrap();
    let out = Command::new(&bins.berth)
        .args(["registry", "gc", "--root"])
        .arg(root)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `berth registry gc` against the storage of a running server: only old, unreferenced blobs
/// (and with --delete-untagged, old untagged manifests) go; the server keeps serving the rest.
#[test]
fn gc_command_while_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let s = Served::start(&root, &[]);
    let config = push_blob(&s, "app", b"{}", &[]);
    let layer = push_blob(&s, "app", b"kept layer", &[]);
    let orphan = push_blob(&s, "app", b"orphan", &[]);
    let fresh_orphan = push_blob(&s, "app", b"fresh orphan", &[]);
    let untagged_layer = push_blob(&s, "app", b"untagged layer", &[]);
    let tagged = manifest(&config, &[(&layer, 10)]);
    let untagged = manifest(&config, &[(&untagged_layer, 14)]);
    assert_eq!(
        s.req("PUT", "/v2/app/manifests/v1", &[OCI_MANIFEST], &tagged)
            .status,
        201
    );
    let ud = digest(&untagged);
    assert_eq!(
        s.req(
            "PUT",
            &format!("/v2/app/manifests/{ud}"),
            &[OCI_MANIFEST],
            &untagged
        )
        .status,
        201
    );
    let old = Duration::from_secs(3 * 3600);
    for d in [
        &config,
        &layer,
        &orphan,
        &untagged_layer,
        &digest(&tagged),
        &ud,
    ] {
        age(&blob_file(&root, d), old);
    }
    age(
        &root
            .join("repositories/app/_manifests/revisions/sha256")
            .join(&ud[7..]),
        old,
    );

    let dry = berth_gc(&root, &["--dry-run", "--delete-untagged"]);
    assert!(
        dry.contains(&format!("would delete blob {orphan}")),
        "{dry}"
    );
    assert!(
        dry.contains(&format!("would delete manifest app@{ud}")),
        "{dry}"
    );
    assert!(blob_file(&root, &orphan).is_file());

    let out = berth_gc(&root, &[]);
    assert!(out.contains(&format!("deleted blob {orphan}")), "{out}");
    assert!(!out.contains(&fresh_orphan), "{out}");
    assert_eq!(
        s.req("GET", &format!("/v2/app/blobs/{orphan}"), &[], b"")
            .status,
        404
    );
    assert_eq!(
        s.req("GET", &format!("/v2/app/blobs/{fresh_orphan}"), &[], b"")
            .status,
        200
    );
    assert_eq!(
        s.req("GET", &format!("/v2/app/manifests/{ud}"), &[], b"")
            .status,
        200
    );

    let out = berth_gc(&root, &["--delete-untagged"]);
    assert!(out.contains(&format!("deleted manifest app@{ud}")), "{out}");
    assert!(
        out.contains(&format!("deleted blob {untagged_layer}")),
        "{out}"
    );
    assert_eq!(
        s.req("GET", &format!("/v2/app/manifests/{ud}"), &[], b"")
            .status,
        404
    );
    let r = s.req("GET", "/v2/app/manifests/v1", &[], b"");
    assert_eq!(r.body, tagged);
    for d in [&config, &layer] {
        assert_eq!(
            s.req("GET", &format!("/v2/app/blobs/{d}"), &[], b"").status,
            200
        );
    }
    // A periodic collection inside the server does the same on its own.
    drop(s);
    let orphan2 = {
        let s = Served::start(&root, &[]);
        push_blob(&s, "app", b"second orphan", &[])
    };
    age(&blob_file(&root, &orphan2), old);
    let s = Served::start(&root, &["--gc-interval", "1", "--gc-grace", "1h"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while blob_file(&root, &orphan2).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "periodic gc did not run"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.req("GET", "/v2/app/manifests/v1", &[], b"").body, tagged);
}

/// `/etc/docker/certs.d/<host:port>/ca.crt` for the reference dockerd; removed on drop.
struct CertsD(PathBuf);

impl CertsD {
    fn install(addr: &str, ca: &Path) -> Self {
        let dir = Path::new("/etc/docker/certs.d").join(addr);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(ca, dir.join("ca.crt")).unwrap();
        Self(dir)
    }
}

impl Drop for CertsD {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The reference dockerd logs in and pushes over TLS (its CA in certs.d), once with htpasswd
/// Basic auth and once through berth's token issuer, and pulls everything back.
#[test]
fn reference_dockerd_over_tls_with_login() {
    let Some(dockerd) = RefDockerd::start_for_test() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(tmp.path());
    let users = htpasswd(tmp.path(), &[("alice", "wonderland")]);
    let busybox = berth_tests::daemon::busybox_tar();
    dockerd.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        busybox.to_str().unwrap(),
        "busybox:latest",
    ]);
    for mode in [&["--auth-realm", "e2e"][..], &["--token-issuer"][..]] {
        let root = tmp.path().join(format!("root{}", mode.len()));
        let mut args = vec![
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--htpasswd",
            users.to_str().unwrap(),
        ];
        args.extend_from_slice(mode);
        let s = Served::start(&root, &args);
        let _certs = CertsD::install(&s.addr, &cert);
        // Plain HTTP gets no answer: everything below went over TLS.
        assert!(request_tcp(&s.addr, "GET", "/v2/", &[], b"", Duration::from_secs(2)).is_err());

        let out = dockerd.docker_input(
            &["login", &s.addr, "-u", "alice", "--password-stdin"],
            Some("wrong"),
        );
        assert!(
            !out.status.success(),
            "{mode:?}: a wrong password logged in"
        );
        let out = dockerd.docker_input(
            &["login", &s.addr, "-u", "alice", "--password-stdin"],
            Some("wonderland"),
        );
        assert!(
            out.status.success(),
            "{mode:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("Login Succeeded"));
        let image = format!("{}/secure/busybox:v1", s.addr);
        dockerd.ok(&["tag", "busybox:latest", &image]);
        dockerd.ok(&["push", &image]);
        dockerd.ok(&["rmi", &image]);
        dockerd.ok(&["pull", &image]);
        dockerd.ok(&["logout", &s.addr]);
        // Logged out, the registry refuses the pull.
        dockerd.ok(&["rmi", &image]);
        let out = dockerd.docker(&["pull", &image]);
        assert!(
            !out.status.success(),
            "{mode:?}: pulled without credentials"
        );
    }
}

/// berthd with daemon.json `registry` serves it beside the Engine API; the reference dockerd
/// pushes to it and pulls back, and the data lands under berthd's data root.
#[test]
fn berthd_serves_the_registry_from_daemon_json() {
    let port = free_port();
    let Some(d) = TestDaemon::start_with_setup(&["--config-file", "{dir}/daemon.json"], |dir| {
        std::fs::write(
            dir.join("daemon.json"),
            format!(r#"{{"registry": {{"addr": "127.0.0.1:{port}"}}}}"#),
        )
        .unwrap();
    }) else {
        return;
    };
    let addr = format!("127.0.0.1:{port}");
    let r = request_tcp(&addr, "GET", "/v2/", &[], b"", TIMEOUT).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    // The Engine API is up beside it.
    d.docker(&["version"]).success();
    let Some(dockerd) = RefDockerd::start_for_test() else {
        return;
    };
    let busybox = berth_tests::daemon::busybox_tar();
    dockerd.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        busybox.to_str().unwrap(),
        "busybox:latest",
    ]);
    let image = format!("{addr}/served/by/berthd:v1");
    dockerd.ok(&["tag", "busybox:latest", &image]);
    dockerd.ok(&["push", &image]);
    dockerd.ok(&["rmi", &image]);
    dockerd.ok(&["pull", &image]);
    assert!(d
        .data_root
        .join("registry/repositories/served/by/berthd/_manifests/tags/v1")
        .is_file());
}

/// Debian's docker-registry (the reference registry) on a private port; killed on drop.
struct RefRegistry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl RefRegistry {
    const BIN: &'static str = "/usr/bin/docker-registry";

    fn start() -> Option<Self> {
        if !berth_tests::preflight::require(
            "docker-registry (the reference registry)",
            Path::new(Self::BIN).is_file(),
            "scripts/install-deps installs Debian's docker-registry",
            "BERTH_NO_DOCKER_REGISTRY",
        ) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(Self::BIN)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let me = Self {
            child,
            addr,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + TIMEOUT;
        while request_tcp(&me.addr, "GET", "/v2/", &[], b"", TIMEOUT).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "docker-registry did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(me)
    }
}

impl Drop for RefRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One step of the cross-check: what is sent, and what of the answer is compared.
fn step(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (Response, String) {
    let r = match request_tcp(addr, method, path, headers, body, TIMEOUT) {
        Ok(r) => r,
        // A server may answer an oversized body early and reset the connection while the
        // rest is still being sent.
        Err(e) => {
            return (
                Response {
                    status: 0,
                    headers: Vec::new(),
                    body: Vec::new(),
                },
                e.to_string(),
            )
        }
    };
    let code = r
        .json()
        .and_then(|v| v["errors"][0]["code"].as_str().map(str::to_string))
        .unwrap_or_default();
    (r, code)
}

/// Where an upload continues: the answer's `Location` (made relative), else where it was.
fn next_location(r: &Response, addr: &str, current: &str) -> String {
    match r.header("location") {
        Some(l) => l
            .split_once(addr)
            .map(|(_, p)| p.to_string())
            .unwrap_or(l.to_string()),
        None => current.to_string(),
    }
}

/// The same request sequence against docker-registry and berth's server: the same status
/// codes, and the same error codes, step by step. The sequence sticks to what both implement;
/// where berth follows Distribution Spec 1.1 and the 2.8 reference registry predates it, the
/// step is listed apart and berth's answer checked on its own (see the end).
#[test]
fn same_answers_as_the_reference_registry() {
    let Some(reference) = RefRegistry::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let ours = Served::start(tmp.path(), &[]);
    let config = b"{}".to_vec();
    let layer: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    let (cd, ld) = (digest(&config), digest(&layer));
    let good = manifest(&cd, &[(&ld, layer.len())]);
    let md = digest(&good);
    let dangling = manifest(&cd, &[(&digest(b"missing"), 7)]);
    let octets = ("Content-Type", "application/octet-stream");

    let mut seen: Vec<Vec<(String, u16, String)>> = Vec::new();
    for addr in [reference.addr.as_str(), ours.addr.as_str()] {
        let mut log = Vec::new();
        let mut note = |name: &str, (r, code): (Response, String)| {
            log.push((name.to_string(), r.status, code));
            r
        };
        note("base", step(addr, "GET", "/v2/", &[], b""));
        // A blob in one request after POST (the reference answers a POST with a body 202).
        let r = note(
            "start",
            step(addr, "POST", "/v2/x/app/blobs/uploads/", &[], b""),
        );
        let loc = next_location(&r, addr, "");
        let sep = if loc.contains('?') { '&' } else { '?' };
        note(
            "whole blob",
            step(
                addr,
                "PUT",
                &format!("{loc}{sep}digest={cd}"),
                &[octets],
                &config,
            ),
        );
        let r = note(
            "start again",
            step(addr, "POST", "/v2/x/app/blobs/uploads/", &[], b""),
        );
        let loc = next_location(&r, addr, "");
        let sep = if loc.contains('?') { '&' } else { '?' };
        note(
            "bad digest",
            step(
                addr,
                "PUT",
                &format!("{loc}{sep}digest={cd}"),
                &[octets],
                b"nope",
            ),
        );
        // Chunks in order, with status checks between.
        let r = note(
            "chunked start",
            step(addr, "POST", "/v2/x/app/blobs/uploads/", &[], b""),
        );
        let loc = next_location(&r, addr, "");
        let r = note(
            "chunk 1",
            step(
                addr,
                "PATCH",
                &loc,
                &[("Content-Range", "0-19999"), octets],
                &layer[..20_000],
            ),
        );
        let loc = next_location(&r, addr, &loc);
        let (r, code) = step(addr, "GET", &loc, &[], b"");
        let range = r.header("range").unwrap_or_default().to_string();
        note(&format!("status (Range {range})"), (r, code));
        let r = note(
            "chunk 2",
            step(
                addr,
                "PATCH",
                &loc,
                &[("Content-Range", "20000-49999"), octets],
                &layer[20_000..],
            ),
        );
        let loc = next_location(&r, addr, &loc);
        let sep = if loc.contains('?') { '&' } else { '?' };
        note(
            "finish",
            step(
                addr,
                "PUT",
                &format!("{loc}{sep}digest={ld}"),
                &[octets],
                b"",
            ),
        );
        note(
            "head blob",
            step(addr, "HEAD", &format!("/v2/x/app/blobs/{ld}"), &[], b""),
        );
        note(
            "range",
            step(
                addr,
                "GET",
                &format!("/v2/x/app/blobs/{ld}"),
                &[("Range", "bytes=100-199")],
                b"",
            ),
        );
        note(
            "missing blob",
            step(
                addr,
                "GET",
                &format!("/v2/x/app/blobs/{}", digest(b"none")),
                &[],
                b"",
            ),
        );
        note(
            "mount",
            step(
                addr,
                "POST",
                &format!("/v2/y/app/blobs/uploads/?mount={ld}&from=x/app"),
                &[],
                b"",
            ),
        );
        note(
            "mount missing",
            step(
                addr,
                "POST",
                &format!(
                    "/v2/y/app/blobs/uploads/?mount={}&from=x/app",
                    digest(b"none")
                ),
                &[],
                b"",
            ),
        );
        note(
            "dangling manifest",
            step(
                addr,
                "PUT",
                "/v2/x/app/manifests/bad",
                &[OCI_MANIFEST],
                &dangling,
            ),
        );
        note(
            "not json",
            step(
                addr,
                "PUT",
                "/v2/x/app/manifests/bad",
                &[OCI_MANIFEST],
                b"{not json",
            ),
        );
        note(
            "manifest",
            step(
                addr,
                "PUT",
                "/v2/x/app/manifests/v1",
                &[OCI_MANIFEST],
                &good,
            ),
        );
        note(
            "manifest v2",
            step(
                addr,
                "PUT",
                "/v2/x/app/manifests/v2",
                &[OCI_MANIFEST],
                &good,
            ),
        );
        note(
            "wrong digest",
            step(
                addr,
                "PUT",
                &format!("/v2/x/app/manifests/{}", digest(b"other")),
                &[OCI_MANIFEST],
                &good,
            ),
        );
        note(
            "by tag",
            step(
                addr,
                "GET",
                "/v2/x/app/manifests/v1",
                &[("Accept", OCI_MANIFEST.1)],
                b"",
            ),
        );
        note(
            "by digest",
            step(
                addr,
                "HEAD",
                &format!("/v2/x/app/manifests/{md}"),
                &[("Accept", OCI_MANIFEST.1)],
                b"",
            ),
        );
        note(
            "unknown tag",
            step(
                addr,
                "GET",
                "/v2/x/app/manifests/nope",
                &[("Accept", OCI_MANIFEST.1)],
                b"",
            ),
        );
        let (r, code) = step(addr, "GET", "/v2/x/app/tags/list", &[], b"");
        let tags = r.json().map(|v| v["tags"].to_string()).unwrap_or_default();
        note(&format!("tags {tags}"), (r, code));
        note(
            "unknown repo tags",
            step(addr, "GET", "/v2/nobody/tags/list", &[], b""),
        );
        let (r, code) = step(addr, "GET", "/v2/_catalog", &[], b"");
        let repos = r
            .json()
            .map(|v| v["repositories"].to_string())
            .unwrap_or_default();
        note(&format!("catalog {repos}"), (r, code));
        note(
            "delete manifest",
            step(
                addr,
                "DELETE",
                &format!("/v2/x/app/manifests/{md}"),
                &[],
                b"",
            ),
        );
        note(
            "deleted",
            step(
                addr,
                "GET",
                &format!("/v2/x/app/manifests/{md}"),
                &[("Accept", OCI_MANIFEST.1)],
                b"",
            ),
        );
        note(
            "tag gone too",
            step(
                addr,
                "GET",
                "/v2/x/app/manifests/v1",
                &[("Accept", OCI_MANIFEST.1)],
                b"",
            ),
        );
        note(
            "delete blob",
            step(addr, "DELETE", &format!("/v2/x/app/blobs/{ld}"), &[], b""),
        );
        note(
            "blob deleted",
            step(addr, "HEAD", &format!("/v2/x/app/blobs/{ld}"), &[], b""),
        );
        seen.push(log);
    }
    let (theirs, ours_log) = (&seen[0], &seen[1]);
    let diffs: Vec<String> = theirs
        .iter()
        .zip(ours_log)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| {
            format!(
                "{}: reference {} {:?}, berth {} {:?}",
                a.0, a.1, a.2, b.1, b.2
            )
        })
        .collect();
    assert!(
        diffs.is_empty(),
        "answers differ:\n{}\nreference: {theirs:?}\nberth: {ours_log:?}",
        diffs.join("\n")
    );

    // Where Distribution Spec 1.1 asks for more than the 2.8 reference does: an out-of-order
    // chunk is 416 (2.8 ignores Content-Range and appends), an invalid name is NAME_INVALID
    // (2.8's router answers a bare 404), a huge manifest is 413 MANIFEST_INVALID (2.8 cuts
    // the connection), a POST with ?digest= stores the blob at once (201, not 202), and the
    // tags list pages with n/last and a Link header (2.8 ignores both).
    let s = &ours;
    let r = s.req(
        "POST",
        &format!("/v2/p/blobs/uploads/?digest={cd}"),
        &[],
        &config,
    );
    assert_eq!(r.status, 201);
    for tag in ["a", "b", "c"] {
        let r = s.req(
            "PUT",
            &format!("/v2/p/manifests/{tag}"),
            &[OCI_MANIFEST],
            &manifest(&cd, &[]),
        );
        assert_eq!(r.status, 201);
    }
    let r = s.req("GET", "/v2/p/tags/list?n=2", &[], b"");
    assert_eq!(r.json().unwrap()["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(
        r.header("link"),
        Some("</v2/p/tags/list?last=b&n=2>; rel=\"next\"")
    );
    let r = s.req("GET", "/v2/p/tags/list?n=2&last=b", &[], b"");
    assert_eq!(r.json().unwrap()["tags"], serde_json::json!(["c"]));
    assert_eq!(r.header("link"), None);
    let r = s.req("POST", "/v2/z/blobs/uploads/", &[], b"");
    let loc = r.header("location").unwrap().to_string();
    s.req("PATCH", &loc, &[("Content-Range", "0-9")], &layer[..10]);
    let r = s.req("PATCH", &loc, &[("Content-Range", "20-29")], &layer[20..30]);
    assert_eq!((r.status, error_code(&r).as_str()), (416, "RANGE_INVALID"));
    let r = s.req("GET", "/v2/Bad/tags/list", &[], b"");
    assert_eq!((r.status, error_code(&r).as_str()), (400, "NAME_INVALID"));
}

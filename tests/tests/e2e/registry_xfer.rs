//! The registry client's transfer features through a real berthd and `berth registry serve`:
//! pull of every tag, platform selection in an index, gzip/zstd/plain layers, resumed
//! downloads; push of every tag, cross-repository mounts, chunked uploads, zstd.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_tests::tarball::tar_of;
use berth_tests::{unique_name, Client, TestDaemon};

use crate::registry::{commit_unique, digest, Served};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Uploads `data` as a blob of `repo` (one POST with the digest).
fn put_blob(s: &Served, repo: &str, data: &[u8]) -> String {
    let d = digest(data);
    let r = s.req(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        &[],
        data,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    d
}

/// An image of one layer holding `/hello.txt` = `text`, its layer encoded as `encoding`
/// (`none`, `gzip`, `zstd`), for `arch`; PUT as an OCI manifest under `reference`.
/// Returns (manifest digest, manifest size, config digest).
pub(crate) fn put_image(
    s: &Served,
    repo: &str,
    reference: &str,
    text: &str,
    encoding: &str,
    arch: &str,
) -> (String, usize, String) {
    let tar = tar_of(&[("hello.txt", text)]);
    let diff_id = digest(&tar);
    let (blob, media_type) = match encoding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&tar).unwrap();
            (
                e.finish().unwrap(),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        }
        "zstd" => (
            zstd::encode_all(&tar[..], 3).unwrap(),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        _ => (tar.clone(), "application/vnd.oci.image.layer.v1.tar"),
    };
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let cd = put_blob(s, repo, &config);
    let ld = put_blob(s, repo, &blob);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": media_type, "digest": ld, "size": blob.len()}],
    }))
    .unwrap();
    let r = s.req(
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", OCI_MANIFEST)],
        &manifest,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    (digest(&manifest), manifest.len(), cd)
}

/// What `/hello.txt` of `image` holds, read through a created container.
fn hello_of(d: &TestDaemon, c: Client, image: &str) -> String {
    let name = unique_name("hello");
    d.run(c, &["create", "--name", &name, image]).success();
    let out = d.run(c, &["cp", &format!("{name}:/hello.txt"), "-"]);
    out.success();
    d.run(c, &["rm", &name]).success();
    // `cp ... -` writes a tar: the file's text is in it.
    out.out().to_string()
}

/// A TCP proxy in front of `upstream` that, once, sends only the first half of the body of
/// the first blob response larger than `min_body` and then closes the connection. Every
/// request goes upstream on a connection of its own; the request heads are recorded.
struct CuttingProxy {
    addr: String,
    seen: Arc<Mutex<Vec<String>>>,
    cut_done: Arc<AtomicBool>,
}

impl CuttingProxy {
    fn start(upstream: String, min_body: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let cut_done = Arc::new(AtomicBool::new(false));
        let (seen2, cut2) = (seen.clone(), cut_done.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (up, seen, cut) = (upstream.clone(), seen2.clone(), cut2.clone());
                std::thread::spawn(move || {
                    let _ = Self::serve(conn, &up, &seen, &cut, min_body);
                });
            }
        });
        Self {
            addr,
            seen,
            cut_done,
        }
    }

    fn serve(
        mut client: TcpStream,
        upstream: &str,
        seen: &Mutex<Vec<String>>,
        cut: &AtomicBool,
        min_body: usize,
    ) -> std::io::Result<()> {
        // One request per connection: read its head (pulls send no bodies).
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if client.read(&mut byte)? == 0 {
                return Ok(());
            }
            // A TLS hello (berthd tries HTTPS first, even on loopback): this proxy speaks
            // plain HTTP only, so it hangs up as a plain HTTP server would.
            if head.is_empty() && byte[0] == 0x16 {
                return Ok(());
            }
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head).to_string();
        seen.lock().unwrap().push(text.clone());
        let mut lines: Vec<&str> = text
            .trim_end()
            .split("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .collect();
        lines.push("Connection: close");
        let mut up = TcpStream::connect(upstream)?;
        up.write_all(format!("{}\r\n\r\n", lines.join("\r\n")).as_bytes())?;
        let mut resp = Vec::new();
        up.read_to_end(&mut resp)?;
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(resp.len(), |p| p + 4);
        let (rhead, body) = resp.split_at(split);
        let rhead = String::from_utf8_lossy(rhead);
        let rlines: Vec<&str> = rhead
            .trim_end()
            .split("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .collect();
        client.write_all(
            format!("{}\r\nConnection: close\r\n\r\n", rlines.join("\r\n")).as_bytes(),
        )?;
        let is_blob_get = text.starts_with("GET ") && text.contains("/blobs/sha256:");
        if is_blob_get && body.len() > min_body && !cut.swap(true, Ordering::SeqCst) {
            client.write_all(&body[..body.len() / 2])?;
            client.flush()?;
            return Ok(()); // closed mid-body
        }
        client.write_all(body)
    }
}

both_clients! {
    fn pull_all_tags_each_encoding_and_platforms(d, c) {
        let root = tempfile::tempdir().unwrap();
        let s = Served::start(root.path(), &[]);
        let name = unique_name("enc");
        let path = format!("e2e/{name}");
        let repo = format!("{}/{path}", s.addr);
        let mut ids = std::collections::BTreeMap::new();
        for enc in ["none", "gzip", "zstd"] {
            let (_, _, id) = put_image(&s, &path, enc, &format!("layer-{enc}-{name}"), enc, "amd64");
            ids.insert(enc, id);
        }
        d.run(c, &["pull", "-a", &repo]).success()
            .stdout_has("gzip: Pulling from")
            .stdout_has("none: Pulling from")
            .stdout_has("zstd: Pulling from")
            .stdout_has(&format!("Status: Downloaded newer image for {repo}"));
        for (enc, id) in &ids {
            let image = format!("{repo}:{enc}");
            assert_eq!(&d.inspect(c, &image, "{{.Id}}"), id, "{image}");
            assert!(hello_of(d, c, &image).contains(&format!("layer-{enc}-{name}")), "{image}'s layer content");
        }
        d.run(c, &["pull", "-a", &format!("{repo}:gzip")]).code_is(1).stderr_has("tag can't be used with --all-tags/-a");

        // An index: amd64 and arm64/v8 entries.
        let (amd_digest, amd_size, _) = put_image(&s, &path, "amd", &format!("amd-{name}"), "gzip", "amd64");
        let (arm_digest, arm_size, arm_id) = put_image(&s, &path, "arm", &format!("arm-{name}"), "zstd", "arm64");
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": amd_digest, "size": amd_size, "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": OCI_MANIFEST, "digest": arm_digest, "size": arm_size, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            ],
        })).unwrap();
        let r = s.req("PUT", &format!("/v2/{path}/manifests/multi"), &[("Content-Type", OCI_INDEX)], &index);
        assert_eq!(r.status, 201, "{}", r.text());
        let multi = format!("{repo}:multi");
        d.run(c, &["pull", "--platform", "linux/arm64", &multi]).success().stdout_has("Pull complete");
        assert_eq!(d.inspect(c, &multi, "{{.Id}}"), arm_id, "the arm64 entry was chosen");
        assert_eq!(d.inspect(c, &multi, "{{.Architecture}}"), "arm64");
        d.run(c, &["pull", "--platform", "linux/s390x", &multi]).code_is(1)
            .stderr_has("no matching manifest for linux/s390x in the manifest list entries");
        // A single manifest for another platform is refused when a platform is asked for.
        d.run(c, &["pull", "--platform", "linux/arm64", &format!("{repo}:gzip")]).code_is(1)
            .stderr_has("does not match the specified platform: wanted linux/arm64, actual: linux/amd64");

        // `create --platform` pulls the entry it names when the image is missing.
        let Some(fresh) = TestDaemon::start() else { return };
        let ctr = unique_name("armctr");
        fresh.run(c, &["create", "--platform", "linux/arm64", "--name", &ctr, &multi]).success()
            .stderr_has("Unable to find image");
        assert_eq!(fresh.inspect(c, &multi, "{{.Id}}"), arm_id, "create pulled the arm64 entry");
        fresh.run(c, &["rm", &ctr]).success();
    }

    fn an_interrupted_download_is_resumed(d, c) {
        let root = tempfile::tempdir().unwrap();
        let s = Served::start(root.path(), &[]);
        let image = format!("{}/e2e/{}:v1", s.addr, unique_name("cut"));
        // busybox plus 3 MB of random bytes: a blob big enough to be cut in the middle.
        let name = unique_name("rnd");
        d.run(c, &["run", "--name", &name, "busybox", "sh", "-c", "head -c 3000000 /dev/urandom > /rnd"]).success();
        d.run(c, &["commit", &name, &image]).success();
        d.run(c, &["rm", &name]).success();
        let id = d.inspect(c, &image, "{{.Id}}");
        d.run(c, &["push", &image]).success();

        let proxy = CuttingProxy::start(s.addr.clone(), 1_000_000);
        let via_proxy = image.replacen(&s.addr, &proxy.addr, 1);
        let Some(other) = TestDaemon::start() else { return };
        other.run(c, &["pull", &via_proxy]).success().stdout_has("Pull complete");
        assert!(proxy.cut_done.load(Ordering::SeqCst), "the proxy cut a download");
        let seen = proxy.seen.lock().unwrap().join("\n---\n");
        assert!(seen.to_ascii_lowercase().contains("range: bytes="), "a Range request resumed the download:\n{seen}");
        assert_eq!(other.inspect(c, &via_proxy, "{{.Id}}"), id);
        other.run(c, &["run", "--rm", &via_proxy, "sh", "-c", "wc -c < /rnd"]).success().stdout_has("3000000");
        assert_eq!(other.berth(&["system", "check"]).code, 0, "the store is consistent");
    }

    fn push_all_tags_mounts_and_big_blobs(d, c) {
        let root = tempfile::tempdir().unwrap();
        let s = Served::start(root.path(), &[]);
        let first = format!("{}/e2e/{}", s.addr, unique_name("a"));
        // busybox plus 20 MB of random bytes: uploaded in PATCH chunks.
        let name = unique_name("big");
        d.run(c, &["run", "--name", &name, "busybox", "sh", "-c", "head -c 20000000 /dev/urandom > /big"]).success();
        d.run(c, &["commit", &name, &format!("{first}:one")]).success();
        d.run(c, &["rm", &name]).success();
        d.run(c, &["tag", &format!("{first}:one"), &format!("{first}:two")]).success();
        let pushed = d.run(c, &["push", "-a", &first]);
        pushed.success()
            .stdout_has(&format!("The push refers to repository [{first}]"))
            .stdout_has(": Pushed")
            .stdout_has("one: digest: sha256:")
            .stdout_has("two: digest: sha256:");
        let tags = s.req("GET", &format!("/v2/{}/tags/list", first.split_once('/').unwrap().1), &[], b"");
        assert_eq!(tags.json().unwrap()["tags"], serde_json::json!(["one", "two"]));

        // Another repository of the same registry: every layer is mounted, nothing uploaded.
        let second = format!("{}/e2e/{}:x", s.addr, unique_name("b"));
        d.run(c, &["tag", &format!("{first}:one"), &second]).success();
        let out = d.run(c, &["push", &second]);
        out.success().stdout_has(&format!("Mounted from {}", first.split_once('/').unwrap().1));
        assert!(!out.out().contains(": Pushed"), "nothing uploaded again:\n{}", out.out());

        let id = d.inspect(c, &second, "{{.Id}}");
        let Some(other) = TestDaemon::start() else { return };
        other.run(c, &["pull", &second]).success();
        assert_eq!(other.inspect(c, &second, "{{.Id}}"), id);
        other.run(c, &["run", "--rm", &second, "sh", "-c", "wc -c < /big"]).success().stdout_has("20000000");
    }
}

/// `berth push --compression zstd` (docker has no such flag): an OCI manifest with zstd
/// layers, which pulls back into another daemon.
#[test]
fn push_with_zstd_compression() {
    let Some(d) = TestDaemon::start() else { return };
    let root = tempfile::tempdir().unwrap();
    let s = Served::start(root.path(), &[]);
    let path = format!("e2e/{}", unique_name("zstd"));
    let image = format!("{}/{path}:z", s.addr);
    commit_unique(&d, Client::Berth, &image);
    let id = d.inspect(Client::Berth, &image, "{{.Id}}");
    d.berth(&["push", "--compression", "lz4", &image])
        .code_is(1)
        .stderr_has("unsupported compression");
    d.berth(&["push", "--compression", "zstd", &image])
        .success()
        .stdout_has(": Pushed");
    let m = s.req(
        "GET",
        &format!("/v2/{path}/manifests/z"),
        &[("Accept", OCI_MANIFEST)],
        b"",
    );
    let doc = m.json().unwrap();
    assert_eq!(doc["mediaType"], OCI_MANIFEST);
    for l in doc["layers"].as_array().unwrap() {
        assert_eq!(
            l["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
        let blob = s.req(
            "GET",
            &format!("/v2/{path}/blobs/{}", l["digest"].as_str().unwrap()),
            &[],
            b"",
        );
        assert_eq!(&blob.body[..4], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
    }
    // The same layers again as gzip: other blobs, compressed anew; zstd again: known blobs.
    d.berth(&["push", &image]).success().stdout_has(": Pushed");
    d.berth(&["push", "--compression", "zstd", &image])
        .success()
        .stdout_has("Layer already exists");
    let Some(other) = TestDaemon::start() else {
        return;
    };
    other.berth(&["pull", &image]).success();
    assert_eq!(other.inspect(Client::Berth, &image, "{{.Id}}"), id);
    other
        .berth(&["run", "--rm", &image, "cat", "/unique"])
        .success();
}

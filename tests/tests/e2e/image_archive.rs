//! `docker save` / `docker load` against a private berthd, with the docker CLI and berth:
//! round trips through files and pipes, an OCI layout made here, hostile archives (which must
//! be refused or contained, leaving the store as it was), bounded memory for a large layer, and
//! interop with a private dockerd 20.10 when one is installed.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_tests::daemon::busybox_tar;
use berth_tests::host::{sha256_hex, tar_names, unix_now};
use berth_tests::tarball::{docker_archive, image_config};
use berth_tests::{unique_name, Client, TestDaemon};
use sha2::{Digest as _, Sha256};

/// `Id|RootFS.Layers|Config|RepoTags` of an image: what must survive a save/load unchanged.
fn identity(d: &TestDaemon, c: Client, name: &str) -> String {
    d.run(
        c,
        &[
            "image",
            "inspect",
            "-f",
            "{{.Id}}|{{json .RootFS.Layers}}|{{json .Config}}",
            name,
        ],
    )
    .success()
    .out()
    .to_string()
}

/// Runs `client args...` with stdout to `out` and/or stdin from `input`; (code, stderr+stdout).
fn run_redirected(
    d: &TestDaemon,
    c: Client,
    args: &[&str],
    out: Option<&Path>,
    input: Option<&Path>,
) -> (i32, String) {
    let mut cmd = d.command(c);
    cmd.args(args).stderr(Stdio::piped());
    cmd.stdout(match out {
        Some(p) => Stdio::from(File::create(p).expect("create output")),
        None => Stdio::piped(),
    });
    cmd.stdin(match input {
        Some(p) => Stdio::from(File::open(p).expect("open input")),
        None => Stdio::null(),
    });
    let o = cmd.output().expect("run client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    (o.status.code().unwrap_or(-1), text)
}

both_clients! {
    fn save_rmi_load_run(d, c) {
        let repo = unique_name("saved");
        let tag = format!("{repo}:v1");
        d.run(c, &["tag", "busybox", &tag]).success();
        let before = identity(d, c, &tag);
        let id = before.split('|').next().unwrap_or_default().to_string();
        let since = unix_now().to_string();

        // -o: an OCI layout with docker's manifest.json beside it.
        let file = d.dir().join("saved.tar");
        let file_arg = file.display().to_string();
        d.run(c, &["save", "-o", &file_arg, &tag]).success();
        let names = tar_names(&file);
        for want in ["oci-layout", "index.json", "manifest.json", "repositories"] {
            assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
        }
        assert!(names.contains(&format!("blobs/sha256/{}", &id[7..])), "{names:?}");

        // Remove the image entirely, then load it back from the file.
        d.run(c, &["rmi", &tag, "busybox"]).success().stdout_has(&format!("Deleted: {id}"));
        d.run(c, &["image", "inspect", &tag]).code_is(1);
        d.run(c, &["load", "-i", &file_arg]).success().stdout_has(&format!("Loaded image: {tag}"));
        assert_eq!(identity(d, c, &tag), before);
        let tags = d.run(c, &["image", "inspect", "-f", "{{json .RepoTags}}", &tag]);
        assert_eq!(tags.success().out(), format!("[\"{tag}\"]"), "{tags}");
        let ran = d.run(c, &["run", "--rm", &tag, "echo", "back again"]);
        assert_eq!(ran.success().stdout, "back again\n", "{ran}");

        // stdout and stdin, through `image save` / `image load -q`.
        let piped = d.dir().join("piped.tar");
        let (code, text) = run_redirected(d, c, &["image", "save", &tag], Some(&piped), None);
        assert_eq!(code, 0, "{text}");
        assert_eq!(tar_names(&piped), names);
        d.run(c, &["rmi", &tag]).success();
        let (code, text) = run_redirected(d, c, &["image", "load", "-q"], None, Some(&piped));
        assert_eq!(code, 0, "{text}");
        assert!(text.contains(&format!("Loaded image: {tag}")), "{text}");
        assert_eq!(identity(d, c, &tag), before);

        // Image events as dockerd emits them: actor id (and name) is the image id.
        let events = d.run(c, &["events", "--since", &since, "--until", &(unix_now() + 1).to_string(),
            "--filter", "type=image", "--format", "{{.Action}} {{.Actor.ID}}"]);
        let lines = events.success().lines();
        assert!(lines.contains(&format!("save {id}").as_str()), "{events}");
        assert!(lines.contains(&format!("load {id}").as_str()), "{events}");

        // Unknown names fail before anything is written; a terminal is refused.
        d.run(c, &["save", "-o", &d.dir().join("none.tar").display().to_string(), "nosuch:1"])
            .code_is(1)
            .stderr_has("No such image");
        assert!(!d.dir().join("none.tar").exists());
        let mut tty = d.pty(c, &["save", &tag]);
        assert!(tty.wait_for_stdout("cowardly refusing to save to a terminal", Duration::from_secs(20)), "{}", tty.stdout());
        tty.wait(Duration::from_secs(10));
        let mut tty = d.pty(c, &["load"]);
        assert!(tty.wait_for_stdout("requested load from stdin, but stdin is empty", Duration::from_secs(20)), "{}", tty.stdout());
        tty.wait(Duration::from_secs(10));
    }

    fn load_an_oci_layout(d, c) {
        // A plain OCI layout (no manifest.json) with a gzip layer, named by annotation.
        let layer = fs::read(busybox_tar()).expect("busybox tar");
        let name = format!("{}:oci", unique_name("ocilayout"));
        let archive = d.dir().join("oci.tar");
        let id = write_oci_layout(&archive, &[gzip(&layer)], &[sha256_hex(&layer)], Some(&format!("docker.io/library/{name}")));
        d.run(c, &["load", "-i", &archive.display().to_string()]).success().stdout_has(&format!("Loaded image: {name}"));
        assert_eq!(d.run(c, &["image", "inspect", "-f", "{{.Id}}", &name]).success().out(), id);
        let ran = d.run(c, &["run", "--rm", &name, "echo", "oci ok"]);
        assert_eq!(ran.success().stdout, "oci ok\n", "{ran}");
    }

    fn hostile_archives_are_refused_or_contained(d, c) {
        let outside = PathBuf::from(format!("/tmp/{}", unique_name("berth-escape")));
        fs::create_dir_all(&outside).expect("outside dir");
        fs::write(outside.join("victim"), b"keep me").expect("victim");
        let outside_str = outside.display().to_string();
        let store = StoreSnapshot::take(d, c);

        let refused: Vec<(&str, Vec<u8>, &str)> = vec![
            ("dotdot", layer_archive(&[Member::file("../escaped-dotdot", b"x")]), "is outside of \"/\""),
            ("hardlink out", layer_archive(&[Member::hardlink("h", "../../../etc/passwd")]), "invalid hardlink"),
            ("relative symlink out", layer_archive(&[Member::symlink("a/s", "../../../../../tmp")]), "invalid symlink"),
            ("whiteout outside", layer_archive(&[Member::file("../.wh.victim", b"")]), "is outside of \"/\""),
            ("truncated gzip", truncated_gzip_archive(), "layer 0 (l0/layer.tar): incomplete deflate stream"),
            ("digest mismatch", digest_mismatch_archive(), "invalid diffID for layer 0"),
        ];
        for (what, bytes, needle) in refused {
            let path = d.dir().join(format!("{}.tar", what.replace(' ', "-")));
            fs::write(&path, &bytes).expect("write archive");
            let out = d.run(c, &["load", "-i", &path.display().to_string()]);
            out.code_is(1).stderr_has(needle);
            store.assert_unchanged(d, c, what);
        }

        // Absolute names and links that leave the root through an absolute symlink (also as
        // a parent directory, and for a whiteout) are contained: they land inside the layer.
        let contained = layer_archive(&[
            Member::file(&format!("{outside_str}/absolute"), b"x"),
            Member::symlink("escape", &outside_str),
            Member::file("escape/through-symlink", b"x"),
            // At the top level a relative link may climb: like an absolute one it resolves
            // inside the root (as in dockerd's chrooted unpack).
            Member::symlink("up", &format!("../../../..{outside_str}")),
            Member::file("up/through-relative", b"x"),
            Member::file("escape/.wh.victim", b""),
            Member::hardlink("hl", &format!("{}/absolute", &outside_str[1..])),
        ]);
        let path = d.dir().join("contained.tar");
        fs::write(&path, &contained).expect("write");
        d.run(c, &["load", "-i", &path.display().to_string()]).success();
        assert!(!outside.join("absolute").exists());
        assert!(!outside.join("through-symlink").exists());
        assert!(!outside.join("through-relative").exists());
        assert_eq!(fs::read(outside.join("victim")).expect("victim kept"), b"keep me");
        let tag = "hostile:contained";
        let script = format!("cat /hl {o}/absolute {o}/through-symlink {o}/through-relative; test ! -e {o}/victim && echo hidden", o = outside_str);
        let inside = d.run(c, &["run", "--rm", tag, "sh", "-c", &script]);
        assert_eq!(inside.success().stdout, "xxxxhidden\n", "{inside}");
        d.run(c, &["rmi", tag]).success();
        let _ = fs::remove_dir_all(&outside);
    }
}

/// Blobs, unpacked layers, ingest files and images of the daemon: a refused load changes none.
struct StoreSnapshot {
    blobs: BTreeSet<String>,
    overlay: BTreeSet<String>,
    images: String,
}

fn dir_names(p: &Path) -> BTreeSet<String> {
    fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

impl StoreSnapshot {
    fn take(d: &TestDaemon, c: Client) -> Self {
        Self {
            blobs: dir_names(&d.data_root.join("content/blobs/sha256")),
            overlay: dir_names(&d.data_root.join("overlay")),
            images: d
                .run(
                    c,
                    &[
                        "images",
                        "-a",
                        "--no-trunc",
                        "--format",
                        "{{.ID}} {{.Repository}}:{{.Tag}}",
                    ],
                )
                .success()
                .out()
                .to_string(),
        }
    }

    #[track_caller]
    fn assert_unchanged(&self, d: &TestDaemon, c: Client, what: &str) {
        let now = Self::take(d, c);
        assert_eq!(now.images, self.images, "{what}: images changed");
        assert_eq!(now.blobs, self.blobs, "{what}: stray blobs");
        assert_eq!(now.overlay, self.overlay, "{what}: stray snapshot dirs");
        assert!(
            dir_names(&d.data_root.join("content/ingest")).is_empty(),
            "{what}: ingest not empty"
        );
        assert!(
            dir_names(&d.data_root.join("overlay/l")).len() <= self.overlay.len(),
            "{what}: stray links"
        );
    }
}

/// A tar member for hostile layers (raw names: the tar crate would refuse to write them).
struct Member {
    name: String,
    kind: tar::EntryType,
    data: Vec<u8>,
    link: Option<String>,
}

impl Member {
    fn file(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.into(),
            kind: tar::EntryType::Regular,
            data: data.to_vec(),
            link: None,
        }
    }
    fn symlink(name: &str, target: &str) -> Self {
        Self {
            name: name.into(),
            kind: tar::EntryType::Symlink,
            data: Vec::new(),
            link: Some(target.into()),
        }
    }
    fn hardlink(name: &str, target: &str) -> Self {
        Self {
            name: name.into(),
            kind: tar::EntryType::Link,
            data: Vec::new(),
            link: Some(target.into()),
        }
    }
}

fn raw_tar(members: &[Member]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(m.kind);
        h.set_size(m.data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.as_old_mut().name[..m.name.len()].copy_from_slice(m.name.as_bytes());
        if let Some(l) = &m.link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        b.append(&h, &m.data[..]).expect("append");
    }
    b.into_inner().expect("tar")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("gzip")
}

/// A one-layer archive of the given members, busybox below it so the image can run.
fn layer_archive(members: &[Member]) -> Vec<u8> {
    let base = fs::read(busybox_tar()).expect("busybox");
    let top = raw_tar(members);
    docker_archive(
        &[base.clone(), top.clone()],
        &[sha256_hex(&base), sha256_hex(&top)],
        &["hostile:contained"],
    )
}

fn truncated_gzip_archive() -> Vec<u8> {
    let layer = raw_tar(&[Member::file("data", &vec![9u8; 300_000])]);
    let mut gz = gzip(&layer);
    gz.truncate(gz.len() / 2);
    docker_archive(&[gz], &[sha256_hex(&layer)], &["hostile:truncated"])
}

fn digest_mismatch_archive() -> Vec<u8> {
    let layer = raw_tar(&[Member::file("data", b"real")]);
    let claimed = raw_tar(&[Member::file("data", b"fake")]);
    docker_archive(&[layer], &[sha256_hex(&claimed)], &["hostile:mismatch"])
}

/// Writes a plain OCI layout to `path`; returns the image id.
fn write_oci_layout(
    path: &Path,
    blobs: &[Vec<u8>],
    diff_ids: &[String],
    name: Option<&str>,
) -> String {
    let config = image_config(diff_ids);
    let id = sha256_hex(&config);
    let mut members = vec![Member::file(
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )];
    let mut layers = Vec::new();
    for b in blobs {
        let d = sha256_hex(b);
        layers.push(format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{d}","size":{}}}"#, b.len()));
        members.push(Member::file(&format!("blobs/sha256/{d}"), b));
    }
    members.push(Member::file(&format!("blobs/sha256/{id}"), &config));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{id}","size":{}}},"layers":[{}]}}"#,
        config.len(),
        layers.join(",")
    );
    let m = sha256_hex(manifest.as_bytes());
    members.push(Member::file(
        &format!("blobs/sha256/{m}"),
        manifest.as_bytes(),
    ));
    let annotations = name
        .map(|n| format!(r#","annotations":{{"io.containerd.image.name":"{n}","org.opencontainers.image.ref.name":"oci"}}"#))
        .unwrap_or_default();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{m}","size":{}{annotations}}}]}}"#,
        manifest.len()
    );
    members.push(Member::file("index.json", index.as_bytes()));
    fs::write(path, raw_tar(&members)).expect("write layout");
    format!("sha256:{id}")
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: i32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A 192 MiB layer (a small gzip of zeros, as a decompression bomb would be) loads with the
/// daemon's memory staying far below the layer's size: everything streams.
#[test]
fn a_large_layer_streams_with_bounded_memory() {
    let Some(d) = TestDaemon::start() else { return };
    let pid: i32 = fs::read_to_string(&d.pidfile)
        .expect("pidfile")
        .trim()
        .parse()
        .expect("pid");
    const SIZE: usize = 192 << 20;
    // The layer tar: one file of zeros, streamed through the hasher and the gzip encoder.
    let mut hasher = Sha256::new();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    {
        let mut header = tar::Header::new_gnu();
        header.set_path("zeros").expect("path");
        header.set_size(SIZE as u64);
        header.set_mode(0o644);
        header.set_cksum();
        let mut feed = |bytes: &[u8]| {
            hasher.update(bytes);
            gz.write_all(bytes).expect("gz");
        };
        feed(header.as_bytes());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(SIZE >> 20) {
            feed(&zeros);
        }
        feed(&[0u8; 1024]); // end-of-archive blocks
    }
    let diff = hex::encode(hasher.finalize());
    let compressed = gz.finish().expect("gz");
    assert!(
        compressed.len() < 1 << 20,
        "a bomb is small: {}",
        compressed.len()
    );
    let archive = d.dir().join("bomb.tar");
    fs::write(
        &archive,
        docker_archive(&[compressed], &[diff], &["bomb:1"]),
    )
    .expect("write");
    let before = peak_rss_kib(pid);
    d.berth(&["load", "-i", &archive.display().to_string()])
        .success()
        .stdout_has("Loaded image: bomb:1");
    let after = peak_rss_kib(pid);
    assert!(
        after < before + 64 * 1024,
        "berthd peak RSS grew from {before} KiB to {after} KiB"
    );
    d.berth(&["rmi", "bomb:1"]).success();
}

/// Interop with dockerd 20.10: its `docker save` loads into berth and runs; berth's archive
/// loads into it and runs, with the same image id.
#[test]
fn interop_with_dockerd() {
    let Some(d) = TestDaemon::start() else { return };
    let Some(reference) = super::registry::RefDockerd::start_for_test() else {
        return;
    };
    let docker = |args: &[&str]| -> (i32, String) {
        let o = Command::new("/usr/local/bin/docker")
            .env("DOCKER_HOST", reference.host())
            .env("DOCKER_CONFIG", d.dir().join("docker-config"))
            .args(args)
            .output()
            .expect("docker");
        (
            o.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let tar = busybox_tar().display().to_string();
    let (code, out) = docker(&["import", "-c", r#"CMD ["sh"]"#, &tar, "fromdocker:1"]);
    assert_eq!(code, 0, "{out}");
    let docker_id = out.trim().to_string();

    // dockerd 20.10 -> berth.
    let from_docker = d.dir().join("from-docker.tar");
    let (code, out) = docker(&[
        "save",
        "-o",
        &from_docker.display().to_string(),
        "fromdocker:1",
    ]);
    assert_eq!(code, 0, "{out}");
    d.berth(&["load", "-i", &from_docker.display().to_string()])
        .success()
        .stdout_has("Loaded image: fromdocker:1");
    assert_eq!(
        d.berth(&["image", "inspect", "-f", "{{.Id}}", "fromdocker:1"])
            .success()
            .out(),
        docker_id
    );
    let ran = d.berth(&["run", "--rm", "fromdocker:1", "echo", "from dockerd"]);
    assert_eq!(ran.success().stdout, "from dockerd\n", "{ran}");

    // berth -> dockerd 20.10 (which reads manifest.json).
    d.berth(&["tag", "busybox", "fromberth:1"]).success();
    let berth_id = d
        .berth(&["image", "inspect", "-f", "{{.Id}}", "fromberth:1"])
        .success()
        .out()
        .to_string();
    let from_berth = d.dir().join("from-berth.tar");
    d.berth(&[
        "save",
        "-o",
        &from_berth.display().to_string(),
        "fromberth:1",
    ])
    .success();
    let (code, out) = docker(&["load", "-i", &from_berth.display().to_string()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Loaded image: fromberth:1"), "{out}");
    let (_, id) = docker(&["image", "inspect", "-f", "{{.Id}}", "fromberth:1"]);
    assert_eq!(id.trim(), berth_id);
    let (code, out) = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "fromberth:1",
        "echo",
        "from berth",
    ]);
    assert_eq!((code, out.trim()), (0, "from berth"), "{out}");
}

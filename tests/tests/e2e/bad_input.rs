//! Bad input gets a clear 400 with dockerd's words, never a 500 or a stored bad value:
//! references on every endpoint that takes one, hostile tars in `cp`, `import` and `load`,
//! over-long volume names; and what dockerd accepts works: `-v /dev:/dev`, and an exec the
//! kernel refuses (E2BIG) says so. Raw HTTP where a CLI would validate first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use berth_tests::http::Response;

use super::*;

use berth_tests::http::JSON;
const TAR: Option<&str> = Some("application/x-tar");

fn message(r: &Response) -> String {
    let m = r.message();
    if !m.is_empty() {
        return m;
    }
    // A load answers as dockerd 20.10 does: 200, the error as the stream's last message.
    let text = r.text();
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["errorDetail"]["message"].as_str().map(str::to_string))
        .unwrap_or(text)
}

/// The status a refusal has: 400, or for a load 200 with the error in its stream (dockerd's
/// image router answers every load failure so).
fn refusal_status(path: &str) -> u16 {
    if path.starts_with("/images/load") {
        200
    } else {
        400
    }
}

/// Sends the request and asserts a refusal (see [`refusal_status`]) whose message is `want`
/// exactly.
#[track_caller]
fn refused(d: &TestDaemon, method: &str, path: &str, ct: Option<&str>, body: &[u8], want: &str) {
    let r = d.api(method, path, ct, body);
    assert_eq!(
        (r.status, message(&r).as_str()),
        (refusal_status(path), want),
        "{method} {}",
        &path[..path.len().min(120)]
    );
}

fn repo_tags(d: &TestDaemon) -> BTreeSet<String> {
    let r = d.api("GET", "/images/json?all=1", None, b"");
    r.json()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .flat_map(|i| i["RepoTags"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect()
}

/// Image ids, blobs and unpacked layers: what a failed import or load must not leave behind.
fn stored(d: &TestDaemon) -> (BTreeSet<String>, BTreeSet<String>) {
    let r = d.api("GET", "/images/json?all=1", None, b"");
    let ids = r
        .json()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i["Id"].as_str().map(str::to_string))
        .collect();
    let mut files = BTreeSet::new();
    for dir in ["content/blobs/sha256", "overlay"] {
        if let Ok(list) = std::fs::read_dir(d.data_root.join(dir)) {
            for e in list.flatten() {
                files.insert(format!("{dir}/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    (ids, files)
}

/// A docker-archive (`docker save` layout) of one image with `layer` as its only layer.
fn docker_archive(layer: &[u8], repo_tags: &[&str]) -> Vec<u8> {
    berth_tests::tarball::docker_archive(&[layer.to_vec()], &[sha256_hex(layer)], repo_tags)
}

fn small_layer() -> Vec<u8> {
    berth_tests::tarball::tar_of(&[("hello.txt", "hello\n")])
}

#[test]
fn references_are_refused_before_anything_is_stored() {
    let Some(d) = TestDaemon::start() else { return };
    let long = "a".repeat(300);
    let hex64 = "0123456789abcdef".repeat(4);
    let ctr = d.api(
        "POST",
        "/containers/create",
        JSON,
        br#"{"Image":"busybox"}"#,
    );
    assert_eq!(ctr.status, 201, "{}", ctr.text());
    let ctr = ctr
        .json()
        .and_then(|v| v["Id"].as_str().map(str::to_string))
        .unwrap_or_default();
    let invalid = "invalid reference format";
    let too_long = "repository name must not be more than 255 characters";
    let upper = "invalid reference format: repository name (library/Foo) must be lowercase";
    let bad_tag = "invalid tag format";
    let empty_tar = berth_tests::tarball::tar_of(&[]);

    // POST /images/{name}/tag
    for (query, want) in [
        ("repo=../x&tag=y".to_string(), invalid),
        (format!("repo={long}&tag=y"), too_long),
        ("repo=Foo&tag=y".into(), upper),
        ("repo=foo&tag=-y".into(), bad_tag),
        (format!("repo=foo&tag={}", "t".repeat(129)), bad_tag),
        ("repo=a..b&tag=y".into(), invalid),
        ("repo=&tag=y".into(), invalid),
        (
            format!("repo={hex64}"),
            &*format!(
                "invalid repository name ({hex64}), cannot specify 64-byte hexadecimal strings"
            ),
        ),
    ] {
        refused(
            &d,
            "POST",
            &format!("/images/busybox/tag?{query}"),
            None,
            b"",
            want,
        );
    }
    // POST /commit
    refused(
        &d,
        "POST",
        &format!("/commit?container={ctr}&repo=../x&tag=y"),
        JSON,
        b"{}",
        invalid,
    );
    refused(
        &d,
        "POST",
        &format!("/commit?container={ctr}&repo={long}"),
        JSON,
        b"{}",
        too_long,
    );
    refused(
        &d,
        "POST",
        &format!("/commit?container={ctr}&repo=foo&tag=-y"),
        JSON,
        b"{}",
        bad_tag,
    );
    // POST /build
    refused(&d, "POST", "/build?t=../x", TAR, &empty_tar, invalid);
    refused(
        &d,
        "POST",
        &format!("/build?t={long}"),
        TAR,
        &empty_tar,
        too_long,
    );
    refused(&d, "POST", "/build?t=Foo", TAR, &empty_tar, upper);
    refused(
        &d,
        "POST",
        &format!("/build?t=foo@sha256:{hex64}"),
        TAR,
        &empty_tar,
        "build tag cannot contain a digest",
    );
    // POST /images/create: import and pull
    let layer = small_layer();
    refused(
        &d,
        "POST",
        "/images/create?fromSrc=-&repo=../x",
        TAR,
        &layer,
        invalid,
    );
    refused(
        &d,
        "POST",
        &format!("/images/create?fromSrc=-&repo={long}"),
        TAR,
        &layer,
        too_long,
    );
    refused(
        &d,
        "POST",
        "/images/create?fromSrc=-&repo=foo&tag=-1",
        TAR,
        &layer,
        bad_tag,
    );
    refused(
        &d,
        "POST",
        "/images/create?fromImage=../x&tag=y",
        None,
        b"",
        invalid,
    );
    refused(&d, "POST", "/images/create?fromImage=Foo", None, b"", upper);
    refused(
        &d,
        "POST",
        &format!("/images/create?fromImage={long}"),
        None,
        b"",
        too_long,
    );
    refused(
        &d,
        "POST",
        "/images/create?fromImage=foo&tag=-x",
        None,
        b"",
        bad_tag,
    );
    // POST /images/{name}/push
    refused(&d, "POST", "/images/Foo/push", None, b"", upper);
    refused(
        &d,
        "POST",
        &format!("/images/{long}/push"),
        None,
        b"",
        too_long,
    );
    refused(
        &d,
        "POST",
        "/images/busybox/push?tag=-x",
        None,
        b"",
        bad_tag,
    );
    // POST /containers/create
    refused(
        &d,
        "POST",
        "/containers/create",
        JSON,
        br#"{"Image":"../x"}"#,
        invalid,
    );
    refused(
        &d,
        "POST",
        "/containers/create",
        JSON,
        format!(r#"{{"Image":"{long}"}}"#).as_bytes(),
        too_long,
    );
    refused(
        &d,
        "POST",
        "/containers/create",
        JSON,
        br#"{"Image":"busybox:-x"}"#,
        invalid,
    );
    // POST /images/load: manifest.json's RepoTags
    let before = stored(&d);
    let bad = docker_archive(&layer, &["../x:y"]);
    refused(&d, "POST", "/images/load?quiet=1", TAR, &bad, invalid);
    let long_tag = format!("{long}:latest");
    let bad = docker_archive(&layer, &[&long_tag]);
    refused(&d, "POST", "/images/load?quiet=1", TAR, &bad, too_long);
    assert_eq!(stored(&d), before, "a refused load left something behind");

    // Nothing was stored, under any name.
    assert_eq!(
        repo_tags(&d),
        BTreeSet::from(["busybox:latest".to_string()])
    );
    // And what the grammar allows still works, with dockerd's normalisation.
    let r = d.api(
        "POST",
        "/images/busybox/tag?repo=index.docker.io/me/app:old&tag=v1.0_rc-1",
        None,
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(
        repo_tags(&d).contains("me/app:v1.0_rc-1"),
        "{:?}",
        repo_tags(&d)
    );
}

both_clients! {
    fn cli_shows_the_reference_and_volume_messages(d, c) {
        // docker validates references itself with the same words; berth shows the daemon's.
        d.run(c, &["tag", "busybox", "../x:y"]).code_is(1).stderr_has("invalid reference format");
        let long = "a".repeat(300);
        d.run(c, &["tag", "busybox", &long])
            .code_is(1)
            .stderr_has("repository name must not be more than 255 characters");
        // Volume names reach the daemon unchecked from both CLIs.
        d.run(c, &["volume", "create", &long])
            .code_is(1)
            .stderr_has(&format!("create {long}: volume name is too long, names should be at most 231 characters"));
        d.run(c, &["run", "--rm", "-v", &format!("{long}:/data"), "busybox", "true"])
            .code_is(125)
            .stderr_has("volume name is too long");
        assert_eq!(repo_tags(d), BTreeSet::from(["busybox:latest".to_string()]));
    }

    fn dev_bind_mount_works_as_under_dockerd(d, c) {
        let ptmx = std::fs::symlink_metadata("/dev/ptmx").map(|m| m.file_type());
        let kcore = Path::new("/dev/kcore").exists();
        let out = d.run(c, &[
            "run", "--rm", "-v", "/dev:/dev", "busybox", "sh", "-c",
            "test -c /dev/null && test -c /dev/ptmx && grep -q '^devtmpfs /dev devtmpfs' /proc/self/mounts && echo dev-ok",
        ]);
        out.success().stdout_has("dev-ok");
        d.run(c, &["run", "--rm", "-v", "/dev:/dev:ro", "busybox", "touch", "/dev/berth-should-not-exist"])
            .code_is(1)
            .stderr_has("Read-only file system");
        // The host's /dev is as it was: /dev/ptmx is still the device, nothing was added.
        assert_eq!(std::fs::symlink_metadata("/dev/ptmx").map(|m| m.file_type()).ok(), ptmx.ok());
        assert_eq!(Path::new("/dev/kcore").exists(), kcore);
        assert!(!Path::new("/dev/berth-should-not-exist").exists());
    }

    fn exec_beyond_the_kernels_argument_limit_says_so(d, c) {
        let name = unique_name("e2big");
        d.run_detached(c, &["--name", &name, "busybox", "sleep", "600"]);
        // 60 variables of 60 kB: over the kernel's 2 MiB (stack limit / 4) for argv and
        // environment, with every line short enough for docker's env-file reader.
        let env_file = d.dir().join("big.env");
        let value = "x".repeat(60_000);
        let text: String = (0..60).map(|i| format!("V{i}={value}\n")).collect();
        std::fs::write(&env_file, text).expect("env file");
        let env_file = env_file.display().to_string();
        // dockerd writes an exec's start failure into the output stream, so both CLIs show it
        // on stdout.
        d.run(c, &["exec", "--env-file", &env_file, &name, "true"])
            .code_is(126)
            .stdout_has("OCI runtime exec failed: exec failed: unable to start container process: exec /bin/true: argument list too long");
        // The shim still serves requests afterwards.
        d.run(c, &["exec", &name, "echo", "still-fine"]).success().stdout_has("still-fine");
        d.run(c, &["rm", "-f", &name]).success();
    }
}

#[test]
fn exec_with_a_one_megabyte_variable_gets_the_kernels_reason() {
    let Some(d) = TestDaemon::start() else { return };
    let name = unique_name("e2big");
    d.run_detached(Client::Berth, &["--name", &name, "busybox", "sleep", "600"]);
    let body = serde_json::json!({
        "Cmd": ["true"],
        "Env": [format!("BIG={}", "x".repeat(1 << 20))],
        "AttachStdout": true,
        "AttachStderr": true,
    })
    .to_string();
    let r = d.api(
        "POST",
        &format!("/containers/{name}/exec"),
        JSON,
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r
        .json()
        .and_then(|v| v["Id"].as_str().map(str::to_string))
        .unwrap_or_default();
    let r = d.api(
        "POST",
        &format!("/exec/{id}/start"),
        JSON,
        br#"{"Detach":false,"Tty":false}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert!(
        text.contains("OCI runtime exec failed: exec failed: unable to start container process: exec /bin/true: argument list too long"),
        "{text}"
    );
    let r = d.api("GET", &format!("/exec/{id}/json"), None, b"");
    assert_eq!(
        r.json().map(|v| v["ExitCode"].clone()),
        Some(serde_json::json!(126)),
        "{}",
        r.text()
    );
    d.run(Client::Berth, &["rm", "-f", &name]).success();
}

#[test]
fn long_volume_names_are_a_clear_400() {
    let Some(d) = TestDaemon::start() else { return };
    let long = "v".repeat(300);
    let want =
        format!("create {long}: volume name is too long, names should be at most 231 characters");
    refused(
        &d,
        "POST",
        "/volumes/create",
        JSON,
        format!(r#"{{"Name":"{long}"}}"#).as_bytes(),
        &want,
    );
    let create = format!(r#"{{"Image":"busybox","HostConfig":{{"Binds":["{long}:/data"]}}}}"#);
    refused(
        &d,
        "POST",
        "/containers/create",
        JSON,
        create.as_bytes(),
        &want,
    );
    refused(
        &d,
        "POST",
        "/volumes/create",
        JSON,
        br#"{"Name":"a"}"#,
        "create a: volume name is too short, names should be at least two alphanumeric characters",
    );
    // The longest name: 231 characters, so that `.trash.<16 hex>.<name>` fits in 255.
    let ok = "v".repeat(231);
    let r = d.api(
        "POST",
        "/volumes/create",
        JSON,
        format!(r#"{{"Name":"{ok}"}}"#).as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.api("DELETE", &format!("/volumes/{ok}"), None, b"");
    assert_eq!(r.status, 204, "{}", r.text());
    let left: Vec<_> = std::fs::read_dir(d.data_root.join("volumes"))
        .map(|l| l.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.iter().all(|n| n.len() < 255), "{left:?}");
}

/// One entry of a hostile archive.
enum Entry {
    File(String),
    Dir(String),
    Symlink(String, String),
    Hardlink(String, String),
    CharDev(String),
}

/// Writes `entries` with raw names (tar::Builder refuses `..`, which is the point); names
/// longer than the ustar field go through a PAX `path` record.
fn hostile_tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (name, kind, link, data): (&str, tar::EntryType, Option<&str>, &[u8]) = match e {
            Entry::File(n) => (n, tar::EntryType::Regular, None, b"pwned\n"),
            Entry::Dir(n) => (n, tar::EntryType::Directory, None, b""),
            Entry::Symlink(n, t) => (n, tar::EntryType::Symlink, Some(t), b""),
            Entry::Hardlink(n, t) => (n, tar::EntryType::Link, Some(t), b""),
            Entry::CharDev(n) => (n, tar::EntryType::Char, None, b""),
        };
        if name.len() >= 100 {
            b.append_pax_extensions([("path", name.as_bytes())])
                .expect("pax path");
        }
        let mut h = tar::Header::new_ustar();
        let raw = &name.as_bytes()[..name.len().min(99)];
        h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_mtime(1_600_000_000);
        if let Some(t) = link {
            h.set_link_name_literal(t).expect("link name");
        }
        if kind == tar::EntryType::Char {
            h.set_device_major(1).expect("major");
            h.set_device_minor(3).expect("minor");
        }
        h.set_cksum();
        b.append(&h, data).expect("entry");
    }
    b.into_inner().expect("tar")
}

/// What an endpoint must answer for one archive: refused naming the entry, or applied (and
/// contained).
#[derive(Clone, Copy)]
enum Expect {
    Refused(&'static str),
    Applied,
}

fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|l| {
            l.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn hostile_tars_are_refused_naming_the_entry_and_touch_nothing_outside() {
    let Some(d) = TestDaemon::start() else { return };
    // A canary on the host, outside the daemon's data: every escape aims at it.
    let canary_dir: PathBuf = d.dir().join("canary");
    std::fs::create_dir(&canary_dir).expect("canary dir");
    let canary = canary_dir.join("passwd");
    std::fs::write(&canary, "canary\n").expect("canary");
    let c = canary_dir.display().to_string();
    let c_rel = c.trim_start_matches('/');
    let up = "../".repeat(12);
    let long = "n".repeat(300);
    let s = |x: &str| x.to_string();

    use Entry::*;
    use Expect::*;
    // (case, entries, cp, import, load); dockerd's wording where it has one.
    let corpus: Vec<(&str, Vec<Entry>, Expect, Expect, Expect)> = vec![
        (
            "dotdot",
            vec![File(format!("{up}{c_rel}/dotdot"))],
            Refused("is outside of"),
            Refused("is outside of"),
            Refused("is outside of"),
        ),
        (
            "absolute",
            vec![File(format!("{c}/absolute"))],
            Applied,
            Applied,
            Applied,
        ),
        (
            "symlink-to-root-then-file",
            vec![
                Symlink(s("rootlink"), s("/")),
                File(format!("rootlink{c}/through-root")),
            ],
            Applied,
            Applied,
            Applied,
        ),
        // The link resolves inside the root: in the container, "absolute" above made that
        // directory under /tmp (dockerd applies it too); in a new layer it does not exist.
        (
            "symlink-dir-out",
            vec![
                Symlink(s("outdir"), c.clone()),
                File(s("outdir/escape-symdir")),
            ],
            Applied,
            Refused("open /outdir/escape-symdir: no such file or directory"),
            Refused("open /outdir/escape-symdir: no such file or directory"),
        ),
        (
            "relative-chain",
            vec![
                Dir(s("c")),
                Symlink(s("c/a"), s("../../..")),
                File(s("c/a/escape-chain")),
            ],
            Refused("invalid symlink \"c/a\" -> \"../../..\""),
            Refused("invalid symlink \"c/a\" -> \"../../..\""),
            Refused("invalid symlink \"c/a\" -> \"../../..\""),
        ),
        (
            "hardlink-etc-passwd",
            vec![Hardlink(s("pw"), s("/etc/passwd"))],
            Refused("link /etc/passwd /pw: no such file or directory"),
            Refused("link /etc/passwd /pw: no such file or directory"),
            Refused("link /etc/passwd /pw: no such file or directory"),
        ),
        (
            "hardlink-canary",
            vec![Hardlink(s("pwc"), format!("{c}/passwd"))],
            Refused("/pwc: no such file or directory"),
            Refused("/pwc: no such file or directory"),
            Refused("/pwc: no such file or directory"),
        ),
        (
            "hardlink-dotdot",
            vec![Hardlink(s("pw2"), format!("{up}{c_rel}/passwd"))],
            Refused("invalid hardlink \"pw2\""),
            Refused("invalid hardlink \"pw2\""),
            Refused("invalid hardlink \"pw2\""),
        ),
        (
            "hardlink-through-symlink",
            vec![
                Symlink(s("etcl"), c.clone()),
                Hardlink(s("pw3"), s("etcl/passwd")),
            ],
            Refused("link /etcl/passwd /pw3: no such file or directory"),
            Refused("link /etcl/passwd /pw3: no such file or directory"),
            Refused("link /etcl/passwd /pw3: no such file or directory"),
        ),
        (
            "symlink-then-hardlink-then-file",
            vec![
                Symlink(s("sl"), format!("{c}/passwd")),
                Hardlink(s("hl"), s("sl")),
                File(s("sl")),
                File(s("hl")),
            ],
            Applied,
            Applied,
            Applied,
        ),
        // A top-level link's ".." stop at the root (images ship `linuxrc -> ../bin/busybox`).
        (
            "relative-symlink-out-then-hardlink",
            vec![
                Symlink(s("s2"), format!("{up}{c_rel}/passwd")),
                Hardlink(s("h2"), s("s2")),
            ],
            Applied,
            Applied,
            Applied,
        ),
        (
            "nested-relative-symlink-out-then-hardlink",
            vec![
                Dir(s("d")),
                Symlink(s("d/s3"), format!("{up}{c_rel}/passwd")),
                Hardlink(s("h3"), s("d/s3")),
            ],
            Refused("invalid symlink \"d/s3\""),
            Refused("invalid symlink \"d/s3\""),
            Refused("invalid symlink \"d/s3\""),
        ),
        (
            "device-node",
            vec![CharDev(s("nulldev"))],
            Applied,
            Applied,
            Applied,
        ),
        (
            "very-long-name",
            vec![File(long.clone())],
            Refused("file name too long"),
            Refused("file name too long"),
            Refused("file name too long"),
        ),
    ];

    let ctr = d.api(
        "POST",
        "/containers/create",
        JSON,
        br#"{"Image":"busybox"}"#,
    );
    assert_eq!(ctr.status, 201, "{}", ctr.text());
    let ctr = ctr
        .json()
        .and_then(|v| v["Id"].as_str().map(str::to_string))
        .unwrap_or_default();
    let outside_before = listing(d.dir());
    let mut answers = Vec::new();
    for (case, entries, cp, import, load) in &corpus {
        let tar = hostile_tar(entries);
        let archive = docker_archive(&tar, &[&format!("hostile-load-{case}:latest")]);
        for (endpoint, path, body, expect) in [
            (
                "cp",
                format!("/containers/{ctr}/archive?path=/tmp"),
                &tar,
                cp,
            ),
            (
                "import",
                format!("/images/create?fromSrc=-&repo=hostile-import-{case}"),
                &tar,
                import,
            ),
            ("load", "/images/load?quiet=1".to_string(), &archive, load),
        ] {
            let before = stored(&d);
            let r = d.api(
                if endpoint == "cp" { "PUT" } else { "POST" },
                &path,
                TAR,
                body,
            );
            let msg = message(&r);
            answers.push(format!(
                "{case} {endpoint}: {} {}",
                r.status,
                &msg[..msg.len().min(100)]
            ));
            match expect {
                Refused(want) => {
                    assert_eq!(r.status, refusal_status(&path), "{case} {endpoint}: {msg}");
                    assert!(
                        msg.contains(want),
                        "{case} {endpoint}: {msg:?} lacks {want:?}"
                    );
                    if endpoint != "cp" {
                        assert_eq!(
                            stored(&d),
                            before,
                            "{case} {endpoint}: a refused archive left something behind"
                        );
                    }
                }
                Applied => {
                    assert_eq!(r.status, 200, "{case} {endpoint}: {msg}");
                    assert!(
                        !r.text().contains("\"error"),
                        "{case} {endpoint}: {}",
                        r.text()
                    );
                }
            }
            assert_eq!(
                std::fs::read_to_string(&canary).ok().as_deref(),
                Some("canary\n"),
                "{case} {endpoint}"
            );
            assert_eq!(
                listing(&canary_dir),
                BTreeSet::from([s("passwd")]),
                "{case} {endpoint}"
            );
            assert_eq!(listing(d.dir()), outside_before, "{case} {endpoint}");
        }
    }
    eprintln!(
        "hostile archives and their answers:\n{}",
        answers.join("\n")
    );
    // Only the applied archives were stored.
    let tags = repo_tags(&d);
    for (case, _, _, import, load) in &corpus {
        assert_eq!(
            tags.contains(&format!("hostile-import-{case}:latest")),
            matches!(import, Applied),
            "{case}"
        );
        assert_eq!(
            tags.contains(&format!("hostile-load-{case}:latest")),
            matches!(load, Applied),
            "{case}"
        );
    }
}

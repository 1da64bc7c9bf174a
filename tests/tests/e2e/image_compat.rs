//! What docker-py 7.2's integration tests found where berth differed from dockerd 20.10: volume
//! prune by API version, image load errors inside the stream, and the classic builder's
//! Dockerfile-outside-the-context, `.dockerignore`, stderr framing, `cachefrom`, `extrahosts`
//! and error codes. Raw HTTP with the request shapes docker-py sends, so the same tests run
//! against a reference dockerd (`BERTH_TEST_DAEMON=/usr/sbin/dockerd`).

use berth_tests::host::url_encode;
use berth_tests::tarball::tar_of;
use berth_tests::{unique_name, Client, TestDaemon};
use serde_json::{json, Value};

/// The highest API version the daemon serves (`GET /version`'s `ApiVersion`).
fn api_version(d: &TestDaemon) -> String {
    let v = d
        .api("GET", "/version", None, b"")
        .json()
        .expect("version JSON");
    v["ApiVersion"].as_str().expect("ApiVersion").to_string()
}

fn at_least(version: &str, want: (u64, u64)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    have >= want
}

/// Whether the daemon under test is a reference dockerd rather than berthd.
fn is_dockerd() -> bool {
    std::env::var_os("BERTH_TEST_DAEMON").is_some()
}

/// Every JSON message of a stream answer.
fn messages(body: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .map(|m| m.expect("a JSON message"))
        .collect()
}

/// `POST /build?<query>` with `context` as the body; the status and the stream's messages.
#[track_caller]
fn build(d: &TestDaemon, query: &str, context: &[u8]) -> (u16, Vec<Value>) {
    let r = d.api(
        "POST",
        &format!("/build?{query}"),
        Some("application/tar"),
        context,
    );
    let msgs = if r.status == 200 {
        messages(&r.body)
    } else {
        vec![r.json().unwrap_or_default()]
    };
    (r.status, msgs)
}

/// docker-py's context for `fileobj=`: the Dockerfile alone.
fn dockerfile_only(text: &str) -> Vec<u8> {
    tar_of(&[("Dockerfile", text)])
}

/// All `stream` texts of a build, joined.
fn stream_text(msgs: &[Value]) -> String {
    msgs.iter().filter_map(|m| m["stream"].as_str()).collect()
}

/// Fails unless the build ended without an error message.
#[track_caller]
fn built(status: u16, msgs: &[Value]) {
    assert_eq!(status, 200, "{msgs:?}");
    assert!(
        msgs.iter().all(|m| m.get("errorDetail").is_none()),
        "the build failed: {msgs:?}"
    );
}

#[track_caller]
fn image_exists(d: &TestDaemon, name: &str) -> bool {
    let r = d.api("GET", &format!("/images/{name}/json"), None, b"");
    match r.status {
        200 => true,
        404 => false,
        s => panic!("inspect {name}: {s} {}", r.text()),
    }
}

#[track_caller]
fn remove_image(d: &TestDaemon, name: &str) {
    let r = d.api("DELETE", &format!("/images/{name}?force=1"), None, b"");
    assert!(
        r.status == 200 || r.status == 404,
        "rmi {name}: {} {}",
        r.status,
        r.text()
    );
}

// ---- volumes ----

/// A named volume and an anonymous one (from an image-less `Volumes` entry of a container that
/// is then removed without `v`), both unused.
#[track_caller]
fn named_and_anonymous(d: &TestDaemon) -> (String, String) {
    let named = unique_name("pruned");
    let r = d.api(
        "POST",
        "/volumes/create",
        Some("application/json"),
        json!({ "Name": named }).to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let before = d.volume_names();
    let r = d.api(
        "POST",
        "/containers/create",
        Some("application/json"),
        json!({ "Image": "busybox", "Cmd": ["true"], "Volumes": { "/data": {} } })
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json().expect("create JSON")["Id"]
        .as_str()
        .expect("Id")
        .to_string();
    // The anonymous volume appears at create on dockerd, at start on some engines.
    let r = d.api("POST", &format!("/containers/{id}/start"), None, b"");
    assert_eq!(r.status, 204, "{}", r.text());
    let r = d.api("POST", &format!("/containers/{id}/wait"), None, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = d.api("DELETE", &format!("/containers/{id}"), None, b"");
    assert_eq!(r.status, 204, "{}", r.text());
    let anon: Vec<String> = d
        .volume_names()
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    assert_eq!(anon.len(), 1, "one anonymous volume: {anon:?}");
    (named, anon[0].clone())
}

fn pruned(d: &TestDaemon, path: &str) -> Vec<String> {
    let r = d.api("POST", path, None, b"");
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    let v = r.json().expect("prune JSON");
    assert!(v["SpaceReclaimed"].is_u64(), "{v}");
    v["VolumesDeleted"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// API >= 1.42: anonymous volumes only, named ones too with `all=true`; below 1.42 every
/// unused volume (dockerd's router adds `all=true` for those clients).
#[test]
fn volume_prune_follows_the_api_version() {
    let Some(d) = TestDaemon::start() else { return };
    let current = api_version(&d);
    if at_least(&current, (1, 42)) {
        let (named, anon) = named_and_anonymous(&d);
        // docker-py's prune_volumes() without filters.
        let gone = pruned(&d, &format!("/v{current}/volumes/prune"));
        assert!(gone.contains(&anon), "the anonymous volume goes: {gone:?}");
        assert!(!gone.contains(&named), "a named one stays: {gone:?}");
        assert!(d.volume_names().contains(&named));
        // prune_volumes(filters={'all': True}): docker-py sends {"all": ["true"]}.
        let all = url_encode(r#"{"all": ["true"]}"#);
        let gone = pruned(&d, &format!("/v{current}/volumes/prune?filters={all}"));
        assert_eq!(gone, vec![named.clone()]);
        // One value only, as moby's withPrune.
        let two = url_encode(r#"{"all": ["true", "false"]}"#);
        let r = d.api(
            "POST",
            &format!("/v{current}/volumes/prune?filters={two}"),
            None,
            b"",
        );
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(
            r.text().contains("only one value is expected"),
            "{}",
            r.text()
        );
    }
    let (named, anon) = named_and_anonymous(&d);
    let gone = pruned(&d, "/v1.41/volumes/prune");
    assert!(gone.contains(&anon), "{gone:?}");
    assert!(
        gone.contains(&named),
        "below 1.42 a named volume goes too: {gone:?}"
    );
    assert!(!d.volume_names().contains(&named));
    // A label filter still narrows it below 1.42.
    let (named, anon) = named_and_anonymous(&d);
    let label = url_encode(r#"{"label": ["nobody-has-this"]}"#);
    assert!(pruned(&d, &format!("/v1.41/volumes/prune?filters={label}")).is_empty());
    for v in [named, anon] {
        let r = d.api("DELETE", &format!("/volumes/{v}"), None, b"");
        assert_eq!(r.status, 204, "{}", r.text());
    }
}

// ---- image load ----

/// A docker-archive whose config names a layer digest the layer does not have.
fn digest_mismatch_archive(tag: &str) -> Vec<u8> {
    let layer = tar_of(&[("hello.txt", "hello\n")]);
    berth_tests::tarball::docker_archive(&[layer], &["0".repeat(64)], &[tag])
}

/// The error a load stream ends with; fails unless the answer is dockerd's: HTTP 200,
/// `application/json`, the last line `{"errorDetail":{"message":M},"error":M}`.
#[track_caller]
fn load_error(d: &TestDaemon, path: &str, body: &[u8]) -> String {
    let r = d.api("POST", path, Some("application/x-tar"), body);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let msgs = messages(&r.body);
    let last = msgs.last().expect("a message");
    let message = last["error"].as_str().expect("an error line").to_string();
    assert!(!message.is_empty());
    assert_eq!(last["errorDetail"], json!({ "message": message }), "{last}");
    message
}

/// docker-py's `images.load(data)` reads the stream and raises `ImageLoadError` on its error
/// line: a load that fails answers 200 with the error in the stream, as dockerd 20.10 does,
/// whether the archive is not a tar at all, is empty or fails its digest check; nothing is
/// stored.
#[test]
fn load_errors_come_in_the_stream() {
    let Some(d) = TestDaemon::start() else { return };
    for path in [
        "/images/load",
        "/images/load?quiet=0",
        "/images/load?quiet=1",
    ] {
        load_error(&d, path, b"this is not a tar archive\n");
        load_error(&d, path, b"");
    }
    let tag = format!("{}:1", unique_name("badload"));
    let message = load_error(&d, "/images/load?quiet=0", &digest_mismatch_archive(&tag));
    assert!(
        message.contains("diffID") || message.contains("diff id"),
        "{message}"
    );
    assert!(!image_exists(&d, &tag), "a failed load stores nothing");
}

// ---- builds ----

/// docker-py and the docker CLI send a Dockerfile from outside the context as
/// `.dockerfile.<random>` in the context, with its name added to `.dockerignore`: dockerd
/// drops both from the context once the Dockerfile is read, so `COPY . /src` copies neither.
#[test]
fn dockerfile_outside_the_context_is_not_copied() {
    let Some(d) = TestDaemon::start() else { return };
    let name = ".dockerfile.5f0c2a9e8b7d6c5b4a39281706f5e4d3c2b1a099";
    let tag = unique_name("outofctx");
    // docker-py's tar(): the user's .dockerignore (".dockerignore") plus the random name.
    let context = tar_of(&[
        ("file.txt", "hello world"),
        (".dockerignore", &format!(".dockerignore\n{name}")),
        (
            name,
            "FROM busybox\nCOPY . /src\nWORKDIR /src\nRUN ls -a /src\n",
        ),
    ]);
    let (status, msgs) = build(
        &d,
        &format!("t={tag}&dockerfile={}&rm=1", url_encode(name)),
        &context,
    );
    built(status, &msgs);
    assert!(
        stream_text(&msgs).contains(".\n..\nfile.txt\n"),
        "only file.txt is copied: {msgs:?}"
    );
    assert!(stream_text(&msgs).contains(&format!("Successfully tagged {tag}:latest")));

    // A Dockerfile inside the context that .dockerignore does not name is copied (and the
    // .dockerignore that does not name itself too), as docker-py's test_build_in_context_*.
    let context = tar_of(&[
        ("file.txt", "hello world"),
        (".dockerignore", "*.md\n"),
        ("notes.md", "x"),
        (
            "custom.dockerfile",
            "FROM busybox\nCOPY . /src\nRUN ls -a /src\n",
        ),
    ]);
    let (status, msgs) = build(&d, "dockerfile=custom.dockerfile&rm=1", &context);
    built(status, &msgs);
    assert!(
        stream_text(&msgs).contains(".\n..\n.dockerignore\ncustom.dockerfile\nfile.txt\n"),
        "{msgs:?}"
    );
    remove_image(&d, &tag);
}

/// docker-py's test_build_with_dockerignore, with the context docker-py sends (filtered by
/// the client, `.dockerignore` and the Dockerfile always in it): the Dockerfile and
/// `.dockerignore` it names are not in the image, the `!` exceptions are, with their parent
/// directories.
#[test]
fn dockerignore_as_docker_py_sends_it() {
    let Some(d) = TestDaemon::start() else { return };
    let ignore = [
        "ignored",
        "Dockerfile",
        ".dockerignore",
        " ignored-with-spaces ",
        "!ignored/subdir/excepted-file",
        "! ignored/subdir/excepted-with-spaces  ",
        "#*",
    ]
    .join("\n");
    let context = tar_of(&[
        ("#file.txt", "not ignored"),
        (".dockerignore", &ignore),
        (
            "Dockerfile",
            "FROM busybox\nADD . /test\nRUN find /test -type f | sort\n",
        ),
        ("ignored/subdir/excepted-file", "kept"),
        ("ignored/subdir/excepted-with-spaces", "kept"),
        ("not-ignored", "kept"),
    ]);
    let (status, msgs) = build(&d, "nocache=1&rm=1", &context);
    built(status, &msgs);
    let want = "/test/#file.txt\n/test/ignored/subdir/excepted-file\n/test/ignored/subdir/excepted-with-spaces\n/test/not-ignored\n";
    assert!(stream_text(&msgs).contains(want), "{msgs:?}");
}

/// berth applies `.dockerignore` to the context itself (dockerd leaves that to the client):
/// with every file sent, what it excludes reaches neither COPY, ADD, the cache key nor a
/// `RUN --mount=type=bind` from the context; moby/patternmatcher's `**`, `!`, leading and
/// trailing `/`.
#[test]
fn dockerignore_filters_every_build_path() {
    if is_dockerd() {
        eprintln!("skipped: dockerd's classic builder leaves .dockerignore to the client");
        return;
    }
    let Some(d) = TestDaemon::start() else { return };
    let ignore = "**/*.log\n!keep/**/important.log\n/top.txt\nbuild/\nsecret\n";
    let dockerfile = "FROM busybox\n\
        COPY . /copied\n\
        ADD . /added\n\
        RUN --mount=type=bind,target=/ctx find /ctx -type f | sort\n\
        RUN find /copied /added -type f | sort\n";
    let files = |log: &str| {
        tar_of(&[
            (".dockerignore", ignore),
            ("Dockerfile", dockerfile),
            ("a.log", log),
            ("deep/er/b.log", log),
            ("keep/x/important.log", "kept"),
            ("keep/x/other.log", log),
            ("top.txt", log),
            ("sub/top.txt", "kept"),
            ("build/out.o", log),
            ("secret", log),
            ("app.txt", "kept"),
        ])
    };
    let (status, msgs) = build(&d, "t=ignore-paths&rm=1", &files("one"));
    built(status, &msgs);
    let listed = stream_text(&msgs);
    for dir in ["/ctx", "/copied", "/added"] {
        let want = format!("{dir}/app.txt\n{dir}/keep/x/important.log\n{dir}/sub/top.txt\n");
        assert!(listed.contains(&want), "{dir}: {listed}");
        assert!(!listed.contains(&format!("{dir}/top.txt")), "{listed}");
    }
    for unseen in ["a.log", "b.log", "other.log", "out.o", "secret"] {
        assert!(!listed.contains(unseen), "{unseen} is left out: {listed}");
    }
    // Changing only excluded files changes no step's key: every step is a cache hit.
    let (status, msgs) = build(&d, "t=ignore-paths&rm=1", &files("two"));
    built(status, &msgs);
    let hits = msgs
        .iter()
        .filter(|m| {
            m["stream"]
                .as_str()
                .is_some_and(|s| s.contains("Using cache"))
        })
        .count();
    assert_eq!(hits, 4, "{msgs:?}");
    remove_image(&d, "ignore-paths");
}

/// docker-py's test_build_stderr_data: RUN's stderr is a stream message of its own wrapped in
/// `\x1b[91m` ... `\x1b[0m`, stdout is not.
#[test]
fn run_stderr_is_framed_as_dockerd() {
    let Some(d) = TestDaemon::start() else { return };
    let snippet = "Ancient Temple (Mystic Oriental Dream ~ Ancient Temple)";
    let context = dockerfile_only(&format!(
        "FROM busybox\nRUN sh -c \">&2 echo '{snippet}'\"\nRUN echo plain-stdout\n"
    ));
    let (status, msgs) = build(&d, "nocache=1&rm=1", &context);
    built(status, &msgs);
    let want = format!("\u{1b}[91m{snippet}\n\u{1b}[0m");
    assert!(
        msgs.iter()
            .any(|m| m["stream"].as_str() == Some(want.as_str())),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m["stream"].as_str() == Some("plain-stdout\n")),
        "{msgs:?}"
    );
}

fn cache_hits(msgs: &[Value]) -> usize {
    msgs.iter()
        .filter(|m| {
            m["stream"]
                .as_str()
                .is_some_and(|s| s.contains("Using cache"))
        })
        .count()
}

/// docker-py's test_build_with_cache_from: the local cache counts when it is below a
/// `cachefrom` image; an image that does not exist gives no hit and no error.
#[test]
fn cachefrom_of_a_missing_image_gives_no_hits() {
    let Some(d) = TestDaemon::start() else { return };
    let context = dockerfile_only("FROM busybox\nENV FOO=bar\nRUN touch baz\nRUN touch bax\n");
    let (one, two) = (unique_name("build1"), unique_name("build2"));
    let (status, msgs) = build(&d, &format!("t={one}&rm=1"), &context);
    built(status, &msgs);
    let from = |name: &str| url_encode(&json!([name]).to_string());
    let (status, msgs) = build(
        &d,
        &format!("t={two}&rm=1&cachefrom={}", from(&one)),
        &context,
    );
    built(status, &msgs);
    assert_eq!(cache_hits(&msgs), 3, "{msgs:?}");
    remove_image(&d, &two);
    let (status, msgs) = build(
        &d,
        &format!("t={two}&rm=1&cachefrom={}", from("nosuchtag")),
        &context,
    );
    built(status, &msgs);
    assert_eq!(cache_hits(&msgs), 0, "{msgs:?}");
    // Without cachefrom the local cache serves as always.
    let (status, msgs) = build(&d, "rm=1", &context);
    built(status, &msgs);
    assert_eq!(cache_hits(&msgs), 3, "{msgs:?}");
    for t in [one, two] {
        remove_image(&d, &t);
    }
}

/// docker-py's test_build_with_extra_hosts: `extrahosts` (repeated `host:ip`) reach RUN's
/// /etc/hosts, and so an image that copies it.
#[test]
fn extrahosts_reach_run() {
    let Some(d) = TestDaemon::start() else { return };
    let tag = unique_name("extrahost");
    let context = dockerfile_only(
        "FROM busybox\nRUN ping -c1 hello.world.test\nRUN ping -c1 extrahost.local.test\nRUN cp /etc/hosts /hosts-file\nRUN cat /hosts-file\n",
    );
    let hosts = format!(
        "extrahosts={}&extrahosts={}",
        url_encode("extrahost.local.test:127.0.0.1"),
        url_encode("hello.world.test:127.0.0.1")
    );
    let (status, msgs) = build(&d, &format!("t={tag}&rm=1&{hosts}"), &context);
    built(status, &msgs);
    let text = stream_text(&msgs);
    assert!(text.contains("127.0.0.1\textrahost.local.test"), "{text}");
    assert!(text.contains("127.0.0.1\thello.world.test"), "{text}");
    remove_image(&d, &tag);
}

/// The last message of a failed build.
#[track_caller]
fn failure(d: &TestDaemon, query: &str, dockerfile: &str) -> Value {
    let (status, msgs) = build(d, query, &dockerfile_only(dockerfile));
    assert_eq!(status, 200, "{msgs:?}");
    msgs.last().cloned().expect("a message")
}

/// Build errors are dockerd's JSON: a RUN that fails has its exit code as `errorDetail.code`
/// and dockerd's message; an unknown `networkmode` has no code; the image is not tagged.
#[test]
fn build_errors_carry_dockerds_code() {
    let Some(d) = TestDaemon::start() else { return };
    let tag = unique_name("failed");
    let m = "The command '/bin/sh -c exit 1' returned a non-zero code: 1";
    assert_eq!(
        failure(&d, &format!("t={tag}&rm=1"), "FROM busybox\nRUN exit 1\n"),
        json!({ "errorDetail": { "code": 1, "message": m }, "error": m })
    );
    let m = "The command '/bin/sh -c echo out && exit 3' returned a non-zero code: 3";
    assert_eq!(
        failure(
            &d,
            &format!("t={tag}&rm=1"),
            "FROM busybox\nRUN echo out && exit 3\n"
        ),
        json!({ "errorDetail": { "code": 3, "message": m }, "error": m })
    );
    // docker-py's test_build_with_network_mode: no network, so the ping fails with 1.
    let last = failure(
        &d,
        &format!("t={tag}&rm=1&nocache=1&networkmode=none"),
        "FROM busybox\nRUN ping -c1 -W1 pingtarget.docker\n",
    );
    assert_eq!(last["errorDetail"]["code"], json!(1), "{last}");
    let m = "network nosuchnet not found";
    assert_eq!(
        failure(
            &d,
            &format!("t={tag}&rm=1&networkmode=nosuchnet"),
            "FROM busybox\nRUN true\n"
        ),
        json!({ "errorDetail": { "message": m }, "error": m })
    );
    assert!(!image_exists(&d, &tag));
}

/// `build -f <file outside the context>` with both CLIs (the docker CLI's classic builder):
/// the Dockerfile travels as `.dockerfile.<random>` named in `.dockerignore`, so neither is
/// copied; a `.dockerignore` of the user's that does not name itself is.
fn build_with_outside_dockerfile(d: &TestDaemon, c: Client, ignore: Option<&str>) -> String {
    let ctx = tempfile::tempdir().expect("tempdir");
    std::fs::write(ctx.path().join("file.txt"), "hello world").expect("write");
    if let Some(text) = ignore {
        std::fs::write(ctx.path().join(".dockerignore"), text).expect("write");
    }
    let df = tempfile::tempdir().expect("tempdir");
    let df_path = df.path().join("Dockerfile");
    std::fs::write(&df_path, "FROM busybox\nCOPY . /src\nRUN ls -a /src\n").expect("write");
    let mut cmd = d.command(c);
    cmd.env("DOCKER_BUILDKIT", "0")
        .args(["build", "--no-cache", "-f"])
        .arg(&df_path)
        .arg(ctx.path());
    let out = berth_tests::cli::run(cmd, None, std::time::Duration::from_secs(120));
    out.success();
    out.out().to_string()
}

both_clients! {
    fn cli_dockerfile_outside_the_context_is_not_copied(d, c) {
        let listed = build_with_outside_dockerfile(d, c, None);
        assert!(listed.contains(".\n..\nfile.txt\n"), "{listed}");
        let listed = build_with_outside_dockerfile(d, c, Some("*.md\n"));
        assert!(listed.contains(".\n..\n.dockerignore\nfile.txt\n"), "{listed}");
    }
}

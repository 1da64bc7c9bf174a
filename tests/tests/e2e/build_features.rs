//! The builder's BuildKit-style instruction features through a real berthd: `RUN
//! --mount=type=bind|secret`, `COPY --parents`, `COPY --link`, `ADD <url>` with `--checksum`,
//! and `--platform`. The Dockerfile flags are read by berthd, so the docker CLI (classic path)
//! drives them too; `--secret` is a BuildKit-only CLI flag, so secrets go through `berth
//! build` only.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::build::{build, cache_hits, context, image_id};
use super::*;

/// Runs `sh -c script` in `image` and returns its output.
fn sh(d: &TestDaemon, c: Client, image: &str, script: &str) -> String {
    d.run(c, &["run", "--rm", image, "sh", "-c", script])
        .success()
        .out()
        .to_string()
}

both_clients! {
    fn run_mount_bind_from_context_and_stage(d, c) {
        let ctx = context(&[
            ("data/a.txt", "from context\n"),
            ("data/sub/b.txt", "nested\n"),
            ("Dockerfile", concat!(
                "FROM busybox AS gen\n",
                "RUN mkdir /out && echo generated > /out/g.txt\n",
                "FROM busybox\n",
                "WORKDIR /w\n",
                "RUN --mount=type=bind,source=data/a.txt,target=/one.txt cat /one.txt > /seen-file\n",
                "RUN --mount=type=bind,from=gen,source=/out,target=/gen cat /gen/g.txt > /seen-g\n",
                "RUN --mount=type=bind,source=data,target=/mnt/data cat /mnt/data/a.txt /mnt/data/sub/b.txt > /seen-a\n",
                "RUN --mount=type=bind,source=data,target=/rw,rw echo changed > /rw/a.txt && cat /rw/a.txt > /seen-rw\n",
                "RUN --mount=type=bind,source=data,target=/again cat /again/a.txt > /seen-again\n",
                "RUN --mount=type=bind,source=data,target=/ro (touch /ro/new 2>/dev/null && echo writable || echo readonly) > /ro-result\n",
                "RUN --mount=type=bind,target=ctx cat ctx/data/a.txt > /seen-root\n",
            )),
        ]);
        let name = unique_name("bindmount");
        build(d, c, ctx.path(), &["-t", &name]).success();
        let out = sh(d, c, &name, "cat /seen-a /seen-g /seen-rw /seen-again /ro-result /seen-root /seen-file");
        assert_eq!(out, "from context\nnested\ngenerated\nchanged\nfrom context\nreadonly\nfrom context\nfrom context", "{out}");
        // The mounted files and the mount points stay out of the image.
        let left = sh(d, c, &name, "for p in /mnt/data /gen /rw /again /ro /w/ctx /one.txt; do test -e $p && echo $p; done; true");
        assert_eq!(left, "", "mount points left in the image: {left}");
        assert_eq!(std::fs::read_to_string(ctx.path().join("data/a.txt")).unwrap_or_default(), "from context\n");

        // A no-change rebuild is all cache; a change in bound files re-runs from the first RUN
        // that binds them (binds of other files and of the stage stay cached before it).
        let again = build(d, c, ctx.path(), &["-t", &name]);
        assert_eq!(cache_hits(again.success()), 9, "{again}");
        std::fs::write(ctx.path().join("data/sub/b.txt"), "changed nested\n").unwrap_or_else(|e| panic!("{e}"));
        let changed = build(d, c, ctx.path(), &["-t", &name]);
        assert_eq!(cache_hits(changed.success()), 4, "{changed}");
        assert!(sh(d, c, &name, "cat /seen-a").contains("changed nested"));

        let missing = context(&[("Dockerfile", "FROM busybox\nRUN --mount=type=bind,source=nothere,target=/x true\n")]);
        build(d, c, missing.path(), &[]).code_is(1).stderr_has("\"/nothere\" not found").stderr_has("line 2");
        // A context symlink out of the context, or `..`, reaches only inside it.
        let esc = context(&[("Dockerfile", "FROM busybox\nRUN --mount=type=bind,source=link/passwd,target=/p cat /p\n")]);
        std::os::unix::fs::symlink("/etc", esc.path().join("link")).unwrap_or_else(|e| panic!("{e}"));
        build(d, c, esc.path(), &[]).code_is(1).stderr_has("\"/link/passwd\" not found");
        let up = context(&[("Dockerfile", "FROM busybox\nRUN --mount=type=bind,source=../../../etc,target=/p ls /p > /listing\n")]);
        build(d, c, up.path(), &[]).code_is(1).stderr_has("\"/etc\" not found");
        let no_src = context(&[("Dockerfile", "FROM busybox AS gen\nRUN true\nFROM busybox\nRUN --mount=type=bind,from=gen,source=/nope,target=/x true\n")]);
        build(d, c, no_src.path(), &[]).code_is(1).stderr_has("\"/nope\" not found in gen").stderr_has("line 4");
        let bad = context(&[("Dockerfile", "FROM busybox\nRUN --mount=type=bind,target=/x,mode=0600 true\n")]);
        build(d, c, bad.path(), &[]).code_is(1).stderr_has("mode not allowed for \"bind\" type mounts");
        assert_eq!(d.run(c, &["ps", "-a", "-q"]).success().out(), "");
    }

    fn copy_parents_keeps_paths_and_pivots(d, c) {
        let ctx = context(&[
            ("x/a.txt", "a"),
            ("x/sub/b.txt", "b"),
            ("y/c.txt", "c"),
            ("src/pkg/mod/m.go", "m"),
            ("Dockerfile", concat!(
                "FROM busybox\n",
                "COPY --parents x/a.txt y/c.txt /p/\n",
                "COPY --parents x/./sub/b.txt /pivot/\n",
                "COPY --parents */c.txt /globbed\n",
                "COPY --parents ./src/./pkg /tree/\n",
                "COPY x/a.txt y/c.txt /flat/\n",
            )),
        ]);
        let name = unique_name("parents");
        build(d, c, ctx.path(), &["-t", &name]).success();
        let out = sh(d, c, &name, "cat /p/x/a.txt /p/y/c.txt /pivot/sub/b.txt /globbed/y/c.txt /tree/pkg/mod/m.go; echo; ls /flat");
        assert_eq!(out, "acbcm\na.txt\nc.txt", "{out}");
        let none = sh(d, c, &name, "test -e /pivot/x && echo pivot-kept-x; test -e /tree/src && echo pivot-kept-src; true");
        assert_eq!(none, "", "{none}");
    }

    fn copy_link_stacks_a_layer_independent_of_the_parent(d, c) {
        let df = |base: &str| format!(
            "FROM busybox\n{base}\nCOPY --link app.txt /app/app.txt\nCOPY --link --chown=1000:1000 conf /etc/conf/\nCOPY --link app.txt /linked/through.txt\n"
        );
        let plain = context(&[("app.txt", "app"), ("conf/c.ini", "c"), ("Dockerfile", &df("RUN true"))]);
        let other = context(&[
            ("app.txt", "app"),
            ("conf/c.ini", "c"),
            ("Dockerfile", &df("RUN mkdir -p /app && chmod 700 /app && touch /app/old && mkdir -p /real && ln -s /real /linked")),
        ]);
        let epoch = ["--build-arg", "SOURCE_DATE_EPOCH=1700000000"];
        let (a, b) = (unique_name("linka"), unique_name("linkb"));
        build(d, c, plain.path(), &[&["-t", a.as_str()][..], &epoch[..]].concat()).success();
        build(d, c, other.path(), &[&["-t", b.as_str()][..], &epoch[..]].concat()).success();
        let layers = |img: &str| -> Vec<String> {
            let v = d.inspect(c, img, "{{json .RootFS.Layers}}");
            serde_json::from_str(&v).unwrap_or_default()
        };
        let (la, lb) = (layers(&a), layers(&b));
        assert!(la.len() >= 4 && lb.len() >= 4, "{la:?} {lb:?}");
        assert_eq!(la[la.len() - 3..], lb[lb.len() - 3..], "--link layers do not depend on the parent");
        // The parent's symlink /linked -> /real is not followed: the path is all directories.
        assert_eq!(sh(d, c, &b, "cat /linked/through.txt; test -e /real/through.txt && echo followed; true"), "app");
        // Stacked, the new files join what the parent had.
        assert_eq!(sh(d, c, &b, "cat /app/app.txt; ls /app; stat -c '%u' /etc/conf/c.ini"), "appapp.txt\nold\n1000");

        // Without --link the parent's /app (mode 700) is copied up into the layer.
        let nolink = |base: &str| format!("FROM busybox\n{base}\nCOPY app.txt /app/app.txt\n");
        let p2 = context(&[("app.txt", "app"), ("Dockerfile", &nolink("RUN true"))]);
        let o2 = context(&[("app.txt", "app"), ("Dockerfile", &nolink("RUN mkdir -p /app && chmod 700 /app"))]);
        let (a2, b2) = (unique_name("nolinka"), unique_name("nolinkb"));
        build(d, c, p2.path(), &[&["-t", a2.as_str()][..], &epoch[..]].concat()).success();
        build(d, c, o2.path(), &[&["-t", b2.as_str()][..], &epoch[..]].concat()).success();
        assert_ne!(layers(&a2).last(), layers(&b2).last(), "the test tells --link apart");
    }

    fn add_from_urls_with_checksum(d, c) {
        let server = HttpServer::start();
        server.set("/files/data.txt", b"remote content\n", Some("Wed, 21 Oct 2015 07:28:00 GMT"));
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        tar.append_data(&mut h, "inner.txt", &b"inner"[..]).unwrap_or_else(|e| panic!("{e}"));
        server.set("/archive.tar", &tar.into_inner().unwrap_or_else(|e| panic!("{e}")), None);
        let sum = sha256_hex(b"remote content\n");
        let base = server.base();
        let ctx = context(&[("Dockerfile", &format!(concat!(
            "FROM busybox\n",
            "ADD {base}/files/data.txt /remote/\n",
            "ADD --checksum=sha256:{sum} {base}/files/data.txt /checked.txt\n",
            "ADD --chown=1000:1000 --chmod=640 {base}/archive.tar /a.tar\n",
        ), base = base, sum = sum))]);
        let name = unique_name("addurl");
        build(d, c, ctx.path(), &["-t", &name]).success();
        let out = sh(d, c, &name, "cat /remote/data.txt /checked.txt; stat -c '%a %u %Y' /remote/data.txt; stat -c '%a %u:%g' /a.tar; test -f /a.tar && echo file; test -e /inner.txt && echo extracted; true");
        assert_eq!(out, "remote content\nremote content\n600 0 1445412480\n640 1000:1000\nfile", "{out}");

        // Unchanged content is a cache hit (the key is the content); a change re-runs.
        assert_eq!(cache_hits(build(d, c, ctx.path(), &["-t", &name]).success()), 3);
        server.set("/archive.tar", b"not a tar any more", None);
        let changed = build(d, c, ctx.path(), &["-t", &name]);
        assert_eq!(cache_hits(changed.success()), 2, "{changed}");

        // Failed builds leave no image behind.
        let dangling = || d.run(c, &["images", "-q", "--filter", "dangling=true"]).success().out().to_string();
        let dangling_before = dangling();
        let wrong = "0".repeat(64);
        let mismatch = context(&[("Dockerfile", &format!("FROM busybox\nADD --checksum=sha256:{wrong} {base}/files/data.txt /x\n"))]);
        build(d, c, mismatch.path(), &[]).code_is(1).stderr_has(&format!("digest mismatch sha256:{sum}: sha256:{wrong}"));
        let local = context(&[("f", "x"), ("Dockerfile", &format!("FROM busybox\nADD --checksum=sha256:{sum} f /x\n"))]);
        build(d, c, local.path(), &[]).code_is(1).stderr_has("checksum can't be specified for non-HTTP(S) sources");
        let missing = context(&[("Dockerfile", &format!("FROM busybox\nADD {base}/nothere.txt /x\n"))]);
        build(d, c, missing.path(), &[]).code_is(1).stderr_has("with status 404 Not Found");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap_or_else(|e| panic!("{e}"));
        let unreachable = context(&[("Dockerfile", &format!("FROM busybox\nADD http://{closed}/x.txt /x\n"))]);
        build(d, c, unreachable.path(), &[]).code_is(1).stderr_has(&format!("dial tcp {closed}: connect: connection refused"));
        assert_eq!(dangling(), dangling_before);
        assert_eq!(d.run(c, &["ps", "-a", "-q"]).success().out(), "");
    }

    fn platform_is_the_hosts_and_predefined_args_are_set(d, c) {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let ctx = context(&[("Dockerfile", concat!(
            "FROM --platform=$BUILDPLATFORM busybox\n",
            "ARG TARGETPLATFORM\n",
            "ARG TARGETARCH\n",
            "ARG BUILDOS\n",
            "RUN echo \"$TARGETPLATFORM $TARGETARCH $BUILDOS\" > /plat\n",
        ))]);
        let name = unique_name("plat");
        build(d, c, ctx.path(), &["--platform", &format!("linux/{arch}"), "-t", &name]).success();
        assert_eq!(sh(d, c, &name, "cat /plat"), format!("linux/{arch} {arch} linux"));
        // Predefined ARGs are not in a stage that does not declare them.
        let undeclared = context(&[("Dockerfile", "FROM busybox\nRUN echo \"[$TARGETARCH]\" > /plat\n")]);
        build(d, c, undeclared.path(), &["-t", &name]).success();
        assert_eq!(sh(d, c, &name, "cat /plat"), "[]");

        let other = if arch == "s390x" { "arm64" } else { "s390x" };
        build(d, c, ctx.path(), &["--platform", &format!("linux/{other}")])
            .code_is(1)
            .stderr_has(&format!("platform linux/{other} is not supported by this berthd"));
        let from_other = context(&[("Dockerfile", &format!("FROM --platform=linux/{other} busybox\nRUN true\n"))]);
        build(d, c, from_other.path(), &[]).code_is(1).stderr_has("is not supported by this berthd").stderr_has("line 1");
    }
}

/// What the test server serves: path -> (body, Last-Modified).
type Served = Arc<Mutex<std::collections::BTreeMap<String, (Vec<u8>, Option<String>)>>>;

/// A tiny HTTP/1.0 server on 127.0.0.1 for `ADD <url>`.
struct HttpServer {
    addr: std::net::SocketAddr,
    files: Served,
}

impl HttpServer {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let files: Served = Arc::default();
        let served = files.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { return };
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let file = served.lock().ok().and_then(|f| f.get(&path).cloned());
                let answer = match file {
                    Some((body, modified)) => {
                        let mut head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
                        if let Some(m) = modified {
                            head.push_str(&format!("Last-Modified: {m}\r\n"));
                        }
                        head.push_str("\r\n");
                        let mut a = head.into_bytes();
                        a.extend_from_slice(&body);
                        a
                    }
                    None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found".to_vec(),
                };
                let _ = s.write_all(&answer);
            }
        });
        Self { addr, files }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set(&self, path: &str, body: &[u8], modified: Option<&str>) {
        if let Ok(mut f) = self.files.lock() {
            f.insert(
                path.to_string(),
                (body.to_vec(), modified.map(str::to_string)),
            );
        }
    }
}

/// Every byte string in `archive` (a `save` tar) and the tars inside it, gzip undone.
fn contains_anywhere(archive: &[u8], needle: &[u8]) -> bool {
    let hit = |data: &[u8]| data.windows(needle.len()).any(|w| w == needle);
    if hit(archive) {
        return true;
    }
    let mut outer = tar::Archive::new(archive);
    let Ok(entries) = outer.entries() else {
        return false;
    };
    for e in entries.flatten() {
        let mut data = Vec::new();
        let mut e = e;
        if e.read_to_end(&mut data).is_err() {
            continue;
        }
        if data.starts_with(&[0x1f, 0x8b]) {
            let mut plain = Vec::new();
            if flate2::read::GzDecoder::new(&data[..])
                .read_to_end(&mut plain)
                .is_ok()
                && hit(&plain)
            {
                return true;
            }
        }
        if hit(&data) {
            return true;
        }
    }
    false
}

/// Files under `dir` whose bytes contain `needle` (sockets and the like skipped).
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else if meta.is_file() {
            if let Ok(data) = std::fs::read(&p) {
                if data.windows(needle.len()).any(|w| w == needle) {
                    found.push(p.display().to_string());
                }
            }
        }
    }
    found
}

/// `RUN --mount=type=secret` with `berth build --secret` (a BuildKit-only CLI flag).
#[test]
fn run_mount_secret_never_lands_in_the_image() {
    let Some(d) = TestDaemon::start() else { return };
    let c = Client::Berth;
    let secret = "s3cr3t-VALUE-4815162342";
    let ctx = context(&[
        ("Dockerfile", concat!(
            "FROM busybox\n",
            "RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -c1-64 > /sum && stat -c '%a %u' /run/secrets/tok > /meta1\n",
            "RUN --mount=type=secret,id=tok,target=/etc/tok.conf,mode=0440,uid=1000,gid=1000 stat -c '%a %u:%g' /etc/tok.conf > /meta2 && (echo x > /etc/tok.conf 2>/dev/null && echo writable || echo readonly) >> /meta2\n",
            "RUN --mount=type=secret,id=optional (test -e /run/secrets/optional && echo present || echo absent) > /meta3\n",
            "RUN --mount=type=secret,id=tok,required cp /run/secrets/tok /dev/null && echo ok > /meta4\n",
        )),
    ]);
    let file = ctx.path().join("tok.txt");
    std::fs::write(&file, secret).unwrap_or_else(|e| panic!("{e}"));
    let name = unique_name("secret");
    let spec = format!("id=tok,src={}", file.display());
    let out = build(&d, c, ctx.path(), &["--secret", &spec, "-t", &name]);
    out.success();
    assert!(
        !out.out().contains(secret),
        "the secret is in the build output: {out}"
    );
    assert_eq!(
        sh(&d, c, &name, "cat /sum /meta1 /meta2 /meta3 /meta4"),
        format!(
            "{}\n400 0\n440 1000:1000\nreadonly\nabsent\nok",
            sha256_hex(secret.as_bytes())
        )
    );
    let left = sh(&d, c, &name, "test -e /run/secrets && echo /run/secrets; test -e /etc/tok.conf && echo /etc/tok.conf; true");
    assert_eq!(left, "", "secret mount points left in the image: {left}");

    // Not in any layer, config or history; not anywhere in the daemon's data root.
    let archive = d.dir().join("secret.tar");
    d.berth(&["save", "-o", &archive.display().to_string(), &name])
        .success();
    let bytes = std::fs::read(&archive).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !contains_anywhere(&bytes, secret.as_bytes()),
        "the secret is in the saved image"
    );
    let inspect = d
        .run(c, &["image", "inspect", &name])
        .success()
        .out()
        .to_string();
    let history = d
        .run(c, &["history", "--no-trunc", &name])
        .success()
        .out()
        .to_string();
    assert!(!inspect.contains(secret) && !history.contains(secret));
    let hits = files_containing(&d.data_root, secret.as_bytes());
    assert!(
        hits.is_empty(),
        "the secret is on disk in the data root: {hits:?}"
    );
    let secrets_dir = d.exec_root.join("build-secrets");
    let leftovers = std::fs::read_dir(&secrets_dir)
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(
        leftovers,
        0,
        "secret tmpfs dirs left in {}",
        secrets_dir.display()
    );

    // From an environment variable; the value is not part of the cache key (as BuildKit).
    let mut cmd = d.command(c);
    cmd.env("TOKVAR", "another-value")
        .args(["build", "--secret", "id=tok,env=TOKVAR", "-t", &name])
        .arg(ctx.path());
    let again = berth_tests::cli::run(cmd, None, Duration::from_secs(120));
    assert_eq!(cache_hits(again.success()), 4, "{again}");

    // A required secret that was not given fails the step, naming it.
    let required = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=secret,id=tok,required true\n",
    )]);
    build(&d, c, required.path(), &[])
        .code_is(1)
        .stderr_has("secret tok: not found")
        .stderr_has("line 2");
    let id = image_id(&d, c, &name);
    assert!(!id.is_empty());
    assert_eq!(d.run(c, &["ps", "-a", "-q"]).success().out(), "");
}

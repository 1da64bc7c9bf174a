//! The builder through a real berthd with both CLIs (the docker CLI on its classic path,
//! `DOCKER_BUILDKIT=0`): the seed example served on a published port, every config
//! instruction seen in inspect, multi-stage with --target (unneeded stages skipped), cache
//! hits and exactly-right invalidation, .dockerignore, build args, SOURCE_DATE_EPOCH
//! reproducibility, builder prune, and bad input that leaves nothing behind.

use std::path::{Path, PathBuf};

use super::*;

/// A build context on disk: `files` are (relative path, content).
pub(super) fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for (name, content) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(&path, content).unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

/// `build args... DIR` (the docker CLI on its classic builder).
#[track_caller]
pub(super) fn build(d: &TestDaemon, c: Client, dir: &Path, args: &[&str]) -> berth_tests::cli::Out {
    let mut cmd = d.command(c);
    cmd.env("DOCKER_BUILDKIT", "0")
        .arg("build")
        .args(args)
        .arg(dir);
    berth_tests::cli::run(cmd, None, Duration::from_secs(120))
}

pub(super) fn image_id(d: &TestDaemon, c: Client, name: &str) -> String {
    d.run(c, &["image", "inspect", "-f", "{{.Id}}", name])
        .success()
        .out()
        .to_string()
}

/// How many steps of a build's output say "Using cache".
pub(super) fn cache_hits(out: &berth_tests::cli::Out) -> usize {
    out.out().matches("---> Using cache").count()
}

both_clients! {
    fn seed_example_builds_and_answers_on_its_port(d, c) {
        let ctx = context(&[
            ("requirements.txt", "flask==2.0\n"),
            ("index.html", "hello from a berth-built app\n"),
            ("debug.log", "left out\n"),
            (".dockerignore", "*.log\n"),
            ("Dockerfile", "FROM busybox\nWORKDIR /app\nCOPY requirements.txt .\nRUN echo \"installed $(cat requirements.txt)\" > installed.txt\nCOPY . .\nEXPOSE 8000\nCMD [\"httpd\", \"-f\", \"-p\", \"8000\", \"-h\", \"/app\"]\n"),
        ]);
        let name = unique_name("seed");
        let out = build(d, c, ctx.path(), &["-t", &name]);
        out.success()
            .stdout_has("Step 1/7 : FROM busybox")
            .stdout_has(" ---> Running in ")
            .stdout_has("Removing intermediate container")
            .stdout_has(&format!("Successfully tagged {name}:latest"));
        let files = d.run(c, &["run", "--rm", &name, "sh", "-c", "pwd; ls -a; cat installed.txt"]);
        files.success().stdout_has("/app").stdout_has("index.html").stdout_has("installed flask==2.0");
        assert!(!files.out().contains("debug.log"), ".dockerignore leaves debug.log out: {files}");
        assert_eq!(d.inspect(c, &name, "{{json .Config.ExposedPorts}}"), r#"{"8000/tcp":{}}"#);

        let port = free_port();
        let ctr = unique_name("web");
        d.run(c, &["run", "-d", "--name", &ctr, "-p", &format!("127.0.0.1:{port}:8000"), &name]).success();
        let mut answer = String::new();
        let ok = wait_until(SETTLE, || {
            use std::io::{Read, Write};
            let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            if s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").is_err() { return false; }
            answer.clear();
            let _ = s.read_to_string(&mut answer);
            answer.contains("hello from a berth-built app")
        });
        assert!(ok, "no answer on port {port}: {answer:?}");
        d.run(c, &["rm", "-f", &ctr]).success();
    }

    fn config_instructions_land_in_the_image(d, c) {
        let ctx = context(&[("Dockerfile", concat!(
            "FROM busybox\n",
            "LABEL team=core version=\"1 2\"\n",
            "ENV A=1 B=\"two words\"\n",
            "ENV C=${A}-x\n",
            "USER 1000:1000\n",
            "WORKDIR /srv\n",
            "WORKDIR sub\n",
            "VOLUME [\"/data\"]\n",
            "STOPSIGNAL SIGUSR1\n",
            "SHELL [\"/bin/sh\", \"-ec\"]\n",
            "HEALTHCHECK --interval=5s --retries=2 CMD true\n",
            "ONBUILD RUN echo child\n",
            "ENTRYPOINT [\"/bin/echo\"]\n",
            "CMD [\"hello\"]\n",
        ))]);
        let name = unique_name("cfg");
        build(d, c, ctx.path(), &["-t", &name, "--label", "extra=yes"]).success();
        let cfg = d.inspect(c, &name, "{{json .Config}}");
        let v: serde_json::Value = serde_json::from_str(&cfg).unwrap_or_default();
        assert_eq!(v["Labels"]["team"], "core");
        assert_eq!(v["Labels"]["version"], "1 2");
        assert_eq!(v["Labels"]["extra"], "yes", "--label lands on the final image");
        let env: Vec<String> = serde_json::from_value(v["Env"].clone()).unwrap_or_default();
        assert!(env.contains(&"B=two words".to_string()) && env.contains(&"C=1-x".to_string()), "{env:?}");
        assert_eq!(v["User"], "1000:1000");
        assert_eq!(v["WorkingDir"], "/srv/sub");
        assert_eq!(v["Volumes"], serde_json::json!({"/data": {}}));
        assert_eq!(v["StopSignal"], "SIGUSR1");
        assert_eq!(v["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
        assert_eq!(v["Healthcheck"]["Interval"], 5_000_000_000i64);
        assert_eq!(v["OnBuild"], serde_json::json!(["RUN echo child"]));
        assert_eq!(v["Entrypoint"], serde_json::json!(["/bin/echo"]));
        assert_eq!(v["Cmd"], serde_json::json!(["hello"]));
        d.run(c, &["run", "--rm", "--user", "0", &name]).success().stdout_has("hello");
        // WORKDIR made the directory; the ONBUILD trigger runs in a child build.
        d.run(c, &["run", "--rm", "--entrypoint", "ls", &name, "-d", "/srv/sub"]).success();
        let child = context(&[("Dockerfile", &format!("FROM {name}\nUSER 0\n"))]);
        build(d, c, child.path(), &[]).success().stdout_has("# Executing 1 build trigger").stdout_has("child");
    }

    fn multi_stage_builds_only_what_the_target_needs(d, c) {
        let ctx = context(&[("Dockerfile", concat!(
            "FROM busybox AS base\n",
            "RUN echo base > /base.txt\n",
            "FROM busybox AS unused\n",
            "RUN echo SHOULD-NOT-RUN && exit 1\n",
            "FROM busybox AS tools\n",
            "RUN echo tool > /tool.txt\n",
            "FROM base AS final\n",
            "COPY --from=tools /tool.txt /copied.txt\n",
            "COPY --from=0 /base.txt /again.txt\n",
            "FROM busybox AS other\n",
            "RUN echo other\n",
        ))]);
        let name = unique_name("stages");
        let out = build(d, c, ctx.path(), &["--target", "final", "-t", &name]);
        out.success();
        assert!(!out.out().contains("SHOULD-NOT-RUN"), "a stage the target does not need ran: {out}");
        assert!(!out.out().contains("echo other"), "a later stage ran: {out}");
        d.run(c, &["run", "--rm", &name, "cat", "/base.txt", "/copied.txt", "/again.txt"])
            .success()
            .stdout_has("base\ntool\nbase");
        build(d, c, ctx.path(), &["--target", "nope"]).code_is(1).stderr_has("failed to reach build target nope in Dockerfile");
    }

    fn cache_hits_and_exact_invalidation(d, c) {
        let ctx = context(&[
            ("a.txt", "a1\n"),
            ("b.txt", "b1\n"),
            ("Dockerfile", "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /seen-a\nCOPY b.txt /b.txt\nRUN cat /b.txt > /seen-b\n"),
        ]);
        let name = unique_name("cache");
        let first = build(d, c, ctx.path(), &["-t", &name]);
        first.success();
        assert_eq!(cache_hits(&first), 0);
        let id1 = image_id(d, c, &name);

        let again = build(d, c, ctx.path(), &["-t", &name]);
        assert_eq!(cache_hits(again.success()), 4, "a no-change rebuild is all cache: {again}");
        assert_eq!(image_id(d, c, &name), id1);

        // Touching mtime only keeps the cache.
        let b = ctx.path().join("b.txt");
        let f = std::fs::File::options().append(true).open(&b).unwrap_or_else(|e| panic!("{e}"));
        f.set_modified(SystemTime::now() + Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache_hits(build(d, c, ctx.path(), &["-t", &name]).success()), 4);

        // A content change in b.txt rebuilds from its COPY on, and nothing before it.
        std::fs::write(&b, "b2\n").unwrap_or_else(|e| panic!("{e}"));
        let changed = build(d, c, ctx.path(), &["-t", &name]);
        assert_eq!(cache_hits(changed.success()), 2, "{changed}");
        d.run(c, &["run", "--rm", &name, "cat", "/seen-b"]).success().stdout_has("b2");

        // A mode change invalidates too.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o600)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache_hits(build(d, c, ctx.path(), &["-t", &name]).success()), 2);

        // --no-cache uses none; the cache survives a daemon restart.
        assert_eq!(cache_hits(build(d, c, ctx.path(), &["--no-cache", "-t", &name]).success()), 0);
        d.restart();
        assert_eq!(cache_hits(build(d, c, ctx.path(), &["-t", &name]).success()), 4);

        // A build arg used by RUN is part of its key.
        let arg = context(&[("Dockerfile", "FROM busybox\nARG V=1\nRUN echo v=$V > /v\n")]);
        build(d, c, arg.path(), &["-t", &name]).success();
        let out = build(d, c, arg.path(), &["-t", &name, "--build-arg", "V=2"]);
        out.success();
        d.run(c, &["run", "--rm", &name, "cat", "/v"]).success().stdout_has("v=2");
        build(d, c, arg.path(), &["--build-arg", "UNUSED=1"]).success().stdout_has("[Warning] One or more build-args [UNUSED] were not consumed");

        // builder prune reclaims what only the cache holds; system df shows the cache.
        d.run(c, &["rmi", &name]).success();
        let df = d.run(c, &["system", "df"]);
        df.success().stdout_has("Build Cache");
        d.run(c, &["builder", "prune", "-a", "-f"]).success().stdout_has("Total reclaimed space:");
        let left = d.run(c, &["images", "-a", "-q"]).success().lines().len();
        assert_eq!(left, 1, "only busybox is left after rmi and builder prune -a");
    }

    fn reproducible_with_source_date_epoch(d, c) {
        let ctx = context(&[
            ("f.txt", "same\n"),
            ("Dockerfile", "FROM busybox\nCOPY f.txt /f.txt\nRUN echo x > /x\nCMD [\"cat\", \"/f.txt\"]\n"),
        ]);
        let one = unique_name("repro");
        build(d, c, ctx.path(), &["--no-cache", "-t", &one, "--build-arg", "SOURCE_DATE_EPOCH=1700000000"]).success();
        let id1 = image_id(d, c, &one);
        build(d, c, ctx.path(), &["--no-cache", "-t", &one, "--build-arg", "SOURCE_DATE_EPOCH=1700000000"]).success();
        assert_eq!(image_id(d, c, &one), id1, "two builds of the same inputs give the same image");
        assert_eq!(d.inspect(c, &one, "{{.Created}}"), "2023-11-14T22:13:20Z");
    }

    fn bad_input_is_refused_and_leaves_nothing(d, c) {
        let missing = context(&[("Dockerfile", "FROM busybox\nCOPY nothere.txt /x\n")]);
        build(d, c, missing.path(), &[]).code_is(1).stderr_has("COPY failed: file not found in build context or excluded by .dockerignore: stat nothere.txt: file does not exist");

        let failing = context(&[("Dockerfile", "FROM busybox\nRUN echo partial-output && exit 3\n")]);
        let out = build(d, c, failing.path(), &[]);
        // dockerd's words exactly; the output is in the stream before the error.
        out.code_is(3).stderr_has("The command '/bin/sh -c echo partial-output && exit 3' returned a non-zero code: 3");
        out.stdout_has("partial-output");

        let unknown = context(&[("Dockerfile", "FROM busybox\nFOO bar\n")]);
        build(d, c, unknown.path(), &[]).code_is(1).stderr_has("unknown instruction: FOO");

        let cycle = context(&[("Dockerfile", "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n")]);
        build(d, c, cycle.path(), &[]).code_is(1).stderr_has("cycle between stages");

        let no_stage = context(&[("Dockerfile", "FROM busybox\nCOPY --from=nosuchstage /x /x\n")]);
        build(d, c, no_stage.path(), &[]).code_is(1).stderr_has("nosuchstage");

        let many = context(&[("a", "1"), ("b", "2"), ("Dockerfile", "FROM busybox\nCOPY a b /dst\n")]);
        build(d, c, many.path(), &[]).code_is(1).stderr_has("the destination must be a directory and end with a /");

        // A context symlink pointing out of the context reaches only inside it.
        let esc = context(&[("Dockerfile", "FROM busybox\nCOPY link/passwd /leak\n")]);
        std::os::unix::fs::symlink("/etc", esc.path().join("link")).unwrap_or_else(|e| panic!("{e}"));
        build(d, c, esc.path(), &[]).code_is(1).stderr_has("file not found in build context");

        let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        build(d, c, empty.path(), &[]).code_is(1).stderr_has("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat");

        // Nothing half-made: no containers, no dangling images.
        assert_eq!(d.run(c, &["ps", "-a", "-q"]).success().out(), "");
        assert_eq!(d.run(c, &["images", "-q", "--filter", "dangling=true"]).success().out(), "");
    }

    fn copy_semantics_and_rootfs_symlinks_stay_inside(d, c) {
        let ctx = context(&[
            ("dir/one.txt", "1"),
            ("dir/sub/two.txt", "2"),
            ("x.tar.src", "unused"),
            ("Dockerfile", concat!(
                "FROM busybox\n",
                "RUN ln -s / /escape && ln -s ../../.. /up\n",
                "COPY dir /target/\n",
                "COPY dir/*.txt /globbed/\n",
                "COPY --chown=1000:1000 --chmod=600 dir/one.txt /owned\n",
                "COPY dir/one.txt /escape/tmp/through-link.txt\n",
                "COPY <<EOF /inline.txt\nfrom a heredoc\nEOF\n",
                "ADD layer.tar /extracted/\n",
            )),
        ]);
        // A local tar for ADD to extract.
        let tar_path = ctx.path().join("layer.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&tar_path).unwrap_or_else(|e| panic!("{e}")));
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        b.append_data(&mut h, "inner/file", &b"inner"[..]).unwrap_or_else(|e| panic!("{e}"));
        b.finish().unwrap_or_else(|e| panic!("{e}"));
        let name = unique_name("copy");
        build(d, c, ctx.path(), &["-t", &name]).success();
        let out = d.run(c, &["run", "--rm", &name, "sh", "-c", concat!(
            "cat /target/one.txt /target/sub/two.txt; echo; ls /globbed; ",
            "stat -c '%u:%g %a' /owned; cat /tmp/through-link.txt; echo; cat /inline.txt; cat /extracted/inner/file",
        )]);
        out.success()
            .stdout_has("12")
            .stdout_has("one.txt")
            .stdout_has("1000:1000 600")
            .stdout_has("from a heredoc")
            .stdout_has("inner");
        assert!(!Path::new("/tmp/through-link.txt").exists(), "COPY through a rootfs symlink escaped to the host");
        let _ = PathBuf::new();
    }
}

/// Built by berth, run by dockerd 20.10 with the same config (when it is installed).
#[test]
fn berth_built_image_runs_under_dockerd() {
    let Some(d) = TestDaemon::start() else { return };
    let Some(reference) = super::registry::RefDockerd::start_for_test() else {
        return;
    };
    let docker = |args: &[&str]| -> (i32, String) {
        let o = std::process::Command::new("/usr/local/bin/docker")
            .env("DOCKER_HOST", reference.host())
            .env("DOCKER_CONFIG", d.dir().join("docker-config"))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("docker: {e}"));
        (
            o.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let ctx = context(&[("Dockerfile", "FROM busybox\nENV GREETING=interop\nRUN echo built > /built\nCMD [\"sh\", \"-c\", \"cat /built; echo $GREETING\"]\n")]);
    build(&d, Client::Berth, ctx.path(), &["-t", "interop:1"]).success();
    let id = image_id(&d, Client::Berth, "interop:1");
    let cfg = d.inspect(Client::Berth, "interop:1", "{{json .Config}}");
    let archive = d.dir().join("interop.tar");
    d.berth(&["save", "-o", &archive.display().to_string(), "interop:1"])
        .success();
    let (code, out) = docker(&["load", "-i", &archive.display().to_string()]);
    assert_eq!(code, 0, "{out}");
    let (_, theirs_id) = docker(&["image", "inspect", "-f", "{{.Id}}", "interop:1"]);
    assert_eq!(theirs_id.trim(), id);
    let (_, theirs) = docker(&["image", "inspect", "-f", "{{json .Config}}", "interop:1"]);
    let a: serde_json::Value = serde_json::from_str(&cfg).unwrap_or_default();
    let b: serde_json::Value = serde_json::from_str(theirs.trim()).unwrap_or_default();
    assert_eq!(a["Env"], b["Env"]);
    assert_eq!(a["Cmd"], b["Cmd"]);
    let (code, out) = docker(&["run", "--rm", "--network", "none", "interop:1"]);
    assert_eq!((code, out.trim()), (0, "built\ninterop"), "{out}");
}

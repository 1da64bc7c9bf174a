//! `docker cp` both ways (files, directories, `dir/.`, symlinks, `-L`, `-a`, tar streams on
//! stdin and stdout, stopped containers) and hostile archives over the raw API: every write
//! stays inside the container's root.

use super::*;

both_clients! {
    fn cp_from_container(d, c) {
        let name = unique_name("cpfrom");
        d.run(c, &["run", "--name", &name, "busybox", "sh", "-c",
            "mkdir -p /data/sub; echo a > /data/a; echo b > /data/sub/b; ln -s /data/a /lnk; ln -s / /evil"]).success();
        let h = d.host_dir("cpfrom");
        let hs = |p: &str| h.join(p).display().to_string();
        // A file to a new name, a directory into an existing directory, `dir/.` to a new name.
        d.run(c, &["cp", &format!("{name}:/data/a"), &hs("a-copy")]).success();
        assert_eq!(read(&h.join("a-copy")), "a\n");
        d.run(c, &["cp", &format!("{name}:/data"), &format!("{}/", h.display())]).success();
        assert_eq!(read(&h.join("data/sub/b")), "b\n");
        d.run(c, &["cp", &format!("{name}:/data/."), &hs("contents")]).success();
        assert_eq!(read(&h.join("contents/sub/b")), "b\n");
        // Over an existing file: the file takes the destination's name.
        write(&h.join("existing"), "old");
        d.run(c, &["cp", &format!("{name}:/data/a"), &hs("existing")]).success();
        assert_eq!(read(&h.join("existing")), "a\n");
        // A symlink is copied as a symlink, or followed with -L.
        d.run(c, &["cp", &format!("{name}:/lnk"), &hs("lnk")]).success();
        assert_eq!(std::fs::read_link(h.join("lnk")).expect("a symlink").display().to_string(), "/data/a");
        d.run(c, &["cp", "-L", &format!("{name}:/lnk"), &hs("followed")]).success();
        assert_eq!(read(&h.join("followed")), "a\n");
        // A container symlink to / resolves inside the container's root.
        d.run(c, &["cp", &format!("{name}:/evil/data/sub/b"), &hs("through-evil")]).success();
        assert_eq!(read(&h.join("through-evil")), "b\n");
        // To stdout as a tar stream.
        let tar = d.run(c, &["cp", &format!("{name}:/data/sub"), "-"]);
        tar.success().stdout_has("sub/b");
        // Errors as docker prints them.
        d.run(c, &["cp", &format!("{name}:/nope"), &hs("x")])
            .code_is(1)
            .stderr_has(&format!("Could not find the file /nope in container {name}"));
        d.run(c, &["cp", &format!("{name}:/data"), &hs("existing")]).code_is(1).stderr_has("cannot copy directory");
        d.run(c, &["cp", &format!("{name}:/data/a"), &hs("new-dir/")]).code_is(1).stderr_has("no such directory");
    }

    fn cp_into_container(d, c) {
        let name = unique_name("cpto");
        d.run_detached(c, &["--name", &name, "-u", "nobody", "busybox", "sh", "-c",
            "mkdir -p /tmp/dst; ln -s / /tmp/evil; ln -s ../../../../.. /tmp/evil2; sleep 300"]);
        d.wait_for_inspect(c, &name, "{{.State.Running}}", "true");
        // Running is not yet "set up": wait for the last link the command makes.
        assert!(wait_until(SETTLE, || d.run(c, &["exec", &name, "test", "-L", "/tmp/evil2"]).code == 0));
        let h = d.host_dir("cpto");
        write(&h.join("src/top"), "top\n");
        write(&h.join("src/sub/f"), "f\n");
        let hs = |p: &str| h.join(p).display().to_string();
        let ctr = |p: &str| format!("{name}:{p}");
        d.run(c, &["cp", &hs("src"), &ctr("/tmp/dst")]).success();
        d.run(c, &["cp", &hs("src/."), &ctr("/tmp/contents")]).success();
        d.run(c, &["cp", &hs("src/top"), &ctr("/tmp/renamed")]).success();
        let marker = unique_name("marker");
        write(&h.join(&marker), "inside\n");
        d.run(c, &["cp", &hs(&marker), &ctr("/tmp/evil/tmp/")]).success();
        d.run(c, &["cp", &hs(&marker), &ctr("/tmp/evil2/")]).success();
        let found = d.run(c, &["exec", &name, "sh", "-c",
            &format!("cat /tmp/dst/src/top /tmp/dst/src/sub/f /tmp/contents/sub/f /tmp/renamed /tmp/{marker} /{marker}")]);
        assert_eq!(found.success().out(), "top\nf\nf\ntop\ninside\ninside", "{found}");
        for outside in [format!("/tmp/{marker}"), format!("/{marker}")] {
            assert!(!std::path::Path::new(&outside).exists(), "{outside} written on the host");
        }
        // Ownership: the archive's (root) by default, the container user's with -a.
        d.run(c, &["cp", "-a", &hs("src/top"), &ctr("/tmp/owned")]).success();
        let owners = d.run(c, &["exec", &name, "stat", "-c", "%u", "/tmp/renamed", "/tmp/owned"]);
        assert_eq!(owners.success().lines(), ["0", "65534"], "{owners}");
        // A tar on stdin into a directory.
        let tar_path = h.join("in.tar");
        host("tar", &["cf", &tar_path.display().to_string(), "-C", &h.display().to_string(), "src/top"]);
        let tar = std::fs::read(&tar_path).expect("tar");
        d.run_with_input(c, &["cp", "-", &ctr("/tmp/dst")], &tar).success();
        d.run_with_input(c, &["cp", "-", &ctr("/tmp/renamed")], &tar)
            .code_is(1)
            .stderr_has(&format!("destination \"{name}:/tmp/renamed\" must be a directory"));
        d.run(c, &["cp", &hs("src/top"), &ctr("/no/such/dir/x")])
            .code_is(1)
            .stderr_has(&format!("Could not find the file /no/such/dir in container {name}"));
        // A stopped container takes copies too.
        d.run(c, &["stop", "-t", "0", &name]).success();
        d.run(c, &["cp", &hs("src/top"), &ctr("/stopped")]).success();
        d.run(c, &["cp", &ctr("/stopped"), &hs("back")]).success();
        assert_eq!(read(&h.join("back")), "top\n");
        d.run(c, &["diff", &name]).success().stdout_has("A /stopped");
    }
}

/// A tar built entry by entry, names written raw (`..`, absolute) as a hostile client would.
struct RawTar(tar::Builder<Vec<u8>>);

impl RawTar {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }

    fn entry(mut self, kind: tar::EntryType, name: &str, link: &str, data: &[u8]) -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        self.0.append(&h, data).expect("append");
        self
    }

    fn file(self, name: &str, data: &str) -> Self {
        self.entry(tar::EntryType::Regular, name, "", data.as_bytes())
    }

    fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(tar::EntryType::Symlink, name, target, b"")
    }

    fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(tar::EntryType::Link, name, target, b"")
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().expect("finish")
    }
}

#[test]
fn cp_archives_stay_inside_the_container() {
    let Some(d) = TestDaemon::start() else { return };
    let name = unique_name("corpus");
    d.berth(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "mkdir /dst; echo keep > /dst/keep; ln -s / /lnk; sleep 300",
    ])
    .success();
    d.wait_for_inspect(Client::Berth, &name, "{{.State.Running}}", "true");
    let m = unique_name("m");
    let put = |path: &str, tar: Vec<u8>| {
        d.api(
            "PUT",
            &format!("/containers/{name}/archive?path={path}&noOverwriteDirNonDir=true"),
            Some("application/x-tar"),
            &tar,
        )
    };
    let in_ctr = |script: &str| d.berth(&["exec", &name, "sh", "-c", script]).stdout;

    // `../` names: refused, nothing written anywhere.
    let r = put(
        "/dst",
        RawTar::new()
            .file(&format!("../../../../../tmp/{m}-dotdot"), "x")
            .bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.message().contains("outside"), "{}", r.text());
    // Absolute names are taken below the extraction point.
    let r = put(
        "/dst",
        RawTar::new().file(&format!("/tmp/{m}-abs"), "abs").bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(in_ctr(&format!("cat /dst/tmp/{m}-abs")), "abs");
    // A symlink to / (or up and out) followed by a write through it stays below /dst.
    let r = put(
        "/dst",
        RawTar::new()
            .symlink("s", "/")
            .file(&format!("s/tmp/{m}-through"), "t")
            .symlink("s2", "../../../../..")
            .file(&format!("s2/{m}-through2"), "t2")
            .bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        in_ctr(&format!("cat /dst/tmp/{m}-through /dst/{m}-through2")),
        "tt2"
    );
    // Hardlinks out of the extraction point are refused; an absolute target names a file
    // below it (here missing), as in dockerd's chrooted untar.
    let r = put(
        "/dst",
        RawTar::new()
            .hardlink(&format!("{m}-hard"), "../../../../etc/passwd")
            .bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = put(
        "/dst",
        RawTar::new()
            .hardlink(&format!("{m}-hard"), "/etc/passwd")
            .bytes(),
    );
    assert!(
        r.status == 400
            && r.message().contains(&format!(
                "link /etc/passwd /{m}-hard: no such file or directory"
            )),
        "{}",
        r.text()
    );
    assert_eq!(
        in_ctr(&format!("ls /dst/{m}-hard 2>&1 >/dev/null | wc -l")),
        "1\n"
    );
    // Whiteout names are ordinary files in a copy: nothing is deleted or hidden.
    let r = put(
        "/dst",
        RawTar::new()
            .file(".wh.keep", "")
            .file(".wh..wh..opq", "")
            .bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        in_ctr("cat /dst/keep; ls -a /dst | grep -c '^.wh.'"),
        "keep\n2\n"
    );
    // An extraction point that is a symlink to / resolves inside the container's root.
    let r = put(
        "/lnk/tmp",
        RawTar::new().file(&format!("{m}-via-lnk"), "v").bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(in_ctr(&format!("cat /tmp/{m}-via-lnk")), "v");
    // A truncated archive fails.
    let mut cut = RawTar::new()
        .file(&format!("{m}-cut"), &"y".repeat(4096))
        .bytes();
    cut.truncate(1024);
    let r = put("/dst", cut);
    assert_eq!(r.status, 400, "{}", r.text());
    // docker's answers for bad extraction points and missing paths.
    let r = put("/nope", RawTar::new().file("f", "").bytes());
    assert_eq!(
        (r.status, r.message()),
        (
            404,
            format!("Could not find the file /nope in container {name}")
        )
    );
    let r = put("/dst/keep", RawTar::new().file("f", "").bytes());
    assert_eq!(
        (r.status, r.message()),
        (400, "extraction point is not a directory".to_string())
    );
    let r = d.api(
        "HEAD",
        &format!("/containers/{name}/archive?path=/nope"),
        None,
        b"",
    );
    assert_eq!(r.status, 404);
    let r = d.api(
        "GET",
        &format!("/containers/{name}/archive?path=/lnk/etc/passwd"),
        None,
        b"",
    );
    assert_eq!(r.status, 200);
    let stat = r
        .header("X-Docker-Container-Path-Stat")
        .unwrap_or_default()
        .to_string();
    let decoded = host("sh", &["-c", &format!("echo {stat} | base64 -d")]);
    assert!(
        decoded.starts_with(r#"{"name":"passwd","size":"#) && decoded.contains(r#""mode":420,"#),
        "{decoded}"
    );

    // Nothing reached the host.
    for suffix in [
        "dotdot", "abs", "through", "through2", "hard", "via-lnk", "cut",
    ] {
        for dir in ["/", "/tmp", "/etc"] {
            let p = std::path::Path::new(dir).join(format!("{m}-{suffix}"));
            assert!(!p.exists(), "{} written on the host", p.display());
        }
    }
}

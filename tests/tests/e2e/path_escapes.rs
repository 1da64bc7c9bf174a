//! Every escape class against every way a path gets into a container root: `docker cp` out of
//! and into a container, mount targets, and a build's COPY. The container's rootfs carries an
//! absolute symlink to `/`, a relative one climbing out, a symlink loop and a link to
//! `/proc/self/root`; a canary file on the host is what each escape would reach.

use super::cp::RawTar;
use super::*;

/// The links every scenario's rootfs carries.
const LINKS: &str =
    "ln -s / /esc; ln -s ../../../../.. /up; ln -s /loop2 /loop1; ln -s loop1 /loop2; \
     ln -s /proc/self/root /magic; mkdir -p /dst; echo inside > /dst/f";

/// A canary directory on the host with one file; its absolute path.
fn canary(d: &TestDaemon) -> std::path::PathBuf {
    let dir = d.dir().join("canary");
    std::fs::create_dir_all(&dir).expect("canary dir");
    std::fs::write(dir.join("secret"), "host secret\n").expect("canary");
    dir
}

#[track_caller]
fn canary_untouched(dir: &std::path::Path) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .expect("canary dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["secret"],
        "something was written next to the canary"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("secret")).expect("canary"),
        "host secret\n"
    );
}

fn message(r: &berth_tests::http::Response) -> String {
    r.json()
        .and_then(|j| j["message"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The names and contents of the regular files in a tar.
fn tar_files(bytes: &[u8]) -> Vec<(String, String)> {
    let mut a = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for e in a.entries().expect("tar") {
        let mut e = e.expect("entry");
        if e.header().entry_type() == tar::EntryType::Regular {
            let name = e.path().expect("path").display().to_string();
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).expect("read");
            out.push((name, s));
        }
    }
    out
}

#[test]
fn cp_out_of_and_into_a_container_never_leaves_its_root() {
    let Some(d) = TestDaemon::start() else { return };
    let canary = canary(&d);
    let c = canary.display().to_string();
    let name = unique_name("escapes");
    d.berth(&["run", "--name", &name, "busybox", "sh", "-c", LINKS])
        .success();
    let get = |path: &str| {
        d.api(
            "GET",
            &format!("/containers/{name}/archive?path={path}"),
            None,
            b"",
        )
    };
    let put = |path: &str, tar: Vec<u8>| {
        d.api(
            "PUT",
            &format!("/containers/{name}/archive?path={path}"),
            Some("application/x-tar"),
            &tar,
        )
    };
    let not_found = |path: &str| format!("Could not find the file {path} in container {name}");

    // Out of the container: `..`, an absolute symlink, a relative one climbing out and a magic
    // link all resolve inside the container, where the canary is not.
    for path in [
        format!("/../../../../..{c}/secret"),
        format!("/esc{c}/secret"),
        format!("/up{c}/secret"),
        format!("/magic{c}/secret"),
        "/magic/etc/passwd".to_string(),
    ] {
        let r = get(&path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert_eq!(message(&r), not_found(&path), "{path}");
    }
    // ... and reach the container's own files.
    for path in ["/esc/dst/f", "/up/dst/f", "/../../dst/f"] {
        let r = get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(
            tar_files(&r.body),
            [("f".to_string(), "inside\n".to_string())],
            "{path}"
        );
    }
    // A symlink loop is an error, never a path (the link itself is copied as a link).
    let r = get("/loop1");
    assert_eq!(r.status, 200, "{}", r.text());
    for path in ["/loop1/", "/loop2/x"] {
        let r = get(path);
        assert_eq!(r.status, 500, "{path}: {}", r.text());
        assert!(
            message(&r).contains("too many levels of symbolic links")
                || message(&r).contains("Too many levels of symbolic links"),
            "{path}: {}",
            r.text()
        );
    }

    // Into the container: through the same links, the files land in its /dst.
    let m = unique_name("m");
    for (i, path) in ["/esc/dst", "/up/dst", "/../../../dst"].iter().enumerate() {
        let r = put(path, RawTar::new().file(&format!("{m}-{i}"), "in").bytes());
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let r = get(&format!("/dst/{m}-{i}"));
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    let r = put(
        &format!("/esc{c}"),
        RawTar::new().file(&format!("{m}-canary"), "x").bytes(),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(message(&r), not_found(&format!("/esc{c}")));
    let r = put("/magic/tmp", RawTar::new().file(&m, "x").bytes());
    assert_eq!(r.status, 404, "{}", r.text());
    let r = put("/loop1", RawTar::new().file(&m, "x").bytes());
    assert_eq!(r.status, 500, "{}", r.text());
    // An archive carrying the links itself, written through them.
    let r = put(
        "/dst",
        RawTar::new()
            .symlink("magic", "/proc/self/root")
            .symlink("l1", "l2")
            .symlink("l2", "l1")
            .bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = put(
        "/dst",
        RawTar::new().file(&format!("magic{c}/{m}"), "x").bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = put("/dst", RawTar::new().file(&format!("l1/{m}"), "x").bytes());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(message(&r).contains(&format!("l1/{m}")), "{}", r.text());

    assert!(
        !std::path::Path::new("/dst").exists(),
        "written into the host's /"
    );
    canary_untouched(&canary);
    d.berth(&["rm", "-f", &name]).success();
}

#[test]
fn mount_targets_are_made_inside_the_rootfs() {
    let Some(d) = TestDaemon::start() else { return };
    let canary = canary(&d);
    let c = canary.display().to_string();
    let base = unique_name("escbase");
    d.berth(&["run", "--name", &base, "busybox", "sh", "-c", LINKS])
        .success();
    let image = unique_name("escimg");
    d.berth(&["commit", &base, &image]).success();
    let vol = unique_name("escvol");
    let m = unique_name("m");
    // Through an absolute and a relative link out: the target is the container's /tmp/<m>.
    for via in ["/esc", "/up"] {
        let out = d.berth(&[
            "run",
            "--rm",
            "-v",
            &format!("{vol}:{via}/tmp/{m}"),
            "--tmpfs",
            &format!("{via}{c}"),
            &image,
            "sh",
            "-c",
            &format!("touch /tmp/{m}/ok && grep -c ' /tmp/{m} ' /proc/self/mountinfo"),
        ]);
        assert_eq!(out.success().out(), "1", "{via}: {out}");
    }
    assert!(
        !std::path::Path::new("/tmp").join(&m).exists(),
        "a mount target was made on the host"
    );
    // A loop as a target fails the start; nothing is mounted anywhere.
    let out = d.berth(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/loop1/x"),
        &image,
        "true",
    ]);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .to_lowercase()
            .contains("too many levels of symbolic links"),
        "{out}"
    );
    // Through `/proc/self/root`, dangling in the rootfs (its /proc is empty before the start):
    // refused, as any dangling link on the way (dockerd makes the path under the rootfs's
    // /proc instead); never the host's root.
    let out = d.berth(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/magic/{m}"),
        &image,
        "true",
    ]);
    assert_eq!(out.code, 125, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "creating mount target /magic/{m} in the container"
        )),
        "{out}"
    );
    assert!(
        !std::path::Path::new("/").join(&m).exists(),
        "made on the host's /"
    );
    canary_untouched(&canary);
    d.berth(&["rm", "-f", &base]).success();
}

/// The `/etc` files (`hosts`, `hostname`, `resolv.conf`) are bound onto targets made under
/// the image's `/etc`; when `/etc` is a link, absolute or climbing out, to a path that names the
/// host's canary directory, the targets are made inside the rootfs when that directory exists
/// there, the start is refused when it does not (a dangling link), and nothing is ever made
/// next to the canary.
#[test]
fn etc_file_targets_through_a_linked_etc_stay_inside() {
    let Some(d) = TestDaemon::start() else { return };
    let canary = canary(&d);
    let c = canary.display().to_string();
    for (case, link, made) in [
        // The directory exists in the rootfs: the targets are made in it directly.
        ("absolute", c.clone(), true),
        // It does not: pathrs's mkdir_all refuses the dangling link.
        ("climbing", format!("../../../../../..{c}"), false),
    ] {
        // A busybox rootfs whose /etc is the link (a running container cannot replace its
        // /etc: the /etc files are mounted on it).
        let root = d.dir().join(format!("etclink-{case}"));
        std::fs::create_dir_all(&root).expect("rootfs dir");
        let root_s = root.display().to_string();
        host(
            "tar",
            &["xf", &busybox_tar().display().to_string(), "-C", &root_s],
        );
        std::fs::remove_dir_all(root.join("etc")).expect("rm etc");
        if made {
            std::fs::create_dir_all(root.join(c.trim_start_matches('/'))).expect("mkdir");
        }
        std::os::unix::fs::symlink(&link, root.join("etc")).expect("link etc");
        let tar = d.dir().join(format!("etclink-{case}.tar"));
        host(
            "tar",
            &["cf", &tar.display().to_string(), "-C", &root_s, "."],
        );
        let image = unique_name("etclinkimg");
        d.berth(&["import", &tar.display().to_string(), &image])
            .success();
        let out = d.berth(&[
            "run",
            "--rm",
            "--hostname",
            "inside",
            &image,
            "/bin/cat",
            &format!("{c}/hostname"),
        ]);
        if made {
            assert_eq!(out.success().out(), "inside", "{case}: {out}");
        } else {
            // A dangling link on the way is refused, as for mount targets; never followed
            // out of the root.
            assert_eq!(out.code, 125, "{case}: {out}");
            assert!(
                out.stderr.contains("failed to prepare rootfs"),
                "{case}: {out}"
            );
        }
        canary_untouched(&canary);
        d.berth(&["rmi", &image]).success();
    }
}

#[test]
fn build_copy_through_rootfs_links_stays_inside() {
    let Some(d) = TestDaemon::start() else { return };
    let canary = canary(&d);
    let c = canary.display().to_string();
    let m = unique_name("m");
    let ctx = super::build::context(&[
        ("f", "from the context\n"),
        (
            "Dockerfile",
            &format!("FROM busybox\nRUN {LINKS}\nCOPY f /esc{c}/{m}\nCOPY f /up{c}/{m}-up\n"),
        ),
    ]);
    let image = unique_name("escbuild");
    super::build::build(&d, Client::Berth, ctx.path(), &["-t", &image]).success();
    let out = d.berth(&[
        "run",
        "--rm",
        &image,
        "cat",
        &format!("{c}/{m}"),
        &format!("{c}/{m}-up"),
    ]);
    assert_eq!(
        out.success().out(),
        "from the context\nfrom the context",
        "{out}"
    );
    canary_untouched(&canary);
    // A loop on the way, or a magic link (dangling in the rootfs, whose /proc is empty), is
    // an error of the step.
    for (dest, error) in [
        (format!("/loop1/{m}"), "too many levels of symbolic links"),
        (format!("/magic/tmp/{m}"), "no such file or directory"),
    ] {
        let ctx = super::build::context(&[
            ("f", "x"),
            (
                "Dockerfile",
                &format!("FROM busybox\nRUN {LINKS}\nCOPY f {dest}\n"),
            ),
        ]);
        let out = super::build::build(&d, Client::Berth, ctx.path(), &[]);
        assert_eq!(out.code, 1, "{out}");
        assert!(out.stderr.to_lowercase().contains(error), "{dest}: {out}");
    }
    assert!(
        !std::path::Path::new("/tmp").join(&m).exists(),
        "COPY wrote on the host"
    );
    canary_untouched(&canary);
}

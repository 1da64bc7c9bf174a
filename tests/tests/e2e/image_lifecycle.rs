//! The image lifecycle through a real berthd: rmi's untag/delete rules and conflicts, image
//! filters, prune, system df, garbage collection of layers, `system check` against corruption,
//! and a kill -9 of the daemon in the middle of a large import.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_tests::daemon::busybox_tar;
use berth_tests::host::{sha256_hex, SETTLE};
use berth_tests::tarball::{big_tar_len, tar_of, write_big_tar};
use berth_tests::{unique_name, wait_until, Client, TestDaemon};

/// `import [-c change...] - [tag]` of `tar` on stdin; the new image id.
#[track_caller]
fn import(d: &TestDaemon, c: Client, tar: &[u8], changes: &[&str], tag: Option<&str>) -> String {
    let mut args = vec!["import"];
    for ch in changes {
        args.extend_from_slice(&["-c", ch]);
    }
    args.push("-");
    args.extend(tag);
    let out = d.run_with_input(c, &args, tar);
    out.success();
    let id = out.out().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    id
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..12]
}

fn blobs_dir(d: &TestDaemon) -> PathBuf {
    d.data_root.join("content/blobs/sha256")
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

both_clients! {
    fn rmi_untags_deletes_and_refuses_like_dockerd(d, c) {
        let repo = unique_name("rmi");
        let (v1, v2) = (format!("{repo}:v1"), format!("{repo}:v2"));
        let tar = std::fs::read(busybox_tar()).expect("busybox tar");
        let label = format!("LABEL test={repo}");
        let id = import(d, c, &tar, &[&label, r#"CMD ["sh"]"#], Some(&v1));
        let s = short(&id).to_string();
        d.run(c, &["tag", &v1, &v2]).success();

        // By id with two tags: refused unless forced.
        d.run(c, &["rmi", &s]).code_is(1).stderr_has(&format!(
            "conflict: unable to delete {s} (must be forced) - image is referenced in multiple repositories"
        ));
        let api = d.api("DELETE", &format!("/images/{s}"), None, b"");
        assert_eq!(api.status, 409, "{}", api.text());

        let stopped = unique_name("stopped");
        d.run(c, &["run", "--name", &stopped, &v1, "true"]).success();
        let cs = d.inspect(c, &stopped, "{{.Id}}")[..12].to_string();
        d.run(c, &["rmi", &v2]).success().stdout_has(&format!("Untagged: {v2}"));
        d.run(c, &["rmi", &v1]).code_is(1).stderr_has(&format!(
            "conflict: unable to remove repository reference \"{v1}\" (must force) - container {cs} is using its referenced image {s}"
        ));
        d.run(c, &["rmi", &s]).code_is(1).stderr_has(&format!(
            "conflict: unable to delete {s} (must be forced) - image is being used by stopped container {cs}"
        ));

        let running = unique_name("running");
        let rid = d.run(c, &["run", "-d", "--name", &running, &v1, "sleep", "300"]);
        rid.success();
        let rs = rid.out().lines().last().unwrap_or_default()[..12].to_string();
        // A running container's image cannot go, even forced.
        d.run(c, &["rmi", "-f", &s]).code_is(1).stderr_has(&format!(
            "conflict: unable to delete {s} (cannot be forced) - image is being used by running container {rs}"
        ));
        d.run(c, &["rm", "-f", &running]).success();

        // Forced with only a stopped user: the image goes, the container keeps its layers.
        let out = d.run(c, &["rmi", "-f", "--no-prune", &s]);
        out.success().stdout_has(&format!("Untagged: {v1}")).stdout_has(&format!("Deleted: {id}"));
        d.run(c, &["image", "inspect", &id]).code_is(1).stderr_has("No such image");
        d.run(c, &["start", "-a", &stopped]).success();
        d.run(c, &["rm", &stopped]).success();
        assert_eq!(d.check_problems(), Vec::<String>::new());
    }

    fn rmi_collects_layers_no_image_uses(d, c) {
        let repo = unique_name("gc");
        let marker = format!("{repo}\n");
        let tar = tar_of(&[("etc/marker", &marker)]);
        let layer = sha256_hex(&tar);
        let a = import(d, c, &tar, &["ENV A=1"], Some(&format!("{repo}:a")));
        let b = import(d, c, &tar, &["ENV B=1"], Some(&format!("{repo}:b")));
        assert_ne!(a, b);
        let layer_dir = d.data_root.join("overlay").join(&layer);
        assert!(layer_dir.is_dir() && blobs_dir(d).join(&layer).is_file());

        // The layer is shared: deleting one image keeps it.
        let first = d.run(c, &["rmi", &format!("{repo}:a")]);
        first.success().stdout_has(&format!("Deleted: {a}"));
        assert!(!first.stdout.contains(&layer), "{first}");
        assert!(layer_dir.is_dir() && blobs_dir(d).join(&layer).is_file());
        assert!(!blobs_dir(d).join(&a[7..]).exists(), "config blob of {a} left behind");

        // The last image takes its layer with it: reported as dockerd reports removed layers.
        let last = d.run(c, &["rmi", &format!("{repo}:b")]);
        last.success().stdout_has(&format!("Deleted: {b}")).stdout_has(&format!("Deleted: sha256:{layer}"));
        assert!(!layer_dir.exists() && !blobs_dir(d).join(&layer).exists());
        assert!(!blobs_dir(d).join(&b[7..]).exists());
        assert_eq!(d.check_problems(), Vec::<String>::new());
    }

    fn images_filters(d, c) {
        let repo = unique_name("flt");
        let web = import(d, c, &tar_of(&[("web", "w")]), &["LABEL tier=web"], Some(&format!("{repo}:web")));
        // before/since compare creation times, which have second resolution.
        std::thread::sleep(Duration::from_millis(1100));
        let db = import(d, c, &tar_of(&[("db", "d")]), &["LABEL tier=db"], Some(&format!("{repo}:db")));
        let dangling = import(d, c, &tar_of(&[("none", "n")]), &["LABEL tier=none"], None);
        let list = |filters: &[&str]| -> Vec<String> {
            let mut args = vec!["images", "--no-trunc", "--format", "{{.ID}}"];
            for f in filters {
                args.extend_from_slice(&["--filter", f]);
            }
            let mut ids: Vec<String> = d.run(c, &args).success().lines().iter().map(|l| l.to_string()).collect();
            ids.sort();
            ids
        };
        let sorted = |mut v: Vec<String>| { v.sort(); v };
        assert_eq!(list(&["label=tier=web"]), [web.as_str()]);
        assert_eq!(list(&["label=tier"]), sorted(vec![web.clone(), db.clone(), dangling.clone()]));
        assert_eq!(list(&["label=tier", "dangling=true"]), [dangling.as_str()]);
        assert_eq!(list(&["label=tier", "dangling=false"]), sorted(vec![web.clone(), db.clone()]));
        assert_eq!(list(&[&format!("reference={repo}:w*")]), [web.as_str()]);
        assert!(list(&["reference=e2e-flt-*:*"]).len() >= 2);
        assert!(list(&["reference=*/nothing-like-this"]).is_empty());
        assert_eq!(list(&["label=tier", &format!("before={repo}:db")]), [web.as_str()]);
        assert_eq!(list(&["label=tier", &format!("since={repo}:web")]), sorted(vec![db.clone(), dangling.clone()]));

        let digests = d.run(c, &["images", "--digests", &format!("{repo}:web")]);
        let head = digests.success().lines()[0].to_string();
        assert!(head.starts_with("REPOSITORY") && head.contains("DIGEST") && head.contains("IMAGE ID"), "{digests}");
        d.run(c, &["images", "-a", "-q"]).success();

        d.run(c, &["images", "--filter", "colour=red"]).code_is(1).stderr_has("invalid filter 'colour'");
        d.run(c, &["images", "--filter", "dangling=maybe"]).code_is(1).stderr_has("invalid filter 'dangling=[maybe]'");
        let api = d.api("GET", "/images/json?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D", None, b"");
        assert_eq!((api.status, api.message().as_str()), (400, "invalid filter 'colour'"));
    }

    fn image_prune(d, c) {
        let tag = unique_name("prune");
        let plain = import(d, c, &tar_of(&[("p", &tag)]), &[], None);
        let kept = import(d, c, &tar_of(&[("k", &tag)]), &["LABEL keep=1"], None);
        let tagged = import(d, c, &tar_of(&[("t", &tag)]), &[], Some(&format!("{tag}:1")));
        let user = unique_name("user");
        d.run(c, &["run", "--name", &user, "busybox", "true"]).success();

        // Answering no removes nothing, and is no error.
        let no = d.run_with_input(c, &["image", "prune"], b"n\n");
        no.success().stdout_has("WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ");
        d.run(c, &["image", "inspect", &plain]).success();

        let out = d.run(c, &["image", "prune", "-f", "--filter", "label!=keep=1"]);
        out.success().stdout_has(&format!("Deleted Images:\ndeleted: {plain}\n")).stdout_has("Total reclaimed space: ");
        assert!(!out.stdout.contains("Total reclaimed space: 0B"), "{out}");
        d.run(c, &["image", "inspect", &plain]).code_is(1);
        d.run(c, &["image", "inspect", &kept]).success();
        d.run(c, &["image", "inspect", &tagged]).success();

        let all = d.run_with_input(c, &["image", "prune", "-a"], b"y\n");
        all.success()
            .stdout_has("WARNING! This will remove all images without at least one container associated to them.")
            .stdout_has(&format!("untagged: {tag}:1\n"))
            .stdout_has(&format!("deleted: {tagged}\n"))
            .stdout_has(&format!("deleted: {kept}\n"));
        // busybox is used by a (stopped) container: it stays.
        d.run(c, &["image", "inspect", "busybox"]).success();

        let again = d.run(c, &["image", "prune", "-a", "-f"]);
        assert_eq!(again.success().stdout, "Total reclaimed space: 0B\n", "{again}");
        let api = d.api("POST", "/images/prune?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D", None, b"");
        assert_eq!((api.status, api.message().as_str()), (400, "invalid filter 'colour'"));
        d.run(c, &["rm", &user]).success();
        assert_eq!(d.check_problems(), Vec::<String>::new());
    }

    fn system_df(d, c) {
        let writer = unique_name("writer");
        d.run(c, &["run", "--name", &writer, "busybox", "sh", "-c", "head -c 100000 /dev/zero > /blob"]).success();
        let out = d.run(c, &["system", "df"]);
        let lines = out.success().lines();
        assert!(lines[0].starts_with("TYPE") && lines[0].contains("RECLAIMABLE"), "{out}");
        assert!(lines[1].starts_with("Images ") && lines[2].starts_with("Containers ")
            && lines[3].starts_with("Local Volumes ") && lines[4].starts_with("Build Cache "), "{out}");
        // One exited container holding 100kB: all of it reclaimable.
        let containers: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(containers, ["Containers", "1", "0", "100kB", "100kB", "(100%)"], "{out}");

        let v = d.run(c, &["system", "df", "-v"]);
        v.success().stdout_has("Images space usage:").stdout_has("Containers space usage:")
            .stdout_has("Local Volumes space usage:").stdout_has("Build cache usage: 0B");
        let fmt = d.run(c, &["system", "df", "--format", "{{.Type}}={{.TotalCount}}"]);
        assert_eq!(fmt.success().lines(), ["Images=1", "Containers=1", "Local Volumes=0", "Build Cache=0"], "{fmt}");
        d.run(c, &["rm", &writer]).success();
    }
}

/// Both CLIs print the same `system df` tables from the same daemon.
#[test]
fn system_df_matches_the_docker_cli() {
    let Some(d) = TestDaemon::start() else { return };
    let name = unique_name("df");
    d.berth(&[
        "run",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo data > /file",
    ])
    .success();
    let live = unique_name("dflive");
    d.berth(&["run", "-d", "--name", &live, "busybox", "sleep", "300"])
        .success();
    import(&d, Client::Berth, &tar_of(&[("x", "x")]), &[], None);
    let docker = d.docker(&["system", "df"]);
    let berth = d.berth(&["system", "df"]);
    assert_eq!(docker.success().stdout, berth.success().stdout);
    let fields = "{{range .Images}}{{.Repository}} {{.Tag}} {{.ID}} {{.Size}} {{.SharedSize}} {{.UniqueSize}} {{.Containers}}\n{{end}}{{range .Containers}}{{.ID}} {{.Image}} {{.Command}} {{.Size}} {{.Names}}\n{{end}}";
    let docker = d.docker(&["system", "df", "-v", "--format", fields]);
    let berth = d.berth(&["system", "df", "-v", "--format", fields]);
    assert_eq!(docker.success().stdout, berth.success().stdout);

    let r = d.api("GET", "/system/df", None, b"");
    let j = r.json().unwrap_or_else(|| panic!("{}", r.text()));
    assert!(j["LayersSize"].as_i64().unwrap_or(0) > 1_000_000, "{j}");
    assert_eq!(j["Volumes"], serde_json::json!([]));
    assert_eq!(j["BuildCache"], serde_json::json!([]));
    let images = j["Images"].as_array().cloned().unwrap_or_default();
    let busybox = images
        .iter()
        .find(|i| i["RepoTags"].to_string().contains("busybox:latest"))
        .unwrap_or_else(|| panic!("{j}"));
    assert_eq!(busybox["Containers"], 2, "{busybox}");
    let writer = j["Containers"]
        .as_array()
        .and_then(|cs| {
            cs.iter()
                .find(|c| c["Names"].to_string().contains(&name))
                .cloned()
        })
        .unwrap_or_else(|| panic!("{j}"));
    assert_eq!(writer["SizeRw"], 5, "{writer}");
    let only = d
        .api("GET", "/system/df?type=image", None, b"")
        .json()
        .unwrap_or_default();
    assert!(
        only["Images"].is_array() && only["Containers"].is_null(),
        "{only}"
    );
    let bad = d.api("GET", "/system/df?type=pictures", None, b"");
    assert_eq!(
        (bad.status, bad.message().as_str()),
        (400, "unknown object type: pictures")
    );
    d.berth(&["rm", "-f", &live]).success();
}

/// A blob damaged on disk: `system check` names it and exits 1; using the image fails with a
/// clear error through both clients; removing the image repairs the store.
#[test]
fn system_check_finds_corrupt_blobs_and_use_fails_clearly() {
    let Some(d) = TestDaemon::start() else { return };
    d.berth(&["system", "check"])
        .success()
        .stdout_has("no problems found");
    let repo = unique_name("chk");
    let tar = std::fs::read(busybox_tar()).expect("busybox tar");
    let id = import(
        &d,
        Client::Berth,
        &tar,
        &[&format!("LABEL c={repo}"), r#"CMD ["sh"]"#],
        Some(&format!("{repo}:1")),
    );
    let other = import(
        &d,
        Client::Berth,
        &tar_of(&[("o", &repo)]),
        &[],
        Some(&format!("{repo}:other")),
    );
    let other_layer = sha256_hex(&tar_of(&[("o", &repo)]));

    let config = blobs_dir(&d).join(&id[7..]);
    let mut bytes = std::fs::read(&config).expect("config blob");
    bytes.extend_from_slice(b" ");
    std::fs::write(&config, bytes).expect("corrupt config");
    std::fs::write(blobs_dir(&d).join(&other_layer), b"garbage").expect("corrupt layer");

    let out = d.berth(&["system", "check"]);
    out.code_is(1)
        .stdout_has(&format!("blob {id}: content does not match its digest"))
        .stdout_has(&format!(
            "blob sha256:{other_layer}: content does not match its digest"
        ))
        .stdout_has("2 problems found");
    for c in [Client::Docker, Client::Berth] {
        d.run(c, &["run", "--rm", &format!("{repo}:1"), "true"])
            .code_is(125)
            .stderr_has(&format!(
                "image {id} is corrupt: its config blob {id} does not match its digest"
            ));
        d.run(c, &["image", "inspect", &format!("{repo}:1")])
            .code_is(1)
            .stderr_has("is corrupt");
    }
    // The other image runs from its unpacked layer; its tar is only read by check (and save).
    d.berth(&["image", "inspect", &other]).success();

    d.berth(&["rmi", &format!("{repo}:1"), &format!("{repo}:other")])
        .success();
    d.berth(&["system", "check"])
        .success()
        .stdout_has("no problems found");
}

/// Starts `POST /images/create?fromSrc=-` with a `size`-byte layer; `pace` sees the bytes sent.
fn stream_import(
    socket: &Path,
    tag: &str,
    size: u64,
    seed: u64,
    pace: &mut dyn FnMut(u64) -> std::io::Result<()>,
) -> std::io::Result<UnixStream> {
    let mut s = UnixStream::connect(socket)?;
    let head = format!(
        "POST /images/create?fromSrc=-&repo={tag} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        big_tar_len(size)
    );
    s.write_all(head.as_bytes())?;
    write_big_tar(&mut s, "big.bin", size, seed, pace)?;
    Ok(s)
}

fn no_tmp_dirs(d: &TestDaemon) -> bool {
    !entries(&d.data_root.join("overlay"))
        .iter()
        .any(|n| n.starts_with("tmp-"))
}

/// kill -9 of berthd at two points of a 200 MB import: while the layer streams into ingest
/// (meanwhile rmi and prune still answer: the import holds a lease, not the store's lock), and
/// right after the blob is published. After each restart: nothing partial is visible, no blob
/// is orphaned, and `system check` is clean.
#[test]
fn kill9_during_a_large_import_leaves_a_consistent_store() {
    const SIZE: u64 = 200 << 20;
    let Some(mut d) = TestDaemon::start() else {
        return;
    };
    let socket = d.socket.clone();
    let spare = import(
        &d,
        Client::Berth,
        &tar_of(&[("s", "spare")]),
        &[],
        Some("spare:1"),
    );
    let blobs_before = entries(&blobs_dir(&d));
    let ingest = d.data_root.join("content/ingest");

    // 1. Mid-stream: send half, then hold the connection open.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (paused_tx, paused_rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let mut paused = false;
        let _ = stream_import(&socket, "big:1", SIZE, 1, &mut |sent| {
            if sent >= SIZE / 2 && !paused {
                paused = true;
                let _ = paused_tx.send(());
                let _ = rx.recv_timeout(Duration::from_secs(60));
                return Err(std::io::Error::other("stop here"));
            }
            Ok(())
        });
    });
    paused_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("half the layer sent");
    assert!(
        wait_until(SETTLE, || {
            entries(&ingest)
                .iter()
                .any(|n| std::fs::metadata(ingest.join(n)).is_ok_and(|m| m.len() > SIZE / 4))
        }),
        "no ingest file grew: {:?}",
        entries(&ingest)
    );
    let t = Instant::now();
    d.berth(&["image", "prune", "-f"]).success();
    d.berth(&["rmi", "spare:1"])
        .success()
        .stdout_has(&format!("Deleted: {spare}"));
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "rmi and prune waited for the import: {:?}",
        t.elapsed()
    );
    d.kill9();
    let _ = tx.send(());
    writer.join().expect("writer");
    d.restart();
    assert!(
        entries(&ingest).is_empty(),
        "ingest not cleaned: {:?}",
        entries(&ingest)
    );
    assert!(no_tmp_dirs(&d));
    let spare_left: Vec<String> = entries(&blobs_dir(&d));
    let expected: Vec<String> = blobs_before
        .iter()
        .filter(|b| !spare.contains(b.as_str()))
        .cloned()
        .collect();
    // The spare image's layer blob went with it; nothing of big:1 is there.
    assert!(
        spare_left.iter().all(|b| expected.contains(b)),
        "{spare_left:?} vs {expected:?}"
    );
    assert_eq!(d.check_problems(), Vec::<String>::new());
    d.berth(&["system", "check"]).success();
    d.berth(&["image", "inspect", "big:1"]).code_is(1);
    let blobs_mid = entries(&blobs_dir(&d));

    // 2. Right after the layer blob is published (while it unpacks, or just after).
    let socket = d.socket.clone();
    let writer = std::thread::spawn(move || {
        let _ = stream_import(&socket, "big:2", SIZE, 2, &mut |_| Ok(()));
    });
    let published = wait_until(Duration::from_secs(120), || {
        entries(&blobs_dir(&d)).len() > blobs_mid.len()
    });
    assert!(published, "the layer blob never appeared");
    d.kill9();
    writer.join().expect("writer");
    d.restart();
    assert!(
        entries(&ingest).is_empty(),
        "ingest not cleaned: {:?}",
        entries(&ingest)
    );
    assert!(no_tmp_dirs(&d));
    assert_eq!(d.check_problems(), Vec::<String>::new());
    d.berth(&["system", "check"]).success();
    if d.berth(&["image", "inspect", "big:2"]).code == 0 {
        // The transaction made it before the kill: the image is whole.
        d.berth(&["rmi", "big:2"]).success();
    }
    assert_eq!(
        entries(&blobs_dir(&d)),
        blobs_mid,
        "blobs orphaned by the crash"
    );
}

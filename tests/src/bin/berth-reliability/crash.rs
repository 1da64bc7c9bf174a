//! kill -9 of berthd while a stateful operation is in flight, at several points of each; after
//! each restart a consistency check, and a cleanup that must bring every resource back to the
//! baseline taken when the daemon was fresh.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use berth_tests::leaks::{self, Census, Leaks};
use berth_tests::tarball::{tar_of, write_big_tar};
use berth_tests::{wait_until, TestDaemon};
use sha2::{Digest as _, Sha256};

use crate::stream::{self, Progress};
use crate::{Ctx, Mode};

/// Where an operation is when berthd is killed.
#[derive(Clone, Copy)]
enum Trigger {
    /// At least `n` markers starting with the prefix (0: at once).
    Markers(&'static str, usize),
    /// A marker containing the text.
    Contains(&'static str),
}

impl Trigger {
    fn reached(self, p: &Progress) -> bool {
        match self {
            Trigger::Markers(prefix, n) => p.count(prefix) >= n,
            Trigger::Contains(text) => p.markers().iter().any(|m| m.contains(text)),
        }
    }
}

type Launch = dyn Fn(&TestDaemon, &Arc<Progress>, u64) -> Result<Vec<JoinHandle<()>>, String>;

/// A stateful operation and the points to kill berthd at.
struct Op {
    name: &'static str,
    points: Vec<(&'static str, Trigger)>,
    /// Prepares what the operation needs (uninterrupted), then starts it in the background.
    launch: Box<Launch>,
}

/// Resources a crash check compares with the baseline: not berthd's fds (they belong to a new
/// process), nor `blob_sources` rows — where a layer's compressed blob was seen on a registry,
/// recorded as each layer of a pull lands and kept after its image is gone, as dockerd keeps
/// its v2 metadata: a cache for later pushes that owns nothing (a pull killed after its first
/// layer leaves them, as a finished pull does).
fn comparable(c: &Census) -> Census {
    let mut c = c.clone();
    c.0.remove("berthd-fds");
    c.0.remove("rows:blob_sources");
    c
}

pub fn run(ctx: &mut Ctx) {
    let Some(mut d) = ctx.daemon("crash") else {
        return;
    };
    let registry_root = match tempfile::Builder::new()
        .prefix("berth-rel-registry-")
        .tempdir_in("/tmp")
    {
        Ok(t) => t,
        Err(e) => {
            ctx.check("crash/registry", |_| Err(format!("temp dir: {e}")));
            return;
        }
    };
    let mut registry = None;
    ctx.check("crash/registry", |_| {
        let r = Registry::start(&registry_root.path().to_path_buf())?;
        r.push_image("rel/pull", "v1", 3, 8 << 20)?;
        registry = Some(r);
        Ok(())
    });
    let mut baseline = Baseline::default();
    ctx.check("crash/baseline", |_| {
        // A first container makes the bridge and the table, which stay.
        d.berth(&["run", "--rm", "busybox", "true"]).success();
        settle(&d);
        baseline = Baseline::take(&d);
        Ok(())
    });
    let ops = operations(ctx, registry.as_ref().map(|r| r.addr.clone()));
    let repeats = ctx.pick(1, 3);
    for op in &ops {
        for (point, trigger) in &op.points {
            let name = format!("crash/{}/{point}", op.name);
            ctx.check(&name, |ctx| {
                let mut found = Vec::new();
                for attempt in 0..repeats {
                    let delay = match ctx.mode {
                        Mode::Quick => 0,
                        Mode::Long => ctx.rng.below(400),
                    };
                    let nonce = ctx.rng.next_u64() % 1_000_000;
                    let p = Progress::new();
                    let handles = (op.launch)(&d, &p, nonce)?;
                    wait_until(Duration::from_secs(90), || {
                        trigger.reached(&p) || p.finished()
                    });
                    let when = if trigger.reached(&p) {
                        "in flight".to_string()
                    } else {
                        let m = p.markers();
                        format!(
                            "after it ended (the point was never reached; it said {:?})",
                            &m[m.len().saturating_sub(3)..]
                        )
                    };
                    crate::sleep_ms(delay);
                    d.kill9();
                    for h in handles {
                        let _ = h.join();
                    }
                    d.restart();
                    let bad = consistency(&d, &baseline);
                    ctx.figure(
                        "crash (kill points)",
                        format!(
                            "{}/{point} #{} +{delay}ms, killed {when}: {}",
                            op.name,
                            attempt + 1,
                            if bad.is_empty() {
                                "consistent".to_string()
                            } else {
                                format!("{} inconsistencies: {}", bad.len(), bad.join("; "))
                            }
                        ),
                    );
                    if !bad.is_empty() {
                        // Leave the next point a clean start; judge it on its own.
                        // Not berthd, which names the dir too.
                        let ids = d.known_ids();
                        Leaks {
                            mounts: Vec::new(),
                            cgroups: leaks::cgroups_of(&ids),
                            processes: leaks::daemon_processes(d.dir(), &ids, d.berthd_pid()),
                        }
                        .clean_up();
                        settle(&d);
                        baseline = Baseline::take(&d);
                        found.extend(bad.into_iter().map(|b| format!("#{}: {b}", attempt + 1)));
                    }
                }
                if found.is_empty() {
                    Ok(())
                } else {
                    Err(found.join("\n"))
                }
            });
        }
    }
    drop(registry);
    ctx.teardown("crash", d);
}

/// What a crash check must come back to: the counts, and the files by name so that a count
/// off by one can say which file it is.
#[derive(Default)]
struct Baseline {
    census: Census,
    files: BTreeSet<std::path::PathBuf>,
}

impl Baseline {
    fn take(d: &TestDaemon) -> Self {
        Self {
            census: comparable(&Census::take(d)),
            files: daemon_files(d),
        }
    }

    /// Files there now and not in the baseline (`+path`), and the other way round (`-path`).
    fn file_changes(&self, d: &TestDaemon) -> Vec<String> {
        let now = daemon_files(d);
        let added = now
            .difference(&self.files)
            .map(|p| format!("+{}", p.display()));
        let gone = self
            .files
            .difference(&now)
            .map(|p| format!("-{}", p.display()));
        added.chain(gone).collect()
    }
}

fn daemon_files(d: &TestDaemon) -> BTreeSet<std::path::PathBuf> {
    let mut files = leaks::files_under(&d.data_root);
    files.extend(leaks::files_under(&d.exec_root));
    files
}

/// Waits until two censuses in a row agree (shims exiting, veths going).
fn settle(d: &TestDaemon) {
    let mut last = Census::take(d);
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(300));
        let now = Census::take(d);
        if now == last {
            return;
        }
        last = now;
    }
}

fn message(r: &berth_tests::http::Response) -> String {
    r.json()
        .and_then(|j| j["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| r.text())
}

/// Pids in the cgroup(s) of container `id`.
fn cgroup_pids(id: &str) -> BTreeSet<i32> {
    leaks::cgroups_of(&[id.to_string()])
        .iter()
        .flat_map(|cg| {
            std::fs::read_to_string(cg.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// Processes whose command line names `id` (its shim).
fn naming(id: &str) -> Vec<(i32, String)> {
    leaks::processes_naming(std::path::Path::new(id), &[])
}

/// Everything inconsistent after a restart; also removes everything the operations made.
fn consistency(d: &TestDaemon, baseline: &Baseline) -> Vec<String> {
    let mut bad = Vec::new();
    // Every listed container: inspectable, its state the true one, startable, removable.
    let list = d.api("GET", "/containers/json?all=1", None, b"");
    let containers: Vec<serde_json::Value> = list
        .json()
        .and_then(|j| j.as_array().cloned())
        .unwrap_or_default();
    for c in &containers {
        let id = c["Id"].as_str().unwrap_or_default().to_string();
        let short = &id[..12.min(id.len())];
        let r = d.api("GET", &format!("/containers/{id}/json"), None, b"");
        if r.status != 200 {
            bad.push(format!(
                "container {short}: inspect {} {}",
                r.status,
                message(&r)
            ));
        }
        let j = r.json().unwrap_or_default();
        let status = j["State"]["Status"].as_str().unwrap_or("?").to_string();
        let running = j["State"]["Running"].as_bool().unwrap_or(false);
        let pid = j["State"]["Pid"].as_i64().unwrap_or(0);
        let inside = cgroup_pids(&id);
        if running {
            if pid <= 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                bad.push(format!(
                    "container {short}: listed running with pid {pid}, which is gone"
                ));
            }
        } else {
            if !inside.is_empty() {
                bad.push(format!(
                    "container {short}: listed {status} but {inside:?} run in its cgroup"
                ));
            }
            let r = d.api("POST", &format!("/containers/{id}/start"), None, b"");
            if r.status != 204 {
                bad.push(format!(
                    "container {short} ({status}): start answered {} {}",
                    r.status,
                    message(&r)
                ));
            }
        }
        let r = d.api(
            "DELETE",
            &format!("/containers/{id}?force=1&v=1"),
            None,
            b"",
        );
        if r.status != 204 {
            bad.push(format!(
                "container {short} ({status}): rm -f answered {} {}",
                r.status,
                message(&r)
            ));
        }
        let gone = wait_until(Duration::from_secs(5), || {
            cgroup_pids(&id).is_empty() && naming(&id).is_empty()
        });
        if !gone {
            bad.push(format!(
                "container {short}: after rm -f, still running: {:?} {:?}",
                cgroup_pids(&id),
                naming(&id)
            ));
        }
    }
    // With no container listed, nothing of a container may remain.
    settle(d);
    let now = comparable(&Census::take(d));
    for change in baseline.census.changes(&now) {
        // (nft rules also belong to networks, still there: they are compared after cleanup.)
        if ["processes", "cgroups", "netns", "mounts", "veths"].contains(&change.resource.as_str())
        {
            let detail = if change.resource == "processes" {
                let ids = d.known_ids();
                format!(
                    " {:?}",
                    leaks::daemon_processes(d.dir(), &ids, d.berthd_pid())
                )
            } else {
                String::new()
            };
            bad.push(format!("no container listed, but {change}{detail}"));
        }
    }
    // berth's own check.
    let r = d.api("GET", "/berth/check", None, b"");
    match r.json().and_then(|j| j["Problems"].as_array().cloned()) {
        Some(problems) => bad.extend(problems.iter().map(|p| format!("system check: {p}"))),
        None => bad.push(format!("system check answered {} {}", r.status, r.text())),
    }
    bad.extend(blobs_and_rows(d));
    let ingest = leaks::dir_names(&d.data_root.join("content/ingest"));
    if !ingest.is_empty() {
        bad.push(format!("ingest files left: {ingest:?}"));
    }
    bad.extend(volumes_whole(d));
    // Cleanup: every volume, network and image made by the operations.
    let vols = d.api("GET", "/volumes", None, b"");
    for v in vols
        .json()
        .and_then(|j| j["Volumes"].as_array().cloned())
        .unwrap_or_default()
    {
        let name = v["Name"].as_str().unwrap_or_default();
        let r = d.api("DELETE", &format!("/volumes/{name}?force=1"), None, b"");
        if r.status != 204 {
            bad.push(format!(
                "volume {name}: rm answered {} {}",
                r.status,
                message(&r)
            ));
        }
    }
    let nets = d.api("GET", "/networks", None, b"");
    for n in nets
        .json()
        .and_then(|j| j.as_array().cloned())
        .unwrap_or_default()
    {
        let name = n["Name"].as_str().unwrap_or_default();
        if ["bridge", "host", "none"].contains(&name) {
            continue;
        }
        let id = n["Id"].as_str().unwrap_or_default();
        let r = d.api("DELETE", &format!("/networks/{id}"), None, b"");
        if r.status != 204 {
            bad.push(format!(
                "network {name}: rm answered {} {}",
                r.status,
                message(&r)
            ));
        }
    }
    // Children before parents: a parent with child images is a 409 until they are gone.
    let mut refused = Vec::new();
    for _pass in 0..5 {
        refused.clear();
        let images = d.api("GET", "/images/json?all=1", None, b"");
        for i in images
            .json()
            .and_then(|j| j.as_array().cloned())
            .unwrap_or_default()
        {
            let tags: Vec<&str> = i["RepoTags"]
                .as_array()
                .map(|t| t.iter().filter_map(|t| t.as_str()).collect())
                .unwrap_or_default();
            if tags.contains(&"busybox:latest") {
                continue;
            }
            let id = i["Id"].as_str().unwrap_or_default();
            let r = d.api("DELETE", &format!("/images/{id}?force=1"), None, b"");
            if r.status != 200 && r.status != 404 {
                refused.push(format!(
                    "image {id}: rmi answered {} {}",
                    r.status,
                    message(&r)
                ));
            }
        }
        if refused.is_empty() {
            break;
        }
    }
    bad.extend(refused);
    d.api("POST", "/build/prune?all=1", None, b"");
    d.api("POST", "/images/prune", None, b"");
    for b in blobs_and_rows(d) {
        if !bad.contains(&b) {
            bad.push(format!("after cleanup: {b}"));
        }
    }
    settle(d);
    // Cleanup that finishes late (a shim's last files, a removal still running) is not a leak:
    // what stays away from the baseline for 10 s is.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let back = loop {
        let after = comparable(&Census::take(d));
        let back: Vec<String> = baseline
            .census
            .changes(&after)
            .iter()
            .map(ToString::to_string)
            .collect();
        if back.is_empty() || std::time::Instant::now() >= deadline {
            break back;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    if !back.is_empty() {
        bad.push(format!(
            "not back to the baseline after cleanup: {} (files: {})",
            back.join(", "),
            baseline.file_changes(d).join(" ")
        ));
    }
    bad
}

/// No blob without a row that keeps it, no row naming a missing blob.
fn blobs_and_rows(d: &TestDaemon) -> Vec<String> {
    let db = d.data_root.join("berth.db");
    let blobs: BTreeSet<String> = leaks::dir_names(&d.data_root.join("content/blobs/sha256"))
        .into_iter()
        .map(|b| format!("sha256:{b}"))
        .collect();
    let images: BTreeSet<String> = leaks::db_strings(&db, "SELECT id FROM images")
        .into_iter()
        .collect();
    let layer_blobs: BTreeSet<String> =
        leaks::db_strings(&db, "SELECT blob FROM layers WHERE blob IS NOT NULL")
            .into_iter()
            .collect();
    let mut bad = Vec::new();
    for b in &blobs {
        if !images.contains(b) && !layer_blobs.contains(b) {
            bad.push(format!("blob {b} has no row"));
        }
    }
    for i in images.iter().filter(|i| !blobs.contains(*i)) {
        bad.push(format!("image row {i} has no config blob"));
    }
    for l in layer_blobs.iter().filter(|l| !blobs.contains(*l)) {
        bad.push(format!("layer row names blob {l}, which is missing"));
    }
    bad
}

/// Each volume whole (row and data) or absent.
fn volumes_whole(d: &TestDaemon) -> Vec<String> {
    let rows: BTreeSet<String> =
        leaks::db_strings(&d.data_root.join("berth.db"), "SELECT name FROM volumes")
            .into_iter()
            .collect();
    let dir = d.data_root.join("volumes");
    let dirs: BTreeSet<String> = leaks::dir_names(&dir)
        .into_iter()
        .filter(|n| dir.join(n).is_dir())
        .collect();
    let mut bad = Vec::new();
    for r in &rows {
        if !dir.join(r).join("_data").is_dir() {
            bad.push(format!("volume {r} is listed but its _data is gone"));
        }
    }
    for n in dirs.difference(&rows) {
        bad.push(format!("volume directory {n} has no record"));
    }
    bad
}

/// `berth registry serve` on 127.0.0.1 for the pulls.
struct Registry {
    child: std::process::Child,
    addr: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

impl Registry {
    fn start(root: &PathBuf) -> Result<Self, String> {
        use std::io::BufRead;
        let bins = berth_tests::paths::Binaries::locate().map_err(|e| e.to_string())?;
        let mut child = std::process::Command::new(&bins.berth)
            .args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"])
            .arg(root)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("starting berth registry serve: {e}"))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        match line.trim().strip_prefix("registry listening on ") {
            Some(addr) => Ok(Self {
                addr: addr.to_string(),
                child,
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("berth registry serve said {line:?}"))
            }
        }
    }

    fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<berth_tests::http::Response, String> {
        berth_tests::http::request_tcp(
            &self.addr,
            method,
            path,
            headers,
            body,
            Duration::from_secs(60),
        )
        .map_err(|e| e.to_string())
    }

    fn put_blob(&self, repo: &str, data: &[u8]) -> Result<String, String> {
        let d = digest(data);
        let r = self.req(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            &[],
            data,
        )?;
        if r.status != 201 {
            return Err(format!("blob upload: {} {}", r.status, r.text()));
        }
        Ok(d)
    }

    /// An image of `layers` uncompressed layers of `size` random bytes each.
    fn push_image(&self, repo: &str, tag: &str, layers: u64, size: u64) -> Result<(), String> {
        let mut diff_ids = Vec::new();
        let mut descs = Vec::new();
        for i in 0..layers {
            let tar = big_layer(&format!("layer{i}"), size, 1000 + i)?;
            let d = self.put_blob(repo, &tar)?;
            diff_ids.push(d.clone());
            descs.push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": tar.len()
            }));
        }
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .map_err(|e| e.to_string())?;
        let cd = self.put_blob(repo, &config)?;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": descs,
        }))
        .map_err(|e| e.to_string())?;
        let r = self.req(
            "PUT",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            &manifest,
        )?;
        if r.status != 201 {
            return Err(format!("manifest: {} {}", r.status, r.text()));
        }
        Ok(())
    }
}

/// A layer tar holding one file of `size` random bytes.
fn big_layer(path: &str, size: u64, seed: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    write_big_tar(&mut out, path, size, seed, &mut |_| Ok(())).map_err(|e| e.to_string())?;
    Ok(out)
}

/// A `docker save` archive of an image with `layers` layers of `size` random bytes, tagged
/// `tag`.
fn save_archive(tag: &str, layers: u64, size: u64) -> Result<Vec<u8>, String> {
    let mut b = tar::Builder::new(Vec::new());
    let add = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).map_err(|e| e.to_string())
    };
    let mut diff_ids = Vec::new();
    let mut paths = Vec::new();
    for i in 0..layers {
        let tar = big_layer(&format!("load{i}"), size, 2000 + i)?;
        let d = digest(&tar);
        let path = format!("{}/layer.tar", &d[7..]);
        add(&mut b, &path, &tar)?;
        diff_ids.push(d);
        paths.push(path);
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .map_err(|e| e.to_string())?;
    let config_name = format!("{}.json", &digest(&config)[7..]);
    add(&mut b, &config_name, &config)?;
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": config_name, "RepoTags": [tag], "Layers": paths}
    ]))
    .map_err(|e| e.to_string())?;
    add(&mut b, "manifest.json", &manifest)?;
    b.into_inner().map_err(|e| e.to_string())
}

/// A build context: a Dockerfile of several steps (the first made unique by `nonce`, so no
/// step comes from the cache) and a file to COPY.
fn build_context(nonce: u64) -> Vec<u8> {
    let dockerfile = format!(
        "FROM busybox\n\
         RUN echo {nonce} > /nonce\n\
         RUN dd if=/dev/urandom of=/blob bs=1M count=8 2>/dev/null\n\
         COPY f /f\n\
         ENV REL=1\n\
         RUN sleep 1 && echo three > /three\n\
         RUN echo four > /four\n"
    );
    tar_of(&[("Dockerfile", &dockerfile), ("f", "copied\n")])
}

fn json_body(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// A request from an operation's thread, marking `<what>` when it answers `ok`, `failed:
/// <what>` otherwise.
fn call(
    p: &Progress,
    socket: &std::path::Path,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    ok: u16,
    what: &str,
) -> bool {
    let bytes = body.map(json_body).unwrap_or_default();
    let ct = body.map(|_| "application/json");
    match berth_tests::http::request(socket, method, path, ct, &bytes, Duration::from_secs(60)) {
        Ok(r) if r.status == ok => {
            p.mark(what.to_string());
            true
        }
        Ok(r) => {
            p.mark(format!("failed: {what} {} {}", r.status, r.text().trim()));
            false
        }
        Err(e) => {
            p.mark(format!("failed: {what} {e}"));
            false
        }
    }
}

fn operations(ctx: &Ctx, registry: Option<String>) -> Vec<Op> {
    let runtime = ctx.runtime.clone();
    let mut ops = Vec::new();
    let load_archive = Arc::new(save_archive("rel-load:1", 3, 12 << 20).unwrap_or_default());
    ops.push(Op {
        name: "load",
        points: vec![
            ("request-sent", Trigger::Markers("sent", 1)),
            ("half-the-body", Trigger::Markers("body-half", 1)),
            ("body-sent", Trigger::Markers("body-sent", 1)),
            ("first-answer-line", Trigger::Markers("line:", 1)),
        ],
        launch: Box::new(move |d, p, _| {
            if load_archive.is_empty() {
                return Err("building the archive failed".into());
            }
            Ok(vec![stream::spawn_request(
                p,
                d.socket.clone(),
                "POST",
                "/images/load?quiet=0".into(),
                Some("application/x-tar"),
                load_archive.clone(),
                Duration::from_millis(1),
            )])
        }),
    });
    if let Some(addr) = registry {
        ops.push(Op {
            name: "pull",
            points: vec![
                ("request-sent", Trigger::Markers("sent", 1)),
                ("first-progress-line", Trigger::Markers("line:", 1)),
                (
                    "first-layer-downloaded",
                    Trigger::Contains("Download complete"),
                ),
                ("first-layer-unpacked", Trigger::Contains("Pull complete")),
            ],
            launch: Box::new(move |d, p, _| {
                Ok(vec![stream::spawn_request(
                    p,
                    d.socket.clone(),
                    "POST",
                    format!("/images/create?fromImage={addr}/rel/pull&tag=v1"),
                    None,
                    Arc::new(Vec::new()),
                    Duration::ZERO,
                )])
            }),
        });
    }
    ops.push(Op {
        name: "build",
        points: vec![
            ("request-sent", Trigger::Markers("sent", 1)),
            ("step-2", Trigger::Contains("Step 2/")),
            ("step-4", Trigger::Contains("Step 4/")),
            ("step-6", Trigger::Contains("Step 6/")),
            ("after-success", Trigger::Contains("Successfully built")),
        ],
        launch: Box::new(|d, p, nonce| {
            Ok(vec![stream::spawn_request(
                p,
                d.socket.clone(),
                "POST",
                "/build?t=rel-build:1&rm=1&forcerm=1".into(),
                Some("application/x-tar"),
                Arc::new(build_context(nonce)),
                Duration::ZERO,
            )])
        }),
    });
    let rt = runtime.clone();
    ops.push(Op {
        name: "parallel-create-start-rm",
        points: vec![
            ("at-once", Trigger::Markers("created", 0)),
            ("5-created", Trigger::Markers("created", 5)),
            ("10-started", Trigger::Markers("started", 10)),
            ("3-removed", Trigger::Markers("removed", 3)),
        ],
        launch: Box::new(move |d, p, nonce| {
            let mut handles = Vec::new();
            for i in 0..20 {
                let socket = d.socket.clone();
                let rt = rt.clone();
                handles.push(p.spawn(move |p| {
                    let name = format!("rel-par-{nonce}-{i}");
                    let mut body = serde_json::json!({"Image": "busybox", "Cmd": ["sleep", "300"]});
                    if let Some(rt) = &rt {
                        body["HostConfig"] = serde_json::json!({"Runtime": rt});
                    }
                    if !call(
                        p,
                        &socket,
                        "POST",
                        &format!("/containers/create?name={name}"),
                        Some(&body),
                        201,
                        "created",
                    ) {
                        return;
                    }
                    if !call(
                        p,
                        &socket,
                        "POST",
                        &format!("/containers/{name}/start"),
                        None,
                        204,
                        "started",
                    ) {
                        return;
                    }
                    if i % 2 == 1 {
                        call(
                            p,
                            &socket,
                            "DELETE",
                            &format!("/containers/{name}?force=1"),
                            None,
                            204,
                            "removed",
                        );
                    }
                }));
            }
            Ok(handles)
        }),
    });
    ops.push(Op {
        name: "volume-create-rm-prune",
        points: vec![
            ("at-once", Trigger::Markers("removed", 0)),
            ("first-removed", Trigger::Markers("removed", 1)),
            ("3-created", Trigger::Markers("created", 3)),
        ],
        launch: Box::new(|d, p, nonce| {
            // Volumes with some data, so that removing one takes a moment.
            for i in 0..12 {
                let name = format!("rel-vol-{nonce}-{i}");
                let r = d.api(
                    "POST",
                    "/volumes/create",
                    Some("application/json"),
                    &json_body(&serde_json::json!({"Name": name})),
                );
                if r.status != 201 {
                    return Err(format!("volume create: {} {}", r.status, r.text()));
                }
                let mp = r
                    .json()
                    .and_then(|j| j["Mountpoint"].as_str().map(PathBuf::from))
                    .unwrap_or_default();
                for f in 0..300 {
                    let dir = mp.join(format!("d{}", f % 10));
                    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                    std::fs::write(dir.join(format!("f{f}")), b"data")
                        .map_err(|e| e.to_string())?;
                }
            }
            let mut handles = Vec::new();
            for i in 0..6 {
                let socket = d.socket.clone();
                handles.push(p.spawn(move |p| {
                    call(
                        p,
                        &socket,
                        "DELETE",
                        &format!("/volumes/rel-vol-{nonce}-{i}"),
                        None,
                        204,
                        "removed",
                    );
                }));
                let socket = d.socket.clone();
                handles.push(p.spawn(move |p| {
                    let body = serde_json::json!({"Name": format!("rel-newvol-{nonce}-{i}")});
                    call(
                        p,
                        &socket,
                        "POST",
                        "/volumes/create",
                        Some(&body),
                        201,
                        "created",
                    );
                }));
            }
            let socket = d.socket.clone();
            handles.push(p.spawn(move |p| {
                // filters={"all":["true"]}
                call(
                    p,
                    &socket,
                    "POST",
                    "/volumes/prune?filters=%7B%22all%22%3A%5B%22true%22%5D%7D",
                    None,
                    200,
                    "pruned",
                );
            }));
            Ok(handles)
        }),
    });
    let rt = runtime;
    ops.push(Op {
        name: "network-create-connect",
        points: vec![
            ("at-once", Trigger::Markers("net-created", 0)),
            ("first-network", Trigger::Markers("net-created", 1)),
            ("4-connected", Trigger::Markers("connected", 4)),
        ],
        launch: Box::new(move |d, p, nonce| {
            let mut ctrs = Vec::new();
            for i in 0..4 {
                let name = format!("rel-netc-{nonce}-{i}");
                let mut args = vec![
                    "run".to_string(),
                    "-d".into(),
                    "--name".into(),
                    name.clone(),
                ];
                if let Some(rt) = &rt {
                    args.extend(["--runtime".to_string(), rt.clone()]);
                }
                args.extend(["busybox", "sleep", "300"].map(String::from));
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = d.berth(&refs);
                if out.code != 0 {
                    return Err(out.to_string());
                }
                ctrs.push(name);
            }
            let mut handles = Vec::new();
            for i in 0..4 {
                let socket = d.socket.clone();
                let ctrs = ctrs.clone();
                handles.push(p.spawn(move |p| {
                    let net = format!("rel-net-{nonce}-{i}");
                    if !call(
                        p,
                        &socket,
                        "POST",
                        "/networks/create",
                        Some(&serde_json::json!({"Name": net})),
                        201,
                        "net-created",
                    ) {
                        return;
                    }
                    for c in &ctrs {
                        call(
                            p,
                            &socket,
                            "POST",
                            &format!("/networks/{net}/connect"),
                            Some(&serde_json::json!({"Container": c})),
                            200,
                            "connected",
                        );
                    }
                }));
            }
            Ok(handles)
        }),
    });
    ops.push(Op {
        name: "network-create-remove",
        points: vec![
            ("at-once", Trigger::Markers("net-removed", 0)),
            ("first-removed", Trigger::Markers("net-removed", 1)),
            ("3-created", Trigger::Markers("net-created", 3)),
        ],
        launch: Box::new(move |d, p, nonce| {
            for i in 0..4 {
                let r = d.api(
                    "POST",
                    "/networks/create",
                    Some("application/json"),
                    &json_body(&serde_json::json!({"Name": format!("rel-oldnet-{nonce}-{i}")})),
                );
                if r.status != 201 {
                    return Err(format!("network create: {} {}", r.status, r.text()));
                }
            }
            let mut handles = Vec::new();
            for i in 0..4 {
                let socket = d.socket.clone();
                handles.push(p.spawn(move |p| {
                    call(
                        p,
                        &socket,
                        "DELETE",
                        &format!("/networks/rel-oldnet-{nonce}-{i}"),
                        None,
                        204,
                        "net-removed",
                    );
                }));
                let socket = d.socket.clone();
                handles.push(p.spawn(move |p| {
                    call(
                        p,
                        &socket,
                        "POST",
                        "/networks/create",
                        Some(&serde_json::json!({"Name": format!("rel-newnet-{nonce}-{i}")})),
                        201,
                        "net-created",
                    );
                }));
            }
            Ok(handles)
        }),
    });
    ops
}

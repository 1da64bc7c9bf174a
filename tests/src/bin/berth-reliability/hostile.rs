//! The hostile-input corpus: bad references, tars that try to get out (to PUT archive, import
//! and load), hostile load manifests, a long volume name, `-v /dev:/dev`, a 1 MB exec
//! environment. Nothing may be a 500; a refusal is a 4xx (or, on a streamed answer, an error
//! in the stream) with a message; nothing outside the daemon's roots is touched (canaries).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use berth_tests::http::Response;
use berth_tests::{unique_name, TestDaemon};

use crate::Ctx;

/// A directory outside the roots that the tars aim at, with a file in it.
struct Canary {
    dir: PathBuf,
}

impl Canary {
    fn new() -> Result<Self, String> {
        let dir = PathBuf::from(format!("/tmp/berth-rel-canary-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join("canary"), "untouched\n").map_err(|e| e.to_string())?;
        Ok(Self { dir })
    }

    fn file(&self) -> String {
        self.dir.join("canary").display().to_string()
    }

    /// The dir relative to `/`, behind enough `../` to climb out of any root.
    fn climb(&self) -> String {
        format!(
            "{}{}",
            "../".repeat(12),
            self.dir.display().to_string().trim_start_matches('/')
        )
    }

    /// What the canary looks like: its entries, the file's content and link count.
    fn state(&self) -> String {
        let mut names = berth_tests::leaks::dir_names(&self.dir);
        names.sort();
        let f = self.dir.join("canary");
        let content = std::fs::read_to_string(&f).unwrap_or_default();
        let nlink = std::fs::metadata(&f).map(|m| m.nlink()).unwrap_or(0);
        format!("{names:?} {content:?} nlink={nlink}")
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A tar written entry by entry, names raw (`..`, absolute) as a hostile client would.
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
        let n = name.len().min(old.name.len());
        old.name[..n].copy_from_slice(&name.as_bytes()[..n]);
        let l = link.len().min(old.linkname.len());
        old.linkname[..l].copy_from_slice(&link.as_bytes()[..l]);
        h.set_cksum();
        let _ = self.0.append(&h, data);
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
        self.0.into_inner().unwrap_or_default()
    }
}

/// The tars that try to write or link outside the extraction root.
fn hostile_tars(c: &Canary) -> Vec<(&'static str, Vec<u8>)> {
    let dir = c.dir.display().to_string();
    let climb = c.climb();
    vec![
        (
            "dotdot-name",
            RawTar::new().file(&format!("{climb}/dotdot"), "x").bytes(),
        ),
        (
            "absolute-name",
            RawTar::new().file(&format!("{dir}/abs"), "x").bytes(),
        ),
        (
            "symlinked-dir-out",
            RawTar::new()
                .symlink("esc", &dir)
                .file("esc/through", "x")
                .bytes(),
        ),
        (
            "relative-symlink-out",
            RawTar::new()
                .symlink("up", &climb)
                .file("up/through-rel", "x")
                .bytes(),
        ),
        (
            "hardlink-out-relative",
            RawTar::new()
                .hardlink("hl", &format!("{climb}/canary"))
                .bytes(),
        ),
        (
            "hardlink-out-absolute",
            RawTar::new().hardlink("hla", &c.file()).bytes(),
        ),
        (
            "symlink-then-hardlink",
            RawTar::new()
                .symlink("sl", &c.file())
                .hardlink("hsl", "sl")
                .bytes(),
        ),
        (
            "symlink-then-file",
            RawTar::new()
                .symlink("victim", &c.file())
                .file("victim", "pwned\n")
                .bytes(),
        ),
    ]
}

/// A `docker save` archive: `layer` as its one layer, `tags`, and the manifest's layer path.
fn load_archive(layer: &[u8], tags: &[&str], layer_path: Option<&str>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let add = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        let _ = b.append_data(&mut h, name, data);
    };
    use sha2::Digest as _;
    let diff = format!("sha256:{}", hex::encode(sha2::Sha256::digest(layer)));
    add(&mut b, "l/layer.tar", layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff]},
    }))
    .unwrap_or_default();
    add(&mut b, "config.json", &config);
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": "config.json", "RepoTags": tags, "Layers": [layer_path.unwrap_or("l/layer.tar")]}
    ]))
    .unwrap_or_default();
    add(&mut b, "manifest.json", &manifest);
    b.into_inner().unwrap_or_default()
}

/// The answer's message: `message` of a JSON error, or the first error of a JSON stream.
fn answer(r: &Response) -> (String, bool) {
    if let Some(m) = r
        .json()
        .and_then(|j| j["message"].as_str().map(str::to_string))
    {
        return (m, false);
    }
    let text = r.text();
    for v in serde_json::Deserializer::from_str(&text)
        .into_iter::<serde_json::Value>()
        .flatten()
    {
        if let Some(e) = v["errorDetail"]["message"].as_str().or(v["error"].as_str()) {
            return (e.to_string(), true);
        }
    }
    (text.trim().chars().take(200).collect(), false)
}

/// Whether the answer is acceptable: never a 5xx; a refusal (4xx, or an error in a 200 stream)
/// carries a message; where `must_refuse`, it is a refusal.
fn judge(r: &Response, must_refuse: bool) -> Result<(), String> {
    let (msg, in_stream) = answer(r);
    let refused = (400..500).contains(&r.status) || (r.status == 200 && in_stream);
    if r.status >= 500 {
        return Err(format!("{} {msg}", r.status));
    }
    if refused && msg.trim().is_empty() {
        return Err(format!("{} without a message", r.status));
    }
    if must_refuse && !refused {
        return Err(format!("accepted: {} {msg}", r.status));
    }
    Ok(())
}

fn short(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 160 {
        format!("{}...", one.chars().take(160).collect::<String>())
    } else {
        one
    }
}

pub fn run(ctx: &mut Ctx) {
    let Some(d) = ctx.daemon("hostile") else {
        return;
    };
    let canary = match Canary::new() {
        Ok(c) => c,
        Err(e) => {
            ctx.check("hostile/canary", |_| Err(e));
            ctx.teardown("hostile", d);
            return;
        }
    };
    let ctr = unique_name("rel-hostile");
    let mut args = vec!["run".to_string(), "-d".into(), "--name".into(), ctr.clone()];
    args.extend(ctx.runtime_args());
    args.extend(["busybox", "sh", "-c", "mkdir -p /dst; sleep 600"].map(String::from));
    ctx.check("hostile/setup", |_| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        d.berth(&refs).success();
        Ok(())
    });

    let long = "a".repeat(300);
    let small = RawTar::new().file("hello", "hi\n").bytes();
    let refs: Vec<(&str, String, &str, Vec<u8>)> = vec![
        (
            "tag ../x",
            "/images/busybox/tag?repo=../x&tag=y".into(),
            "",
            vec![],
        ),
        (
            "tag 300-char repo",
            format!("/images/busybox/tag?repo={long}&tag=y"),
            "",
            vec![],
        ),
        (
            "tag uppercase repo",
            "/images/busybox/tag?repo=BusyBox&tag=y".into(),
            "",
            vec![],
        ),
        (
            "tag bad tag",
            "/images/busybox/tag?repo=rel-ok&tag=-bad".into(),
            "",
            vec![],
        ),
        (
            "commit ../x",
            format!("/commit?container={ctr}&repo=../x&tag=y"),
            "",
            vec![],
        ),
        (
            "build t=../x",
            "/build?t=../x".into(),
            "application/x-tar",
            berth_tests::tarball::tar_of(&[("Dockerfile", "FROM busybox\n")]),
        ),
        (
            "import ../x",
            "/images/create?fromSrc=-&repo=../x&tag=y".into(),
            "application/x-tar",
            small.clone(),
        ),
        (
            "pull ../x",
            "/images/create?fromImage=../x&tag=latest".into(),
            "",
            vec![],
        ),
        (
            "pull 300-char repo",
            format!("/images/create?fromImage={long}&tag=latest"),
            "",
            vec![],
        ),
        (
            "load RepoTags ../x:y",
            "/images/load?quiet=1".into(),
            "application/x-tar",
            load_archive(&small, &["../x:y"], None),
        ),
    ];
    for (what, path, ct, body) in &refs {
        ctx.check(
            &format!("hostile/reference/{}", what.replace(' ', "-")),
            |ctx| {
                let r = d.api("POST", path, (!ct.is_empty()).then_some(*ct), body);
                let (msg, _) = answer(&r);
                ctx.figure(
                    "hostile inputs",
                    format!("{what}: {} {}", r.status, short(&msg)),
                );
                let stored = stored_refs(&d);
                judge(&r, true)?;
                stored
            },
        );
    }

    let tars = hostile_tars(&canary);
    for (what, tar) in &tars {
        for target in ["put-archive", "import", "load"] {
            ctx.check(&format!("hostile/tar/{target}/{what}"), |ctx| {
                let before = canary.state();
                let r = match target {
                    "put-archive" => d.api(
                        "PUT",
                        &format!("/containers/{ctr}/archive?path=/dst"),
                        Some("application/x-tar"),
                        tar,
                    ),
                    "import" => d.api(
                        "POST",
                        "/images/create?fromSrc=-&repo=rel-hostile-import&tag=1",
                        Some("application/x-tar"),
                        tar,
                    ),
                    _ => d.api(
                        "POST",
                        "/images/load?quiet=1",
                        Some("application/x-tar"),
                        &load_archive(tar, &["rel-hostile-load:1"], None),
                    ),
                };
                let (msg, _) = answer(&r);
                ctx.figure(
                    "hostile inputs",
                    format!("{target} {what}: {} {}", r.status, short(&msg)),
                );
                for image in ["rel-hostile-import:1", "rel-hostile-load:1"] {
                    d.api("DELETE", &format!("/images/{image}?force=1"), None, b"");
                }
                let after = canary.state();
                if before != after {
                    return Err(format!("the host was touched: {before} -> {after}"));
                }
                judge(&r, false)
            });
        }
    }

    let layer_paths: Vec<(&str, Vec<u8>)> = vec![
        (
            "manifest layer ../",
            load_archive(
                &small,
                &["rel-hostile-m:1"],
                Some(&format!("{}/canary", canary.climb())),
            ),
        ),
        (
            "manifest layer absolute",
            load_archive(&small, &["rel-hostile-m:1"], Some(&canary.file())),
        ),
        (
            "manifest.json a symlink out",
            RawTar::new()
                .symlink("manifest.json", &canary.file())
                .bytes(),
        ),
    ];
    for (what, archive) in &layer_paths {
        ctx.check(&format!("hostile/load/{}", what.replace(' ', "-")), |ctx| {
            let before = canary.state();
            let r = d.api(
                "POST",
                "/images/load?quiet=1",
                Some("application/x-tar"),
                archive,
            );
            let (msg, _) = answer(&r);
            ctx.figure(
                "hostile inputs",
                format!("load {what}: {} {}", r.status, short(&msg)),
            );
            d.api("DELETE", "/images/rel-hostile-m:1?force=1", None, b"");
            if canary.state() != before {
                return Err(format!(
                    "the host was touched: {before} -> {}",
                    canary.state()
                ));
            }
            // Contained is enough: dockerd resolves the path inside the archive and fails to
            // find it; a loader that picks layers by digest may load the image.
            judge(&r, false)
        });
    }

    ctx.check("hostile/volume-name-300", |ctx| {
        let body =
            serde_json::to_vec(&serde_json::json!({"Name": "v".repeat(300)})).unwrap_or_default();
        let r = d.api("POST", "/volumes/create", Some("application/json"), &body);
        let (msg, _) = answer(&r);
        ctx.figure(
            "hostile inputs",
            format!("volume create, 300-char name: {} {}", r.status, short(&msg)),
        );
        judge(&r, true)
    });

    ctx.check("hostile/bind-dev-dev", |ctx| {
        let name = unique_name("rel-dev");
        let mut body = serde_json::json!({"Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"Binds": ["/dev:/dev"]}});
        if let Some(rt) = &ctx.runtime {
            body["HostConfig"]["Runtime"] = serde_json::json!(rt);
        }
        let created = d.api(
            "POST",
            &format!("/containers/create?name={name}"),
            Some("application/json"),
            &serde_json::to_vec(&body).unwrap_or_default(),
        );
        let started = (created.status == 201)
            .then(|| d.api("POST", &format!("/containers/{name}/start"), None, b""));
        let (cmsg, _) = answer(&created);
        let smsg = started.as_ref().map(|r| format!("{} {}", r.status, short(&answer(r).0))).unwrap_or_default();
        ctx.figure(
            "hostile inputs",
            format!("run -v /dev:/dev (dockerd starts it): create {} {}; start {smsg}", created.status, short(&cmsg)),
        );
        d.api("DELETE", &format!("/containers/{name}?force=1"), None, b"");
        match started {
            Some(s) if s.status == 204 => Ok(()),
            _ => Err(format!("create {} {cmsg}; start {smsg}", created.status)),
        }
    });

    ctx.check("hostile/exec-1mb-env", |ctx| {
        let body = serde_json::json!({
            "Cmd": ["true"], "Env": [format!("BIG={}", "x".repeat(1 << 20))],
            "AttachStdout": true, "AttachStderr": true,
        });
        let created = d.api(
            "POST",
            &format!("/containers/{ctr}/exec"),
            Some("application/json"),
            &serde_json::to_vec(&body).unwrap_or_default(),
        );
        let (cmsg, _) = answer(&created);
        let mut text = format!("create {} {}", created.status, short(&cmsg));
        let mut said = cmsg.clone();
        if created.status == 201 {
            let id = created
                .json()
                .and_then(|j| j["Id"].as_str().map(str::to_string))
                .unwrap_or_default();
            let start = d.api(
                "POST",
                &format!("/exec/{id}/start"),
                Some("application/json"),
                br#"{"Detach":false,"Tty":false}"#,
            );
            let body = String::from_utf8_lossy(&start.body)
                .replace(|c: char| c.is_control() && c != '\n', "");
            text.push_str(&format!("; start {} {}", start.status, short(&body)));
            said.push_str(&body);
            if start.status >= 500 {
                ctx.figure("hostile inputs", format!("exec with a 1 MB env: {text}"));
                return Err(text);
            }
        }
        ctx.figure("hostile inputs", format!("exec with a 1 MB env: {text}"));
        if created.status >= 500 {
            return Err(text);
        }
        if said.to_lowercase().contains("argument list too long") {
            Ok(())
        } else {
            Err(format!(
                "the answer does not give the kernel's reason (E2BIG): {text}"
            ))
        }
    });

    d.api("DELETE", &format!("/containers/{ctr}?force=1"), None, b"");
    drop(canary);
    ctx.teardown("hostile", d);
}

/// No reference the corpus tried is stored.
fn stored_refs(d: &TestDaemon) -> Result<(), String> {
    let r = d.api("GET", "/images/json?all=1", None, b"");
    let tags: Vec<String> = r
        .json()
        .and_then(|j| j.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .flat_map(|i| {
            i["RepoTags"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| t.as_str().map(str::to_string))
        })
        .collect();
    let bad: Vec<&String> = tags
        .iter()
        .filter(|t| {
            t.contains("..") || t.len() > 255 || t.starts_with("BusyBox") || t.contains("-bad")
        })
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        // Untag them so the next input is judged on its own.
        for t in &bad {
            d.api(
                "DELETE",
                &format!("/images/{}?force=1", t.replace('/', "%2F")),
                None,
                b"",
            );
        }
        Err(format!("stored: {bad:?}"))
    }
}

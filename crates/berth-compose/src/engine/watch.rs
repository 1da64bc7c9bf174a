//! `develop.watch`: Compose v2's file watch (`pkg/compose/watch.go`, `pkg/watch`,
//! `internal/sync`).
//!
//! - [`rules`]: each service's triggers with their include/ignore matchers (the trigger's
//!   `ignore`, the build context's `.dockerignore`, editors' temporary files);
//! - [`Watcher`]: inotify (the `notify` crate) on every trigger path, events debounced into
//!   batches after a quiet period of [`QUIET_PERIOD`];
//! - [`classify`]: which services a batch syncs, restarts, rebuilds or runs `exec` in;
//! - [`Engine::sync`]: changed paths copied into every container of the service as one tar
//!   (`PUT /containers/{id}/archive`), deleted ones removed by an exec of `rm -rf`.

use berth_dockerfile::ignore::clean;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::models::ExecConfig;
use berth_client::CopyToOptions;
use globset::{GlobBuilder, GlobMatcher};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::state::{self, OneOff};
use super::{Engine, EngineError, Result};
use crate::model::{BuildConfig, Project, ServiceConfig, ServiceHook, Trigger, VolumeType};

pub const ACTION_SYNC: &str = "sync";
pub const ACTION_REBUILD: &str = "rebuild";
pub const ACTION_RESTART: &str = "restart";
pub const ACTION_SYNC_RESTART: &str = "sync+restart";
pub const ACTION_SYNC_EXEC: &str = "sync+exec";

/// How long the file system must stay quiet before a batch of changes is handled.
pub const QUIET_PERIOD: Duration = Duration::from_millis(500);

/// Editors' temporary and lock files (GoLand, emacs, vim), never acted upon.
const EPHEMERAL_PATTERNS: &[&str] = &[
    "**/*___jb_old___",
    "**/*___jb_tmp___",
    "**/.idea/**",
    "**/.#*",
    "**/4913",
    "**/*~",
    "**/.*.swp",
    "**/.*.swx",
    "**/.*.swo",
    "**/.*.swn",
];

/// A changed host path and where it lands in the container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PathMapping {
    pub host_path: PathBuf,
    pub container_path: String,
}

/// `.dockerignore`-style patterns anchored at a root directory (moby/patternmatcher's
/// `MatchesOrParentMatches`): `*` and `?` stay within a path segment, `**` spans segments,
/// `!` re-includes, the last pattern matching the path or one of its parents decides.
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    root: PathBuf,
    patterns: Vec<(bool, GlobMatcher)>,
}

impl PatternMatcher {
    pub fn new(root: &Path, patterns: &[String]) -> Result<Self> {
        let mut out = Vec::new();
        for p in patterns {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let p = clean(p);
            let (exclusion, p) = match p.strip_prefix('!') {
                Some(rest) => (true, rest.to_string()),
                None => (false, p),
            };
            let abs = if p.starts_with('/') {
                p.clone()
            } else {
                clean(&format!("{}/{p}", root.display()))
            };
            let glob = GlobBuilder::new(&escape_braces(&abs))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| EngineError::msg(format!("syntax error in pattern {p:?}: {e}")))?;
            out.push((exclusion, glob.compile_matcher()));
        }
        Ok(PatternMatcher {
            root: root.to_path_buf(),
            patterns: out,
        })
    }

    /// As [`matches`](Self::matches); a relative path is taken from the patterns' root.
    pub fn matches_rel(&self, path: &Path) -> bool {
        if path.is_absolute() {
            self.matches(path)
        } else {
            self.matches(&self.root.join(path))
        }
    }

    /// Whether `path` (absolute) or one of its parent directories matches.
    pub fn matches(&self, path: &Path) -> bool {
        let parents: Vec<&Path> = path.ancestors().skip(1).collect();
        let mut matched = false;
        for (exclusion, glob) in &self.patterns {
            if *exclusion != matched {
                continue;
            }
            let hit = glob.is_match(path) || parents.iter().rev().any(|p| glob.is_match(p));
            if hit {
                matched = !exclusion;
            }
        }
        matched
    }
}

/// patternmatcher has no `{a,b}` alternation: braces are literal.
fn escape_braces(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut in_class = false;
    for c in p.chars() {
        match c {
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '{' | '}' if !in_class => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

/// The patterns of a `.dockerignore` file (moby's `ignorefile.ReadAll`).
pub fn read_ignore_file(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut p = line.trim();
        if p.is_empty() {
            continue;
        }
        let invert = p.starts_with('!');
        if invert {
            p = p[1..].trim();
        }
        if p.is_empty() {
            continue;
        }
        let mut p = clean(p);
        if p.len() > 1 && p.starts_with('/') {
            p.remove(0);
        }
        out.push(if invert { format!("!{p}") } else { p });
    }
    out
}

/// The build context's `<Dockerfile>.dockerignore`, else its `.dockerignore`.
pub fn load_dockerignore(build: Option<&BuildConfig>) -> Result<PatternMatcher> {
    let Some(b) = build else {
        return Ok(PatternMatcher::default());
    };
    let root = PathBuf::from(if b.context.is_empty() {
        "."
    } else {
        &b.context
    });
    let root = std::path::absolute(&root).unwrap_or(root);
    let dockerfile = if b.dockerfile.is_empty() {
        "Dockerfile"
    } else {
        &b.dockerfile
    };
    for name in [format!("{dockerfile}.dockerignore"), ".dockerignore".into()] {
        match std::fs::read_to_string(root.join(&name)) {
            Ok(text) => return PatternMatcher::new(&root, &read_ignore_file(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(EngineError::msg(format!(
                    "error reading .dockerignore: {e}"
                )))
            }
        }
    }
    Ok(PatternMatcher::default())
}

/// One trigger of one service, ready to match events.
#[derive(Debug, Clone)]
pub struct WatchRule {
    pub service: String,
    pub trigger: Trigger,
    include: Option<PatternMatcher>,
    ignore: Vec<PatternMatcher>,
}

impl WatchRule {
    /// The container path of a changed host path when this rule applies to it.
    pub fn matches(&self, host_path: &Path) -> Option<PathMapping> {
        let root = Path::new(&self.trigger.path);
        let rel = host_path.strip_prefix(root).ok()?;
        if let Some(inc) = &self.include {
            if !inc.matches(host_path) {
                return None;
            }
        }
        if self.ignore.iter().any(|m| m.matches(host_path)) {
            return None;
        }
        let container_path = if self.trigger.target.is_empty() {
            String::new()
        } else {
            let rel: Vec<String> = rel
                .components()
                .filter_map(|c| match c {
                    Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect();
            clean(&format!("{}/{}", self.trigger.target, rel.join("/")))
        };
        Some(PathMapping {
            host_path: host_path.to_path_buf(),
            container_path,
        })
    }
}

impl WatchRule {
    /// What a changed path gives under this rule: its own mapping when it matches and, for
    /// a directory (a new one arrives with its content), every path below it that matches;
    /// ignored directories are not entered.
    pub fn mappings(&self, path: &Path) -> Vec<PathMapping> {
        if !path.starts_with(&self.trigger.path) {
            return Vec::new();
        }
        let is_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|md| md.is_dir());
        let ignored = |p: &Path| self.ignore.iter().any(|m| m.matches(p));
        let mut out = Vec::new();
        match self.matches(path) {
            Some(m) => out.push(m),
            None if !is_dir(path) || ignored(path) => return out,
            None => {}
        }
        if !is_dir(path) {
            return out;
        }
        let mut stack = vec![path.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut kids: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            kids.sort();
            for k in kids {
                if let Some(km) = self.matches(&k) {
                    out.push(km);
                }
                if is_dir(&k) && !ignored(&k) {
                    stack.push(k);
                }
            }
        }
        out
    }
}

fn is_sync(t: &Trigger) -> bool {
    t.action == ACTION_SYNC || t.action == ACTION_SYNC_RESTART
}

/// Whether a bind mount of the service already covers `path` (compose then leaves it alone).
pub fn bind_mounted(path: &Path, service: &ServiceConfig) -> bool {
    service
        .volumes
        .iter()
        .filter(|v| v.kind == VolumeType::Bind && !v.source.is_empty())
        .any(|v| path.starts_with(&v.source))
}

/// What `watch` monitors: the rules and the host paths to watch.
#[derive(Debug, Default)]
pub struct Plan {
    pub rules: Vec<WatchRule>,
    pub paths: Vec<PathBuf>,
    /// Sync triggers asking for `initial_sync`: (service, trigger).
    pub initial: Vec<(String, Trigger)>,
    pub warnings: Vec<String>,
}

/// The watch rules of `services` (all when empty), validated as compose does.
pub fn plan(project: &Project, services: &[String]) -> Result<Plan> {
    let mut plan = Plan::default();
    for (name, s) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let Some(dev) = &s.develop else {
            continue;
        };
        for t in &dev.watch {
            match t.action.as_str() {
                ACTION_REBUILD => {
                    if s.build.is_none() {
                        return Err(EngineError::msg(format!(
                            "can't watch service {name:?} with action {ACTION_REBUILD} without a build context"
                        )));
                    }
                }
                // Compose 2.40 accepts a `sync+exec` without `exec.command` (the exec then
                // fails when it runs, as the daemon refuses an empty command).
                ACTION_SYNC | ACTION_RESTART | ACTION_SYNC_RESTART | ACTION_SYNC_EXEC => {}
                other => {
                    return Err(EngineError::msg(format!(
                        "services.{name}.develop.watch.action must be one of the following: \"rebuild\", \"sync\", \"restart\", \"sync+restart\", \"sync+exec\" (got {other:?})"
                    )))
                }
            }
            if t.path.is_empty() {
                return Err(EngineError::msg("watch rules MUST define a path"));
            }
        }
        let dockerignore = load_dockerignore(s.build.as_ref())?;
        let ephemeral = PatternMatcher::new(
            Path::new("/"),
            &EPHEMERAL_PATTERNS
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>(),
        )?;
        for t in &dev.watch {
            let path = PathBuf::from(&t.path);
            if is_sync(t) && bind_mounted(&path, s) {
                plan.warnings.push(format!(
                    "path '{}' also declared by a bind mount volume, this path won't be monitored!",
                    t.path
                ));
                continue;
            }
            if t.initial_sync && is_sync(t) {
                plan.initial.push((name.clone(), t.clone()));
            }
            plan.paths.push(path.clone());
            let include = if t.include.is_empty() {
                None
            } else {
                Some(PatternMatcher::new(&path, &t.include)?)
            };
            plan.rules.push(WatchRule {
                service: name.clone(),
                trigger: t.clone(),
                include,
                ignore: vec![
                    dockerignore.clone(),
                    ephemeral.clone(),
                    PatternMatcher::new(&path, &t.ignore)?,
                ],
            });
        }
    }
    Ok(plan)
}

/// The files an `initial_sync` copies: every file under the trigger path that no ignore
/// pattern, Dockerfile/compose file name or bind mount excludes.
pub fn initial_sync_files(
    project: &Project,
    service: &str,
    t: &Trigger,
) -> Result<Vec<PathMapping>> {
    let s = &project.services[service];
    let mut names: Vec<String> = vec!["Dockerfile".into()];
    for n in [
        "compose.yaml",
        "compose.yml",
        "docker-compose.yml",
        "docker-compose.yaml",
        "compose.override.yml",
        "compose.override.yaml",
        "docker-compose.override.yml",
        "docker-compose.override.yaml",
    ] {
        names.push(n.into());
    }
    if let Some(b) = &s.build {
        if !b.dockerfile.is_empty() {
            if let Some(base) = Path::new(&b.dockerfile).file_name() {
                names.push(base.to_string_lossy().into_owned());
            }
        }
    }
    let ignores = [
        load_dockerignore(s.build.as_ref())?,
        PatternMatcher::new(
            Path::new("/"),
            &EPHEMERAL_PATTERNS
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>(),
        )?,
        PatternMatcher::new(Path::new("/"), &names)?,
        PatternMatcher::new(Path::new(&t.path), &t.ignore)?,
    ];
    // Compose matches the base name only (each matcher takes it from its own root).
    let ignored = |p: &Path| {
        let base = p.file_name().map(PathBuf::from).unwrap_or_default();
        ignores.iter().any(|m| m.matches_rel(&base))
    };
    let root = PathBuf::from(&t.path);
    let meta = std::fs::metadata(&root)
        .map_err(|e| EngineError::msg(format!("stat {}: {e}", root.display())))?;
    let mut out = Vec::new();
    if meta.is_file() {
        if !ignored(&root) && !bind_mounted(&root, s) {
            out.push(PathMapping {
                host_path: root.clone(),
                container_path: t.target.clone(),
            });
        }
        return Ok(out);
    }
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| EngineError::msg(format!("open {}: {e}", dir.display())))?;
        let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if ignored(&p) || bind_mounted(&p, s) {
                continue;
            }
            let ft = match e.file_type() {
                Ok(ft) => ft,
                Err(_) => continue,
            };
            if ft.is_dir() {
                stack.push(p);
                continue;
            }
            let Ok(rel) = p.strip_prefix(&root) else {
                continue;
            };
            out.push(PathMapping {
                container_path: clean(&format!("{}/{}", t.target, rel.to_string_lossy())),
                host_path: p,
            });
        }
    }
    Ok(out)
}

/// What one batch of changes asks for, per service.
#[derive(Debug, Default, PartialEq)]
pub struct Actions {
    pub rebuild: BTreeSet<String>,
    pub sync: BTreeMap<String, Vec<PathMapping>>,
    /// Service → how many changed paths its syncs come from (compose's message).
    pub changes: BTreeMap<String, usize>,
    pub restart: BTreeSet<String>,
    /// Service → indexes (in the rules) of the `sync+exec` triggers to run, once each.
    pub exec: BTreeMap<String, BTreeSet<usize>>,
}

/// Matches each changed path against every rule (`handleWatchBatch`).
pub fn classify(rules: &[WatchRule], batch: &[PathBuf]) -> Actions {
    let mut a = Actions::default();
    for path in batch {
        for (i, rule) in rules.iter().enumerate() {
            let m = rule.mappings(path);
            if m.is_empty() {
                continue;
            }
            let svc = rule.service.clone();
            let action = rule.trigger.action.as_str();
            if [ACTION_SYNC, ACTION_SYNC_RESTART, ACTION_SYNC_EXEC].contains(&action) {
                *a.changes.entry(svc.clone()).or_default() += 1;
            }
            match action {
                ACTION_REBUILD => {
                    a.rebuild.insert(svc);
                }
                ACTION_SYNC => a.sync.entry(svc).or_default().extend(m),
                ACTION_RESTART => {
                    a.restart.insert(svc);
                }
                ACTION_SYNC_RESTART => {
                    a.sync.entry(svc.clone()).or_default().extend(m);
                    a.restart.insert(svc);
                }
                ACTION_SYNC_EXEC => {
                    a.sync.entry(svc.clone()).or_default().extend(m);
                    a.exec.entry(svc).or_default().insert(i);
                }
                _ => {}
            }
        }
    }
    a
}

/// inotify on the trigger paths; changed paths come out in debounced batches.
pub struct Watcher {
    _inner: Arc<Mutex<notify::RecommendedWatcher>>,
    batches: mpsc::UnboundedReceiver<Vec<PathBuf>>,
    errors: mpsc::UnboundedReceiver<String>,
}

impl Watcher {
    /// Watches `paths`: directories recursively; a file (or a path not there yet) through its
    /// nearest existing directory.
    pub fn start(paths: &[PathBuf]) -> Result<Self> {
        let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<PathBuf>();
        let (err_tx, errors) = mpsc::unbounded_channel::<String>();
        let mut inner =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(ev) => {
                    // Reads and attribute-only changes (chmod, touch) are not changes.
                    let relevant = !matches!(
                        ev.kind,
                        EventKind::Access(_)
                            | EventKind::Modify(notify::event::ModifyKind::Metadata(_))
                    );
                    if relevant {
                        for p in ev.paths {
                            let _ = ev_tx.send(p);
                        }
                    }
                }
                Err(e) => {
                    let _ = err_tx.send(e.to_string());
                }
            })
            .map_err(|e| EngineError::msg(e.to_string()))?;
        let mut watched: BTreeSet<(PathBuf, bool)> = BTreeSet::new();
        // Trigger paths not there yet: watched recursively once created.
        let mut pending: Vec<PathBuf> = Vec::new();
        for p in paths {
            let entry = if p.is_dir() {
                (p.clone(), true)
            } else {
                if !p.exists() {
                    pending.push(p.clone());
                }
                let mut dir = p.parent().map(Path::to_path_buf);
                while let Some(d) = &dir {
                    if d.is_dir() {
                        break;
                    }
                    dir = d.parent().map(Path::to_path_buf);
                }
                (dir.unwrap_or_else(|| PathBuf::from("/")), false)
            };
            watched.insert(entry);
        }
        for (p, recursive) in &watched {
            let mode = if *recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            inner
                .watch(p, mode)
                .map_err(|e| EngineError::msg(format!("watching {}: {e}", p.display())))?;
        }
        let inner = Arc::new(Mutex::new(inner));
        let adder = inner.clone();
        let (batch_tx, batches) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
            loop {
                let got = if seen.is_empty() {
                    ev_rx.recv().await
                } else {
                    match tokio::time::timeout(QUIET_PERIOD, ev_rx.recv()).await {
                        Ok(got) => got,
                        Err(_) => {
                            let batch: Vec<PathBuf> =
                                std::mem::take(&mut seen).into_iter().collect();
                            if batch_tx.send(batch).is_err() {
                                return;
                            }
                            continue;
                        }
                    }
                };
                match got {
                    Some(p) => {
                        if let Some(i) = pending.iter().position(|q| *q == p) {
                            if p.is_dir() {
                                pending.remove(i);
                                if let Ok(mut w) = adder.lock() {
                                    let _ = w.watch(&p, RecursiveMode::Recursive);
                                }
                            }
                        }
                        seen.insert(p);
                    }
                    None => {
                        if !seen.is_empty() {
                            let _ = batch_tx.send(std::mem::take(&mut seen).into_iter().collect());
                        }
                        return;
                    }
                }
            }
        });
        Ok(Watcher {
            _inner: inner,
            batches,
            errors,
        })
    }

    /// The next batch of changed paths, or an error the file system watcher reported; `None`
    /// when the watcher is gone.
    pub async fn next(&mut self) -> Option<std::result::Result<Vec<PathBuf>, String>> {
        tokio::select! {
            b = self.batches.recv() => b.map(Ok),
            Some(e) = self.errors.recv() => Some(Err(e)),
        }
    }
}

/// One tar entry: the host path and the header of its container path.
struct Entry {
    host: PathBuf,
    name: String,
    meta: std::fs::Metadata,
}

/// The tar of the existing `paths` (a directory as itself only: [`WatchRule::mappings`]
/// lists its content), names relative to `/`, the last mapping of a name winning
/// (`internal/sync/tar.go`).
pub fn archive(paths: &[PathMapping]) -> Result<Vec<u8>> {
    let mut entries: Vec<Entry> = Vec::new();
    for m in paths {
        let Ok(meta) = std::fs::symlink_metadata(&m.host_path) else {
            continue;
        };
        entries.push(Entry {
            host: m.host_path.clone(),
            name: m.container_path.trim_start_matches('/').to_string(),
            meta,
        });
    }
    let mut last: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        last.insert(e.name.clone(), i);
    }
    let mut b = tar::Builder::new(Vec::new());
    for (i, e) in entries.iter().enumerate() {
        if last.get(&e.name) != Some(&i) || e.name.is_empty() {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_metadata(&e.meta);
        let ft = e.meta.file_type();
        let io = |err: std::io::Error| {
            EngineError::msg(format!(
                "archiving {:?}: {err}",
                e.host.display().to_string()
            ))
        };
        if ft.is_symlink() {
            let target = std::fs::read_link(&e.host).map_err(io)?;
            h.set_size(0);
            b.append_link(&mut h, &e.name, &target).map_err(io)?;
        } else if ft.is_dir() {
            h.set_size(0);
            b.append_data(&mut h, format!("{}/", e.name), std::io::empty())
                .map_err(io)?;
        } else if ft.is_file() {
            // Read first so the size in the header is the size written.
            let data = match std::fs::read(&e.host) {
                Ok(d) => d,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(io(err)),
            };
            h.set_size(data.len() as u64);
            b.append_data(&mut h, &e.name, data.as_slice())
                .map_err(io)?;
        }
        // Sockets, devices and pipes are left out, as docker's archive does.
    }
    b.into_inner()
        .map_err(|e| EngineError::msg(format!("closing tar: {e}")))
}

impl Engine {
    /// Copies `paths` into every container of `service` and removes those gone from the host.
    pub async fn sync(&self, project: &str, service: &str, paths: &[PathMapping]) -> Result<()> {
        let ctrs = state::containers(&self.client, project, true, OneOff::Exclude).await?;
        let ids: Vec<String> = ctrs
            .iter()
            .filter(|c| c.service() == service)
            .map(|c| c.id().to_string())
            .collect();
        let paths: Vec<PathMapping> = paths
            .iter()
            .filter(|p| !p.container_path.is_empty())
            .cloned()
            .collect();
        let (gone, present): (Vec<PathMapping>, Vec<PathMapping>) = paths
            .into_iter()
            .partition(|p| std::fs::symlink_metadata(&p.host_path).is_err());
        let tar = bytes::Bytes::from(archive(&present)?);
        for id in ids {
            if !gone.is_empty() {
                let mut cmd = vec!["rm".to_string(), "-rf".to_string()];
                cmd.extend(gone.iter().map(|p| p.container_path.clone()));
                self.exec_quiet(&id, cmd)
                    .await
                    .map_err(|e| EngineError::msg(format!("deleting paths in {id}: {e}")))?;
            }
            if !present.is_empty() {
                self.client
                    .copy_to_container(
                        &id,
                        "/",
                        CopyToOptions {
                            allow_overwrite_dir_with_file: false,
                            copy_uid_gid: true,
                        },
                        berth_client::body::full(tar.clone()),
                    )
                    .await
                    .map_err(|e| {
                        EngineError::msg(format!(
                            "copying files to {id}: {}",
                            super::api_message(&e)
                        ))
                    })?;
            }
        }
        Ok(())
    }

    /// Runs `cmd` in the container, its stderr passed on, failing on a non-zero exit.
    async fn exec_quiet(&self, id: &str, cmd: Vec<String>) -> Result<()> {
        let cfg = ExecConfig {
            attach_stdout: Some(false),
            attach_stderr: Some(true),
            attach_stdin: Some(false),
            tty: Some(false),
            cmd: Some(cmd),
            ..Default::default()
        };
        self.run_exec(id, &cfg).await
    }

    /// A `sync+exec` hook in every running container of `service`, output passed on.
    pub async fn watch_exec(&self, project: &str, service: &str, hook: &ServiceHook) -> Result<()> {
        let ctrs = state::containers(&self.client, project, false, OneOff::Exclude).await?;
        let env: Vec<String> = hook
            .environment
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect();
        let cfg = ExecConfig {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(false),
            tty: Some(false),
            cmd: hook.command.clone(),
            env: (!env.is_empty()).then_some(env),
            user: (!hook.user.is_empty()).then(|| hook.user.clone()),
            privileged: Some(hook.privileged),
            working_dir: (!hook.working_dir.is_empty()).then(|| hook.working_dir.clone()),
            ..Default::default()
        };
        let jobs = ctrs
            .iter()
            .filter(|c| c.service() == service)
            .map(|c| self.run_exec(c.id(), &cfg));
        for r in futures::future::join_all(jobs).await {
            r?;
        }
        Ok(())
    }

    async fn run_exec(&self, id: &str, cfg: &ExecConfig) -> Result<()> {
        let exec = self.client.exec_create(id, cfg).await?;
        let mut stream = self.client.exec_start_attached(&exec, false).await?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|e| EngineError::msg(e.to_string()))?;
        let mut out = Vec::new();
        let mut err = Vec::new();
        let _ = berth_client::demux(raw.as_slice(), &mut out, &mut err).await;
        {
            use std::io::Write;
            let _ = std::io::stdout().lock().write_all(&out);
            let _ = std::io::stderr().lock().write_all(&err);
        }
        let info = self.client.exec_inspect(&exec).await?;
        if info.get("Running").and_then(|v| v.as_bool()) == Some(true) {
            return Err(EngineError::msg("process still running"));
        }
        let code = info.get("ExitCode").and_then(|v| v.as_i64()).unwrap_or(0);
        if code != 0 {
            return Err(EngineError::msg(format!("exit code {code}")));
        }
        Ok(())
    }
}

impl Engine {
    /// Removes the project's dangling images but `keep` (`--prune` after a rebuild); failures
    /// (an image still used) are left alone, as compose does.
    pub async fn prune_dangling(&self, project: &str, keep: &BTreeSet<String>) -> Result<()> {
        let mut filters = berth_api::Filters::default();
        filters.add("dangling", "true");
        filters.add("label", &format!("{}={project}", crate::labels::PROJECT));
        let images = self.client.image_list(false, false, &filters).await?;
        for img in images {
            if keep.contains(&img.id) {
                continue;
            }
            let _ = self.client.image_remove(&img.id, false, false).await;
        }
        Ok(())
    }
}

/// Go's `%q` of a string list: `["a" "b"]`.
pub fn go_quote_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", inner.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(root: &str, pats: &[&str]) -> PatternMatcher {
        PatternMatcher::new(
            Path::new(root),
            &pats.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn patterns_match_like_patternmatcher() {
        let p = m("/src", &["*.tmp", "build", "!build/keep"]);
        assert!(p.matches(Path::new("/src/a.tmp")));
        assert!(!p.matches(Path::new("/src/sub/a.tmp")));
        assert!(p.matches(Path::new("/src/build/x/y")));
        assert!(!p.matches(Path::new("/src/build/keep")));
        assert!(!p.matches(Path::new("/src/a.txt")));
        let deep = m("/src", &["**/*.log"]);
        assert!(deep.matches(Path::new("/src/a/b/c.log")));
        assert!(deep.matches(Path::new("/src/c.log")));
        let braces = m("/src", &["{a,b}"]);
        assert!(braces.matches(Path::new("/src/{a,b}")));
        assert!(!braces.matches(Path::new("/src/a")));
        let eph = m("/", &["**/.*.swp", "**/*~"]);
        assert!(eph.matches(Path::new("/x/y/.f.swp")));
        assert!(eph.matches(Path::new("/x/f~")));
    }

    #[test]
    fn ignore_file_lines() {
        assert_eq!(
            read_ignore_file("# c\n\n /a/b \n!  c//d\n"),
            vec!["a/b".to_string(), "!c/d".to_string()]
        );
    }

    fn rule(action: &str, target: &str, ignore: &[&str], include: &[&str]) -> WatchRule {
        let root = Path::new("/w");
        WatchRule {
            service: "web".into(),
            trigger: Trigger {
                path: "/w".into(),
                action: action.into(),
                target: target.into(),
                ..Default::default()
            },
            include: (!include.is_empty()).then(|| m("/w", include)),
            ignore: vec![PatternMatcher::new(
                root,
                &ignore.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
            .unwrap()],
        }
    }

    #[test]
    fn rules_map_paths_and_classify() {
        let rules = vec![
            rule("sync", "/app", &["*.bak"], &[]),
            rule("sync+exec", "/x", &[], &["*.sh"]),
            rule("rebuild", "", &[], &["deps.txt"]),
        ];
        let got = rules[0].matches(Path::new("/w/a/b.txt")).unwrap();
        assert_eq!(got.container_path, "/app/a/b.txt");
        assert_eq!(
            rules[0].matches(Path::new("/w")).unwrap().container_path,
            "/app"
        );
        assert!(rules[0].matches(Path::new("/w/c.bak")).is_none());
        assert!(rules[0].matches(Path::new("/other/c")).is_none());
        assert!(rules[0].matches(Path::new("/ww/c")).is_none());
        let a = classify(
            &rules,
            &[PathBuf::from("/w/run.sh"), PathBuf::from("/w/deps.txt")],
        );
        assert_eq!(a.sync["web"].len(), 3);
        assert_eq!(a.exec["web"], BTreeSet::from([1]));
        assert!(a.rebuild.contains("web"));
        assert!(a.restart.is_empty());
    }

    #[test]
    fn archive_of_expanded_directory_leaves_ignored_out() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_path_buf();
        std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
        std::fs::write(root.join("sub/f"), b"hi").unwrap();
        std::fs::write(root.join("sub/x.log"), b"no").unwrap();
        std::fs::write(root.join("sub/deeper/g"), b"yo").unwrap();
        std::fs::write(root.join("g"), b"yo").unwrap();
        let rule = WatchRule {
            service: "web".into(),
            trigger: Trigger {
                path: root.display().to_string(),
                action: "sync".into(),
                target: "/app".into(),
                ..Default::default()
            },
            include: None,
            ignore: vec![PatternMatcher::new(&root, &["**/*.log".to_string()]).unwrap()],
        };
        let a = classify(
            std::slice::from_ref(&rule),
            &[
                root.join("g"),
                root.join("sub"),
                root.join("g"),
                root.join("gone"),
            ],
        );
        assert_eq!(a.changes["web"], 4);
        let tar = archive(&a.sync["web"]).unwrap();
        let mut names: Vec<String> = tar::Archive::new(tar.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                "app/g",
                "app/sub/",
                "app/sub/deeper/",
                "app/sub/deeper/g",
                "app/sub/f"
            ]
        );
    }

    #[test]
    fn include_applies_to_the_content_of_a_new_directory() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("inc");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), b"a").unwrap();
        std::fs::write(root.join("b.bin"), b"b").unwrap();
        std::fs::write(root.join("sub/c.txt"), b"c").unwrap();
        let rule = WatchRule {
            service: "web".into(),
            trigger: Trigger {
                path: root.display().to_string(),
                action: "sync".into(),
                target: "/inc".into(),
                ..Default::default()
            },
            include: Some(PatternMatcher::new(&root, &["*.txt".to_string()]).unwrap()),
            ignore: Vec::new(),
        };
        let got: Vec<String> = rule
            .mappings(&root)
            .into_iter()
            .map(|m| m.container_path)
            .collect();
        assert_eq!(got, vec!["/inc/a.txt"]);
        assert!(rule.mappings(&d.path().join("elsewhere")).is_empty());
    }

    #[test]
    fn quote_list() {
        assert_eq!(go_quote_list(&["a".into(), "b".into()]), r#"["a" "b"]"#);
    }
}

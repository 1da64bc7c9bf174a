//! The loading pipeline (compose-go `cli` options + `loader`): files, environment, per-file
//! parse → interpolate → validate → include → extends, merge, expand, type, normalise, check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::LoadError;
use crate::interpolate::interpolate_node;
use crate::merge::{drop_resets, enforce_unicity, merge};
use crate::model::Project;
use crate::node::{parse_yaml, Node, Value};

/// What to load, as the compose CLI's global flags and environment give it.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files, in order (`-` is stdin). Empty: `COMPOSE_FILE`, else lookup.
    pub config_files: Vec<PathBuf>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--profile` (COMPOSE_PROFILES when empty).
    pub profiles: Vec<String>,
    /// `--env-file` (default `<project dir>/.env`).
    pub env_files: Vec<PathBuf>,
    /// The process environment (overrides `.env`).
    pub environment: BTreeMap<String, String>,
    /// The directory lookups start from (the process's cwd).
    pub working_dir: PathBuf,
    /// `--no-interpolate`.
    pub skip_interpolation: bool,
    /// `--no-normalize`.
    pub skip_normalization: bool,
    /// `--no-consistency`.
    pub skip_consistency_check: bool,
    /// `--no-path-resolution`.
    pub skip_resolve_paths: bool,
    /// Leave `env_file`s unread (`environment` as written, `KEY`-only entries resolved):
    /// compose loads so for `config --hash`.
    pub skip_env_file_resolution: bool,
    /// Services named on the command line: their profiles are enabled, and (as compose) the
    /// project is not reduced to them here.
    pub services: Vec<String>,
    /// Keep networks/volumes/secrets/configs no enabled service uses (compose drops them).
    pub keep_unused_resources: bool,
    /// Text for `-f -`.
    pub stdin: Option<String>,
}

impl LoadOptions {
    /// Options from the process: cwd and environment.
    pub fn from_process() -> Self {
        LoadOptions {
            environment: std::env::vars().collect(),
            working_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            ..Default::default()
        }
    }
}

/// Default file names, in the order compose looks for them.
pub const DEFAULT_FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
/// Override file names looked for beside the default file.
pub const DEFAULT_OVERRIDE_FILE_NAMES: &[&str] = &[
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// Finds `compose.yaml` (etc.) in `dir` or its parents, plus the override file beside it.
pub fn find_default_files(dir: &Path) -> Option<Vec<PathBuf>> {
    find_default_files_warn(dir, &mut Vec::new())
}

fn find_default_files_warn(dir: &Path, warnings: &mut Vec<String>) -> Option<Vec<PathBuf>> {
    let mut d = Some(dir);
    while let Some(cur) = d {
        let found: Vec<PathBuf> = DEFAULT_FILE_NAMES
            .iter()
            .map(|n| cur.join(n))
            .filter(|p| p.is_file())
            .collect();
        if let Some(f) = found.first().cloned() {
            if found.len() > 1 {
                let list: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
                warnings.push(format!(
                    "Found multiple config files with supported names: {}",
                    list.join(", ")
                ));
                warnings.push(format!("Using {}", f.display()));
            }
            let mut files = vec![f];
            if let Some(o) = DEFAULT_OVERRIDE_FILE_NAMES
                .iter()
                .map(|n| cur.join(n))
                .find(|p| p.is_file())
            {
                files.push(o);
            }
            return Some(files);
        }
        d = cur.parent();
    }
    None
}

/// Lexically cleans a path (`a/./b/../c` → `a/c`), as Go's `filepath.Clean`.
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// `p` made absolute against `base`, `~` expanded with HOME.
pub fn abs(base: &Path, p: &str, home: Option<&str>) -> String {
    let expanded: PathBuf = if p == "~" || p.starts_with("~/") {
        match home {
            Some(h) => Path::new(h).join(p.trim_start_matches('~').trim_start_matches('/')),
            None => PathBuf::from(p),
        }
    } else {
        PathBuf::from(p)
    };
    let joined = if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    };
    clean(&joined).to_string_lossy().into_owned()
}

/// The environment for one (sub-)project: env files, then the OS environment over them.
fn read_env(
    files: &[PathBuf],
    os_env: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, LoadError> {
    let mut env = BTreeMap::new();
    for f in files {
        let values = crate::dotenv::read_file(f, os_env).map_err(LoadError::Invalid)?;
        for (k, v) in values {
            env.insert(k, v);
        }
    }
    for (k, v) in os_env {
        env.insert(k.clone(), v.clone());
    }
    Ok(env)
}

/// Compose's project name normalisation for a directory name: lowercase, only `a-z0-9_-`,
/// starting with a letter or digit.
pub fn normalize_project_name(s: &str) -> String {
    let lower = s.to_lowercase();
    let kept: String = lower
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

/// True when `s` is a valid project name.
pub fn valid_project_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

struct Ctx<'a> {
    options: &'a LoadOptions,
    env: BTreeMap<String, String>,
    /// Files being included (cycle detection).
    include_stack: Vec<PathBuf>,
    warnings: Vec<String>,
}

/// Loads a project as `docker compose` does for any command.
pub fn load(options: &LoadOptions) -> Result<Project, LoadError> {
    let (mut ctx, files, project_dir) = discover(options)?;
    let merged = ctx.load_files(&files, &project_dir, true)?;
    finish_project(options, ctx, files, project_dir, merged)
}

/// The files merged, with includes and `extends` resolved, before any short syntax is expanded
/// or typed: compose's `ToModel` (what `config --variables` reads, with interpolation skipped).
pub fn load_model(options: &LoadOptions) -> Result<Node, LoadError> {
    let (mut ctx, files, project_dir) = discover(options)?;
    ctx.load_files(&files, &project_dir, false)
}

/// Which files, which environment and which project directory (`-f`, `COMPOSE_FILE`, `.env`,
/// `--env-file`, `--project-directory`).
fn discover(options: &LoadOptions) -> Result<(Ctx<'_>, Vec<PathBuf>, PathBuf), LoadError> {
    let cwd = if options.working_dir.as_os_str().is_empty() {
        std::env::current_dir()?
    } else {
        options.working_dir.clone()
    };
    // .env of the working (or given project) directory seeds COMPOSE_* variables.
    let seed_dir = options
        .project_directory
        .as_ref()
        .map(|p| PathBuf::from(abs(&cwd, &p.to_string_lossy(), None)))
        .unwrap_or_else(|| cwd.clone());
    let explicit_env_files: Vec<PathBuf> = options
        .env_files
        .iter()
        .map(|p| PathBuf::from(abs(&cwd, &p.to_string_lossy(), None)))
        .collect();
    let seed_env_files = if explicit_env_files.is_empty() {
        let d = seed_dir.join(".env");
        if d.is_file() {
            vec![d]
        } else {
            vec![]
        }
    } else {
        explicit_env_files.clone()
    };
    let seed_env = read_env(&seed_env_files, &options.environment)?;

    let mut warnings = Vec::new();
    // Which files.
    let files: Vec<PathBuf> = if !options.config_files.is_empty() {
        options
            .config_files
            .iter()
            .map(|f| {
                if f.as_os_str() == "-" {
                    f.clone()
                } else {
                    PathBuf::from(abs(&cwd, &f.to_string_lossy(), None))
                }
            })
            .collect()
    } else if let Some(cf) = seed_env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
        let sep = seed_env
            .get("COMPOSE_PATH_SEPARATOR")
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| ":".to_string());
        cf.split(sep.as_str())
            .filter(|s| !s.is_empty())
            .map(|f| PathBuf::from(abs(&seed_dir, f, None)))
            .collect()
    } else {
        find_default_files_warn(&seed_dir, &mut warnings).ok_or(LoadError::NoConfigFile)?
    };

    let project_dir = match &options.project_directory {
        Some(p) => PathBuf::from(abs(&cwd, &p.to_string_lossy(), None)),
        None => match files.first() {
            Some(f) if f.as_os_str() != "-" => {
                f.parent().map(Path::to_path_buf).unwrap_or(cwd.clone())
            }
            _ => cwd.clone(),
        },
    };
    let env = if explicit_env_files.is_empty() && project_dir != seed_dir {
        let d = project_dir.join(".env");
        read_env(
            &if d.is_file() { vec![d] } else { vec![] },
            &options.environment,
        )?
    } else {
        seed_env
    };

    let ctx = Ctx {
        options,
        env,
        include_stack: Vec::new(),
        warnings,
    };
    Ok((ctx, files, project_dir))
}

/// The typed project from the merged files: its name, normalisation, profiles.
fn finish_project(
    options: &LoadOptions,
    mut ctx: Ctx<'_>,
    files: Vec<PathBuf>,
    project_dir: PathBuf,
    merged: Node,
) -> Result<Project, LoadError> {
    // Project name: -p, COMPOSE_PROJECT_NAME, name:, the directory.
    let mut name = None;
    if let Some(p) = options.project_name.as_ref().filter(|s| !s.is_empty()) {
        if !valid_project_name(p) {
            return Err(LoadError::InvalidProjectName { name: p.clone() });
        }
        name = Some(p.clone());
    }
    if name.is_none() {
        if let Some(p) = ctx
            .env
            .get("COMPOSE_PROJECT_NAME")
            .filter(|s| !s.is_empty())
        {
            if !valid_project_name(p) {
                return Err(LoadError::InvalidProjectName { name: p.clone() });
            }
            name = Some(p.clone());
        }
    }
    if name.is_none() {
        if let Some(n) = merged.get("name").and_then(Node::scalar_string) {
            if !n.is_empty() {
                let norm = normalize_project_name(&n);
                if !valid_project_name(&norm) {
                    return Err(LoadError::InvalidProjectName { name: n });
                }
                name = Some(norm);
            }
        }
    }
    let name = match name {
        Some(n) => n,
        None => {
            let base = project_dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let n = normalize_project_name(&base);
            if n.is_empty() {
                return Err(LoadError::EmptyProjectName);
            }
            n
        }
    };

    let mut project = crate::normalize::to_project(merged, &name)?;
    project.working_dir = project_dir.to_string_lossy().into_owned();
    project.compose_files = files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    project.environment = ctx.env.clone();
    project.warnings = std::mem::take(&mut ctx.warnings);

    let mut profiles: Vec<String> = options.profiles.clone();
    if profiles.is_empty() {
        if let Some(p) = ctx.env.get("COMPOSE_PROFILES") {
            profiles = p
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
    }
    crate::normalize::finish(&mut project, &profiles, options)?;
    Ok(project)
}

fn file_label(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl Ctx<'_> {
    /// Loads and merges `files` (one project's `-f` list).
    fn load_files(
        &mut self,
        files: &[PathBuf],
        project_dir: &Path,
        transform: bool,
    ) -> Result<Node, LoadError> {
        let mut merged: Option<Node> = None;
        for f in files {
            let dict = self.load_file(f, project_dir)?;
            merged = Some(match merged {
                None => dict,
                Some(base) => {
                    merge(base, dict, &mut Vec::new()).map_err(|e| LoadError::Invalid(e.0))?
                }
            });
        }
        let mut merged = merged.unwrap_or_else(Node::map);
        drop_resets(&mut merged);
        enforce_unicity(&mut merged, &mut Vec::new()).map_err(|e| LoadError::Invalid(e.0))?;
        if !transform {
            return Ok(merged);
        }
        if let Some(services) = merged.get_mut("services").and_then(Node::as_map_mut) {
            for (name, svc) in services.iter_mut() {
                crate::transform::service(name, svc).map_err(|e| {
                    match e.strip_prefix(crate::transform::DECODING) {
                        Some(rest) => {
                            let (path, message) = rest.split_once('\u{0}').unwrap_or((rest, ""));
                            LoadError::Decoding {
                                path: path.to_string(),
                                message: message.to_string(),
                            }
                        }
                        None => LoadError::Invalid(e),
                    }
                })?;
            }
        }
        crate::transform::resources(&mut merged);
        Ok(merged)
    }

    fn read(&self, path: &Path) -> Result<String, LoadError> {
        if path.as_os_str() == "-" {
            return Ok(self.options.stdin.clone().unwrap_or_default());
        }
        std::fs::read_to_string(path).map_err(|e| LoadError::Open {
            path: file_label(path),
            reason: match e.kind() {
                std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                _ => e.to_string(),
            },
        })
    }

    /// Parse, interpolate and validate one file (no include/extends).
    fn parse_file(&self, path: &Path) -> Result<Node, LoadError> {
        let text = self.read(path)?;
        let mut node = parse_yaml(&text).map_err(|e| {
            if e.duplicate_key {
                LoadError::Invalid(format!(
                    "failed to parse {}: line {}: {}",
                    file_label(path),
                    e.line,
                    e.message
                ))
            } else {
                LoadError::Yaml {
                    file: file_label(path),
                    message: e.to_string(),
                }
            }
        })?;
        match &node.value {
            Value::Null => return Err(LoadError::Invalid("empty compose file".to_string())),
            Value::Map(_) => {}
            other => {
                // go-yaml's wording for a document that is not a mapping.
                let (tag, shown) = match other {
                    Value::Seq(_) => ("!!seq", String::new()),
                    Value::Int(i) => ("!!int", format!(" `{i}`")),
                    Value::Float(f) => ("!!float", format!(" `{f}`")),
                    Value::Bool(b) => ("!!bool", format!(" `{b}`")),
                    Value::String(st) => ("!!str", format!(" `{st}`")),
                    _ => ("!!null", String::new()),
                };
                return Err(LoadError::Invalid(format!(
                    "yaml: unmarshal errors:\n  line {}: cannot unmarshal {tag}{shown} into cli.named",
                    node.line.max(1)
                )));
            }
        }
        if let Some(s) = node.get("services") {
            if !matches!(s.value, Value::Map(_)) {
                return Err(LoadError::Invalid("services must be a mapping".to_string()));
            }
            if let Some(m) = s.as_map() {
                for (k, v) in m {
                    if !matches!(v.value, Value::Map(_) | Value::Null) {
                        return Err(LoadError::Invalid(format!(
                            "services.{k} must be a mapping"
                        )));
                    }
                }
            }
        }
        if !self.options.skip_interpolation {
            interpolate_node(&mut node, &mut Vec::new(), &self.env).map_err(|(path, e)| match e
                .0
                .strip_prefix("Invalid template: ")
            {
                Some(_) => LoadError::InvalidInterpolation {
                    path,
                    template: e.1.unwrap_or_default(),
                },
                None => LoadError::Interpolation { path, message: e.0 },
            })?;
        }
        crate::schema::validate(&node).map_err(|e| LoadError::Validation {
            file: file_label(path),
            message: e.to_string(),
        })?;
        Ok(node)
    }

    /// One file: parsed, its includes merged in and its `extends` resolved.
    fn load_file(&mut self, path: &Path, project_dir: &Path) -> Result<Node, LoadError> {
        let mut node = self.parse_file(path)?;
        let file_dir = if path.as_os_str() == "-" {
            project_dir.to_path_buf()
        } else {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        if let Some(m) = node.as_map_mut() {
            if m.shift_remove("version").is_some() {
                self.warnings.push(format!(
                    "{}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion",
                    file_label(path)
                ));
            }
            for kind in ["networks", "volumes", "secrets", "configs"] {
                if let Some(sec) = m.get(kind).and_then(Node::as_map) {
                    for (k, v) in sec {
                        if v.get("external").and_then(|e| e.get("name")).is_some() {
                            self.warnings.push(format!(
                                "{kind}.{k}: external.name is deprecated. Please set name and external: true"
                            ));
                        }
                    }
                }
            }
        }
        let includes = node.as_map_mut().and_then(|m| m.shift_remove("include"));
        if let Some(inc) = includes {
            self.apply_includes(&mut node, inc, &file_dir, project_dir)?;
        }
        self.apply_extends(&mut node, path, &file_dir, &mut Vec::new())?;
        Ok(node)
    }

    fn apply_includes(
        &mut self,
        node: &mut Node,
        includes: Node,
        file_dir: &Path,
        project_dir: &Path,
    ) -> Result<(), LoadError> {
        let items = match includes.value {
            Value::Seq(items) => items,
            _ => return Ok(()),
        };
        for item in items {
            let (paths, pdir, env_files): (Vec<String>, Option<String>, Vec<String>) = match &item
                .value
            {
                Value::Map(m) => {
                    let list = |k: &str| -> Vec<String> {
                        match m.get(k).map(|n| &n.value) {
                            Some(Value::Seq(s)) => {
                                s.iter().filter_map(Node::scalar_string).collect()
                            }
                            Some(_) => m.get(k).and_then(Node::scalar_string).into_iter().collect(),
                            None => vec![],
                        }
                    };
                    (
                        list("path"),
                        m.get("project_directory").and_then(Node::scalar_string),
                        list("env_file"),
                    )
                }
                _ => (item.scalar_string().into_iter().collect(), None, vec![]),
            };
            let home = self.env.get("HOME").cloned();
            let paths: Vec<PathBuf> = paths
                .iter()
                .map(|p| PathBuf::from(abs(file_dir, p, home.as_deref())))
                .collect();
            let Some(first) = paths.first() else {
                continue;
            };
            for p in &paths {
                if self.include_stack.contains(p) {
                    return Err(LoadError::Invalid(format!(
                        "include cycle detected: {} is included twice",
                        p.display()
                    )));
                }
            }
            let sub_dir = match pdir {
                Some(d) => PathBuf::from(abs(file_dir, &d, home.as_deref())),
                None => first
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| project_dir.to_path_buf()),
            };
            let env_paths: Vec<PathBuf> = if env_files.is_empty() {
                let d = sub_dir.join(".env");
                if d.is_file() {
                    vec![d]
                } else {
                    vec![]
                }
            } else {
                env_files
                    .iter()
                    .map(|e| PathBuf::from(abs(file_dir, e, home.as_deref())))
                    .collect()
            };
            // The included project sees the OS environment over its own env files, and the
            // including project's variables under them.
            let mut sub_env = self.env.clone();
            for (k, v) in read_env(&env_paths, &self.options.environment)? {
                sub_env.insert(k, v);
            }
            let mut sub = Ctx {
                options: self.options,
                env: sub_env,
                include_stack: self.include_stack.clone(),
                warnings: Vec::new(),
            };
            sub.include_stack.extend(paths.iter().cloned());
            let sub_node = sub.load_files(&paths, &sub_dir, true)?;
            self.warnings.append(&mut sub.warnings);
            let mut sub_project = crate::normalize::to_project(sub_node, "included")?;
            sub_project.working_dir = sub_dir.to_string_lossy().into_owned();
            sub_project.environment = sub.env.clone();
            crate::normalize::resolve_paths(&mut sub_project);
            crate::normalize::resolve_environment_with(
                &mut sub_project,
                !self.options.skip_env_file_resolution,
            )?;
            let j = serde_json::to_value(&sub_project)
                .map_err(|e| LoadError::Invalid(e.to_string()))?;
            let imported = Node::from_json(&j);
            let Some(root) = node.as_map_mut() else {
                return Ok(());
            };
            for kind in ["services", "networks", "volumes", "secrets", "configs"] {
                let Some(src) = imported.get(kind).and_then(Node::as_map) else {
                    continue;
                };
                let dst = root.entry(kind.to_string()).or_insert_with(Node::map);
                if dst.is_null() {
                    *dst = Node::map();
                }
                let Some(dm) = dst.as_map_mut() else {
                    continue;
                };
                for (k, v) in src {
                    if let Some(existing) = dm.get(k) {
                        if kind == "services" || existing.to_json() != v.to_json() {
                            return Err(LoadError::Invalid(format!(
                                "imported compose file {} defines conflicting {kind} {k}",
                                first.display()
                            )));
                        }
                        continue;
                    }
                    dm.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(())
    }

    /// Resolves `extends` in every service of `node` (a file read from `path`).
    fn apply_extends(
        &mut self,
        node: &mut Node,
        path: &Path,
        file_dir: &Path,
        chain: &mut Vec<(PathBuf, String)>,
    ) -> Result<(), LoadError> {
        let names: Vec<String> = node
            .get("services")
            .and_then(Node::as_map)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for name in names {
            self.extend_service(node, &name, path, file_dir, chain)?;
        }
        Ok(())
    }

    fn extend_service(
        &mut self,
        root: &mut Node,
        name: &str,
        path: &Path,
        file_dir: &Path,
        chain: &mut Vec<(PathBuf, String)>,
    ) -> Result<(), LoadError> {
        let Some(svc) = root.get("services").and_then(|s| s.get(name)).cloned() else {
            return Ok(());
        };
        let Some(ext) = svc.get("extends").cloned() else {
            return Ok(());
        };
        let (file, base_name) = match &ext.value {
            Value::Map(m) => (
                m.get("file").and_then(Node::scalar_string),
                m.get("service")
                    .and_then(Node::scalar_string)
                    .unwrap_or_default(),
            ),
            _ => (None, ext.scalar_string().unwrap_or_default()),
        };
        let key = (path.to_path_buf(), name.to_string());
        if chain.contains(&key) {
            return Err(LoadError::Invalid(format!(
                "Circular reference with extends: service {name:?} in {}",
                path.display()
            )));
        }
        chain.push(key);
        let home = self.env.get("HOME").cloned();
        let mut base = match &file {
            None => {
                // Same file: resolve the base's own extends first.
                if root
                    .get("services")
                    .and_then(|s| s.get(&base_name))
                    .is_none()
                {
                    chain.pop();
                    return Err(LoadError::Invalid(format!(
                        "cannot extend service {name:?} in {}: service {base_name:?} not found",
                        path.display()
                    )));
                }
                self.extend_service(root, &base_name, path, file_dir, chain)?;
                root.get("services")
                    .and_then(|s| s.get(&base_name))
                    .cloned()
                    .unwrap_or_else(Node::map)
            }
            Some(f) => {
                let other = PathBuf::from(abs(file_dir, f, home.as_deref()));
                let mut other_node = self.parse_file(&other)?;
                let other_dir = other.parent().map(Path::to_path_buf).unwrap_or_default();
                if other_node
                    .get("services")
                    .and_then(|s| s.get(&base_name))
                    .is_none()
                {
                    chain.pop();
                    return Err(LoadError::Invalid(format!(
                        "cannot extend service {name:?} in {}: service {base_name:?} not found in {}",
                        path.display(),
                        other.display()
                    )));
                }
                self.extend_service(&mut other_node, &base_name, &other, &other_dir, chain)?;
                let mut b = other_node
                    .get("services")
                    .and_then(|s| s.get(&base_name))
                    .cloned()
                    .unwrap_or_else(Node::map);
                if other_dir != file_dir {
                    rebase_service_paths(&mut b, &other_dir, home.as_deref());
                }
                b
            }
        };
        chain.pop();
        if let Some(bm) = base.as_map_mut() {
            // Never inherited (compose: depends_on, links, volumes_from are not copied? They
            // are, since v2; only `extends` itself is dropped).
            bm.shift_remove("extends");
        }
        let mut over = svc;
        if let Some(om) = over.as_map_mut() {
            om.shift_remove("extends");
        }
        let mut p = vec!["services".to_string(), "x".to_string()];
        let merged = merge(base, over, &mut p).map_err(|e| LoadError::Invalid(e.0))?;
        if let Some(s) = root.get_mut("services").and_then(Node::as_map_mut) {
            s.insert(name.to_string(), merged);
        }
        Ok(())
    }
}

/// Makes the relative paths of a service read from another file absolute against that file's
/// directory (build context, env_file, bind sources, label_file, extends.file).
fn rebase_service_paths(svc: &mut Node, dir: &Path, home: Option<&str>) {
    let is_rel = |p: &str| !p.is_empty() && !Path::new(p).is_absolute() && !p.starts_with('~');
    let Some(m) = svc.as_map_mut() else {
        return;
    };
    if let Some(b) = m.get_mut("build") {
        match &mut b.value {
            Value::String(s) if !is_remote(s) && is_rel(s) => *s = abs(dir, s, home),
            Value::Map(bm) => {
                if let Some(Value::String(s)) = bm.get_mut("context").map(|c| &mut c.value) {
                    if !is_remote(s) && is_rel(s) {
                        *s = abs(dir, s, home);
                    }
                }
                if !bm.contains_key("context") {
                    bm.insert("context".into(), Node::string(abs(dir, ".", home)));
                }
            }
            _ => {}
        }
    }
    if let Some(ef) = m.get_mut("env_file") {
        match &mut ef.value {
            Value::String(s) if is_rel(s) => *s = abs(dir, s, home),
            Value::Seq(items) => {
                for it in items {
                    match &mut it.value {
                        Value::String(s) if is_rel(s) => *s = abs(dir, s, home),
                        Value::Map(em) => {
                            if let Some(Value::String(s)) = em.get_mut("path").map(|c| &mut c.value)
                            {
                                if is_rel(s) {
                                    *s = abs(dir, s, home);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(Value::Seq(items)) = m.get_mut("volumes").map(|v| &mut v.value) {
        for it in items {
            match &mut it.value {
                Value::String(s) if s.starts_with('.') => {
                    if let Some((src, rest)) = s.split_once(':') {
                        *s = format!("{}:{rest}", abs(dir, src, home));
                    }
                }
                Value::Map(vm) if vm.get("type").and_then(Node::as_str) == Some("bind") => {
                    if let Some(Value::String(s)) = vm.get_mut("source").map(|c| &mut c.value) {
                        if is_rel(s) {
                            *s = abs(dir, s, home);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// A build context that is a URL or git reference, not a path.
pub fn is_remote(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/")
}

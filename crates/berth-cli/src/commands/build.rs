//! `build [OPTIONS] PATH | -`: a Dockerfile and its context to an image (`POST /build`).
//!
//! The context directory is packed here, without what `.dockerignore` excludes (the
//! Dockerfile and `.dockerignore` always go), as the docker CLI does.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use berth_dockerfile::DockerIgnore;
use clap::Args;

use crate::commands::build_view::{self, BuildView, Event};
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<String>,
    /// Set metadata for an image
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long)]
    pub network: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Images to consider as cache sources
    #[arg(long = "cache-from")]
    pub cache_from: Vec<String>,
    /// Remove intermediate containers after a successful build
    #[arg(long, default_value_t = true)]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long)]
    pub force_rm: bool,
    /// Type of progress output (auto, plain, tty)
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Set platform if server is multi-platform capable
    #[arg(long, env = "DOCKER_DEFAULT_PLATFORM")]
    pub platform: Option<String>,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or
    /// "id=mysecret,env=VAR")
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    pub args: Vec<String>,
}

fn cli_err(msg: impl Into<String>) -> CliError {
    CliError::status(1, msg.into())
}

/// The request header berthd reads build secrets from (see docs/api.md).
const SECRETS_HEADER: &str = "x-berth-build-secrets";

/// One `--secret` (buildx's syntax): its id and value, read here so only the value travels.
fn read_secret(spec: &str) -> Result<(String, Vec<u8>), CliError> {
    let (mut typ, mut id, mut src, mut env) = (None, None, None, None);
    for field in spec.split(',') {
        let Some((k, v)) = field.split_once('=') else {
            return Err(cli_err(format!(
                "invalid field '{field}' must be a key=value pair"
            )));
        };
        match k.to_ascii_lowercase().as_str() {
            "type" if v == "file" || v == "env" => typ = Some(v.to_string()),
            "type" => return Err(cli_err(format!("unsupported secret type \"{v}\""))),
            "id" => id = Some(v.to_string()),
            "source" | "src" => src = Some(v.to_string()),
            "env" => env = Some(v.to_string()),
            other => return Err(cli_err(format!("unexpected key '{other}' in '{field}'"))),
        }
    }
    if typ.as_deref() == Some("env") && env.is_none() {
        env = src.take();
    }
    let id = id
        .or_else(|| {
            src.as_deref()
                .map(|s| s.rsplit('/').next().unwrap_or(s).to_string())
        })
        .or_else(|| env.clone())
        .filter(|i| !i.is_empty())
        .ok_or_else(|| cli_err(format!("invalid secret {spec:?}: an id is required")))?;
    // Neither a file nor a variable named: the variable named like the id, else the file.
    if src.is_none() && env.is_none() {
        if std::env::var_os(&id).is_some() {
            env = Some(id.clone());
        } else {
            src = Some(id.clone());
        }
    }
    let value = match (env, src) {
        (Some(var), _) => std::env::var(&var)
            .map_err(|_| {
                cli_err(format!(
                    "secret {id}: environment variable {var} is not set"
                ))
            })?
            .into_bytes(),
        (None, Some(path)) => std::fs::read(&path)
            .map_err(|e| cli_err(format!("failed to read secret {id} from {path}: {e}")))?,
        (None, None) => Vec::new(),
    };
    Ok((id, value))
}

/// The [`SECRETS_HEADER`] value: base64 of a JSON object of id -> base64 value.
fn secrets_header(specs: &[String]) -> Result<Option<String>, CliError> {
    use base64::Engine as _;
    if specs.is_empty() {
        return Ok(None);
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut map = serde_json::Map::new();
    for spec in specs {
        let (id, value) = read_secret(spec)?;
        map.insert(id, b64.encode(value).into());
    }
    Ok(Some(b64.encode(serde_json::Value::Object(map).to_string())))
}

/// Packs `dir` into a tar, leaving out what `.dockerignore` excludes.
pub(crate) fn pack_dir(dir: &Path, dockerfile_rel: &str) -> Result<Vec<u8>, CliError> {
    let ignore = match std::fs::read_to_string(dir.join(".dockerignore")) {
        Ok(text) => DockerIgnore::parse(&text)
            .map_err(|e| cli_err(format!("failed to parse .dockerignore: {e}")))?,
        Err(_) => DockerIgnore::default(),
    };
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let mut entries: Vec<_> = std::fs::read_dir(&abs)
            .map_err(|e| cli_err(format!("error checking context: {e}")))?
            .filter_map(|e| e.ok())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let child = rel.join(e.file_name());
            let name = child.to_string_lossy().into_owned();
            let always = name == dockerfile_rel || name == ".dockerignore";
            let ft = e
                .file_type()
                .map_err(|err| cli_err(format!("error checking context: {err}")))?;
            if !always && ignore.is_excluded(&name) {
                // An exception may re-include something below an excluded directory.
                if !(ft.is_dir() && ignore.has_exceptions()) {
                    continue;
                }
            } else {
                b.append_path_with_name(dir.join(&child), &child)
                    .map_err(|err| cli_err(format!("error checking context: {err}")))?;
            }
            if ft.is_dir() {
                stack.push(child);
            }
        }
    }
    b.into_inner()
        .map_err(|e| cli_err(format!("error checking context: {e}")))
}

/// A context of only a Dockerfile (`build - < Dockerfile`).
pub(crate) fn dockerfile_only(text: &[u8], name: &str) -> Result<Vec<u8>, CliError> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(text.len() as u64);
    b.append_data(&mut h, name, text)
        .and_then(|_| b.into_inner())
        .map_err(|e| cli_err(format!("error creating the context: {e}")))
}

fn looks_like_archive(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b])
        || data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (data.len() >= 262 && &data[257..262] == b"ustar")
}

pub async fn run(ctx: &Ctx, args: BuildArgs) -> CliResult {
    Arity::Exactly(1).check("build", args.args.len())?;
    let path = args.args[0].clone();
    let mut dockerfile_name = String::from("Dockerfile");
    let context: Vec<u8> = if path == "-" {
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        if looks_like_archive(&data) {
            if let Some(f) = &args.file {
                dockerfile_name = f.clone();
            }
            data
        } else {
            dockerfile_only(&data, "Dockerfile")?
        }
    } else {
        let dir = PathBuf::from(&path);
        if !dir.is_dir() {
            return Err(cli_err(format!(
                "unable to prepare context: path {path:?} not found"
            )));
        }
        let mut packed;
        match args.file.as_deref() {
            Some("-") => {
                let mut text = Vec::new();
                std::io::stdin().read_to_end(&mut text)?;
                dockerfile_name = random_dockerfile_name();
                packed = pack_dir(&dir, &dockerfile_name)?;
                packed = add_outside_dockerfile(packed, &dockerfile_name, &text)?;
            }
            file => {
                let df_path = match file {
                    Some(f) => PathBuf::from(f),
                    None => dir.join("Dockerfile"),
                };
                let df_abs = std::fs::canonicalize(&df_path).map_err(|e| {
                    cli_err(format!(
                        "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: {}",
                        std::path::absolute(&df_path).unwrap_or(df_path.clone()).display(),
                        if e.kind() == std::io::ErrorKind::NotFound { "no such file or directory".to_string() } else { e.to_string() }
                    ))
                })?;
                let dir_abs = std::fs::canonicalize(&dir)
                    .map_err(|e| cli_err(format!("unable to prepare context: {e}")))?;
                match df_abs.strip_prefix(&dir_abs) {
                    Ok(rel) => {
                        dockerfile_name = rel.to_string_lossy().into_owned();
                        packed = pack_dir(&dir, &dockerfile_name)?;
                    }
                    Err(_) => {
                        // A Dockerfile outside the context travels with it under a random
                        // name that `.dockerignore` lists, as the docker CLI sends it.
                        let text = std::fs::read(&df_abs)?;
                        dockerfile_name = random_dockerfile_name();
                        packed = pack_dir(&dir, &dockerfile_name)?;
                        packed = add_outside_dockerfile(packed, &dockerfile_name, &text)?;
                    }
                }
            }
        }
        packed
    };

    let mut headers: Vec<(&str, String)> = Vec::new();
    if let Some(v) = secrets_header(&args.secrets)? {
        headers.push((SECRETS_HEADER, v));
    }
    // Stored logins, for base images the daemon pulls (as the docker CLI sends them).
    if let Some(v) = crate::docker_config::registry_config_header() {
        headers.push(("X-Registry-Config", v));
    }
    let mut q: berth_client::client::Query<'static> = Vec::new();
    if let Some(p) = args.platform.as_ref().filter(|p| !p.is_empty()) {
        q.push(("platform", p.clone()));
    }
    for t in &args.tags {
        q.push(("t", t.clone()));
    }
    q.push(("dockerfile", dockerfile_name));
    if args.quiet {
        q.push(("q", "1".into()));
    }
    if args.no_cache {
        q.push(("nocache", "1".into()));
    }
    if args.pull {
        q.push(("pull", "1".into()));
    }
    if args.force_rm {
        q.push(("forcerm", "1".into()));
    }
    q.push(("rm", if args.rm { "1" } else { "0" }.into()));
    if let Some(t) = &args.target {
        q.push(("target", t.clone()));
    }
    if let Some(n) = &args.network {
        q.push(("networkmode", n.clone()));
    }
    if !args.cache_from.is_empty() {
        q.push((
            "cachefrom",
            serde_json::to_string(&args.cache_from).unwrap_or_default(),
        ));
    }
    let mut build_args = serde_json::Map::new();
    for a in &args.build_args {
        match a.split_once('=') {
            Some((k, v)) => {
                build_args.insert(k.to_string(), v.into());
            }
            // `--build-arg NAME` takes the value from this environment, if set.
            None => {
                if let Ok(v) = std::env::var(a) {
                    build_args.insert(a.clone(), v.into());
                }
            }
        }
    }
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        build_args
            .entry("SOURCE_DATE_EPOCH")
            .or_insert(epoch.into());
    }
    if !build_args.is_empty() {
        q.push((
            "buildargs",
            serde_json::Value::Object(build_args).to_string(),
        ));
    }
    let mut labels = serde_json::Map::new();
    for l in &args.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.into());
    }
    if !labels.is_empty() {
        q.push(("labels", serde_json::Value::Object(labels).to_string()));
    }

    let tty = match args.progress.as_str() {
        "plain" => false,
        "tty" => true,
        _ => std::io::stderr().is_terminal(),
    };
    let mut stream = ctx
        .client
        .image_build(berth_client::body::full(context), q, &headers)
        .await?;
    let mut view: Box<dyn BuildView> = if tty && !args.quiet {
        Box::new(build_view::Tty::new(indicatif::ProgressDrawTarget::stderr()))
    } else {
        Box::new(build_view::Plain::new(std::io::stdout()))
    };
    let mut image_id = String::new();
    while let Some(msg) = stream.next().await {
        let msg = msg?;
        if let Some(err) = msg
            .error_detail
            .as_ref()
            .map(|d| d.message.clone())
            .filter(|m| !m.is_empty())
            .or(msg.error.clone())
        {
            view.finish(true)?;
            // As the docker CLI: a failed RUN's exit code is the build's (1 when none).
            let code = msg
                .error_detail
                .as_ref()
                .and_then(|d| d.code)
                .and_then(|c| i32::try_from(c).ok())
                .filter(|c| *c != 0)
                .unwrap_or(1);
            return Err(CliError::status(code, err));
        }
        if let Some(id) = msg
            .aux
            .as_ref()
            .and_then(|a| a.get("ID"))
            .and_then(|v| v.as_str())
        {
            image_id = id.to_string();
        }
        if let Some(status) = msg.status.as_deref() {
            view.show(Event::Status {
                id: msg.id.as_deref(),
                status,
                progress: msg.progress.as_deref(),
            })?;
        }
        if let Some(text) = msg.stream.as_deref() {
            // A quiet build's only output is the image id, as a stream line (printed by the
            // view, as the docker CLI prints it).
            if args.quiet && text.trim().starts_with("sha256:") {
                image_id = text.trim().to_string();
            }
            view.show(Event::Text(text))?;
        }
    }
    view.finish(false)?;
    if let Some(f) = &args.iidfile {
        std::fs::write(f, &image_id)
            .map_err(|e| cli_err(format!("failed to write image ID to file: {e}")))?;
    }
    Ok(())
}

/// `.dockerfile.` and 20 random hex digits: the docker CLI's name for a Dockerfile from
/// outside the context.
pub(crate) fn random_dockerfile_name() -> String {
    format!(".dockerfile.{}", &berth_types::id::generate()[..20])
}

/// Adds a Dockerfile from outside the context to the packed context as `name`, and `name` to
/// its `.dockerignore` (made with the line `.dockerignore` when there is none), as the docker
/// CLI's `AddDockerfileToBuildContext`: the daemon reads it, then leaves both out of the
/// context, so `COPY . /x` copies neither.
pub(crate) fn add_outside_dockerfile(
    tar_bytes: Vec<u8>,
    name: &str,
    data: &[u8],
) -> Result<Vec<u8>, CliError> {
    let mut b = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let mut ignore: Option<(tar::Header, Vec<u8>)> = None;
    for e in archive.entries()? {
        let mut e = e?;
        let mut h = e.header().clone();
        let path = e.path()?.into_owned();
        if h.entry_type().is_symlink() || h.entry_type().is_hard_link() {
            let target = e.link_name()?.map(|p| p.into_owned()).unwrap_or_default();
            b.append_link(&mut h, &path, target)?;
        } else {
            let mut content = Vec::new();
            e.read_to_end(&mut content)?;
            if path == Path::new(".dockerignore") && h.entry_type().is_file() {
                ignore = Some((h, content));
                continue;
            }
            b.append_data(&mut h, &path, &content[..])?;
        }
    }
    let (mut h, mut text) = ignore.unwrap_or_else(|| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        (h, b".dockerignore".to_vec())
    });
    text.extend_from_slice(format!("\n{name}\n").as_bytes());
    h.set_size(text.len() as u64);
    b.append_data(&mut h, ".dockerignore", &text[..])?;
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, name, data)?;
    Ok(b.into_inner()?)
}

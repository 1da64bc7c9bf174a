//! Executes the planned stages step by step.

mod stages;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use berth_api::models::{ContainerConfig, HostConfig};
use berth_api::ContainerCreateBody;
use berth_dockerfile::{expand_instruction, CommandLine, Instruction, Node};
use berth_image::{CommitOptions, ImageService};
use berth_snapshot::container_path::ContainerRoot;
use berth_types::{id, Error, Result};
use futures::StreamExt;
use sha2::{Digest as _, Sha256};

use super::context::BuildContext;
use super::copy::{self, CopyPlan};
use super::instructions::{self, StageState};
use super::mounts::{self, RunMount};
use super::plan::{Plan, Stage};
use super::platform::{self, Platform};
use super::remote;
use super::secrets::SecretDir;
use super::snapshot::{commit_config, commit_upper, load_image, with_snapshot};
use super::{BuildRequest, Out};
use crate::daemon::Daemon;
use crate::options::{LogsOptions, RemoveOptions, WaitCondition};

/// Proxy variables usable without an ARG, as dockerd's `builtinAllowedBuildArgs`.
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

#[derive(Clone)]
pub struct Build {
    daemon: Arc<Daemon>,
    svc: Arc<ImageService>,
    ctx: Arc<BuildContext>,
    escape: char,
    req: BuildRequest,
    out: Out,
    step: usize,
    total: usize,
    stage_images: BTreeMap<usize, String>,
    /// Stage names to indexes.
    stage_names_all: BTreeMap<String, usize>,
    used_args: BTreeSet<String>,
    /// `SOURCE_DATE_EPOCH`: clamps layer mtimes and sets `created`.
    epoch: Option<u64>,
    /// `--platform` (or the host's): what every stage is built for.
    target_platform: Platform,
}

fn short(image_id: &str) -> String {
    id::short(image_id.trim_start_matches("sha256:")).to_string()
}

fn cache_key(parent: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"berth-build/1\n");
    h.update(parent.as_bytes());
    for p in parts {
        h.update(b"\n");
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("build task: {e}")))?
}

impl Build {
    pub fn new(
        daemon: Arc<Daemon>,
        ctx: Arc<BuildContext>,
        escape: char,
        req: BuildRequest,
        out: Out,
    ) -> Self {
        let epoch = req
            .build_args
            .get("SOURCE_DATE_EPOCH")
            .cloned()
            .flatten()
            .and_then(|v| v.trim().parse::<u64>().ok());
        let req_platform = req.platform.clone();
        Self {
            svc: daemon.images.service(),
            daemon,
            ctx,
            escape,
            req,
            out,
            step: 0,
            total: 0,
            stage_images: BTreeMap::new(),
            stage_names_all: BTreeMap::new(),
            used_args: BTreeSet::new(),
            epoch,
            // Checked when the request came in; the host's when absent.
            target_platform: platform::target(req_platform.as_deref())
                .unwrap_or_else(|_| platform::host()),
        }
    }

    fn created(&self) -> Option<String> {
        self.epoch.and_then(|e| {
            chrono::DateTime::from_timestamp(e as i64, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        })
    }

    fn build_arg(&mut self, name: &str) -> Option<String> {
        let v = self.req.build_args.get(name).cloned().flatten();
        if self.req.build_args.contains_key(name) {
            self.used_args.insert(name.to_string());
        }
        v
    }

    async fn announce(&mut self, node: &Node) {
        self.step += 1;
        self.out
            .stream(format!(
                "Step {}/{} : {}\n",
                self.step, self.total, node.original
            ))
            .await;
    }

    pub async fn run(mut self, plan: Plan) -> Result<()> {
        self.total = plan.total_steps;
        self.stage_names_all = plan
            .stages
            .iter()
            .filter_map(|s| s.name.clone().map(|n| (n, s.index)))
            .collect();
        // BuildKit's predefined platform ARGs, in the global scope (meta ARGs override).
        let mut meta: Vec<(String, String)> =
            platform::predefined_args(&platform::host(), &self.target_platform);
        for node in &plan.meta_args {
            self.announce(node).await;
            let expanded = self.expand(node, &meta)?;
            if let Instruction::Arg(defs) = expanded {
                for d in defs {
                    if let Some(v) = self.build_arg(&d.name).or(d.default) {
                        meta.push((d.name, v));
                    }
                }
            }
        }
        let final_id = self.run_stages(&plan, &meta).await?;
        let unused: Vec<String> = self
            .req
            .build_args
            .keys()
            .filter(|k| !self.used_args.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
            .filter(|k| k.as_str() != "SOURCE_DATE_EPOCH")
            .cloned()
            .collect();
        if !unused.is_empty() {
            self.out
                .stream(format!(
                    "[Warning] One or more build-args [{}] were not consumed\n",
                    unused.join(" ")
                ))
                .await;
        }
        if final_id.is_empty() {
            return Err(Error::invalid(
                "No image was generated. Is your Dockerfile empty?",
            ));
        }
        // A quiet build has no aux message: dockerd ends it with the id as a stream line.
        if !self.req.quiet {
            self.out
                .always(serde_json::json!({ "aux": { "ID": final_id } }))
                .await;
        }
        self.out
            .stream(format!("Successfully built {}\n", short(&final_id)))
            .await;
        for tag in self.req.tags.clone() {
            self.daemon.image_tag(&final_id, &tag, None).await?;
            let familiar = berth_types::Reference::parse(&tag)
                .map(|r| r.familiar())
                .unwrap_or(tag);
            self.out
                .stream(format!("Successfully tagged {familiar}\n"))
                .await;
        }
        if self.req.quiet {
            self.out
                .always(serde_json::json!({ "stream": format!("{final_id}\n") }))
                .await;
        }
        Ok(())
    }

    fn expand(&self, node: &Node, env: &[(String, String)]) -> Result<Instruction> {
        expand_instruction(&node.instruction, self.escape, env).map_err(|e| {
            Error::invalid(format!(
                "dockerfile parse error on line {}: {e}",
                node.start_line
            ))
        })
    }

    /// The image `FROM name` starts from: scratch, or an image — pulled when it is not
    /// here, or always with `--pull`.
    async fn base_image(&self, name: &str) -> Result<String> {
        if name.eq_ignore_ascii_case("scratch") {
            return Ok(String::new());
        }
        let svc = self.svc.clone();
        let n = name.to_string();
        let local = blocking(move || Ok(svc.resolve_id(&n).map_err(Error::from))).await?;
        match local {
            Ok(id) if !self.req.pull => Ok(id),
            Err(e) if !e.is_not_found() => Err(e),
            _ => {
                self.pull_base(name).await?;
                let svc = self.svc.clone();
                let n = name.to_string();
                blocking(move || Ok(svc.resolve_id(&n)?)).await
            }
        }
    }

    /// Pulls a base image, its progress shown in the build's output as dockerd does.
    async fn pull_base(&self, name: &str) -> Result<()> {
        let reference = berth_types::Reference::parse(name)?;
        let host = crate::distribution::shared::login_host(&reference.domain);
        let creds = self
            .req
            .registry_auths
            .get(&host)
            .cloned()
            .unwrap_or_default();
        let mut progress = self
            .daemon
            .image_pull(
                &reference.to_string(),
                "",
                creds,
                crate::distribution::pull::PullOptions {
                    platform: self.req.platform.clone(),
                },
            )
            .await?;
        while let Some(msg) = progress.recv().await {
            if let Some(e) = msg.get("error").and_then(|e| e.as_str()) {
                return Err(Error::invalid(e.to_string()));
            }
            if !self.req.quiet {
                self.out.always(msg).await;
            }
        }
        Ok(())
    }

    async fn stage_or_image(
        &self,
        stage: &Stage,
        name: &str,
        stages_by_name: &BTreeMap<String, usize>,
    ) -> Result<String> {
        let lower = name.to_ascii_lowercase();
        let idx = stages_by_name
            .get(&lower)
            .copied()
            .or_else(|| name.parse::<usize>().ok());
        if let Some(i) = idx.filter(|i| *i < stage.index) {
            if let Some(id) = self.stage_images.get(&i) {
                return Ok(id.clone());
            }
        }
        self.base_image(name).await
    }

    async fn run_stage(
        &mut self,
        stage: &Stage,
        meta: &[(String, String)],
        is_target: bool,
    ) -> Result<String> {
        let stages_by_name = self.stage_names(stage);
        self.announce(&stage.from).await;
        let from = match self.expand(&stage.from, meta)? {
            Instruction::From(f) => f,
            _ => return Err(Error::internal("stage without FROM")),
        };
        let stage_platform = match from.platform.as_deref().filter(|p| !p.is_empty()) {
            None => self.target_platform.clone(),
            Some(spec) => {
                let p = platform::parse(spec).map_err(|e| at_line(e, stage.from.start_line))?;
                platform::check_runnable(&p).map_err(|e| at_line(e, stage.from.start_line))?;
                p
            }
        };
        let image_id = self
            .stage_or_image(stage, &from.image, &stages_by_name)
            .await?;
        let svc = self.svc.clone();
        let id_for_load = image_id.clone();
        let image = blocking(move || load_image(&svc, &id_for_load)).await?;
        if !image_id.is_empty() {
            platform::check_image(
                &from.image,
                &image.raw.os,
                &image.raw.architecture,
                &stage_platform,
            )?;
        }
        let mut state = StageState {
            image_id: image_id.clone(),
            config: image.config.clone(),
            author: image.raw.author.clone().unwrap_or_default(),
            args: Vec::new(),
            cmd_set: false,
        };
        if !image_id.is_empty() {
            self.out
                .stream(format!(" ---> {}\n", short(&image_id)))
                .await;
        }

        // ONBUILD triggers of the base image run first, then are cleared.
        let triggers = state.config.on_build.take().unwrap_or_default();
        let mut queue: VecDeque<(Node, bool)> = VecDeque::new();
        if !triggers.is_empty() {
            self.out
                .stream(format!(
                    "# Executing {} build trigger{}\n",
                    triggers.len(),
                    if triggers.len() == 1 { "" } else { "s" }
                ))
                .await;
            let text = format!("FROM scratch\n{}\n", triggers.join("\n"));
            let parsed = berth_dockerfile::parse("ONBUILD", &text)
                .map_err(|e| Error::invalid(e.moby_message()))?;
            for n in parsed.nodes.into_iter().skip(1) {
                queue.push_back((n, false));
            }
        }
        for n in &stage.nodes {
            queue.push_back((n.clone(), true));
        }
        if is_target && !self.req.labels.is_empty() {
            let text: Vec<String> = self
                .req
                .labels
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        serde_json::to_string(k).unwrap_or_default(),
                        serde_json::to_string(v).unwrap_or_default()
                    )
                })
                .collect();
            let line = format!("FROM scratch\nLABEL {}\n", text.join(" "));
            let parsed = berth_dockerfile::parse("labels", &line)
                .map_err(|e| Error::invalid(e.moby_message()))?;
            if let Some(n) = parsed.nodes.into_iter().nth(1) {
                queue.push_back((n, true));
            }
        }
        while let Some((node, counted)) = queue.pop_front() {
            if self.out.gone() {
                return Err(Error::invalid("build cancelled: the client went away"));
            }
            if counted {
                self.announce(&node).await;
            }
            self.step_node(stage, &stages_by_name, meta, &mut state, &node)
                .await?;
        }
        if state.image_id == image_id && (!triggers.is_empty() || image_id.is_empty()) {
            // Only FROM (and triggers): still a new image when the config changed.
            let opts = self.commit_opts(
                &state,
                format!("/bin/sh -c #(nop)  {}", stage.from.original),
            );
            let parent = state.image_id.clone();
            let probe = opts.clone();
            state.image_id = self
                .cached_or(
                    &parent,
                    &[&stage.from.original, &self.config_json(&state)],
                    Some(&probe),
                    move |svc| commit_config(&svc, opts),
                )
                .await?
                .0;
        }
        Ok(state.image_id)
    }

    fn stage_names(&self, _stage: &Stage) -> BTreeMap<String, usize> {
        self.stage_names_all.clone()
    }

    fn config_json(&self, state: &StageState) -> String {
        format!(
            "{}|{}|{}",
            serde_json::to_string(&state.config).unwrap_or_default(),
            state.author,
            self.created().unwrap_or_default()
        )
    }

    fn commit_opts(&self, state: &StageState, created_by: String) -> CommitOptions {
        CommitOptions {
            parent_id: state.image_id.clone(),
            config: state.config.clone(),
            author: state.author.clone(),
            comment: String::new(),
            created_by,
            repo_tag: None,
            created: self.created(),
        }
    }

    /// The cached image for a step's `key`: from the build cache, else (with `--cache-from`)
    /// from a source image whose history matches `probe`, the step's commit.
    async fn lookup_cache(
        &self,
        key: &str,
        probe: Option<&CommitOptions>,
    ) -> Result<Option<String>> {
        if self.req.no_cache {
            return Ok(None);
        }
        let svc = self.svc.clone();
        let k = key.to_string();
        let sources = self.req.cache_from.clone();
        let mut hit = blocking(move || {
            let hit = svc.cache_lookup(&k)?;
            // With `--cache-from`, as dockerd's classic image cache: a local hit counts only
            // when it is one of the sources' images or below one; a source that does not
            // exist stands for nothing, so none at all means no hits.
            if sources.is_empty() {
                return Ok(hit);
            }
            let Some(id) = hit else { return Ok(None) };
            for name in &sources {
                if let Ok(source) = svc.resolve_id(name) {
                    if svc.is_self_or_parent(&id, &source)? {
                        return Ok(Some(id));
                    }
                }
            }
            Ok(None)
        })
        .await?;
        if hit.is_none() && !self.req.cache_from.is_empty() {
            if let Some(opts) = probe.cloned() {
                let svc = self.svc.clone();
                let sources = self.req.cache_from.clone();
                let k = key.to_string();
                hit = blocking(move || {
                    let found = super::cache_from::probe(&svc, &sources, &opts)?;
                    if let Some(id) = &found {
                        svc.cache_store(&k, id)?;
                    }
                    Ok(found)
                })
                .await?;
            }
        }
        if let Some(id) = &hit {
            self.out.stream(" ---> Using cache\n").await;
            self.out.stream(format!(" ---> {}\n", short(id))).await;
        }
        Ok(hit)
    }

    /// Looks `parts` up in the cache under `parent`; on a miss runs `make` and stores its
    /// result. `probe` is the commit `make` would do, for `--cache-from`. Returns the image
    /// id and whether it came from the cache.
    async fn cached_or(
        &self,
        parent: &str,
        parts: &[&str],
        probe: Option<&CommitOptions>,
        make: impl FnOnce(Arc<ImageService>) -> Result<String> + Send + 'static,
    ) -> Result<(String, bool)> {
        let key = cache_key(parent, parts);
        if let Some(hit) = self.lookup_cache(&key, probe).await? {
            return Ok((hit, true));
        }
        let svc = self.svc.clone();
        let made = blocking(move || {
            let id = make(svc.clone())?;
            svc.cache_store(&key, &id)?;
            Ok(id)
        })
        .await?;
        self.out.stream(format!(" ---> {}\n", short(&made))).await;
        Ok((made, false))
    }

    async fn step_node(
        &mut self,
        stage: &Stage,
        stages_by_name: &BTreeMap<String, usize>,
        meta: &[(String, String)],
        state: &mut StageState,
        node: &Node,
    ) -> Result<()> {
        let expanded = self.expand(node, &state.expansion_env())?;
        let nop = format!("/bin/sh -c #(nop)  {}", node.original);
        match &expanded {
            Instruction::Arg(defs) => {
                for d in defs {
                    let value = self
                        .build_arg(&d.name)
                        .or_else(|| d.default.clone())
                        .or_else(|| {
                            meta.iter()
                                .rev()
                                .find(|(k, _)| *k == d.name)
                                .map(|(_, v)| v.clone())
                        });
                    state.args.retain(|(k, _)| *k != d.name);
                    if let Some(v) = value {
                        state.args.push((d.name.clone(), v));
                    }
                }
                let args = format!("{:?}", state.args);
                self.config_step(state, &nop, &[&format!("{expanded:?}"), &args])
                    .await
            }
            Instruction::Run(run) => self.run_step(stage, stages_by_name, state, node, run).await,
            Instruction::Copy(c) => {
                let source = match &c.from {
                    Some(from) => Some(self.stage_or_image(stage, from, stages_by_name).await?),
                    None => None,
                };
                let mut dest = copy::absolute_dest(&c.paths.dest, &state.config.working_dir);
                if c.parents && !dest.ends_with('/') {
                    // Sources keep their paths: the destination is always a directory.
                    dest.push('/');
                }
                let plan = CopyPlan {
                    sources: Vec::new(),
                    dest,
                    chown: c.chown.clone().filter(|s| !s.is_empty()),
                    chmod: parse_chmod(c.chmod.as_deref())?,
                    extract_archives: false,
                    excludes: c.exclude.clone(),
                    keep_owners: false,
                    parents: c.parents.then(Vec::new),
                };
                self.copy_step(
                    state,
                    node,
                    "COPY",
                    &c.paths.sources,
                    &c.paths.inline_sources,
                    source,
                    plan,
                    c.link,
                )
                .await
            }
            Instruction::Add(a) => {
                if let Some(git) = a.paths.sources.iter().find(|s| {
                    s.starts_with("git@") || s.starts_with("git://") || s.ends_with(".git")
                }) {
                    return Err(at_line(
                        Error::invalid(format!(
                            "ADD failed: {git}: git sources are not supported by berth's builder"
                        )),
                        node.start_line,
                    ));
                }
                let urls: Vec<String> = a
                    .paths
                    .sources
                    .iter()
                    .filter(|s| remote::is_url(s))
                    .cloned()
                    .collect();
                let checksum = match a.checksum.as_deref().filter(|c| !c.is_empty()) {
                    None => None,
                    Some(c) => {
                        let fail =
                            |m: &str| at_line(Error::invalid(m.to_string()), node.start_line);
                        if a.paths.sources.len() + a.paths.inline_sources.len() != 1 {
                            return Err(fail("checksum can't be specified for multiple sources"));
                        }
                        if urls.is_empty() {
                            return Err(fail(
                                "checksum can't be specified for non-HTTP(S) sources",
                            ));
                        }
                        Some(remote::parse_checksum(c).map_err(|m| fail(&m))?)
                    }
                };
                if !urls.is_empty() && urls.len() != a.paths.sources.len() {
                    return Err(at_line(
                        Error::invalid(
                            "ADD failed: mixing URLs and local sources in one ADD is not supported by berth's builder; use one ADD for each",
                        ),
                        node.start_line,
                    ));
                }
                let plan = CopyPlan {
                    sources: Vec::new(),
                    dest: copy::absolute_dest(&a.paths.dest, &state.config.working_dir),
                    chown: a.chown.clone().filter(|s| !s.is_empty()),
                    chmod: parse_chmod(a.chmod.as_deref())?,
                    // dockerd never extracts a downloaded archive.
                    extract_archives: urls.is_empty(),
                    excludes: a.exclude.clone(),
                    keep_owners: false,
                    parents: None,
                };
                if urls.is_empty() {
                    return self
                        .copy_step(
                            state,
                            node,
                            "ADD",
                            &a.paths.sources,
                            &a.paths.inline_sources,
                            None,
                            plan,
                            a.link,
                        )
                        .await;
                }
                self.add_urls_step(state, node, &urls, checksum, plan, a.link)
                    .await
            }
            Instruction::Workdir(dir) => {
                state.config.working_dir = state.workdir_after(dir);
                self.workdir_step(state, &nop).await
            }
            other => {
                if !instructions::apply(state, other, &node.original) {
                    return Err(Error::invalid(format!(
                        "dockerfile parse error on line {}: {} is not supported here",
                        node.start_line, node.original
                    )));
                }
                self.config_step(state, &nop, &[&format!("{expanded:?}")])
                    .await
            }
        }
    }

    async fn config_step(
        &self,
        state: &mut StageState,
        created_by: &str,
        parts: &[&str],
    ) -> Result<()> {
        let opts = self.commit_opts(state, created_by.to_string());
        let probe = opts.clone();
        let cfg = self.config_json(state);
        let mut all: Vec<&str> = parts.to_vec();
        all.push(&cfg);
        let parent = state.image_id.clone();
        state.image_id = self
            .cached_or(&parent, &all, Some(&probe), move |svc| {
                commit_config(&svc, opts)
            })
            .await?
            .0;
        Ok(())
    }

    async fn workdir_step(&self, state: &mut StageState, created_by: &str) -> Result<()> {
        let opts = self.commit_opts(state, created_by.to_string());
        let probe = opts.clone();
        let parent = state.image_id.clone();
        let dir = state.config.working_dir.clone();
        let cfg = self.config_json(state);
        let clamp = self.epoch;
        state.image_id = self
            .cached_or(
                &parent,
                &["WORKDIR", &dir.clone(), &cfg],
                Some(&probe),
                move |svc| {
                    let image = load_image(&svc, &opts.parent_id)?;
                    let exists = if image.chain_ids.is_empty() {
                        false
                    } else {
                        with_snapshot(&svc, &image, None, |rootfs| {
                            let root = ContainerRoot::open(rootfs)
                                .map_err(|e| Error::internal(format!("opening the rootfs: {e}")))?;
                            Ok(root.extraction_dir(&dir).is_ok())
                        })?
                        .0
                    };
                    if exists {
                        return commit_config(&svc, opts);
                    }
                    let (_, id) = with_snapshot(&svc, &image, Some((opts, clamp)), |rootfs| {
                        let mut tar = tar::Builder::new(Vec::new());
                        let mut h = tar::Header::new_gnu();
                        h.set_entry_type(tar::EntryType::Directory);
                        h.set_mode(0o755);
                        h.set_size(0);
                        h.set_mtime(clamp.unwrap_or_else(|| chrono::Utc::now().timestamp() as u64));
                        let name = format!("{}/", dir.trim_matches('/'));
                        tar.append_data(&mut h, name, std::io::empty())
                            .and_then(|_| tar.finish())
                            .map_err(|e| Error::internal(format!("WORKDIR: {e}")))?;
                        let bytes = tar
                            .into_inner()
                            .map_err(|e| Error::internal(format!("WORKDIR: {e}")))?;
                        extract_into(rootfs, &bytes[..])
                    })?;
                    id.ok_or_else(|| Error::internal("WORKDIR made no image"))
                },
            )
            .await?
            .0;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn copy_step(
        &self,
        state: &mut StageState,
        node: &Node,
        verb: &'static str,
        patterns: &[String],
        inline: &[berth_dockerfile::Heredoc],
        from_image: Option<String>,
        plan: CopyPlan,
        link: bool,
    ) -> Result<()> {
        // Sources: the context, another stage's or image's files, or heredoc bodies.
        let source: Arc<BuildContext> = match (&from_image, inline.is_empty()) {
            (None, true) => self.ctx.clone(),
            (None, false) => {
                let tmp = self.daemon.config.data_root.join("tmp");
                let docs: Vec<(String, String)> = inline
                    .iter()
                    .map(|d| (d.name.clone(), d.content.clone()))
                    .collect();
                Arc::new(blocking(move || inline_context(&docs, &tmp)).await?)
            }
            (Some(image_id), _) => {
                let svc = self.svc.clone();
                let tmp = self.daemon.config.data_root.join("tmp");
                let (id, pats) = (image_id.clone(), patterns.to_vec());
                Arc::new(blocking(move || image_context(&svc, &id, &pats, &tmp)).await?)
            }
        };
        let pats: Vec<String> = if inline.is_empty() {
            patterns.to_vec()
        } else {
            inline.iter().map(|d| d.name.clone()).collect()
        };
        self.copy_from(state, node, verb, source, pats, plan, link, "")
            .await
    }

    /// COPY/ADD of `pats` from `source`; `extra_key` joins the step's cache key.
    #[allow(clippy::too_many_arguments)]
    async fn copy_from(
        &self,
        state: &mut StageState,
        node: &Node,
        verb: &'static str,
        source: Arc<BuildContext>,
        pats: Vec<String>,
        mut plan: CopyPlan,
        link: bool,
        extra_key: &str,
    ) -> Result<()> {
        let src = source.clone();
        let verb_s = verb.to_string();
        let (sources, sum, kind) = blocking(move || {
            let sources = copy::resolve_sources_named(&src, &pats, &verb_s)?;
            let keys: Vec<String> = sources.iter().map(|s| s.key.clone()).collect();
            let sum = src.checksum(&keys)?;
            let kind = match keys.as_slice() {
                [one]
                    if src
                        .entry(one)
                        .is_some_and(|e| e.kind == super::context::Kind::Dir) =>
                {
                    "dir"
                }
                [_] => "file",
                _ => "multi",
            };
            Ok((sources, sum, kind))
        })
        .await
        .map_err(|e| at_line(e, node.start_line))?;
        plan.sources = sources.iter().map(|s| s.key.clone()).collect();
        if plan.parents.is_some() {
            plan.parents = Some(
                sources
                    .iter()
                    .map(|s| (s.kept_path(), s.written.clone()))
                    .collect(),
            );
        }
        let desc = format!(
            "{}|{:?}|{:?}|{:?}|{:?}|{}|{:?}|link={link}|{extra_key}",
            plan.dest,
            plan.chown,
            plan.chmod,
            plan.excludes,
            plan.sources,
            plan.extract_archives,
            plan.parents
        );
        // dockerd's history line (`COPY file:<hash> in <dest> `); the hash covers the sources'
        // content and metadata and the copy's options, so `--cache-from` can trust it.
        let copy_hash = hex::encode(Sha256::digest(format!("{sum}|{desc}").as_bytes()));
        let created_by = format!(
            "/bin/sh -c #(nop) {verb} {kind}:{copy_hash} in {} ",
            plan.dest
        );
        let opts = self.commit_opts(state, created_by);
        let probe = opts.clone();
        let parent = state.image_id.clone();
        let cfg = self.config_json(state);
        let clamp = self.epoch;
        state.image_id = self
            .cached_or(
                &parent,
                &[verb, &desc, &sum, &cfg],
                Some(&probe),
                move |svc| {
                    let parent_image = load_image(&svc, &opts.parent_id)?;
                    // `--link`: the files go into an empty layer stacked on the parent, so the
                    // parent's contents (a symlink on the way, an existing directory) play no
                    // part; only a `--chown` by name reads the parent's passwd and group files.
                    let base = if link {
                        if let Some(spec) = plan.chown.clone().filter(|c| !is_numeric_owner(c)) {
                            let (owner, _) = with_snapshot(&svc, &parent_image, None, |rootfs| {
                                berth_runtime::user::resolve(rootfs, &spec).map_err(|e| {
                                    Error::invalid(format!(
                                    "unable to convert uid/gid chown string to host mapping: {e}"
                                ))
                                })
                            })?;
                            plan.chown = Some(format!("{}:{}", owner.uid, owner.gid));
                        }
                        berth_image::scratch()
                    } else {
                        parent_image
                    };
                    let (_, id) = with_snapshot(&svc, &base, Some((opts, clamp)), |rootfs| {
                        let root = ContainerRoot::open(rootfs)
                            .map_err(|e| Error::internal(format!("opening the rootfs: {e}")))?;
                        let spool = tempfile::tempfile()
                            .map_err(|e| Error::internal(format!("{verb}: {e}")))?;
                        let mut w = std::io::BufWriter::new(spool);
                        copy::write_copy_tar(&source, &plan, &root, rootfs, clamp, verb, &mut w)?;
                        let mut spool = w
                            .into_inner()
                            .map_err(|e| Error::internal(format!("{verb}: {e}")))?;
                        use std::io::Seek;
                        spool
                            .rewind()
                            .map_err(|e| Error::internal(format!("{verb}: {e}")))?;
                        extract_into(rootfs, std::io::BufReader::new(spool))
                    })?;
                    id.ok_or_else(|| Error::internal("COPY made no image"))
                },
            )
            .await?
            .0;
        Ok(())
    }

    /// `ADD <url>...`: downloads, checks `--checksum`, then copies like a local file (never
    /// extracted). The cache key is the downloaded content's, as dockerd's.
    async fn add_urls_step(
        &self,
        state: &mut StageState,
        node: &Node,
        urls: &[String],
        checksum: Option<String>,
        plan: CopyPlan,
        link: bool,
    ) -> Result<()> {
        let tmp = self.daemon.config.data_root.join("tmp");
        let (spool, downloads) = remote::fetch_all(urls, &tmp, remote::MAX_DOWNLOAD_BYTES)
            .await
            .map_err(|e| at_line(Error::invalid(format!("ADD failed: {e}")), node.start_line))?;
        if let (Some(want), Some(d)) = (&checksum, downloads.first()) {
            if &d.digest != want {
                return Err(at_line(
                    Error::invalid(format!("digest mismatch {}: {want}", d.digest)),
                    node.start_line,
                ));
            }
        }
        if plan.sources.is_empty() && downloads.len() > 1 && !plan.dest.ends_with('/') {
            return Err(at_line(
                Error::invalid(
                    "When using ADD with more than one source file, the destination must be a directory and end with a /",
                ),
                node.start_line,
            ));
        }
        let files: Vec<(String, u64, u64, u32, u64)> = downloads
            .iter()
            .map(|d| (d.name.clone(), d.offset, d.size, 0o600, d.mtime))
            .collect();
        let names: Vec<String> = downloads.iter().map(|d| d.name.clone()).collect();
        let ctx = Arc::new(BuildContext::from_spooled_files(spool, &files));
        let urls_key = downloads
            .iter()
            .map(|d| format!("{}={}", d.name, d.digest))
            .collect::<Vec<_>>()
            .join(",");
        self.copy_from(state, node, "ADD", ctx, names, plan, link, &urls_key)
            .await
    }

    async fn run_step(
        &mut self,
        stage: &Stage,
        stages_by_name: &BTreeMap<String, usize>,
        state: &mut StageState,
        node: &Node,
        run: &berth_dockerfile::Run,
    ) -> Result<()> {
        if state.image_id.is_empty() {
            return Err(Error::invalid(format!(
                "The command '{}' cannot run: the stage is FROM scratch and has no shell (Dockerfile line {})",
                node.original, node.start_line
            )));
        }
        let cmd = match (&run.command, run.heredocs.as_slice()) {
            // `RUN <<EOF` alone: the heredoc is the script.
            (CommandLine::Shell(s), [doc]) if s.trim_start().starts_with("<<") => {
                let mut v = state.shell();
                v.push(doc.content.clone());
                v
            }
            (CommandLine::Shell(s), docs) if !docs.is_empty() => {
                let mut script = s.clone();
                for d in docs {
                    script.push('\n');
                    script.push_str(&d.content);
                    script.push_str(&d.name);
                }
                state.command(&CommandLine::Shell(script))
            }
            (c, _) => state.command(c),
        };
        // Build args reach RUN as environment (ENV wins) and are part of its cache key.
        let env_names: BTreeSet<String> = state.env_pairs().into_iter().map(|(k, _)| k).collect();
        let mut arg_env: Vec<(String, String)> = state
            .args
            .iter()
            .filter(|(k, _)| !env_names.contains(k))
            .cloned()
            .collect();
        for p in PREDEFINED_ARGS {
            if let Some(v) = self.build_arg(p) {
                arg_env.push((p.to_string(), v));
            }
        }
        let joined = cmd.join(" ");
        let created_by = if arg_env.is_empty() {
            joined.clone()
        } else {
            let pairs: Vec<String> = arg_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("|{} {} {joined}", pairs.len(), pairs.join(" "))
        };
        let network = run
            .network
            .clone()
            .or_else(|| self.req.network_mode.clone())
            .filter(|n| !n.is_empty() && n != "default");
        let mounts = self
            .resolve_mounts(stage, stages_by_name, state, run)
            .await
            .map_err(|e| at_line(e, node.start_line))?;
        let key_parts = [
            "RUN".to_string(),
            format!("{cmd:?}"),
            format!("{arg_env:?}"),
            format!("{network:?}|{}", mounts.cache_key),
            self.config_json(state),
        ];
        let parts: Vec<&str> = key_parts.iter().map(String::as_str).collect();
        let key = cache_key(&state.image_id, &parts);
        // A source image's history says nothing of RUN's mounts: only plain RUNs match.
        let probe = self.commit_opts(state, created_by.clone());
        let probe = Some(&probe).filter(|_| run.mounts.is_empty());
        if let Some(hit) = self.lookup_cache(&key, probe).await? {
            state.image_id = hit;
            return Ok(());
        }
        let (host_mounts, _mount_guard) = self
            .prepare_mounts(&mounts)
            .await
            .map_err(|e| at_line(e, node.start_line))?;
        let mut env: Vec<String> = state.config.env.clone().unwrap_or_default();
        env.extend(arg_env.iter().map(|(k, v)| format!("{k}={v}")));
        let config = ContainerConfig {
            image: Some(state.image_id.clone()),
            cmd: Some(cmd.clone()),
            entrypoint: Some(vec![String::new()]),
            env: Some(env),
            working_dir: Some(state.config.working_dir.clone()).filter(|w| !w.is_empty()),
            user: Some(state.config.user.clone()).filter(|u| !u.is_empty()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..ContainerConfig::default()
        };
        let host_config = HostConfig {
            network_mode: network.clone(),
            extra_hosts: Some(self.req.extra_hosts.clone()).filter(|h| !h.is_empty()),
            mounts: Some(host_mounts).filter(|m: &Vec<_>| !m.is_empty()),
            ..HostConfig::default()
        };
        let created = self
            .daemon
            .container_create(
                None,
                ContainerCreateBody {
                    config,
                    host_config: Some(host_config),
                    networking_config: None,
                },
            )
            .await?;
        let ctr_id = created.id.clone();
        self.out
            .stream(format!(" ---> Running in {}\n", id::short(&ctr_id)))
            .await;
        // As dockerd's builder: the container is made, then starting it fails on a network
        // that does not exist, with the network's own error (no "failed to set up ..." words).
        let known_network = match network.as_deref() {
            Some(n) if !n.starts_with("container:") => self.daemon.nets.find(n).map(drop),
            _ => Ok(()),
        };
        let result = match known_network {
            Ok(()) => {
                self.run_container(&ctr_id, state, created_by, &joined, &mounts.targets)
                    .await
            }
            Err(e) => Err(e),
        };
        let removed = self
            .daemon
            .container_remove(
                &ctr_id,
                RemoveOptions {
                    force: true,
                    volumes: true,
                    link: false,
                },
            )
            .await;
        let image_id = result?;
        removed?;
        self.out
            .stream(format!(
                "Removing intermediate container {}\n",
                id::short(&ctr_id)
            ))
            .await;
        let svc = self.svc.clone();
        let (k, img) = (key, image_id.clone());
        blocking(move || Ok(svc.cache_store(&k, &img)?)).await?;
        self.out
            .stream(format!(" ---> {}\n", short(&image_id)))
            .await;
        state.image_id = image_id;
        Ok(())
    }

    /// Parses a RUN's mounts and settles what its cache key needs: the content digest of
    /// every bind source (not its files yet), the secrets' presence (never their values).
    async fn resolve_mounts(
        &self,
        stage: &Stage,
        stages_by_name: &BTreeMap<String, usize>,
        state: &StageState,
        run: &berth_dockerfile::Run,
    ) -> Result<ResolvedMounts> {
        let mut out = ResolvedMounts::default();
        let mut key = Vec::new();
        for spec in &run.mounts {
            let mut m = mounts::parse(spec)?;
            absolutize_target(&mut m, &state.config.working_dir);
            let mut bind = None;
            match &m {
                RunMount::Bind {
                    from: None, source, ..
                } => {
                    let src_key = mounts::bind_source_key(&self.ctx, source, "the build context")?;
                    let c = self.ctx.clone();
                    let k = src_key.clone();
                    let sum = blocking(move || c.checksum(&[k])).await?;
                    key.push(format!("{m:?}|{sum}"));
                    bind = Some(BindSource::Context(src_key));
                }
                RunMount::Bind {
                    from: Some(f),
                    source,
                    ..
                } => {
                    // An image id names its content: the files are read only on a miss.
                    let id = self.stage_or_image(stage, f, stages_by_name).await?;
                    key.push(format!("{m:?}|{id}"));
                    bind = Some(BindSource::Image {
                        id,
                        source: source.clone(),
                        label: f.clone(),
                    });
                }
                RunMount::Secret { id, required, .. } => {
                    if *required && self.req.secrets.get(id).is_none() {
                        return Err(Error::invalid(format!("secret {id}: not found")));
                    }
                    // The spec only: a secret's value never reaches a cache key.
                    key.push(format!("{m:?}"));
                }
                _ => key.push(format!("{m:?}")),
            }
            out.targets.push(m.target().to_string());
            out.mounts.push((m, bind));
        }
        out.cache_key = key.join(";");
        Ok(out)
    }

    /// The host side of a RUN's mounts: cache directories, tmpfs, bind sources copied out
    /// of the context or an image, secrets on a private tmpfs. The guard removes the
    /// temporary ones when dropped (after the container is gone).
    async fn prepare_mounts(
        &self,
        resolved: &ResolvedMounts,
    ) -> Result<(Vec<berth_api::models::Mount>, MountGuard)> {
        use berth_api::models::{Mount, MountTmpfsOptions, MountTypeEnum};
        let mut guard = MountGuard::default();
        let mut out = Vec::new();
        let data_root = self.daemon.config.data_root.clone();
        for (m, bind) in &resolved.mounts {
            match m {
                RunMount::Cache {
                    id,
                    target,
                    mode,
                    uid,
                    gid,
                } => {
                    let dir = data_root
                        .join("build-cache-mounts")
                        .join(hex::encode(Sha256::digest(id.as_bytes())));
                    let fresh = !dir.exists();
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
                    if fresh {
                        use std::os::unix::fs::PermissionsExt;
                        let io = |e: std::io::Error| {
                            Error::internal(format!("preparing the cache mount {id}: {e}"))
                        };
                        std::fs::set_permissions(
                            &dir,
                            std::fs::Permissions::from_mode(mode.unwrap_or(0o755)),
                        )
                        .map_err(io)?;
                        std::os::unix::fs::chown(
                            &dir,
                            Some(uid.unwrap_or(0)),
                            Some(gid.unwrap_or(0)),
                        )
                        .map_err(io)?;
                    }
                    out.push(Mount {
                        typ: Some(MountTypeEnum::BIND),
                        source: Some(dir.display().to_string()),
                        target: Some(target.clone()),
                        ..Mount::default()
                    });
                }
                RunMount::Tmpfs { target, size } => out.push(Mount {
                    typ: Some(MountTypeEnum::TMPFS),
                    target: Some(target.clone()),
                    tmpfs_options: size.map(|s| MountTmpfsOptions {
                        size_bytes: Some(s as i64),
                        ..MountTmpfsOptions::default()
                    }),
                    ..Mount::default()
                }),
                RunMount::Bind {
                    target, read_only, ..
                } => {
                    let (ctx, key) = match bind {
                        Some(BindSource::Context(key)) => (self.ctx.clone(), key.clone()),
                        Some(BindSource::Image { id, source, label }) => {
                            let svc = self.svc.clone();
                            let tmp = data_root.join("tmp");
                            let (id, pats) = (id.clone(), vec![source.clone()]);
                            let ctx = Arc::new(
                                blocking(move || image_context(&svc, &id, &pats, &tmp)).await?,
                            );
                            let key = mounts::bind_source_key(&ctx, source, label)?;
                            (ctx, key)
                        }
                        None => return Err(Error::internal("a bind mount without its source")),
                    };
                    let parent = data_root.join("tmp").join("build-mounts");
                    let (dir, path) =
                        blocking(move || mounts::materialize(&ctx, &key, &parent)).await?;
                    guard.dirs.push(dir);
                    out.push(Mount {
                        typ: Some(MountTypeEnum::BIND),
                        source: Some(path.display().to_string()),
                        target: Some(target.clone()),
                        // Writes to a read-write one land in the copy and are dropped with it.
                        read_only: Some(*read_only),
                        ..Mount::default()
                    });
                }
                RunMount::Secret {
                    id,
                    target,
                    mode,
                    uid,
                    gid,
                    ..
                } => {
                    // An optional secret that was not given is simply not mounted.
                    let Some(value) = self.req.secrets.get(id) else {
                        continue;
                    };
                    if guard.secrets.is_none() {
                        guard.secrets = Some(SecretDir::new(
                            &self.daemon.config.exec_root.join("build-secrets"),
                        )?);
                    }
                    let Some(dir) = guard.secrets.as_mut() else {
                        return Err(Error::internal("no secrets directory"));
                    };
                    let path = dir.write(value, *mode, *uid, *gid)?;
                    out.push(Mount {
                        typ: Some(MountTypeEnum::BIND),
                        source: Some(path.display().to_string()),
                        target: Some(target.clone()),
                        read_only: Some(true),
                        ..Mount::default()
                    });
                }
            }
        }
        Ok((out, guard))
    }

    async fn run_container(
        &self,
        ctr_id: &str,
        state: &StageState,
        created_by: String,
        joined: &str,
        mount_targets: &[String],
    ) -> Result<String> {
        let wait = self
            .daemon
            .container_wait(ctr_id, WaitCondition::NextExit)
            .await?;
        self.daemon.container_start(ctr_id).await?;
        // A cancelled build (another stage failed, the client left) kills its RUN.
        let cancelled = self.out.cancelled();
        let daemon = self.daemon.clone();
        let victim = ctr_id.to_string();
        let _killer = AbortOnDrop(tokio::spawn(async move {
            cancelled.cancelled().await;
            let _ = daemon.container_kill(&victim, Some("KILL")).await;
        }));
        let logs = self
            .daemon
            .container_logs(
                ctr_id,
                LogsOptions {
                    stdout: true,
                    stderr: true,
                    follow: true,
                    tail: None,
                    since: None,
                    until: None,
                    timestamps: false,
                },
            )
            .await?;
        let mut frames = Demux::default();
        let mut body = logs.body;
        while let Some(chunk) = body.next().await {
            for (stream, text) in frames.push(&chunk) {
                // dockerd's classic builder writes RUN's stderr through its StderrFormatter:
                // each chunk in bright red.
                if stream == berth_api::stdcopy::STDERR {
                    self.out.stream(format!("\u{1b}[91m{text}\u{1b}[0m")).await;
                } else {
                    self.out.stream(text).await;
                }
            }
        }
        let status = wait.await;
        if self.out.gone() {
            return Err(Error::invalid("build cancelled"));
        }
        if status.status_code != 0 {
            // dockerd's words, with the exit code as the error's `errorDetail.code`.
            let message = format!(
                "The command '{joined}' returned a non-zero code: {}",
                status.status_code
            );
            self.out.error_code(&message, status.status_code);
            return Err(Error::invalid(message));
        }
        let svc = self.svc.clone();
        let opts = self.commit_opts(state, created_by);
        let id = ctr_id.to_string();
        let clamp = self.epoch;
        let targets = mount_targets.to_vec();
        blocking(move || {
            let paths = svc.snapshot_paths(&id)?;
            // What the runtime made only to mount over is not part of the layer.
            mounts::remove_stubs(&paths.upper, &targets)?;
            commit_upper(&svc, &paths.upper, opts, clamp)
        })
        .await
    }
}

/// Stops a helper task when the step that started it ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A RUN's parsed mounts: each with its bind source (context and key), their part of the
/// cache key, and the targets.
#[derive(Default)]
struct ResolvedMounts {
    mounts: Vec<(RunMount, Option<BindSource>)>,
    cache_key: String,
    targets: Vec<String>,
}

/// Where a bind mount's files come from.
enum BindSource {
    /// This key of the build context.
    Context(String),
    /// `source` in a stage's or image's files (`label`: the `from` as written).
    Image {
        id: String,
        source: String,
        label: String,
    },
}

/// Temporary host state of a RUN's mounts, removed on drop.
#[derive(Default)]
struct MountGuard {
    dirs: Vec<std::path::PathBuf>,
    secrets: Option<SecretDir>,
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        for d in &self.dirs {
            if let Err(e) = std::fs::remove_dir_all(d) {
                tracing::warn!(dir = %d.display(), error = %e, "removing a bind mount source copy");
            }
        }
    }
}

/// A relative mount target is below the working directory, as BuildKit has it.
fn absolutize_target(m: &mut RunMount, workdir: &str) {
    let t = match m {
        RunMount::Cache { target, .. }
        | RunMount::Tmpfs { target, .. }
        | RunMount::Bind { target, .. }
        | RunMount::Secret { target, .. } => target,
    };
    if !t.starts_with('/') {
        let base = if workdir.is_empty() { "/" } else { workdir };
        *t = berth_dockerfile::ignore::clean(&format!("{base}/{t}"));
    }
}

/// Splits stdcopy frames into text.
#[derive(Default)]
struct Demux {
    buf: Vec<u8>,
}

impl Demux {
    /// The complete frames in what has arrived so far: `(stream, text)` each.
    fn push(&mut self, chunk: &[u8]) -> Vec<(u8, String)> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while self.buf.len() >= 8 {
            let mut h = [0u8; 8];
            h.copy_from_slice(&self.buf[..8]);
            let (stream, len) = berth_api::stdcopy::parse_header(&h);
            if self.buf.len() < 8 + len {
                break;
            }
            out.push((
                stream,
                String::from_utf8_lossy(&self.buf[8..8 + len]).into_owned(),
            ));
            self.buf.drain(..8 + len);
        }
        out
    }
}

/// `err` with the Dockerfile line it is about.
fn at_line(err: Error, line: usize) -> Error {
    Error {
        message: format!("{} (Dockerfile line {line})", err.message),
        ..err
    }
}

/// `--chown=1000` or `--chown=1000:1000`: no passwd lookup needed.
fn is_numeric_owner(spec: &str) -> bool {
    spec.split(':')
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_chmod(s: Option<&str>) -> Result<Option<u32>> {
    match s.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(m) => u32::from_str_radix(m, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .map(Some)
            .ok_or_else(|| Error::invalid(format!("invalid chmod parameter: {m}"))),
    }
}

/// Extracts a tar at the rootfs's `/`, every name and link resolved inside it.
fn extract_into(rootfs: &std::path::Path, reader: impl std::io::Read) -> Result<()> {
    let root = ContainerRoot::open(rootfs)
        .map_err(|e| Error::internal(format!("opening the rootfs: {e}")))?;
    let opts = berth_snapshot::unpack::UnpackOptions {
        whiteouts: false,
        no_overwrite_dir_non_dir: false,
        chown: None,
        root_metadata: false,
        root_name: "/".to_string(),
    };
    berth_snapshot::unpack::unpack_at(reader, root.fd(), opts)
        .map(drop)
        .map_err(|e| Error::invalid(e.to_string()))
}

/// A context holding only heredoc files (`COPY <<EOF /dst`).
fn inline_context(docs: &[(String, String)], tmp: &std::path::Path) -> Result<BuildContext> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, content) in docs {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(content.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, name, content.as_bytes())
            .map_err(|e| Error::internal(format!("heredoc: {e}")))?;
    }
    let bytes = b
        .into_inner()
        .map_err(|e| Error::internal(format!("heredoc: {e}")))?;
    BuildContext::from_tar(&bytes[..], tmp, "")
}

/// The files `patterns` name in another image (`COPY --from`), archived from a read-only
/// view of it (symlinks resolved inside that image) into a context of their own.
fn image_context(
    svc: &ImageService,
    image_id: &str,
    patterns: &[String],
    tmp: &std::path::Path,
) -> Result<BuildContext> {
    let image = load_image(svc, image_id)?;
    let (bytes, _) = with_snapshot(svc, &image, None, |rootfs| {
        let root = ContainerRoot::open(rootfs)
            .map_err(|e| Error::internal(format!("opening the source image: {e}")))?;
        let mut t = berth_snapshot::tree_tar::TreeTar::new(Vec::new(), Default::default());
        for p in patterns {
            let abs = berth_snapshot::container_path::abs_path(p);
            let trimmed = abs.trim_end_matches('/');
            if trimmed.is_empty() {
                // The whole image (`RUN --mount=from=stage` without a source).
                t.append_contents(root.fd())
                    .map_err(|e| Error::internal(format!("reading the source image: {e}")))?;
                continue;
            }
            let Ok(r) = root.resolve(trimmed) else {
                continue;
            };
            let Some(base) = r.base.clone() else { continue };
            // Follow a final symlink inside the image, as COPY does for its sources.
            let resolved = root.extraction_dir(trimmed);
            let name = trimmed.trim_start_matches('/').as_bytes().to_vec();
            let res = match resolved {
                Ok(dir) => {
                    use std::os::fd::AsFd;
                    t.append_dir(dir.fd.as_fd(), &name)
                }
                Err(_) => {
                    use std::os::fd::AsFd;
                    t.append_entry(r.dir.as_fd(), &base, &name)
                }
            };
            if res.is_err() {
                continue;
            }
        }
        t.finish()
            .map_err(|e| Error::internal(format!("reading the source image: {e}")))
    })?;
    BuildContext::from_tar(&bytes[..], tmp, "")
}

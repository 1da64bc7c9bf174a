//! Container lifecycle: create, start, stop, kill, restart, wait, remove, rename, resize.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use berth_api::models::{self, ContainerWaitExitError, ContainerWaitResponse};
use berth_api::ContainerCreateBody;
use berth_runtime::shim_proto::{
    CreateResult, ExitStatus, Request, Response, ShimConfig, SECCOMP_CACHE_DIR,
};
use berth_types::{id, Error, ErrorKind, Result};
use tracing::Instrument;

use crate::container::record::{Container, State, Status};
use crate::daemon::{Ctr, Daemon, EMBEDDED_RUNTIME};
use crate::options::{RemoveOptions, WaitCondition};
use crate::recovery::reconcile::Sweep;
use crate::runtime::{cgroup_ahead, shim, signals};
use crate::system::events::Kind;
use crate::util::time::now_rfc3339;

/// How long `kill` with SIGKILL waits for the exit to be recorded before it answers anyway
/// (dockerd waits without a bound once the process is killed).
const KILL_EXIT_TIMEOUT: Duration = Duration::from_secs(30);

impl Daemon {
    pub(crate) fn container_event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut attrs: HashMap<String, String> = c.config.labels.clone().unwrap_or_default();
        attrs.insert("name".into(), c.bare_name().to_string());
        attrs.insert("image".into(), c.config.image.clone().unwrap_or_default());
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.events.emit(Kind::Container, action, &c.id, attrs);
    }

    #[tracing::instrument(level = "debug", name = "create", skip_all)]
    pub async fn container_create(
        &self,
        name: Option<&str>,
        body: ContainerCreateBody,
    ) -> Result<models::ContainerCreateResponse> {
        self.container_create_in(crate::image::DEFAULT_NAMESPACE, name, body)
            .await
    }

    /// [`Daemon::container_create`] with the image resolved in image namespace `ns`
    /// (`k8s.io` for CRI containers: image/namespaces.rs).
    pub async fn container_create_in(
        &self,
        ns: &str,
        name: Option<&str>,
        body: ContainerCreateBody,
    ) -> Result<models::ContainerCreateResponse> {
        let images = self.image_namespace(ns)?;
        let mut config = body.config;
        let mut host_config = body.host_config.unwrap_or_default();
        let networking_config = body.networking_config;
        let image_name = config.image.clone().unwrap_or_default();
        if image_name.is_empty() {
            return Err(Error::invalid(
                "config cannot be empty in order to create a container",
            ));
        }
        if let Some(n) = name {
            crate::container::names::check(n)?;
        }
        let runtime = match host_config.runtime.as_deref() {
            None | Some("") => self.config.default_runtime.clone(),
            Some(r) => r.to_string(),
        };
        if runtime != EMBEDDED_RUNTIME
            && !self.config.runtimes.iter().any(|(n, _, _)| *n == runtime)
        {
            return Err(Error::invalid(format!(
                "unknown or invalid runtime name: {runtime}"
            )));
        }
        host_config.runtime = Some(runtime.clone());
        crate::runtime::spec::validate_host_config(&host_config)?;
        host_config.log_config = Some(crate::container::log_config::resolve(
            host_config.log_config.as_ref(),
            &self.config,
        )?);
        let support = crate::runtime::cgroup_support::CgroupSupport::detect();
        let mut warnings = crate::runtime::resources::verify(&mut host_config, &support, false)?;
        warnings.extend(crate::runtime::cgroupns::adapt(
            &mut host_config,
            crate::runtime::cgroups::is_unified(),
            crate::runtime::cgroupns::kernel_support(),
        ));
        crate::runtime::resources::adapt(&mut host_config);
        crate::runtime::spec::fill_host_defaults(
            &mut host_config,
            crate::runtime::cgroups::is_unified(),
        );
        // Devices and throttled disks are looked up now, so a typo creates nothing.
        crate::runtime::resources::limits(&host_config)?;
        for d in crate::runtime::resources::devices(&host_config)? {
            berth_runtime::spec::resources::device_entries(&d)
                .map_err(|e| Error::invalid(e.to_string()))?;
        }
        crate::container::health::validate(config.healthcheck.as_ref())?;
        let image = images.resolve(&image_name).await?;
        crate::runtime::spec::merge_image_config(&mut config, &image.config);
        // dockerd's config has these as plain booleans and a label map: a create that leaves
        // them out still shows them (false, {}) in every later inspect.
        for flag in [
            &mut config.tty,
            &mut config.open_stdin,
            &mut config.stdin_once,
            &mut config.attach_stdin,
            &mut config.attach_stdout,
            &mut config.attach_stderr,
        ] {
            flag.get_or_insert(false);
        }
        config.labels.get_or_insert_with(Default::default);
        let (path, args) = crate::runtime::spec::command(&config)?;
        let mut mount_points = self.plan_mounts(&config, &host_config)?;

        let cid = id::generate();
        let generated = name.is_none();
        let mut name = match name {
            Some(n) => format!("/{}", n.trim_start_matches('/')),
            None => self.unique_random_name()?,
        };
        if let Some(owner) = self.repo.name_owner(&name)? {
            return Err(name_conflict(&name, &owner));
        }
        if host_config
            .network_mode
            .as_deref()
            .is_none_or(|m| m.is_empty() || m == "default")
        {
            host_config.network_mode = Some("bridge".into());
        }
        let endpoints = self.plan_networks(&host_config, &config, networking_config.as_ref())?;
        let links = self.register_links(&host_config)?;
        if let crate::network::mode::Mode::Container(other) =
            crate::network::mode::mode_of(&host_config)
        {
            // The other container's namespace comes with its name.
            config.hostname = self.lookup(&other)?.snapshot().config.hostname;
        }
        if config.hostname.as_deref().is_none_or(str::is_empty) {
            config.hostname = Some(if host_config.network_mode.as_deref() == Some("host") {
                nix::sys::utsname::uname()
                    .map(|u| u.nodename().to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                cid[..12].to_string()
            });
        }
        let container = Container {
            id: cid.clone(),
            name: name.clone(),
            created: now_rfc3339(),
            image_id: image.id.clone(),
            config,
            host_config,
            path,
            args,
            state: State::default(),
            restart_count: 0,
            runtime,
            has_been_started: false,
            has_been_manually_stopped: false,
            mount_points: Vec::new(),
            net: crate::container::record::NetAttachments {
                configured: endpoints,
                ..Default::default()
            },
            links,
        };
        // Everything below is undone if a later step fails, so a failed create leaves nothing.
        let new_volumes = self.create_planned_volumes(&mut mount_points)?;
        let mut container = container;
        container.mount_points = mount_points;
        let dir = self.container_dir(&cid);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            self.discard_volumes(&new_volumes);
            return Err(Error::internal(format!("creating {}: {e}", dir.display())));
        }
        if let Err(e) = self.images.prepare(&cid, &image).await {
            let _ = std::fs::remove_dir_all(&dir);
            self.discard_volumes(&new_volumes);
            return Err(e);
        }
        let mut inserted = self.repo.insert(&container);
        // A generated name another create took between the check and the insert (parallel
        // `run`s): another name, as dockerd's reservation would have given.
        for _ in 0..10 {
            match &inserted {
                Err(e) if generated && e.kind == ErrorKind::Conflict => {
                    name = self.unique_random_name()?;
                    container.name = name.clone();
                    inserted = self.repo.insert(&container);
                }
                _ => break,
            }
        }
        if let Err(e) = inserted {
            let _ = self.images.remove_snapshot(&cid).await;
            let _ = std::fs::remove_dir_all(&dir);
            self.discard_volumes(&new_volumes);
            if e.kind == ErrorKind::Conflict {
                let owner = self
                    .repo
                    .name_owner(&name)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                return Err(name_conflict(&name, &owner));
            }
            return Err(e);
        }
        let ctr = Ctr::created(container.clone());
        if let Ok(mut m) = self.containers.write() {
            m.insert(cid.clone(), ctr);
        }
        self.container_event(&container, "create", &[]);
        Ok(models::ContainerCreateResponse { id: cid, warnings })
    }

    fn unique_random_name(&self) -> Result<String> {
        for retry in 0..10 {
            let n = format!("/{}", crate::container::names::random_name(retry));
            if self.repo.name_owner(&n)?.is_none() {
                return Ok(n);
            }
        }
        Ok(format!("/{}", &id::generate()[..12]))
    }

    pub async fn container_start(&self, key: &str) -> Result<()> {
        let ctr = self.lookup(key)?;
        let _op = ctr.op.lock().await;
        let c = ctr.snapshot();
        match c.state.status {
            Status::Running | Status::Restarting => {
                return Err(Error::not_modified("container already started"))
            }
            Status::Paused => {
                return Err(Error::conflict(
                    "cannot start a paused container, try unpause instead",
                ))
            }
            Status::Removing | Status::Dead => {
                return Err(Error::conflict(
                    "container is marked for removal and cannot be started".to_string(),
                ))
            }
            _ => {}
        }
        self.reset_restart_policy(&ctr);
        let result = self.start_locked(&ctr).await;
        if result.is_err() && c.auto_remove() {
            // dockerd cleans up an auto-remove container whose start failed, with its
            // anonymous volumes (`cleanupContainer` with `RemoveVolume`).
            match self.remove_locked(&ctr).await {
                Ok(()) => self.remove_anonymous_volumes(&volume_names(&c)),
                Err(e) => {
                    tracing::warn!(container = %ctr.id, error = %e, "removing after failed start")
                }
            }
        }
        result
    }

    /// Starts a container whose op lock the caller holds.
    #[tracing::instrument(level = "debug", name = "start", skip_all)]
    pub(crate) async fn start_locked(&self, ctr: &Arc<Ctr>) -> Result<()> {
        let c = ctr.snapshot();
        let id = c.id.clone();
        let bundle = self.bundle_dir(&id);
        let socket = self.shim_socket(&id);
        let exit_file = self.exit_file(&id);
        ctr.runtime_released().await;
        // A container's first start has nothing of an earlier run to look for (a dozen lookups
        // in the cgroup filesystems otherwise).
        if !ctr.first_start() && self.has_runtime_leftovers(&id) {
            // An earlier start was interrupted (berthd killed mid-way): its shim, processes
            // and runtime state go first, or the runtime would refuse the id.
            tracing::info!(container = %id, "removing what an interrupted run left");
            self.purge_runtime(&id, Sweep::Socket).await;
        }
        let _ = std::fs::remove_file(&exit_file);
        let _ = std::fs::remove_file(&socket);
        // The rootfs mount, the network's bookkeeping (namespace, addresses) and the cgroup
        // overlap; then the runtime creates the container while the veths, addresses and
        // routes are put in place. The process runs only at `Start`, once both are done.
        let cgroup = cgroup_ahead::start(&id, cgroup_ahead::plan(&c));
        let (mounted, planned) =
            tokio::join!(self.images.mount(&id, c.auto_remove()), self.net_plan(ctr));
        let rootfs = match mounted {
            Ok(r) => r,
            Err(e) => {
                if planned.is_ok() {
                    self.net_down(&id).await;
                }
                cgroup_ahead::Making::abandon(&id, cgroup).await;
                return Err(e);
            }
        };
        let result = match planned {
            Ok(()) => {
                let c = ctr.snapshot();
                let (launched, wired) = tokio::join!(
                    self.launch_shim(&c, &bundle, &rootfs, &socket, cgroup),
                    self.net_wire(ctr)
                );
                // The next start's namespace is made now, not beside this start's mount,
                // cgroup and spec, whose CPU it took on a small machine (about 0.7 ms).
                crate::network::spare_netns::replenish();
                match (launched, wired) {
                    (Ok(pid), Ok(())) => Ok(pid),
                    (Ok(_), Err(e)) => {
                        // The container exists but its network does not: it never runs.
                        shim::kill_all(&socket).await;
                        Err(e)
                    }
                    (Err(e), _) => Err(e),
                }
            }
            Err(e) => {
                cgroup_ahead::Making::abandon(&id, cgroup).await;
                Err(e)
            }
        };
        let pid = match result {
            Ok(pid) => {
                crate::recovery::failpoint::hit("after-shim-launch");
                pid
            }
            Err(e) => {
                if self.has_runtime_leftovers(&id) {
                    // A shim lost mid-create (killed) leaves the container's init waiting for
                    // a `Start` that never comes, in the container's cgroup.
                    self.purge_runtime(&id, Sweep::Socket).await;
                } else {
                    self.release_after_exit(&id).await;
                }
                let code = exit_code_for_start_error(&e.message);
                ctr.update(|c| {
                    c.state.exit_code = code;
                    c.state.error = e.message.clone();
                    if c.state.status == Status::Created && !c.has_been_started {
                        // dockerd keeps a never-started container "created" but records the code.
                    } else {
                        c.state.status = Status::Exited;
                    }
                });
                let _ = self.repo.save(&ctr.snapshot());
                return Err(e);
            }
        };
        if let Err(e) = self.apply_oom_kill_disable(&c) {
            shim::kill_all(&socket).await;
            self.release_after_exit(&id).await;
            return Err(e);
        }
        // Attach sessions made before start get their shim connections before the process
        // runs, as does the exit's waiter: their requests go first, then the Start, none
        // waiting for an answer (one round trip with the shim, not two); the shim serves
        // what was sent before a Start before it (`serve_queued_requests`).
        let attaches = crate::container::attach::send_pending(ctr, &socket).await;
        let waiter = shim::wait_exit(&socket).await;
        // Init leaves its wait and execs the process.
        let (started, ()) = tokio::join!(
            shim::simple(&socket, &Request::Start).instrument(tracing::debug_span!("shim_start")),
            attaches.answered()
        );
        let exec_span = tracing::debug_span!(parent: None, "exec");
        if let Err(e) = started {
            shim::kill_all(&socket).await;
            self.release_after_exit(&id).await;
            return Err(Error::internal(format!("failed to start container: {e}")));
        }
        crate::recovery::failpoint::hit("after-shim-start");
        ctr.update(|c| {
            c.state = State {
                status: Status::Running,
                pid: i64::from(pid),
                exit_code: 0,
                error: String::new(),
                started_at: Some(now_rfc3339()),
                finished_at: c.state.finished_at.clone(),
                oom_killed: false,
                health: c.state.health.clone(),
            };
            c.has_been_started = true;
        });
        ctr.life.send_modify(|l| {
            l.running = true;
        });
        let snap = ctr.snapshot();
        self.repo.save(&snap)?;
        self.container_event(&snap, "start", &[]);
        match waiter {
            // `exec` lasts from the start until the shim reports the exit.
            Ok(w) => self.spawn_monitor(ctr.clone(), w.instrument(exec_span)),
            Err(e) => tracing::warn!(container = %id, error = %e, "cannot watch container exit"),
        }
        self.init_health_monitor(ctr);
        Ok(())
    }

    /// A user's start or restart: a fresh back-off, the retry count and the manual stop
    /// forgotten (dockerd's `ResetRestartManager`).
    pub(crate) fn reset_restart_policy(&self, ctr: &Ctr) {
        ctr.restart_manager(|m| m.reset());
        ctr.update(|c| {
            c.restart_count = 0;
            c.has_been_manually_stopped = false;
        });
    }

    /// Writes the bundle and starts the shim; returns init's pid.
    #[tracing::instrument(level = "debug", name = "launch_shim", skip_all)]
    async fn launch_shim(
        &self,
        c: &Container,
        bundle: &std::path::Path,
        rootfs: &std::path::Path,
        socket: &std::path::Path,
        cgroup: Option<cgroup_ahead::Making>,
    ) -> Result<i32> {
        let dir = self.container_dir(&c.id);
        let written = tracing::debug_span!("spec").in_scope(|| -> Result<()> {
            std::fs::create_dir_all(bundle)
                .map_err(|e| Error::internal(format!("creating bundle: {e}")))?;
            crate::runtime::spec::write_etc_files(self, c, &dir)?;
            let spec = crate::runtime::spec::build(self, c, rootfs, &dir)?;
            let spec_json =
                serde_json::to_vec(&spec).map_err(|e| Error::internal(e.to_string()))?;
            std::fs::write(bundle.join("config.json"), spec_json)
                .map_err(|e| Error::internal(format!("writing config.json: {e}")))
        });
        // The cgroup, made beside the mount and the spec, is waited for even when the spec
        // failed: the start's cleanup then finds it (a cgroup made after it would be left).
        let cgroup_made = cgroup_ahead::Making::finish(cgroup).await;
        written?;
        let (runtime_binary, runtime_args) = match c.runtime.as_str() {
            EMBEDDED_RUNTIME => (None, Vec::new()),
            name => match self.config.runtimes.iter().find(|(n, _, _)| n == name) {
                Some((_, p, a)) => (Some(p.clone()), a.clone()),
                None => {
                    return Err(Error::invalid(format!(
                        "unknown or invalid runtime name: {name}"
                    )))
                }
            },
        };
        let log_config = c.host_config.log_config.as_ref();
        let log = crate::container::log_config::settings(
            crate::container::log_config::driver(log_config),
            &log_config
                .and_then(|l| l.config.clone())
                .unwrap_or_default(),
        )?;
        let (log_path, log_format) = crate::sandbox::member::log_target(c)
            .unwrap_or_else(|| (self.log_path(&c.id), Default::default()));
        let shim_config = ShimConfig {
            id: c.id.clone(),
            bundle: bundle.to_path_buf(),
            socket: socket.to_path_buf(),
            log_path,
            log_max_size: log.max_size,
            log_max_files: log.max_files,
            log_compress: log.compress,
            log_disabled: log.disabled,
            log_format,
            exit_file: self.exit_file(&c.id),
            runtime_root: self.config.exec_root.join("runtime"),
            runtime_binary,
            runtime_args,
            seccomp_cache: Some(self.config.data_root.join(SECCOMP_CACHE_DIR)),
            cgroup_mounts: crate::runtime::cgroups::mount_lines(),
            cgroup_made,
            tty: c.tty(),
            open_stdin: c.config.open_stdin.unwrap_or(false),
            stdin_once: c.config.stdin_once.unwrap_or(false),
            trace: self.config.debug,
        };
        let shim_json = bundle.join("shim.json");
        std::fs::write(
            &shim_json,
            serde_json::to_vec(&shim_config).map_err(|e| Error::internal(e.to_string()))?,
        )
        .map_err(|e| Error::internal(format!("writing shim.json: {e}")))?;
        // The shim detaches and the runtime creates the container (namespaces, cgroup, mounts,
        // pivot_root); its init then waits for `Start`.
        match shim::launch(&self.config.shim_binary, &shim_json)
            .instrument(tracing::debug_span!("runtime_create"))
            .await?
        {
            CreateResult::Created { pid } => Ok(pid),
            CreateResult::Failed { message } => Err(start_error(&message)),
        }
    }

    /// Waits for the shim's exit report and records it; the runtime's release that follows is
    /// tracked on the container ([`Ctr::runtime_released`]).
    pub(crate) fn spawn_monitor(
        &self,
        ctr: Arc<Ctr>,
        waiter: impl std::future::Future<Output = Result<shim::ShimExit>> + Send + 'static,
    ) {
        let daemon = self.self_ref();
        tokio::spawn(async move {
            let status = match waiter.await {
                Ok(exit) => {
                    ctr.track_runtime_release(exit.released);
                    exit.status
                }
                Err(e) => {
                    // The shim went away without answering (killed?): trust its exit file.
                    tracing::warn!(container = %ctr.id, error = %e, "lost the shim's wait connection");
                    let Some(d) = daemon.upgrade() else { return };
                    match read_exit_file(&d.exit_file(&ctr.id)) {
                        Some(s) => s,
                        None => ExitStatus {
                            exit_code: 255,
                            finished_at: now_rfc3339(),
                            oom_killed: false,
                            error: Some(e.message),
                        },
                    }
                }
            };
            if let Some(d) = daemon.upgrade() {
                d.handle_exit(&ctr, status).await;
            }
        });
    }

    /// Records an exit: state, cleanup, events; then the restart policy or auto-remove.
    #[tracing::instrument(level = "debug", name = "handle_exit", skip_all)]
    pub(crate) async fn handle_exit(&self, ctr: &Arc<Ctr>, status: ExitStatus) {
        let id = ctr.id.clone();
        self.stop_health_monitor(ctr);
        let ends_here = {
            let c = ctr.snapshot();
            c.auto_remove()
                && crate::container::restart::Policy::of(&c.host_config)
                    == crate::container::restart::Policy::No
        };
        // `rm -f` of a running `--rm` container removes it itself, once the exit is recorded.
        if ends_here && !ctr.discarding.load(Ordering::SeqCst) {
            self.discard_after_exit(ctr, status).await;
            return;
        }
        self.release_after_exit(&id).await;
        let before = ctr.snapshot();
        let exit_code = i64::from(status.exit_code);
        let ran_for = run_time(
            before.state.started_at.as_deref(),
            Some(status.finished_at.as_str()),
        );
        let restart_in = ctr.restart_manager(|m| {
            m.should_restart(
                crate::container::restart::Policy::of(&before.host_config),
                exit_code,
                before.has_been_manually_stopped,
                ran_for,
                before.restart_count,
            )
        });
        ctr.update(|c| {
            c.state.status = if restart_in.is_some() {
                c.restart_count += 1;
                Status::Restarting
            } else {
                Status::Exited
            };
            c.state.pid = 0;
            c.state.exit_code = exit_code;
            c.state.finished_at = Some(status.finished_at.clone());
            c.state.oom_killed = status.oom_killed;
        });
        let snap = ctr.snapshot();
        if let Err(e) = self.repo.save(&snap) {
            tracing::error!(container = %id, error = %e, "saving exit state");
        }
        if status.oom_killed {
            self.container_event(&snap, "oom", &[]);
        }
        // dockerd 20.10's `die` carries the exit code only (no `execDuration`).
        self.container_event(&snap, "die", &[("exitCode", status.exit_code.to_string())]);
        ctr.life.send_modify(|l| {
            l.running = restart_in.is_some();
            l.exits += 1;
            l.exit_code = exit_code;
        });
        if let Some(delay) = restart_in {
            tracing::debug!(container = %id, ?delay, restart_count = snap.restart_count, "restarting by policy");
            self.schedule_restart(ctr.clone(), delay);
            return;
        }
        if snap.auto_remove() {
            let _op = ctr.op.lock().await;
            // The release above is all a removal would release again.
            match self.remove_released_locked(ctr, true).await {
                // dockerd's auto-remove takes the anonymous volumes with it.
                Ok(()) => self.remove_anonymous_volumes(&volume_names(&snap)),
                Err(e) => tracing::warn!(container = %id, error = %e, "auto-remove failed"),
            }
        }
    }

    /// The exit of a `--rm` container, which is its end. Its record goes as soon as nothing a
    /// client could see or reuse is held: volumes, names, addresses and ports released, the
    /// rootfs detached, the writable layer set aside. The `removed` wait answers there; the
    /// veths' deletion and the network namespace's unpin
    /// ([`crate::network::endpoints::NetTeardown`]), the runtime's
    /// release (the shim deleting the cgroups and the runtime's state, 1-2 ms) and the
    /// bundle's removal follow ([`Daemon::finish_release`]), waited for by nobody but a shutdown
    /// ([`Daemon::releases`]). A crash
    /// in between leaves only exec-root traces of an id no record names, which the next start
    /// of berthd purges (`recovery::live_restore`).
    #[tracing::instrument(level = "debug", name = "discard", skip_all)]
    async fn discard_after_exit(&self, ctr: &Arc<Ctr>, status: ExitStatus) {
        let id = ctr.id.clone();
        self.volume_release(&id);
        // The veths and the namespace's pin go once the record is gone (see
        // `net_release_deferring`): the rootfs's unmount here does not wait behind them.
        let (net_teardown, detached) = tokio::join!(
            self.net_release_deferring(&id),
            self.images.unmount_discarding(&id)
        );
        if let Err(e) = detached {
            tracing::warn!(container = %id, error = %e, "detaching rootfs");
        }
        let exit_code = i64::from(status.exit_code);
        ctr.update(|c| {
            c.state.status = Status::Exited;
            c.state.pid = 0;
            c.state.exit_code = exit_code;
            c.state.finished_at = Some(status.finished_at.clone());
            c.state.oom_killed = status.oom_killed;
        });
        let snap = ctr.snapshot();
        if status.oom_killed {
            self.container_event(&snap, "oom", &[]);
        }
        self.container_event(&snap, "die", &[("exitCode", status.exit_code.to_string())]);
        // Waiters for the exit (a `stop` holding the op lock among them) hear of it first.
        ctr.life.send_modify(|l| {
            l.running = false;
            l.exits += 1;
            l.exit_code = exit_code;
        });
        let _op = ctr.op.lock().await;
        let listed = self
            .containers
            .read()
            .map(|m| m.contains_key(&id))
            .unwrap_or(false);
        if listed {
            ctr.update(|c| c.state.status = Status::Removing);
            let removed = async {
                self.images
                    .remove_snapshot(&id)
                    .instrument(tracing::debug_span!("remove_snapshot"))
                    .await?;
                tracing::debug_span!("remove_record").in_scope(|| self.delete_record(&id))
            };
            match removed.await {
                Ok(()) => {
                    crate::recovery::failpoint::hit("rm-after-record");
                    self.forget(ctr);
                    self.remove_anonymous_volumes(&volume_names(&snap));
                }
                Err(e) => {
                    // It stays, exited, as a failed auto-remove leaves it with dockerd.
                    tracing::warn!(container = %id, error = %e, "auto-remove failed");
                    ctr.update(|c| c.state.status = Status::Exited);
                    if let Err(e) = self.repo.save(&ctr.snapshot()) {
                        tracing::error!(container = %id, error = %e, "saving exit state");
                    }
                }
            }
        }
        drop(_op);
        net_teardown.finish(&self.releases);
        self.finish_release(ctr.clone());
    }

    /// After a `--rm` container's record is gone: waits for its shim to release the runtime,
    /// then removes the bundle and the socket, and purges whatever a shim that did not release
    /// left (its processes, cgroups, state).
    fn finish_release(&self, ctr: Arc<Ctr>) {
        let daemon = self.self_ref();
        let span = tracing::debug_span!(parent: None, "released_after_removal");
        self.releases.spawn(
            async move {
                ctr.runtime_released().await;
                let Some(d) = daemon.upgrade() else { return };
                let id = &ctr.id;
                if d.config.debug {
                    crate::runtime::shim_trace::relay(id, &d.bundle_dir(id));
                }
                let _ = std::fs::remove_dir_all(d.bundle_dir(id));
                let _ = std::fs::remove_file(d.shim_socket(id));
                if d.has_runtime_leftovers(id) {
                    d.purge_runtime(id, Sweep::Socket).await;
                }
            }
            .instrument(span),
        );
    }

    /// Starts a `Restarting` container again after `delay`, unless a stop, kill or removal
    /// cancels the restart first.
    pub(crate) fn schedule_restart(&self, ctr: Arc<Ctr>, delay: Duration) {
        let cancel = ctr.restart_manager(|m| m.cancelled());
        let daemon = self.self_ref();
        tokio::spawn(async move {
            let due = tokio::select! {
                _ = tokio::time::sleep(delay) => true,
                _ = cancel.cancelled() => false,
            };
            let op = if due {
                tokio::select! {
                    g = ctr.op.lock() => Some(g),
                    _ = cancel.cancelled() => None,
                }
            } else {
                None
            };
            let Some(d) = daemon.upgrade() else { return };
            let still_due = op.is_some()
                && !cancel.is_cancelled()
                && ctr.snapshot().state.status == Status::Restarting;
            if !still_due {
                d.abandon_restart(&ctr, None);
                return;
            }
            if let Err(e) = d.start_locked(&ctr).await {
                tracing::warn!(container = %ctr.id, error = %e, "restart by policy failed");
                d.abandon_restart(&ctr, Some(e.message));
            }
        });
    }

    /// A restart that will not happen: the container is down for good (dockerd's
    /// `SetStopped` after a cancelled or failed restart).
    fn abandon_restart(&self, ctr: &Ctr, error: Option<String>) {
        let changed = ctr.update(|c| {
            if c.state.status != Status::Restarting && error.is_none() {
                return false;
            }
            c.state.status = Status::Exited;
            if let Some(e) = &error {
                c.state.error = e.clone();
            }
            true
        });
        if changed {
            if let Err(e) = self.repo.save(&ctr.snapshot()) {
                tracing::error!(container = %ctr.id, error = %e, "saving state");
            }
            ctr.life.send_modify(|l| {
                l.running = false;
                l.error = error;
            });
        }
    }

    /// Unmounts the rootfs and removes the bundle of a container that is not running.
    #[tracing::instrument(level = "debug", name = "release", skip_all)]
    pub(crate) async fn release_after_exit(&self, id: &str) {
        self.volume_release(id);
        // A container `rm -f` killed loses its writable layer next: its rootfs is detached and
        // the unmount's sync of the filesystem under the layer is left to the background.
        let discarding = self
            .containers
            .read()
            .ok()
            .and_then(|m| m.get(id).cloned())
            .is_some_and(|c| c.discarding.load(Ordering::SeqCst));
        let unmount = async {
            if discarding {
                let detached = self.images.unmount_discarding(id).await;
                crate::recovery::failpoint::hit("rm-rootfs-detached");
                detached
            } else {
                self.images.unmount(id).await
            }
        };
        // Independent: the network's release and the overlay's unmount (which syncs the
        // upper layer) overlap.
        let (_, unmounted) = tokio::join!(self.net_down(id), unmount);
        if let Err(e) = unmounted {
            tracing::warn!(container = %id, error = %e, "unmounting rootfs");
        }
        // The shim deletes the runtime's state meanwhile; its trace and the bundle go after.
        let ctr = self.containers.read().ok().and_then(|m| m.get(id).cloned());
        if let Some(ctr) = ctr {
            ctr.runtime_released()
                .instrument(tracing::debug_span!("runtime_release"))
                .await;
        }
        if self.config.debug {
            crate::runtime::shim_trace::relay(id, &self.bundle_dir(id));
        }
        let _ = std::fs::remove_dir_all(self.bundle_dir(id));
        let _ = std::fs::remove_file(self.shim_socket(id));
    }

    pub async fn container_stop(
        &self,
        key: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let ctr = self.lookup(key)?;
        let _op = ctr.op.lock().await;
        let c = ctr.snapshot();
        if !c.state.running() {
            return Err(Error::not_modified("container already stopped"));
        }
        self.stop_locked(&ctr, signal, timeout).await?;
        self.container_event(&ctr.snapshot(), "stop", &[]);
        Ok(())
    }

    /// Sends the stop signal, waits up to the timeout, then SIGKILL.
    #[tracing::instrument(level = "debug", name = "stop", skip_all)]
    pub(crate) async fn stop_locked(
        &self,
        ctr: &Arc<Ctr>,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = ctr.snapshot();
        let sig = match signal
            .filter(|s| !s.is_empty())
            .or(c.config.stop_signal.as_deref())
        {
            Some(s) => signals::parse(s)?,
            None => libc::SIGTERM,
        };
        let timeout = timeout.or(c.config.stop_timeout).unwrap_or(10);
        let mut life = ctr.life.subscribe();
        let exits = life.borrow().exits;
        if !life.borrow().running {
            return Ok(());
        }
        if c.state.status == Status::Restarting {
            // Between two runs: cancelling the pending restart is the whole stop.
            self.note_user_signal(ctr, libc::SIGKILL);
            let _ =
                tokio::time::timeout(Duration::from_secs(30), life.wait_for(|l| !l.running)).await;
            return Ok(());
        }
        self.signal(ctr, sig, false).await?;
        let exited = |l: &crate::daemon::Lifecycle| l.exits > exits || !l.running;
        let waited = if timeout < 0 {
            life.wait_for(exited).await.is_ok()
        } else {
            tokio::time::timeout(Duration::from_secs(timeout as u64), life.wait_for(exited))
                .await
                .is_ok()
        };
        if !waited {
            tracing::info!(container = %ctr.id, timeout, "stop timeout elapsed, sending SIGKILL");
            self.signal(ctr, libc::SIGKILL, true).await?;
            let _ = tokio::time::timeout(Duration::from_secs(30), life.wait_for(exited)).await;
        }
        Ok(())
    }

    /// What a user's signal does to the restart policy, as dockerd's `killWithSignal`: the
    /// container counts as manually stopped, and SIGKILL or its stop signal (any signal when
    /// it has none) cancels restarts until the next start.
    fn note_user_signal(&self, ctr: &Ctr, sig: i32) {
        let stop_signal = ctr
            .snapshot()
            .config
            .stop_signal
            .filter(|s| !s.is_empty())
            .and_then(|s| signals::parse(&s).ok());
        if sig == libc::SIGKILL || stop_signal.is_none_or(|s| s == sig) {
            ctr.restart_manager(|m| m.cancel());
        }
        ctr.update(|c| c.has_been_manually_stopped = true);
        if let Err(e) = self.repo.save(&ctr.snapshot()) {
            tracing::warn!(container = %ctr.id, error = %e, "saving the manual stop");
        }
    }

    /// Signals the container's init through its shim, on a user's behalf.
    async fn signal(&self, ctr: &Arc<Ctr>, sig: i32, all: bool) -> Result<()> {
        self.note_user_signal(ctr, sig);
        let c = ctr.snapshot();
        if c.state.status == Status::Restarting {
            // No process to signal; the cancelled restart leaves it stopped.
            return Ok(());
        }
        self.container_event(&c, "kill", &[("signal", sig.to_string())]);
        let mut life = ctr.life.subscribe();
        let exits = life.borrow().exits;
        match shim::simple(
            &self.shim_socket(&c.id),
            &Request::Kill { signal: sig, all },
        )
        .await
        {
            Ok(_) => {
                self.thaw_after_signal(ctr, sig).await;
                Ok(())
            }
            Err(e) => {
                // The process exited under our feet (its shim is gone or going): fine once
                // the monitor has recorded that exit.
                let recorded = tokio::time::timeout(
                    Duration::from_secs(5),
                    life.wait_for(|l| !l.running || l.exits > exits),
                )
                .await
                .is_ok();
                if recorded {
                    tracing::debug!(container = %c.id, error = %e, "kill after exit");
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    pub async fn container_restart(
        &self,
        key: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let ctr = self.lookup(key)?;
        let _op = ctr.op.lock().await;
        if ctr.snapshot().state.running() {
            self.stop_locked(&ctr, signal, timeout).await?;
            self.container_event(&ctr.snapshot(), "stop", &[]);
            // The monitor records the exit; wait until it has released the rootfs.
            let mut life = ctr.life.subscribe();
            let _ =
                tokio::time::timeout(Duration::from_secs(30), life.wait_for(|l| !l.running)).await;
        }
        self.reset_restart_policy(&ctr);
        self.start_locked(&ctr).await?;
        self.container_event(&ctr.snapshot(), "restart", &[]);
        Ok(())
    }

    pub async fn container_kill(&self, key: &str, signal: Option<&str>) -> Result<()> {
        let ctr = self.lookup(key)?;
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => signals::parse(s)?,
            None => libc::SIGKILL,
        };
        if !ctr.snapshot().state.running() {
            return Err(Error::conflict(format!(
                "Cannot kill container: {key}: Container {} is not running",
                ctr.id
            )));
        }
        if sig != libc::SIGKILL {
            // Any other signal is only delivered, as dockerd's `killWithSignal`.
            return self.signal(&ctr, sig, false).await;
        }
        // SIGKILL is dockerd's `Kill`: the answer comes once the container has exited and its
        // exit is recorded, so an inspect right after shows `exited` and 137.
        let mut life = ctr.life.subscribe();
        let exits = life.borrow().exits;
        self.signal(&ctr, sig, false).await?;
        let exited = |l: &crate::daemon::Lifecycle| l.exits > exits || !l.running;
        if tokio::time::timeout(KILL_EXIT_TIMEOUT, life.wait_for(exited))
            .await
            .is_err()
        {
            tracing::warn!(container = %ctr.id, "no exit seen after SIGKILL");
        }
        Ok(())
    }

    pub async fn container_wait(
        &self,
        key: &str,
        condition: WaitCondition,
    ) -> Result<Pin<Box<dyn std::future::Future<Output = ContainerWaitResponse> + Send>>> {
        let ctr = self.lookup(key)?;
        let mut life = ctr.life.subscribe();
        let start = life.borrow().clone();
        let fut = async move {
            let done = match condition {
                // A restart by policy ends the wait too, as dockerd's stop waiters.
                WaitCondition::NotRunning => life
                    .wait_for(|l| !l.running || l.removed || l.exits > start.exits)
                    .await
                    .map(|l| l.clone()),
                WaitCondition::NextExit => life
                    .wait_for(|l| l.exits > start.exits || l.removed)
                    .await
                    .map(|l| l.clone()),
                WaitCondition::Removed => life.wait_for(|l| l.removed).await.map(|l| l.clone()),
            };
            let l = done.unwrap_or_else(|_| life.borrow().clone());
            ContainerWaitResponse {
                status_code: l.exit_code,
                error: l.error.map(|m| ContainerWaitExitError { message: Some(m) }),
            }
        };
        Ok(Box::pin(fut))
    }

    #[tracing::instrument(level = "debug", name = "rm", skip_all)]
    pub async fn container_remove(&self, key: &str, opts: RemoveOptions) -> Result<()> {
        if opts.link {
            return Box::pin(self.container_remove_link(key)).await;
        }
        let ctr = self.lookup(key)?;
        let _op = ctr.op.lock().await;
        let c = ctr.snapshot();
        let mut released = false;
        if c.state.running() {
            if !opts.force {
                let what = if c.state.status == Status::Restarting {
                    "restarting"
                } else {
                    "running"
                };
                return Err(Error::conflict(format!(
                    "cannot remove container \"{}\": container is {what}: stop the container before removing or force remove",
                    c.name
                )));
            }
            // dockerd's `rm -f` kills at once (no stop signal first). The layer goes with the
            // container, so the exit's release need not sync it.
            ctr.discarding.store(true, Ordering::SeqCst);
            // In its own PID namespace the container dies with its init (the kernel kills the
            // rest before init's exit is reported), so init alone gets the SIGKILL, as dockerd
            // and `runc delete -f` do; the runtime then has no cgroup to freeze and list. A
            // shared namespace (a pod's) gets every process of the cgroup killed.
            let all = !owns_pid_namespace(&c);
            if let Err(e) = self
                .signal(&ctr, libc::SIGKILL, all)
                .instrument(tracing::debug_span!("kill"))
                .await
            {
                ctr.discarding.store(false, Ordering::SeqCst);
                return Err(e);
            }
            let mut life = ctr.life.subscribe();
            // The monitor records the exit and releases the network and rootfs before it
            // clears `running`: then the removal has nothing of the run left to release.
            released = tokio::time::timeout(Duration::from_secs(30), life.wait_for(|l| !l.running))
                .instrument(tracing::debug_span!("wait_exit"))
                .await
                .is_ok_and(|r| r.is_ok());
            // The monitor's auto-remove needs the op lock we hold; it will find the container gone.
        }
        if !self
            .containers
            .read()
            .map(|m| m.contains_key(&ctr.id))
            .unwrap_or(false)
        {
            return Ok(());
        }
        self.remove_released_locked(&ctr, released).await?;
        if opts.volumes {
            self.remove_anonymous_volumes(&volume_names(&c));
        }
        Ok(())
    }

    /// Removes a stopped container whose op lock the caller holds.
    pub(crate) async fn remove_locked(&self, ctr: &Arc<Ctr>) -> Result<()> {
        self.remove_released_locked(ctr, false).await
    }

    /// [`Daemon::remove_locked`]; `released`: the caller has just released the network and
    /// the rootfs after the exit, so that is not done twice (runtime leftovers still are).
    #[tracing::instrument(level = "debug", name = "remove", skip_all)]
    async fn remove_released_locked(&self, ctr: &Arc<Ctr>, released: bool) -> Result<()> {
        let id = ctr.id.clone();
        if !self
            .containers
            .read()
            .map(|m| m.contains_key(&id))
            .unwrap_or(false)
        {
            return Ok(());
        }
        ctr.update(|c| c.state.status = Status::Removing);
        // Recorded, so a crash from here on is finished by the next start of berthd.
        if let Err(e) = self.repo.save(&ctr.snapshot()) {
            tracing::warn!(container = %id, error = %e, "recording the removal");
        }
        ctr.runtime_released().await;
        if self.has_runtime_leftovers(&id) {
            // Nothing of the container may outlive its record: its shim and processes first.
            self.purge_runtime(&id, Sweep::Socket).await;
        } else if !released {
            self.release_after_exit(&id).await;
        }
        self.images
            .remove_snapshot(&id)
            .instrument(tracing::debug_span!("remove_snapshot"))
            .await?;
        tracing::debug_span!("remove_record").in_scope(|| self.delete_record(&id))?;
        self.forget(ctr);
        Ok(())
    }

    /// Deletes the container's directory (its /etc files and logs) and its record.
    fn delete_record(&self, id: &str) -> Result<()> {
        let dir = self.container_dir(id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(Error::internal(format!("removing {}: {e}", dir.display())));
            }
        }
        self.repo.delete(id)
    }

    /// A removed container leaves the daemon: lookups, its execs, `destroy`, the `removed`
    /// waiters.
    fn forget(&self, ctr: &Arc<Ctr>) {
        if let Ok(mut m) = self.containers.write() {
            m.remove(&ctr.id);
        }
        if let Ok(mut execs) = self.execs.lock() {
            execs.retain(|_, e| e.container_id != ctr.id);
        }
        self.container_event(&ctr.snapshot(), "destroy", &[]);
        ctr.life.send_modify(|l| l.removed = true);
    }

    pub async fn container_rename(&self, key: &str, new_name: &str) -> Result<()> {
        let ctr = self.lookup(key)?;
        crate::container::names::check(new_name)?;
        let new = format!("/{}", new_name.trim_start_matches('/'));
        let old = ctr.snapshot().name;
        if old == new {
            return Err(Error::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        if let Some(owner) = self.repo.name_owner(&new)? {
            return Err(name_conflict(&new, &owner));
        }
        ctr.update(|c| c.name = new.clone());
        if let Err(e) = self.repo.save(&ctr.snapshot()) {
            ctr.update(|c| c.name = old);
            return Err(e);
        }
        self.dns.rename(&ctr.id, &new);
        self.container_event(&ctr.snapshot(), "rename", &[("oldName", old)]);
        Ok(())
    }

    pub async fn container_resize(&self, key: &str, height: u16, width: u16) -> Result<()> {
        let ctr = self.lookup(key)?;
        if !ctr.snapshot().state.running() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                ctr.id
            )));
        }
        let c = ctr.snapshot();
        // Without a terminal there is nothing to resize; dockerd's containerd ignores it and
        // answers 200 (with the event) all the same.
        if c.tty() {
            if let Response::Error { message } = shim::simple(
                &self.shim_socket(&ctr.id),
                &Request::Resize { height, width },
            )
            .await?
            {
                return Err(Error::internal(message));
            }
        }
        self.container_event(
            &c,
            "resize",
            &[("height", height.to_string()), ("width", width.to_string())],
        );
        Ok(())
    }
}

/// Whether the container's init is PID 1 of a namespace of its own (berthd gives every
/// container one, unless it joins a pod's or asks for another).
fn owns_pid_namespace(c: &Container) -> bool {
    !crate::sandbox::member::in_pod(c)
        && c.host_config
            .pid_mode
            .as_deref()
            .is_none_or(|m| m.is_empty() || m == "private")
}

/// The volumes a container's mounts name.
fn volume_names(c: &Container) -> Vec<String> {
    c.mount_points
        .iter()
        .filter_map(|m| m.volume_name().map(str::to_string))
        .collect()
}

pub(crate) fn name_conflict(name: &str, owner: &str) -> Error {
    Error::conflict(format!(
        "Conflict. The container name \"{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

/// dockerd's wrapping of a runtime create failure.
fn start_error(message: &str) -> Error {
    let msg = format!(
        "failed to create task for container: failed to create shim task: OCI runtime create failed: {message}: unknown"
    );
    if exit_code_for_start_error(message) != 128 {
        Error::invalid(msg)
    } else {
        Error::internal(msg)
    }
}

/// The exit code dockerd records for a container that failed to start.
fn exit_code_for_start_error(message: &str) -> i64 {
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        128
    }
}

/// How long a run lasted, from its RFC 3339 start and end (zero when either is unknown).
pub(crate) fn run_time(started: Option<&str>, finished: Option<&str>) -> Duration {
    let parse = |t: Option<&str>| t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    match (parse(started), parse(finished)) {
        (Some(s), Some(f)) => (f - s).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

pub(crate) fn read_exit_file(path: &std::path::Path) -> Option<ExitStatus> {
    let data = std::fs::read(path).ok()?;
    serde_json::from_slice(&data).ok()
}

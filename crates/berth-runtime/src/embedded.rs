//! [`Runtime`] in-process, with youki's `libcontainer` (feature `embedded`).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::error::LibcontainerError;
use libcontainer::process::container_intermediate_process::{
    set_cgroup_applied_ahead, set_unmanaged_cgroup_dirs,
};
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::Spec;

use crate::backend::{ProcessIo, Result, Runtime, RuntimeError, Spawned, Stdio};
use crate::cgroup_ahead;
use crate::cgroupfs::{self, Joined};
use crate::console::{receive_fd, ConsoleSocket};
use crate::exec_check::check_executable;
use crate::seccomp_cache::{self, SeccompCache};
use crate::shim_proto::CgroupMade;
use crate::workdir::WorkDir;

/// The embedded runtime; `root` holds its per-container state, as runc's `--root`.
#[derive(Debug, Clone)]
pub struct EmbeddedRuntime {
    root: PathBuf,
    seccomp_cache: Option<SeccompCache>,
    cgroup_mounts: Option<String>,
    cgroup_made: Option<CgroupMade>,
}

impl EmbeddedRuntime {
    pub fn new(root: impl Into<PathBuf>) -> EmbeddedRuntime {
        EmbeddedRuntime {
            root: root.into(),
            seccomp_cache: None,
            cgroup_mounts: None,
            cgroup_made: None,
        }
    }

    /// berthd made this cgroup and applied its resources ([`crate::cgroup_ahead`]).
    pub fn with_cgroup_made(mut self, made: Option<CgroupMade>) -> EmbeddedRuntime {
        self.cgroup_made = made;
        self
    }

    /// Whether berthd made the container's cgroup as `spec` asks; a cgroup it made for
    /// another path or other resources is removed, for libcontainer to make afresh.
    fn cgroup_made_for(&self, id: &str, spec: &Spec) -> bool {
        let Some(made) = &self.cgroup_made else {
            return false;
        };
        if cgroup_ahead::made_for(made, spec) {
            return true;
        }
        tracing::warn!("the cgroup made ahead is not the spec's; made again");
        cgroup_ahead::remove(&made.path, id);
        false
    }

    /// The host's cgroup mounts as [`cgroupfs::cgroup_lines`] of mountinfo, read once by
    /// berthd; None: each operation reads /proc/self/mountinfo.
    pub fn with_cgroup_mounts(mut self, lines: Option<String>) -> EmbeddedRuntime {
        self.cgroup_mounts = lines;
        self
    }

    /// Compiled seccomp programs are kept in, and loaded from, `dir` (see [`crate::seccomp_cache`]).
    pub fn with_seccomp_cache(mut self, dir: Option<PathBuf>) -> EmbeddedRuntime {
        self.seccomp_cache = dir.map(SeccompCache::new);
        self
    }

    fn builder(&self, id: &str) -> Result<ContainerBuilder> {
        std::fs::create_dir_all(&self.root).map_err(|e| other("creating the runtime root", e))?;
        ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_executor(crate::workload::WorkloadExecutor)
            .with_root_path(&self.root)
            .map_err(lc_error)
    }

    /// [`Runtime::start`] when it forks nothing, so that the caller may run it in its own
    /// process: None, having done nothing, when the container has poststart hooks, which
    /// libcontainer runs as child processes (and waits for; a caller reaping every child, as
    /// the shim does, would take their exit statuses).
    pub fn start_forking_nothing(&self, id: &str) -> Option<Result<()>> {
        let hooks = self.hooks(id)?;
        if hooks
            .as_ref()
            .is_some_and(|h| h.poststart().as_ref().is_some_and(|v| !v.is_empty()))
        {
            return None;
        }
        Some(self.start(id))
    }

    /// [`Runtime::delete`] when it forks nothing (see [`Self::start_forking_nothing`]): None,
    /// having done nothing, when the container has poststop hooks.
    pub fn delete_forking_nothing(&self, id: &str, force: bool) -> Option<Result<()>> {
        let hooks = self.hooks(id)?;
        if hooks
            .as_ref()
            .is_some_and(|h| h.poststop().as_ref().is_some_and(|v| !v.is_empty()))
        {
            return None;
        }
        Some(self.delete(id, force))
    }

    /// The hooks libcontainer kept for container `id`; None when its config cannot be read
    /// (the operation then takes the caller's general path, which reports the error).
    fn hooks(&self, id: &str) -> Option<Option<oci_spec::runtime::Hooks>> {
        libcontainer::config::YoukiConfig::load(self.root.join(id))
            .ok()
            .map(|c| c.hooks)
    }

    fn load(&self, id: &str) -> Result<Container> {
        let dir = self.root.join(id);
        if !dir.exists() {
            return Err(RuntimeError::NoSuchContainer(id.to_string()));
        }
        Container::load(dir).map_err(lc_error)
    }
}

/// Stdio fds for the builder: the given ones, /dev/null for the rest. A terminal's console
/// socket goes in `work`, made here when the caller has none.
fn with_io(
    mut b: ContainerBuilder,
    io: ProcessIo,
    work: &mut Option<WorkDir>,
) -> Result<(ContainerBuilder, Option<ConsoleSocket>)> {
    match io {
        ProcessIo::Pipes(Stdio {
            stdin,
            stdout,
            stderr,
        }) => {
            b = b
                .with_stdin(or_null(stdin)?)
                .with_stdout(or_null(stdout)?)
                .with_stderr(or_null(stderr)?);
            Ok((b, None))
        }
        ProcessIo::Terminal => {
            let work = match work {
                Some(w) => w,
                None => work.insert(WorkDir::new().map_err(|e| other("creating a temp dir", e))?),
            };
            let socket = ConsoleSocket::bind(&work.join("console.sock"))
                .map_err(|e| RuntimeError::Other(e.to_string()))?;
            b = b.with_console_socket(Some(socket.path()));
            Ok((b, Some(socket)))
        }
    }
}

fn or_null(fd: Option<OwnedFd>) -> Result<OwnedFd> {
    match fd {
        Some(fd) => Ok(fd),
        None => File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|e| other("/dev/null", e)),
    }
}

/// The pty master libcontainer sent while building (it connected before `build` returned).
fn take_console(socket: Option<ConsoleSocket>) -> Result<Option<OwnedFd>> {
    let Some(socket) = socket else {
        return Ok(None);
    };
    let stream = socket
        .accept_within(std::time::Duration::from_secs(5))
        .map_err(|e| RuntimeError::Other(e.to_string()))?
        .ok_or_else(|| RuntimeError::Other("the runtime sent no pty master".into()))?;
    receive_fd(&stream)
        .map(Some)
        .map_err(|e| RuntimeError::Other(e.to_string()))
}

/// The spec to hand libcontainer for `bundle`'s on this host: on a v1 or hybrid host its
/// `cgroup` mount is presented as runc does (see [`cgroupfs`]). Also returns the spec's
/// `linux.cgroupsPath` and the mount the init makes read-only after its binds. The spec
/// goes to libcontainer in memory (`with_spec`): nothing is written, and the file is not
/// parsed a second time.
fn prepare_spec(
    mut spec: Spec,
    host: &cgroupfs::Host,
) -> Result<(Spec, Option<String>, Option<PathBuf>)> {
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    let seal = match cgroupfs::present(&mut spec, host).map_err(|e| other("cgroup mounts", e))? {
        cgroupfs::Presentation::Unchanged => None,
        cgroupfs::Presentation::Rewritten { seal } => seal,
    };
    Ok((spec, cgroups_path, seal))
}

/// Puts the calling process in the container's cgroups of the hierarchies libcontainer does
/// not manage, for as long as the result lives (see [`cgroupfs::Joined`]).
fn join_unmanaged(host: &cgroupfs::Host, cgroups_path: Option<&str>) -> Result<Option<Joined>> {
    match cgroups_path {
        Some(p) if !host.unmanaged().is_empty() => Joined::new(host, p)
            .map(Some)
            .map_err(|e| other("joining the container's cgroups", e)),
        _ => Ok(None),
    }
}

/// `linux.cgroupsPath` of the spec at `path`, without building the whole spec (its seccomp
/// profile alone is hundreds of strings): a delete needs nothing else from it.
fn spec_cgroups_path(path: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct SpecLinux {
        linux: Option<Linux>,
    }
    #[derive(serde::Deserialize)]
    struct Linux {
        #[serde(rename = "cgroupsPath")]
        cgroups_path: Option<String>,
    }
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice::<SpecLinux>(&text)
        .ok()?
        .linux?
        .cgroups_path
}

fn other(what: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other(format!("{what}: {e}"))
}

/// This process's cgroup mounts: `given` (berthd's [`cgroupfs::cgroup_lines`], read once), or
/// one read of /proc/self/mountinfo. libcgroups is handed the same text: it answers from it
/// here and in the processes libcontainer clones from this one (its intermediate and the init),
/// which would otherwise read and parse the host's whole mount table three times more per
/// create. That table grows by each running container's mounts: at 100 containers a read and
/// parse costs about 1 ms. Runtime calls run in a short-lived helper process.
fn host_cgroups(given: Option<&str>) -> Result<cgroupfs::Host> {
    let read;
    let text = match given {
        Some(text) => text,
        None => {
            read = std::fs::read_to_string("/proc/self/mountinfo")
                .map_err(|e| other("reading /proc/self/mountinfo", e))?;
            &read
        }
    };
    // A line libcgroups cannot parse leaves it reading the table itself, as before.
    if let Err(e) = libcgroups::v1::util::remember_mountinfo(text) {
        tracing::debug!(error = %e, "libcgroups keeps reading mountinfo itself");
    }
    Ok(cgroupfs::Host::parse(text))
}

fn lc_error(e: LibcontainerError) -> RuntimeError {
    // An exec's failure arrives through a pipe read in 3-byte chunks, NUL-padded.
    crate::external::classify(e.to_string().trim_end_matches('\0'))
}

impl Runtime for EmbeddedRuntime {
    fn create(&self, id: &str, bundle: &Path, io: ProcessIo) -> Result<Spawned> {
        let prepare = tracing::debug_span!("rt_prepare").entered();
        let spec =
            Spec::load(bundle.join("config.json")).map_err(|e| other("loading config.json", e))?;
        check_executable(&spec, bundle)?;
        seccomp_cache::prepare(self.seccomp_cache.as_ref(), &spec);
        let host = host_cgroups(self.cgroup_mounts.as_deref())?;
        let (spec, cgroups_path, seal) = prepare_spec(spec, &host)?;
        // The init joins the hierarchies libcontainer does not manage where it joins the others
        // (by the shim's own hand beside the init's setup when the cgroup was made ahead).
        let unmanaged = match &cgroups_path {
            Some(p) => cgroupfs::make_unmanaged_dirs(&host, p)
                .map_err(|e| other("the container's cgroups", e))?,
            None => Vec::new(),
        };
        set_unmanaged_cgroup_dirs(unmanaged);
        // Only a terminal's console socket needs a temp dir.
        let mut work = None;
        let (builder, console) = with_io(self.builder(id)?, io, &mut work)?;
        let made_ahead = self.cgroup_made_for(id, &spec);
        // The cgroup tmpfs goes read-only in the init itself, once its binds are in place.
        libcontainer::rootfs::set_read_only_after_mounts(seal);
        set_cgroup_applied_ahead(made_ahead);
        drop(prepare);
        let build = tracing::debug_span!("rt_libcontainer_build").entered();
        let built = builder
            .as_init(bundle)
            .with_spec(spec)
            .with_systemd(false)
            .with_detach(true)
            .build();
        drop(build);
        set_cgroup_applied_ahead(false);
        set_unmanaged_cgroup_dirs(Vec::new());
        let container = built.map_err(|e| {
            // libcontainer may leave its state behind on failure; nothing half-made stays.
            if let Ok(mut c) = self.load(id) {
                let _ = c.delete(true);
            }
            if let Some(p) = &cgroups_path {
                let _ = cgroupfs::remove_unmanaged(&host, p);
            }
            lc_error(e)
        })?;
        let pid = container
            .pid()
            .ok_or_else(|| RuntimeError::Other("created container has no pid".into()))?;
        let pty_master = match take_console(console) {
            Ok(m) => m,
            Err(e) => {
                let _ = self.delete(id, true);
                return Err(e);
            }
        };
        Ok(Spawned {
            pid: pid.as_raw(),
            pty_master,
        })
    }

    fn start(&self, id: &str) -> Result<()> {
        let _span = tracing::debug_span!("rt_start").entered();
        self.load(id)?.start().map_err(lc_error)
    }

    fn exec(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        io: ProcessIo,
    ) -> Result<Spawned> {
        let container = self.load(id)?;
        let mut process = process.clone();
        if process.no_new_privileges() == Some(false) {
            // libcontainer reads an explicit `false` as "set" (see crate::spec).
            process.set_no_new_privileges(None);
        }
        let process = &process;
        let mut spec = Spec::load(container.bundle().join("config.json"))
            .map_err(|e| other("loading config.json", e))?;
        spec.set_process(Some(process.clone()));
        check_executable(&spec, container.bundle())?;
        seccomp_cache::prepare(self.seccomp_cache.as_ref(), &spec);
        let work = WorkDir::new().map_err(|e| other("creating a temp dir", e))?;
        let process_json = work.join("process.json");
        let file = File::create(&process_json).map_err(|e| other("writing process.json", e))?;
        serde_json::to_writer(file, process).map_err(|e| other("writing process.json", e))?;
        let host = host_cgroups(self.cgroup_mounts.as_deref())?;
        let cgroups_path = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        let joined = join_unmanaged(&host, cgroups_path.as_deref())?;
        let mut work = Some(work);
        let (builder, console) = with_io(self.builder(id)?, io, &mut work)?;
        let pid = builder
            .as_tenant()
            .with_detach(true)
            .with_process(Some(&process_json))
            .build();
        drop(joined);
        let pid = pid.map_err(lc_error)?;
        let pty_master = take_console(console)?;
        Ok(Spawned {
            pid: pid.as_raw(),
            pty_master,
        })
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let signal = Signal::try_from(signal).map_err(|e| RuntimeError::Other(e.to_string()))?;
        self.load(id)?.kill(signal, all).map_err(lc_error)
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut container = self.load(id)?;
        let cgroups_path = spec_cgroups_path(&container.bundle().join("config.json"));
        let host = host_cgroups(self.cgroup_mounts.as_deref())?;
        let lc_delete = tracing::debug_span!("rt_libcontainer_delete").entered();
        container.delete(force).map_err(lc_error)?;
        drop(lc_delete);
        if let Some(p) = cgroups_path {
            let _span = tracing::debug_span!("rt_remove_unmanaged_cgroups").entered();
            cgroupfs::remove_unmanaged(&host, &p).map_err(|e| other("removing cgroups", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::LinuxBuilder;

    use super::*;

    const MOUNTINFO: &str = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
33 31 0:28 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
35 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
36 31 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
";

    /// The vendored libcgroups' `remember_mountinfo` (see vendor/libcgroups/BERTH-PATCH.md):
    /// once handed a mountinfo text, its v1 mount points come from it, only the first text
    /// counts, and a text that is not mountinfo is refused.
    #[test]
    fn libcgroups_answers_from_the_remembered_mountinfo() {
        use libcgroups::v1::util;
        use libcgroups::v1::ControllerType;
        assert!(util::remember_mountinfo("not a mountinfo line").is_err());
        util::remember_mountinfo(MOUNTINFO).expect("a mountinfo text");
        let points = util::cgroup_mount_points().expect("the remembered points");
        assert_eq!(
            points,
            vec![
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"),
                PathBuf::from("/sys/fs/cgroup/memory")
            ]
        );
        assert_eq!(
            util::get_subsystem_mount_point(&ControllerType::CpuAcct).expect("cpuacct's mount"),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        util::remember_mountinfo("40 31 0:40 / /elsewhere rw - cgroup cgroup rw,pids\n")
            .expect("a mountinfo line");
        assert_eq!(
            util::cgroup_mount_points().expect("the remembered points"),
            points
        );
    }

    #[test]
    fn cgroups_path_read_without_the_whole_spec_matches_the_spec() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.json");
        // The default spec (namespaces, masked paths, ...) with a cgroups path.
        let mut spec = Spec::default();
        let mut linux = spec.linux().clone().unwrap_or_default();
        linux.set_cgroups_path(Some("/berth/abc".into()));
        spec.set_linux(Some(linux));
        spec.save(&path).expect("save the spec");
        assert_eq!(spec_cgroups_path(&path).as_deref(), Some("/berth/abc"));

        let mut spec = Spec::default();
        spec.set_linux(Some(LinuxBuilder::default().build().expect("linux")));
        spec.save(&path).expect("save the spec");
        let without = Spec::load(&path).expect("load the spec");
        assert!(without
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .is_none());
        assert_eq!(spec_cgroups_path(&path), None);
        assert_eq!(spec_cgroups_path(&dir.path().join("missing.json")), None);
    }

    /// The vendored libcontainer's `directory_in` (vendor/libcontainer/BERTH-PATCH.md, sixth
    /// change): a mount destination is made with one mkdirat only when its parent resolves
    /// inside the root and only the last, plain component is missing; anything else (a link in
    /// the way, a missing parent, `..`) is left to pathrs's mkdir_all. Never outside the root.
    #[test]
    fn mount_destinations_are_made_inside_the_root() {
        use libcontainer::rootfs::directory_in;
        use std::os::unix::fs::symlink;
        let host = tempfile::tempdir().expect("tempdir");
        let outside = host.path().join("outside");
        let rootfs = host.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("dev")).expect("dev");
        symlink("/", rootfs.join("up")).expect("up");
        symlink(outside.join("target"), rootfs.join("dev/abs")).expect("abs");
        symlink("../../../outside/rel", rootfs.join("dev/rel")).expect("rel");
        let root = pathrs::Root::open(&rootfs).expect("root");
        let inside = |p: &str| rootfs.join(p);

        assert!(
            directory_in(&root, Path::new("/dev")).is_some(),
            "an existing directory"
        );
        assert!(directory_in(&root, Path::new("/dev/mqueue")).is_some());
        assert!(inside("dev/mqueue").is_dir(), "made in its parent");
        // Through a link to `/`: the rootfs's own /dev.
        assert!(directory_in(&root, Path::new("/up/dev/shm")).is_some());
        assert!(inside("dev/shm").is_dir());
        // A link as the last component, absolute or climbing out: left to mkdir_all.
        assert!(directory_in(&root, Path::new("/dev/abs")).is_none());
        assert!(directory_in(&root, Path::new("/dev/rel")).is_none());
        // A file as the last component: not a directory, left to mkdir_all (which refuses it).
        std::fs::write(rootfs.join("dev/file"), b"").expect("file");
        assert!(directory_in(&root, Path::new("/dev/file")).is_none());
        // A missing parent, and `..` through one: left to mkdir_all too.
        assert!(directory_in(&root, Path::new("/no/such")).is_none());
        assert!(directory_in(&root, Path::new("/no/..")).is_none());
        // `..` above the root is the root.
        assert!(directory_in(&root, Path::new("/dev/../..")).is_some());
        assert!(!inside("no").exists());
        assert!(!outside.exists(), "nothing made outside the root");
    }
}

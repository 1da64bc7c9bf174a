//! The pod holder started by berthd itself, without a shim or an OCI runtime: `berth-init
//! --pause` is a static binary that needs no image rootfs, so berthd clones it straight into
//! the pod's new IPC, UTS (and PID) namespaces, joins it to the pinned network namespace, its
//! cgroup and its sysctls, and execs it from a shared, empty, read-only mount namespace with no
//! capabilities left.
//!
//! - **Namespaces.** `clone3` with `CLONE_NEWIPC`, `CLONE_NEWUTS` (not on the host network)
//!   and `CLONE_NEWPID` (not with `pid: NODE`); the child then enters the netns pinned at
//!   `<exec-root>/pods/<id>/netns`, sets the hostname, writes the pod's sysctls under
//!   `/proc/sys` (they apply to the namespaces the writer is in) and joins its cgroup.
//! - **Mounts.** The holder needs no files: it joins a mount namespace holding one empty,
//!   read-only tmpfs as its root (made once per berthd by a short helper, kept as a file
//!   descriptor, shared by every holder it starts) and is exec'd by descriptor. A container
//!   sharing the pod's PID namespace sees in `/proc/1/root` nothing of the host.
//! - **Privileges.** The bounding, ambient and inheritable capability sets are emptied and
//!   `no_new_privs` set before the exec, so `berth-init` runs with none.
//! - **Cgroup.** `<cgroup parent>/<sandbox id>` (berth's `/berth/<id>` without a parent) in
//!   every hierarchy, made before the clone (a v1 cpuset level gets its parent's CPUs and
//!   memory nodes, as runc does) and removed once the holder is gone.
//! - **Finding it again.** The record keeps the holder's pid and its start time
//!   (`/proc/<pid>/stat` field 22), so a restarted berthd recognises it, and never a process
//!   that reused its pid.
//! - **Stopping.** SIGKILL through a pidfd (the holder keeps no data), then the exit is awaited
//!   on the pidfd. While berthd runs the holder is its child, reaped by a task of its own;
//!   after a restart of berthd it is init's.
//!
//! Anything failing before the exec is reported by the child on a close-on-exec pipe (the step
//! and errno); the parent reaps it and removes the cgroups it made.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use berth_runtime::cgroupfs::{relative_cgroup, Host};
use berth_types::{Error, Result};

/// What the holder is started with.
pub(super) struct HolderSpec {
    /// The static `berth-init`.
    pub binary: PathBuf,
    /// The pinned network namespace; `None` on the host's network.
    pub netns: Option<PathBuf>,
    pub new_ipc: bool,
    pub new_uts: bool,
    pub new_pid: bool,
    /// Set in the new UTS namespace.
    pub hostname: String,
    pub sysctls: BTreeMap<String, String>,
    /// `linux.cgroupsPath`-like: `/<parent>/<id>`.
    pub cgroup: String,
    /// Where the helper making the shared mount namespace mounts its tmpfs (in its own copy
    /// of the mount table): any existing directory.
    pub scratch_dir: PathBuf,
}

/// A running holder.
pub(super) struct Started {
    pub pid: i32,
    /// Its start time in clock ticks since boot.
    pub start_time: u64,
}

/// The steps the child reports a failure of.
const STEPS: &[&str] = &[
    "setsid",
    "redirecting stdio",
    "joining the network namespace",
    "setting the hostname",
    "setting a sysctl",
    "joining the cgroup",
    "joining the holder's mount namespace",
    "dropping capabilities",
    "setting no_new_privs",
    "exec",
];

/// Refuses sysctls the holder's namespaces do not isolate, as libcontainer's validation
/// (its words): IPC ones need the pod's IPC namespace, `net.*` its network namespace,
/// `kernel.hostname` conflicts with the hostname, and anything else is the host's.
pub(super) fn check_sysctls(spec: &HolderSpec) -> Result<()> {
    for key in spec.sysctls.keys() {
        let s = key.replace('/', ".");
        let refused = if berth_types::gocompat::sysctl::ipc_namespaced(&s) {
            (!spec.new_ipc).then(|| format!("sysctl {s} is not allowed in the hosts ipc namespace"))
        } else if s.starts_with("net.") {
            spec.netns
                .is_none()
                .then(|| format!("sysctl {s} not allowed in host network namespace"))
        } else if spec.new_uts && s == "kernel.domainname" {
            None
        } else if spec.new_uts && s == "kernel.hostname" {
            Some(format!(
                "sysctl {s} is not allowed as it conflicts with the OCI hostname field"
            ))
        } else {
            Some(format!("sysctl {s} is not in a separate kernel namespace"))
        };
        if let Some(m) = refused {
            return Err(Error::invalid(m));
        }
    }
    Ok(())
}

/// `/proc/<pid>/stat`'s state letter and start time (field 22), `None` when it is gone.
pub(super) fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold anything: fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3) come fields 4..; the start time is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

/// Whether the holder `pid` started at `start_time` still runs (a zombie does not).
pub(super) fn alive(pid: i32, start_time: u64) -> bool {
    pid > 0 && matches!(proc_stat(pid), Some((s, t)) if t == start_time && s != 'Z' && s != 'X')
}

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("{what} {}: {e}", path.display()))
}

fn cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(format!("{} holds a NUL byte", p.display())))
}

fn open(path: &Path, flags: libc::c_int) -> Result<OwnedFd> {
    let c = cstring(path)?;
    // SAFETY: c is a NUL-terminated path; the descriptor returned is owned by the caller.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io_err("opening", path, std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The pod's cgroup directory in each hierarchy, made (with the cpuset of a v1 cpuset
/// hierarchy filled from its parent at each new level). Returns the directories made or found.
fn make_cgroups(cgroup: &str) -> Result<Vec<PathBuf>> {
    let rel = relative_cgroup(cgroup).map_err(|e| Error::invalid(e.to_string()))?;
    let host = Host::current().map_err(|e| Error::internal(e.to_string()))?;
    let mut dirs = Vec::new();
    for h in &host.hierarchies {
        let cpuset = !h.v2 && h.options.iter().any(|o| o == "cpuset");
        let mut dir = h.mount_point.clone();
        for part in rel.components() {
            let parent = dir.clone();
            dir.push(part);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err("creating the cgroup", &dir, e)),
            }
            if cpuset {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    let mine = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
                    if mine.trim().is_empty() {
                        let theirs = std::fs::read_to_string(parent.join(file))
                            .map_err(|e| io_err("reading", &parent.join(file), e))?;
                        std::fs::write(dir.join(file), theirs.trim())
                            .map_err(|e| io_err("writing", &dir.join(file), e))?;
                    }
                }
            }
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

/// Removes the pod's cgroup (the leaf only: the parent is kubelet's) from every hierarchy,
/// waiting a moment for an exiting holder to leave it.
pub(super) async fn remove_cgroups(cgroup: &str) {
    let Ok(rel) = relative_cgroup(cgroup) else {
        return;
    };
    let Ok(host) = Host::current() else {
        return;
    };
    for h in &host.hierarchies {
        let dir = h.mount_point.join(&rel);
        let mut pause = Duration::from_millis(1);
        for _ in 0..40 {
            match std::fs::remove_dir(&dir) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::warn!(cgroup = %dir.display(), error = %e, "removing the holder's cgroup");
                    break;
                }
                _ => break,
            }
        }
    }
}

/// The shared mount namespace of holders (see the module documentation), made on first use.
fn holder_mntns(scratch: &Path) -> Result<RawFd> {
    static NS: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = NS.get() {
        return Ok(fd.as_raw_fd());
    }
    let made = make_mntns(scratch)?;
    // Two first users may both make one: the second is dropped.
    Ok(NS.get_or_init(|| made).as_raw_fd())
}

/// Two pipes' ends, close-on-exec.
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::internal(format!("pipe: {e}")))
}

/// `clone3` with `flags`, SIGCHLD on exit and, with `pidfd`, a pidfd of the child; fork
/// semantics otherwise (no shared memory). Returns 0 in the child.
///
/// # Safety
/// In a multithreaded process the child may only make async-signal-safe calls (raw system
/// calls on memory prepared before) until it execs or `_exit`s.
unsafe fn clone3(flags: u64, pidfd: Option<&mut libc::c_int>) -> libc::c_long {
    // SAFETY: clone_args is plain data; zero is "unused" for every field.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags;
    args.exit_signal = libc::SIGCHLD as u64;
    if let Some(p) = pidfd {
        args.flags |= libc::CLONE_PIDFD as u64;
        args.pidfd = p as *mut libc::c_int as u64;
    }
    // SAFETY: args is a valid clone_args of the size given; without CLONE_VM the child runs on
    // a copy of this stack, which the caller's contract keeps it safe on.
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    }
}

/// Reports `(step, errno)` on `fd` and exits: the child's end after a failure.
fn child_fail(fd: RawFd, step: usize) -> ! {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&(step as u32).to_ne_bytes());
    buf[4..].copy_from_slice(&errno.to_ne_bytes());
    // SAFETY: write and _exit are async-signal-safe; buf lives on this stack.
    unsafe {
        libc::write(fd, buf.as_ptr().cast(), buf.len());
        libc::_exit(127)
    }
}

/// Reads the child's report: `None` when the pipe closed empty (it exec'd), else the step that
/// failed and its error.
fn read_report(fd: OwnedFd) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::from(fd);
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    if buf.len() < 8 {
        return None;
    }
    let step = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Some(format!(
        "{}: {}",
        STEPS.get(step).copied().unwrap_or("starting"),
        std::io::Error::from_raw_os_error(errno)
    ))
}

fn reap(pid: libc::pid_t) {
    // SAFETY: waiting for our own child; a null status pointer is allowed.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
}

/// The helper: a child in a copy of berthd's mount namespace pivots into an empty tmpfs
/// mounted on `scratch`, makes it read-only, says so and waits; its namespace is then opened
/// and it is let go.
fn make_mntns(scratch: &Path) -> Result<OwnedFd> {
    let scratch = cstring(scratch)?;
    let (ready_r, ready_w) = pipe()?;
    let (hold_r, hold_w) = pipe()?;
    let dot = c".";
    let root = c"/";
    let tmpfs = c"tmpfs";
    let data = c"mode=0555,size=4k";
    // SAFETY: the child below makes raw system calls only, on memory prepared above.
    let pid = unsafe { clone3(libc::CLONE_NEWNS as u64, None) };
    if pid < 0 {
        return Err(Error::internal(format!(
            "clone: {}",
            std::io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        let w = ready_w.as_raw_fd();
        // SAFETY: async-signal-safe system calls on NUL-terminated strings made before the
        // clone; the child never returns (it _exits).
        unsafe {
            let null: *const libc::c_char = std::ptr::null();
            let nodata: *const libc::c_void = std::ptr::null();
            let private = (libc::MS_REC | libc::MS_PRIVATE) as libc::c_ulong;
            if libc::mount(null, root.as_ptr(), null, private, nodata) != 0 {
                child_fail(w, 6);
            }
            let flags = (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as libc::c_ulong;
            if libc::mount(
                tmpfs.as_ptr(),
                scratch.as_ptr(),
                tmpfs.as_ptr(),
                flags,
                data.as_ptr().cast(),
            ) != 0
                || libc::chdir(scratch.as_ptr()) != 0
                || libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) != 0
                || libc::umount2(dot.as_ptr(), libc::MNT_DETACH) != 0
                || libc::chdir(root.as_ptr()) != 0
                || libc::mount(
                    null,
                    root.as_ptr(),
                    null,
                    flags | (libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY) as libc::c_ulong,
                    nodata,
                ) != 0
            {
                child_fail(w, 6);
            }
            // Its copy of the holding end closed, the read below ends when berthd's is.
            libc::close(hold_w.as_raw_fd());
            let one = [1u8];
            libc::write(w, one.as_ptr().cast(), 1);
            let mut b = [0u8];
            libc::read(hold_r.as_raw_fd(), b.as_mut_ptr().cast(), 1);
            libc::_exit(0);
        }
    }
    let pid = pid as libc::pid_t;
    drop(ready_w);
    drop(hold_r);
    let mut got = [0u8; 8];
    let mut f = std::fs::File::from(ready_r);
    let n = std::io::Read::read(&mut f, &mut got).unwrap_or(0);
    let ns = if n == 1 {
        open(Path::new(&format!("/proc/{pid}/ns/mnt")), libc::O_RDONLY)
    } else {
        let mut rest = got[..n].to_vec();
        let _ = std::io::Read::read_to_end(&mut f, &mut rest);
        let why = read_report_bytes(&rest);
        Err(Error::internal(format!(
            "making the holders' mount namespace: {why}"
        )))
    };
    drop(hold_w);
    reap(pid);
    ns
}

fn read_report_bytes(buf: &[u8]) -> String {
    if buf.len() < 8 {
        return "the helper exited".into();
    }
    let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
    std::io::Error::from_raw_os_error(errno).to_string()
}

/// Starts the holder (blocking: run it off the async runtime). On failure nothing is left:
/// the child is reaped and the cgroups made removed.
pub(super) fn spawn(spec: &HolderSpec) -> Result<(Started, OwnedFd)> {
    check_sysctls(spec)?;
    let mntns = holder_mntns(&spec.scratch_dir)?;
    let binary = open(&spec.binary, libc::O_RDONLY)?;
    let devnull = open(Path::new("/dev/null"), libc::O_RDWR)?;
    let netns = match &spec.netns {
        Some(p) => Some(open(p, libc::O_RDONLY)?),
        None => None,
    };
    let hostname = spec.hostname.as_bytes().to_vec();
    let mut sysctls = Vec::new();
    for (k, v) in &spec.sysctls {
        // Dots become slashes, so no key can climb out of /proc/sys.
        let path = CString::new(format!("/proc/sys/{}", k.replace('.', "/")))
            .map_err(|_| Error::invalid(format!("sysctl {k:?} holds a NUL byte")))?;
        sysctls.push((path, v.as_bytes().to_vec()));
    }
    // The capability sets as they are, with the inheritable ones emptied.
    let mut cap_header = libc_cap_header();
    let mut cap_data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array, as capget's version 3 wants.
    if unsafe { libc::syscall(libc::SYS_capget, &mut cap_header, cap_data.as_mut_ptr()) } != 0 {
        return Err(Error::internal(format!(
            "capget: {}",
            std::io::Error::last_os_error()
        )));
    }
    for d in &mut cap_data {
        d.inheritable = 0;
    }
    let argv0 = c"/pause";
    let arg1 = c"--pause";
    let argv = [argv0.as_ptr(), arg1.as_ptr(), std::ptr::null()];
    let env0 = CString::new(format!("PATH={}", crate::runtime::spec::DEFAULT_PATH))
        .map_err(|_| Error::internal("PATH holds a NUL byte"))?;
    let envp = [env0.as_ptr(), std::ptr::null()];
    let empty = c"";

    let cgroup_dirs = make_cgroups(&spec.cgroup)?;
    let undo = |msg: String| {
        for d in &cgroup_dirs {
            let _ = std::fs::remove_dir(d);
        }
        Error::internal(format!("failed to start the pod's holder: {msg}"))
    };
    let mut procs = Vec::new();
    for d in &cgroup_dirs {
        match open(&d.join("cgroup.procs"), libc::O_WRONLY) {
            Ok(fd) => procs.push(fd),
            Err(e) => return Err(undo(e.message)),
        }
    }
    let (report_r, report_w) = pipe().map_err(|e| undo(e.message))?;

    let mut flags = 0u64;
    if spec.new_ipc {
        flags |= libc::CLONE_NEWIPC as u64;
    }
    if spec.new_uts {
        flags |= libc::CLONE_NEWUTS as u64;
    }
    if spec.new_pid {
        flags |= libc::CLONE_NEWPID as u64;
    }
    let mut pidfd: libc::c_int = -1;
    // SAFETY: the child below makes raw system calls only, on memory prepared above, and
    // execs or _exits.
    let pid = unsafe { clone3(flags, Some(&mut pidfd)) };
    if pid < 0 {
        return Err(undo(format!("clone: {}", std::io::Error::last_os_error())));
    }
    if pid == 0 {
        let w = report_w.as_raw_fd();
        // SAFETY: async-signal-safe system calls on descriptors and buffers made before the
        // clone; the child execs or _exits, never returns.
        unsafe {
            if libc::setsid() < 0 {
                child_fail(w, 0);
            }
            for target in 0..3 {
                if libc::dup2(devnull.as_raw_fd(), target) < 0 {
                    child_fail(w, 1);
                }
            }
            if let Some(ns) = &netns {
                if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    child_fail(w, 2);
                }
            }
            if spec.new_uts && libc::sethostname(hostname.as_ptr().cast(), hostname.len()) != 0 {
                child_fail(w, 3);
            }
            for (path, value) in &sysctls {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 || libc::write(fd, value.as_ptr().cast(), value.len()) < 0 {
                    child_fail(w, 4);
                }
                libc::close(fd);
            }
            let zero = b"0";
            for fd in &procs {
                if libc::write(fd.as_raw_fd(), zero.as_ptr().cast(), 1) < 0 {
                    child_fail(w, 5);
                }
            }
            if libc::setns(mntns, libc::CLONE_NEWNS) != 0 {
                child_fail(w, 6);
            }
            for cap in 0..64 {
                if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0
                    && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL)
                {
                    child_fail(w, 7);
                }
            }
            if libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            ) != 0
                || libc::syscall(libc::SYS_capset, &cap_header, cap_data.as_ptr()) != 0
            {
                child_fail(w, 7);
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                child_fail(w, 8);
            }
            libc::close_range(
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
            );
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            libc::syscall(
                libc::SYS_execveat,
                binary.as_raw_fd(),
                empty.as_ptr(),
                argv.as_ptr(),
                envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            );
            child_fail(w, 9);
        }
    }
    let pid = pid as libc::pid_t;
    // SAFETY: clone3 stored a new descriptor there, ours alone.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    drop(report_w);
    if let Some(why) = read_report(report_r) {
        reap(pid);
        return Err(undo(why));
    }
    match proc_stat(pid) {
        Some((_, start_time)) => Ok((Started { pid, start_time }, pidfd)),
        None => {
            reap(pid);
            Err(undo("the holder exited at once".into()))
        }
    }
}

/// A pidfd of the holder `pid` started at `start_time`; `None` when that process is gone.
fn pidfd_of(pid: i32, start_time: u64) -> Option<OwnedFd> {
    let fd = crate::util::child::pidfd_open(pid).ok()?;
    // Checked after the open: the descriptor names the process that had the pid then.
    alive(pid, start_time).then_some(fd)
}

/// Kills the holder at once (it holds no data) and waits for it to be gone, then removes its
/// cgroup. A holder already gone is fine.
pub(super) async fn stop(pid: i32, start_time: u64, cgroup: &str) -> Result<()> {
    if let Some(fd) = pidfd_of(pid, start_time) {
        // SAFETY: a signal through our pidfd; no siginfo.
        let sent = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if sent == 0 {
            let fd = crate::util::child::watch(fd)?;
            if tokio::time::timeout(Duration::from_secs(10), fd.readable())
                .await
                .is_err()
            {
                return Err(Error::internal(format!(
                    "the pod's holder {pid} did not exit on SIGKILL"
                )));
            }
        }
    }
    remove_cgroups(cgroup).await;
    Ok(())
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

fn libc_cap_header() -> CapHeader {
    /// `_LINUX_CAPABILITY_VERSION_3`.
    const VERSION_3: u32 = 0x2008_0522;
    CapHeader {
        version: VERSION_3,
        pid: 0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test
mod tests {
    use super::*;

    fn spec(netns: bool, ipc: bool, uts: bool, keys: &[&str]) -> HolderSpec {
        HolderSpec {
            binary: PathBuf::new(),
            netns: netns.then(|| PathBuf::from("/run/x")),
            new_ipc: ipc,
            new_uts: uts,
            new_pid: true,
            hostname: String::new(),
            sysctls: keys.iter().map(|k| (k.to_string(), "1".into())).collect(),
            cgroup: "/berth/x".into(),
            scratch_dir: PathBuf::new(),
        }
    }

    #[test]
    fn sysctls_are_checked_against_the_namespaces_as_libcontainer_does() {
        assert!(check_sysctls(&spec(true, true, true, &["net.ipv4.ip_forward"])).is_ok());
        assert!(check_sysctls(&spec(true, true, true, &["kernel.shm_rmid_forced"])).is_ok());
        assert!(check_sysctls(&spec(true, true, true, &["fs.mqueue.msg_max"])).is_ok());
        assert!(check_sysctls(&spec(true, true, true, &["kernel.domainname"])).is_ok());
        let m = |s: HolderSpec| check_sysctls(&s).unwrap_err().message;
        assert_eq!(
            m(spec(false, true, false, &["net.ipv4.ip_forward"])),
            "sysctl net.ipv4.ip_forward not allowed in host network namespace"
        );
        assert_eq!(
            m(spec(true, false, true, &["kernel.shmmax"])),
            "sysctl kernel.shmmax is not allowed in the hosts ipc namespace"
        );
        assert_eq!(
            m(spec(true, true, true, &["kernel.hostname"])),
            "sysctl kernel.hostname is not allowed as it conflicts with the OCI hostname field"
        );
        assert_eq!(
            m(spec(true, true, true, &["vm.swappiness"])),
            "sysctl vm.swappiness is not in a separate kernel namespace"
        );
    }

    #[test]
    fn proc_stat_reads_state_and_start_time_past_the_command() {
        let (state, start) = proc_stat(std::process::id() as i32).unwrap();
        assert!(matches!(state, 'R' | 'S' | 'D'), "{state}");
        assert!(start > 0);
        assert_eq!(
            proc_stat(std::process::id() as i32).map(|s| s.1),
            Some(start)
        );
        assert!(alive(std::process::id() as i32, start));
        assert!(!alive(std::process::id() as i32, start + 1));
    }
}

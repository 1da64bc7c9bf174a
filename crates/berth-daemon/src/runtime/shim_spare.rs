//! The spare shim: one `berth-shim --spare` spawned ahead of need, so that a start hands its
//! container to a shim whose exec and startup are done (protocol: `berth_runtime::shim_proto`,
//! "A spare shim").
//!
//! berthd holds the spare's stdin (the write end of a close-on-exec pipe) and the read end of
//! its result pipe. A start takes the spare and writes the `shim.json` path to it; the launch
//! then spawns the next spare once the container is reported. Dropping a spare closes its stdin
//! and it exits; so does berthd's exit, so a spare never outlives the daemon that made it.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_runtime::shim_proto::{SPARE_ARG, SPARE_PATH_ROOM};

struct Spare {
    binary: PathBuf,
    pid: libc::pid_t,
    /// The spare's stdin.
    job: std::fs::File,
    /// The read end of the spare's result pipe (its fd 3) and its pidfd.
    report: crate::runtime::shim::Report,
}

static SPARE: Mutex<Option<Spare>> = Mutex::new(None);

/// Hands `config_path` to the waiting spare of `shim_binary`, returning its report (the read
/// end of its result pipe, its pidfd); None when there is no such spare (or it died), and the
/// caller spawns a shim.
pub(crate) fn hand_over(
    shim_binary: &Path,
    config_path: &Path,
) -> Option<crate::runtime::shim::Report> {
    let path = config_path.as_os_str().as_bytes();
    if path.len() >= SPARE_PATH_ROOM || path.contains(&b'\n') {
        return None;
    }
    // A spare of another binary is dropped here, and exits.
    let spare = take().filter(|s| s.binary == shim_binary)?;
    let mut line = Vec::with_capacity(path.len() + 1);
    line.extend_from_slice(path);
    line.push(b'\n');
    // Shorter than PIPE_BUF, so written whole or not at all; a spare that died fails it with
    // EPIPE (berthd ignores SIGPIPE).
    let mut job = spare.job;
    job.write_all(&line).ok()?;
    // Spawned idle: back to the normal class at once, before it reads the line, so that
    // neither its work for the container nor what it forks (the container's init too) runs
    // idle, or starves on a busy machine. The write succeeding means it is alive and not yet
    // reaped, so the pid is still its own.
    if let Err(e) = set_policy(spare.pid, libc::SCHED_OTHER) {
        tracing::warn!("spare shim {}: cannot leave SCHED_IDLE: {e}", spare.pid);
    }
    Some(spare.report)
}

/// Spawns a spare for `shim_binary` in a blocking thread unless one is waiting.
pub(crate) fn replenish(shim_binary: &Path) {
    if waiting() {
        return;
    }
    let binary = shim_binary.to_path_buf();
    tokio::task::spawn_blocking(move || {
        if waiting() {
            return;
        }
        match spawn(&binary) {
            // Should two starts have raced here, the second spare is dropped and exits.
            Ok(spare) => {
                let mut slot = SPARE.lock().unwrap_or_else(|e| e.into_inner());
                if slot.is_none() {
                    *slot = Some(spare);
                }
            }
            Err(e) => tracing::warn!(
                "cannot spawn a spare shim {}: {e}; shims are spawned at each start",
                binary.display()
            ),
        }
    });
}

fn take() -> Option<Spare> {
    SPARE.lock().unwrap_or_else(|e| e.into_inner()).take()
}

fn waiting() -> bool {
    SPARE.lock().unwrap_or_else(|e| e.into_inner()).is_some()
}

/// Puts the spare `pid` in the scheduling class `policy`, SCHED_IDLE while it waits (it then
/// runs only on a CPU nothing else wants: its exec and startup, about 4.5 ms of CPU, never
/// compete with a container's start) and SCHED_OTHER once handed a container. An error when
/// it is gone (ESRCH).
fn set_policy(pid: libc::pid_t, policy: libc::c_int) -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain syscall on a pid berthd spawned and has not reaped (reap_when_done holds
    // it until the spare exits, so the pid cannot name another process yet).
    if unsafe { libc::sched_setscheduler(pid, policy, &param) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn spawn(binary: &Path) -> std::io::Result<Spare> {
    let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from);
    let (job_rd, job_wr) = pipe()?;
    let (report_rd, report_wr) = pipe()?;
    // The room the spare's command line has for the path it is later given.
    let padding = vec![b'-'; SPARE_PATH_ROOM - 1];
    let pid = crate::runtime::shim::spawn_shim(
        binary,
        &[SPARE_ARG.as_bytes(), &padding],
        Some(&job_rd),
        &report_wr,
    )?;
    let shim_exit = crate::runtime::shim::reap_when_done(pid);
    // glibc's posix_spawn takes only SCHED_OTHER, FIFO and RR, so the class is set now: the
    // spare has exec'd (posix_spawn returns after it) and its startup has barely begun.
    if let Err(e) = set_policy(pid, libc::SCHED_IDLE) {
        tracing::debug!("spare shim {pid}: cannot enter SCHED_IDLE: {e}");
    }
    Ok(Spare {
        binary: binary.to_path_buf(),
        pid,
        job: job_wr.into(),
        report: crate::runtime::shim::Report {
            pipe: report_rd,
            shim_exit,
        },
    })
}

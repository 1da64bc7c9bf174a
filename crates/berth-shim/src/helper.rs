//! Runs one runtime operation in a short-lived forked child, or in the shim itself.
//!
//! Once the container runs, the supervising process runs no runtime (libcontainer) code that
//! forks or changes the process (exec, kill, and a start or delete with hooks), so no runtime
//! child is reaped by its SIGCHLD loop. The embedded runtime's create runs in the shim before
//! the loop exists ([`run_in_place`]: libcontainer waits for its own intermediate process, and
//! the container's init becomes the shim's child directly); its start and delete without
//! hooks do too (`EmbeddedRuntime::start_forking_nothing`): a notify-socket write, a state
//! save, cgroup removals, where a helper's fork and exit cost about 1 ms each. Processes the child creates are re-parented to the
//! shim (a child subreaper) when the child exits. The result comes back over a socketpair,
//! with a pty master passed as SCM_RIGHTS.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use berth_runtime::{RuntimeError, Spawned};
use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::{fork, ForkResult};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error("runtime helper: {0}")]
    Sys(#[from] nix::Error),
    #[error("runtime helper: {0}")]
    Io(#[from] std::io::Error),
    #[error("runtime helper exited without a result")]
    NoResult,
    #[error("runtime helper sent a bad result: {0}")]
    BadResult(serde_json::Error),
}

/// What the child reports.
#[derive(Serialize, Deserialize)]
enum Outcome {
    Done { pid: Option<i32>, has_fd: bool },
    Failed { kind: ErrorKind, message: String },
}

#[derive(Serialize, Deserialize)]
enum ErrorKind {
    NotFound,
    PermissionDenied,
    NoSuchContainer,
    Other,
}

/// What an operation produces: a new process, or nothing.
pub enum Produced {
    Nothing,
    Process(Spawned),
}

/// Runs `op` in a forked child and returns its result. `op` is dropped unrun in this process,
/// which closes any fds it captured (the container's ends of stdio pipes).
pub fn run<F>(op: F) -> Result<Result<Produced, RuntimeError>, HelperError>
where
    F: FnOnce() -> Result<Produced, RuntimeError>,
{
    run_closing(op, &[])
}

/// [`run`], closing `close` in the child first: an embedded runtime forks the container's
/// init from the child without exec, so anything left open there stays open until `Start`
/// (fd 3 would keep berthd waiting for EOF).
pub fn run_closing<F>(op: F, close: &[RawFd]) -> Result<Result<Produced, RuntimeError>, HelperError>
where
    F: FnOnce() -> Result<Produced, RuntimeError>,
{
    // SEQPACKET keeps the result one message: the container's init inherits the child's end
    // until it execs, so waiting for EOF on a stream would never finish.
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    // SAFETY: the shim is single-threaded, so the child has a consistent copy of the process.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(ours);
            for &fd in close {
                // SAFETY: the child closes its copy of a descriptor the parent keeps owning;
                // nothing in the child uses it.
                unsafe { libc::close(fd) };
            }
            let code = child_main(op, theirs);
            // SAFETY: _exit leaves without running the parent's destructors (socket removal).
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(op);
            drop(theirs);
            let result = receive(ours);
            // The result is in; the child's exit (its address space torn down) need not be
            // waited for. A child still exiting is reaped by the supervisor's SIGCHLD loop
            // (`Supervisor::reap` takes any child), or by init once the shim has exited.
            if result.is_ok() {
                let _ = waitpid(child, Some(WaitPidFlag::WNOHANG));
            } else {
                let _ = waitpid(child, None);
            }
            result
        }
    }
}

/// Runs `op` in this process, as the child of [`run`] would: with no signal blocked and
/// SIGPIPE at its default (the processes `op` clones inherit both, and keep them across their
/// exec), then restores the shim's. For the embedded runtime's create, whose processes are
/// cloned from the caller and never return to it: a helper's fork cost the start about 0.5 ms,
/// and its exit competed with the new container for a CPU.
///
/// The caller keeps what libcontainer's main process changes in itself: it is made
/// non-dumpable while it clones (so made dumpable again here) and chdirs to bind the notify
/// socket (and back). Anything the caller holds open is inherited by the container's init
/// until it execs, which is why berthd reads the create's report up to its newline rather
/// than to the pipe's end.
pub fn run_in_place<F>(op: F) -> Result<Produced, RuntimeError>
where
    F: FnOnce() -> Result<Produced, RuntimeError>,
{
    let saved = SignalsForChildren::set();
    let result = run_caught(op);
    // A SIGCHLD delivered meanwhile is lost to the signalfd: the supervisor reaps once before
    // it first waits, so an exit during the call is still seen.
    saved.restore();
    // SAFETY: PR_SET_DUMPABLE takes an integer argument and changes only this process.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
    result
}

/// The shim's signal mask and SIGPIPE disposition, saved while the runtime's processes are
/// cloned with none blocked and SIGPIPE at its default: they inherit both, and keep them across
/// their exec, so the container's process would start with SIGCHLD blocked and SIGPIPE ignored.
struct SignalsForChildren {
    mask: Option<SigSet>,
    pipe: Option<SigHandler>,
}

impl SignalsForChildren {
    fn set() -> Self {
        let mut mask = SigSet::empty();
        let unblocked = sigprocmask(
            SigmaskHow::SIG_SETMASK,
            Some(&SigSet::empty()),
            Some(&mut mask),
        );
        // SAFETY: restoring the default disposition installs no handler code.
        let pipe = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
        Self {
            mask: unblocked.ok().map(|()| mask),
            pipe: pipe.ok(),
        }
    }

    fn restore(self) {
        if let Some(previous) = self.pipe {
            // SAFETY: `previous` is the disposition this process had (ignored), no handler code.
            let _ = unsafe { signal(Signal::SIGPIPE, previous) };
        }
        if let Some(mask) = self.mask {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&mask), None);
        }
    }
}

/// `op`, a panic in it reported as the operation's error.
fn run_caught<F>(op: F) -> Result<Produced, RuntimeError>
where
    F: FnOnce() -> Result<Produced, RuntimeError>,
{
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(op))
        .unwrap_or_else(|_| Err(RuntimeError::Other("runtime operation panicked".into())))
}

fn child_main<F>(op: F, channel: OwnedFd) -> i32
where
    F: FnOnce() -> Result<Produced, RuntimeError>,
{
    // The child exits after `op`: nothing to restore.
    let _ = SignalsForChildren::set();
    let result = run_caught(op);
    let (outcome, fd) = match result {
        Ok(Produced::Nothing) => (
            Outcome::Done {
                pid: None,
                has_fd: false,
            },
            None,
        ),
        Ok(Produced::Process(spawned)) => (
            Outcome::Done {
                pid: Some(spawned.pid),
                has_fd: spawned.pty_master.is_some(),
            },
            spawned.pty_master,
        ),
        Err(e) => {
            let kind = match &e {
                RuntimeError::NotFound(_) => ErrorKind::NotFound,
                RuntimeError::PermissionDenied(_) => ErrorKind::PermissionDenied,
                RuntimeError::NoSuchContainer(_) => ErrorKind::NoSuchContainer,
                RuntimeError::Other(_) => ErrorKind::Other,
            };
            let message = match e {
                RuntimeError::NoSuchContainer(id) => id,
                other => other.to_string(),
            };
            (Outcome::Failed { kind, message }, None)
        }
    };
    let Ok(bytes) = serde_json::to_vec(&outcome) else {
        return 1;
    };
    let iov = [IoSlice::new(&bytes)];
    let raw_fds: Vec<i32> = fd.iter().map(|f| f.as_raw_fd()).collect();
    let cmsgs: Vec<ControlMessage> = if raw_fds.is_empty() {
        Vec::new()
    } else {
        vec![ControlMessage::ScmRights(&raw_fds)]
    };
    match sendmsg::<()>(channel.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None) {
        Ok(_) => 0,
        Err(_) => 1,
    }
}

fn receive(channel: OwnedFd) -> Result<Result<Produced, RuntimeError>, HelperError> {
    let mut first = vec![0u8; 16 * 1024];
    let mut cmsg_space = nix::cmsg_space!([i32; 1]);
    let (len, mut fds) = {
        let mut iov = [IoSliceMut::new(&mut first)];
        let msg = loop {
            match recvmsg::<()>(
                channel.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::Error::EINTR) => continue,
                other => break other?,
            }
        };
        let mut fds = Vec::new();
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(received) = cmsg {
                for raw in received {
                    // SAFETY: SCM_RIGHTS installed this descriptor in our table just now and
                    // nothing else owns it.
                    fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
                }
            }
        }
        (msg.bytes, fds)
    };
    if len == 0 {
        return Err(HelperError::NoResult);
    }
    let outcome: Outcome = serde_json::from_slice(&first[..len]).map_err(HelperError::BadResult)?;
    Ok(match outcome {
        Outcome::Done { pid: None, .. } => Ok(Produced::Nothing),
        Outcome::Done {
            pid: Some(pid),
            has_fd,
        } => {
            let pty_master = if has_fd { fds.pop() } else { None };
            Ok(Produced::Process(Spawned { pid, pty_master }))
        }
        Outcome::Failed { kind, message } => Err(match kind {
            ErrorKind::NotFound => RuntimeError::NotFound(message),
            ErrorKind::PermissionDenied => RuntimeError::PermissionDenied(message),
            ErrorKind::NoSuchContainer => RuntimeError::NoSuchContainer(message),
            ErrorKind::Other => RuntimeError::Other(message),
        }),
    })
}

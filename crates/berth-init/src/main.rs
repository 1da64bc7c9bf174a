//! `berth-init [--] cmd [args...]`: a minimal init for containers (docker's `--init`, like
//! tini). It runs the command as its child, forwards the signals it receives to it, reaps every
//! zombie re-parented to it, and exits with the child's status (128 + n when killed by signal
//! n). Built static, since container images may have no libc.
//!
//! `berth-init --pause`: the holder of a pod sandbox's namespaces (the CRI's "pause"
//! container). It runs nothing: it reaps whatever is re-parented to it and exits 0 on SIGTERM
//! or SIGINT.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;

/// Signals that report a fault in this process itself; they must stay deliverable.
const SYNCHRONOUS: [libc::c_int; 7] = [
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
];

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.len() == 1 && args[0] == "--pause" {
        std::process::exit(pause());
    }
    let args = match args.first() {
        Some(first) if first == "--" => &args[1..],
        _ => &args[..],
    };
    if args.is_empty() {
        eprintln!("berth-init: usage: berth-init [--] command [args...]");
        std::process::exit(1);
    }
    let argv: Result<Vec<CString>, _> = args
        .iter()
        .map(|a| CString::new(a.clone().into_vec()))
        .collect();
    let Ok(argv) = argv else {
        eprintln!("berth-init: an argument contains a NUL byte");
        std::process::exit(1);
    };
    std::process::exit(run(&argv));
}

/// The pod holder: waits for signals, reaps children on SIGCHLD, returns 0 on SIGTERM or
/// SIGINT. Every other signal is ignored (kubelet's pause does the same).
fn pause() -> i32 {
    let set = forwarded_set();
    // SAFETY: set is an initialised sigset_t owned by this frame; no old mask is asked for.
    if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) } != 0 {
        return fail("sigprocmask");
    }
    loop {
        // SAFETY: siginfo_t is plain data; sigwaitinfo fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: set is an initialised set and info a valid out pointer.
        let sig = unsafe { libc::sigwaitinfo(&set, &mut info) };
        match sig {
            libc::SIGTERM | libc::SIGINT => return 0,
            libc::SIGCHLD => {
                // No child of its own: every zombie here was re-parented; reap them all.
                let _ = reap(0);
            }
            s if s < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) => {
                return fail("sigwaitinfo");
            }
            _ => {}
        }
    }
}

/// Spawns `argv` and supervises it; returns the exit code for this process.
fn run(argv: &[CString]) -> i32 {
    let forwarded = forwarded_set();
    let mut previous = empty_set();
    // SAFETY: both sets are initialised sigset_t values owned by this frame.
    if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &forwarded, &mut previous) } != 0 {
        return fail("sigprocmask");
    }
    // Background reads and writes on the terminal must not stop pid 1.
    for sig in [libc::SIGTTIN, libc::SIGTTOU] {
        // SAFETY: setting a signal's disposition to SIG_IGN has no memory-safety preconditions.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }

    // SAFETY: this process is single-threaded, so the child may run arbitrary code after fork.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return fail("fork");
    }
    if child == 0 {
        exec_child(argv, &previous);
    }
    supervise(child, &forwarded)
}

/// In the forked child: restores the signal state and execs the command.
fn exec_child(argv: &[CString], previous_mask: &libc::sigset_t) -> ! {
    for sig in [libc::SIGTTIN, libc::SIGTTOU] {
        // SAFETY: restoring the default disposition has no memory-safety preconditions.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: previous_mask was filled by sigprocmask; ptrs is a NULL-terminated array of
    // pointers into `argv`, which outlives the call.
    unsafe {
        libc::sigprocmask(libc::SIG_SETMASK, previous_mask, std::ptr::null_mut());
        libc::execvp(ptrs[0], ptrs.as_ptr());
    }
    let err = std::io::Error::last_os_error();
    eprintln!(
        "berth-init: exec {} failed: {err}",
        argv[0].to_string_lossy()
    );
    let code = if err.raw_os_error() == Some(libc::ENOENT) {
        127
    } else {
        126
    };
    // SAFETY: _exit ends the forked child without running the parent's atexit handlers.
    unsafe { libc::_exit(code) }
}

/// Waits for signals: forwards them to `child`, reaps zombies on SIGCHLD, and returns the
/// child's exit code once it has exited.
fn supervise(child: libc::pid_t, forwarded: &libc::sigset_t) -> i32 {
    loop {
        // SAFETY: siginfo_t is plain data; sigwaitinfo fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: forwarded is an initialised set and info a valid out pointer.
        let sig = unsafe { libc::sigwaitinfo(forwarded, &mut info) };
        if sig < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return fail("sigwaitinfo");
        }
        if sig != libc::SIGCHLD {
            // SAFETY: kill has no memory-safety preconditions; a vanished child is fine.
            unsafe { libc::kill(child, sig) };
            continue;
        }
        if let Some(code) = reap(child) {
            return code;
        }
    }
}

/// Reaps every exited process; the child's exit code once it is among them.
fn reap(child: libc::pid_t) -> Option<i32> {
    let mut result = None;
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return result;
        }
        if pid == child {
            result = Some(if libc::WIFSIGNALED(status) {
                128 + libc::WTERMSIG(status)
            } else {
                libc::WEXITSTATUS(status)
            });
        }
    }
}

/// Every signal except the synchronous ones and those that cannot be caught.
fn forwarded_set() -> libc::sigset_t {
    let mut set = empty_set();
    // SAFETY: set is an initialised sigset_t owned by this frame.
    unsafe {
        libc::sigfillset(&mut set);
        for sig in SYNCHRONOUS {
            libc::sigdelset(&mut set, sig);
        }
    }
    set
}

fn empty_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        set
    }
}

fn fail(what: &str) -> i32 {
    eprintln!("berth-init: {what}: {}", std::io::Error::last_os_error());
    1
}

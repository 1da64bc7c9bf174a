//! berth: a seccomp profile compiled ahead of the init, loaded with seccomp(2).
//!
//! Compiling a profile with libseccomp is the expensive part of `initialize_seccomp` (the
//! Docker default profile takes milliseconds); loading the resulting BPF program is one
//! syscall. The runtime compiles the profile once ([`compile_bpf`], the very filter
//! `initialize_seccomp` would build, exported with `seccomp_export_bpf`), caches it where it
//! likes, and registers the program for the profile with [`set_precompiled`] before the
//! container's init (or a tenant) is cloned. The init, a copy of that process, then loads the
//! registered program instead of compiling, when and only when the profile it is asked to
//! apply is equal to the one the program was registered for. Notify profiles (a listener fd to
//! hand out) and flags the load cannot reproduce take the libseccomp path.

use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Mutex;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompFilterFlag};

use super::{is_notify, SeccompError};

/// The size of one `struct sock_filter` (u16 code, u8 jt, u8 jf, u32 k).
pub const BPF_INSN_LEN: usize = 8;
/// The kernel's limit on a filter's length (BPF_MAXINSNS).
pub const BPF_MAX_INSNS: usize = 4096;

static PRECOMPILED: Mutex<Option<(LinuxSeccomp, Vec<u8>)>> = Mutex::new(None);

/// Whether a profile may be served from a precompiled program: no notify action (libseccomp
/// must create the listener), no flag beyond TSYNC, LOG and SPEC_ALLOW.
pub fn cacheable(seccomp: &LinuxSeccomp) -> bool {
    !is_notify(seccomp)
        && seccomp.flags().iter().flatten().all(|f| {
            matches!(
                f,
                LinuxSeccompFilterFlag::SeccompFilterFlagLog
                    | LinuxSeccompFilterFlag::SeccompFilterFlagTsync
                    | LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow
            )
        })
}

/// Whether `program` has the shape of a classic BPF program the kernel would take.
pub fn well_formed(program: &[u8]) -> bool {
    !program.is_empty()
        && program.len() % BPF_INSN_LEN == 0
        && program.len() / BPF_INSN_LEN <= BPF_MAX_INSNS
}

/// The BPF program libseccomp generates for `seccomp`: the filter `initialize_seccomp` loads.
pub fn compile_bpf(seccomp: &LinuxSeccomp) -> Result<Vec<u8>, SeccompError> {
    let ctx = super::filter_context(seccomp)?;
    // SAFETY: memfd_create with a NUL-terminated name and valid flags; the fd it returns is
    // owned by nothing else.
    let raw = unsafe { libc::memfd_create(c"berth-seccomp-bpf".as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(SeccompError::Export {
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: `raw` is a fresh, valid fd that only this OwnedFd closes.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    ctx.export_bpf(&fd)
        .map_err(|err| SeccompError::ExportBpf { source: err })?;
    let mut file = std::fs::File::from(fd);
    let mut program = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut program))
        .map_err(|source| SeccompError::Export { source })?;
    if !well_formed(&program) {
        return Err(SeccompError::Export {
            source: std::io::Error::other(format!(
                "libseccomp exported a {}-byte program",
                program.len()
            )),
        });
    }
    Ok(program)
}

/// Registers `program` (from [`compile_bpf`] of `seccomp`) for processes cloned from this one
/// that apply `seccomp`. Ignored for a profile that is not [`cacheable`].
pub fn set_precompiled(seccomp: &LinuxSeccomp, program: Vec<u8>) {
    if !cacheable(seccomp) || !well_formed(&program) {
        return;
    }
    if let Ok(mut slot) = PRECOMPILED.lock() {
        *slot = Some((seccomp.clone(), program));
    }
}

/// Forgets the registered program.
pub fn clear_precompiled() {
    if let Ok(mut slot) = PRECOMPILED.lock() {
        *slot = None;
    }
}

/// The registered program when it was registered for exactly `seccomp`.
fn precompiled_for(seccomp: &LinuxSeccomp) -> Option<Vec<u8>> {
    // try_lock: in a cloned child a lock another thread held at clone time stays held forever.
    let slot = PRECOMPILED.try_lock().ok()?;
    match slot.as_ref() {
        Some((profile, program)) if profile == seccomp && cacheable(seccomp) => {
            Some(program.clone())
        }
        _ => None,
    }
}

/// The seccomp(2) flags libseccomp would pass for `seccomp`'s filter flags.
pub fn load_flags(seccomp: &LinuxSeccomp) -> libc::c_ulong {
    let mut flags: libc::c_ulong = 0;
    for flag in seccomp.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            // Only with a listener, which precompiled programs never have (see `cacheable`).
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    flags
}

/// Loads `program` with seccomp(SECCOMP_SET_MODE_FILTER) and `seccomp`'s flags.
pub fn load_bpf(seccomp: &LinuxSeccomp, program: &[u8]) -> Result<(), SeccompError> {
    if !well_formed(program) {
        return Err(SeccompError::LoadBpf {
            source: std::io::Error::from_raw_os_error(libc::EINVAL),
        });
    }
    // struct sock_filter needs 4-byte alignment: copy into properly typed storage.
    let insns: Vec<libc::sock_filter> = program
        .chunks_exact(BPF_INSN_LEN)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let prog = libc::sock_fprog {
        // well_formed bounds the length by BPF_MAX_INSNS, which fits in u16.
        len: insns.len() as libc::c_ushort,
        filter: insns.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `insns`, which outlives the call; the kernel copies the program.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            load_flags(seccomp),
            &prog as *const libc::sock_fprog,
        )
    };
    match rc {
        0 => Ok(()),
        // With TSYNC, a positive result is the id of a thread that could not be synchronized.
        tid if tid > 0 => Err(SeccompError::LoadBpf {
            source: std::io::Error::other(format!("thread {tid} could not be synchronized")),
        }),
        _ => Err(SeccompError::LoadBpf {
            source: std::io::Error::last_os_error(),
        }),
    }
}

/// Loads the registered program when there is one for `seccomp`; false when there is none
/// (the caller compiles with libseccomp).
pub(super) fn try_load(seccomp: &LinuxSeccomp) -> Result<bool, SeccompError> {
    match precompiled_for(seccomp) {
        Some(program) => {
            tracing::debug!(
                len = program.len(),
                "loading the precompiled seccomp program"
            );
            load_bpf(seccomp, &program).map(|()| true)
        }
        None => Ok(false),
    }
}

/// What a compiled program depends on besides the profile: the libseccomp library and the API
/// level it found on this kernel (e.g. `libseccomp 2.5.4 api 6`). Part of a cache key.
pub fn generator_version() -> String {
    let version = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|_| "unknown".into());
    format!("libseccomp {version} api {}", libseccomp::get_api())
}

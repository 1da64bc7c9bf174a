//! Container config to OCI runtime spec, the default security profile, runtime backends and
//! the shim protocol.

pub mod backend;
pub mod caps;
#[cfg(any(feature = "cgroups", feature = "embedded"))]
pub mod cgroup_ahead;
pub mod cgroup_dynmods;
#[cfg(feature = "cgroups")]
pub mod cgroup_update;
pub mod cgroupfs;
pub mod console;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod exec_check;
pub mod external;
pub mod seccomp;
#[cfg(feature = "embedded")]
pub mod seccomp_cache;
pub mod shim_proto;
pub mod spec;
pub mod user;
mod workdir;
#[cfg(feature = "embedded")]
mod workload;

/// Opens pathrs' procfs handle (a private `subset=pid` procfs mount) and keeps it in pathrs'
/// process-wide cache. Processes forked or cloned later inherit the cache, so the shim's
/// helpers and libcontainer's intermediate and init processes do not each mount a procfs of
/// their own (about 0.2 ms apiece). Best effort: without it each opens its own, as before.
#[cfg(feature = "embedded")]
pub fn warm_procfs_handle() {
    let _ = pathrs::procfs::ProcfsHandle::new();
}

pub use backend::{ProcessIo, Runtime, RuntimeChoice, RuntimeError, Spawned, Stdio};

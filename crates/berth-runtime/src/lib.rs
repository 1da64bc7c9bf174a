//! Container config to OCI runtime spec, the default security profile, runtime backends and
//! the shim protocol.

pub mod backend;
pub mod caps;
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

pub use backend::{ProcessIo, Runtime, RuntimeChoice, RuntimeError, Spawned, Stdio};

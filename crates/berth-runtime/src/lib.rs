//! Container config to OCI runtime spec, the default security profile, runtime backends and
//! the shim protocol.

pub mod backend;
pub mod shim_proto;

pub use backend::{ProcessIo, Runtime, RuntimeChoice, RuntimeError, Spawned, Stdio};

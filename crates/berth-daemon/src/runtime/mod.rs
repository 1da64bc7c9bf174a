//! From a container to the runtime: the shim, the OCI spec, cgroups, resource limits and
//! signal names.

pub(crate) mod cgroup_ahead;
pub(crate) mod cgroup_support;
pub(crate) mod cgroupns;
pub(crate) mod cgroups;
pub(crate) mod resources;
pub(crate) mod shim;
pub(crate) mod shim_spare;
pub(crate) mod shim_trace;
pub(crate) mod signals;
pub(crate) mod spec;

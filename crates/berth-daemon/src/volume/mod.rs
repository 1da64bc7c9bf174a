//! Volumes with the `local` driver: records, lifecycle, the driver's mounts and crash
//! consistency of record and directory.

pub(crate) mod consistency;
pub(crate) mod lifecycle;
pub(crate) mod mount;
pub(crate) mod store;

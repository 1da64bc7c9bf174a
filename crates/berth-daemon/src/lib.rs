//! The berth daemon's services. HTTP handlers (`berth-server`) parse a request, call one
//! method here and render the result; all behaviour lives here.

pub mod options;

mod attach;
mod cgroups;
mod container;
mod containers;
mod ctr_archive;
mod ctr_commit;
mod daemon;
mod disk_usage;
mod events;
mod exec;
mod health;
mod image_archive;
mod images;
mod logs;
mod names;
mod recovery;
mod render;
mod repo;
mod restart;
mod rootfs_access;
mod shim;
mod signals;
mod spec;
mod system;

pub use ctr_archive::{wire_stat, ExtractOptions};
pub use ctr_commit::CommitRequest;
pub use daemon::{
    AttachSession, Daemon, DaemonConfig, ExecSession, HijackedIo, LogStream, EMBEDDED_RUNTIME,
};
pub use disk_usage::DiskUsageParts;
pub use options::*;

//! The berth daemon's services. HTTP handlers (`berth-server`) parse a request, call one
//! method here and render the result; all behaviour lives here.

pub mod options;

mod attach;
mod body_pipe;
pub mod build;
mod cgroup_support;
mod cgroupns;
mod cgroups;
mod container;
mod containers;
mod copy_up;
mod ctr_archive;
mod ctr_commit;
mod ctr_prune;
mod ctr_size;
mod daemon;
mod disk_usage;
pub mod distribution;
mod events;
mod exec;
mod failpoint;
mod health;
mod image_archive;
mod images;
mod layer_gzip;
mod links;
mod log_config;
mod logs;
mod mount_plan;
mod mount_setup;
mod mounts;
mod names;
mod net_dns;
mod net_endpoints;
mod net_render;
mod net_repo;
mod networks;
mod pause;
mod ps_filters;
pub mod pull;
pub mod push;
mod reconcile;
mod recovery;
mod registry_endpoints;
mod render;
mod repo;
mod resources;
mod restart;
mod rootfs_access;
mod search;
mod shim;
mod signals;
mod spec;
mod stats;
mod system;
mod update;
mod volume_consistency;
mod volume_mount;
mod volume_store;
mod volumes;

pub use berth_network::pool::AddressPool;
pub use ctr_archive::{wire_stat, ExtractOptions};
pub use ctr_commit::CommitRequest;
pub use daemon::{
    AttachSession, Daemon, DaemonConfig, ExecSession, HijackedIo, LogStream, EMBEDDED_RUNTIME,
};
pub use disk_usage::DiskUsageParts;
pub use events::WireEvent;
pub use networks::NetConfig;
pub use options::*;
pub use stats::StatsOptions;

//! The berth daemon's services. HTTP handlers (`berth-server`) parse a request, call one
//! method here and render the result; all behaviour lives here.

// The facade and its settings.
mod boot;
mod config;
mod daemon;
pub mod options;

// One folder per resource.
pub mod build; // the classic builder
mod container; // records, lifecycle, attach, logs, health, archives, commit, stats, ...
pub mod distribution; // pull, push, login, registry endpoints
mod exec; // `docker exec`
mod image; // ImageService and the image endpoints
mod mount; // a container's mount points
mod network; // NetworkService, bridges, endpoints, embedded DNS
mod recovery; // live restore and reconciling after a crash
mod runtime; // shim, OCI spec, cgroups, resource limits, signals
pub mod sandbox; // CRI pod sandboxes: holder, CNI, pod containers
mod system; // version, info, df, events
mod util; // clock, shared filters, API versions
mod volume; // VolumeService and the volume endpoints

pub use berth_network::pool::AddressPool;
pub use container::archive::{wire_stat, ExtractOptions};
pub use container::commit::CommitRequest;
pub use container::stats::{net_interfaces, StatsOptions};
pub use daemon::{
    AttachSession, Daemon, DaemonConfig, ExecSession, HijackedIo, LogStream, EMBEDDED_RUNTIME,
};
pub use distribution::{pull, push};
pub use image::fs_usage::FsUsage;
pub use image::{ImageInfo, CRI_NAMESPACE, DEFAULT_NAMESPACE};
pub use network::service::NetConfig;
pub use options::*;
pub use system::disk_usage::DiskUsageParts;
pub use system::events::WireEvent;

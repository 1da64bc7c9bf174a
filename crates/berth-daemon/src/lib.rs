//! The berth daemon's services. HTTP handlers (`berth-server`) parse a request, call one
//! method here and render the result; all behaviour lives here.

pub mod options;

pub mod build;
mod container;
mod daemon;
pub mod distribution;
mod exec;
mod image;
mod mount;
mod network;
mod recovery;
mod runtime;
mod system;
mod volume;

pub use berth_network::pool::AddressPool;
pub use container::archive::{wire_stat, ExtractOptions};
pub use container::commit::CommitRequest;
pub use container::stats::StatsOptions;
pub use daemon::{
    AttachSession, Daemon, DaemonConfig, ExecSession, HijackedIo, LogStream, EMBEDDED_RUNTIME,
};
pub use distribution::{pull, push};
pub use network::lifecycle::NetConfig;
pub use options::*;
pub use system::disk_usage::DiskUsageParts;
pub use system::events::WireEvent;

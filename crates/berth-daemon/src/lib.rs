//! The berth daemon's services. HTTP handlers (`berth-server`) parse a request, call one
//! method here and render the result; all behaviour lives here.

pub mod options;

mod daemon;

pub use daemon::{AttachSession, Daemon, DaemonConfig, ExecSession, HijackedIo, LogStream};
pub use options::*;

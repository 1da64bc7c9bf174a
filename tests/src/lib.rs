//! The black-box test harness: starts a private `berthd` on a temporary data root, drives it with
//! the real `docker` CLI and with `berth`, and checks on teardown that nothing was left behind
//! (containers, mounts, cgroups, shim processes).
//!
//! The harness never builds anything: `scripts/test` builds the workspace binaries first, and the
//! harness runs them from the target directory the test binary itself was built into.

pub mod apidiff;
pub mod cli;
pub mod cri_config;
pub mod cri_grpc;
pub mod crictl;
pub mod daemon;
pub mod host;
pub mod http;
pub mod leaks;
pub mod netslot;
pub mod paths;
pub mod poll;
pub mod preflight;
pub mod pty;
pub mod refdockerd;
pub mod scenario;
pub mod tarball;

pub use cli::{Client, Out, Spawned};
pub use daemon::TestDaemon;
pub use host::SETTLE;
pub use poll::{unique_name, wait_until};

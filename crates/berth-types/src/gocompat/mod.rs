//! Go and docker compatibility helpers: the one place berth reads and prints values the way
//! dockerd and the docker CLI (Go programs) do, shared by the CLI, the daemon, the builder and
//! the image crate. Each module is tested against the Go project's own test tables.
//!
//! - [`duration`]: Go's `time.ParseDuration` and `Duration.String()`.
//! - [`units`]: docker/go-units sizes (`RAMInBytes`, `FromHumanSize`, `HumanSize`,
//!   `BytesSize`) and `HumanDuration` ("Up 2 minutes").
//! - [`signal`]: moby's Linux signal table and `ParseSignal`.
//! - [`ulimit`]: go-units' ulimit names and `ParseUlimit`.
//! - [`filemode`]: Go's `os.FileMode` bits for a Unix `st_mode`.
//! - [`sysctl`]: the sysctls a container's IPC namespace isolates (moby's and runc's list).

pub mod duration;
pub mod filemode;
pub mod signal;
pub mod sysctl;
pub mod ulimit;
pub mod units;

//! Domain types shared by every berth crate.
//!
//! Errors are a handful of kinds (as in containerd's errdefs); each subsystem has its own
//! `thiserror` enum and converts into [`Error`], and the HTTP status is chosen in exactly one
//! place (`berth-server`).

pub mod digest;
pub mod error;
pub mod gocompat;
pub mod id;
pub mod reference;

pub use digest::Digest;
pub use error::{Error, ErrorKind, Result};
pub use reference::Reference;

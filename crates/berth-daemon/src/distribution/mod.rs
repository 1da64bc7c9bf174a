//! Registries: pull, push, login, the choice of endpoint, and gzip for pushed layers.

pub(crate) mod endpoints;
pub(crate) mod layer_gzip;
pub mod pull;
pub mod push;
pub(crate) mod shared;

pub use shared::*;

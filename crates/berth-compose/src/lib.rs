//! berth-compose: the Compose Specification as Docker Compose v2 reads it.
//!
//! [`load`] finds the compose files (or takes `-f`/`COMPOSE_FILE`), reads `.env`/`--env-file`,
//! parses YAML (anchors, merge keys, `!reset`/`!override`), interpolates `${VAR...}`,
//! validates against the compose schema, merges the files with compose's rules, resolves
//! `include` and `extends`, expands every short syntax, applies profiles, normalises (default
//! network, names, paths) and checks references — giving a typed [`model::Project`].
//! [`render`] prints a project as `docker compose config` does.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod dotenv;
pub mod error;
pub mod interpolate;
pub mod labels;
pub mod loader;
pub mod merge;
pub mod model;
pub mod node;
pub mod normalize;
pub mod render;
pub mod schema;
pub mod transform;
pub mod units;

pub use error::LoadError;
pub use loader::{load, LoadOptions};
pub use model::Project;
pub mod engine;

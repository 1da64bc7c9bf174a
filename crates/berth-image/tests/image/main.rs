//! ImageService against a real content store, database and snapshotter in a temp dir.

mod archive;
mod lifecycle;
mod namespaces;
mod service;

//! Containers: the record and its persistence, the lifecycle, and every per-container
//! operation (attach, logs, health, pause, update, archive, commit, prune, stats, …).

pub(crate) mod archive;
pub(crate) mod attach;
pub(crate) mod commit;
pub(crate) mod health;
pub(crate) mod layer_usage;
pub(crate) mod lifecycle;
pub(crate) mod links;
pub(crate) mod live;
pub(crate) mod log_config;
pub(crate) mod logs;
pub(crate) mod names;
pub(crate) mod pause;
pub(crate) mod prune;
pub(crate) mod ps_filters;
pub(crate) mod record;
pub(crate) mod render;
pub(crate) mod repo;
pub(crate) mod restart;
pub(crate) mod size;
pub(crate) mod stats;
pub(crate) mod update;

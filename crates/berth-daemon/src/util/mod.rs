//! Small helpers every resource uses: the daemon's clock in dockerd's format, and the
//! filters prune endpoints share.

pub(crate) mod api;
pub(crate) mod child;
pub(crate) mod filters;
pub(crate) mod time;

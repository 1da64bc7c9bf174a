//! Networks: their records and addresses, lifecycle, rendering, a container's endpoints and
//! the embedded DNS.

pub(crate) mod dns;
pub(crate) mod endpoints;
pub(crate) mod lifecycle;
pub(crate) mod mode;
pub(crate) mod render;
pub(crate) mod repo;
pub(crate) mod service;
pub(crate) mod spare_netns;

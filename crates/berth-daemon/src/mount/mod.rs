//! A container's mount points: parsed (`points`), planned at create (`plan`), made ready at
//! start (`setup`, `copy_up`), and the daemon's own access to a container's root
//! (`rootfs_access`).

pub(crate) mod copy_up;
pub(crate) mod plan;
pub(crate) mod points;
pub(crate) mod rootfs_access;
pub(crate) mod setup;

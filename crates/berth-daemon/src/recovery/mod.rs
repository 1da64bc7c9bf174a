//! After a restart or a crash: live restore, reconciling the host with the records, and the
//! crash points the consistency tests use.

pub(crate) mod failpoint;
pub(crate) mod live_restore;
pub(crate) mod reconcile;

//! System-wide views: `/version`, `/info`, `/system/df` and the event bus.

pub(crate) mod disk_usage;
pub(crate) mod events;
pub(crate) mod info;

//! berth-snapshot

//! Timestamps as dockerd writes them (RFC 3339, nanoseconds, UTC).

/// Now, as dockerd's `time.Now().UTC()` marshals it.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

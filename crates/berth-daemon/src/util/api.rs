//! API versions.

/// Whether dotted API version `a` is older than `b`.
pub(crate) fn api_older(a: &str, b: &str) -> bool {
    let key = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    key(a) < key(b)
}

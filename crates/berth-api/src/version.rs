//! API versions berth serves.

/// The newest API version berth speaks.
pub const CURRENT: &str = "1.47";
/// The oldest API version berth accepts.
pub const MIN: &str = "1.24";
/// The version berth reports as the engine's.
pub const ENGINE_VERSION: &str = "27.3.1-berth";

/// Parses `1.NN` into `(1, NN)`.
pub fn parse(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Whether `v` is within [`MIN`, `CURRENT`].
pub fn supported(v: &str) -> bool {
    match (parse(v), parse(MIN), parse(CURRENT)) {
        (Some(v), Some(min), Some(max)) => v >= min && v <= max,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_in_range() {
        assert!(super::supported("1.24"));
        assert!(super::supported("1.47"));
        assert!(!super::supported("1.23"));
        assert!(!super::supported("1.48"));
        assert!(!super::supported("x"));
    }
}

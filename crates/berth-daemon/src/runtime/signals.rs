//! Signal names as docker accepts them: `SIGTERM`, `TERM`, `term`, `15` (moby's table and
//! `ParseSignal`, in `berth_types::gocompat::signal`).

use berth_types::gocompat::signal::parse_signal;
use berth_types::{Error, Result};

/// Parses a signal; dockerd's message on failure. Numbers are taken from 1 to 64.
pub fn parse(s: &str) -> Result<i32> {
    parse_signal(s)
        .ok()
        .filter(|n| (1..=64).contains(n))
        .ok_or_else(|| Error::invalid(format!("Invalid signal: {s}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_docker_forms() {
        assert_eq!(super::parse("SIGTERM").ok(), Some(15));
        assert_eq!(super::parse("kill").ok(), Some(9));
        assert_eq!(super::parse("10").ok(), Some(10));
        assert_eq!(super::parse("RTMIN+2").ok(), Some(36));
        assert!(super::parse("SIGNOPE").is_err());
        assert!(super::parse("0").is_err());
        assert!(super::parse("65").is_err());
    }
}

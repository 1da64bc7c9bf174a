//! The raw API's basics: `/_ping` and its headers, bad JSON and a missing container answered
//! with dockerd's status and message, with and without a version prefix.

use super::*;

#[test]
fn api_ping_and_errors() {
    let Some(d) = TestDaemon::start() else { return };
    let ping = d.api("GET", "/_ping", None, b"");
    assert_eq!((ping.status, ping.text().as_str()), (200, "OK"));
    assert!(
        ping.header("API-Version")
            .is_some_and(|v| v.starts_with("1.")),
        "{:?}",
        ping.headers
    );
    assert_eq!(ping.header("OSType"), Some("linux"));

    for path in ["/containers/create", "/v1.41/containers/create"] {
        let bad = d.api("POST", path, Some("application/json"), b"{not json");
        assert_eq!(bad.status, 400, "{path}: {}", bad.text());
        assert!(
            bad.message().starts_with("invalid JSON"),
            "{path}: {}",
            bad.text()
        );
    }

    let missing = d.api("GET", "/containers/e2e-no-such-container/json", None, b"");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json().map(|j| j["message"].clone()),
        Some(serde_json::json!(
            "No such container: e2e-no-such-container"
        ))
    );
}

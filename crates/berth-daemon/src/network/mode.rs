//! A container's network mode (`HostConfig.NetworkMode`) in berth's terms.

use berth_api::models::HostConfig;

/// How a container is networked, from its `NetworkMode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Host,
    None,
    /// `container:<name|id>`: the other container's namespace.
    Container(String),
    /// One or more bridge networks in a namespace of its own.
    Bridge,
}

pub fn mode_of(hc: &HostConfig) -> Mode {
    match hc.network_mode.as_deref().unwrap_or("") {
        "host" => Mode::Host,
        "none" => Mode::None,
        m if m.starts_with("container:") => Mode::Container(m["container:".len()..].to_string()),
        _ => Mode::Bridge,
    }
}

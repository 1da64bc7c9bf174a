//! The few kernel settings bridge networking needs.

use crate::error::{NetworkError, Result};

fn write(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(|e| NetworkError::io(format!("writing {path}"), e))
}

/// Routing between the bridges and the host's interfaces (what dockerd sets too).
pub fn enable_ip_forward() -> Result<()> {
    write("net.ipv4.ip_forward", "1")
}

/// Lets packets to 127.0.0.1 that were DNATed to a container leave through `bridge`: published
/// ports answer on the host's loopback without a userland proxy.
pub fn enable_route_localnet(bridge: &str) -> Result<()> {
    write(&format!("net.ipv4.conf.{bridge}.route_localnet"), "1")
}

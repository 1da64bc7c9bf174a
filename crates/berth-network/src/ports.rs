//! Published ports: the bindings a container asks for, and the host sockets berthd holds so
//! that no other program can take a published port (and a taken one fails the start).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;

use nix::sys::socket::{bind, getsockname, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
use serde::{Deserialize, Serialize};

use crate::error::{NetworkError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "tcp" | "" => Ok(Self::Tcp),
            "udp" => Ok(Self::Udp),
            other => Err(NetworkError::Invalid(format!("invalid proto: {other}"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// A host port kept bound (not listening) by berthd while its container runs.
#[derive(Debug)]
pub struct Reservation {
    _socket: OwnedFd,
}

/// Binds `host_ip:port` for `proto` (port 0: an ephemeral port) and returns the port bound.
pub fn reserve(proto: Proto, host_ip: Ipv4Addr, port: u16) -> Result<(u16, Reservation)> {
    let ty = match proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
    };
    let fd = socket(AddressFamily::Inet, ty, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| NetworkError::io("socket", e.into()))?;
    let addr = SockaddrIn::from(SocketAddrV4::new(host_ip, port));
    use std::os::fd::AsRawFd;
    bind(fd.as_raw_fd(), &addr).map_err(|e| {
        let what = if e == nix::errno::Errno::EADDRINUSE {
            "address already in use".to_string()
        } else {
            e.desc().to_lowercase()
        };
        NetworkError::InUse(format!(
            "failed to bind host port {host_ip}:{port}/{}: {what}",
            proto.as_str()
        ))
    })?;
    let bound: SockaddrIn =
        getsockname(fd.as_raw_fd()).map_err(|e| NetworkError::io("getsockname", e.into()))?;
    Ok((bound.port(), Reservation { _socket: fd }))
}

/// Parses `80`, `80/udp` (the keys of `ExposedPorts` and `PortBindings`).
pub fn parse_port_key(key: &str) -> Result<(u16, Proto)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let port: u16 = port
        .parse()
        .map_err(|_| NetworkError::Invalid(format!("invalid port specification: \"{key}\"")))?;
    if port == 0 {
        return Err(NetworkError::Invalid(format!(
            "invalid port specification: \"{key}\""
        )));
    }
    Ok((port, Proto::parse(proto)?))
}

/// Parses a `HostPort`: empty (any), `8080`, or a range `8000-8010`.
pub fn parse_host_port(s: &str) -> Result<(u16, u16)> {
    if s.is_empty() {
        return Ok((0, 0));
    }
    let bad = || NetworkError::Invalid(format!("invalid hostPort: {s}"));
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if b < a {
        return Err(bad());
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_and_refuses_a_taken_port() {
        let (port, held) = reserve(Proto::Tcp, Ipv4Addr::LOCALHOST, 0).expect("ephemeral");
        assert_ne!(port, 0);
        let e = reserve(Proto::Tcp, Ipv4Addr::LOCALHOST, port).expect_err("taken");
        assert!(e.to_string().contains("address already in use"), "{e}");
        drop(held);
        let (again, _h) = reserve(Proto::Tcp, Ipv4Addr::LOCALHOST, port).expect("free again");
        assert_eq!(again, port);
        let (u, _uh) = reserve(Proto::Udp, Ipv4Addr::LOCALHOST, 0).expect("udp");
        assert_ne!(u, 0);
    }

    #[test]
    fn parses_keys_and_ranges() {
        assert_eq!(parse_port_key("80").expect("p"), (80, Proto::Tcp));
        assert_eq!(parse_port_key("53/udp").expect("p"), (53, Proto::Udp));
        assert!(parse_port_key("0/tcp").is_err());
        assert!(parse_port_key("80/sctpx").is_err());
        assert_eq!(parse_host_port("").expect("h"), (0, 0));
        assert_eq!(parse_host_port("8000-8002").expect("h"), (8000, 8002));
        assert!(parse_host_port("9-8").is_err());
        assert!(parse_host_port("70000").is_err());
    }
}

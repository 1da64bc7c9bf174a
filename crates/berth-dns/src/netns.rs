//! Creating the resolver's sockets inside a container's network namespace.
//!
//! A socket belongs to the namespace it was created in, whatever thread uses it later. So a
//! short-lived thread joins the container's namespace, binds, and exits; the sockets then serve
//! from the host-side runtime while upstream queries, made on host threads, leave from the host.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};

use crate::serve::DnsSockets;

/// Where containers find the embedded DNS server, as under dockerd.
pub const DNS_SERVER_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 11), 53));

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("opening network namespace {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("entering the container's network namespace: {0}")]
    Enter(#[source] nix::Error),
    #[error("binding the DNS server's {proto} socket on {addr}: {source}")]
    Bind {
        proto: &'static str,
        addr: SocketAddr,
        source: io::Error,
    },
    #[error("the thread binding the DNS sockets panicked")]
    ThreadPanicked,
    #[error("starting the thread binding the DNS sockets: {0}")]
    Spawn(#[source] io::Error),
}

/// A network namespace: a path such as `/proc/<pid>/ns/net` or a bind mount of it, or an open
/// descriptor of one.
#[derive(Debug, Clone, Copy)]
pub enum Netns<'a> {
    Path(&'a Path),
    Fd(BorrowedFd<'a>),
}

/// Binds a UDP socket and a TCP listener on `addr` (normally [`DNS_SERVER_ADDR`]) inside the
/// network namespace `netns`, and returns them ready for [`serve()`](crate::serve()). The calling thread's
/// namespace is not touched. The namespace's `lo` must be up for a 127.0.0.0/8 address.
pub fn bind_in_netns(netns: Netns<'_>, addr: SocketAddr) -> Result<DnsSockets, NetnsError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("berth-dns-bind".into())
            .spawn_scoped(scope, move || bind_on_this_thread(netns, addr))
            .map_err(NetnsError::Spawn)?
            .join()
            .map_err(|_| NetnsError::ThreadPanicked)?
    })
}

/// Runs on a thread of its own: it moves into the namespace and is never used again.
fn bind_on_this_thread(netns: Netns<'_>, addr: SocketAddr) -> Result<DnsSockets, NetnsError> {
    let opened;
    let fd = match netns {
        Netns::Fd(fd) => fd,
        Netns::Path(path) => {
            opened = File::open(path).map_err(|source| NetnsError::Open {
                path: path.to_owned(),
                source,
            })?;
            opened.as_fd()
        }
    };
    setns(fd, CloneFlags::CLONE_NEWNET).map_err(NetnsError::Enter)?;
    let udp = UdpSocket::bind(addr).map_err(|source| bind_error("udp", addr, source))?;
    let tcp = TcpListener::bind(addr).map_err(|source| bind_error("tcp", addr, source))?;
    Ok(DnsSockets { udp, tcp })
}

fn bind_error(proto: &'static str, addr: SocketAddr, source: io::Error) -> NetnsError {
    NetnsError::Bind {
        proto,
        addr,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_namespace_path_is_a_clear_error() {
        let error = bind_in_netns(
            Netns::Path(Path::new("/nonexistent/ns/net")),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap_err();
        assert!(matches!(error, NetnsError::Open { .. }));
        assert!(error.to_string().contains("/nonexistent/ns/net"));
    }

    #[test]
    fn a_file_that_is_not_a_namespace_is_refused() {
        let file = File::open("/proc/self/status").unwrap();
        let error =
            bind_in_netns(Netns::Fd(file.as_fd()), "127.0.0.1:0".parse().unwrap()).unwrap_err();
        assert!(matches!(error, NetnsError::Enter(_)), "{error}");
    }

    #[test]
    fn binding_in_our_own_namespace_works() {
        let sockets = bind_in_netns(
            Netns::Path(Path::new("/proc/self/ns/net")),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        assert!(sockets.udp.local_addr().unwrap().ip().is_loopback());
        assert!(sockets.tcp.local_addr().unwrap().ip().is_loopback());
    }
}

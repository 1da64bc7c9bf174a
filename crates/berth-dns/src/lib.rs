#![cfg_attr(test, allow(clippy::unwrap_used))]
//! The embedded DNS server of containers on user-defined networks, as dockerd's.
//!
//! Containers on a user-defined network get `nameserver 127.0.0.11` in their resolv.conf. A
//! resolver listens there, inside each such container's network namespace, and:
//!
//! - answers A and AAAA for the names of the containers that share a network with the asking
//!   container: container name, network aliases and short id (12 hex digits), compared
//!   case-insensitively, with or without the trailing dot; TTL 600 ([`ANSWER_TTL`]). A name that
//!   exists without an address of the asked family gets an empty NOERROR reply (not forwarded);
//! - answers PTR for their addresses (`in-addr.arpa` and `ip6.arpa`) with
//!   `<container>.<network>.`, and MX for a known name with an empty NOERROR reply;
//! - forwards everything else to the upstream resolvers from the host's namespace, over the
//!   client's transport (UDP falls back to TCP on a truncated reply), trying up to three servers;
//!   SERVFAIL when none answers or, with no upstreams (`--internal`), at once.
//!
//! # Use from the daemon
//!
//! ```no_run
//! # async fn example(netns_path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
//! use berth_dns::{bind_in_netns, serve, Endpoint, NameTable, Netns, NetworkRef, Resolver,
//!                 Upstreams, DNS_SERVER_ADDR};
//!
//! // One table for the whole daemon; update it on connect, disconnect, rename and remove.
//! let table = NameTable::new();
//! let network = NetworkRef { id: "4f1c...".into(), name: "app".into() };
//! table.connect(&network, Endpoint {
//!     container_id: "9a8b7c6d5e4f...".into(),
//!     name: "web".into(),
//!     aliases: vec!["frontend".into()],
//!     ipv4: Some("172.18.0.2".parse()?),
//!     ipv6: None,
//! })?;
//!
//! // Per container: bind 127.0.0.11:53 in its netns ("lo" must be up), then serve on the
//! // current tokio runtime. Upstreams: the host's resolv.conf, or `--dns`.
//! let sockets = bind_in_netns(Netns::Path(netns_path), DNS_SERVER_ADDR)?;
//! let resolver = Resolver::new(table.clone(), "9a8b7c6d5e4f...", Upstreams::from_host()?);
//! let server = serve(sockets, resolver)?;
//! // ... when the container stops (dropping the handle stops it too):
//! server.stop().await;
//! # Ok(()) }
//! ```
//!
//! Modules, one job each: [`table`] (names per network), [`answer`] (local answers or
//! forward), [`forward`] (upstream exchange), [`serve`](mod@serve) (socket loops), [`netns`]
//! (binding inside a namespace).

pub mod answer;
pub mod forward;
pub mod netns;
pub mod serve;
pub mod table;

pub use answer::ANSWER_TTL;
pub use forward::{ForwardError, Transport, Upstreams};
pub use netns::{bind_in_netns, Netns, NetnsError, DNS_SERVER_ADDR};
pub use serve::{serve, DnsSockets, Resolver, ServeError, ServerHandle};
pub use table::{Addresses, Endpoint, NameTable, NetworkRef, TableError};

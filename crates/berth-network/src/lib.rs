//! Bridge networking for berth: subnets and address allocation, default address pools, Linux
//! bridges and veth pairs over rtnetlink, pinned network namespaces, the nftables table (NAT,
//! published ports, isolation) and host port reservations. The daemon decides what to build;
//! this crate builds it.

pub mod error;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod pool;
pub mod ports;
pub mod subnet;
pub mod sysctl;

pub use error::NetworkError;
pub use subnet::Subnet;

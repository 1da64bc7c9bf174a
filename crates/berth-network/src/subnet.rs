//! IPv4 subnets (`172.17.0.0/16`) and addresses with a prefix (`172.17.0.1/16`).

use std::fmt;
use std::net::Ipv4Addr;

use crate::error::{NetworkError, Result};

/// A network: its first address and prefix length, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    addr: Ipv4Addr,
    prefix: u8,
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// `a.b.c.d/n` split into its address and prefix.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8)> {
    let invalid = || NetworkError::Invalid(format!("invalid CIDR address: {s}"));
    let (a, p) = s.split_once('/').ok_or_else(invalid)?;
    let addr: Ipv4Addr = a.parse().map_err(|_| invalid())?;
    let prefix: u8 = p.parse().map_err(|_| invalid())?;
    if prefix > 32 {
        return Err(invalid());
    }
    Ok((addr, prefix))
}

impl Subnet {
    /// The subnet holding `addr` (host bits are cleared).
    pub fn containing(addr: Ipv4Addr, prefix: u8) -> Self {
        Self {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }

    /// A subnet written with its host bits zero, as dockerd asks of `--subnet`.
    pub fn parse(s: &str) -> Result<Self> {
        let (addr, prefix) = parse_cidr(s)?;
        let net = Self::containing(addr, prefix);
        if net.addr != addr {
            return Err(NetworkError::Invalid(format!(
                "invalid subnet {s}: it should be {net}"
            )));
        }
        Ok(net)
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn last(&self) -> u32 {
        u32::from(self.addr) | !mask(self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// Whether `other` lies wholly inside this subnet.
    pub fn covers(&self, other: &Subnet) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// The host addresses, without the network and broadcast addresses (for /31 and /32,
    /// every address).
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let (first, last) = if self.prefix >= 31 {
            (u32::from(self.addr), self.last())
        } else {
            (u32::from(self.addr) + 1, self.last() - 1)
        };
        (first..=last).map(Ipv4Addr::from)
    }

    /// The first host address: the default gateway.
    pub fn first_host(&self) -> Option<Ipv4Addr> {
        self.hosts().next()
    }

    /// The `n`th subnet of length `prefix` inside this one.
    pub fn nth_subnet(&self, prefix: u8, n: u32) -> Option<Subnet> {
        if prefix < self.prefix || prefix > 32 {
            return None;
        }
        let count = 1u64 << (prefix - self.prefix);
        if u64::from(n) >= count {
            return None;
        }
        let step = if prefix == 0 {
            0
        } else {
            1u32 << (32 - prefix)
        };
        Some(Subnet {
            addr: Ipv4Addr::from(u32::from(self.addr) + n * step),
            prefix,
        })
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_host_bits() {
        let s = Subnet::parse("172.18.0.0/16").expect("subnet");
        assert_eq!(s.to_string(), "172.18.0.0/16");
        assert!(s.contains(Ipv4Addr::new(172, 18, 3, 4)));
        assert!(!s.contains(Ipv4Addr::new(172, 19, 0, 1)));
        let e = Subnet::parse("10.1.2.3/24").expect_err("host bits");
        assert_eq!(
            e.to_string(),
            "invalid subnet 10.1.2.3/24: it should be 10.1.2.0/24"
        );
        assert!(Subnet::parse("10.0.0.0/33").is_err());
        assert!(Subnet::parse("nonsense").is_err());
    }

    #[test]
    fn hosts_overlap_and_split() {
        let s = Subnet::parse("10.0.0.0/30").expect("subnet");
        let hosts: Vec<_> = s.hosts().collect();
        assert_eq!(
            hosts,
            [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)]
        );
        let big = Subnet::parse("10.0.0.0/8").expect("subnet");
        assert!(big.overlaps(&s) && s.overlaps(&big));
        assert!(big.covers(&s) && !s.covers(&big));
        assert_eq!(
            big.nth_subnet(16, 3).map(|s| s.to_string()).as_deref(),
            Some("10.3.0.0/16")
        );
        assert_eq!(big.nth_subnet(16, 256), None);
    }
}

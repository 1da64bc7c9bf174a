//! Address allocation inside one network's subnet.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use crate::error::{NetworkError, Result};
use crate::subnet::Subnet;

/// One network's IPv4 address plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipam {
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// `--ip-range`: dynamic addresses come from here only.
    pub ip_range: Option<Subnet>,
}

impl Ipam {
    /// Checks a user's plan with dockerd's wording.
    pub fn new(
        subnet: Subnet,
        gateway: Option<Ipv4Addr>,
        ip_range: Option<Subnet>,
    ) -> Result<Self> {
        let gateway = match gateway {
            Some(g) => {
                if !subnet.contains(g) {
                    return Err(NetworkError::Invalid(format!(
                        "no matching subnet for gateway {g}"
                    )));
                }
                g
            }
            None => subnet.first_host().ok_or_else(|| {
                NetworkError::Invalid(format!("subnet {subnet} has no host addresses"))
            })?,
        };
        if let Some(r) = ip_range {
            if !subnet.covers(&r) {
                return Err(NetworkError::Invalid(format!(
                    "no matching subnet for range {r}"
                )));
            }
        }
        Ok(Self {
            subnet,
            gateway,
            ip_range,
        })
    }

    /// The first free address of the range (or subnet), skipping the gateway.
    pub fn next_free(&self, used: &BTreeSet<Ipv4Addr>) -> Result<Ipv4Addr> {
        let range = self.ip_range.unwrap_or(self.subnet);
        range
            .hosts()
            .find(|ip| *ip != self.gateway && !used.contains(ip) && self.is_host(*ip))
            .ok_or_else(|| {
                NetworkError::InUse(format!(
                    "no available IPv4 addresses on this network's address pools: {}",
                    self.subnet
                ))
            })
    }

    /// Checks a requested `--ip`.
    pub fn check_static(&self, ip: Ipv4Addr, used: &BTreeSet<Ipv4Addr>) -> Result<()> {
        if !self.subnet.contains(ip) || !self.is_host(ip) {
            return Err(NetworkError::Invalid(format!(
                "no configured subnet or ip-range contain the IP address {ip}"
            )));
        }
        if ip == self.gateway || used.contains(&ip) {
            return Err(NetworkError::InUse("Address already in use".into()));
        }
        Ok(())
    }

    fn is_host(&self, ip: Ipv4Addr) -> bool {
        if self.subnet.prefix() >= 31 {
            return true;
        }
        let first = u32::from(self.subnet.addr());
        let v = u32::from(ip);
        let broadcast = first | ((1u64 << (32 - u32::from(self.subnet.prefix()))) - 1) as u32;
        v != first && v != broadcast
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_skipping_gateway_and_used() {
        let ipam = Ipam::new(Subnet::parse("10.5.0.0/24").expect("s"), None, None).expect("ipam");
        assert_eq!(ipam.gateway, Ipv4Addr::new(10, 5, 0, 1));
        let mut used = BTreeSet::new();
        let a = ipam.next_free(&used).expect("a");
        assert_eq!(a, Ipv4Addr::new(10, 5, 0, 2));
        used.insert(a);
        assert_eq!(
            ipam.next_free(&used).expect("b"),
            Ipv4Addr::new(10, 5, 0, 3)
        );
        assert!(ipam.check_static(a, &used).is_err());
        assert!(ipam
            .check_static(Ipv4Addr::new(10, 5, 0, 255), &used)
            .is_err());
        assert!(ipam
            .check_static(Ipv4Addr::new(10, 6, 0, 9), &used)
            .is_err());
        assert!(ipam.check_static(Ipv4Addr::new(10, 5, 0, 9), &used).is_ok());
    }

    #[test]
    fn range_and_gateway_checks() {
        let s = Subnet::parse("10.5.0.0/16").expect("s");
        let e = Ipam::new(s, Some(Ipv4Addr::new(10, 6, 0, 1)), None).expect_err("gateway");
        assert_eq!(e.to_string(), "no matching subnet for gateway 10.6.0.1");
        let r = Subnet::parse("10.5.7.0/24").expect("r");
        let ipam = Ipam::new(s, None, Some(r)).expect("ipam");
        assert_eq!(
            ipam.next_free(&BTreeSet::new()).expect("ip"),
            Ipv4Addr::new(10, 5, 7, 1)
        );
        let tiny = Ipam::new(Subnet::parse("10.9.0.0/30").expect("s"), None, None).expect("ipam");
        let used: BTreeSet<_> = [Ipv4Addr::new(10, 9, 0, 2)].into();
        assert!(tiny.next_free(&used).is_err());
    }
}

//! Default address pools: where networks without `--subnet` get theirs (dockerd's
//! `--default-address-pool`).

use crate::error::{NetworkError, Result};
use crate::subnet::Subnet;

/// A range carved into subnets of one size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPool {
    pub base: Subnet,
    pub size: u8,
}

impl AddressPool {
    /// `base=172.30.0.0/16,size=24`, as `--default-address-pool` takes it.
    pub fn parse(s: &str) -> Result<Self> {
        let mut base = None;
        let mut size = None;
        for part in s.split(',') {
            match part.split_once('=') {
                Some(("base", v)) => base = Some(Subnet::parse(v)?),
                Some(("size", v)) => {
                    size = Some(v.parse::<u8>().map_err(|_| {
                        NetworkError::Invalid(format!("invalid size in address pool: {v}"))
                    })?)
                }
                _ => {
                    return Err(NetworkError::Invalid(format!(
                        "invalid field in default address pool: {part}"
                    )))
                }
            }
        }
        match (base, size) {
            (Some(base), Some(size)) if size >= base.prefix() && size <= 32 => {
                Ok(Self { base, size })
            }
            (Some(base), Some(size)) => Err(NetworkError::Invalid(format!(
                "invalid pools configuration: size {size} is smaller than the base prefix of {base}"
            ))),
            _ => Err(NetworkError::Invalid(format!(
                "invalid default address pool {s}: base and size are required"
            ))),
        }
    }

    /// Every subnet this pool offers, in order.
    pub fn subnets(&self) -> impl Iterator<Item = Subnet> + '_ {
        (0u32..).map_while(|n| self.base.nth_subnet(self.size, n))
    }
}

/// dockerd's defaults: each /16 of 172.17-31, then 192.168.0.0/16 in /20s.
pub fn default_pools() -> Vec<AddressPool> {
    let mut pools: Vec<AddressPool> = (17u8..=31)
        .map(|b| AddressPool {
            base: Subnet::containing(std::net::Ipv4Addr::new(172, b, 0, 0), 16),
            size: 16,
        })
        .collect();
    pools.push(AddressPool {
        base: Subnet::containing(std::net::Ipv4Addr::new(192, 168, 0, 0), 16),
        size: 20,
    });
    pools
}

/// The first subnet of the pools that overlaps nothing in `in_use` (host routes, other
/// bridges, berth's own networks).
pub fn pick(pools: &[AddressPool], in_use: &[Subnet]) -> Option<Subnet> {
    pools
        .iter()
        .flat_map(AddressPool::subnets)
        .find(|s| !in_use.iter().any(|u| u.overlaps(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_first_free_subnet() {
        let pools = default_pools();
        assert_eq!(
            pick(&pools, &[]).map(|s| s.to_string()).as_deref(),
            Some("172.17.0.0/16")
        );
        let docker0 = Subnet::parse("172.17.0.0/16").expect("subnet");
        let other = Subnet::parse("172.18.5.0/24").expect("subnet");
        assert_eq!(
            pick(&pools, &[docker0, other])
                .map(|s| s.to_string())
                .as_deref(),
            Some("172.19.0.0/16")
        );
        let all172 = Subnet::parse("172.16.0.0/12").expect("subnet");
        assert_eq!(
            pick(&pools, &[all172]).map(|s| s.to_string()).as_deref(),
            Some("192.168.0.0/20")
        );
    }

    #[test]
    fn parses_dockerd_pool_syntax() {
        let p = AddressPool::parse("base=10.10.0.0/16,size=24").expect("pool");
        assert_eq!(
            p.subnets().nth(2).map(|s| s.to_string()).as_deref(),
            Some("10.10.2.0/24")
        );
        assert!(AddressPool::parse("base=10.10.0.0/16,size=8").is_err());
        assert!(AddressPool::parse("base=10.10.0.0/16").is_err());
        assert!(AddressPool::parse("bass=1").is_err());
    }
}

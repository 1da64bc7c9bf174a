//! Each test daemon gets a network slot of its own: a bridge name, a bridge subnet and an
//! address pool no other test daemon on the machine uses at the same time. A slot is held by
//! an flock on `/tmp/berth-e2e-net/<n>.lock` for the daemon's life.

use std::fs::File;
use std::process::Command;

use nix::fcntl::{Flock, FlockArg};

/// Slots 100..=250 map to 10.<n>.0.0/16: far from the host's routes and dockerd's 172.17/16.
const FIRST: u8 = 100;
const LAST: u8 = 250;

pub struct NetSlot {
    pub n: u8,
    _lock: Flock<File>,
}

impl NetSlot {
    /// Takes the first free slot; None when all are taken.
    pub fn take() -> Option<Self> {
        let dir = std::path::Path::new("/tmp/berth-e2e-net");
        std::fs::create_dir_all(dir).ok()?;
        for n in FIRST..=LAST {
            let Ok(f) = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(format!("{n}.lock")))
            else {
                continue;
            };
            if let Ok(lock) = Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                // A previous holder may have crashed: start from a clean bridge and table.
                let slot = Self { n, _lock: lock };
                slot.remove_host_state();
                return Some(slot);
            }
        }
        None
    }

    pub fn bridge(&self) -> String {
        format!("bt{}", self.n)
    }

    /// berthd's nftables table for this bridge.
    pub fn table(&self) -> String {
        format!("berth_{}", self.bridge())
    }

    /// The berthd flags for this slot.
    pub fn daemon_args(&self) -> Vec<String> {
        vec![
            "--bridge".into(),
            self.bridge(),
            "--bip".into(),
            format!("10.{}.0.1/24", self.n),
            "--default-address-pool".into(),
            format!("base=10.{}.0.0/16,size=24", self.n),
        ]
    }

    /// Host links whose master is `bridge`.
    pub fn ports_of(bridge: &str) -> Vec<String> {
        let out = Command::new("ip")
            .args(["-o", "link", "show", "master", bridge])
            .output();
        match out {
            Ok(o) => String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| {
                    l.split(':')
                        .nth(1)
                        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
                })
                .filter(|n| !n.is_empty())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    pub fn link_exists(name: &str) -> bool {
        std::path::Path::new("/sys/class/net").join(name).exists()
    }

    /// The rules of this slot's table (nft's listing), empty when there is no table.
    pub fn table_listing(&self) -> String {
        Command::new("nft")
            .args(["list", "table", "ip", &self.table()])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Deletes the slot's bridge and table (the daemon keeps them across its restarts, as
    /// dockerd keeps docker0; the test machine should not).
    pub fn remove_host_state(&self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .output();
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.table()])
            .output();
    }
}

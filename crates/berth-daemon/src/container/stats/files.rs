//! Parsing the small text files of cgroupfs and procfs.

use std::collections::BTreeMap;
use std::path::Path;

use berth_api::stats::BlkioStatEntry;

/// A file holding one number (`max` and missing files give `None`).
pub fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat).
pub fn key_values(path: &Path) -> BTreeMap<String, u64> {
    parse_key_values(&std::fs::read_to_string(path).unwrap_or_default())
}

pub fn parse_key_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// A v1 blkio file: `8:0 Read 4096` rows (the `Total` summary line has no device).
pub fn blkio_v1(path: &Path) -> Vec<BlkioStatEntry> {
    parse_blkio_v1(&std::fs::read_to_string(path).unwrap_or_default())
}

pub fn parse_blkio_v1(text: &str) -> Vec<BlkioStatEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (major, minor) = f.next()?.split_once(':')?;
            let op = f.next()?;
            let value = f.next()?.parse().ok()?;
            Some(BlkioStatEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgroup_text() {
        let kv = parse_key_values("cache 4096\nrss 8192\nbad line x\n");
        assert_eq!(kv.get("rss"), Some(&8192));
        assert_eq!(kv.len(), 2);
        let rows = parse_blkio_v1("8:0 Read 100\n8:0 Write 5\n8:0 Total 105\nTotal 105\n");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].op, "Write");
        assert_eq!(rows[1].value, 5);
    }
}

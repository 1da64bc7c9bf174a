//! Linux capabilities: docker's default set, `--cap-add`/`--cap-drop` and the host's bounding set.

/// Every capability docker knows, by bit number (capability(7)).
pub const KNOWN: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// docker's default capabilities (moby `oci.DefaultCapabilities`).
pub const DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const ALL: &str = "ALL";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CapsError {
    #[error("unknown capability: {0:?}")]
    Unknown(String),
    /// Known to docker but outside this host's bounding set: a runtime could not grant it.
    #[error("capability not supported by your kernel or not available in the current environment: {0:?}")]
    Unavailable(String),
    #[error("reading the capability bounding set: {0}")]
    Bounding(String),
}

/// A set of capabilities as a bit mask (bit n = capability n).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSet(pub u64);

impl CapSet {
    pub fn contains(self, name: &str) -> bool {
        bit_of(name).is_some_and(|b| self.0 & (1u64 << b) != 0)
    }

    /// Known capability names in the set, in bit order.
    pub fn names(self) -> Vec<String> {
        KNOWN
            .iter()
            .enumerate()
            .filter(|(bit, _)| self.0 & (1u64 << bit) != 0)
            .map(|(_, n)| (*n).to_string())
            .collect()
    }
}

fn bit_of(name: &str) -> Option<usize> {
    KNOWN.iter().position(|k| *k == name)
}

/// The calling process's bounding set (`CapBnd` in /proc/self/status). Privileged containers
/// get exactly this: runtimes fail when asked for a capability outside it.
pub fn host_bounding_set() -> Result<CapSet, CapsError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| CapsError::Bounding(e.to_string()))?;
    parse_status_mask(&status, "CapBnd")
        .ok_or_else(|| CapsError::Bounding("no CapBnd line in /proc/self/status".into()))
}

/// A hex capability mask line such as `CapEff:\t000001fffeffffff` from a /proc status file.
pub fn parse_status_mask(status: &str, field: &str) -> Option<CapSet> {
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        if key != field {
            return None;
        }
        u64::from_str_radix(value.trim(), 16).ok().map(CapSet)
    })
}

/// Upper-cases and `CAP_`-prefixes `--cap-add`/`--cap-drop` values, keeping `ALL`
/// (moby `NormalizeLegacyCapabilities`).
pub fn normalize(caps: &[String]) -> Result<Vec<String>, CapsError> {
    caps.iter()
        .map(|c| {
            let upper = c.to_uppercase();
            if upper == ALL {
                return Ok(upper);
            }
            let name = if upper.starts_with("CAP_") {
                upper
            } else {
                format!("CAP_{upper}")
            };
            if bit_of(&name).is_none() {
                return Err(CapsError::Unknown(name));
            }
            Ok(name)
        })
        .collect()
}

/// The container's capabilities (moby `TweakCapabilities`): privileged gets the whole
/// bounding set; `ALL` in adds means every available one but the drops; `ALL` in drops means
/// only the adds; otherwise the defaults minus drops plus adds. Adding a capability the host
/// cannot grant is an error.
pub fn effective(
    adds: &[String],
    drops: &[String],
    privileged: bool,
    available: CapSet,
) -> Result<Vec<String>, CapsError> {
    if privileged {
        return Ok(available.names());
    }
    let drops = normalize(drops)?;
    let adds = normalize(adds)?;
    let mut caps: Vec<String> = if adds.iter().any(|c| c == ALL) {
        available
            .names()
            .into_iter()
            .filter(|c| !drops.contains(c))
            .collect()
    } else if drops.iter().any(|c| c == ALL) {
        adds.clone()
    } else {
        let mut base: Vec<String> = DEFAULT
            .iter()
            .map(|c| (*c).to_string())
            .filter(|c| !drops.contains(c))
            .collect();
        base.extend(adds.iter().cloned());
        base
    };
    caps.retain(|c| c != ALL);
    let mut seen = Vec::with_capacity(caps.len());
    for c in caps {
        if !available.contains(&c) {
            return Err(CapsError::Unavailable(c));
        }
        if !seen.contains(&c) {
            seen.push(c);
        }
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_BUT_SYS_RESOURCE: CapSet = CapSet(0x1fffeffffff);

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_string()).collect()
    }

    #[test]
    fn defaults_are_docker_s_fourteen() {
        let caps = effective(&[], &[], false, ALL_BUT_SYS_RESOURCE).expect("caps");
        assert_eq!(caps, s(&DEFAULT));
    }

    #[test]
    fn add_and_drop_accept_any_case_and_prefix() {
        let caps = effective(
            &s(&["net_admin", "CAP_sys_admin"]),
            &s(&["chown", "CAP_KILL"]),
            false,
            ALL_BUT_SYS_RESOURCE,
        )
        .expect("caps");
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(caps.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        assert!(!caps.contains(&"CAP_KILL".to_string()));
        assert_eq!(caps.len(), 14);
    }

    #[test]
    fn drop_all_keeps_only_adds_and_add_all_keeps_all_but_drops() {
        let caps =
            effective(&s(&["chown"]), &s(&["all"]), false, ALL_BUT_SYS_RESOURCE).expect("caps");
        assert_eq!(caps, s(&["CAP_CHOWN"]));
        let caps =
            effective(&s(&["ALL"]), &s(&["mknod"]), false, ALL_BUT_SYS_RESOURCE).expect("caps");
        assert_eq!(
            caps.len(),
            39,
            "41 known, minus SYS_RESOURCE (not in the set), minus MKNOD"
        );
        assert!(!caps.contains(&"CAP_SYS_RESOURCE".to_string()));
    }

    #[test]
    fn unknown_and_unavailable_names_fail_with_docker_s_words() {
        let err = effective(&s(&["foo"]), &[], false, ALL_BUT_SYS_RESOURCE).expect_err("unknown");
        assert_eq!(err.to_string(), "unknown capability: \"CAP_FOO\"");
        let err = effective(&s(&["sys_resource"]), &[], false, ALL_BUT_SYS_RESOURCE)
            .expect_err("unavailable");
        assert!(
            err.to_string()
                .contains("not available in the current environment"),
            "{err}"
        );
    }

    #[test]
    fn privileged_is_the_bounding_set() {
        let caps = effective(&[], &[], true, CapSet(0b101)).expect("caps");
        assert_eq!(caps, s(&["CAP_CHOWN", "CAP_DAC_READ_SEARCH"]));
    }

    #[test]
    fn status_masks_parse() {
        let status = "Name:\tx\nCapEff:\t0000000000000003\nCapBnd:\t000001fffeffffff\n";
        assert_eq!(
            parse_status_mask(status, "CapBnd"),
            Some(ALL_BUT_SYS_RESOURCE)
        );
        assert_eq!(
            parse_status_mask(status, "CapEff").map(CapSet::names),
            Some(s(&["CAP_CHOWN", "CAP_DAC_OVERRIDE"]))
        );
        assert!(host_bounding_set().is_ok());
    }
}

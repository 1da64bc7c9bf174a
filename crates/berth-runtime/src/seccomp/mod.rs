//! Seccomp: docker's default profile and docker-format profiles converted to the OCI form,
//! filtered for this host's architecture and kernel and the container's capabilities
//! (moby `profiles/seccomp`).

use oci_spec::runtime::LinuxSeccomp;
use serde::{Deserialize, Serialize};

/// docker's default profile, in docker's format.
const DEFAULT_PROFILE: &str = include_str!("default.json");

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("Decoding seccomp profile failed: {0}")]
    Decode(String),
    #[error("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'")]
    ArchitecturesAndArchMap,
    #[error("use 'name' or 'names',but not both")]
    NameAndNames,
    #[error("invalid minimum kernel version {0:?}")]
    BadKernelVersion(String),
    #[error("converting the seccomp profile: {0}")]
    Convert(String),
}

/// A seccomp profile in docker's format (`--security-opt seccomp=profile.json`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default)]
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub arch_map: Vec<ArchMap>,
    #[serde(default)]
    pub listener_path: Option<String>,
    #[serde(default)]
    pub listener_metadata: Option<String>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub syscalls: Vec<Syscall>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ArchMap {
    #[serde(rename = "architecture")]
    pub arch: String,
    #[serde(rename = "subArchitectures", default)]
    pub sub_arches: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Syscall {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub names: Vec<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub includes: Option<Filter>,
    #[serde(default)]
    pub excludes: Option<Filter>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value_two: u64,
    pub op: String,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Conditions on a rule: host architectures (Go names: amd64, arm64, ...), capabilities the
/// container must hold, a minimum kernel version.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default)]
    pub arches: Vec<String>,
    #[serde(default)]
    pub caps: Vec<String>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// What a profile is filtered against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Go architecture name (`amd64`, `arm64`, ...), the names profiles use in `arches`.
    pub go_arch: &'static str,
    /// Kernel (major, minor).
    pub kernel: (u32, u32),
}

impl Host {
    /// The running machine.
    pub fn current() -> Host {
        let kernel = nix::sys::utsname::uname()
            .ok()
            .and_then(|u| parse_kernel_version(&u.release().to_string_lossy()))
            .unwrap_or((0, 0));
        Host {
            go_arch: go_arch(),
            kernel,
        }
    }
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// The libseccomp name of a Go architecture, as `archMap` keys are.
fn native_arch(go_arch: &str) -> Option<&'static str> {
    Some(match go_arch {
        "amd64" => "SCMP_ARCH_X86_64",
        "386" => "SCMP_ARCH_X86",
        "arm64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "s390x" => "SCMP_ARCH_S390X",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => return None,
    })
}

/// `"6.18.0-1-amd64"` -> (6, 18).
pub fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Parses a docker-format profile.
pub fn parse_profile(json: &str) -> Result<Profile, SeccompError> {
    serde_json::from_str(json).map_err(|e| SeccompError::Decode(e.to_string()))
}

/// docker's default profile, with one deliberate difference: amd64 filters do not add the x32
/// ABI as a sub-architecture. x32 syscalls are then killed as a foreign architecture instead of
/// being filtered (stricter, and Debian's kernels and most others build without x32), and
/// libseccomp compiles the filter in half the time, which every container start pays.
pub fn default_profile() -> Result<Profile, SeccompError> {
    parse_profile(DEFAULT_PROFILE)
}

/// [`to_oci`] of the default profile, remembered for the last host and bounding set asked:
/// nearly every container has the same, and parsing and filtering the profile took about
/// 0.3 ms of each start.
pub fn default_oci(host: &Host, caps: &[String]) -> Result<LinuxSeccomp, SeccompError> {
    type Last = Option<(Host, Vec<String>, LinuxSeccomp)>;
    static LAST: std::sync::Mutex<Last> = std::sync::Mutex::new(None);
    let last = |m: &std::sync::Mutex<Last>| {
        m.lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|(h, c, _)| h == host && c.as_slice() == caps)
            .map(|(_, _, filter)| filter.clone())
    };
    if let Some(filter) = last(&LAST) {
        return Ok(filter);
    }
    let filter = to_oci(&default_profile()?, host, caps)?;
    *LAST.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((host.clone(), caps.to_vec(), filter.clone()));
    Ok(filter)
}

/// The OCI filter for `profile` on `host` for a container whose bounding set is `caps`.
pub fn to_oci(
    profile: &Profile,
    host: &Host,
    caps: &[String],
) -> Result<LinuxSeccomp, SeccompError> {
    if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
        return Err(SeccompError::ArchitecturesAndArchMap);
    }
    let mut architectures = profile.architectures.clone();
    if let Some(native) = native_arch(host.go_arch) {
        for m in profile.arch_map.iter().filter(|m| m.arch == native) {
            architectures.push(m.arch.clone());
            architectures.extend(m.sub_arches.iter().flatten().cloned());
        }
    }
    let mut syscalls = Vec::new();
    for call in &profile.syscalls {
        let names = match (call.name.is_empty(), call.names.is_empty()) {
            (false, false) => return Err(SeccompError::NameAndNames),
            (false, true) => vec![call.name.clone()],
            _ => call.names.clone(),
        };
        if !applies(call, host, caps)? {
            continue;
        }
        let mut rule = serde_json::json!({ "names": names, "action": call.action });
        if let Some(errno) = call.errno_ret {
            rule["errnoRet"] = errno.into();
        }
        if !call.args.is_empty() {
            rule["args"] = serde_json::to_value(&call.args)
                .map_err(|e| SeccompError::Convert(e.to_string()))?;
        }
        syscalls.push(rule);
    }
    let mut oci =
        serde_json::json!({ "defaultAction": profile.default_action, "syscalls": syscalls });
    if !architectures.is_empty() {
        oci["architectures"] = architectures.into();
    }
    if let Some(errno) = profile.default_errno_ret {
        oci["defaultErrnoRet"] = errno.into();
    }
    if !profile.flags.is_empty() {
        oci["flags"] = profile.flags.clone().into();
    }
    if let Some(p) = &profile.listener_path {
        oci["listenerPath"] = p.clone().into();
    }
    if let Some(m) = &profile.listener_metadata {
        oci["listenerMetadata"] = m.clone().into();
    }
    serde_json::from_value(oci).map_err(|e| SeccompError::Convert(e.to_string()))
}

/// Whether a rule's includes hold and its excludes do not.
fn applies(call: &Syscall, host: &Host, caps: &[String]) -> Result<bool, SeccompError> {
    if let Some(ex) = &call.excludes {
        if ex.arches.iter().any(|a| a == host.go_arch) || ex.caps.iter().any(|c| caps.contains(c)) {
            return Ok(false);
        }
        if let Some(min) = &ex.min_kernel {
            if kernel_at_least(host, min)? {
                return Ok(false);
            }
        }
    }
    if let Some(inc) = &call.includes {
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == host.go_arch) {
            return Ok(false);
        }
        if !inc.caps.iter().all(|c| caps.contains(c)) {
            return Ok(false);
        }
        if let Some(min) = &inc.min_kernel {
            if !kernel_at_least(host, min)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn kernel_at_least(host: &Host, min: &str) -> Result<bool, SeccompError> {
    let want =
        parse_kernel_version(min).ok_or_else(|| SeccompError::BadKernelVersion(min.to_string()))?;
    Ok(host.kernel >= want)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompOperator};

    fn amd64(kernel: (u32, u32)) -> Host {
        Host {
            go_arch: "amd64",
            kernel,
        }
    }

    #[test]
    fn the_remembered_default_filter_follows_host_and_capabilities() {
        let fresh = |host: &Host, caps: &[String]| {
            to_oci(&default_profile().expect("profile"), host, caps).expect("filter")
        };
        let plain: Vec<String> = vec!["CAP_CHOWN".into()];
        let admin: Vec<String> = vec!["CAP_CHOWN".into(), "CAP_SYS_ADMIN".into()];
        for (host, caps) in [
            (amd64((5, 10)), &plain),
            (amd64((5, 10)), &plain),
            (amd64((5, 10)), &admin),
            (amd64((4, 4)), &admin),
            (amd64((5, 10)), &plain),
        ] {
            let remembered = default_oci(&host, caps).expect("filter");
            assert_eq!(remembered, fresh(&host, caps), "{host:?} {caps:?}");
        }
        // CAP_SYS_ADMIN opens syscalls (mount, unshare...) the plain set does not.
        let host = amd64((5, 10));
        assert!(!allowed(
            &default_oci(&host, &plain).expect("filter"),
            "unshare"
        ));
        assert!(allowed(
            &default_oci(&host, &admin).expect("filter"),
            "unshare"
        ));
        assert!(!allowed(
            &default_oci(&host, &plain).expect("filter"),
            "unshare"
        ));
    }

    fn allowed(s: &LinuxSeccomp, name: &str) -> bool {
        s.syscalls().iter().flatten().any(|r| {
            r.action() == LinuxSeccompAction::ScmpActAllow
                && r.names().iter().any(|n| n == name)
                && r.args().is_none()
        })
    }

    fn default_caps() -> Vec<String> {
        crate::caps::DEFAULT
            .iter()
            .map(|c| (*c).to_string())
            .collect()
    }

    #[test]
    fn default_profile_blocks_admin_syscalls_without_cap_sys_admin() {
        let s = to_oci(
            &default_profile().expect("profile"),
            &amd64((6, 18)),
            &default_caps(),
        )
        .expect("oci");
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
        assert_eq!(
            s.architectures().clone(),
            Some(vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86]),
            "x86_64 with its x86 sub-architecture (x32 left out: see default_profile)"
        );
        for blocked in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "keyctl",
            "kexec_load",
            "bpf",
            "reboot",
            "open_by_handle_at",
        ] {
            assert!(!allowed(&s, blocked), "{blocked} must not be allowed");
        }
        for ok in ["read", "execve", "arch_prctl", "ptrace", "chroot"] {
            assert!(allowed(&s, ok), "{ok} must be allowed");
        }
        assert!(
            !allowed(&s, "clone"),
            "clone is only allowed without namespace flags"
        );
        let clone = s
            .syscalls()
            .iter()
            .flatten()
            .find(|r| r.names().contains(&"clone".to_string()))
            .expect("clone rule");
        let arg = &clone.args().as_ref().expect("args")[0];
        assert_eq!(
            (arg.index(), arg.value(), arg.op()),
            (0, 2114060288, LinuxSeccompOperator::ScmpCmpMaskedEq)
        );
        let clone3 = s
            .syscalls()
            .iter()
            .flatten()
            .find(|r| r.names().contains(&"clone3".to_string()))
            .expect("clone3");
        assert_eq!(clone3.errno_ret(), Some(38));
    }

    #[test]
    fn capabilities_unlock_their_syscalls() {
        let mut caps = default_caps();
        caps.push("CAP_SYS_ADMIN".into());
        caps.push("CAP_SYS_PTRACE".into());
        let s = to_oci(&default_profile().expect("profile"), &amd64((6, 18)), &caps).expect("oci");
        for ok in ["mount", "unshare", "setns", "clone", "clone3", "kcmp"] {
            assert!(
                allowed(&s, ok),
                "{ok} must be allowed with CAP_SYS_ADMIN/CAP_SYS_PTRACE"
            );
        }
        assert!(
            !s.syscalls()
                .iter()
                .flatten()
                .any(|r| r.errno_ret() == Some(38)),
            "no ENOSYS clone3 rule"
        );
    }

    #[test]
    fn old_kernels_and_other_arches_filter_rules() {
        let s = to_oci(
            &default_profile().expect("profile"),
            &amd64((4, 4)),
            &default_caps(),
        )
        .expect("oci");
        assert!(
            !allowed(&s, "ptrace"),
            "ptrace needs 4.8 without CAP_SYS_PTRACE"
        );
        let arm = Host {
            go_arch: "arm64",
            kernel: (6, 1),
        };
        let s = to_oci(&default_profile().expect("profile"), &arm, &default_caps()).expect("oci");
        assert!(!allowed(&s, "arch_prctl"));
        assert!(allowed(&s, "set_tls"));
        assert_eq!(s.architectures().as_ref().map(|a| a.len()), Some(2));
    }

    #[test]
    fn custom_profiles_convert_and_bad_ones_fail() {
        let p = parse_profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
                "syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
        )
        .expect("parse");
        let s = to_oci(&p, &amd64((6, 1)), &[]).expect("oci");
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
        let rule = &s.syscalls().as_ref().expect("rules")[0];
        assert_eq!(rule.names(), &vec!["mkdir".to_string()]);
        assert_eq!(rule.errno_ret(), Some(13));

        let both = parse_profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]}"#)
            .expect("parse");
        assert!(matches!(
            to_oci(&both, &amd64((6, 1)), &[]),
            Err(SeccompError::NameAndNames)
        ));
        let bad = parse_profile("{not json").expect_err("decode");
        assert!(bad
            .to_string()
            .starts_with("Decoding seccomp profile failed"));
        let bad_action = parse_profile(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#).expect("parse");
        assert!(to_oci(&bad_action, &amd64((6, 1)), &[]).is_err());
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel_version("6.18.0-1-amd64"), Some((6, 18)));
        assert_eq!(parse_kernel_version("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel_version("x"), None);
    }
}

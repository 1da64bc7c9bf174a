//! `--cgroupns` / `HostConfig.CgroupnsMode`: dockerd's defaults and warnings.

use berth_api::models::{HostConfig, HostConfigCgroupnsModeEnum as Mode};
use berth_runtime::spec::CgroupNamespace;

/// dockerd's warning when a private cgroup namespace cannot be had.
const UNSUPPORTED: &str =
    "Your kernel does not support cgroup namespaces.  Cgroup namespace setting discarded.";

/// Fills in the mode as dockerd does at create (private on a pure v2 host, the host's on v1 and
/// hybrid, where privileged containers always get the host's) and returns the warnings.
pub fn adapt(hc: &mut HostConfig, unified: bool, kernel_has_cgroupns: bool) -> Vec<String> {
    let mode = match hc.cgroupns_mode {
        None | Some(Mode::EMPTY) => {
            if unified {
                Mode::PRIVATE
            } else {
                Mode::HOST
            }
        }
        Some(m) => m,
    };
    hc.cgroupns_mode = Some(mode);
    if mode == Mode::PRIVATE && !kernel_has_cgroupns {
        return vec![UNSUPPORTED.to_string()];
    }
    Vec::new()
}

/// The runtime's setting for a stored container.
pub fn of(hc: &HostConfig) -> CgroupNamespace {
    match hc.cgroupns_mode {
        Some(Mode::PRIVATE) => CgroupNamespace::Private,
        Some(Mode::HOST) => CgroupNamespace::Host,
        // Containers created before the mode was recorded.
        None | Some(Mode::EMPTY) => CgroupNamespace::HostDefault,
    }
}

/// Whether this kernel has cgroup namespaces.
pub fn kernel_support() -> bool {
    std::path::Path::new("/proc/self/ns/cgroup").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapted(mode: Option<Mode>, privileged: bool, unified: bool, ns: bool) -> (Mode, usize) {
        let mut hc = HostConfig {
            cgroupns_mode: mode,
            privileged: Some(privileged),
            ..Default::default()
        };
        let warnings = adapt(&mut hc, unified, ns);
        (hc.cgroupns_mode.expect("set"), warnings.len())
    }

    #[test]
    fn defaults_follow_the_cgroup_layout_as_dockerd() {
        assert_eq!(adapted(None, false, false, true), (Mode::HOST, 0));
        assert_eq!(
            adapted(Some(Mode::EMPTY), false, false, true),
            (Mode::HOST, 0)
        );
        assert_eq!(adapted(None, true, false, true), (Mode::HOST, 0));
        assert_eq!(adapted(None, false, true, true), (Mode::PRIVATE, 0));
        // On v2 even privileged containers get their own namespace.
        assert_eq!(adapted(None, true, true, true), (Mode::PRIVATE, 0));
    }

    #[test]
    fn explicit_modes_are_kept_and_an_unsupported_private_warns() {
        assert_eq!(
            adapted(Some(Mode::PRIVATE), false, false, true),
            (Mode::PRIVATE, 0)
        );
        assert_eq!(
            adapted(Some(Mode::HOST), false, true, true),
            (Mode::HOST, 0)
        );
        assert_eq!(
            adapted(Some(Mode::PRIVATE), false, false, false),
            (Mode::PRIVATE, 1)
        );
        assert_eq!(adapted(None, false, true, false), (Mode::PRIVATE, 1));
    }

    #[test]
    fn stored_modes_map_to_the_runtime_setting() {
        let of_mode = |m| {
            of(&HostConfig {
                cgroupns_mode: m,
                ..Default::default()
            })
        };
        assert_eq!(of_mode(Some(Mode::PRIVATE)), CgroupNamespace::Private);
        assert_eq!(of_mode(Some(Mode::HOST)), CgroupNamespace::Host);
        assert_eq!(of_mode(None), CgroupNamespace::HostDefault);
    }
}

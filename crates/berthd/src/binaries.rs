//! `berth-shim` and `berth-init` live next to `berthd` unless `BERTH_SHIM` / `BERTH_INIT` say
//! otherwise.

use std::path::{Path, PathBuf};

pub const SHIM_NAME: &str = "berth-shim";
pub const INIT_NAME: &str = "berth-init";
pub const SHIM_ENV: &str = "BERTH_SHIM";
pub const INIT_ENV: &str = "BERTH_INIT";

/// A program berthd runs on the host, and the Debian package that has it.
pub struct HostProgram {
    pub program: &'static str,
    pub package: &'static str,
    pub why: &'static str,
}

/// What berthd cannot work without, checked at start so that a missing one is named at once
/// rather than at the first network operation.
pub const HOST_PROGRAMS: &[HostProgram] = &[HostProgram {
    program: "nft",
    package: "nftables",
    why: "its firewall (NAT, published ports, network isolation)",
}];

/// `name` in the first `PATH` directory that has it as a file.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The override from `env_value`, else `name` in `exe_dir`.
pub fn locate(env_value: Option<String>, exe_dir: Option<&Path>, name: &str) -> Option<PathBuf> {
    match env_value.filter(|v| !v.is_empty()) {
        Some(v) => Some(PathBuf::from(v)),
        None => exe_dir.map(|d| d.join(name)),
    }
}

/// The directory of the running executable (`/proc/self/exe`).
pub fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_the_executable_directory() {
        let dir = Path::new("/opt/berth/bin");
        assert_eq!(
            locate(None, Some(dir), SHIM_NAME),
            Some(PathBuf::from("/opt/berth/bin/berth-shim"))
        );
        assert_eq!(
            locate(Some("/x/shim".into()), Some(dir), SHIM_NAME),
            Some(PathBuf::from("/x/shim"))
        );
        assert_eq!(
            locate(Some(String::new()), Some(dir), INIT_NAME),
            Some(PathBuf::from("/opt/berth/bin/berth-init"))
        );
        assert_eq!(locate(None, None, INIT_NAME), None);
    }
}

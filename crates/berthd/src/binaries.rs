//! `berth-shim` and `berth-init` live next to `berthd` unless `BERTH_SHIM` / `BERTH_INIT` say
//! otherwise.

use std::path::{Path, PathBuf};

pub const SHIM_NAME: &str = "berth-shim";
pub const INIT_NAME: &str = "berth-init";
pub const SHIM_ENV: &str = "BERTH_SHIM";
pub const INIT_ENV: &str = "BERTH_INIT";

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

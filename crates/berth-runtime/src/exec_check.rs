//! Checking, before a container is created, that its command can be executed, so a missing
//! command fails up front with runc's wording (dockerd turns it into exit 127 / 126).

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::backend::RuntimeError;
use berth_types::inroot::Root;

/// What a candidate path is.
enum Found {
    Executable,
    /// Exists but is a directory or has no execute bit.
    NotExecutable,
    Missing,
    /// Under a mount the runtime has not made yet: only the runtime can tell.
    Unknown,
}

/// Fails with runc's message when `spec`'s `args[0]` cannot be found or executed in its
/// rootfs (`bundle` anchors a relative root path).
pub fn check_executable(spec: &Spec, bundle: &Path) -> Result<(), RuntimeError> {
    let Some(process) = spec.process() else {
        return Ok(());
    };
    let Some(cmd) = process.args().as_ref().and_then(|a| a.first()) else {
        return Ok(());
    };
    let Some(root) = spec.root() else {
        return Ok(());
    };
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let root_dir = Root::open(&rootfs)
        .map_err(|e| RuntimeError::Other(format!("opening rootfs {}: {e}", rootfs.display())))?;
    let mounts: Vec<PathBuf> = spec
        .mounts()
        .iter()
        .flatten()
        .map(|m| m.destination().clone())
        .collect();
    let cwd = process.cwd();
    let lookup = |p: &Path| -> Found {
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        };
        if mounts.iter().any(|m| normalized(&abs).starts_with(m)) {
            return Found::Unknown;
        }
        match root_dir.stat_if_present(&abs.to_string_lossy()) {
            Ok(Some(st)) if st.is_file() && st.mode() & 0o111 != 0 => Found::Executable,
            Ok(Some(_)) => Found::NotExecutable,
            Ok(None) | Err(_) => Found::Missing,
        }
    };
    if cmd.contains('/') {
        return match lookup(Path::new(cmd)) {
            Found::Executable | Found::Unknown => Ok(()),
            Found::NotExecutable => Err(RuntimeError::PermissionDenied(format!("unable to start container process: exec: \"{cmd}\": permission denied"))),
            Found::Missing => Err(RuntimeError::NotFound(format!("unable to start container process: exec: \"{cmd}\": stat {cmd}: no such file or directory"))),
        };
    }
    let path_var = process
        .env()
        .iter()
        .flatten()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    for dir in path_var.split(':') {
        // An empty PATH entry means the working directory.
        let dir = if dir.is_empty() { "." } else { dir };
        if let Found::Executable | Found::Unknown = lookup(&Path::new(dir).join(cmd)) {
            return Ok(());
        }
    }
    Err(RuntimeError::NotFound(format!(
        "unable to start container process: exec: \"{cmd}\": executable file not found in $PATH"
    )))
}

/// `path` without `.` and `..` components (lexically, for comparing with mount points).
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn spec_for(rootfs: &Path, args: &[&str], extra_mount: Option<&str>) -> Spec {
        let mut mounts = vec![];
        if let Some(m) = extra_mount {
            mounts.push(serde_json::json!({"destination": m, "type": "bind", "source": "/x", "options": ["bind"]}));
        }
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": rootfs},
            "mounts": mounts,
            "process": {"args": args, "env": ["PATH=/usr/bin:/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
        }))
        .expect("spec")
    }

    #[test]
    fn finds_commands_or_fails_like_runc() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("bin")).expect("mkdir");
        let sh = dir.path().join("bin/sh");
        std::fs::write(&sh, "").expect("write");
        std::fs::set_permissions(&sh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(dir.path().join("bin/data"), "").expect("write");
        let bundle = Path::new("/");
        assert!(check_executable(&spec_for(dir.path(), &["sh"], None), bundle).is_ok());
        assert!(check_executable(&spec_for(dir.path(), &["/bin/sh"], None), bundle).is_ok());
        let e =
            check_executable(&spec_for(dir.path(), &["nope"], None), bundle).expect_err("missing");
        assert_eq!(
            e.to_string(),
            "unable to start container process: exec: \"nope\": executable file not found in $PATH"
        );
        let e =
            check_executable(&spec_for(dir.path(), &["/nope"], None), bundle).expect_err("missing");
        assert_eq!(e.to_string(), "unable to start container process: exec: \"/nope\": stat /nope: no such file or directory");
        let e = check_executable(&spec_for(dir.path(), &["/bin/data"], None), bundle)
            .expect_err("not executable");
        assert!(matches!(e, RuntimeError::PermissionDenied(_)));
        let e = check_executable(&spec_for(dir.path(), &["/bin"], None), bundle)
            .expect_err("a directory");
        assert!(matches!(e, RuntimeError::PermissionDenied(_)));
        assert!(
            check_executable(
                &spec_for(
                    dir.path(),
                    &["/sbin/docker-init"],
                    Some("/sbin/docker-init")
                ),
                bundle
            )
            .is_ok(),
            "a mount target is the runtime's to check"
        );
    }
}

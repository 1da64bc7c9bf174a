//! Where the built binaries and fixtures are.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error("{0} not found in {1}: build the workspace binaries first (scripts/test does: cargo build --workspace --bins)")]
    MissingBinary(&'static str, PathBuf),
    #[error("locating the test binary: {0}")]
    CurrentExe(std::io::Error),
}

/// The repository root (this crate lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// `target/<profile>`: the directory the running test binary was built into
/// (`target/<profile>/deps/e2e-<hash>`), so the binaries match the test's own profile.
pub fn profile_dir() -> Result<PathBuf, PathsError> {
    let exe = std::env::current_exe().map_err(PathsError::CurrentExe)?;
    // A test binary sits in `target/<profile>/deps`, a harness binary (berth-reliability) in
    // `target/<profile>` itself.
    let beside = exe.parent().map(Path::to_path_buf);
    let from_exe = exe.parent().and_then(Path::parent).map(Path::to_path_buf);
    Ok(match (from_exe, beside) {
        (Some(dir), _) if dir.join("berthd").exists() => dir,
        (_, Some(dir)) if dir.join("berthd").exists() => dir,
        _ => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target"));
            target.join("debug")
        }
    })
}

/// The built binaries the suite runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub berthd: PathBuf,
    pub berth: PathBuf,
    /// The real docker CLI.
    pub docker: PathBuf,
}

impl Binaries {
    /// The binary that runs `client`; fails when it was not built.
    pub fn client_path(&self, client: crate::cli::Client) -> Result<&Path, PathsError> {
        match client {
            crate::cli::Client::Docker => Ok(&self.docker),
            crate::cli::Client::Berth if self.berth.is_file() => Ok(&self.berth),
            crate::cli::Client::Berth => Err(PathsError::MissingBinary(
                "berth",
                self.berth
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
            )),
        }
    }

    pub fn locate() -> Result<Self, PathsError> {
        let dir = profile_dir()?;
        let find = |name: &'static str| {
            let p = dir.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(PathsError::MissingBinary(name, dir.clone()))
            }
        };
        let docker = std::env::var_os("BERTH_TEST_DOCKER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/local/bin/docker"));
        // BERTH_TEST_DAEMON runs the suite against another daemon (dockerd, to check the tests
        // themselves against the reference).
        let berthd = match std::env::var_os("BERTH_TEST_DAEMON") {
            Some(p) => PathBuf::from(p),
            None => find("berthd")?,
        };
        // BERTH_TEST_CLI runs another build of the CLI: scripts/test passes the static one
        // (scripts/build-cli --debug), as scripts/quickstart installs it.
        let berth = std::env::var_os("BERTH_TEST_CLI")
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("berth"));
        // Checked when first run (`client_path`), so a docker-only run needs no berth binary.
        Ok(Self {
            berthd,
            berth,
            docker,
        })
    }
}

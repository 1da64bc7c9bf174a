//! The loading pipeline (compose-go `loader`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::LoadError;
use crate::model::Project;

/// What to load, as the compose CLI's global flags and environment give it.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files, in order (`-` is stdin). Empty: `COMPOSE_FILE`, else lookup.
    pub config_files: Vec<PathBuf>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--profile` (COMPOSE_PROFILES when empty).
    pub profiles: Vec<String>,
    /// `--env-file` (default `<project dir>/.env`).
    pub env_files: Vec<PathBuf>,
    /// The process environment (overrides `.env`).
    pub environment: BTreeMap<String, String>,
    /// The directory lookups start from (the process's cwd).
    pub working_dir: PathBuf,
    /// `--no-interpolate`.
    pub skip_interpolation: bool,
    /// `--no-normalize`.
    pub skip_normalization: bool,
    /// `--no-consistency`.
    pub skip_consistency_check: bool,
    /// `--no-path-resolution`.
    pub skip_resolve_paths: bool,
    /// Services named on the command line: their profiles are enabled.
    pub services: Vec<String>,
}

/// Loads a project as `docker compose` does for any command.
pub fn load(options: &LoadOptions) -> Result<Project, LoadError> {
    let _ = options;
    Err(LoadError::NoConfigFile)
}

//! The labels Docker Compose v2 puts on the objects it creates (compose's `api` package), so
//! that projects are shared with `docker compose`.

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const ENVIRONMENT_FILE: &str = "com.docker.compose.project.environment_file";
pub const DEPENDENCIES: &str = "com.docker.compose.depends_on";
pub const IMAGE_DIGEST: &str = "com.docker.compose.image";
pub const VERSION: &str = "com.docker.compose.version";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";
pub const REPLACE: &str = "com.docker.compose.replace";
pub const IMAGE_BUILDER: &str = "com.docker.compose.image.builder";
pub const CONTAINER_REPLACE: &str = "com.docker.compose.container-replace";

/// The Compose version berth presents in `com.docker.compose.version` (the one the fixtures
/// and interop tests run against).
pub const COMPOSE_VERSION: &str = "2.40.3";

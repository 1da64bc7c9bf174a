//! The labels Compose v2 puts on what it creates (`pkg/api/labels.go`), and the names it gives.

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const ENVIRONMENT_FILE: &str = "com.docker.compose.project.environment_file";
pub const DEPENDENCIES: &str = "com.docker.compose.depends_on";
pub const IMAGE_DIGEST: &str = "com.docker.compose.image";
pub const VERSION: &str = "com.docker.compose.version";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";
pub const REPLACE: &str = "com.docker.compose.replace";
pub const SLUG: &str = "com.docker.compose.slug";

/// The Compose version berth's labels claim: the one whose behaviour berth follows, so that
/// `docker compose` treats berth's objects as its own.
pub const COMPOSE_VERSION: &str = "2.40.3";

/// `<project>-<service>-<n>` (compose's default container name).
pub fn container_name(project: &str, service: &str, number: i64) -> String {
    format!("{project}-{service}-{number}")
}

/// The label filter selecting a project's objects.
pub fn project_filter(project: &str) -> String {
    format!("{PROJECT}={project}")
}

/// The `depends_on` label: `name:condition:restart` joined with commas, in name order.
pub fn depends_on_label(service: &crate::model::ServiceConfig) -> String {
    service
        .depends_on
        .iter()
        .map(|(name, d)| format!("{name}:{}:{}", d.condition, d.restart))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ServiceConfig, ServiceDependency};

    #[test]
    fn names_and_depends_on_label() {
        assert_eq!(container_name("p", "web", 2), "p-web-2");
        let mut s = ServiceConfig::default();
        assert_eq!(depends_on_label(&s), "");
        s.depends_on
            .insert("db".into(), ServiceDependency::default());
        s.depends_on.insert(
            "cache".into(),
            ServiceDependency {
                condition: "service_healthy".into(),
                restart: true,
                ..Default::default()
            },
        );
        assert_eq!(
            depends_on_label(&s),
            "cache:service_healthy:true,db:service_started:false"
        );
    }
}

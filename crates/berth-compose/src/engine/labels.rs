//! The labels Compose v2 puts on what it creates (the loader's [`crate::labels`]), and the
//! names it gives.

pub use crate::labels::*;

/// A one-off container's slug (`run`).
pub const SLUG: &str = "com.docker.compose.slug";

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

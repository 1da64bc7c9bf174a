//! The configuration hashes Compose v2 stores in `com.docker.compose.config-hash`
//! (docker/compose `pkg/compose/hash.go`): SHA-256 of Go's `json.Marshal` of the compose-go
//! struct. For a service, `build`, `pull_policy`, `scale`, `deploy.replicas`, `depends_on` and
//! `profiles` are cleared first (the loader's `render::service_hash`), so changing them does
//! not recreate the containers; networks and volumes are hashed whole here.
//!
//! The bytes are those of `encoding/json`: compose-go's field order (the model's), no spaces,
//! `<`, `>`, `&`, U+2028 and U+2029 escaped, `x-*` extensions left out (`json:"-"`).

use sha2::{Digest, Sha256};

use crate::model::{NetworkConfig, ServiceConfig, VolumeConfig};

/// The hash `up` labels a container with: the loader's [`crate::render::service_hash`] of the
/// service as `up` loads it — env files read into `environment` and then dropped, as
/// compose-go's `WithServicesEnvironmentResolved` does (`config --hash` hashes the service
/// with `env_file` kept and unread, a different value).
pub fn service_hash(service: &ServiceConfig) -> String {
    if service.env_file.is_empty() {
        return crate::render::service_hash(service);
    }
    let mut s = service.clone();
    s.env_file.clear();
    crate::render::service_hash(&s)
}

/// `NetworkHash`.
pub fn network_hash(network: &NetworkConfig) -> String {
    digest_of(network)
}

/// `VolumeHash`: an unset driver hashes as `local`.
pub fn volume_hash(volume: &VolumeConfig) -> String {
    let mut o = volume.clone();
    if o.driver.is_empty() {
        o.driver = "local".to_string();
    }
    digest_of(&o)
}

fn digest_of<T: serde::Serialize>(v: &T) -> String {
    hex::encode(Sha256::digest(go_json(v).as_bytes()))
}

pub use crate::render::go_json;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{load, LoadOptions};

    /// Hashes docker compose 2.40.3 printed (`config --hash '*'`) and set as labels for this
    /// file, project `cup`, directory /tmp/cu/proj.
    #[test]
    fn hashes_match_compose_2_40() {
        let dir = tempfile::tempdir().unwrap();
        let proj = dir.path().join("cu").join("proj");
        std::fs::create_dir_all(&proj).unwrap();
        std::fs::write(
            proj.join("compose.yaml"),
            r#"services:
  web:
    image: busybox
    command: ["sh", "-c", "echo hi; exec sleep 300"]
    depends_on:
      db:
        condition: service_started
    volumes: ["data:/data"]
    ports: ["8080:80"]
    environment:
      A: "x<y"
  db:
    image: busybox
    command: ["sleep", "300"]
    networks: [default, back]
volumes:
  data: {}
networks:
  back: {}
"#,
        )
        .unwrap();
        let opts = LoadOptions {
            working_dir: proj.clone(),
            project_name: Some("cup".into()),
            ..Default::default()
        };
        let p = load(&opts).unwrap();
        assert_eq!(
            service_hash(&p.services["db"]),
            "d9b7906b9de7610aebc656dc3eec3bda4507d8786c18dfeb88cb71637c006f31"
        );
        // The bind-free web service does not depend on the directory either.
        assert_eq!(
            service_hash(&p.services["web"]),
            "ad4e01c3def2837378bf6b9487d239160fb1280a8aeca53ed2c07a7f0d489c82"
        );
        assert_eq!(
            network_hash(&p.networks["default"]),
            "2ae06aa2e9bb7eb6745404ef62335065191db0ed2b4357f83e3a1555bbd74161"
        );
        assert_eq!(
            volume_hash(&p.volumes["data"]),
            "f4929f93bb945d988044023f2dce80eb79a6a1262461ff73aeeb4594f3b87f58"
        );
    }

    /// docker compose 2.40.3's label for a service with `env_file` (environment read from it,
    /// `env_file` itself not hashed).
    #[test]
    fn env_files_are_read_then_left_out_of_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let proj = dir.path().join("envp");
        std::fs::create_dir_all(&proj).unwrap();
        std::fs::write(
            proj.join("compose.yaml"),
            "services:\n  app:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo $$GREETING $$FROM_FILE; exec sleep 300\"]\n    environment:\n      GREETING: ${GREETING}\n    env_file: [app.env]\n",
        )
        .unwrap();
        std::fs::write(proj.join(".env"), "GREETING=hello\n").unwrap();
        std::fs::write(proj.join("app.env"), "FROM_FILE=file\n").unwrap();
        let opts = LoadOptions {
            working_dir: proj.clone(),
            project_name: Some("ce".into()),
            ..Default::default()
        };
        let p = load(&opts).unwrap();
        assert_eq!(
            service_hash(&p.services["app"]),
            "773883bc130b893b1670f2db4b59f89f354650c9f3398a97b8f636b6b513971a"
        );
    }

    #[test]
    fn ignored_fields_do_not_change_the_hash() {
        let mut s = ServiceConfig {
            image: "busybox".into(),
            ..Default::default()
        };
        let h = service_hash(&s);
        s.scale = Some(3);
        s.pull_policy = "always".into();
        s.profiles = vec!["x".into()];
        assert_eq!(service_hash(&s), h);
        s.image = "other".into();
        assert_ne!(service_hash(&s), h);
    }
}

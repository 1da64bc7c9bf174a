//! Loader behaviour over compose files written to temporary directories.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_compose::model::{VolumeType, SERVICE_CONDITION_HEALTHY};
use berth_compose::{load, LoadError, LoadOptions, Project};

struct Dir(tempfile::TempDir);

impl Dir {
    /// A project directory with a fixed basename (`App Dir!` to exercise normalisation).
    fn new() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }
    fn path(&self) -> PathBuf {
        self.0.path().to_path_buf()
    }
    fn write(&self, rel: &str, text: &str) -> &Self {
        let p = self.0.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }
    fn opts(&self) -> LoadOptions {
        LoadOptions {
            working_dir: self.path(),
            environment: env(&[("HOME", "/home/u")]),
            ..Default::default()
        }
    }
    fn load(&self) -> Result<Project, LoadError> {
        load(&self.opts())
    }
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn err(r: Result<Project, LoadError>) -> String {
    match r {
        Ok(p) => panic!("loaded: {p:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn finds_compose_yaml_in_parent_directories_with_its_override() {
    let d = Dir::new();
    d.write("compose.yaml", "services:\n  web:\n    image: a\n")
        .write("compose.override.yaml", "services:\n  web:\n    image: b\n")
        .write("docker-compose.yml", "services:\n  other:\n    image: x\n")
        .write("sub/deeper/.keep", "");
    let mut o = d.opts();
    o.working_dir = d.path().join("sub/deeper");
    let p = load(&o).unwrap();
    assert_eq!(p.services["web"].image, "b");
    assert!(!p.services.contains_key("other"));
    assert_eq!(p.working_dir, d.path().to_string_lossy());
    assert_eq!(p.compose_files.len(), 2);
}

#[test]
fn no_file_is_compose_error() {
    let d = Dir::new();
    assert_eq!(err(d.load()), "no configuration file provided: not found");
}

#[test]
fn several_files_merge_and_paths_resolve_against_the_first_files_directory() {
    let d = Dir::new();
    d.write(
        "a/base.yaml",
        "services:\n  web:\n    build: ./ctx\n    ports: ['80:80']\n    command: [a]\n",
    )
    .write(
        "b/over.yaml",
        "services:\n  web:\n    ports: ['81:81']\n    command: b c\n    volumes: ['./data:/data']\n",
    );
    let mut o = d.opts();
    o.config_files = vec!["a/base.yaml".into(), "b/over.yaml".into()];
    let p = load(&o).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.ports.len(), 2);
    assert_eq!(web.command, Some(vec!["b".to_string(), "c".to_string()]));
    let base = d.path().join("a");
    assert_eq!(
        web.build.as_ref().unwrap().context,
        base.join("ctx").to_string_lossy()
    );
    assert_eq!(web.volumes[0].source, base.join("data").to_string_lossy());
    assert_eq!(web.volumes[0].kind, VolumeType::Bind);
}

#[test]
fn project_directory_moves_dotenv_and_relative_paths() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  web:\n    image: ${IMG}\n    volumes: [./x:/x]\n",
    )
    .write("elsewhere/.env", "IMG=from-elsewhere\n");
    let mut o = d.opts();
    o.project_directory = Some("elsewhere".into());
    o.config_files = vec!["compose.yaml".into()];
    let p = load(&o).unwrap();
    assert_eq!(p.services["web"].image, "from-elsewhere");
    assert_eq!(p.name, "elsewhere");
    assert_eq!(
        p.services["web"].volumes[0].source,
        d.path().join("elsewhere/x").to_string_lossy()
    );
}

#[test]
fn compose_file_variable_and_path_separator() {
    let d = Dir::new();
    d.write("one.yaml", "services:\n  a:\n    image: a\n")
        .write("two.yaml", "services:\n  b:\n    image: b\n");
    let mut o = d.opts();
    o.environment
        .insert("COMPOSE_FILE".into(), "one.yaml:two.yaml".into());
    let p = load(&o).unwrap();
    assert_eq!(p.services.len(), 2);
    o.environment
        .insert("COMPOSE_FILE".into(), "one.yaml;two.yaml".into());
    o.environment
        .insert("COMPOSE_PATH_SEPARATOR".into(), ";".into());
    assert_eq!(load(&o).unwrap().services.len(), 2);
    // From .env too.
    let d2 = Dir::new();
    d2.write("x.yaml", "services:\n  x:\n    image: x\n").write(
        ".env",
        "COMPOSE_FILE=x.yaml\nCOMPOSE_PROJECT_NAME=fromdotenv\n",
    );
    let p = d2.load().unwrap();
    assert!(p.services.contains_key("x"));
    assert_eq!(p.name, "fromdotenv");
}

#[test]
fn project_name_sources_and_normalisation() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "name: My_App\nservices:\n  web:\n    image: a\n",
    );
    assert_eq!(d.load().unwrap().name, "my_app");
    let mut o = d.opts();
    o.environment
        .insert("COMPOSE_PROJECT_NAME".into(), "envname".into());
    assert_eq!(load(&o).unwrap().name, "envname");
    o.project_name = Some("flag".into());
    assert_eq!(load(&o).unwrap().name, "flag");
    o.project_name = Some("Bad Name".into());
    assert_eq!(
        err(load(&o)),
        "invalid project name \"Bad Name\": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
    );
    // A directory name is normalised.
    let d = Dir::new();
    d.write(
        "My App.dir/compose.yaml",
        "services:\n  web:\n    image: a\n",
    );
    let mut o = d.opts();
    o.working_dir = d.path().join("My App.dir");
    assert_eq!(load(&o).unwrap().name, "myappdir");
}

#[test]
fn os_environment_wins_over_dotenv_and_env_file_flag_replaces_dotenv() {
    let d = Dir::new();
    d.write("compose.yaml", "services:\n  web:\n    image: ${A}-${B}\n")
        .write(".env", "A=dot\nB=dot\n")
        .write("custom.env", "A=custom\n");
    let mut o = d.opts();
    o.environment.insert("B".into(), "os".into());
    assert_eq!(load(&o).unwrap().services["web"].image, "dot-os");
    o.env_files = vec!["custom.env".into()];
    assert_eq!(load(&o).unwrap().services["web"].image, "custom-os");
}

#[test]
fn interpolation_errors_name_the_path() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  web:\n    image: a\n    environment:\n      X: ${NEED:?set NEED}\n",
    );
    assert_eq!(
        err(d.load()),
        "error while interpolating services.web.environment.X: required variable NEED is missing a value: set NEED"
    );
    let mut o = d.opts();
    o.skip_interpolation = true;
    let p = load(&o).unwrap();
    assert_eq!(
        p.services["web"].environment["X"].as_deref(),
        Some("${NEED:?set NEED}")
    );
}

#[test]
fn typed_values_from_interpolation_are_cast() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  web:\n    image: a\n    privileged: ${P}\n    deploy:\n      replicas: ${N}\n",
    );
    let mut o = d.opts();
    o.environment.insert("P".into(), "true".into());
    o.environment.insert("N".into(), "3".into());
    let p = load(&o).unwrap();
    assert!(p.services["web"].privileged);
    assert_eq!(p.services["web"].get_scale(), 3);
}

#[test]
fn extends_in_the_same_file_and_from_another_file() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  base:\n    image: base\n    environment: {A: '1'}\n    ports: ['80:80']\n  mid:\n    extends: base\n    environment: {B: '2'}\n  web:\n    extends: {service: mid}\n    environment: {A: '3'}\n  remote:\n    extends: {file: lib/common.yaml, service: svc}\n",
    )
    .write(
        "lib/common.yaml",
        "services:\n  svc:\n    build: ./ctx\n    volumes: [./data:/data]\n",
    );
    let p = d.load().unwrap();
    let web = &p.services["web"];
    assert_eq!(web.image, "base");
    assert_eq!(web.environment["A"].as_deref(), Some("3"));
    assert_eq!(web.environment["B"].as_deref(), Some("2"));
    assert_eq!(web.ports.len(), 1);
    assert!(web.extends.is_none());
    let remote = &p.services["remote"];
    assert_eq!(
        remote.build.as_ref().unwrap().context,
        d.path().join("lib/ctx").to_string_lossy()
    );
    assert_eq!(
        remote.volumes[0].source,
        d.path().join("lib/data").to_string_lossy()
    );
}

#[test]
fn extends_cycle_and_missing_base_are_errors() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: y\n    extends: a\n",
    );
    assert!(err(d.load()).contains("Circular reference"));
}

#[test]
fn include_loads_another_project_with_its_own_directory_and_env() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "include:\n  - path: lib/compose.yaml\n    env_file: lib/lib.env\nservices:\n  web:\n    image: web\n    depends_on: [db]\n",
    )
    .write(
        "lib/compose.yaml",
        "services:\n  db:\n    image: postgres:${PGV}\n    volumes: [pg:/var/lib/postgresql/data, ./init:/docker-entrypoint-initdb.d]\nvolumes:\n  pg: {}\n",
    )
    .write("lib/lib.env", "PGV=16\n");
    let p = d.load().unwrap();
    let db = &p.services["db"];
    assert_eq!(db.image, "postgres:16");
    assert_eq!(
        db.volumes[1].source,
        d.path().join("lib/init").to_string_lossy()
    );
    assert!(p.volumes.contains_key("pg"));
    assert!(p.volumes["pg"].name.ends_with("_pg"));
}

#[test]
fn include_conflicting_service_is_an_error() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "include: [lib.yaml]\nservices:\n  web:\n    image: web\n",
    )
    .write("lib.yaml", "services:\n  web:\n    image: other\n");
    assert!(err(d.load()).contains("conflicting services web"));
}

#[test]
fn reset_and_override_tags_across_files() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  web:\n    image: a\n    ports: ['80:80']\n    environment: {A: '1', B: '2'}\n",
    )
    .write(
        "compose.override.yaml",
        "services:\n  web:\n    ports: !reset []\n    environment: !override {C: '3'}\n",
    );
    let p = d.load().unwrap();
    let web = &p.services["web"];
    assert!(web.ports.is_empty());
    assert_eq!(web.environment.len(), 1);
    assert_eq!(web.environment["C"].as_deref(), Some("3"));
}

#[test]
fn anchors_and_merge_keys() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "x-base: &base\n  image: shared\n  restart: always\nservices:\n  a:\n    <<: *base\n  b:\n    <<: *base\n    image: own\n",
    );
    let p = d.load().unwrap();
    assert_eq!(p.services["a"].image, "shared");
    assert_eq!(p.services["b"].image, "own");
    assert_eq!(p.services["b"].restart, "always");
    assert!(p.extensions.contains_key("x-base"));
}

#[test]
fn profiles_from_flag_environment_and_named_services() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  app:\n    image: a\n  dbg:\n    image: d\n    profiles: [debug]\n  tools:\n    image: t\n    profiles: [tools]\n",
    );
    let p = d.load().unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), ["app"]);
    assert_eq!(p.disabled_services.len(), 2);
    let mut o = d.opts();
    o.profiles = vec!["debug".into()];
    assert!(load(&o).unwrap().services.contains_key("dbg"));
    let mut o = d.opts();
    o.environment
        .insert("COMPOSE_PROFILES".into(), "debug,tools".into());
    assert_eq!(load(&o).unwrap().services.len(), 3);
    let mut o = d.opts();
    o.services = vec!["tools".into()];
    let p = load(&o).unwrap();
    assert!(p.services.contains_key("tools"));
    assert!(!p.services.contains_key("dbg"));
    let mut o = d.opts();
    o.profiles = vec!["*".into()];
    assert_eq!(load(&o).unwrap().services.len(), 3);
}

#[test]
fn env_files_feed_environment_and_optional_ones_may_be_missing() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  web:\n    image: a\n    env_file:\n      - a.env\n      - path: missing.env\n        required: false\n    environment: [B=override, HOME, UNSET]\n",
    )
    .write("a.env", "A=1\nB=2\n");
    let p = d.load().unwrap();
    let e = &p.services["web"].environment;
    assert_eq!(e["A"].as_deref(), Some("1"));
    assert_eq!(e["B"].as_deref(), Some("override"));
    assert_eq!(e["HOME"].as_deref(), Some("/home/u"));
    assert_eq!(e["UNSET"], None);
    d.write(
        "compose.yaml",
        "services:\n  web:\n    image: a\n    env_file: gone.env\n",
    );
    assert!(err(d.load()).starts_with("env file "));
}

#[test]
fn normalisation_names_networks_volumes_secrets() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "name: proj\nservices:\n  web:\n    image: a\n    volumes: [data:/d, ext:/e]\n    secrets: [s]\n  solo:\n    image: b\n    networks: [back]\nnetworks:\n  back:\n    external: true\nvolumes:\n  data:\n  ext:\n    external: true\n    name: real\nsecrets:\n  s:\n    file: ./s.txt\n",
    );
    let p = d.load().unwrap();
    assert_eq!(p.networks["default"].name, "proj_default");
    assert_eq!(p.networks["back"].name, "back");
    assert_eq!(p.volumes["data"].name, "proj_data");
    assert_eq!(p.volumes["ext"].name, "real");
    assert_eq!(p.secrets["s"].name, "proj_s");
    assert_eq!(
        p.secrets["s"].file,
        d.path().join("s.txt").to_string_lossy()
    );
    assert_eq!(p.services["web"].secrets[0].target, "/run/secrets/s");
    assert!(p.services["web"].networks.contains_key("default"));
    assert!(!p.services["solo"].networks.contains_key("default"));
}

#[test]
fn short_syntaxes_are_expanded() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  web:\n    image: a\n    ports: ['127.0.0.1:8000-8001:80-81/udp', 9000]\n    volumes: ['./src:/src:ro', 'named:/n:nocopy', '/anon']\n    depends_on:\n      db:\n        condition: service_healthy\n        restart: true\n    healthcheck:\n      test: curl -f localhost\n      interval: 1m30s\n    stop_grace_period: 5s\n    mem_limit: 1g\n    ulimits: {nofile: {soft: 1, hard: 2}, nproc: 3}\n  db:\n    image: p\nvolumes:\n  named:\n",
    );
    let p = d.load().unwrap();
    let w = &p.services["web"];
    assert_eq!(w.ports.len(), 3);
    assert_eq!(w.ports[1].published, "8001");
    assert_eq!(w.ports[1].target, 81);
    assert_eq!(w.ports[1].protocol, "udp");
    assert_eq!(w.ports[2].published, "");
    assert!(w.volumes[0].read_only);
    assert!(w.volumes[0].bind.as_ref().unwrap().create_host_path);
    assert!(w.volumes[1].volume.as_ref().unwrap().nocopy);
    assert_eq!(w.volumes[2].source, "");
    assert_eq!(w.depends_on["db"].condition, SERVICE_CONDITION_HEALTHY);
    assert!(w.depends_on["db"].restart && w.depends_on["db"].required);
    let hc = w.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, ["CMD-SHELL", "curl -f localhost"]);
    assert_eq!(hc.interval.unwrap().as_std().as_secs(), 90);
    assert_eq!(w.stop_grace_period.unwrap().to_string(), "5s");
    assert_eq!(w.mem_limit.0, 1 << 30);
    assert_eq!(w.ulimits["nofile"].hard, 2);
    assert_eq!(w.ulimits["nproc"].single, 3);
}

#[test]
fn implicit_dependencies_and_cycles() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  a:\n    image: a\n    network_mode: service:b\n  b:\n    image: b\n    volumes_from: [c]\n  c:\n    image: c\n",
    );
    let p = d.load().unwrap();
    assert!(p.services["a"].depends_on["b"].restart);
    assert!(p.services["b"].depends_on.contains_key("c"));
    d.write(
        "compose.yaml",
        "services:\n  a:\n    image: a\n    depends_on: [b]\n  b:\n    image: b\n    links: [a]\n",
    );
    assert!(err(d.load()).starts_with("dependency cycle detected: "));
}

#[test]
fn invalid_yaml_names_file_and_line() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  web:\n    image: a\n   bad: [\n",
    );
    let e = err(d.load());
    assert!(e.contains("compose.yaml"), "{e}");
    assert!(e.contains("yaml: line "), "{e}");
    d.write("compose.yaml", "");
    assert_eq!(err(d.load()), "empty compose file");
}

#[test]
fn unknown_keys_and_undefined_references() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  web:\n    image: a\n    colour: red\n",
    );
    assert!(err(d.load()).ends_with("services.web additional properties 'colour' not allowed"));
    for (body, want) in [
        (
            "services:\n  web:\n    image: a\n    networks: [nope]\n",
            "service \"web\" refers to undefined network nope: invalid compose project",
        ),
        (
            "services:\n  web:\n    image: a\n    volumes: ['nope:/x']\n",
            "service \"web\" refers to undefined volume nope: invalid compose project",
        ),
        (
            "services:\n  web:\n    image: a\n    configs: [nope]\n",
            "service \"web\" refers to undefined config nope: invalid compose project",
        ),
    ] {
        d.write("compose.yaml", body);
        assert_eq!(err(d.load()), want);
    }
}

#[test]
fn unused_resources_are_dropped_unless_asked() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  web:\n    image: a\nvolumes:\n  unused:\nnetworks:\n  spare:\n",
    );
    let p = d.load().unwrap();
    assert!(p.volumes.is_empty());
    assert_eq!(p.networks.keys().collect::<Vec<_>>(), ["default"]);
    let mut o = d.opts();
    o.keep_unused_resources = true;
    let p = load(&o).unwrap();
    assert!(p.volumes.contains_key("unused"));
}

#[test]
fn dependency_order_puts_dependencies_first() {
    let d = Dir::new();
    d.write(
        "compose.yaml",
        "services:\n  web:\n    image: w\n    depends_on: [api]\n  api:\n    image: a\n    depends_on: [db, cache]\n  db:\n    image: d\n  cache:\n    image: c\n  solo:\n    build: .\n",
    );
    let p = d.load().unwrap();
    assert_eq!(
        p.dependency_order(&[]),
        ["cache", "db", "api", "solo", "web"]
    );
    assert_eq!(
        p.dependency_order(&["web".to_string()]),
        ["cache", "db", "api", "web"]
    );
    assert_eq!(p.dependents("db"), ["api"]);
    assert_eq!(p.image_name("solo"), format!("{}-solo", p.name));
    assert_eq!(p.image_name("db"), "d");
}

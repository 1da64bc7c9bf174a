//! The JSON configs that `crictl runp` and `crictl create` take, as critest writes them, and the
//! steps that use them: a pod run from one, containers created in it, every pod removed at the
//! end of a test.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::cli::Out;
use crate::crictl::crictl;

/// A pod sandbox or container config: a JSON object built up key by key.
#[derive(Clone, Debug)]
pub struct CriConfig(Value);

impl CriConfig {
    /// A pod named `name`, with the metadata the tests give theirs: uid `uid-<name>`, namespace
    /// `e2e`, attempt 1.
    pub fn pod(name: &str) -> Self {
        Self(json!({
            "metadata": {"name": name, "uid": format!("uid-{name}"), "namespace": "e2e", "attempt": 1}
        }))
    }

    /// A container named `name` of the busybox image, running `command`.
    pub fn container(name: &str, command: &[&str]) -> Self {
        Self(json!({
            "metadata": {"name": name},
            "image": {"image": "busybox"},
            "command": command,
        }))
    }

    /// Sets `key`, a dotted path (`linux.security_context.seccomp`), to `value`, making the
    /// objects on the way as needed and replacing what was there.
    #[track_caller]
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        let mut at = &mut self.0;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            let Value::Object(map) = at else {
                panic!("{key}: what holds {part} is not an object");
            };
            if parts.peek().is_none() {
                map.insert(part.to_string(), value.into());
                break;
            }
            at = map.entry(part).or_insert_with(|| Value::Object(Map::new()));
        }
        self
    }

    /// A pod's hostname.
    pub fn hostname(self, hostname: &str) -> Self {
        self.set("hostname", hostname)
    }

    /// A pod's log directory, under which its containers' `log_path`s are.
    pub fn log_directory(self, dir: &Path) -> Self {
        self.set("log_directory", dir.display().to_string())
    }

    /// A container's log file, relative to its pod's log directory.
    pub fn log_path(self, path: &str) -> Self {
        self.set("log_path", path)
    }

    /// The labels, `key=value` pairs.
    pub fn labels(self, labels: &[(&str, &str)]) -> Self {
        let map: Map<String, Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        self.set("labels", map)
    }

    /// `linux.security_context`, whole.
    pub fn security_context(self, context: Value) -> Self {
        self.set("linux.security_context", context)
    }

    /// A pod in the host's network namespace (`namespace_options.network` NODE): no CNI needed.
    pub fn host_network(self) -> Self {
        self.set("linux.security_context.namespace_options.network", 2)
    }

    /// The config as JSON.
    pub fn value(&self) -> &Value {
        &self.0
    }

    /// Writes the config to `dir/file`; that path.
    #[track_caller]
    pub fn write(&self, dir: &Path, file: &str) -> PathBuf {
        write_json(dir, file, &self.0)
    }
}

/// Writes `v` to `dir/name`; that path.
#[track_caller]
pub fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    if let Err(e) = std::fs::write(&p, v.to_string()) {
        panic!("writing {}: {e}", p.display());
    }
    p
}

/// What crictl printed with `-o json`, parsed.
#[track_caller]
pub fn parse(out: &Out) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("`{}` printed no JSON ({e}): {}", out.command, out.stdout))
}

fn path_arg(p: &Path) -> &str {
    p.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", p.display()))
}

/// A pod sandbox that `crictl runp` made from a config file; `crictl create` takes the file
/// again.
pub struct Pod {
    sock: PathBuf,
    pub id: String,
    pub config: PathBuf,
}

impl Pod {
    /// `crictl runp <config>` on the CRI socket `sock`, which must succeed.
    #[track_caller]
    pub fn run(sock: &Path, config: PathBuf) -> Self {
        let id = crictl(sock, &["runp", path_arg(&config)])
            .success()
            .out()
            .to_string();
        Self {
            sock: sock.to_path_buf(),
            id,
            config,
        }
    }

    /// `crictl create <pod> <container config> <pod config>`.
    #[track_caller]
    pub fn create(&self, container: &Path) -> Out {
        crictl(
            &self.sock,
            &[
                "create",
                &self.id,
                path_arg(container),
                path_arg(&self.config),
            ],
        )
    }

    /// [`Pod::create`], which must succeed: the container's id.
    #[track_caller]
    pub fn create_ok(&self, container: &Path) -> String {
        self.create(container).success().out().to_string()
    }
}

/// Removes every pod left on the CRI socket (a failed test's) when dropped, before the daemon
/// goes.
pub struct PodsRemovedOnDrop<'a>(pub &'a Path);

impl Drop for PodsRemovedOnDrop<'_> {
    fn drop(&mut self) {
        let out = crictl(self.0, &["pods", "-q"]);
        for id in out.stdout.lines().filter(|l| !l.is_empty()) {
            let _ = crictl(self.0, &["rmp", "-f", id]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_makes_the_objects_on_the_way_and_replaces_what_was_there() {
        let pod = CriConfig::pod("p")
            .set("linux", json!({}))
            .host_network()
            .set("metadata.attempt", 0);
        assert_eq!(
            pod.value(),
            &json!({
                "metadata": {"name": "p", "uid": "uid-p", "namespace": "e2e", "attempt": 0},
                "linux": {"security_context": {"namespace_options": {"network": 2}}}
            })
        );
        let ctr = CriConfig::container("c", &["true"])
            .security_context(json!({"privileged": true}))
            .security_context(json!({"run_as_user": {"value": 1}}));
        assert_eq!(
            ctr.value(),
            &json!({
                "metadata": {"name": "c"},
                "image": {"image": "busybox"},
                "command": ["true"],
                "linux": {"security_context": {"run_as_user": {"value": 1}}}
            })
        );
    }

    #[test]
    #[should_panic(expected = "command.image: what holds image is not an object")]
    fn set_refuses_a_path_through_a_value() {
        let _ = CriConfig::container("c", &["true"]).set("command.image", 1);
    }
}

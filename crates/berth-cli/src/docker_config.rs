//! Registry credentials in docker's `config.json` (`$DOCKER_CONFIG` or `~/.docker`): `auths`
//! entries with a base64 `user:password`, or a credential helper (`credsStore` for all
//! registries, `credHelpers` per registry) spoken to with the `docker-credential-<name>`
//! get/store/erase protocol. Unknown keys in the file are kept.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{json, Map, Value};

/// Docker Hub's key in `auths`.
pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("error reading {path}: {message}")]
    Read { path: String, message: String },
    #[error("error saving credentials: {0}")]
    Write(String),
    #[error("error getting credentials - err: {0}")]
    Helper(String),
}

fn path() -> PathBuf {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .unwrap_or_else(|| PathBuf::from("/root/.docker"));
    dir.join("config.json")
}

fn load() -> Result<Map<String, Value>, ConfigError> {
    let p = path();
    match std::fs::read(&p) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ConfigError::Read {
            path: p.display().to_string(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(ConfigError::Read {
            path: p.display().to_string(),
            message: e.to_string(),
        }),
    }
}

/// Writes the file whole (temp file + rename, mode 0600), as docker does.
fn save(cfg: &Map<String, Value>) -> Result<(), ConfigError> {
    let p = path();
    let dir = p.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(|e| ConfigError::Write(e.to_string()))?;
    let text = serde_json::to_vec_pretty(cfg).map_err(|e| ConfigError::Write(e.to_string()))?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &p)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ConfigError::Write(e.to_string())
    })
}

/// `host[:port]` of a server address, the way keys in `auths` are compared.
pub fn normalize(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

/// The key `login SERVER` stores under (Docker Hub's is its v1 URL).
pub fn key_for(server: &str) -> String {
    if normalize(server) == "docker.io" {
        DOCKER_HUB.to_string()
    } else {
        server
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    }
}

fn helper_for(cfg: &Map<String, Value>, key: &str) -> Option<String> {
    cfg.get("credHelpers")
        .and_then(|h| h.get(normalize(key)).or_else(|| h.get(key)))
        .or_else(|| cfg.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn run_helper(helper: &str, verb: &str, input: &str) -> Result<String, ConfigError> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ConfigError::Helper(format!("exec: \"{program}\": {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| ConfigError::Helper(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| ConfigError::Helper(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(ConfigError::Helper(stdout));
    }
    Ok(stdout)
}

/// Stores credentials for `server`.
pub fn store(server: &str, username: &str, password: &str) -> Result<(), ConfigError> {
    let mut cfg = load()?;
    let key = key_for(server);
    if let Some(helper) = helper_for(&cfg, &key) {
        let input = json!({ "ServerURL": key, "Username": username, "Secret": password });
        run_helper(&helper, "store", &input.to_string())?;
        // docker keeps an empty entry so that `auths` lists the registry.
        let auths = cfg.entry("auths").or_insert_with(|| json!({}));
        if let Some(a) = auths.as_object_mut() {
            a.insert(key, json!({}));
        }
        return save(&cfg);
    }
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let auths = cfg.entry("auths").or_insert_with(|| json!({}));
    if let Some(a) = auths.as_object_mut() {
        a.insert(key, json!({ "auth": auth }));
    }
    save(&cfg)
}

/// Removes the credentials of `server`; false when there were none.
pub fn erase(server: &str) -> Result<bool, ConfigError> {
    let mut cfg = load()?;
    let key = key_for(server);
    let helper = helper_for(&cfg, &key);
    let removed = cfg
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .and_then(|a| a.remove(&key))
        .is_some();
    if let Some(h) = helper {
        let _ = run_helper(&h, "erase", &key);
    }
    if removed {
        save(&cfg)?;
    }
    Ok(removed)
}

/// The credentials stored for the registry `domain`, if any.
pub fn lookup(domain: &str) -> Result<Option<(String, String)>, ConfigError> {
    let cfg = load()?;
    let want = normalize(domain);
    let key = cfg
        .get("auths")
        .and_then(Value::as_object)
        .and_then(|a| a.keys().find(|k| normalize(k) == want).cloned())
        .unwrap_or_else(|| key_for(domain));
    if let Some(helper) = helper_for(&cfg, &key) {
        let Ok(out) = run_helper(&helper, "get", &key) else {
            return Ok(None);
        };
        let v: Value = serde_json::from_str(&out).unwrap_or_default();
        let user = v["Username"].as_str().unwrap_or_default().to_string();
        let secret = v["Secret"].as_str().unwrap_or_default().to_string();
        return Ok(Some((user, secret)).filter(|(u, s)| !u.is_empty() || !s.is_empty()));
    }
    let Some(auth) = cfg
        .get("auths")
        .and_then(|a| a.get(&key))
        .and_then(|e| e.get("auth"))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .map_err(|e| ConfigError::Read {
            path: path().display().to_string(),
            message: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&raw);
    Ok(text
        .split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string())))
}

/// The `X-Registry-Auth` value for `domain`: base64url JSON, `e30=` (`{}`) without credentials.
pub fn registry_auth_header(domain: &str) -> String {
    match lookup(domain) {
        Ok(Some((u, p))) => {
            let j = json!({ "username": u, "password": p, "serveraddress": domain });
            base64::engine::general_purpose::URL_SAFE.encode(j.to_string())
        }
        _ => "e30=".to_string(),
    }
}

/// The `X-Registry-Config` value of a build: base64url JSON of every stored credential by
/// server address, as the docker CLI sends it; `None` when there are none.
pub fn registry_config_header() -> Option<String> {
    let cfg = load().ok()?;
    let mut servers: Vec<String> = cfg
        .get("auths")
        .and_then(Value::as_object)
        .map(|a| a.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(helpers) = cfg.get("credHelpers").and_then(Value::as_object) {
        servers.extend(helpers.keys().cloned());
    }
    servers.sort();
    servers.dedup();
    let mut all = Map::new();
    for server in servers {
        if let Ok(Some((u, p))) = lookup(&server) {
            all.insert(
                server.clone(),
                json!({ "username": u, "password": p, "serveraddress": server }),
            );
        }
    }
    if all.is_empty() {
        return None;
    }
    Some(base64::engine::general_purpose::URL_SAFE.encode(Value::Object(all).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_hosts() {
        assert_eq!(normalize("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(key_for("docker.io"), DOCKER_HUB);
        assert_eq!(key_for("http://localhost:5000/"), "localhost:5000");
    }
}

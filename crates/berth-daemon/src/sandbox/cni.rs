//! Running CNI plugins as the CNI specification says: the first network configuration of the
//! configuration directory (`*.conf`, `*.conflist`, `*.json`, in lexical order, as containerd
//! picks it), each plugin of its list run with `CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`,
//! `CNI_IFNAME`, `CNI_ARGS` (kubelet's `K8S_POD_*`), `CNI_PATH` and its configuration on stdin:
//! ADD in order, each given the previous result; DEL in reverse order with the result of ADD.
//! Port mappings go to plugins that declare the `portMappings` capability.

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_types::{Error, Result};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::PodRecord;

/// The interface CNI plugins make in the pod.
pub const IFNAME: &str = "eth0";
/// The longest a plugin may run.
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Where CNI network configurations and plugins are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniDirs {
    pub conf_dir: PathBuf,
    /// Searched in order for a plugin's binary (the `CNI_PATH`).
    pub bin_dirs: Vec<PathBuf>,
}

/// The first network configuration file in `dir`, as containerd looks for one.
pub fn first_config(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("conf" | "conflist" | "json")
                )
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

/// A network configuration list: its name, version and plugins (a single `.conf` is a list of
/// one).
#[derive(Debug, Clone)]
pub struct NetList {
    pub name: String,
    pub cni_version: String,
    pub plugins: Vec<Value>,
}

fn cni_error(msg: impl std::fmt::Display) -> Error {
    Error::internal(format!("failed to setup network for sandbox: {msg}"))
}

/// Reads the first configuration of `dir`.
pub fn load(dir: &Path) -> Result<NetList> {
    let path = first_config(dir).ok_or_else(|| {
        cni_error(format!(
            "cni plugin not initialized: no network config found in {}",
            dir.display()
        ))
    })?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| cni_error(format!("reading {}: {e}", path.display())))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| cni_error(format!("parsing {}: {e}", path.display())))?;
    parse(&v).map_err(|m| cni_error(format!("{}: {m}", path.display())))
}

fn parse(v: &Value) -> std::result::Result<NetList, String> {
    let name = v["name"].as_str().unwrap_or_default().to_string();
    if name.is_empty() {
        return Err("the network configuration has no name".into());
    }
    let cni_version = v["cniVersion"].as_str().unwrap_or("0.4.0").to_string();
    let plugins = match v.get("plugins") {
        Some(Value::Array(list)) if !list.is_empty() => list.clone(),
        Some(_) => return Err("`plugins` must be a non-empty list".into()),
        None => vec![v.clone()],
    };
    if plugins
        .iter()
        .any(|p| p["type"].as_str().is_none_or(str::is_empty))
    {
        return Err("a plugin has no `type`".into());
    }
    Ok(NetList {
        name,
        cni_version,
        plugins,
    })
}

/// `CNI_ARGS` as kubelet's dockershim and containerd pass them.
fn cni_args(rec: &PodRecord) -> String {
    format!(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID={}",
        rec.spec.namespace, rec.spec.name, rec.id, rec.spec.uid
    )
}

/// The configuration one plugin gets on stdin.
fn plugin_config(list: &NetList, plugin: &Value, rec: &PodRecord, prev: Option<&Value>) -> Value {
    let mut conf = plugin.clone();
    conf["name"] = json!(list.name);
    conf["cniVersion"] = json!(list.cni_version);
    if let Some(p) = prev {
        conf["prevResult"] = p.clone();
    }
    let wants_ports = plugin["capabilities"]["portMappings"].as_bool() == Some(true);
    let ports: Vec<Value> = rec
        .spec
        .port_mappings
        .iter()
        .filter(|p| p.host_port > 0)
        .map(|p| {
            let mut m = json!({
                "hostPort": p.host_port,
                "containerPort": p.container_port,
                "protocol": if p.protocol.is_empty() { "tcp".to_string() } else { p.protocol.to_lowercase() },
            });
            if !p.host_ip.is_empty() {
                m["hostIP"] = json!(p.host_ip);
            }
            m
        })
        .collect();
    if wants_ports && !ports.is_empty() {
        conf["runtimeConfig"] = json!({ "portMappings": ports });
    }
    if let Some(o) = conf.as_object_mut() {
        o.remove("capabilities");
    }
    conf
}

fn find_plugin(dirs: &[PathBuf], name: &str) -> Result<PathBuf> {
    if name.contains('/') {
        return Err(cni_error(format!("invalid plugin name {name:?}")));
    }
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            cni_error(format!(
                "failed to find plugin {name:?} in path {:?}",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
            ))
        })
}

/// Runs one plugin; its stdout (the result) on success.
async fn exec(
    dirs: &CniDirs,
    command: &str,
    rec: &PodRecord,
    netns: &Path,
    conf: &Value,
) -> Result<Value> {
    let kind = conf["type"].as_str().unwrap_or_default().to_string();
    let binary = find_plugin(&dirs.bin_dirs, &kind)?;
    let cni_path = dirs
        .bin_dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let mut child = tokio::process::Command::new(&binary)
        .env_clear()
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", &rec.id)
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", IFNAME)
        .env("CNI_ARGS", cni_args(rec))
        .env("CNI_PATH", cni_path)
        .env("PATH", crate::runtime::spec::DEFAULT_PATH)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| cni_error(format!("running {}: {e}", binary.display())))?;
    let input = serde_json::to_vec(conf).map_err(|e| Error::internal(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&input)
            .await
            .map_err(|e| cni_error(format!("writing to {kind}: {e}")))?;
    }
    let out = tokio::time::timeout(PLUGIN_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| cni_error(format!("plugin {kind} {command} timed out")))?
        .map_err(|e| cni_error(format!("plugin {kind}: {e}")))?;
    let stdout: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if !out.status.success() {
        // The spec's error: {"code": n, "msg": "...", "details": "..."} on stdout.
        let msg = match stdout["msg"].as_str() {
            Some(m) if !stdout["details"].as_str().unwrap_or_default().is_empty() => {
                format!("{m}: {}", stdout["details"].as_str().unwrap_or_default())
            }
            Some(m) => m.to_string(),
            None => String::from_utf8_lossy(&out.stderr).trim().to_string(),
        };
        return Err(cni_error(format!(
            "plugin type={kind:?} failed ({command}): {msg}"
        )));
    }
    Ok(stdout)
}

/// ADD for the pod: the network's name and the last plugin's result.
#[tracing::instrument(level = "debug", name = "cni_add", skip_all)]
pub(super) async fn add(dirs: &CniDirs, rec: &PodRecord, netns: &Path) -> Result<(String, Value)> {
    let list = load(&dirs.conf_dir)?;
    let mut prev: Option<Value> = None;
    for (i, plugin) in list.plugins.iter().enumerate() {
        let conf = plugin_config(&list, plugin, rec, prev.as_ref());
        match exec(dirs, "ADD", rec, netns, &conf).await {
            Ok(result) => prev = Some(result),
            Err(e) => {
                // What the earlier plugins did is undone, as libcni's AddNetworkList leaves it
                // to the caller's DEL.
                for p in list.plugins[..i].iter().rev() {
                    let conf = plugin_config(&list, p, rec, prev.as_ref());
                    let _ = exec(dirs, "DEL", rec, netns, &conf).await;
                }
                return Err(e);
            }
        }
    }
    Ok((list.name.clone(), prev.unwrap_or(Value::Null)))
}

/// DEL for the pod, repeatable: plugins in reverse order with the result of ADD. The
/// configuration read is the current one; a network whose configuration is gone cannot be
/// torn down by its plugins and is left (as containerd does).
#[tracing::instrument(level = "debug", name = "cni_del", skip_all)]
pub(super) async fn del(dirs: &CniDirs, rec: &PodRecord, netns: &Path) -> Result<()> {
    if rec.cni_network.is_none() {
        return Ok(());
    }
    let list = load(&dirs.conf_dir)?;
    let mut first_err = None;
    for plugin in list.plugins.iter().rev() {
        let conf = plugin_config(&list, plugin, rec, rec.cni_result.as_ref());
        if let Err(e) = exec(dirs, "DEL", rec, netns, &conf).await {
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// CHECK for the pod (CNI 0.4.0 and later): whether its network is still as ADD made it.
pub async fn check(dirs: &CniDirs, rec: &PodRecord) -> Result<()> {
    let Some(netns) = &rec.netns else {
        return Ok(());
    };
    let list = load(&dirs.conf_dir)?;
    for plugin in &list.plugins {
        let conf = plugin_config(&list, plugin, rec, rec.cni_result.as_ref());
        exec(dirs, "CHECK", rec, netns, &conf).await?;
    }
    Ok(())
}

/// The addresses of a result (without prefix length), IPv4 first.
pub fn result_ips(result: &Value) -> Vec<String> {
    let mut ips: Vec<String> = result["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ip| ip["address"].as_str())
        .map(|a| a.split('/').next().unwrap_or_default().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    // CNI 0.2.0 results.
    for key in ["ip4", "ip6"] {
        if let Some(a) = result[key]["ip"].as_str() {
            ips.push(a.split('/').next().unwrap_or_default().to_string());
        }
    }
    ips.sort_by_key(|a| a.contains(':'));
    ips
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{PodPort, PodSpec, PodState};

    fn rec() -> PodRecord {
        PodRecord {
            id: "abc".into(),
            spec: PodSpec {
                name: "web".into(),
                uid: "u1".into(),
                namespace: "ns".into(),
                port_mappings: vec![PodPort {
                    protocol: "TCP".into(),
                    container_port: 80,
                    host_port: 8080,
                    host_ip: String::new(),
                }],
                ..Default::default()
            },
            created_at: 0,
            state: PodState::Ready,
            holder_pid: 0,
            holder_start_time: 0,
            netns: None,
            ips: Vec::new(),
            cni_network: None,
            cni_result: None,
        }
    }

    #[test]
    fn a_single_conf_is_a_list_of_one_and_ports_go_to_capable_plugins() {
        let single =
            parse(&json!({"cniVersion": "1.0.0", "name": "n", "type": "bridge"})).expect("conf");
        assert_eq!(single.plugins.len(), 1);
        assert_eq!(single.name, "n");
        let list = parse(&json!({
            "cniVersion": "0.4.0", "name": "pods",
            "plugins": [{"type": "bridge"}, {"type": "portmap", "capabilities": {"portMappings": true}}]
        }))
        .expect("list");
        let r = rec();
        let bridge = plugin_config(&list, &list.plugins[0], &r, None);
        assert!(bridge.get("runtimeConfig").is_none());
        assert_eq!(bridge["name"], "pods");
        let prev = json!({"ips": [{"address": "10.1.2.3/24"}]});
        let portmap = plugin_config(&list, &list.plugins[1], &r, Some(&prev));
        assert_eq!(
            portmap["runtimeConfig"]["portMappings"],
            json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}])
        );
        assert_eq!(portmap["prevResult"], prev);
        assert!(portmap.get("capabilities").is_none());
        assert!(parse(&json!({"name": "x", "plugins": []})).is_err());
        assert!(cni_args(&r).contains("K8S_POD_NAME=web;"));
    }

    #[test]
    fn result_addresses_ipv4_first() {
        let r = json!({"ips": [{"address": "fd00::5/64"}, {"address": "10.88.0.5/16"}]});
        assert_eq!(result_ips(&r), vec!["10.88.0.5", "fd00::5"]);
        assert_eq!(
            result_ips(&json!({"ip4": {"ip": "10.0.0.2/24"}})),
            vec!["10.0.0.2"]
        );
    }
}

//! Lifecycle hooks (`post_start`, `pre_stop`) run as execs in the service's container, as
//! Compose v2 runs them (`pkg/compose/hook.go`): the hook's `command`, `user`, `privileged`,
//! `working_dir` and `environment`; a hook exiting non-zero is `<service> hook exited with status
//! N`. `post_start` hooks run after each start (`up`, `start`, `restart`), `pre_stop` hooks
//! before each stop (`stop`, `down`, `restart`, a recreate, a scale down).
//!
//! Also `restart`'s service selection: the named services and, through `depends_on` entries with
//! `restart: true`, the services that depend on them (`pkg/compose/restart.go`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use berth_api::models::ExecConfig;
use berth_api::stdcopy;
use tokio::io::AsyncReadExt;

use super::state::Ctr;
use super::{Engine, EngineError, Result};
use crate::model::{Project, ServiceConfig, ServiceHook};

const EXEC_POLL: Duration = Duration::from_millis(100);

/// Receives a hook's output: (`<service>-<n> ->`, text of whole lines).
pub type HookSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

impl Engine {
    /// Runs one hook in container `id` and waits for it to exit.
    pub async fn run_hook(&self, s: &ServiceConfig, id: &str, hook: &ServiceHook) -> Result<()> {
        let env: Vec<String> = hook
            .environment
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect();
        let attached = self.hook_sink.is_some();
        let config = ExecConfig {
            attach_stdin: Some(false),
            attach_stdout: Some(attached),
            attach_stderr: Some(attached),
            console_size: None,
            detach_keys: None,
            tty: Some(s.tty),
            env: (!env.is_empty()).then_some(env),
            cmd: hook.command.clone(),
            privileged: Some(hook.privileged),
            user: (!hook.user.is_empty()).then(|| hook.user.clone()),
            working_dir: (!hook.working_dir.is_empty()).then(|| hook.working_dir.clone()),
        };
        let exec = self.client.exec_create(id, &config).await?;
        if let Some(sink) = &self.hook_sink {
            return self.run_hook_attached(s, id, &exec, sink).await;
        }
        // As compose: a start that fails is not the hook's failure.
        if self.client.exec_start_detached(&exec, s.tty).await.is_err() {
            return Ok(());
        }
        loop {
            let v = match self.client.exec_inspect(&exec).await {
                Ok(v) => v,
                Err(_) => return Ok(()),
            };
            if v["Running"] != true {
                let code = v["ExitCode"].as_i64().unwrap_or(0);
                if code != 0 {
                    return Err(EngineError::msg(format!(
                        "{} hook exited with status {code}",
                        s.name
                    )));
                }
                return Ok(());
            }
            tokio::time::sleep(EXEC_POLL).await;
        }
    }

    /// Attached (`up` without `-d`): the hook's output to the sink, then its exit code.
    async fn run_hook_attached(
        &self,
        s: &ServiceConfig,
        id: &str,
        exec: &str,
        sink: &HookSink,
    ) -> Result<()> {
        let info = self.client.container_inspect(id).await?;
        let name = info["Name"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/');
        let project = info["Config"]["Labels"][super::labels::PROJECT]
            .as_str()
            .unwrap_or_default();
        let short = name
            .strip_prefix(&format!("{project}-"))
            .unwrap_or(name)
            .to_string();
        let prefix = format!("{short} ->");
        let mut stream = self.client.exec_start_attached(exec, s.tty).await?;
        let mut pending: Vec<u8> = Vec::new();
        let flush = |pending: &mut Vec<u8>, last: bool| {
            let cut = if last {
                pending.len()
            } else {
                match pending.iter().rposition(|b| *b == b'\n') {
                    Some(i) => i + 1,
                    None => return,
                }
            };
            let chunk: Vec<u8> = pending.drain(..cut).collect();
            if !chunk.is_empty() {
                sink(&prefix, &String::from_utf8_lossy(&chunk));
            }
        };
        if s.tty {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = stream.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buf[..n]);
                flush(&mut pending, false);
            }
        } else {
            let mut header = [0u8; 8];
            let mut buf = Vec::new();
            while stream.read_exact(&mut header).await.is_ok() {
                let (kind, len) = stdcopy::parse_header(&header);
                buf.resize(len, 0);
                if stream.read_exact(&mut buf).await.is_err() || kind == stdcopy::SYSTEMERR {
                    break;
                }
                pending.extend_from_slice(&buf);
                flush(&mut pending, false);
            }
        }
        flush(&mut pending, true);
        drop(stream);
        let v = self.client.exec_inspect(exec).await?;
        let code = v["ExitCode"].as_i64().unwrap_or(0);
        if code != 0 {
            return Err(EngineError::msg(format!(
                "{} hook exited with status {code}",
                s.name
            )));
        }
        Ok(())
    }

    /// Every `post_start` hook of `s`, in order, in container `id`.
    pub async fn post_start_hooks(&self, s: &ServiceConfig, id: &str) -> Result<()> {
        for hook in &s.post_start {
            self.run_hook(s, id, hook).await?;
        }
        Ok(())
    }

    /// Every `pre_stop` hook of `s` in container `id`; a container already stopped or gone
    /// (not found, conflict) is not an error, as compose.
    pub async fn pre_stop_hooks(&self, s: &ServiceConfig, id: &str) -> Result<()> {
        for hook in &s.pre_stop {
            match self.run_hook(s, id, hook).await {
                Ok(()) => {}
                Err(EngineError::Client(e)) if e.is_not_found() || is_conflict(&e) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `pre_stop` hooks of the service `c` belongs to (when the project knows it), then
    /// `POST /containers/{id}/stop`.
    pub async fn stop_with_hooks(
        &self,
        project: Option<&Project>,
        c: &Ctr,
        timeout: Option<i64>,
    ) -> Result<()> {
        if let Some(s) = project.and_then(|p| p.services.get(c.service())) {
            self.pre_stop_hooks(s, c.id()).await?;
        }
        self.client.container_stop(c.id(), None, timeout).await?;
        Ok(())
    }
}

fn is_conflict(e: &berth_client::ClientError) -> bool {
    e.status().is_some_and(|s| s == 409)
}

/// The services `restart` acts on: `services` (all when empty) and, unless `no_deps`, every
/// service that depends on one of them with `restart: true`, transitively.
pub fn restart_targets(project: &Project, services: &[String], no_deps: bool) -> Vec<String> {
    if services.is_empty() {
        return project.services.keys().cloned().collect();
    }
    let mut out: BTreeSet<String> = services.iter().cloned().collect();
    if no_deps {
        return out.into_iter().collect();
    }
    loop {
        let before = out.len();
        for (name, s) in &project.services {
            if s.depends_on
                .iter()
                .any(|(dep, d)| d.restart && out.contains(dep))
            {
                out.insert(name.clone());
            }
        }
        if out.len() == before {
            break;
        }
    }
    out.into_iter().collect()
}

/// The project as `restart` orders it: only `depends_on` entries with `restart: true`.
pub fn restart_project(project: &Project) -> Project {
    let mut p = project.clone();
    for s in p.services.values_mut() {
        s.depends_on.retain(|_, d| d.restart);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServiceDependency;

    #[test]
    fn restart_selects_dependents_that_asked_for_it() {
        let mut p = Project::default();
        let dep = |restart: bool| ServiceDependency {
            restart,
            ..Default::default()
        };
        for n in ["db", "app", "web", "other"] {
            p.services.insert(
                n.into(),
                ServiceConfig {
                    name: n.into(),
                    ..Default::default()
                },
            );
        }
        let set = |p: &mut Project, s: &str, on: &str, r: bool| {
            if let Some(x) = p.services.get_mut(s) {
                x.depends_on.insert(on.into(), dep(r));
            }
        };
        set(&mut p, "app", "db", true);
        set(&mut p, "web", "app", true);
        set(&mut p, "other", "db", false);
        assert_eq!(
            restart_targets(&p, &["db".into()], false),
            vec!["app", "db", "web"]
        );
        assert_eq!(restart_targets(&p, &["db".into()], true), vec!["db"]);
        assert_eq!(restart_targets(&p, &[], false).len(), 4);
        let r = restart_project(&p);
        assert!(r.services["other"].depends_on.is_empty());
        assert_eq!(r.services["app"].depends_on.len(), 1);
    }
}

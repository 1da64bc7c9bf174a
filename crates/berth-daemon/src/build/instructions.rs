//! The instructions that only change the image config, applied as dockerd's dispatchers do.

use berth_dockerfile::{CommandLine, Healthcheck, Instruction};
use berth_image::{HealthConfig, RunConfig};

/// What a stage carries from step to step besides its image.
#[derive(Debug, Clone)]
pub struct StageState {
    /// `""`: scratch.
    pub image_id: String,
    pub config: RunConfig,
    pub author: String,
    /// ARGs declared in this stage with their values, in order.
    pub args: Vec<(String, String)>,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
}

pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

impl StageState {
    pub fn shell(&self) -> Vec<String> {
        self.config
            .shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
    }

    /// A command as the image runs it: the exec form as is, the shell form through SHELL.
    pub fn command(&self, c: &CommandLine) -> Vec<String> {
        match c {
            CommandLine::Exec(v) => v.clone(),
            CommandLine::Shell(s) => {
                let mut v = self.shell();
                v.push(s.clone());
                v
            }
        }
    }

    /// The ENV of the image, as `(name, value)`.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.config
            .env
            .iter()
            .flatten()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e.clone(), String::new()),
            })
            .collect()
    }

    /// Variables for expansion: ARGs, then ENV (ENV wins).
    pub fn expansion_env(&self) -> Vec<(String, String)> {
        let mut v = self.args.clone();
        v.extend(self.env_pairs());
        v
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        let mut env = self.config.env.take().unwrap_or_default();
        let entry = format!("{key}={value}");
        match env
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = entry,
            None => env.push(entry),
        }
        self.config.env = Some(env);
    }

    /// The working directory after `WORKDIR dir` (relative to the current one).
    pub fn workdir_after(&self, dir: &str) -> String {
        let joined = if dir.starts_with('/') {
            dir.to_string()
        } else {
            let cur = if self.config.working_dir.is_empty() {
                "/"
            } else {
                self.config.working_dir.as_str()
            };
            format!("{cur}/{dir}")
        };
        berth_dockerfile::ignore::clean(&joined)
    }
}

fn nanos(d: Option<std::time::Duration>) -> i64 {
    d.map_or(0, |d| d.as_nanos() as i64)
}

/// Applies a config-only instruction (already expanded). Returns false for the others.
pub fn apply(state: &mut StageState, instruction: &Instruction, original: &str) -> bool {
    let c = &mut state.config;
    match instruction {
        Instruction::Cmd(cmd) => {
            let v = state_command(state, cmd);
            state.config.cmd = Some(v);
            state.cmd_set = true;
        }
        Instruction::Entrypoint(ep) => {
            let v = ep.as_ref().map(|e| state_command(state, e));
            state.config.entrypoint = v;
            if !state.cmd_set {
                state.config.cmd = None;
            }
        }
        Instruction::Env(pairs) => {
            for kv in pairs {
                state.set_env(&kv.key, &kv.value);
            }
        }
        Instruction::Label(pairs) => {
            let labels = c.labels.get_or_insert_with(Default::default);
            for kv in pairs {
                labels.insert(kv.key.clone(), kv.value.clone());
            }
        }
        Instruction::Expose(ports) => {
            let exposed = c.exposed_ports.get_or_insert_with(Default::default);
            for p in ports {
                let p = if p.contains('/') {
                    p.to_ascii_lowercase()
                } else {
                    format!("{p}/tcp")
                };
                exposed.insert(p, Default::default());
            }
        }
        Instruction::Volume(vols) => {
            let v = c.volumes.get_or_insert_with(Default::default);
            for vol in vols {
                v.insert(vol.clone(), Default::default());
            }
        }
        Instruction::User(u) => c.user = u.clone(),
        Instruction::StopSignal(s) => c.stop_signal = Some(s.clone()),
        Instruction::Shell(s) => c.shell = Some(s.clone()),
        Instruction::Maintainer(m) => state.author = m.clone(),
        Instruction::OnBuild(o) => {
            c.on_build
                .get_or_insert_with(Vec::new)
                .push(o.expression.clone());
        }
        Instruction::Healthcheck(Healthcheck::None) => {
            c.healthcheck = Some(HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..HealthConfig::default()
            })
        }
        Instruction::Healthcheck(Healthcheck::Check {
            test,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        }) => {
            c.healthcheck = Some(HealthConfig {
                test: Some(test.clone()),
                interval: nanos(*interval),
                timeout: nanos(*timeout),
                start_period: nanos(*start_period),
                start_interval: nanos(*start_interval),
                retries: retries.map_or(0, i64::from),
            })
        }
        _ => {
            let _ = original;
            return false;
        }
    }
    true
}

fn state_command(state: &StageState, c: &CommandLine) -> Vec<String> {
    state.command(c)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn state() -> StageState {
        StageState {
            image_id: String::new(),
            config: RunConfig {
                cmd: Some(vec!["sh".into()]),
                ..RunConfig::default()
            },
            author: String::new(),
            args: Vec::new(),
            cmd_set: false,
        }
    }

    fn first(text: &str) -> Instruction {
        let df = berth_dockerfile::parse("Dockerfile", &format!("FROM x\n{text}\n")).unwrap();
        df.nodes[1].instruction.clone()
    }

    #[test]
    fn entrypoint_resets_an_inherited_cmd_but_not_one_set_here() {
        let mut s = state();
        assert!(apply(&mut s, &first("ENTRYPOINT [\"top\"]"), ""));
        assert_eq!(s.config.cmd, None);
        let mut s = state();
        apply(&mut s, &first("CMD echo hi"), "");
        apply(&mut s, &first("ENTRYPOINT [\"top\"]"), "");
        assert_eq!(
            s.config.cmd,
            Some(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
    }

    #[test]
    fn shell_env_expose_and_workdir() {
        let mut s = state();
        apply(&mut s, &first("SHELL [\"/bin/bash\", \"-ec\"]"), "");
        apply(&mut s, &first("CMD run"), "");
        assert_eq!(s.config.cmd.as_ref().unwrap()[0], "/bin/bash");
        apply(&mut s, &first("ENV A=1 B=2"), "");
        apply(&mut s, &first("ENV A=3"), "");
        assert_eq!(s.config.env, Some(vec!["A=3".into(), "B=2".into()]));
        apply(&mut s, &first("EXPOSE 80 53/UDP"), "");
        let ports: Vec<_> = s
            .config
            .exposed_ports
            .clone()
            .unwrap()
            .into_keys()
            .collect();
        assert_eq!(ports, vec!["53/udp".to_string(), "80/tcp".to_string()]);
        s.config.working_dir = "/app".into();
        assert_eq!(s.workdir_after("sub/../x"), "/app/x");
        assert_eq!(s.workdir_after("/abs"), "/abs");
        assert!(!apply(&mut s, &first("RUN x"), ""));
    }
}

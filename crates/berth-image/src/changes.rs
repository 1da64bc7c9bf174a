//! `--change` instructions (`docker import -c`, `docker commit -c`): the Dockerfile
//! instructions that only alter the image config.

use std::collections::BTreeMap;

use crate::config::{HealthConfig, RunConfig};

/// Why a change instruction was refused (dockerd's wording where it has one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("{0} is not a valid change command")]
    NotAllowed(String),
    #[error("{0} requires at least one argument")]
    MissingArgument(String),
    #[error("{instruction}: {message}")]
    Invalid {
        instruction: String,
        message: String,
    },
}

const VALID: &[&str] = &[
    "cmd",
    "entrypoint",
    "healthcheck",
    "env",
    "expose",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Applies `changes` to `config` in order. All are validated before any is applied, so an
/// invalid list leaves `config` untouched.
pub fn apply_changes(config: &mut RunConfig, changes: &[String]) -> Result<(), ChangeError> {
    let lines: Vec<(String, String)> = changes
        .iter()
        .flat_map(|c| c.lines().map(str::to_string).collect::<Vec<_>>())
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((i, rest)) => (i.to_string(), rest.trim().to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    for (instruction, _) in &lines {
        if !VALID.contains(&instruction.to_ascii_lowercase().as_str()) {
            return Err(ChangeError::NotAllowed(instruction.clone()));
        }
    }
    let mut next = config.clone();
    let mut cmd_set = false;
    for (instruction, args) in &lines {
        let lower = instruction.to_ascii_lowercase();
        let upper = instruction.to_ascii_uppercase();
        if args.is_empty() && lower != "cmd" && lower != "entrypoint" {
            return Err(ChangeError::MissingArgument(upper));
        }
        let invalid = |message: String| ChangeError::Invalid {
            instruction: upper.clone(),
            message,
        };
        let env = next.env.clone().unwrap_or_default();
        match lower.as_str() {
            "cmd" => {
                next.cmd = Some(command_form(args));
                cmd_set = true;
            }
            "entrypoint" => {
                next.entrypoint = if args.is_empty() {
                    None
                } else {
                    Some(command_form(args))
                };
                // A new entrypoint drops an inherited CMD unless this change list set one.
                if !cmd_set {
                    next.cmd = None;
                }
            }
            "env" => {
                let mut vars = next.env.take().unwrap_or_default();
                for (k, v) in name_values(args, &env, true).map_err(invalid)? {
                    let prefix = format!("{k}=");
                    match vars.iter_mut().find(|e| e.starts_with(&prefix) || **e == k) {
                        Some(slot) => *slot = format!("{k}={v}"),
                        None => vars.push(format!("{k}={v}")),
                    }
                }
                next.env = Some(vars);
            }
            "label" => {
                let labels = next.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in name_values(args, &env, true).map_err(invalid)? {
                    labels.insert(k, v);
                }
            }
            "expose" => {
                let ports = next.exposed_ports.get_or_insert_with(BTreeMap::new);
                for word in split_words(&expand(args, &env)) {
                    for port in expand_port(&word).map_err(invalid)? {
                        ports.insert(port, serde_json::Map::new());
                    }
                }
            }
            "volume" => {
                let volumes = next.volumes.get_or_insert_with(BTreeMap::new);
                let list = json_array(args).unwrap_or_else(|| split_words(args));
                for v in list {
                    let v = expand(&v, &env);
                    if v.trim().is_empty() {
                        return Err(invalid(
                            "VOLUME specified can not be an empty string".to_string(),
                        ));
                    }
                    volumes.insert(v, serde_json::Map::new());
                }
            }
            "user" => next.user = expand(args, &env),
            "workdir" => {
                let dir = expand(args, &env);
                next.working_dir = if dir.starts_with('/') || next.working_dir.is_empty() {
                    clean_path(&format!("/{dir}"))
                } else {
                    clean_path(&format!("{}/{dir}", next.working_dir))
                };
            }
            "stopsignal" => {
                let sig = expand(args, &env);
                if let Err(e) = berth_types::gocompat::signal::parse_signal(&sig) {
                    return Err(ChangeError::Invalid {
                        instruction: upper.clone(),
                        message: e.to_string(),
                    });
                }
                next.stop_signal = Some(sig);
            }
            "onbuild" => {
                let trigger = args
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                match trigger.as_str() {
                    "ONBUILD" => {
                        return Err(invalid(
                            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into(),
                        ))
                    }
                    "FROM" | "MAINTAINER" => {
                        return Err(invalid(format!(
                            "{trigger} isn't allowed as an ONBUILD trigger"
                        )))
                    }
                    _ => next
                        .on_build
                        .get_or_insert_with(Vec::new)
                        .push(args.clone()),
                }
            }
            "healthcheck" => next.healthcheck = Some(healthcheck(args).map_err(invalid)?),
            _ => return Err(ChangeError::NotAllowed(instruction.clone())),
        }
    }
    *config = next;
    Ok(())
}

/// JSON (exec) form, or the shell form run by `/bin/sh -c`.
fn command_form(args: &str) -> Vec<String> {
    json_array(args).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), args.to_string()])
}

fn json_array(args: &str) -> Option<Vec<String>> {
    if !args.trim_start().starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(args).ok()
}

/// `k=v k2="v 2"`, or with `legacy`, the old `k v with spaces` form.
fn name_values(args: &str, env: &[String], legacy: bool) -> Result<Vec<(String, String)>, String> {
    let words = split_words(args);
    let first_has_eq = words.first().is_some_and(|w| w.contains('='));
    if !first_has_eq {
        if !legacy {
            return Err("requires key=value pairs".into());
        }
        let (key, value) = args
            .split_once(char::is_whitespace)
            .ok_or_else(|| "must have two arguments".to_string())?;
        return Ok(vec![(key.to_string(), expand(&unquote(value.trim()), env))]);
    }
    let mut out = Vec::new();
    for w in words {
        let (k, v) = w.split_once('=').ok_or_else(|| {
            format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value")
        })?;
        if k.is_empty() {
            return Err("empty name".into());
        }
        out.push((expand(&unquote(k), env), expand(&unquote(v), env)));
    }
    Ok(out)
}

/// Splits on unquoted whitespace, keeping quotes (removed later by `unquote`).
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match (c, quote) {
            ('\\', q) if q != Some('\'') => {
                cur.push(c);
                escaped = true;
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                cur.push(c);
            }
            (c2, Some(q)) if c2 == q => {
                quote = None;
                cur.push(c);
            }
            (c2, None) if c2.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Removes quotes and backslash escapes (not inside single quotes).
fn unquote(s: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', q) if q != Some('\'') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            ('"' | '\'', None) => quote = Some(c),
            (c2, Some(q)) if c2 == q => quote = None,
            _ => out.push(c),
        }
    }
    out
}

/// `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}` from `env` (`K=V` entries).
fn expand(s: &str, env: &[String]) -> String {
    let lookup = |name: &str| {
        env.iter().rev().find_map(|e| {
            e.split_once('=')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    };
    let b: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == '\\' && i + 1 < b.len() && b[i + 1] == '$' {
            out.push('$');
            i += 2;
        } else if b[i] == '$' && i + 1 < b.len() && b[i + 1] == '{' {
            let Some(end) = b[i..].iter().position(|c| *c == '}') else {
                out.extend(&b[i..]);
                break;
            };
            let inner: String = b[i + 2..i + end].iter().collect();
            let value = if let Some((name, default)) = inner.split_once(":-") {
                lookup(name)
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| default.to_string())
            } else if let Some((name, alt)) = inner.split_once(":+") {
                lookup(name)
                    .filter(|v| !v.is_empty())
                    .map(|_| alt.to_string())
                    .unwrap_or_default()
            } else {
                lookup(&inner).unwrap_or_default()
            };
            out.push_str(&value);
            i += end + 1;
        } else if b[i] == '$'
            && i + 1 < b.len()
            && (b[i + 1].is_ascii_alphabetic() || b[i + 1] == '_')
        {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == '_') {
                j += 1;
            }
            let name: String = b[start..j].iter().collect();
            out.push_str(&lookup(&name).unwrap_or_default());
            i = j;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// `80` -> `80/tcp`; `8000-8002/udp` -> three entries.
fn expand_port(word: &str) -> Result<Vec<String>, String> {
    let word = unquote(word);
    let (ports, proto) = word.split_once('/').unwrap_or((&word, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let parse = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("invalid containerPort: {p}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(ports)?, parse(ports)?),
    };
    if hi < lo {
        return Err(format!(
            "invalid range specified for containerPort: {ports}"
        ));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `NONE`, or `[--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D] [--retries=N] CMD ...`.
fn healthcheck(args: &str) -> Result<HealthConfig, String> {
    let mut rest = args.trim();
    let mut hc = HealthConfig::default();
    while let Some(flag) = rest.strip_prefix("--") {
        let (word, tail) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
        let (name, value) = word
            .split_once('=')
            .ok_or_else(|| format!("flag --{word} needs a value"))?;
        match name {
            "interval" => hc.interval = go_duration(value)?,
            "timeout" => hc.timeout = go_duration(value)?,
            "start-period" => hc.start_period = go_duration(value)?,
            "start-interval" => hc.start_interval = go_duration(value)?,
            "retries" => {
                hc.retries = value
                    .parse()
                    .map_err(|_| format!("invalid retries: {value}"))?
            }
            _ => return Err(format!("Unknown flag: {name}")),
        }
        rest = tail.trim_start();
    }
    let (kind, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    match kind.to_ascii_uppercase().as_str() {
        "NONE" if cmd.trim().is_empty() => {
            return Ok(HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..HealthConfig::default()
            })
        }
        "NONE" => return Err("HEALTHCHECK NONE takes no arguments".into()),
        "CMD" => {}
        other => return Err(format!("Unknown type {other:?} in HEALTHCHECK (try CMD)")),
    }
    let cmd = cmd.trim();
    if cmd.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let mut test = vec![];
    match json_array(cmd) {
        Some(v) => {
            test.push("CMD".to_string());
            test.extend(v);
        }
        None => {
            test.push("CMD-SHELL".to_string());
            test.push(cmd.to_string());
        }
    }
    hc.test = Some(test);
    Ok(hc)
}

/// Go's `time.ParseDuration`, in nanoseconds, with Go's error.
fn go_duration(s: &str) -> Result<i64, String> {
    berth_types::gocompat::duration::parse_duration(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<RunConfig, ChangeError> {
        let mut c = RunConfig::default();
        apply_changes(
            &mut c,
            &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(c)
    }

    #[test]
    fn shell_and_exec_forms() {
        let c = apply(&["CMD echo hi", r#"ENTRYPOINT ["/bin/tini","--"]"#]).expect("apply");
        assert_eq!(
            c.cmd,
            Some(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(c.entrypoint, Some(vec!["/bin/tini".into(), "--".into()]));
        let c = apply(&[r#"CMD ["sh"]"#]).expect("apply");
        assert_eq!(c.cmd, Some(vec!["sh".into()]));
        let c = apply(&["ENTRYPOINT /x"]).expect("apply");
        assert_eq!(c.cmd, None);
    }

    #[test]
    fn env_label_expose_volume_user_workdir_stopsignal() {
        let c = apply(&[
            "ENV A=1 B=\"two words\"",
            "ENV LEGACY some value",
            "ENV A=3",
            "LABEL maintainer=me \"x.y\"=$B",
            "EXPOSE 80 53/udp 8000-8001",
            "VOLUME [\"/data\"]",
            "VOLUME /a /b",
            "USER nobody",
            "WORKDIR /app",
            "WORKDIR sub",
            "STOPSIGNAL SIGKILL",
            "ONBUILD RUN true",
            "HEALTHCHECK --interval=5s --retries=2 CMD curl -f http://localhost/",
        ])
        .expect("apply");
        assert_eq!(
            c.env,
            Some(vec![
                "A=3".into(),
                "B=two words".into(),
                "LEGACY=some value".into()
            ])
        );
        let labels = c.labels.expect("labels");
        assert_eq!(labels.get("x.y").map(String::as_str), Some("two words"));
        let ports: Vec<_> = c.exposed_ports.expect("ports").into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        let vols: Vec<_> = c.volumes.expect("volumes").into_keys().collect();
        assert_eq!(vols, ["/a", "/b", "/data"]);
        assert_eq!(c.user, "nobody");
        assert_eq!(c.working_dir, "/app/sub");
        assert_eq!(c.stop_signal.as_deref(), Some("SIGKILL"));
        assert_eq!(c.on_build, Some(vec!["RUN true".into()]));
        let hc = c.healthcheck.expect("hc");
        assert_eq!(hc.interval, 5_000_000_000);
        assert_eq!(hc.retries, 2);
        assert_eq!(
            hc.test,
            Some(vec!["CMD-SHELL".into(), "curl -f http://localhost/".into()])
        );
    }

    #[test]
    fn invalid_changes_use_dockerd_wording_and_change_nothing() {
        let mut c = RunConfig {
            user: "keep".into(),
            ..RunConfig::default()
        };
        let err =
            apply_changes(&mut c, &["USER other".into(), "RUN rm -rf /".into()]).expect_err("RUN");
        assert_eq!(err.to_string(), "RUN is not a valid change command");
        assert_eq!(c.user, "keep");
        assert_eq!(
            apply(&["FROM x"]).expect_err("from").to_string(),
            "FROM is not a valid change command"
        );
        assert!(apply(&["STOPSIGNAL NOPE"])
            .expect_err("sig")
            .to_string()
            .contains("Invalid signal: NOPE"));
        assert!(apply(&["EXPOSE 99999"]).is_err());
        assert!(apply(&["ONBUILD ONBUILD RUN x"]).is_err());
        assert!(apply(&["USER"]).is_err());
    }
}

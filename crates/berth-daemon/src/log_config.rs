//! A container's logging: the driver and options it gets at create (its own, else daemon.json's
//! `log-driver`/`log-opts`), validated as dockerd's drivers do, and what the shim makes of them.

use std::collections::HashMap;

use berth_api::models::HostConfigLogConfig;
use berth_types::{Error, Result};

use crate::daemon::DaemonConfig;

pub const JSON_FILE: &str = "json-file";
pub const LOCAL: &str = "local";
pub const NONE: &str = "none";

const JSON_FILE_OPTS: &[&str] = &[
    "max-size",
    "max-file",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];
const LOCAL_OPTS: &[&str] = &["max-size", "max-file", "compress"];

/// How the shim writes the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub disabled: bool,
    pub max_size: u64,
    pub max_files: u32,
    pub compress: bool,
}

/// The driver name of a stored config (json-file when never set).
pub fn driver(lc: Option<&HostConfigLogConfig>) -> &str {
    lc.and_then(|l| l.typ.as_deref())
        .filter(|t| !t.is_empty())
        .unwrap_or(JSON_FILE)
}

/// dockerd's `mergeAndVerifyLogConfig`: the daemon's driver when none is given, the daemon's
/// options under the container's own when the drivers agree, then the driver's validation.
pub fn resolve(
    given: Option<&HostConfigLogConfig>,
    daemon: &DaemonConfig,
) -> Result<HostConfigLogConfig> {
    let typ = given
        .and_then(|l| l.typ.clone())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| daemon.log_driver.clone());
    let mut config: HashMap<String, String> =
        given.and_then(|l| l.config.clone()).unwrap_or_default();
    if typ == daemon.log_driver {
        for (k, v) in &daemon.log_opts {
            config.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    validate(&typ, &config)?;
    Ok(HostConfigLogConfig {
        typ: Some(typ),
        config: Some(config),
    })
}

fn validate(typ: &str, config: &HashMap<String, String>) -> Result<()> {
    let allowed = match typ {
        NONE => return Ok(()),
        JSON_FILE => JSON_FILE_OPTS,
        LOCAL => LOCAL_OPTS,
        other => {
            return Err(Error::invalid(format!(
                "logger: no log driver named '{other}' is registered"
            )))
        }
    };
    for key in config.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(Error::invalid(if typ == JSON_FILE {
                format!("unknown log opt '{key}' for json-file log driver")
            } else {
                format!("unknown log opt '{key}' for log driver {typ}")
            }));
        }
    }
    settings(typ, config).map(|_| ())
}

/// What the shim does for a (validated) config; `local` keeps dockerd's defaults (20 MB files,
/// five of them, compressed).
pub fn settings(typ: &str, config: &HashMap<String, String>) -> Result<LogSettings> {
    let (size, files, compress) = match typ {
        NONE => {
            return Ok(LogSettings {
                disabled: true,
                max_size: 0,
                max_files: 1,
                compress: false,
            })
        }
        LOCAL => (20 * 1024 * 1024, 5, true),
        _ => (0, 1, false),
    };
    let max_size = match config.get("max-size") {
        Some(v) if v != "-1" => {
            parse_size(v).ok_or_else(|| Error::invalid(format!("invalid size: '{v}'")))?
        }
        Some(_) => 0,
        None => size,
    };
    let max_files = match config.get("max-file") {
        Some(v) => {
            let n: i64 = v.parse().map_err(|_| {
                Error::invalid(format!("strconv.Atoi: parsing \"{v}\": invalid syntax"))
            })?;
            if n < 1 {
                return Err(Error::invalid("max-file cannot be less than 1"));
            }
            u32::try_from(n).unwrap_or(u32::MAX)
        }
        None => files,
    };
    let compress = match config.get("compress") {
        Some(v) => parse_bool(v).ok_or_else(|| {
            Error::invalid(format!(
                "strconv.ParseBool: parsing \"{v}\": invalid syntax"
            ))
        })?,
        None => compress,
    };
    if typ == JSON_FILE && max_size == 0 && max_files > 1 {
        return Err(Error::invalid(
            "max-file cannot be set when max-size is not set",
        ));
    }
    Ok(LogSettings {
        disabled: false,
        max_size,
        max_files,
        compress,
    })
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// go-units `RAMInBytes`: `10m`, `1g`, `512k`, `100` bytes; binary multiples, optional `b`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    (n >= 0.0).then_some((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon(driver: &str, opts: &[(&str, &str)]) -> DaemonConfig {
        DaemonConfig {
            data_root: "/x".into(),
            exec_root: "/y".into(),
            shim_binary: "/z".into(),
            init_binary: None,
            default_runtime: "berth".into(),
            runtimes: Vec::new(),
            debug: false,
            log_driver: driver.into(),
            log_opts: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            net: Default::default(),
            registries: Default::default(),
            max_concurrent_downloads: 6,
        }
    }

    #[test]
    fn daemon_defaults_fill_in_for_the_same_driver() {
        let d = daemon("json-file", &[("max-size", "1k"), ("max-file", "3")]);
        let r = resolve(None, &d).expect("resolve");
        assert_eq!(r.typ.as_deref(), Some("json-file"));
        let cfg = r.config.expect("config");
        assert_eq!(cfg["max-size"], "1k");
        let own = HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some([("max-size".to_string(), "2k".to_string())].into()),
        };
        let r = resolve(Some(&own), &d).expect("resolve");
        let cfg = r.config.expect("config");
        assert_eq!(
            (cfg["max-size"].as_str(), cfg["max-file"].as_str()),
            ("2k", "3")
        );
        let none = HostConfigLogConfig {
            typ: Some("none".into()),
            config: None,
        };
        let r = resolve(Some(&none), &d).expect("none");
        assert!(
            r.config.expect("config").is_empty(),
            "other drivers do not inherit"
        );
    }

    #[test]
    fn bad_drivers_and_options_are_refused_like_dockerd() {
        let d = daemon("json-file", &[]);
        let bad = |typ: &str, k: &str, v: &str| {
            let lc = HostConfigLogConfig {
                typ: Some(typ.into()),
                config: Some([(k.to_string(), v.to_string())].into()),
            };
            resolve(Some(&lc), &d).expect_err("refused").message
        };
        assert_eq!(
            bad("syslogx", "a", "b"),
            "logger: no log driver named 'syslogx' is registered"
        );
        assert_eq!(
            bad("json-file", "foo", "1"),
            "unknown log opt 'foo' for json-file log driver"
        );
        assert_eq!(
            bad("local", "tag", "1"),
            "unknown log opt 'tag' for log driver local"
        );
        assert_eq!(bad("json-file", "max-size", "lots"), "invalid size: 'lots'");
        assert_eq!(
            bad("json-file", "max-file", "3"),
            "max-file cannot be set when max-size is not set"
        );
    }

    #[test]
    fn local_keeps_dockerds_defaults() {
        let s = settings(LOCAL, &HashMap::new()).expect("local");
        assert_eq!((s.max_size, s.max_files, s.compress), (20 << 20, 5, true));
        assert_eq!(parse_size("1.5k"), Some(1536));
    }
}

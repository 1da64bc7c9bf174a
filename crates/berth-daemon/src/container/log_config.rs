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

/// What dockerd checks at create (`ValidateLogOpts`): the driver exists and knows every key.
/// Values are only read when the container starts, as dockerd's drivers read them (`settings`).
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
    Ok(())
}

/// What the shim does for a config, read as dockerd's drivers read it when the container
/// starts; a bad value fails the start with dockerd's `failed to initialize logging driver:
/// ...`. json-file: no rotation unless `max-size` is set (`max-file` alone is accepted and
/// keeps one file), sizes in decimal units (go-units `FromHumanSize`); `local`: 20 MiB files,
/// five of them, compressed, unless told otherwise.
pub fn settings(typ: &str, config: &HashMap<String, String>) -> Result<LogSettings> {
    let read = match typ {
        NONE => {
            return Ok(LogSettings {
                disabled: true,
                max_size: 0,
                max_files: 1,
                compress: false,
            })
        }
        LOCAL => local_settings(config),
        _ => json_file_settings(config),
    };
    read.map_err(|m| Error::internal(format!("failed to initialize logging driver: {m}")))
}

/// dockerd 20.10's `jsonfilelog.New`.
fn json_file_settings(
    config: &HashMap<String, String>,
) -> std::result::Result<LogSettings, String> {
    let mut max_size = 0;
    if let Some(v) = config.get("max-size") {
        let n = berth_types::units::from_human_size(v).map_err(|e| e.to_string())?;
        if n <= 0 {
            return Err("max-size must be a positive number".into());
        }
        max_size = n as u64;
    }
    let mut max_files = 1;
    if let Some(v) = config.get("max-file") {
        let n = atoi(v)?;
        if n < 1 {
            return Err("max-file cannot be less than 1".into());
        }
        max_files = u32::try_from(n).unwrap_or(u32::MAX);
    }
    let mut compress = false;
    if let Some(v) = config.get("compress") {
        compress = parse_bool(v)
            .ok_or_else(|| format!("strconv.ParseBool: parsing \"{v}\": invalid syntax"))?;
        if compress && (max_files == 1 || max_size == 0) {
            return Err(
                "compress cannot be true when max-file is less than 2 or max-size is not set"
                    .into(),
            );
        }
    }
    Ok(LogSettings {
        disabled: false,
        max_size,
        max_files,
        compress,
    })
}

/// dockerd 20.10's `local.New` and its `validateConfig`.
fn local_settings(config: &HashMap<String, String>) -> std::result::Result<LogSettings, String> {
    let mut max_size: i64 = 20 * 1024 * 1024;
    if let Some(v) = config.get("max-size") {
        max_size = berth_types::units::from_human_size(v)
            .map_err(|e| format!("invalid value for max-size: {v}: {e}"))?;
    }
    let mut max_files: i64 = 5;
    if let Some(v) = config.get("max-file") {
        max_files = atoi(v).map_err(|e| format!("invalid value for max-file: {v}: {e}"))?;
    }
    let mut compress = true;
    if let Some(v) = config.get("compress") {
        compress = parse_bool(v).ok_or_else(|| {
            format!(
                "error reading compress log option: strconv.ParseBool: parsing \"{v}\": invalid syntax"
            )
        })?;
    }
    if max_files < 0 {
        return Err("max file count cannot be less than 0".into());
    }
    if compress && max_files <= 1 {
        return Err("compression cannot be enabled when max file count is 1".into());
    }
    Ok(LogSettings {
        disabled: false,
        max_size: u64::try_from(max_size).unwrap_or(0),
        max_files: u32::try_from(max_files.max(1)).unwrap_or(u32::MAX),
        compress,
    })
}

/// Go's `strconv.Atoi`, with its messages.
fn atoi(v: &str) -> std::result::Result<i64, String> {
    v.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        format!("strconv.Atoi: parsing \"{v}\": {why}")
    })
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
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
    }

    fn opts(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The values dockerd 20.10 reads at start, with its messages (checked against it).
    #[test]
    fn values_are_read_at_start_as_dockerd() {
        let ok = |typ: &str, kv: &[(&str, &str)]| settings(typ, &opts(kv)).expect("accepted");
        let s = ok(JSON_FILE, &[("max-file", "3")]);
        assert_eq!(
            (s.max_size, s.max_files),
            (0, 3),
            "max-file alone is accepted"
        );
        assert_eq!(ok(JSON_FILE, &[("max-size", "10MiB")]).max_size, 10_000_000);
        assert_eq!(ok(JSON_FILE, &[("max-size", "1.5m")]).max_size, 1_500_000);
        let err =
            |typ: &str, kv: &[(&str, &str)]| settings(typ, &opts(kv)).expect_err("refused").message;
        let p = "failed to initialize logging driver: ";
        for (kv, want) in [
            (("max-size", "lots"), "invalid size: 'lots'"),
            (("max-size", "-1"), "invalid size: '-1'"),
            (("max-size", "0"), "max-size must be a positive number"),
            (("max-file", "0"), "max-file cannot be less than 1"),
            (
                ("max-size", "1.2.3"),
                "strconv.ParseFloat: parsing \"1.2.3\": invalid syntax",
            ),
            (
                ("compress", "true"),
                "compress cannot be true when max-file is less than 2 or max-size is not set",
            ),
        ] {
            assert_eq!(err(JSON_FILE, &[kv]), format!("{p}{want}"));
        }
        for (kv, want) in [
            (
                ("max-size", "lots"),
                "invalid value for max-size: lots: invalid size: 'lots'",
            ),
            (
                ("max-file", "x"),
                "invalid value for max-file: x: strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            (
                ("max-file", "1"),
                "compression cannot be enabled when max file count is 1",
            ),
            (("max-file", "-1"), "max file count cannot be less than 0"),
        ] {
            assert_eq!(err(LOCAL, &[kv]), format!("{p}{want}"));
        }
        assert!(!ok(LOCAL, &[("max-file", "1"), ("compress", "false")]).compress);
    }

    #[test]
    fn local_keeps_dockerds_defaults() {
        let s = settings(LOCAL, &HashMap::new()).expect("local");
        assert_eq!((s.max_size, s.max_files, s.compress), (20 << 20, 5, true));
    }
}

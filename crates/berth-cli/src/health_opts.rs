//! `--health-*` and `--no-healthcheck` for `run`/`create`, turned into a HealthConfig as the
//! docker CLI does.

use berth_api::models::HealthConfig;
use clap::{ArgAction, Args};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum HealthOptsError {
    #[error(
        "invalid argument \"{value}\" for \"{flag}\" flag: time: invalid duration \"{value}\""
    )]
    Duration { flag: String, value: String },
    #[error("--no-healthcheck conflicts with --health-* options")]
    Conflict,
    #[error("{0} cannot be negative")]
    Negative(&'static str),
}

#[derive(Debug, Args, Default, Clone)]
pub struct HealthOpts {
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", allow_negative_numbers = true)]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-interval")]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub no_healthcheck: bool,
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn go_duration(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body == "0" {
        return Some(0);
    }
    if body.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_end == 0 {
            return None;
        }
        let num: f64 = rest[..num_end].parse().ok()?;
        let unit_end = rest[num_end..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map_or(rest.len(), |i| num_end + i);
        let scale = match &rest[num_end..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * scale;
        rest = &rest[unit_end..];
    }
    let nanos = total.round() as i64;
    Some(if neg { -nanos } else { nanos })
}

impl HealthOpts {
    /// The HealthConfig to send, or None when no health flag was given.
    pub fn to_health_config(&self) -> Result<Option<HealthConfig>, HealthOptsError> {
        let dur = |flag: &str, v: &Option<String>| -> Result<i64, HealthOptsError> {
            match v {
                None => Ok(0),
                Some(s) => go_duration(s).ok_or_else(|| HealthOptsError::Duration {
                    flag: flag.into(),
                    value: s.clone(),
                }),
            }
        };
        let interval = dur("--health-interval", &self.health_interval)?;
        let timeout = dur("--health-timeout", &self.health_timeout)?;
        let start_period = dur("--health-start-period", &self.health_start_period)?;
        let start_interval = dur("--health-start-interval", &self.health_start_interval)?;
        let retries = self.health_retries.unwrap_or(0);
        let cmd = self.health_cmd.clone().unwrap_or_default();
        let have_settings = !cmd.is_empty()
            || interval != 0
            || timeout != 0
            || start_period != 0
            || retries != 0
            || start_interval != 0;
        if self.no_healthcheck {
            if have_settings {
                return Err(HealthOptsError::Conflict);
            }
            return Ok(Some(HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..Default::default()
            }));
        }
        if !have_settings {
            return Ok(None);
        }
        for (value, flag) in [
            (interval, "--health-interval"),
            (timeout, "--health-timeout"),
            (retries, "--health-retries"),
            (start_period, "--health-start-period"),
            (start_interval, "--health-start-interval"),
        ] {
            if value < 0 {
                return Err(HealthOptsError::Negative(flag));
            }
        }
        Ok(Some(HealthConfig {
            test: (!cmd.is_empty()).then(|| vec!["CMD-SHELL".into(), cmd]),
            interval: Some(interval),
            timeout: Some(timeout),
            retries: Some(retries),
            start_period: Some(start_period),
            start_interval: Some(start_interval),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_go() {
        assert_eq!(go_duration("1s"), Some(1_000_000_000));
        assert_eq!(go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(go_duration("250ms"), Some(250_000_000));
        assert_eq!(go_duration("-2s"), Some(-2_000_000_000));
        assert_eq!(go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(go_duration("0"), Some(0));
        assert_eq!(go_duration("5"), None);
        assert_eq!(go_duration("x"), None);
    }

    #[test]
    fn flags_become_docker_health_configs() {
        let opts = HealthOpts {
            health_cmd: Some("exit 0".into()),
            health_interval: Some("1s".into()),
            health_retries: Some(2),
            ..Default::default()
        };
        let hc = opts.to_health_config().unwrap().unwrap();
        assert_eq!(hc.test, Some(vec!["CMD-SHELL".into(), "exit 0".into()]));
        assert_eq!((hc.interval, hc.retries), (Some(1_000_000_000), Some(2)));
        let none = HealthOpts {
            no_healthcheck: true,
            ..Default::default()
        };
        assert_eq!(
            none.to_health_config().unwrap().unwrap().test,
            Some(vec!["NONE".into()])
        );
        let both = HealthOpts {
            health_cmd: Some("true".into()),
            ..none
        };
        assert_eq!(both.to_health_config(), Err(HealthOptsError::Conflict));
        let bad = HealthOpts {
            health_timeout: Some("soon".into()),
            ..Default::default()
        };
        assert_eq!(
            bad.to_health_config().unwrap_err().to_string(),
            "invalid argument \"soon\" for \"--health-timeout\" flag: time: invalid duration \"soon\""
        );
        assert_eq!(HealthOpts::default().to_health_config(), Ok(None));
    }
}

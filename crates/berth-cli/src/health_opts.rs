//! `--health-*` and `--no-healthcheck` for `run`/`create`, turned into a HealthConfig as the
//! docker CLI does.

use berth_api::models::HealthConfig;
use berth_types::gocompat::duration::{parse_duration, DurationError};
use clap::{ArgAction, Args};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum HealthOptsError {
    #[error("invalid argument \"{value}\" for \"{flag}\" flag: {source}")]
    Duration {
        flag: String,
        value: String,
        source: DurationError,
    },
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

impl HealthOpts {
    /// The HealthConfig to send, or None when no health flag was given.
    pub fn to_health_config(&self) -> Result<Option<HealthConfig>, HealthOptsError> {
        let dur = |flag: &str, v: &Option<String>| -> Result<i64, HealthOptsError> {
            match v {
                None => Ok(0),
                Some(s) => parse_duration(s).map_err(|source| HealthOptsError::Duration {
                    flag: flag.into(),
                    value: s.clone(),
                    source,
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
    fn bad_durations_are_the_docker_clis_flag_errors() {
        let opts = |interval: &str| HealthOpts {
            health_interval: Some(interval.into()),
            ..Default::default()
        };
        assert_eq!(
            opts("1m30s")
                .to_health_config()
                .map(|h| h.and_then(|h| h.interval)),
            Ok(Some(90_000_000_000))
        );
        assert_eq!(
            opts("x").to_health_config().map_err(|e| e.to_string()),
            Err(
                r#"invalid argument "x" for "--health-interval" flag: time: invalid duration "x""#
                    .into()
            )
        );
        assert_eq!(
            opts("5").to_health_config().map_err(|e| e.to_string()),
            Err(r#"invalid argument "5" for "--health-interval" flag: time: missing unit in duration "5""#.into())
        );
        assert_eq!(
            opts("1d").to_health_config().map_err(|e| e.to_string()),
            Err(r#"invalid argument "1d" for "--health-interval" flag: time: unknown unit "d" in duration "1d""#.into())
        );
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

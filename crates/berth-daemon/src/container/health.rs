//! Health checks, as dockerd's `daemon/health.go`: a monitor per running container runs the
//! probe as an exec at the configured interval and keeps `State.Health` (status, failing
//! streak, the last five results) with a `health_status` event on every change.

use std::sync::Arc;
use std::time::Duration;

use berth_api::models::{ExecConfig, HealthConfig};
use berth_runtime::shim_proto::{ExecProcess, Request, Response};
use berth_types::{id, Error, Result};
use tokio_util::sync::CancellationToken;

use crate::container::lifecycle::now_rfc3339;
use crate::container::record::{HealthState, ProbeResult};
use crate::daemon::{Ctr, Daemon};
use crate::runtime::shim::{self, Frame};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Results kept in `State.Health.Log`.
const MAX_LOG_ENTRIES: usize = 5;
/// Probe output kept per result; more is cut and marked with "...".
const MAX_OUTPUT: usize = 4096;
/// How long starting a probe's exec may take before the probe counts as failed.
const EXEC_START_TIMEOUT: Duration = Duration::from_secs(30);

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// dockerd's checks of a health config at create (durations are 0 or at least 1 ms).
pub fn validate(hc: Option<&HealthConfig>) -> Result<()> {
    let Some(hc) = hc else { return Ok(()) };
    let too_short = |v: Option<i64>| v.is_some_and(|v| v != 0 && v < 1_000_000);
    for (name, value) in [
        ("Interval", hc.interval),
        ("Timeout", hc.timeout),
        ("StartPeriod", hc.start_period),
        ("StartInterval", hc.start_interval),
    ] {
        if too_short(value) {
            return Err(Error::invalid(format!(
                "{name} in Healthcheck cannot be less than 1ms"
            )));
        }
    }
    if hc.retries.is_some_and(|r| r < 0) {
        return Err(Error::invalid("Retries in Healthcheck cannot be negative"));
    }
    Ok(())
}

/// dockerd's merge: the user's health config wins field by field; unset fields (an empty
/// test, zero durations) come from the image's HEALTHCHECK.
pub fn merge_image_healthcheck(user: &mut Option<HealthConfig>, image: Option<&HealthConfig>) {
    let Some(image) = image else { return };
    let Some(u) = user.as_mut() else {
        *user = Some(image.clone());
        return;
    };
    if u.test.as_ref().is_none_or(Vec::is_empty) {
        u.test = image.test.clone();
    }
    let inherit = |mine: &mut Option<i64>, theirs: Option<i64>| {
        if mine.unwrap_or(0) == 0 {
            *mine = theirs;
        }
    };
    inherit(&mut u.interval, image.interval);
    inherit(&mut u.timeout, image.timeout);
    inherit(&mut u.start_period, image.start_period);
    inherit(&mut u.start_interval, image.start_interval);
    inherit(&mut u.retries, image.retries);
}

/// The probe's argv: `CMD` runs its arguments, `CMD-SHELL` runs them with the container's
/// shell; `NONE`, an empty test or an unknown type mean no health check.
pub fn probe_command(
    hc: Option<&HealthConfig>,
    shell: Option<&Vec<String>>,
) -> Option<Vec<String>> {
    let test = hc?.test.as_ref()?;
    let (kind, args) = test.split_first()?;
    match kind.as_str() {
        "CMD" if !args.is_empty() => Some(args.to_vec()),
        "CMD-SHELL" if !args.is_empty() => {
            let mut argv = shell
                .filter(|s| !s.is_empty())
                .cloned()
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            argv.extend(args.iter().cloned());
            Some(argv)
        }
        _ => None,
    }
}

fn duration_or(nanos: Option<i64>, default: Duration) -> Duration {
    match nanos {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

/// The wait before the next probe: the start interval while starting inside the start period,
/// never past the end of the start period.
fn next_interval(hc: &HealthConfig, since_start: Duration, status: &str) -> Duration {
    let interval = duration_or(hc.interval, DEFAULT_INTERVAL);
    let start_period = duration_or(hc.start_period, Duration::ZERO);
    if since_start >= start_period {
        return interval;
    }
    let remaining = start_period - since_start;
    if remaining < interval {
        return remaining;
    }
    if status == STARTING {
        duration_or(hc.start_interval, DEFAULT_START_INTERVAL)
    } else {
        interval
    }
}

/// Folds one result into the state; returns the new status when it changed.
fn apply_result(
    h: &mut HealthState,
    result: ProbeResult,
    retries: i64,
    in_start_period: bool,
) -> Option<String> {
    let old = h.status.clone();
    let healthy = result.exit_code == 0;
    h.log.push(result);
    if h.log.len() > MAX_LOG_ENTRIES {
        let extra = h.log.len() - MAX_LOG_ENTRIES;
        h.log.drain(..extra);
    }
    if healthy {
        h.failing_streak = 0;
        h.status = HEALTHY.into();
    } else if !(h.status == STARTING && in_start_period) {
        h.failing_streak += 1;
        if h.failing_streak >= retries {
            h.status = UNHEALTHY.into();
        }
    }
    (h.status != old).then(|| h.status.clone())
}

/// Output kept up to [`MAX_OUTPUT`] bytes.
#[derive(Default)]
struct LimitedOutput {
    buf: Vec<u8>,
    truncated: bool,
}

impl LimitedOutput {
    fn push(&mut self, data: &[u8]) {
        let keep = MAX_OUTPUT.saturating_sub(self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..keep]);
        self.truncated |= keep < data.len();
    }

    fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

fn since(rfc3339: Option<&str>) -> Duration {
    rfc3339
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .to_std()
                .ok()
        })
        .unwrap_or_default()
}

/// Go's `time.Duration` text for whole values as the timeout message shows it ("30s", "1m0s",
/// "500ms").
fn go_duration_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    let (h, rest) = ((secs / 3600.0) as u64, secs % 3600.0);
    let (m, s) = ((rest / 60.0) as u64, rest % 60.0);
    let s = if s.fract() == 0.0 {
        format!("{}s", s as u64)
    } else {
        format!("{s}s")
    };
    match (h, m) {
        (0, 0) => s,
        (0, m) => format!("{m}m{s}"),
        (h, m) => format!("{h}h{m}m{s}"),
    }
}

impl Daemon {
    /// (Re)starts the monitor of a container that just started, with its health back to
    /// `starting`; nothing without a health check.
    pub(crate) fn init_health_monitor(&self, ctr: &Arc<Ctr>) {
        let c = ctr.snapshot();
        if probe_command(c.config.healthcheck.as_ref(), c.config.shell.as_ref()).is_none() {
            return;
        }
        self.stop_health_monitor(ctr);
        ctr.update(|c| {
            let h = c.state.health.get_or_insert_with(HealthState::default);
            h.status = STARTING.into();
            h.failing_streak = 0;
        });
        let token = CancellationToken::new();
        if let Ok(mut slot) = ctr.health_stop.lock() {
            *slot = Some(token.clone());
        }
        let daemon = self.self_ref();
        let ctr = ctr.clone();
        tokio::spawn(async move { monitor(daemon, ctr, token).await });
    }

    /// Stops the monitor (the container exited or is going away).
    pub(crate) fn stop_health_monitor(&self, ctr: &Ctr) {
        if let Ok(mut slot) = ctr.health_stop.lock() {
            if let Some(t) = slot.take() {
                t.cancel();
            }
        }
    }

    /// One probe run: an exec of the probe command, its output and exit code.
    async fn run_probe(&self, ctr: &Ctr, argv: Vec<String>, timeout: Duration) -> ProbeResult {
        let start = now_rfc3339();
        let outcome = self.probe_exec(ctr, argv, timeout).await;
        let (exit_code, output) = match outcome {
            Ok(r) => r,
            Err(e) => (-1, e.message),
        };
        ProbeResult {
            start,
            end: now_rfc3339(),
            exit_code,
            output,
        }
    }

    async fn probe_exec(
        &self,
        ctr: &Ctr,
        argv: Vec<String>,
        timeout: Duration,
    ) -> Result<(i64, String)> {
        let c = ctr.snapshot();
        let exec_config = ExecConfig {
            cmd: Some(argv.clone()),
            user: c.config.user.clone(),
            working_dir: c.config.working_dir.clone(),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            privileged: Some(false),
            ..Default::default()
        };
        let process = crate::runtime::spec::exec_process(self, &c, &exec_config)?;
        let exec_id = id::generate();
        // dockerd names the probe "<entrypoint> <args joined>", hence a trailing space when the
        // probe has no arguments.
        let (entry, args) = argv
            .split_first()
            .map(|(e, a)| (e.clone(), a.join(" ")))
            .unwrap_or_default();
        let cmdline = format!("{entry} {args}");
        let exec_attr = [("execID", exec_id.clone())];
        self.container_event(&c, &format!("exec_create: {cmdline}"), &exec_attr);
        self.container_event(&c, &format!("exec_start: {cmdline}"), &exec_attr);
        let socket = self.shim_socket(&c.id);
        let req = Request::Exec(ExecProcess {
            id: exec_id.clone(),
            process,
            stdin: false,
        });
        let (resp, mut conn) = tokio::time::timeout(EXEC_START_TIMEOUT, shim::call(&socket, &req))
            .await
            .map_err(|_| {
                Error::internal(format!(
                    "timed out starting health check for container {}",
                    c.id
                ))
            })??;
        if let Response::Error { message } = resp {
            return Err(Error::internal(format!(
                "OCI runtime exec failed: exec failed: {message}: unknown"
            )));
        }
        let mut output = LimitedOutput::default();
        let read = async {
            loop {
                match shim::read_frame(&mut conn.reader).await {
                    Ok(Some(Frame::Stdout(b) | Frame::Stderr(b))) => output.push(&b),
                    Ok(Some(Frame::Exit(s))) => return Ok(i64::from(s.exit_code)),
                    Ok(None) => return Err(Error::internal("the shim closed the probe's stream")),
                    Err(e) => return Err(e),
                }
            }
        };
        let result = tokio::time::timeout(timeout, read).await;
        let exit = match result {
            Ok(r) => Some(r?),
            Err(_) => None,
        };
        match exit {
            Some(code) => {
                self.container_event(
                    &c,
                    "exec_die",
                    &[("execID", exec_id), ("exitCode", code.to_string())],
                );
                Ok((code, output.text()))
            }
            None => {
                // Past its timeout the probe is killed, so dying probes cannot pile up.
                let _ = shim::simple(
                    &socket,
                    &Request::ExecKill {
                        id: exec_id.clone(),
                        signal: libc::SIGKILL,
                    },
                )
                .await;
                let out = output.text();
                let limit = go_duration_text(timeout);
                let msg = if out.is_empty() {
                    format!("Health check exceeded timeout ({limit})")
                } else {
                    format!("Health check exceeded timeout ({limit}): {out}")
                };
                Ok((-1, msg))
            }
        }
    }

    /// Records a result; saves and announces a status change.
    fn handle_probe_result(&self, ctr: &Ctr, result: ProbeResult) {
        let c = ctr.snapshot();
        let hc = c.config.healthcheck.clone().unwrap_or_default();
        let retries = hc.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES);
        let start_period = duration_or(hc.start_period, Duration::ZERO);
        let started = c
            .state
            .started_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        let probe_start = chrono::DateTime::parse_from_rfc3339(&result.start).ok();
        let in_start_period = match (started, probe_start) {
            (Some(s), Some(p)) => (p - s).to_std().unwrap_or_default() < start_period,
            _ => false,
        };
        let changed = ctr.update(|c| {
            let h = c.state.health.get_or_insert_with(HealthState::default);
            apply_result(h, result, retries, in_start_period)
        });
        if let Some(status) = changed {
            let snap = ctr.snapshot();
            if let Err(e) = self.repo.save(&snap) {
                tracing::warn!(container = %ctr.id, error = %e, "saving health status");
            }
            self.container_event(&snap, &format!("health_status: {status}"), &[]);
        }
    }
}

async fn monitor(daemon: std::sync::Weak<Daemon>, ctr: Arc<Ctr>, stop: CancellationToken) {
    loop {
        let c = ctr.snapshot();
        let hc = c.config.healthcheck.clone().unwrap_or_default();
        let Some(argv) = probe_command(Some(&hc), c.config.shell.as_ref()) else {
            return;
        };
        let status = c.state.health.map(|h| h.status).unwrap_or_default();
        let wait = next_interval(&hc, since(c.state.started_at.as_deref()), &status);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let Some(d) = daemon.upgrade() else { return };
        // A frozen container cannot answer a probe; dockerd holds its monitor while paused.
        if ctr.snapshot().state.status == crate::container::record::Status::Paused {
            continue;
        }
        let timeout = duration_or(hc.timeout, DEFAULT_TIMEOUT);
        let result = tokio::select! {
            _ = stop.cancelled() => return,
            r = d.run_probe(&ctr, argv, timeout) => r,
        };
        if stop.is_cancelled() {
            return;
        }
        d.handle_probe_result(&ctr, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i64) -> ProbeResult {
        ProbeResult {
            exit_code: code,
            ..Default::default()
        }
    }

    #[test]
    fn transitions_follow_dockerd() {
        let mut h = HealthState {
            status: STARTING.into(),
            ..Default::default()
        };
        // Failures inside the start period do not count.
        assert_eq!(apply_result(&mut h, result(1), 2, true), None);
        assert_eq!(h.failing_streak, 0);
        assert_eq!(
            apply_result(&mut h, result(0), 2, true).as_deref(),
            Some(HEALTHY)
        );
        assert_eq!(apply_result(&mut h, result(1), 2, false), None);
        assert_eq!(h.failing_streak, 1);
        assert_eq!(
            apply_result(&mut h, result(1), 2, false).as_deref(),
            Some(UNHEALTHY)
        );
        for _ in 0..5 {
            apply_result(&mut h, result(1), 2, false);
        }
        assert_eq!(h.log.len(), MAX_LOG_ENTRIES);
        assert_eq!(
            apply_result(&mut h, result(0), 2, false).as_deref(),
            Some(HEALTHY)
        );
    }

    #[test]
    fn probes_and_intervals() {
        let hc = |test: &[&str]| HealthConfig {
            test: Some(test.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        assert_eq!(
            probe_command(Some(&hc(&["CMD", "true"])), None),
            Some(vec!["true".to_string()])
        );
        assert_eq!(
            probe_command(Some(&hc(&["CMD-SHELL", "exit 1"])), None),
            Some(vec!["/bin/sh".into(), "-c".into(), "exit 1".into()])
        );
        assert_eq!(probe_command(Some(&hc(&["NONE"])), None), None);
        let mut c = hc(&["CMD", "true"]);
        c.interval = Some(2_000_000_000);
        c.start_period = Some(10_000_000_000);
        c.start_interval = Some(500_000_000);
        assert_eq!(
            next_interval(&c, Duration::ZERO, STARTING),
            Duration::from_millis(500)
        );
        assert_eq!(
            next_interval(&c, Duration::from_secs(9), STARTING),
            Duration::from_secs(1)
        );
        assert_eq!(
            next_interval(&c, Duration::from_secs(11), STARTING),
            Duration::from_secs(2)
        );
        assert_eq!(go_duration_text(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration_text(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration_text(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn merge_takes_unset_fields_from_the_image() {
        let image = HealthConfig {
            test: Some(vec!["CMD".into(), "true".into()]),
            interval: Some(5),
            retries: Some(7),
            ..Default::default()
        };
        let mut user = Some(HealthConfig {
            interval: Some(9),
            ..Default::default()
        });
        merge_image_healthcheck(&mut user, Some(&image));
        let u = user.unwrap_or_default();
        assert_eq!(u.test, image.test);
        assert_eq!((u.interval, u.retries), (Some(9), Some(7)));
        assert!(validate(Some(&HealthConfig {
            interval: Some(10),
            ..Default::default()
        }))
        .is_err());
    }
}

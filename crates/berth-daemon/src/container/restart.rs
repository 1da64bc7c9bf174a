//! Restart policies: dockerd's validation and its restart manager's rules (moby
//! `restartmanager`): a growing back-off (100 ms, doubled per restart, capped at one minute,
//! back to 100 ms once the container ran 10 s), `on-failure[:max]` counting retries, and a
//! cancel that an explicit stop or kill sets until the next user start.

use std::time::Duration;

use berth_api::models::{HostConfig, RestartPolicyNameEnum};
use berth_types::{Error, Result};
use tokio_util::sync::CancellationToken;

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// A container's restart policy as the restart manager reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    No,
    Always,
    UnlessStopped,
    /// `0`: no maximum.
    OnFailure(i64),
}

impl Policy {
    /// The policy in the container's current HostConfig (`update` may have changed it).
    pub fn of(hc: &HostConfig) -> Self {
        let Some(p) = hc.restart_policy.as_ref() else {
            return Policy::No;
        };
        match p.name {
            Some(RestartPolicyNameEnum::ALWAYS) => Policy::Always,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED) => Policy::UnlessStopped,
            Some(RestartPolicyNameEnum::ON_FAILURE) => {
                Policy::OnFailure(p.maximum_retry_count.unwrap_or(0))
            }
            _ => Policy::No,
        }
    }
}

/// dockerd's `ValidateRestartPolicy` and the AutoRemove conflict, with its messages.
pub fn validate(hc: &HostConfig) -> Result<()> {
    let Some(p) = hc.restart_policy.as_ref() else {
        return Ok(());
    };
    let count = p.maximum_retry_count.unwrap_or(0);
    match p.name {
        Some(RestartPolicyNameEnum::ON_FAILURE) => {
            if count < 0 {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count cannot be negative",
                ));
            }
        }
        // An empty name is what clients before API 1.44 sent for "no"; any count is allowed.
        None | Some(RestartPolicyNameEnum::EMPTY) => return Ok(()),
        Some(_) => {
            if count != 0 {
                let mut msg = String::from(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'",
                );
                if count < 0 {
                    msg.push_str(" and cannot be negative");
                }
                return Err(Error::invalid(msg));
            }
        }
    }
    if hc.auto_remove.unwrap_or(false) && Policy::of(hc) != Policy::No {
        return Err(Error::invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    Ok(())
}

/// What decides whether and when an exited container starts again. Lives in memory, as
/// dockerd's: a daemon restart begins with a fresh one.
#[derive(Debug)]
pub struct RestartManager {
    delay: Duration,
    cancel: CancellationToken,
}

impl Default for RestartManager {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            cancel: CancellationToken::new(),
        }
    }
}

impl RestartManager {
    /// The delay before the next start, or None when the container stays down.
    /// `restart_count` is the restarts so far (for `on-failure:max`).
    pub fn should_restart(
        &mut self,
        policy: Policy,
        exit_code: i64,
        manually_stopped: bool,
        ran_for: Duration,
        restart_count: i64,
    ) -> Option<Duration> {
        if policy == Policy::No || self.cancel.is_cancelled() {
            return None;
        }
        if ran_for >= RESET_AFTER {
            self.delay = Duration::ZERO;
        }
        self.delay = if self.delay.is_zero() {
            FIRST_DELAY
        } else {
            (self.delay * 2).min(MAX_DELAY)
        };
        let restart = match policy {
            Policy::No => false,
            Policy::Always => true,
            Policy::UnlessStopped => !manually_stopped,
            Policy::OnFailure(max) => (max == 0 || restart_count < max) && exit_code != 0,
        };
        restart.then_some(self.delay)
    }

    /// Stops any pending restart and every later one until [`RestartManager::reset`].
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Resolves when the manager is cancelled; for a pending restart's timer.
    pub fn cancelled(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// A user's start: a fresh back-off and no cancel.
    pub fn reset(&mut self) {
        self.cancel.cancel();
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::models::RestartPolicy;

    fn hc(name: RestartPolicyNameEnum, count: Option<i64>) -> HostConfig {
        HostConfig {
            restart_policy: Some(RestartPolicy {
                name: Some(name),
                maximum_retry_count: count,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn validation_messages_are_dockerds() {
        let msg = |h: &HostConfig| validate(h).err().map(|e| e.message);
        assert_eq!(msg(&hc(RestartPolicyNameEnum::ON_FAILURE, Some(3))), None);
        assert_eq!(
            msg(&hc(RestartPolicyNameEnum::ALWAYS, Some(3))).as_deref(),
            Some("invalid restart policy: maximum retry count can only be used with 'on-failure'")
        );
        assert_eq!(
            msg(&hc(RestartPolicyNameEnum::NO, Some(-1))).as_deref(),
            Some("invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative")
        );
        assert_eq!(
            msg(&hc(RestartPolicyNameEnum::ON_FAILURE, Some(-2))).as_deref(),
            Some("invalid restart policy: maximum retry count cannot be negative")
        );
        let mut rm = hc(RestartPolicyNameEnum::ALWAYS, None);
        rm.auto_remove = Some(true);
        assert!(msg(&rm).is_some_and(|m| m.contains("AutoRemove")));
    }

    #[test]
    fn back_off_doubles_caps_and_resets_after_ten_seconds() {
        let mut m = RestartManager::default();
        let short = Duration::from_millis(50);
        let mut delays = Vec::new();
        for _ in 0..12 {
            delays.push(m.should_restart(Policy::Always, 1, false, short, 0));
        }
        assert_eq!(delays[0], Some(Duration::from_millis(100)));
        assert_eq!(delays[1], Some(Duration::from_millis(200)));
        assert_eq!(delays[2], Some(Duration::from_millis(400)));
        assert_eq!(delays[11], Some(MAX_DELAY));
        let long = Duration::from_secs(10);
        assert_eq!(
            m.should_restart(Policy::Always, 1, false, long, 0),
            Some(FIRST_DELAY)
        );
    }

    #[test]
    fn policies_decide_as_dockerd() {
        let run = Duration::from_secs(1);
        let mut m = RestartManager::default();
        assert!(m.should_restart(Policy::No, 1, false, run, 0).is_none());
        assert!(m.should_restart(Policy::Always, 0, true, run, 0).is_some());
        assert!(m
            .should_restart(Policy::UnlessStopped, 0, true, run, 0)
            .is_none());
        assert!(m
            .should_restart(Policy::UnlessStopped, 0, false, run, 0)
            .is_some());
        assert!(m
            .should_restart(Policy::OnFailure(0), 0, false, run, 9)
            .is_none());
        assert!(m
            .should_restart(Policy::OnFailure(0), 3, false, run, 9)
            .is_some());
        assert!(m
            .should_restart(Policy::OnFailure(2), 3, false, run, 1)
            .is_some());
        assert!(m
            .should_restart(Policy::OnFailure(2), 3, false, run, 2)
            .is_none());
        m.cancel();
        assert!(m.should_restart(Policy::Always, 1, false, run, 0).is_none());
        m.reset();
        assert!(m.should_restart(Policy::Always, 1, false, run, 0).is_some());
    }
}

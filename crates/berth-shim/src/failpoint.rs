//! Crash points for berthd's crash-consistency tests, as berthd's own
//! (`berth_daemon::recovery::failpoint`): in debug builds only, a shim whose `BERTH_FAILPOINT`
//! (inherited from berthd) names a point SIGKILLs itself on reaching it. Release builds compile
//! every point to nothing.

/// Dies by SIGKILL here when `BERTH_FAILPOINT` names `point` (debug builds only).
pub fn hit(point: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("BERTH_FAILPOINT").is_ok_and(|wanted| wanted == point) {
        crate::shimlog::error(&format!("failpoint {point} reached: killing the shim"));
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

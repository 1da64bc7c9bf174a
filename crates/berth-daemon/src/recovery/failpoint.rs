//! Crash points for the crash-consistency tests. In debug builds only, `BERTH_FAILPOINT=<name>`
//! makes berthd SIGKILL itself the first time it reaches the point of that name, so a test can
//! kill it at an exact step. Release builds compile every point to nothing.

/// Dies by SIGKILL here when `BERTH_FAILPOINT` names `point` (debug builds only).
pub(crate) fn hit(point: &str) {
    #[cfg(debug_assertions)]
    {
        static WANTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        let wanted = WANTED.get_or_init(|| std::env::var("BERTH_FAILPOINT").ok());
        if wanted.as_deref() == Some(point) {
            tracing::error!(point, "failpoint reached: killing berthd");
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

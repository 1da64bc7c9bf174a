//! An exec instance's record, as `GET /exec/{id}/json` shows it.

use std::sync::Mutex;

use berth_api::models::ExecConfig;

/// An exec instance, as `GET /exec/{id}/json` shows it.
pub struct ExecEntry {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub state: Mutex<ExecState>,
}

#[derive(Debug, Clone, Default)]
pub struct ExecState {
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

impl ExecEntry {
    pub(crate) fn state(&self) -> ExecState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }
    pub(crate) fn set(&self, f: impl FnOnce(&mut ExecState)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
    }
}

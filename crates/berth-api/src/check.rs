//! `GET /berth/check` (berth only; dockerd has no equivalent): the store's integrity report.

use serde::{Deserialize, Serialize};

/// What `berth system check` verified and what it found wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemCheckReport {
    pub images_checked: u64,
    pub layers_checked: u64,
    pub blobs_checked: u64,
    /// Empty when the store is sound.
    pub problems: Vec<CheckProblem>,
}

/// One damaged or dangling object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CheckProblem {
    /// `blob sha256:...`, `image sha256:...`, `layer sha256:...`, `container <id>`.
    pub object: String,
    pub problem: String,
}

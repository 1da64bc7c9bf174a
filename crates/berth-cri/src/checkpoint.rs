//! CheckpointContainer (KEP 2008, forensic container checkpointing): the request is checked as
//! containerd checks it — CRIU first (present and at least 3.16), then the container (known,
//! running) — and then CRIU is asked whether it can work on this host (`criu check`, its kernel
//! feature detection). berth writes no checkpoint archive yet: on the machines it is built and
//! tested on (Linux 6.18, Debian's CRIU 3.17) CRIU's feature detection fails before any dump
//! (the kernel's `[vvar_vclock]` mapping is a vDSO layout that CRIU 3.17 does not expect), so a
//! dump pipeline could not be exercised. docs/cri.md ("CheckpointContainer") has the details.

use std::time::Duration;

use berth_daemon::Daemon;
use tonic::{Response, Status};

use crate::proto;

type RpcResult<T> = Result<Response<T>, Status>;

/// The oldest CRIU containerd checkpoints pods with (`utils.PodCriuVersion`: 3.16.0).
const MIN_CRIU: u32 = 31600;

/// How long `criu --version` and `criu check` may take.
const CRIU_TIMEOUT: Duration = Duration::from_secs(30);

/// `Version: 3.17.1` (CRIU's `--version`) as 31701.
fn parse_version(out: &str) -> Option<u32> {
    let v = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Version:"))?
        .trim();
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some(major * 10000 + minor * 100 + patch)
}

/// Runs `criu <args>`: its exit status and output (stdout then stderr); `None` when it cannot
/// be run at all.
async fn criu(args: &[&str]) -> Option<(bool, String)> {
    let mut cmd = tokio::process::Command::new("criu");
    cmd.args(args).kill_on_drop(true);
    let out = tokio::time::timeout(CRIU_TIMEOUT, cmd.output())
        .await
        .ok()?
        .ok()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Some((out.status.success(), text))
}

/// The first `Error (...)` line CRIU printed, without its source position, else its last line.
fn criu_reason(output: &str) -> String {
    let errors: Vec<&str> = output
        .lines()
        .filter_map(|l| l.split_once("): ").filter(|(p, _)| p.contains("Error (")))
        .map(|(_, msg)| msg.trim())
        .collect();
    errors
        .first()
        .map(|e| errors.get(1).map_or(e.to_string(), |n| format!("{e}: {n}")))
        .or_else(|| {
            output
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "no output".into())
}

pub(crate) async fn checkpoint(
    d: &Daemon,
    r: proto::CheckpointContainerRequest,
) -> RpcResult<proto::CheckpointContainerResponse> {
    let id = r.container_id;
    // containerd's first check, with its words.
    let version = match criu(&["--version"]).await {
        Some((true, out)) => parse_version(&out),
        _ => None,
    };
    if version.is_none_or(|v| v < MIN_CRIU) {
        return Err(Status::failed_precondition(format!(
            "CRIU binary not found or too old (<{MIN_CRIU}). Failed to checkpoint container {id:?}"
        )));
    }
    let (c, _) = crate::container::inspect(d, &id).await?;
    let state = c.state.as_ref();
    if state.and_then(|s| s.running) != Some(true) || state.and_then(|s| s.paused) == Some(true) {
        let cri = match state.and_then(|s| s.status) {
            Some(berth_api::models::ContainerStateStatusEnum::CREATED) => "CONTAINER_CREATED",
            Some(berth_api::models::ContainerStateStatusEnum::PAUSED) => "CONTAINER_PAUSED",
            _ => "CONTAINER_EXITED",
        };
        return Err(Status::failed_precondition(format!(
            "container {:?} is in {cri} state. only CONTAINER_RUNNING containers can be checkpointed",
            c.id.unwrap_or(id)
        )));
    }
    if r.location.is_empty() {
        return Err(Status::invalid_argument(
            "a checkpoint archive location is required",
        ));
    }
    // Whether CRIU can dump anything on this kernel at all.
    match criu(&["check"]).await {
        Some((true, _)) => Err(Status::unimplemented(
            "CheckpointContainer is not implemented by berth yet: CRIU works on this host but berth has no checkpoint archive writer (see docs/cri.md)",
        )),
        Some((false, out)) => Err(Status::failed_precondition(format!(
            "checkpointing container {id:?} failed: CRIU cannot run on this host: {}",
            criu_reason(&out)
        ))),
        None => Err(Status::failed_precondition(format!(
            "checkpointing container {id:?} failed: `criu check` did not finish"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_reasons() {
        assert_eq!(parse_version("Version: 3.17.1\n"), Some(31701));
        assert_eq!(parse_version("Version: 4.0\nGitID: v4.0\n"), Some(40000));
        assert_eq!(parse_version("nonsense"), None);
        let out = "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\nError (criu/vdso.c:613): vdso: Failed to fill self vdso symtable\nError (criu/crtools.c:260): Could not initialize kernel features detection.\n";
        assert_eq!(
            criu_reason(out),
            "vdso: Unexpected rt vDSO area bounds: vdso: Failed to fill self vdso symtable"
        );
        assert_eq!(criu_reason("Looks good.\n"), "Looks good.");
    }
}

//! Prints the JSON progress stream of import/pull the way the docker CLI does without a TTY.

use berth_api::models::CreateImageInfo;
use berth_client::JsonLines;

use crate::error::{CliError, CliResult};

/// Prints status lines; the first error in the stream ends it.
pub async fn display(
    mut stream: JsonLines<CreateImageInfo>,
    out: &mut impl std::io::Write,
) -> CliResult {
    while let Some(msg) = stream.next().await {
        let msg = msg?;
        if let Some(err) = msg
            .error_detail
            .as_ref()
            .and_then(|d| d.message.clone())
            .or(msg.error.clone())
        {
            return Err(CliError::status(1, err));
        }
        // progress bars are only drawn on a terminal
        if msg
            .progress_detail
            .as_ref()
            .is_some_and(|p| p.total.is_some() || p.current.is_some())
        {
            continue;
        }
        let Some(status) = msg.status.as_deref() else {
            continue;
        };
        match msg.id.as_deref() {
            Some(id) if !id.is_empty() => writeln!(out, "{id}: {status}")?,
            _ => writeln!(out, "{status}")?,
        }
    }
    Ok(())
}

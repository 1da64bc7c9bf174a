//! One module per verb; each parses its flags (clap `Args`) and talks to the daemon.

pub mod attach;
pub mod build;
pub mod build_prune;
pub mod build_view;
pub mod commit;
pub mod compose;
pub mod container_prune;
pub mod cp;
pub mod create;
pub mod diff;
pub mod events;
pub mod exec;
pub mod export;
pub mod history;
pub mod image_prune;
pub mod images;
pub mod import;
pub mod info;
pub mod inspect;
pub mod kill;
pub mod load;
pub mod login;
pub mod logs;
pub mod network;
pub mod pause;
pub mod port;
pub mod ps;
pub mod pull;
pub mod push;
pub mod registry;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod start;
pub mod stats;
pub mod stop;
pub mod system_check;
pub mod system_df;
pub mod tag;
pub mod top;
pub mod update;
pub mod version;
pub mod volume;
pub mod wait;

use berth_client::ClientError;

use crate::error::{CliError, CliResult};

/// Runs `op` on every name, printing each failure as docker does ("Error response from
/// daemon: ..."); fails with exit 1 when any did, `summary` naming them if given.
pub async fn for_each_name<F, Fut>(names: &[String], summary: Option<&str>, mut op: F) -> CliResult
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, ClientError>>,
{
    let mut failed = Vec::new();
    for name in names {
        match op(name.clone()).await {
            Ok(Some(line)) => println!("{line}"),
            Ok(None) => {}
            Err(e) => {
                eprintln!("{e}");
                failed.push(name.clone());
            }
        }
    }
    finish(failed, summary)
}

/// Exit 1 when any name failed, `summary` naming them if given.
fn finish(failed: Vec<String>, summary: Option<&str>) -> CliResult {
    if failed.is_empty() {
        return Ok(());
    }
    match summary {
        Some(what) => Err(CliError::status(
            1,
            format!("Error: failed to {what}: {}", failed.join(", ")),
        )),
        None => Err(CliError::exit(1)),
    }
}

/// How many requests [`for_each_name_parallel`] has in flight (the docker CLI's
/// `parallelOperation` limit).
const PARALLEL_OPERATIONS: usize = 50;

/// [`for_each_name`] with up to 50 requests in flight at once, as the docker CLI's `rm`, `stop`
/// and `kill` (`parallelOperation`): results are still printed in the order the names were
/// given, each once those before it are done. An error `tolerated` accepts is printed but
/// does not fail the command.
pub async fn for_each_name_parallel<F, Fut>(
    names: &[String],
    summary: Option<&str>,
    tolerated: impl Fn(&ClientError) -> bool,
    op: F,
) -> CliResult
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, ClientError>>,
{
    use futures::StreamExt;
    let mut results = futures::stream::iter(names.iter().cloned())
        .map(op)
        .buffered(PARALLEL_OPERATIONS);
    let mut failed = Vec::new();
    let mut i = 0;
    while let Some(result) = results.next().await {
        match result {
            Ok(Some(line)) => println!("{line}"),
            Ok(None) => {}
            Err(e) => {
                eprintln!("{e}");
                if !tolerated(&e) {
                    failed.push(names[i].clone());
                }
            }
        }
        i += 1;
    }
    finish(failed, summary)
}

/// A docker `--filter key=value` list into the API's filters.
pub fn parse_filters(flags: &[String]) -> CliResult<berth_api::Filters> {
    let mut f = berth_api::Filters::default();
    for item in flags {
        let Some((k, v)) = item.split_once('=') else {
            return Err(CliError::status(
                125,
                format!("invalid argument {item:?} for \"-f, --filter\" flag: bad format of filter (expected name=value)"),
            ));
        };
        f.add(k.trim().to_ascii_lowercase().as_str(), v);
    }
    Ok(f)
}

//! `cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-` and `cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`.
//!
//! docker's client-side rules (`cp_paths`) decide which directory the archive is extracted
//! into and how its top-level entry is named; the daemon only archives and extracts. Local
//! archives are built and extracted by descriptor (berth-snapshot's tree archiver and safe
//! unpacker): nothing in an archive from a container lands outside the destination directory.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;

use berth_api::archive::ContainerPathStat;
use berth_snapshot::tree_tar::{TreeTar, TreeTarOptions};
use berth_snapshot::UnpackOptions;
use clap::Args;
use tokio_util::io::SyncIoBridge;

use crate::cp_paths::{self, CopyError, CopyInfo};
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use crate::output_file;

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy (berth prints none)
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub args: Vec<String>,
}

/// docker's `splitCpArg`: `container:path`, unless the argument is an absolute path or a
/// relative one starting with `.`.
pub fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') => (Some(c), p),
        _ => (None, arg),
    }
}

fn fail(message: impl Into<String>) -> CliError {
    CliError::status(1, message)
}

fn copy_error(e: CopyError) -> CliError {
    fail(e.to_string())
}

fn join_error(e: tokio::task::JoinError) -> CliError {
    fail(format!("copy task: {e}"))
}

/// docker's `resolveLocalPath`: absolute, cleaned, keeping a trailing `/` or `/.`.
fn resolve_local_path(path: &str) -> CliResult<String> {
    let abs = if path.starts_with('/') {
        path.to_string()
    } else {
        let cwd = std::env::current_dir()?;
        format!("{}/{path}", cwd.display())
    };
    let mut cleaned = cp_paths::clean(&abs);
    if (path == "." || path.ends_with("/.")) && !cleaned.ends_with("/.") {
        cleaned.push_str(if cleaned.ends_with('/') { "." } else { "/." });
    }
    if path.ends_with('/') && !cleaned.ends_with('/') {
        cleaned.push('/');
    }
    Ok(cleaned)
}

pub async fn run(ctx: &Ctx, path: &str, args: CpArgs) -> CliResult {
    Arity::Exactly(2).check(path, args.args.len())?;
    let (source, destination) = (&args.args[0], &args.args[1]);
    if source.is_empty() {
        return Err(fail("source can not be empty"));
    }
    if destination.is_empty() {
        return Err(fail("destination can not be empty"));
    }
    match (split_cp_arg(source), split_cp_arg(destination)) {
        ((Some(_), _), (Some(_), _)) => Err(fail("copying between containers is not supported")),
        ((Some(c), src), (None, dst)) => from_container(ctx, &args, c, src, dst).await,
        ((None, src), (Some(c), dst)) => to_container(ctx, &args, c, src, dst).await,
        _ => Err(fail("must specify at least one container source")),
    }
}

async fn from_container(
    ctx: &Ctx,
    args: &CpArgs,
    container: &str,
    src: &str,
    dst: &str,
) -> CliResult {
    let mut src_path = src.to_string();
    let mut rebase = None;
    if args.follow_link {
        if let Ok(stat) = ctx.client.container_stat_path(container, &src_path).await {
            if stat.is_symlink() {
                let target = cp_paths::link_target_path(&src_path, &stat.link_target);
                let (resolved, name) = cp_paths::rebase_name(&src_path, &target);
                src_path = resolved;
                rebase = name;
            }
        }
    }
    if dst == "-" {
        let (_, body) = ctx.client.copy_from_container(container, &src_path).await?;
        return output_file::copy_to_stdout(body).await;
    }
    let dst_path = resolve_local_path(dst)?;
    output_file::validate(&dst_path).map_err(fail)?;
    let (stat, body) = ctx.client.copy_from_container(container, &src_path).await?;
    let src_info = CopyInfo {
        path: src_path.clone(),
        exists: true,
        is_dir: stat.is_dir(),
        rebase_name: rebase,
    };
    let reader = SyncIoBridge::new(body);
    tokio::task::spawn_blocking(move || extract_locally(reader, &src_info, &dst_path))
        .await
        .map_err(join_error)?
}

/// docker's `CopyTo`: extracts the archive of `src` at `dst` by the copy rules.
fn extract_locally(archive: impl Read + Send, src: &CopyInfo, dst: &str) -> CliResult {
    let dst_info = cp_paths::local_destination(dst).map_err(copy_error)?;
    let prepared = cp_paths::prepare(src, &dst_info).map_err(copy_error)?;
    let (_, archived_as) = cp_paths::split_dir_entry(&src.path);
    let new_name = prepared
        .rebase
        .map(|(_, new)| new)
        .or_else(|| src.rebase_name.clone());
    let dir =
        File::open(&prepared.dst_dir).map_err(|e| fail(format!("{}: {e}", prepared.dst_dir)))?;
    // SAFETY: geteuid/getegid only read the process's credentials.
    let owner = unsafe { (libc::geteuid(), libc::getegid()) };
    let opts = UnpackOptions {
        whiteouts: false,
        no_overwrite_dir_non_dir: true,
        chown: Some(owner),
        root_metadata: false,
        root_name: prepared.dst_dir.to_string(),
    };
    let unpack = |r: &mut dyn Read| {
        berth_snapshot::unpack::unpack_at(r, dir.as_fd(), opts.clone())
            .map(drop)
            .map_err(|e| fail(e.to_string()))
    };
    let Some(new_name) = new_name.filter(|n| *n != archived_as) else {
        let mut archive = archive;
        return unpack(&mut archive);
    };
    let (mut pipe_r, pipe_w) = std::io::pipe()?;
    std::thread::scope(|s| {
        let rebaser =
            s.spawn(move || cp_paths::rebase_archive(archive, pipe_w, &archived_as, &new_name));
        let unpacked = unpack(&mut pipe_r);
        drop(pipe_r);
        match rebaser.join() {
            Ok(Ok(())) => unpacked,
            Ok(Err(e)) => unpacked.and(Err(fail(format!("reading archive: {e}")))),
            Err(_) => Err(fail("rebasing the archive failed")),
        }
    })
}

fn validate_destination_mode(stat: &ContainerPathStat, container: &str, dst: &str) -> CliResult {
    const MODE_DEVICE: u32 = 1 << 26;
    const MODE_IRREGULAR: u32 = 1 << 19;
    let problem = if stat.mode & MODE_DEVICE != 0 {
        "got a device"
    } else if stat.mode & MODE_IRREGULAR != 0 {
        "got an irregular file"
    } else {
        return Ok(());
    };
    Err(fail(format!(
        "destination \"{container}:{dst}\" must be a directory or a regular file: {problem}"
    )))
}

async fn to_container(
    ctx: &Ctx,
    args: &CpArgs,
    container: &str,
    src: &str,
    dst: &str,
) -> CliResult {
    let mut dst_info = CopyInfo {
        path: dst.to_string(),
        ..CopyInfo::default()
    };
    let mut stat = ctx.client.container_stat_path(container, dst).await;
    if let Ok(s) = &stat {
        if s.is_symlink() {
            let target = cp_paths::link_target_path(dst, &s.link_target);
            dst_info.path = target.clone();
            stat = ctx.client.container_stat_path(container, &target).await;
        }
    }
    if let Ok(s) = &stat {
        validate_destination_mode(s, container, dst)?;
        dst_info.exists = true;
        dst_info.is_dir = s.is_dir();
    }
    let opts = berth_client::CopyToOptions {
        allow_overwrite_dir_with_file: false,
        copy_uid_gid: args.archive,
    };
    if src == "-" {
        if !dst_info.is_dir {
            return Err(fail(format!(
                "destination \"{container}:{dst}\" must be a directory"
            )));
        }
        let body = berth_client::body::from_reader(tokio::io::stdin());
        ctx.client
            .copy_to_container(container, &dst_info.path, opts, body)
            .await?;
        return Ok(());
    }
    let src_info = cp_paths::local_source(src, args.follow_link).map_err(copy_error)?;
    let prepared = cp_paths::prepare(&src_info, &dst_info).map_err(copy_error)?;
    let (src_dir, entry) = cp_paths::source_parts(&src_info);
    let top_name = prepared
        .rebase
        .map(|(_, new)| new)
        .or_else(|| src_info.rebase_name.clone())
        .unwrap_or_else(|| entry.clone());
    let (reader, writer) = tokio::io::duplex(64 * 1024);
    let writer = SyncIoBridge::new(writer);
    let producer =
        tokio::task::spawn_blocking(move || archive_local(writer, &src_dir, &entry, &top_name));
    let body = berth_client::body::from_reader(reader);
    let sent = ctx
        .client
        .copy_to_container(container, &prepared.dst_dir, opts, body)
        .await;
    let produced = producer.await.map_err(join_error)?;
    sent?;
    produced
}

/// Archives `dir/entry` (the directory itself for `.`) with `top_name` as its name.
fn archive_local(
    writer: impl std::io::Write,
    dir: &std::path::Path,
    entry: &str,
    top_name: &str,
) -> CliResult {
    let mut tar = TreeTar::new(writer, TreeTarOptions::default());
    let tar_error = |e: berth_snapshot::tree_tar::TreeTarError| fail(e.to_string());
    if entry == "." {
        let d = File::open(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        tar.append_dir(d.as_fd(), top_name.as_bytes())
            .map_err(tar_error)?;
    } else {
        let d = File::open(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        tar.append_entry(d.as_fd(), entry.as_bytes(), top_name.as_bytes())
            .map_err(tar_error)?;
    }
    let mut w = tar.finish().map_err(tar_error)?;
    std::io::Write::flush(&mut w)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_container_arguments_like_docker() {
        assert_eq!(split_cp_arg("c:/x"), (Some("c"), "/x"));
        assert_eq!(split_cp_arg("/abs:x"), (None, "/abs:x"));
        assert_eq!(split_cp_arg("./f:x"), (None, "./f:x"));
        assert_eq!(split_cp_arg("file"), (None, "file"));
        assert_eq!(split_cp_arg("c:"), (Some("c"), ""));
    }
}

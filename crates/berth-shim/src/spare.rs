//! `berth-shim --spare <padding>`: a shim spawned before berthd has a container for it.
//!
//! berthd keeps one spare so that a `start` does not wait for the shim's exec and startup. The
//! spare waits for one line on stdin, the path of a `shim.json`, then becomes that container's
//! shim exactly as `berth-shim <path>` would. End of file on stdin (berthd gone, or the spare
//! dropped) ends it. Protocol: `berth_runtime::shim_proto`, "A spare shim".

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use berth_runtime::shim_proto::SPARE_PATH_ROOM;

/// Waits for a container and runs its shim; the return value is the process exit code.
pub fn run() -> i32 {
    // Done now, off the start's path.
    crate::launch::prepare();
    let Some(config) = wait_for_container() else {
        return 0;
    };
    if let Err(e) = name_in_command_line(config.as_os_str().as_bytes()) {
        // Only a restarted berthd would miss the shim; the container itself is unaffected.
        if let Some(bundle) = config.parent() {
            crate::shimlog::init(bundle);
        }
        crate::shimlog::error(&format!(
            "cannot show {} in the command line: {e}",
            config.display()
        ));
    }
    crate::launch::run_prepared(&config)
}

/// The `shim.json` path berthd writes on stdin, or None at end of file.
///
/// fd 0 stays open (detach() puts /dev/null over it): a closed 0 would be the next file the
/// shim opens, and the container's init, which puts its own stdio on 0-2, would clobber it.
fn wait_for_container() -> Option<PathBuf> {
    // berthd writes the line with one write below PIPE_BUF, so one read usually has it whole.
    let mut line = vec![0u8; SPARE_PATH_ROOM + 1];
    let mut len = 0;
    while len < line.len() {
        // SAFETY: reads into the unfilled part of a buffer owned here, from fd 0 (not closed).
        let n = unsafe { libc::read(0, line[len..].as_mut_ptr().cast(), line.len() - len) };
        match n {
            n if n > 0 => len += n as usize,
            -1 if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => return None,
        }
        if let Some(end) = line[..len].iter().position(|b| *b == b'\n') {
            line.truncate(end);
            return (!line.is_empty()).then(|| PathBuf::from(OsString::from_vec(line)));
        }
    }
    None
}

/// Rewrites the process's arguments in place to `<argv[0]> <config>`: /proc/<pid>/cmdline then
/// reads as a shim spawned with that path. The arguments' memory (between the kernel's
/// `arg_start` and `arg_end`) is the spare's padding, so the path fits; the rest is zeroed,
/// keeping the last byte a NUL so the kernel reports the area as it is.
fn name_in_command_line(config: &[u8]) -> std::io::Result<()> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "unexpected /proc/self/stat",
        )
    };
    // Fields after the command name, which is in parentheses and may hold spaces: the third
    // field (state) comes first, so field n is at index n - 3; arg_start is field 48.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .ok_or_else(bad)?
        .1
        .split_whitespace()
        .collect();
    let field = |n: usize| -> std::io::Result<usize> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(bad)
    };
    let (start, end) = (field(48)?, field(49)?);
    if end <= start {
        return Err(bad());
    }
    // SAFETY: [arg_start, arg_end) is this process's argument strings, mapped and writable (at
    // the top of its stack); it is only read here and by std::env::args, which nothing calls
    // after main started.
    let args = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, end - start) };
    let program = args.iter().position(|b| *b == 0).ok_or_else(bad)? + 1;
    let room = &mut args[program..];
    if config.len() + 1 > room.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "path longer than the spare's padding",
        ));
    }
    room[..config.len()].copy_from_slice(config);
    room[config.len()..].fill(0);
    Ok(())
}

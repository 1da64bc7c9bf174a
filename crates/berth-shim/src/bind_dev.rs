//! `berth-shim --bind-dev <rootfs> <source> <options>`: the embedded runtime's
//! `createContainer` hook for a bind mount on `/dev` (see
//! `berth_runtime::spec::DEV_BIND_HOOK_ARG`). It runs in the container's mount namespace once
//! libcontainer has prepared the rootfs (its own `/dev` tmpfs populated), before `pivot_root`,
//! and mounts `source` over the container's `/dev`, which it resolves inside the rootfs.

use std::ffi::OsString;
use std::os::fd::AsRawFd;
use std::path::Path;

use berth_types::inroot::Root;
use nix::mount::{mount, MsFlags};

/// Why the bind failed.
#[derive(Debug, thiserror::Error)]
pub enum BindDevError {
    #[error("usage: berth-shim --bind-dev <rootfs> <source> <options>")]
    Usage,
    #[error("opening /dev in {rootfs}: {source}")]
    Target {
        rootfs: String,
        source: std::io::Error,
    },
    #[error("mounting {what} on /dev: {source}")]
    Mount {
        what: String,
        source: nix::errno::Errno,
    },
}

/// Runs the hook with the arguments after `--bind-dev`.
pub fn run(args: &[OsString]) -> Result<(), BindDevError> {
    let [rootfs, source, options] = args else {
        return Err(BindDevError::Usage);
    };
    let options = options.to_string_lossy();
    let options: Vec<&str> = options.split(',').filter(|o| !o.is_empty()).collect();
    let rootfs_path = Path::new(rootfs);
    let target_err = |source| BindDevError::Target {
        rootfs: rootfs_path.display().to_string(),
        source,
    };
    let root = Root::open(rootfs_path).map_err(target_err)?;
    let dev = root.open_dir("/dev").map_err(target_err)?;
    // The opened directory, not a path a symlink could redirect.
    let target = format!("/proc/self/fd/{}", dev.as_raw_fd());
    let mount_err = |what: &str| {
        let what = what.to_string();
        move |source| BindDevError::Mount { what, source }
    };
    let mut flags = MsFlags::MS_BIND;
    if options.contains(&"rbind") {
        flags |= MsFlags::MS_REC;
    }
    mount(
        Some(Path::new(source)),
        target.as_str(),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .map_err(mount_err(&source.to_string_lossy()))?;
    // The mount now covers `dev`: reach it through the path again, resolved inside the root.
    let dev = root.open_dir("/dev").map_err(target_err)?;
    let target = format!("/proc/self/fd/{}", dev.as_raw_fd());
    let propagation = options.iter().find_map(|o| match *o {
        "private" => Some(MsFlags::MS_PRIVATE),
        "rprivate" => Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
        "slave" => Some(MsFlags::MS_SLAVE),
        "rslave" => Some(MsFlags::MS_SLAVE | MsFlags::MS_REC),
        "shared" => Some(MsFlags::MS_SHARED),
        "rshared" => Some(MsFlags::MS_SHARED | MsFlags::MS_REC),
        _ => None,
    });
    // dockerd's default for a bind is rprivate.
    let propagation = propagation.unwrap_or(MsFlags::MS_PRIVATE | MsFlags::MS_REC);
    mount(
        None::<&str>,
        target.as_str(),
        None::<&str>,
        propagation,
        None::<&str>,
    )
    .map_err(mount_err("propagation"))?;
    if options.contains(&"ro") {
        mount(
            None::<&str>,
            target.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(mount_err("read-only"))?;
    }
    Ok(())
}

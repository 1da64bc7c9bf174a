//! The holder of a pod's namespaces: `berth-init --pause`, started by berthd itself (see
//! `direct`) in new IPC and UTS namespaces (and PID ones unless the pod shares the host's), in
//! the pinned network namespace, under the pod's cgroup parent, with its sysctls and hostname.
//! Holders an older berthd ran under a `berth-shim` (their record has no start time) are still
//! recognised by their shim's socket under `<exec-root>/pods/` and stopped through it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_types::{Error, Result};

use super::{direct, NsMode, PodRecord, PodSpec};
use crate::daemon::Daemon;
use crate::runtime::shim;

/// How long a shim-run holder has to exit on SIGTERM before it is killed.
const HOLDER_GRACE: Duration = Duration::from_secs(5);

/// Writes the pod's `hostname`, `hosts` and `resolv.conf` in `dir`; its containers bind them.
pub(super) fn write_etc_files(dir: &Path, spec: &PodSpec) -> Result<()> {
    let write = |name: &str, data: String| {
        std::fs::write(dir.join(name), data)
            .map_err(|e| Error::internal(format!("writing {name}: {e}")))
    };
    let hostname = pod_hostname(spec);
    write("hostname", format!("{hostname}\n"))?;
    let hosts = if spec.host_network() {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t{hostname}\n"
        )
    };
    write("hosts", hosts)?;
    let resolv = match &spec.dns {
        Some(dns)
            if !(dns.servers.is_empty() && dns.searches.is_empty() && dns.options.is_empty()) =>
        {
            let mut out = String::new();
            if !dns.searches.is_empty() {
                out.push_str(&format!("search {}\n", dns.searches.join(" ")));
            }
            for s in &dns.servers {
                out.push_str(&format!("nameserver {s}\n"));
            }
            if !dns.options.is_empty() {
                out.push_str(&format!("options {}\n", dns.options.join(" ")));
            }
            out
        }
        // kubelet always sends a DNS config; without one the host's resolvers apply.
        _ => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    };
    write("resolv.conf", resolv)
}

/// The pod's hostname: the config's, else (and always on the host network) the host's, as
/// containerd and CRI-O do. (The pod's name is no fallback: it may be longer than the 64 bytes
/// sethostname(2) takes, and kubelet always sends the hostname it wants.)
pub(super) fn pod_hostname(spec: &PodSpec) -> String {
    if !spec.host_network() && !spec.hostname.is_empty() {
        return spec.hostname.clone();
    }
    nix::sys::utsname::uname()
        .map(|u| u.nodename().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Refuses a holder binary that needs a dynamic loader: the holder's rootfs is empty, so a
/// dynamically linked `berth-init` (a plain `cargo build`) exits at once with status 1 and
/// leaves a pod that is never Ready, whose containers cannot join its namespaces.
/// (`scripts/build-init` makes the static one.)
pub(super) fn check_static(binary: &Path) -> Result<()> {
    let data = std::fs::read(binary)
        .map_err(|e| Error::internal(format!("reading {}: {e}", binary.display())))?;
    if elf_interpreter(&data) {
        return Err(Error::invalid(format!(
            "{} is dynamically linked: a pod's holder runs from an empty rootfs and needs a static berth-init (scripts/build-init)",
            binary.display()
        )));
    }
    Ok(())
}

/// Whether `data`, a 64-bit little-endian ELF file, has a `PT_INTERP` program header.
/// Anything else (another class, a script, a truncated file) is taken as needing none.
fn elf_interpreter(data: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        data.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        data.get(o..o + 8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    };
    // ELF magic, ELFCLASS64, ELFDATA2LSB.
    if data.get(0..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    let Ok(phoff) = usize::try_from(phoff) else {
        return false;
    };
    (0..usize::from(phnum)).any(|i| {
        phoff
            .checked_add(i * usize::from(phentsize))
            .and_then(u32_at)
            == Some(PT_INTERP)
    })
}

/// The cgroup of a pod's process (the holder's or a container's): under the pod's cgroup
/// parent when it has one, else berth's own.
pub(crate) fn cgroup_path(parent: &str, id: &str) -> String {
    let parent = parent.trim_end_matches('/');
    if parent.is_empty() {
        format!("/berth/{id}")
    } else if parent.starts_with('/') {
        format!("{parent}/{id}")
    } else {
        format!("/{parent}/{id}")
    }
}

/// Whether a shim answers on `socket`.
pub(super) fn socket_alive(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

impl Daemon {
    /// The holder's shim socket (short: unix socket paths are limited to 108 bytes).
    pub(crate) fn pod_socket(&self, id: &str) -> PathBuf {
        self.config
            .exec_root
            .join("pods")
            .join(format!("{}.sock", &id[..id.len().min(24)]))
    }

    /// Starts the holder straight from berthd (`direct`, no shim); returns its pid and start
    /// time.
    #[tracing::instrument(level = "debug", name = "holder_start", skip_all)]
    pub(super) async fn holder_start(&self, rec: &PodRecord, binary: &Path) -> Result<(i32, u64)> {
        let spec = &rec.spec;
        let holder = direct::HolderSpec {
            binary: binary.to_path_buf(),
            netns: rec.netns.clone(),
            new_ipc: spec.ipc != NsMode::Node,
            // hostNetwork brings the host's UTS namespace.
            new_uts: !spec.host_network(),
            new_pid: spec.pid != NsMode::Node,
            hostname: pod_hostname(spec),
            sysctls: spec.sysctls.clone(),
            cgroup: cgroup_path(&spec.cgroup_parent, &rec.id),
            scratch_dir: self.config.exec_root.join("pods"),
        };
        let (started, pidfd) = tokio::task::spawn_blocking(move || direct::spawn(&holder))
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        crate::util::child::reap_later(pidfd);
        Ok((started.pid, started.start_time))
    }

    /// Stops the holder: one started by berthd is killed at once through a pidfd and its
    /// cgroup removed; one run by a shim (made by an older berthd) goes through its shim.
    pub(super) async fn holder_stop(&self, rec: &PodRecord) -> Result<()> {
        if rec.holder_start_time > 0 {
            let cgroup = cgroup_path(&rec.spec.cgroup_parent, &rec.id);
            return direct::stop(rec.holder_pid, rec.holder_start_time, &cgroup).await;
        }
        self.shim_holder_stop(&rec.id).await
    }

    /// Stops a holder run by a shim (SIGTERM, then SIGKILL after a grace period) and waits for
    /// its shim to be gone; a holder already gone is fine.
    async fn shim_holder_stop(&self, id: &str) -> Result<()> {
        let socket = self.pod_socket(id);
        if !socket.exists() {
            return Ok(());
        }
        let waiter = match shim::wait(&socket).await {
            Ok(w) => w,
            Err(_) => {
                // Nobody answers: a shim that died with berthd's host; only its socket is left.
                let _ = std::fs::remove_file(&socket);
                return Ok(());
            }
        };
        shim::signal(&socket, libc::SIGTERM, false).await;
        let mut waiter = Box::pin(waiter);
        if tokio::time::timeout(HOLDER_GRACE, &mut waiter)
            .await
            .is_err()
        {
            tracing::info!(sandbox = %id, "holder did not exit on SIGTERM, killing it");
            shim::kill_all(&socket).await;
            if tokio::time::timeout(HOLDER_GRACE, &mut waiter)
                .await
                .is_err()
            {
                return Err(Error::internal(format!(
                    "the holder of sandbox {id} did not exit"
                )));
            }
        }
        // The shim removes its socket as it exits, a moment after its exit report (it deletes
        // the runtime's state first); wait for that, up to a second, looking often at first.
        let mut pause = Duration::from_millis(1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while socket.exists() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
        let _ = std::fs::remove_file(&socket);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_interpreter_is_found_in_program_headers() {
        // A minimal ELF64 LE header with two program headers at 0x40: PT_LOAD, then PT_INTERP.
        let mut elf = vec![0u8; 0x40 + 2 * 56];
        elf[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1]);
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        elf[0x40..0x44].copy_from_slice(&1u32.to_le_bytes());
        elf[0x40 + 56..0x44 + 56].copy_from_slice(&3u32.to_le_bytes());
        assert!(elf_interpreter(&elf));
        elf[0x40 + 56..0x44 + 56].copy_from_slice(&1u32.to_le_bytes());
        assert!(!elf_interpreter(&elf));
        // Headers past the end of the file, or not ELF at all: no interpreter.
        elf[0x38..0x3a].copy_from_slice(&9u16.to_le_bytes());
        assert!(!elf_interpreter(&elf));
        assert!(!elf_interpreter(b"#!/bin/sh\n"));
    }
}

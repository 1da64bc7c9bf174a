//! Which sysctls a container's own IPC namespace isolates, as moby's `opts.ValidateSysctl` and
//! runc's (and libcontainer's) spec validation list them: shared by the CLI's `--sysctl` check
//! and the pod holder's.

/// The IPC-namespaced `kernel.*` keys (besides every `fs.mqueue.*` one).
const IPC_KERNEL: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Whether `key` (dotted, `kernel.shmmax`) belongs to the IPC namespace.
pub fn ipc_namespaced(key: &str) -> bool {
    IPC_KERNEL.contains(&key) || key.starts_with("fs.mqueue.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipc_keys_are_the_kernel_list_and_mqueue() {
        assert!(ipc_namespaced("kernel.shm_rmid_forced"));
        assert!(ipc_namespaced("fs.mqueue.msg_max"));
        assert!(!ipc_namespaced("kernel.hostname"));
        assert!(!ipc_namespaced("net.ipv4.ip_forward"));
        assert!(!ipc_namespaced("fs.file-max"));
    }
}

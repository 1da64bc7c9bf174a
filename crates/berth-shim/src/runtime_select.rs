//! Picks the runtime backend named by the shim config.

use berth_runtime::embedded::EmbeddedRuntime;
use berth_runtime::external::ExternalRuntime;
use berth_runtime::shim_proto::ShimConfig;
use berth_runtime::{Runtime, RuntimeError};

/// `runtime_binary` None: the embedded runtime; Some: that OCI runtime binary.
pub fn runtime_for(config: &ShimConfig) -> Result<Box<dyn Runtime>, RuntimeError> {
    Ok(match &config.runtime_binary {
        Some(binary) => Box::new(ExternalRuntime::new(
            binary,
            &config.runtime_root,
            config.runtime_args.clone(),
        )),
        None => Box::new(embedded_runtime(config)),
    })
}

/// The embedded runtime, when the config names no runtime binary.
pub fn embedded(config: &ShimConfig) -> Option<EmbeddedRuntime> {
    config
        .runtime_binary
        .is_none()
        .then(|| embedded_runtime(config))
}

fn embedded_runtime(config: &ShimConfig) -> EmbeddedRuntime {
    EmbeddedRuntime::new(&config.runtime_root)
        .with_seccomp_cache(config.seccomp_cache.clone())
        .with_cgroup_mounts(config.cgroup_mounts.clone())
        .with_cgroup_made(config.cgroup_made.clone())
}

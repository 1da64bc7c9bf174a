//! Picks the runtime backend named by the shim config.

use berth_runtime::embedded::EmbeddedRuntime;
use berth_runtime::external::ExternalRuntime;
use berth_runtime::shim_proto::ShimConfig;
use berth_runtime::{Runtime, RuntimeError};

/// `runtime_binary` None: the embedded runtime; Some: that OCI runtime binary.
pub fn runtime_for(config: &ShimConfig) -> Result<Box<dyn Runtime>, RuntimeError> {
    match &config.runtime_binary {
        Some(binary) => Ok(Box::new(ExternalRuntime::new(
            binary,
            &config.runtime_root,
            config.runtime_args.clone(),
        ))),
        None => Ok(Box::new(
            EmbeddedRuntime::new(&config.runtime_root)
                .with_seccomp_cache(config.seccomp_cache.clone())
                .with_cgroup_mounts(config.cgroup_mounts.clone()),
        )),
    }
}

//! The black-box suite: a user's session against a private berthd, each scenario run once with
//! the real docker CLI and once with berth (`<area>::<scenario>::docker`,
//! `<area>::<scenario>::berth`). One file per area under `tests/tests/e2e/`; this file is only
//! the list of them, the `both_clients!` macro, and the names they share.
//!
//! Every test starts its own daemon (so tests are independent and run in parallel), uses unique
//! names, waits by polling with deadlines, and leaves cleanup checks to the harness's Drop. The
//! shared steps are methods of [`TestDaemon`] (`d.run_detached(c, args)`, `d.wait_for_log(..)`,
//! `d.wait_for_inspect(..)`, `d.ps_names(..)`, `d.host_dir(..)`) and free functions of
//! [`berth_tests::host`] (`SETTLE`, `unix_now`, `sha256_hex`, `sha256_of`, `tar_names`, `host`,
//! `write`, `read`, `free_port`, `cgroup_v2`, `url_encode`). A machine that cannot start berthd
//! fails every scenario unless `BERTH_TEST_SKIP_BLACKBOX=1` (see [`berth_tests::preflight`]).

#[allow(unused_imports)]
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[allow(unused_imports)]
use berth_tests::daemon::busybox_tar;
#[allow(unused_imports)]
use berth_tests::host::{
    cgroup_v2, free_port, host, read, sha256_hex, sha256_of, tar_names, unix_now, url_encode,
    write, SETTLE,
};
use berth_tests::{unique_name, wait_until, Client, TestDaemon};

/// Defines `mod $name { fn docker(); fn berth(); }`, each running the scenario with that client
/// against a fresh daemon.
macro_rules! both_clients {
    ($(fn $name:ident($d:ident, $c:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_mut, unused_variables)]
            fn scenario($d: &mut TestDaemon, $c: Client) $body

            #[test]
            fn docker() {
                if let Some(mut d) = TestDaemon::start() {
                    scenario(&mut d, Client::Docker);
                }
            }

            #[test]
            fn berth() {
                if let Some(mut d) = TestDaemon::start() {
                    scenario(&mut d, Client::Berth);
                }
            }
        }
    )*};
}

#[path = "e2e/api_basics.rs"]
mod api_basics;
#[path = "e2e/api_behaviour.rs"]
mod api_behaviour;
#[path = "e2e/api_diff.rs"]
mod api_diff;
#[path = "e2e/bad_input.rs"]
mod bad_input;
#[path = "e2e/berth_compose.rs"]
mod berth_compose;
#[path = "e2e/berth_compose_interop.rs"]
mod berth_compose_interop;
#[path = "e2e/berth_compose_keys.rs"]
mod berth_compose_keys;
#[path = "e2e/berth_compose_progress.rs"]
mod berth_compose_progress;
#[path = "e2e/berth_compose_watch.rs"]
mod berth_compose_watch;
#[path = "e2e/build.rs"]
mod build;
#[path = "e2e/build_features.rs"]
mod build_features;
#[path = "e2e/build_registry.rs"]
mod build_registry;
#[path = "e2e/build_stages.rs"]
mod build_stages;
#[path = "e2e/cgroup_dynmods.rs"]
mod cgroup_dynmods;
#[path = "e2e/cgroup_escape.rs"]
mod cgroup_escape;
#[path = "e2e/commit_export.rs"]
mod commit_export;
#[path = "e2e/compose.rs"]
mod compose;
#[path = "e2e/console_size.rs"]
mod console_size;
#[path = "e2e/container_compat.rs"]
mod container_compat;
#[path = "e2e/container_lifecycle.rs"]
mod container_lifecycle;
#[path = "e2e/cp.rs"]
mod cp;
#[path = "e2e/cp_volumes.rs"]
mod cp_volumes;
#[path = "e2e/crash_consistency.rs"]
mod crash_consistency;
#[path = "e2e/cri.rs"]
mod cri;
#[path = "e2e/cri_containers.rs"]
mod cri_containers;
#[path = "e2e/cri_deadline.rs"]
mod cri_deadline;
#[path = "e2e/cri_holder.rs"]
mod cri_holder;
#[path = "e2e/cri_images.rs"]
mod cri_images;
#[path = "e2e/cri_metrics.rs"]
mod cri_metrics;
#[path = "e2e/cri_pod_network.rs"]
mod cri_pod_network;
#[path = "e2e/cri_pods.rs"]
mod cri_pods;
#[path = "e2e/cri_stream.rs"]
mod cri_stream;
#[path = "e2e/cri_ws.rs"]
mod cri_ws;
#[path = "e2e/daemon_start.rs"]
mod daemon_start;
#[path = "e2e/exec.rs"]
mod exec;
#[path = "e2e/exec_output.rs"]
mod exec_output;
#[path = "e2e/gap15.rs"]
mod gap15;
#[path = "e2e/gocompat.rs"]
mod gocompat;
#[path = "e2e/image_archive.rs"]
mod image_archive;
#[path = "e2e/image_compat.rs"]
mod image_compat;
#[path = "e2e/image_import.rs"]
mod image_import;
#[path = "e2e/image_lifecycle.rs"]
mod image_lifecycle;
#[path = "e2e/isolation.rs"]
mod isolation;
#[path = "e2e/logs_events.rs"]
mod logs_events;
#[path = "e2e/network.rs"]
mod network;
#[path = "e2e/observe.rs"]
mod observe;
#[path = "e2e/path_escapes.rs"]
mod path_escapes;
#[path = "e2e/registry.rs"]
mod registry;
#[path = "e2e/registry_server.rs"]
mod registry_server;
#[path = "e2e/registry_tls.rs"]
mod registry_tls;
#[path = "e2e/registry_xfer.rs"]
mod registry_xfer;
#[path = "e2e/resources.rs"]
mod resources;
#[path = "e2e/restart_health.rs"]
mod restart_health;
#[path = "e2e/rm_force.rs"]
mod rm_force;
#[path = "e2e/run.rs"]
mod run;
#[path = "e2e/seccomp_cache.rs"]
mod seccomp_cache;
#[path = "e2e/shim_idle.rs"]
mod shim_idle;
#[path = "e2e/start_path.rs"]
mod start_path;
#[path = "e2e/start_runtime.rs"]
mod start_runtime;
#[path = "e2e/swarm_distribution.rs"]
mod swarm_distribution;
#[path = "e2e/terminal_progress.rs"]
mod terminal_progress;
#[path = "e2e/volumes.rs"]
mod volumes;

//! `berthd`: reads flags and daemon.json, takes the data root, opens the daemon and serves the
//! Docker Engine API on unix sockets until SIGTERM/SIGINT. Containers outlive it.

mod binaries;
mod config;
mod dirs;
mod flags;
mod lock;
mod pidfile;
mod socket;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use berth_daemon::{Daemon, DaemonConfig};
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

use crate::config::Settings;

/// How long leftover tasks may take once the daemon has stopped.
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Dir(#[from] dirs::DirError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error(transparent)]
    Pidfile(#[from] pidfile::PidfileError),
    #[error(transparent)]
    Socket(#[from] socket::SocketError),
    #[error("{0} not found; install it next to berthd or set {1}")]
    MissingShim(String, &'static str),
    #[error("{program} not found in PATH: berthd needs it for {why}; install the Debian package {package} (apt-get install {package})")]
    MissingProgram {
        program: &'static str,
        package: &'static str,
        why: &'static str,
    },
    #[error("opening the daemon: {0}")]
    Daemon(#[from] berth_types::Error),
    #[error("registry: {0}")]
    Registry(String),
    #[error("installing signal handlers: {0}")]
    Signals(std::io::Error),
}

fn init_logging(settings: &Settings) {
    let filter = EnvFilter::new(settings.log_level.directive());
    // With --debug, each traced step of the daemon (create, start, rootfs, network, shim, stop,
    // exit, removal) logs its duration when it ends (`time.busy`, `time.idle`).
    let spans = if settings.log_level == config::LogLevel::Debug {
        tracing_subscriber::fmt::format::FmtSpan::CLOSE
    } else {
        tracing_subscriber::fmt::format::FmtSpan::NONE
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(spans)
        .with_writer(std::io::stderr)
        // Colours only for a terminal: a log file or journal gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// The network settings; berth's nftables table is named after a non-default bridge, so
/// daemons on different bridges keep separate tables.
fn net_config(settings: &Settings) -> berth_daemon::NetConfig {
    let table = match settings.bridge.as_deref() {
        None | Some("berth0") => "berth".to_string(),
        Some(b) => format!("berth_{b}"),
    };
    berth_daemon::NetConfig {
        bridge: settings.bridge.clone(),
        bip: settings.bip.clone(),
        pools: if settings.default_address_pools.is_empty() {
            berth_network::pool::default_pools()
        } else {
            settings.default_address_pools.clone()
        },
        mtu: settings.mtu,
        table,
    }
}

fn daemon_config(settings: &Settings) -> Result<DaemonConfig, StartError> {
    let exe_dir = binaries::exe_dir();
    let shim = binaries::locate(
        std::env::var(binaries::SHIM_ENV).ok(),
        exe_dir.as_deref(),
        binaries::SHIM_NAME,
    )
    .filter(|p| p.is_file())
    .ok_or(StartError::MissingShim(
        binaries::SHIM_NAME.into(),
        binaries::SHIM_ENV,
    ))?;
    for needed in binaries::HOST_PROGRAMS {
        if binaries::on_path(needed.program).is_none() {
            return Err(StartError::MissingProgram {
                program: needed.program,
                package: needed.package,
                why: needed.why,
            });
        }
    }
    let init = binaries::locate(
        std::env::var(binaries::INIT_ENV).ok(),
        exe_dir.as_deref(),
        binaries::INIT_NAME,
    )
    .filter(|p| p.is_file());
    if init.is_none() {
        tracing::warn!(
            "{} not found (set {}): containers cannot use --init",
            binaries::INIT_NAME,
            binaries::INIT_ENV
        );
    }
    Ok(DaemonConfig {
        data_root: settings.data_root.clone(),
        exec_root: settings.exec_root.clone(),
        shim_binary: shim,
        init_binary: init,
        default_runtime: settings.default_runtime.clone(),
        runtimes: with_stock_runc(&settings.runtimes),
        debug: settings.debug,
        log_driver: settings.log_driver.clone(),
        log_opts: settings.log_opts.clone().into_iter().collect(),
        net: net_config(settings),
        registries: settings.registries.clone(),
        max_concurrent_downloads: settings.max_concurrent_downloads,
    })
}

/// The configured runtimes, plus `runc` from PATH when nothing else claims that name: every
/// dockerd offers `--runtime runc`, so scripts that ask for it work here too.
fn with_stock_runc(
    configured: &std::collections::BTreeMap<String, config::Runtime>,
) -> Vec<(String, PathBuf, Vec<String>)> {
    let mut runtimes: Vec<_> = configured
        .iter()
        .map(|(name, rt)| (name.clone(), rt.path.clone(), rt.args.clone()))
        .collect();
    if !configured.contains_key("runc") {
        if let Some(path) = binaries::on_path("runc") {
            runtimes.push(("runc".into(), path, Vec::new()));
        }
    }
    runtimes
}

/// Binds and starts daemon.json's `registry` beside the Engine API; it stops with berthd.
async fn start_registry(
    settings: &berth_registry::settings::Settings,
    stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, StartError> {
    let built = settings
        .build()
        .map_err(|e| StartError::Registry(e.to_string()))?;
    let addr = built.addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Registry(format!("listen on {addr}: {e}")))?;
    let root = built.root.clone();
    tracing::info!(%addr, root = %root.display(), "registry serving");
    Ok(tokio::spawn(async move {
        tokio::select! {
            r = berth_registry::run(listener, built) => {
                if let Err(e) = r {
                    tracing::error!(error = %e, root = %root.display(), "registry stopped");
                }
            }
            _ = wait_for_stop(stop) => {}
        }
    }))
}

/// Resolves once SIGTERM or SIGINT arrives.
async fn wait_for_stop(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

async fn run(settings: Settings) -> Result<(), StartError> {
    let default_socket = PathBuf::from(flags::DEFAULT_HOST.trim_start_matches("unix://"));
    let socket_paths = settings
        .hosts
        .iter()
        .map(|h| socket::parse_host(h, &default_socket))
        .collect::<Result<Vec<_>, _>>()?;

    dirs::ensure(&settings.data_root, dirs::DATA_ROOT_MODE)?;
    let exec_mode = if socket_paths
        .iter()
        .chain(settings.cri_socket.iter())
        .any(|p| p.starts_with(&settings.exec_root))
    {
        dirs::EXEC_ROOT_WITH_SOCKET_MODE
    } else {
        dirs::EXEC_ROOT_MODE
    };
    dirs::ensure(&settings.exec_root, exec_mode)?;
    let _lock = lock::acquire(&settings.data_root)?;
    let _pidfile = pidfile::write(&settings.pidfile)?;
    if settings.cgroup_favordynmods {
        favor_cgroup_dynmods();
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut term = signal(SignalKind::terminate()).map_err(StartError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(StartError::Signals)?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down");
        let _ = stop_tx.send(true);
    });

    // The registry first: a bad registry setting stops berthd before it touches containers.
    let registry = match &settings.registry {
        Some(r) => Some(start_registry(r, stop_rx.clone()).await?),
        None => None,
    };
    let daemon = Daemon::open(daemon_config(&settings)?).await?;
    let mut bound = Vec::new();
    let mut servers = Vec::new();
    let cri = match &settings.cri_socket {
        Some(path) => {
            let (listener, socket) = socket::bind(path)?;
            bound.push(socket);
            let mut config = berth_cri::CriConfig::new(path.clone());
            if let Some(dir) = &settings.cni_conf_dir {
                config.cni_conf_dir = dir.clone();
            }
            if let Some(dir) = &settings.cni_bin_dir {
                config.cni_bin_dir = dir.clone();
            }
            config.stream_port = settings.cri_stream_port;
            let stop = wait_for_stop(stop_rx.clone());
            let daemon = daemon.clone();
            Some(tokio::spawn(async move {
                if let Err(e) = berth_cri::serve(listener, daemon, config, stop).await {
                    tracing::error!(error = %e, "CRI server stopped");
                }
            }))
        }
        None => None,
    };
    for path in &socket_paths {
        let (listener, socket) = socket::bind(path)?;
        bound.push(socket);
        servers.push(tokio::spawn(berth_server::serve(
            listener,
            daemon.clone(),
            wait_for_stop(stop_rx.clone()),
        )));
    }
    tracing::info!(
        data_root = %settings.data_root.display(),
        exec_root = %settings.exec_root.display(),
        version = env!("CARGO_PKG_VERSION"),
        "berthd ready"
    );
    for server in servers {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "API server task failed");
        }
    }
    if let Some(cri) = cri {
        if let Err(e) = cri.await {
            tracing::error!(error = %e, "CRI server task failed");
        }
    }
    if let Some(registry) = registry {
        if let Err(e) = registry.await {
            tracing::error!(error = %e, "registry task failed");
        }
    }
    daemon.shutdown().await;
    drop(bound);
    tracing::info!("berthd stopped");
    Ok(())
}

/// Cheap cgroup migrations for every container start (berth_runtime::cgroup_dynmods); a host
/// whose kernel lacks the option keeps working, only slower.
fn favor_cgroup_dynmods() {
    use berth_runtime::cgroup_dynmods::{favor_dynmods, Outcome};
    match favor_dynmods() {
        Ok(Outcome::Set(path)) => {
            tracing::info!(mount = %path.display(), "cgroups remounted with favordynmods")
        }
        Ok(Outcome::AlreadySet(path)) => {
            tracing::debug!(mount = %path.display(), "cgroups already favor dynamic changes")
        }
        Err(e) => tracing::warn!(error = %e, "cgroup migrations stay slow"),
    }
}

fn main() -> ExitCode {
    let flags = flags::Flags::parse();
    let settings = match config::load(&flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berthd: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(&settings);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "starting the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(settings));
    // Connection tasks cut off at shutdown must not hold the exit.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("failed to start daemon: {e}");
            ExitCode::FAILURE
        }
    }
}

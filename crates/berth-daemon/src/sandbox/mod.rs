//! Pod sandboxes (the Kubernetes CRI's): the namespaces a pod's containers share, held by a
//! `berth-init --pause` process (the holder), networked through CNI, and recorded in the
//! `sandboxes` table so a restart of berthd keeps them. The CRI front end (`berth-cri`) turns
//! its requests into a [`PodSpec`] and its answers from a [`PodRecord`]; docs/cri.md has the
//! design.

pub mod cni;
mod direct;
mod holder;
pub(crate) mod member;
mod repo;

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_types::{id, Error, Result};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::daemon::Daemon;
pub use cni::CniDirs;
pub use member::{MemberMount, PodMember, MEMBER_LABEL};
pub(crate) use repo::PodRepo;

/// The pod's DNS settings (`DNSConfig`), written to its `/etc/resolv.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodDns {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// One `PortMapping`: a host port forwarded to the pod by CNI's `portmap`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodPort {
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    pub container_port: i32,
    pub host_port: i32,
    pub host_ip: String,
}

/// Whose namespace a pod (or one of its containers) is in (`NamespaceMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NsMode {
    /// The pod's, shared by its containers.
    #[default]
    Pod,
    /// The container's own.
    Container,
    /// The host's.
    Node,
}

/// What RunPodSandbox asks for (`PodSandboxConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSpec {
    pub name: String,
    pub uid: String,
    pub namespace: String,
    pub attempt: u32,
    pub hostname: String,
    pub log_directory: String,
    pub dns: Option<PodDns>,
    pub port_mappings: Vec<PodPort>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub cgroup_parent: String,
    pub sysctls: BTreeMap<String, String>,
    pub network: NsMode,
    pub pid: NsMode,
    pub ipc: NsMode,
    pub runtime_handler: String,
}

impl PodSpec {
    pub fn host_network(&self) -> bool {
        self.network == NsMode::Node
    }
}

/// `SANDBOX_READY` or `SANDBOX_NOTREADY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PodState {
    Ready,
    NotReady,
}

/// A pod sandbox as berth keeps it (one JSON document per row of `sandboxes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodRecord {
    pub id: String,
    pub spec: PodSpec,
    /// Creation time, nanoseconds since the epoch.
    pub created_at: i64,
    pub state: PodState,
    /// The holder's pid (in berthd's PID namespace) while it runs; 0 after.
    pub holder_pid: i32,
    /// Its start time (clock ticks since boot, `/proc/<pid>/stat`), which tells it from a
    /// process that reused its pid; 0 for a holder an older berthd ran under a shim.
    #[serde(default)]
    pub holder_start_time: u64,
    /// The pinned network namespace; `None` on the host's network.
    pub netns: Option<PathBuf>,
    /// The pod's addresses from CNI, first IPv4 first.
    pub ips: Vec<String>,
    /// The CNI network (its configuration's `name`) and the result of ADD, kept for DEL.
    pub cni_network: Option<String>,
    pub cni_result: Option<serde_json::Value>,
}

impl PodRecord {
    /// `<namespace>_<name>_<uid>_<attempt>`: at most one sandbox per pod attempt.
    pub fn full_name(&self) -> String {
        full_name(&self.spec)
    }

    /// The hostname the pod's containers see.
    pub fn hostname(&self) -> String {
        holder::pod_hostname(&self.spec)
    }

    /// The namespace file of the holder (`ns` is `net`, `ipc`, `uts`, `pid`).
    pub fn ns_path(&self, ns: &str) -> Option<PathBuf> {
        if ns == "net" {
            if let Some(p) = &self.netns {
                return Some(p.clone());
            }
        }
        (self.holder_pid > 0).then(|| PathBuf::from(format!("/proc/{}/ns/{ns}", self.holder_pid)))
    }
}

/// The prefix of a removed pod's directory awaiting deletion.
const REMOVING: &str = ".removing-";

/// Deletes what a removal left under `dir` (`<exec-root>/pods`, `<data-root>/pods`).
fn sweep_removing(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(REMOVING) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Whether the pod sets sysctls of the network namespace (`net.*`).
fn network_sysctls(spec: &PodSpec) -> bool {
    spec.sysctls.keys().any(|k| k.starts_with("net."))
}

fn full_name(spec: &PodSpec) -> String {
    format!(
        "{}_{}_{}_{}",
        spec.namespace, spec.name, spec.uid, spec.attempt
    )
}

impl Daemon {
    /// The directory of a pod's runtime state: the holder's bundle, rootfs and pinned netns.
    pub(crate) fn pod_run_dir(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("pods").join(id)
    }

    /// The directory of a pod's lasting files (`hostname`, `hosts`, `resolv.conf`).
    pub(crate) fn pod_data_dir(&self, id: &str) -> PathBuf {
        self.config.data_root.join("pods").join(id)
    }

    /// A sandbox by full id or unique id prefix.
    pub fn pod_get(&self, key: &str) -> Result<PodRecord> {
        let all = self.pods.load_all()?;
        if let Some(p) = all.iter().find(|p| p.id == key) {
            return Ok(p.clone());
        }
        let mut found = all
            .into_iter()
            .filter(|p| !key.is_empty() && p.id.starts_with(key));
        match (found.next(), found.next()) {
            (Some(p), None) => Ok(p),
            (Some(_), Some(_)) => Err(Error::invalid(format!(
                "multiple pod sandboxes match the prefix {key}"
            ))),
            _ => Err(Error::not_found(format!(
                "an error occurred when try to find sandbox: not found: {key}"
            ))),
        }
    }

    /// Every sandbox, newest first.
    pub fn pod_list(&self) -> Result<Vec<PodRecord>> {
        let mut all = self.pods.load_all()?;
        all.sort_by_key(|p| std::cmp::Reverse(p.created_at));
        Ok(all)
    }

    /// RunPodSandbox: the network namespace and its CNI network, the pod's /etc files, then
    /// the holder. Whatever fails undoes what was done.
    #[tracing::instrument(level = "debug", name = "pod_run", skip_all)]
    pub async fn pod_run(&self, spec: PodSpec, cni: &CniDirs) -> Result<String> {
        if spec.name.is_empty() || spec.uid.is_empty() || spec.namespace.is_empty() {
            return Err(Error::invalid(
                "sandbox config must include metadata name, uid and namespace",
            ));
        }
        let name = full_name(&spec);
        if let Some(other) = self.pods.load_all()?.iter().find(|p| p.full_name() == name) {
            return Err(Error::conflict(format!(
                "failed to reserve sandbox name {name:?}: name {name:?} is reserved for {:?}",
                other.id
            )));
        }
        let holder_binary = self.config.init_binary.clone().ok_or_else(|| {
            Error::invalid("no berth-init binary is installed: pods need it as their holder")
        })?;
        holder::check_static(&holder_binary)?;
        let pid = id::generate();
        let mut rec = PodRecord {
            id: pid.clone(),
            spec,
            created_at: chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default(),
            state: PodState::NotReady,
            holder_pid: 0,
            holder_start_time: 0,
            netns: None,
            ips: Vec::new(),
            cni_network: None,
            cni_result: None,
        };
        let run_dir = self.pod_run_dir(&pid);
        let data_dir = self.pod_data_dir(&pid);
        for dir in [&run_dir, &data_dir] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        }
        self.pods.insert(&rec)?;
        match self.pod_build(&mut rec, cni, &holder_binary).await {
            Ok(()) => {
                rec.state = PodState::Ready;
                self.pods.save(&rec)?;
                tracing::info!(sandbox = %pid, name = %name, ip = ?rec.ips, "pod sandbox running");
                Ok(pid)
            }
            Err(e) => {
                self.pod_teardown(&mut rec, cni).await;
                let _ = self.pods.delete(&pid);
                let _ = std::fs::remove_dir_all(&run_dir);
                let _ = std::fs::remove_dir_all(&data_dir);
                Err(e)
            }
        }
    }

    async fn pod_build(
        &self,
        rec: &mut PodRecord,
        cni: &CniDirs,
        holder_binary: &std::path::Path,
    ) -> Result<()> {
        holder::write_etc_files(&self.pod_data_dir(&rec.id), &rec.spec)?;
        if rec.spec.host_network() {
            (rec.holder_pid, rec.holder_start_time) = self.holder_start(rec, holder_binary).await?;
            return self.pods.save(rec);
        }
        let netns = self.pod_run_dir(&rec.id).join("netns");
        berth_network::netns::create(&netns).map_err(crate::network::repo::net_error)?;
        rec.netns = Some(netns.clone());
        self.pods.save(rec)?;
        let inside = berth_network::link::Netlink::in_netns(&netns)
            .map_err(crate::network::repo::net_error)?;
        inside
            .loopback_up()
            .await
            .map_err(crate::network::repo::net_error)?;
        let (added, started) = if network_sysctls(&rec.spec) {
            // The holder's runtime applies the pod's sysctls in the network namespace CNI
            // configures (per-interface keys need `eth0`): CNI first, as containerd does.
            let added = cni::add(cni, rec, &netns).await;
            let started = match &added {
                Ok(_) => self.holder_start(rec, holder_binary).await,
                Err(_) => Ok((0, 0)),
            };
            (added, started)
        } else {
            // Otherwise CNI ADD and the holder's start touch nothing of each other's (the
            // netns is pinned before both): they run side by side.
            let r: &PodRecord = rec;
            tokio::join!(
                cni::add(cni, r, &netns),
                self.holder_start(r, holder_binary)
            )
        };
        // What succeeded is recorded before any error returns, so the caller's teardown
        // undoes it (CNI DEL needs the network's name and result).
        if let Ok((network, result)) = added.as_ref() {
            rec.ips = cni::result_ips(result);
            rec.cni_network = Some(network.clone());
            rec.cni_result = Some(result.clone());
        }
        if let Ok((pid, start_time)) = started {
            rec.holder_pid = pid;
            rec.holder_start_time = start_time;
        }
        added?;
        started?;
        self.pods.save(rec)
    }

    /// Stops what runs for the pod and releases its network; repeatable. The holder's stop
    /// and CNI DEL run side by side (the netns stays pinned until DEL is done); a network
    /// released once is not released again (the netns path is forgotten only then).
    async fn pod_teardown(&self, rec: &mut PodRecord, cni: &CniDirs) {
        let netns = (!rec.spec.host_network() && rec.netns.is_some())
            .then(|| self.pod_run_dir(&rec.id).join("netns"));
        let r: &PodRecord = rec;
        let network = async {
            let netns = netns.as_ref()?;
            let del = cni::del(cni, r, netns).await;
            if let Err(e) = &del {
                tracing::warn!(sandbox = %r.id, error = %e, "CNI DEL");
            }
            if let Err(e) = berth_network::netns::remove(netns) {
                tracing::warn!(sandbox = %r.id, error = %e, "removing the pod's netns");
            }
            Some(del.is_ok())
        };
        let (stopped, released) = tokio::join!(self.holder_stop(r), network);
        if let Err(e) = stopped {
            tracing::warn!(sandbox = %rec.id, error = %e, "stopping the pod holder");
        }
        rec.holder_pid = 0;
        rec.holder_start_time = 0;
        if released == Some(true) {
            rec.netns = None;
        }
        rec.state = PodState::NotReady;
    }

    /// StopPodSandbox: its containers are killed (all at once, SIGKILL straight away as
    /// containerd does for the pod's stop), its network released (CNI DEL) and its holder
    /// stopped. A sandbox that is already stopped, or gone, is no error.
    #[tracing::instrument(level = "debug", name = "pod_stop", skip_all)]
    pub async fn pod_stop(&self, key: &str, cni: &CniDirs) -> Result<()> {
        let mut rec = match self.pod_get(key) {
            Ok(r) => r,
            Err(e) if e.kind == berth_types::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let members = self.pod_containers(&rec.id);
        // SIGKILL to every container at once, and beside it the network's release and the
        // holder's stop: none of these waits for another (a container killed a moment after
        // its network went loses nothing), and the stops then record the exits.
        let kill_then_stop = async {
            futures::future::join_all(members.iter().filter_map(|cid| {
                let ctr = self.lookup(cid).ok()?;
                ctr.snapshot()
                    .state
                    .running()
                    .then(|| crate::runtime::shim::kill_all_at(self.shim_socket(cid)))
            }))
            .instrument(tracing::debug_span!("kill_containers"))
            .await;
            let stops = members.iter().map(|cid| async move {
                match self.container_stop(cid, Some("SIGKILL"), Some(0)).await {
                    Ok(()) => Ok(()),
                    Err(e)
                        if matches!(
                            e.kind,
                            berth_types::ErrorKind::NotModified | berth_types::ErrorKind::NotFound
                        ) =>
                    {
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            });
            futures::future::join_all(stops)
                .instrument(tracing::debug_span!("stop_containers"))
                .await
        };
        let needs_teardown =
            rec.state == PodState::Ready || rec.holder_pid > 0 || rec.netns.is_some();
        let teardown = async {
            if needs_teardown {
                self.pod_teardown(&mut rec, cni)
                    .instrument(tracing::debug_span!("teardown"))
                    .await;
            }
        };
        let (stopped, ()) = tokio::join!(kill_then_stop, teardown);
        if needs_teardown {
            self.pods.save(&rec)?;
        }
        stopped.into_iter().collect::<Result<Vec<()>>>()?;
        Ok(())
    }

    /// RemovePodSandbox: stops it if need be, removes its containers (side by side), its files
    /// and its record. A sandbox that is gone is no error.
    #[tracing::instrument(level = "debug", name = "pod_remove", skip_all)]
    pub async fn pod_remove(&self, key: &str, cni: &CniDirs) -> Result<()> {
        let rec = match self.pod_get(key) {
            Ok(r) => r,
            Err(e) if e.kind == berth_types::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        self.pod_stop(&rec.id, cni).await?;
        let removals = self
            .pod_containers(&rec.id)
            .into_iter()
            .map(|cid| async move {
                let opts = crate::options::RemoveOptions {
                    force: true,
                    ..Default::default()
                };
                match self.container_remove(&cid, opts).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind == berth_types::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(e),
                }
            });
        futures::future::join_all(removals)
            .instrument(tracing::debug_span!("remove_containers"))
            .await
            .into_iter()
            .collect::<Result<Vec<()>>>()?;
        // The pod's directories (named by its id, which no later sandbox gets) are renamed
        // out of the way now and deleted after the answer, with any a crash left.
        let dirs = [self.pod_run_dir(&rec.id), self.pod_data_dir(&rec.id)];
        let trash: Vec<PathBuf> = dirs
            .iter()
            .filter_map(|d| {
                let t = d.with_file_name(format!("{REMOVING}{}", rec.id));
                std::fs::rename(d, &t).ok().map(|_| t)
            })
            .collect();
        self.pods.delete(&rec.id)?;
        let parents: Vec<PathBuf> = dirs
            .iter()
            .filter_map(|d| d.parent().map(PathBuf::from))
            .collect();
        tokio::task::spawn_blocking(move || {
            for t in trash {
                let _ = std::fs::remove_dir_all(t);
            }
            for parent in parents {
                sweep_removing(&parent);
            }
        });
        Ok(())
    }

    /// ReopenContainerLog: the shim of the running container `key` opens its log file anew.
    pub async fn container_reopen_log(&self, key: &str) -> Result<()> {
        let ctr = self.lookup(key)?;
        if !ctr.snapshot().state.running() {
            return Err(Error::conflict(format!(
                "container {} is not running",
                ctr.id
            )));
        }
        match crate::runtime::shim::simple(
            &self.shim_socket(&ctr.id),
            &berth_runtime::shim_proto::Request::ReopenLog,
        )
        .await?
        {
            berth_runtime::shim_proto::Response::Error { message } => Err(Error::internal(
                format!("failed to reopen the log of {}: {message}", ctr.id),
            )),
            _ => Ok(()),
        }
    }

    /// Every container made through the CRI, with its membership.
    pub fn pod_members(&self) -> Vec<(String, PodMember)> {
        self.all()
            .into_iter()
            .filter_map(|c| member::of(&c.snapshot()).map(|m| (c.id.clone(), m)))
            .collect()
    }

    /// The ids of the berth containers made in sandbox `pod`.
    pub fn pod_containers(&self, pod: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|c| member::of(&c.snapshot()).is_some_and(|m| m.sandbox_id == pod))
            .map(|c| c.id.clone())
            .collect()
    }

    /// Whether the holder of a Ready sandbox still runs (a holder killed behind berth's back
    /// leaves the pod NotReady, as kubelet then recreates it).
    pub fn pod_holder_alive(&self, rec: &PodRecord) -> bool {
        if rec.holder_start_time > 0 {
            return direct::alive(rec.holder_pid, rec.holder_start_time);
        }
        rec.holder_pid > 0
            && std::fs::read_link(format!("/proc/{}/ns/net", rec.holder_pid)).is_ok()
            && holder::socket_alive(&self.pod_socket(&rec.id))
    }
}

//! Network namespaces made ahead of the next containers' starts: the kernel's work for a new
//! namespace (about 1 ms of CPU here) then runs off the start's path, as the spare shim's exec
//! does (`runtime::shim_spare`). Two spares wait: a plain one (`lo` only, for `--network
//! none` and the containers whose first network is not a bridge) and one holding a veth pair
//! for a bridge network's container: the container's end `eth0` inside, down, and the host
//! end down and on no bridge ([`PreparedVeth`]), whose making (about 0.5 ms of the kernel's
//! time under the RTNL) is then off the start too; the start puts the host end on the
//! network's bridge and configures `eth0`. The spares are held by descriptors only, so nothing
//! is left pinned when berthd exits (a namespace that goes takes its veth pair with it); each
//! start takes one fresh and a new one is made after it. A container never gets a namespace
//! or a veth another one used.

use std::path::Path;
use std::sync::Mutex;

use berth_network::netns::Prepared;

static PLAIN: Mutex<Option<Prepared>> = Mutex::new(None);
static WITH_VETH: Mutex<Option<(Prepared, PreparedVeth)>> = Mutex::new(None);

/// The veth pair of a spare namespace: the host end `host` (index `index`), its peer `eth0` in
/// the namespace, both with `mtu` (0: the kernel's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PreparedVeth {
    pub(crate) host: String,
    pub(crate) index: u32,
    pub(crate) mtu: u32,
}

/// The name the container's end of a prepared pair has inside its namespace: a container's
/// first interface.
pub(crate) const PREPARED_IFACE: &str = "eth0";

/// Pins a new network namespace at `path`. With `veth_mtu` (a container whose first network
/// is a bridge with that MTU), the spare holding a veth pair of that MTU when there is one,
/// and its pair is returned; otherwise the plain spare, or one made now. Blocking (call from
/// a blocking thread).
pub(crate) fn pin_new(
    path: &Path,
    veth_mtu: Option<u32>,
) -> Result<Option<PreparedVeth>, berth_network::NetworkError> {
    if let Some(mtu) = veth_mtu {
        let mut slot = lock(&WITH_VETH);
        if slot.as_ref().is_some_and(|(_, veth)| veth.mtu == mtu) {
            let (ns, veth) = slot.take().expect("checked above");
            drop(slot);
            ns.pin(path)?;
            return Ok(Some(veth));
        }
    }
    let taken = lock(&PLAIN).take();
    match taken {
        Some(ns) => ns.pin(path)?,
        None => Prepared::new()?.pin(path)?,
    }
    Ok(None)
}

/// Makes the plain spare unless one is waiting, and with `veth_mtu` the spare with a veth pair
/// of that MTU unless one is waiting (one of another MTU is replaced), each in a task of its
/// own.
pub(crate) fn replenish(veth_mtu: Option<u32>) {
    if lock(&PLAIN).is_none() {
        tokio::task::spawn_blocking(|| {
            if lock(&PLAIN).is_some() {
                return;
            }
            match Prepared::new() {
                Ok(ns) => {
                    let mut slot = lock(&PLAIN);
                    // Two starts may have raced here: the second namespace is dropped.
                    if slot.is_none() {
                        *slot = Some(ns);
                    }
                }
                Err(e) => tracing::warn!("cannot make a spare network namespace: {e}"),
            }
        });
    }
    let Some(mtu) = veth_mtu else { return };
    if lock(&WITH_VETH)
        .as_ref()
        .is_some_and(|(_, veth)| veth.mtu == mtu)
    {
        return;
    }
    tokio::spawn(async move {
        match with_veth(mtu).await {
            Ok((ns, veth)) => {
                let mut slot = lock(&WITH_VETH);
                if slot.as_ref().is_none_or(|(_, v)| v.mtu != mtu) {
                    // One of another MTU, or none: this one is the spare now (a replaced
                    // namespace goes with its pair).
                    *slot = Some((ns, veth));
                }
            }
            Err(e) => tracing::warn!("cannot make a spare network namespace with a veth: {e}"),
        }
    });
}

/// A new namespace and a veth pair into it.
async fn with_veth(mtu: u32) -> Result<(Prepared, PreparedVeth), berth_network::NetworkError> {
    let ns = tokio::task::spawn_blocking(Prepared::new)
        .await
        .map_err(|e| {
            berth_network::NetworkError::io(
                "creating a network namespace",
                std::io::Error::other(e.to_string()),
            )
        })??;
    let host = format!("veth{}", &berth_types::id::generate()[..7]);
    let netlink = berth_network::link::Netlink::host()?;
    let index = netlink
        .create_unattached_veth(&host, PREPARED_IFACE, ns.fd(), mtu)
        .await?;
    tracing::debug!(veth = %host, mtu, "spare network namespace with a veth pair made");
    Ok((ns, PreparedVeth { host, index, mtu }))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

//! Which endpoint of a registry a pull, push or login uses: the daemon's registry settings
//! (daemon.json `insecure-registries`, `registry-mirrors`, `certs-dir`) give the endpoints in
//! dockerd's order, unless the registry has a `hosts.toml` under `--registry-config-dir`
//! (berth_distribution::hosts), whose mirrors then come first and its `server` last; each is
//! probed in turn. A mirror that fails in any way, or an endpoint that
//! could not be reached (refused, TLS failure) while a fallback is left, hands over to the
//! next; anything else (a registry that answered) is the answer.

use std::future::Future;
use std::sync::Arc;

use berth_distribution::{Credentials, DistributionError, RegistryClient};

use crate::daemon::Daemon;

/// Whether `e` happened before the endpoint answered at all.
fn unreachable(e: &DistributionError) -> bool {
    matches!(e, DistributionError::Connect { .. })
}

impl Daemon {
    /// Probes `domain`'s endpoints for `repo` in order with `probe` (a ping, or fetching the
    /// manifest); the client of the first that works and what its probe returned.
    pub(crate) async fn first_endpoint<T, F, Fut>(
        &self,
        domain: &str,
        repo: &str,
        creds: &Credentials,
        push: bool,
        mut probe: F,
    ) -> Result<(Arc<RegistryClient>, T), DistributionError>
    where
        F: FnMut(Arc<RegistryClient>) -> Fut,
        Fut: Future<Output = Result<T, DistributionError>>,
    {
        let settings = &self.config.registries;
        let endpoints = settings.transfer_endpoints(domain, push).await?;
        for (i, endpoint) in endpoints.iter().enumerate() {
            let client = Arc::new(RegistryClient::for_endpoint(
                endpoint,
                settings.certs_dir(),
                repo,
                creds.clone(),
                push,
            )?);
            match probe(client.clone()).await {
                Ok(v) => return Ok((client, v)),
                Err(e) => {
                    let more = i + 1 < endpoints.len();
                    if !(more && (endpoint.mirror || unreachable(&e))) {
                        return Err(e);
                    }
                    tracing::info!(
                        endpoint = %endpoint.base_url(),
                        error = %e,
                        "registry endpoint failed; trying the next"
                    );
                }
            }
        }
        // `endpoints` always holds at least the registry itself.
        Err(DistributionError::Invalid(format!(
            "no endpoint for registry {domain}"
        )))
    }
}

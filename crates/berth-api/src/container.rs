//! Container request bodies that the swagger models split in parts.

use serde::{Deserialize, Serialize};

use crate::models::{ContainerConfig, HostConfig, NetworkingConfig};

/// `POST /containers/create` body: the container config with `HostConfig` and
/// `NetworkingConfig` beside its fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerCreateBody {
    #[serde(flatten)]
    pub config: ContainerConfig,
    #[serde(
        rename = "HostConfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub host_config: Option<HostConfig>,
    #[serde(
        rename = "NetworkingConfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub networking_config: Option<NetworkingConfig>,
}

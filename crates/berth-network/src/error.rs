//! Everything that can go wrong while setting up networks.

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// User input that cannot be honoured (dockerd's wording where it has one).
    #[error("{0}")]
    Invalid(String),
    /// An address, subnet or port that is already taken.
    #[error("{0}")]
    InUse(String),
    #[error("netlink: {context}: {source}")]
    Netlink {
        context: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("nftables: {0}")]
    Nftables(String),
}

impl NetworkError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    pub fn netlink(context: impl Into<String>, source: rtnetlink::Error) -> Self {
        Self::Netlink {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = NetworkError> = std::result::Result<T, E>;

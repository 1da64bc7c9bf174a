//! Where the daemon listens: `-H/--host`, else `DOCKER_HOST`, else berth's socket.

use std::path::PathBuf;

use crate::error::ClientError;

/// berth's default API socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    /// `host:port`
    Tcp(String),
}

impl Host {
    /// Picks the host the way the docker CLI does: the flag, then `DOCKER_HOST`, then the default.
    pub fn resolve(flag: Option<&str>) -> Result<Self, ClientError> {
        let env = std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty());
        let chosen = flag
            .map(str::to_string)
            .or(env)
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        Self::parse(&chosen)
    }

    pub fn parse(s: &str) -> Result<Self, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidHost {
            host: s.to_string(),
            reason: reason.to_string(),
        };
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(invalid("empty socket path"));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
        {
            let addr = rest.trim_end_matches('/');
            if addr.is_empty() {
                return Err(invalid("empty address"));
            }
            // docker's default port for plain tcp
            let addr = if addr
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            {
                addr.to_string()
            } else {
                format!("{addr}:2375")
            };
            return Ok(Self::Tcp(addr));
        }
        if s.starts_with('/') {
            return Ok(Self::Unix(PathBuf::from(s)));
        }
        Err(invalid("unsupported protocol"))
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix://{}", p.display()),
            Self::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        assert_eq!(
            Host::parse("unix:///run/x.sock").unwrap(),
            Host::Unix("/run/x.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2375").unwrap(),
            Host::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            Host::parse("tcp://localhost").unwrap(),
            Host::Tcp("localhost:2375".into())
        );
        assert!(Host::parse("ssh://x").is_err());
        assert!(Host::parse("unix://").is_err());
        assert_eq!(Host::parse("unix:///a").unwrap().to_string(), "unix:///a");
    }
}

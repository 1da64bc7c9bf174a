//! One-time tokens of the streaming server's URLs, as kubelet's streaming package issues them:
//! 8 random bytes in URL-safe base64, good for one request within a minute, at most 1000 in
//! flight.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use rand::RngCore;

/// How long a URL stays valid (kubelet's `CacheTTL`).
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(60);
/// Tokens waiting for their request (kubelet's `maxInFlight`).
const MAX_IN_FLIGHT: usize = 1000;

#[derive(Debug)]
pub(crate) struct Tokens<T> {
    ttl: Duration,
    pending: Mutex<HashMap<String, (Instant, T)>>,
}

impl<T> Tokens<T> {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// A new token for `request`; None when too many are waiting.
    pub(crate) fn insert(&self, request: T) -> Option<String> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        pending.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
        if pending.len() >= MAX_IN_FLIGHT {
            return None;
        }
        let mut raw = [0u8; 8];
        loop {
            rand::thread_rng().fill_bytes(&mut raw);
            let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
            if !pending.contains_key(&token) {
                pending.insert(token.clone(), (now, request));
                return Some(token);
            }
        }
    }

    /// The request of `token`, once: a used or expired token is gone.
    pub(crate) fn consume(&self, token: &str) -> Option<T> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let (at, request) = pending.remove(token)?;
        (at.elapsed() < self.ttl).then_some(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_use_and_expiry() {
        let tokens = Tokens::new(Duration::from_millis(50));
        let a = tokens.insert(1).expect("token");
        let b = tokens.insert(2).expect("token");
        assert_ne!(a, b);
        assert_eq!(a.len(), 11, "8 bytes, unpadded URL-safe base64");
        assert_eq!(tokens.consume(&a), Some(1));
        assert_eq!(tokens.consume(&a), None, "used once");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(tokens.consume(&b), None, "expired");
        assert_eq!(tokens.consume("nope"), None);
    }

    #[test]
    fn bounded_in_flight() {
        let tokens = Tokens::new(TOKEN_TTL);
        for i in 0..MAX_IN_FLIGHT {
            assert!(tokens.insert(i).is_some());
        }
        assert!(tokens.insert(0).is_none());
    }
}

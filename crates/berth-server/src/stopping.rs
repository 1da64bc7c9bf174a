//! Followed streams (`events`, `logs -f`, `wait`) end when the server begins to shut down, so
//! that a graceful stop does not wait out its grace period on clients that never hang up.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use futures::{Stream, StreamExt};
use http::request::Parts;
use tokio::sync::watch;

/// The server's shutdown flag, put into every request by [`crate::serve_service`].
#[derive(Debug, Clone)]
pub struct ShutdownFlag(pub watch::Receiver<bool>);

/// The flag as handlers see it: absent when the router runs outside the server (tests).
#[derive(Debug, Clone, Default)]
pub struct Stopping(Option<watch::Receiver<bool>>);

impl<S: Send + Sync> FromRequestParts<S> for Stopping {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self(
            parts.extensions.get::<ShutdownFlag>().map(|f| f.0.clone()),
        ))
    }
}

impl Stopping {
    /// Completes when shutdown begins (never, outside the server).
    pub async fn wait(self) {
        match self.0 {
            // A dropped sender also means the server is gone.
            Some(mut rx) => {
                let _ = rx.wait_for(|stopping| *stopping).await;
            }
            None => futures::future::pending::<()>().await,
        }
    }

    /// `stream`, cut off when shutdown begins.
    pub fn cut<St: Stream + Send + 'static>(
        self,
        stream: St,
    ) -> impl Stream<Item = St::Item> + Send + 'static {
        stream.take_until(Box::pin(self.wait()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streams_end_when_shutdown_begins() {
        let (tx, rx) = watch::channel(false);
        let endless = futures::stream::repeat(1u8).then(|x| async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            x
        });
        let mut cut = Box::pin(Stopping(Some(rx)).cut(endless));
        assert_eq!(cut.next().await, Some(1));
        let _ = tx.send(true);
        let rest: Vec<u8> = tokio::time::timeout(std::time::Duration::from_secs(1), cut.collect())
            .await
            .expect("stream ends");
        assert!(rest.len() <= 1);
    }
}

//! The client's gRPC deadline (the `grpc-timeout` request header), enforced by berth so that a
//! call that outlives it ends with `DEADLINE_EXCEEDED`, as gRPC specifies and kubelet and critest
//! expect ("Image Manager public image should timeout if requested").
//!
//! tonic's transport server also reads `grpc-timeout`, in a layer outside every service, and
//! answers `CANCELLED` "Timeout expired" when it passes. [`Deadline`] wraps each CRI service
//! inside that layer and fixes its own deadline when the call arrives, before tonic's timer
//! starts, so its deadline is never later than tonic's. It also answers as soon as the clock has
//! passed that deadline whenever the call is polled — tonic polls the service's future before
//! looking at its own timer — so tonic's answer never goes out first.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tonic::codegen::{BoxFuture, Service};
use tonic::server::NamedService;

/// The request header carrying the client's deadline (gRPC over HTTP/2).
const GRPC_TIMEOUT: &str = "grpc-timeout";

/// The deadline in a `grpc-timeout` value: `TimeoutValue TimeoutUnit`, at most 8 ASCII digits
/// then one of `H M S m u n` (gRPC over HTTP/2). `None` for anything else: as tonic and grpc-go
/// do, a malformed value is no deadline.
pub(crate) fn parse_grpc_timeout(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// A CRI service whose calls end with `DEADLINE_EXCEEDED` when the client's deadline passes.
#[derive(Debug, Clone)]
pub(crate) struct Deadline<S> {
    inner: S,
}

impl<S> Deadline<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: NamedService> NamedService for Deadline<S> {
    const NAME: &'static str = S::NAME;
}

/// The answer to a call whose deadline passed.
fn exceeded(timeout: Duration) -> http::Response<tonic::body::Body> {
    tonic::Status::deadline_exceeded(format!(
        "deadline exceeded: the call's grpc-timeout of {timeout:?} passed"
    ))
    .into_http()
}

impl<S, B> Service<http::Request<B>> for Deadline<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let timeout = req
            .headers()
            .get(GRPC_TIMEOUT)
            .and_then(|v| parse_grpc_timeout(v.as_bytes()));
        // Fixed now, on arrival: tonic's own timer starts after this call returns.
        let deadline = timeout.map(|t| (t, Instant::now() + t));
        let call = self.inner.call(req);
        Box::pin(async move {
            let Some((timeout, deadline)) = deadline else {
                return call.await;
            };
            let mut call = pin!(call);
            let mut timer = pin!(tokio::time::sleep_until(deadline));
            poll_fn(|cx| {
                if let Poll::Ready(answer) = call.as_mut().poll(cx) {
                    return Poll::Ready(answer);
                }
                if Instant::now() >= deadline || timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Ok(exceeded(timeout)));
                }
                Poll::Pending
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_values() {
        assert_eq!(parse_grpc_timeout(b"1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout(b"2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout(b"30S"), Some(Duration::from_secs(30)));
        assert_eq!(parse_grpc_timeout(b"1m"), Some(Duration::from_millis(1)));
        assert_eq!(
            parse_grpc_timeout(b"999u"),
            Some(Duration::from_micros(999))
        );
        assert_eq!(
            parse_grpc_timeout(b"99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        assert_eq!(parse_grpc_timeout(b"0n"), Some(Duration::ZERO));
        // Not a deadline: no unit, an unknown unit, no digits, 9 digits, a sign, spaces.
        for bad in [
            &b""[..],
            b"5",
            b"5s",
            b"5x",
            b"m",
            b"123456789m",
            b"-1S",
            b" 1S",
            b"1 S",
        ] {
            assert_eq!(
                parse_grpc_timeout(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}

//! The client's gRPC deadline on berthd's CRI socket: a call still running when its
//! `grpc-timeout` passes ends with DEADLINE_EXCEEDED (critest's "Image Manager public image should
//! timeout if requested"), never tonic's CANCELLED "Timeout expired". The client here is tonic's
//! generated one over a bare HTTP/2 connection: it sends `grpc-timeout` but keeps no timer of its
//! own (tonic's `Channel` would, and answer CANCELLED itself), so every answer is berthd's.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use berth_cri::proto::image_service_client::ImageServiceClient;
use berth_cri::proto::runtime_service_client::RuntimeServiceClient;
use berth_cri::proto::{ImageSpec, ListImagesRequest, PullImageRequest, VersionRequest};
use berth_tests::TestDaemon;
use tonic::codegen::{BoxFuture, Service};

/// One HTTP/2 connection to the CRI socket, as a tower service for tonic's generated clients.
#[derive(Clone)]
struct H2(hyper::client::conn::http2::SendRequest<tonic::body::Body>);

impl Service<http::Request<tonic::body::Body>> for H2 {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), hyper::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(req))
    }
}

async fn connect(sock: &Path) -> H2 {
    let stream = tokio::net::UnixStream::connect(sock).await.unwrap();
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    H2(send)
}

/// A "registry" on 127.0.0.1 that accepts connections and never answers: a pull from it runs
/// until its deadline. Stops (closing what it holds) when dropped, or after two minutes.
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<usize>>,
}

impl Silent {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            let until = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::Relaxed) && Instant::now() < until {
                match listener.accept() {
                    Ok((s, _)) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            held.len()
        });
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops it; how many connections it took.
    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn pull(image: &str, timeout: Duration) -> tonic::Request<PullImageRequest> {
    let mut req = tonic::Request::new(PullImageRequest {
        image: Some(ImageSpec {
            image: image.to_string(),
            ..Default::default()
        }),
        ..Default::default()
    });
    req.set_timeout(timeout);
    req
}

/// How many times the 1 ms pull is asked: tonic's CANCELLED won about one full critest run in
/// several, so a few hundred calls show a race that is still there.
const ROUNDS: usize = 300;

#[test]
fn a_call_past_its_grpc_timeout_is_deadline_exceeded() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let registry = Silent::start();
    let image = format!("127.0.0.1:{}/deadline/never:1", registry.port);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let origin = http::Uri::from_static("http://cri.invalid");
        let h2 = connect(&d.cri_socket()).await;
        let mut images = ImageServiceClient::with_origin(h2.clone(), origin.clone());
        let mut runtime = RuntimeServiceClient::with_origin(h2, origin);

        // critest's 1 ms, many times over: each answer is DEADLINE_EXCEEDED, from berthd.
        let mut codes = std::collections::BTreeMap::<String, usize>::new();
        let mut first_other = None;
        for _ in 0..ROUNDS {
            let e = images
                .pull_image(pull(&image, Duration::from_millis(1)))
                .await
                .expect_err("a pull from a registry that never answers succeeded");
            *codes.entry(format!("{:?}", e.code())).or_default() += 1;
            if e.code() != tonic::Code::DeadlineExceeded && first_other.is_none() {
                first_other = Some(format!("{e:?}"));
            }
        }
        assert_eq!(
            codes.get("DeadlineExceeded").copied().unwrap_or(0),
            ROUNDS,
            "answers by code: {codes:?}; first other: {first_other:?}"
        );

        // A longer deadline is kept, not cut short, and named in the message.
        let started = Instant::now();
        let e = images
            .pull_image(pull(&image, Duration::from_millis(300)))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert_eq!(e.code(), tonic::Code::DeadlineExceeded, "{e:?}");
        assert!(e.message().contains("grpc-timeout"), "{e:?}");
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(10),
            "a 300 ms deadline answered after {took:?}"
        );

        // A call that finishes within its deadline answers as usual, on the same connection.
        let mut req = tonic::Request::new(VersionRequest::default());
        req.set_timeout(Duration::from_secs(30));
        let v = runtime.version(req).await.unwrap().into_inner();
        assert_eq!(v.runtime_name, "berth");
        // Nothing of the abandoned pulls is listed.
        let listed = images
            .list_images(ListImagesRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert!(
            !listed
                .images
                .iter()
                .any(|i| i.repo_tags.iter().any(|t| t.contains("deadline/never"))),
            "{listed:?}"
        );
    });
    drop(rt);
    // The pulls did reach the registry (the deadline cut a pull short, not a refused request).
    assert!(registry.finish() > 0, "no pull reached the silent registry");
}

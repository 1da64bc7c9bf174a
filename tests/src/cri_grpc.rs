//! A gRPC client of a daemon's CRI socket, for what crictl cannot ask or checks before it asks
//! (crictl's rmi and inspecti look an image up first; kubelet does not), and for the streaming
//! URLs that Exec, Attach and PortForward answer.

use std::path::Path;

use berth_cri::proto::image_service_client::ImageServiceClient;
use berth_cri::proto::runtime_service_client::RuntimeServiceClient;
use tonic::transport::Channel;

/// Connects to the CRI socket `sock` and runs `f` with its runtime and image service clients on
/// a runtime of its own; what `f` returns. Panics when the socket does not answer.
#[track_caller]
pub fn grpc<T>(
    sock: &Path,
    f: impl AsyncFnOnce(RuntimeServiceClient<Channel>, ImageServiceClient<Channel>) -> T,
) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("a tokio runtime: {e}"));
    rt.block_on(async {
        let path = sock.to_path_buf();
        // The URI is not used: every connection goes to the socket.
        let channel = tonic::transport::Endpoint::from_static("http://cri.invalid")
            .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            }))
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", sock.display()));
        f(
            RuntimeServiceClient::new(channel.clone()),
            ImageServiceClient::new(channel),
        )
        .await
    })
}

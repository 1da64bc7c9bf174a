//! Serving both CRI services on one unix socket.

use std::future::Future;
use std::sync::Arc;

use berth_daemon::Daemon;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;

use crate::config::{CriConfig, RuntimeState};
use crate::deadline::Deadline;
use crate::images::Images;
use crate::proto::image_service_server::ImageServiceServer;
use crate::proto::runtime_service_server::RuntimeServiceServer;
use crate::runtime::Runtime;

#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error("CRI server on {socket}: {source}")]
    Serve {
        socket: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error(transparent)]
    Streaming(#[from] crate::streaming::BindError),
}

/// Serves `runtime.v1.RuntimeService` and `runtime.v1.ImageService` on `listener` until
/// `shutdown` resolves.
pub async fn serve(
    listener: UnixListener,
    daemon: Arc<Daemon>,
    config: CriConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), CriError> {
    let socket = config.socket.display().to_string();
    let state = Arc::new(RuntimeState::default());
    let streaming = crate::streaming::start(config.stream_port, daemon.clone(), &state).await?;
    let runtime = Runtime::new(daemon.clone(), config, state);
    let images = Images::new(daemon);
    tracing::info!(socket = %socket, "CRI v1 serving");
    tonic::transport::Server::builder()
        .add_service(Deadline::new(RuntimeServiceServer::new(runtime)))
        .add_service(Deadline::new(ImageServiceServer::new(images)))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await
        .map_err(|source| CriError::Serve { socket, source })?;
    streaming.abort();
    Ok(())
}

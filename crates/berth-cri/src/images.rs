//! `runtime.v1.ImageService` over the daemon's image services, in the CRI's own image namespace
//! (`k8s.io`, as containerd's): `crictl images` and `docker images` each list their own images,
//! over one content store (docs/cri.md, docs/architecture.md).

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use base64::Engine as _;
use berth_api::models;
use berth_daemon::distribution::Credentials;
use berth_daemon::pull::PullOptions;
use berth_daemon::{Daemon, ImageRemoveOptions, CRI_NAMESPACE as NS};
use berth_types::{ErrorKind, Reference};
use futures::StreamExt;
use tonic::{Request, Response, Status};

use crate::error::status;
use crate::proto;

/// The API version the image services are asked to answer as (the newest shapes).
const API: &str = "1.47";

pub(crate) struct Images {
    daemon: Arc<Daemon>,
}

impl Images {
    pub(crate) fn new(daemon: Arc<Daemon>) -> Self {
        Self { daemon }
    }

    /// Every image, in the CRI's shape.
    async fn all(&self) -> Result<Vec<proto::Image>, Status> {
        let list = self
            .daemon
            .image_list_in(NS, &berth_api::Filters::default(), API)
            .await
            .map_err(status)?;
        let mut out = Vec::with_capacity(list.len());
        for summary in list {
            let user = match self.daemon.image_inspect_in(NS, &summary.id, API).await {
                Ok(img) => img.inspect.config.and_then(|c| c.user).unwrap_or_default(),
                // Removed since the list was taken.
                Err(e) if e.kind == ErrorKind::NotFound => continue,
                Err(e) => return Err(status(e)),
            };
            out.push(from_summary(&summary, &user));
        }
        Ok(out)
    }

    /// The images `filter` selects: all, or those its image reference resolves to.
    async fn filtered(
        &self,
        filter: Option<proto::ImageFilter>,
    ) -> Result<Vec<proto::Image>, Status> {
        let wanted = filter
            .and_then(|f| f.image)
            .map(|s| s.image)
            .filter(|s| !s.is_empty());
        let all = self.all().await?;
        let Some(wanted) = wanted else {
            return Ok(all);
        };
        let id = match self.daemon.image_inspect_in(NS, &wanted, API).await {
            Ok(img) => img.inspect.id.unwrap_or_default(),
            Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::InvalidArgument) => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(status(e)),
        };
        Ok(all.into_iter().filter(|i| i.id == id).collect())
    }
}

/// `busybox:latest` -> `docker.io/library/busybox:latest`; `x@sha256:..` likewise. Entries that
/// do not parse (`<none>:<none>`) are left out.
fn qualified(names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| {
            let r = Reference::parse_name_only(n).ok()?;
            let mut s = r.name();
            if let Some(t) = &r.tag {
                s.push(':');
                s.push_str(t);
            }
            if let Some(d) = &r.digest {
                s.push('@');
                s.push_str(&d.to_string());
            }
            Some(s)
        })
        .collect()
}

/// The image config's `User` as the CRI gives it: a numeric user is `uid`, a name is
/// `username` (a `:group` part is dropped).
fn user_fields(user: &str) -> (Option<proto::Int64Value>, String) {
    let name = user.split(':').next().unwrap_or_default();
    if name.is_empty() {
        return (None, String::new());
    }
    match name.parse::<i64>() {
        Ok(uid) => (Some(proto::Int64Value { value: uid }), String::new()),
        Err(_) => (None, name.to_string()),
    }
}

fn from_summary(s: &models::ImageSummary, user: &str) -> proto::Image {
    let (uid, username) = user_fields(user);
    proto::Image {
        id: s.id.clone(),
        repo_tags: qualified(&s.repo_tags),
        repo_digests: qualified(&s.repo_digests),
        size: u64::try_from(s.size).unwrap_or(0),
        uid,
        username,
        spec: Some(proto::ImageSpec {
            image: s.id.clone(),
            ..Default::default()
        }),
        pinned: false,
    }
}

fn from_inspect(i: &models::ImageInspect) -> proto::Image {
    let id = i.id.clone().unwrap_or_default();
    let user = i
        .config
        .as_ref()
        .and_then(|c| c.user.clone())
        .unwrap_or_default();
    let (uid, username) = user_fields(&user);
    proto::Image {
        repo_tags: qualified(i.repo_tags.as_deref().unwrap_or_default()),
        repo_digests: qualified(i.repo_digests.as_deref().unwrap_or_default()),
        size: i.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
        uid,
        username,
        spec: Some(proto::ImageSpec {
            image: id.clone(),
            ..Default::default()
        }),
        pinned: false,
        id,
    }
}

/// The request's `AuthConfig` as registry credentials: username and password, or `auth`
/// (base64 `user:password`), or an identity token.
fn credentials(auth: Option<proto::AuthConfig>) -> Result<Credentials, Status> {
    let Some(a) = auth else {
        return Ok(Credentials::default());
    };
    let (mut username, mut password) = (a.username, a.password);
    if username.is_empty() && !a.auth.is_empty() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(a.auth.trim())
            .map_err(|e| Status::invalid_argument(format!("invalid auth: {e}")))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| Status::invalid_argument("invalid auth: not UTF-8"))?;
        let (u, p) = text
            .split_once(':')
            .ok_or_else(|| Status::invalid_argument("invalid auth: want user:password"))?;
        username = u.to_string();
        password = p.to_string();
    }
    if !a.registry_token.is_empty() {
        return Err(Status::unimplemented(
            "a registry token in PullImage's auth is not supported by berth yet",
        ));
    }
    Ok(Credentials {
        username,
        password,
        identity_token: a.identity_token,
    })
}

type RpcResult<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl proto::image_service_server::ImageService for Images {
    async fn list_images(
        &self,
        r: Request<proto::ListImagesRequest>,
    ) -> RpcResult<proto::ListImagesResponse> {
        let images = self.filtered(r.into_inner().filter).await?;
        Ok(Response::new(proto::ListImagesResponse { images }))
    }

    type StreamImagesStream =
        futures::stream::BoxStream<'static, Result<proto::StreamImagesResponse, Status>>;

    /// ListImages in messages of at most 100 images.
    async fn stream_images(
        &self,
        r: Request<proto::StreamImagesRequest>,
    ) -> RpcResult<Self::StreamImagesStream> {
        let images = self.filtered(r.into_inner().filter).await?;
        let chunks: Vec<_> = images
            .chunks(100)
            .map(|c| Ok(proto::StreamImagesResponse { images: c.to_vec() }))
            .collect();
        Ok(Response::new(futures::stream::iter(chunks).boxed()))
    }

    async fn image_status(
        &self,
        r: Request<proto::ImageStatusRequest>,
    ) -> RpcResult<proto::ImageStatusResponse> {
        let req = r.into_inner();
        let name = req.image.map(|s| s.image).unwrap_or_default();
        if name.is_empty() {
            return Err(Status::invalid_argument(
                "image spec: image name is required",
            ));
        }
        let img = match self.daemon.image_inspect_in(NS, &name, API).await {
            Ok(img) => img,
            // An absent image is an empty answer, not an error (kubelet's pull policy asks).
            Err(e) if matches!(e.kind, ErrorKind::NotFound) => {
                return Ok(Response::new(proto::ImageStatusResponse::default()))
            }
            Err(e) => return Err(status(e)),
        };
        let mut info = std::collections::HashMap::new();
        if req.verbose {
            let spec = serde_json::json!({
                "created": img.inspect.created,
                "architecture": img.inspect.architecture,
                "os": img.inspect.os,
                "config": img.inspect.config,
                "rootfs": img.inspect.root_fs,
            });
            let text = serde_json::json!({ "imageSpec": spec }).to_string();
            info.insert("info".to_string(), text);
        }
        Ok(Response::new(proto::ImageStatusResponse {
            image: Some(from_inspect(&img.inspect)),
            info,
        }))
    }

    async fn pull_image(
        &self,
        r: Request<proto::PullImageRequest>,
    ) -> RpcResult<proto::PullImageResponse> {
        let req = r.into_inner();
        let image = req.image.map(|s| s.image).unwrap_or_default();
        if image.is_empty() {
            return Err(Status::invalid_argument(
                "image spec: image name is required",
            ));
        }
        let reference = Reference::parse(&image).map_err(status)?;
        let tag = match (&reference.digest, &reference.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => berth_types::reference::DEFAULT_TAG.to_string(),
        };
        let creds = credentials(req.auth)?;
        let mut progress = self
            .daemon
            .image_pull_in(NS, &reference.name(), &tag, creds, PullOptions::default())
            .await
            .map_err(|e| pull_failed(&image, status(e)))?;
        while let Some(msg) = progress.recv().await {
            if let Some(err) = msg.get("error").and_then(|e| e.as_str()) {
                return Err(Status::unknown(format!(
                    "failed to pull and unpack image {image:?}: {err}"
                )));
            }
        }
        let pulled = self
            .daemon
            .image_inspect_in(NS, &reference.to_string(), API)
            .await
            .map_err(|e| pull_failed(&image, status(e)))?;
        Ok(Response::new(proto::PullImageResponse {
            image_ref: pulled.inspect.id.unwrap_or_default(),
        }))
    }

    async fn remove_image(
        &self,
        r: Request<proto::RemoveImageRequest>,
    ) -> RpcResult<proto::RemoveImageResponse> {
        let name = r.into_inner().image.map(|s| s.image).unwrap_or_default();
        if name.is_empty() {
            return Err(Status::invalid_argument(
                "image spec: image name is required",
            ));
        }
        // The image and every name it has go, as containerd's CRI removes them; an image
        // already gone is no error (kubelet's garbage collection may race).
        let id = match self.daemon.image_inspect_in(NS, &name, API).await {
            Ok(img) => img.inspect.id.unwrap_or_default(),
            Err(e) if e.kind == ErrorKind::NotFound => {
                return Ok(Response::new(proto::RemoveImageResponse {}))
            }
            Err(e) => return Err(status(e)),
        };
        // By id, forced: every tag and digest name goes with the image.
        let opts = ImageRemoveOptions {
            force: true,
            noprune: false,
        };
        match self.daemon.image_remove_in(NS, &id, opts).await {
            Ok(_) => {}
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(status(e)),
        }
        Ok(Response::new(proto::RemoveImageResponse {}))
    }

    async fn image_fs_info(
        &self,
        _r: Request<proto::ImageFsInfoRequest>,
    ) -> RpcResult<proto::ImageFsInfoResponse> {
        let u = self.daemon.image_fs_usage().await.map_err(status)?;
        let timestamp = u
            .timestamp
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Ok(Response::new(proto::ImageFsInfoResponse {
            image_filesystems: vec![proto::FilesystemUsage {
                timestamp,
                fs_id: Some(proto::FilesystemIdentifier {
                    mountpoint: u.path.display().to_string(),
                }),
                used_bytes: Some(proto::UInt64Value {
                    value: u.used_bytes,
                }),
                inodes_used: Some(proto::UInt64Value {
                    value: u.inodes_used,
                }),
            }],
            container_filesystems: Vec::new(),
        }))
    }
}

fn pull_failed(image: &str, s: Status) -> Status {
    Status::new(
        s.code(),
        format!("failed to pull and unpack image {image:?}: {}", s.message()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_fully_qualified() {
        let got = qualified(&[
            "busybox:latest".into(),
            "<none>:<none>".into(),
            "localhost:5000/a/b:1".into(),
        ]);
        assert_eq!(
            got,
            ["docker.io/library/busybox:latest", "localhost:5000/a/b:1"]
        );
    }

    #[test]
    fn users_split_into_uid_or_name() {
        assert_eq!(user_fields(""), (None, String::new()));
        assert_eq!(
            user_fields("1000:1000"),
            (Some(proto::Int64Value { value: 1000 }), String::new())
        );
        assert_eq!(user_fields("nobody"), (None, "nobody".to_string()));
    }

    #[test]
    fn auth_is_decoded() {
        let c = credentials(Some(proto::AuthConfig {
            auth: base64::engine::general_purpose::STANDARD.encode("u:p:q"),
            ..Default::default()
        }))
        .expect("creds");
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p:q"));
        assert!(credentials(Some(proto::AuthConfig {
            auth: "!!".into(),
            ..Default::default()
        }))
        .is_err());
    }
}

//! Image namespaces, as containerd's: the Docker API works in `default`, the CRI in `k8s.io`.
//! Each namespace has its own images and names (`docker images` and `crictl images` list their
//! own); image rows, blobs and unpacked layers are shared, so an image pulled in both is
//! stored once and removing it from one keeps it in the other (berth_image::ImageService).
//!
//! The `*_in` methods are the image endpoints for a namespace; for `default` they are the
//! Docker API's methods (with their events). Other namespaces emit no Docker events.

use berth_api::models;
use berth_image::{ImageUser, InspectedImage};
use berth_types::{Error, Result};

use crate::daemon::Daemon;
use crate::image::service::{ImageInfo, ImageService};
use crate::options::ImageRemoveOptions;

pub use berth_image::DEFAULT_NAMESPACE;

/// The CRI's image namespace (containerd's CRI plugin uses the same name).
pub const CRI_NAMESPACE: &str = "k8s.io";

impl Daemon {
    /// The image service of namespace `ns` (`default` or `k8s.io`).
    pub(crate) fn image_namespace(&self, ns: &str) -> Result<&ImageService> {
        match ns {
            DEFAULT_NAMESPACE => Ok(&self.images),
            CRI_NAMESPACE => Ok(&self.cri_images),
            other => Err(Error::invalid(format!(
                "unknown image namespace {other:?}: berth has {DEFAULT_NAMESPACE:?} (Docker API) and {CRI_NAMESPACE:?} (CRI)"
            ))),
        }
    }

    /// Resolves `name` (id, id prefix, `repo[:tag]`, `repo@digest`) among the images of
    /// namespace `ns`: what creating a container from it needs (its id and runtime config; its
    /// layers for [`Daemon::image_snapshot_prepare`]). Not found is `No such image: <name>`.
    pub async fn image_resolve_in(&self, ns: &str, name: &str) -> Result<ImageInfo> {
        self.image_namespace(ns)?.resolve(name).await
    }

    /// [`Daemon::image_resolve_in`] the CRI's namespace (`k8s.io`): how CRI containers find
    /// the image of `CreateContainer`'s `ImageSpec`.
    pub async fn cri_image(&self, name: &str) -> Result<ImageInfo> {
        self.image_resolve_in(CRI_NAMESPACE, name).await
    }

    /// Creates the writable layer `id` over a resolved image's layers (of any namespace: layers
    /// are shared).
    pub async fn image_snapshot_prepare(&self, id: &str, image: &ImageInfo) -> Result<()> {
        self.images.prepare(id, image).await
    }

    /// `GET /images/json` within namespace `ns` (`all` false: no intermediate images).
    pub async fn image_list_in(
        &self,
        ns: &str,
        filters: &berth_api::Filters,
        api: &str,
    ) -> Result<Vec<models::ImageSummary>> {
        if ns == DEFAULT_NAMESPACE {
            return self.image_list(false, filters, true, api).await;
        }
        let counts = std::collections::HashMap::new();
        self.image_namespace(ns)?
            .list(false, filters, api, &counts)
            .await
    }

    /// `GET /images/{name}/json` within namespace `ns`.
    pub async fn image_inspect_in(
        &self,
        ns: &str,
        name: &str,
        api: &str,
    ) -> Result<InspectedImage> {
        self.image_namespace(ns)?.inspect(name, api).await
    }

    /// `DELETE /images/{name}` within namespace `ns`. The image leaves that namespace only; its
    /// files go when no namespace holds it any more. Containers using the image stop its
    /// removal only where removal would delete it (berth_image's `remove`).
    pub async fn image_remove_in(
        &self,
        ns: &str,
        name: &str,
        opts: ImageRemoveOptions,
    ) -> Result<Vec<models::ImageDeleteResponseItem>> {
        if ns == DEFAULT_NAMESPACE {
            return self.image_remove(name, opts).await;
        }
        let users: std::collections::HashMap<String, Vec<ImageUser>> = self.image_users();
        self.image_namespace(ns)?.remove(name, opts, users).await
    }
}

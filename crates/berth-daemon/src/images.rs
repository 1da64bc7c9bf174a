//! TEMPORARY compile scaffold; replaced by the adapter over berth-image.
use std::path::{Path, PathBuf};
use berth_api::models::{self, ContainerConfig, DriverData};
use berth_types::{Error, Result};
pub struct ImageInfo { pub id: String, pub config: ContainerConfig }
pub struct Images;
impl Images {
    pub fn open(_p: &Path, _db: berth_store::Db) -> Result<Self> { Ok(Images) }
    pub async fn resolve(&self, n: &str) -> Result<ImageInfo> { Err(Error::not_found(format!("No such image: {n}"))) }
    pub async fn prepare(&self, _id: &str, _i: &ImageInfo) -> Result<()> { Err(Error::internal("x")) }
    pub async fn mount(&self, _id: &str) -> Result<PathBuf> { Err(Error::internal("x")) }
    pub async fn unmount(&self, _id: &str) -> Result<()> { Ok(()) }
    pub async fn remove_snapshot(&self, _id: &str) -> Result<()> { Ok(()) }
    pub async fn graph_driver(&self, _id: &str, _i: &str) -> DriverData { DriverData::default() }
    pub async fn count(&self) -> i64 { 0 }
    pub fn rootfs_dir(&self, id: &str) -> PathBuf { PathBuf::from(id) }
}
pub fn _unused(_: models::ImageSummary) {}

use crate::daemon::Daemon;
use crate::options::{ImageRemoveOptions, ImportOptions};
use bytes::Bytes;
use futures::stream::BoxStream;
impl Daemon {
    pub async fn image_import(&self, body: BoxStream<'static, std::io::Result<Bytes>>, opts: ImportOptions) -> Result<String> {
        let _ = (body, opts);
        Err(Error::internal("scaffold"))
    }
    pub async fn image_list(&self, all: bool, filters: &berth_api::Filters, digests: bool) -> Result<Vec<models::ImageSummary>> {
        let _ = (all, filters, digests);
        Err(Error::internal("scaffold"))
    }
    pub async fn image_inspect(&self, name: &str) -> Result<models::ImageInspect> {
        Err(Error::internal(name.to_string()))
    }
    pub async fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let _ = (name, repo, tag);
        Err(Error::internal("scaffold"))
    }
    pub async fn image_remove(&self, name: &str, opts: ImageRemoveOptions) -> Result<Vec<models::ImageDeleteResponseItem>> {
        let _ = (name, opts);
        Err(Error::internal("scaffold"))
    }
    pub async fn image_history(&self, name: &str) -> Result<Vec<models::HistoryResponseItem>> {
        Err(Error::internal(name.to_string()))
    }
}

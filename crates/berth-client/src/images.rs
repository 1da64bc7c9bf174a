//! `/images/...` endpoints.

use berth_api::models::{
    CreateImageInfo, HistoryResponseItem, ImageDeleteResponseItem, ImagePruneResponse, ImageSummary,
};
use berth_api::Filters;
use bytes::Bytes;

use crate::body::{JsonLines, RequestBody};
use crate::client::{escape_segment as esc, Client, Query};
use crate::error::Result;

/// `POST /images/create?fromSrc=...` options.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `-` to read the body, or a URL for the daemon to fetch.
    pub source: String,
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub message: Option<String>,
    pub changes: Vec<String>,
    pub platform: Option<String>,
}

impl Client {
    pub async fn image_list(
        &self,
        all: bool,
        digests: bool,
        filters: &Filters,
    ) -> Result<Vec<ImageSummary>> {
        let mut q: Query = Vec::new();
        if all {
            q.push(("all", "1".into()));
        }
        if digests {
            q.push(("digests", "1".into()));
        }
        if !filters.is_empty() {
            q.push(("filters", filters.to_json()));
        }
        self.get_json("/images/json", &q).await
    }

    pub async fn image_inspect_raw(&self, name: &str) -> Result<Bytes> {
        self.get_raw(&format!("/images/{}/json", esc(name)), &Vec::new())
            .await
    }

    pub async fn image_tag(&self, source: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let mut q: Query = vec![("repo", repo.to_string())];
        if let Some(t) = tag {
            q.push(("tag", t.to_string()));
        }
        let resp = self
            .post(&format!("/images/{}/tag", esc(source)), &q)
            .await?;
        crate::body::collect(resp.into_body()).await?;
        Ok(())
    }

    pub async fn image_remove(
        &self,
        name: &str,
        force: bool,
        no_prune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let mut q: Query = Vec::new();
        if force {
            q.push(("force", "1".into()));
        }
        if no_prune {
            q.push(("noprune", "1".into()));
        }
        let raw = self.delete(&format!("/images/{}", esc(name)), &q).await?;
        Ok(serde_json::from_slice(&raw)?)
    }

    /// `POST /images/prune`.
    pub async fn image_prune(&self, filters: &Filters) -> Result<ImagePruneResponse> {
        let mut q: Query = Vec::new();
        if !filters.is_empty() {
            q.push(("filters", filters.to_json()));
        }
        let resp = self.post("/images/prune", &q).await?;
        let raw = crate::body::collect(resp.into_body()).await?;
        Ok(serde_json::from_slice(&raw)?)
    }

    pub async fn image_history(&self, name: &str) -> Result<Vec<HistoryResponseItem>> {
        self.get_json(&format!("/images/{}/history", esc(name)), &Vec::new())
            .await
    }

    /// Imports a filesystem tarball; the answer is a progress stream.
    pub async fn image_import(
        &self,
        opts: &ImportOptions,
        body: RequestBody,
    ) -> Result<JsonLines<CreateImageInfo>> {
        let mut q: Query = vec![("fromSrc", opts.source.clone())];
        if let Some(r) = &opts.repo {
            q.push(("repo", r.clone()));
        }
        if let Some(t) = &opts.tag {
            q.push(("tag", t.clone()));
        }
        if let Some(m) = &opts.message {
            q.push(("message", m.clone()));
        }
        for c in &opts.changes {
            q.push(("changes", c.clone()));
        }
        if let Some(p) = &opts.platform {
            q.push(("platform", p.clone()));
        }
        let resp = self
            .request(
                http::Method::POST,
                "/images/create",
                &q,
                Some("application/x-tar"),
                body,
            )
            .await?;
        Ok(JsonLines::new(resp.into_body()))
    }

    /// Pulls `repo:tag`; the answer is a progress stream.
    /// `POST /images/{name}/push?tag=`: the progress stream. `auth` is the `X-Registry-Auth`
    /// value (docker sends `e30=`, an empty object, without credentials).
    pub async fn image_push(
        &self,
        name: &str,
        tag: &str,
        auth: &str,
    ) -> Result<JsonLines<CreateImageInfo>> {
        self.image_push_with(name, tag, auth, None).await
    }

    /// [`Client::image_push`] with berth's `compression=` (`gzip` or `zstd`).
    pub async fn image_push_with(
        &self,
        name: &str,
        tag: &str,
        auth: &str,
        compression: Option<&str>,
    ) -> Result<JsonLines<CreateImageInfo>> {
        let mut q: Query = vec![("tag", tag.to_string())];
        if let Some(c) = compression {
            q.push(("compression", c.to_string()));
        }
        let path = format!("/images/{}/push", esc(name));
        let resp = self
            .post_with_header(&path, &q, "X-Registry-Auth", auth)
            .await?;
        Ok(JsonLines::new(resp.into_body()))
    }

    pub async fn image_pull(&self, repo: &str, tag: &str) -> Result<JsonLines<CreateImageInfo>> {
        self.image_pull_with_auth(repo, tag, "e30=").await
    }

    /// `POST /images/create?fromImage=`: the progress stream.
    pub async fn image_pull_with_auth(
        &self,
        repo: &str,
        tag: &str,
        auth: &str,
    ) -> Result<JsonLines<CreateImageInfo>> {
        self.image_pull_with(repo, tag, auth, None).await
    }

    /// [`Client::image_pull_with_auth`] for a `platform` (`os[/arch[/variant]]`); an empty
    /// `tag` pulls every tag.
    pub async fn image_pull_with(
        &self,
        repo: &str,
        tag: &str,
        auth: &str,
        platform: Option<&str>,
    ) -> Result<JsonLines<CreateImageInfo>> {
        let mut q: Query = vec![("fromImage", repo.to_string()), ("tag", tag.to_string())];
        if let Some(p) = platform {
            q.push(("platform", p.to_string()));
        }
        let resp = self
            .post_with_header("/images/create", &q, "X-Registry-Auth", auth)
            .await?;
        Ok(JsonLines::new(resp.into_body()))
    }

    /// `POST /auth`: whether the registry takes these credentials.
    pub async fn registry_login(&self, server: &str, username: &str, password: &str) -> Result<()> {
        let body = serde_json::json!({
            "username": username,
            "password": password,
            "serveraddress": server,
        });
        let _: serde_json::Value = self.post_json("/auth", &Vec::new(), &body).await?;
        Ok(())
    }
}

//! A container's filesystem: export, changes, `cp` (`/containers/{id}/archive`) and commit.

use base64::Engine;
use berth_api::archive::{ContainerPathStat, PATH_STAT_HEADER};
use berth_api::models::FilesystemChange;
use http::{HeaderMap, Method};

use crate::body::{self, BodyReader, RequestBody};
use crate::client::{escape_segment as esc, Client, Query};
use crate::error::{ClientError, Result};

/// `{"Id": ...}` (the API model's field is spelled `ID`).
#[derive(serde::Deserialize)]
struct IdAnswer {
    #[serde(rename = "Id")]
    id: String,
}

/// `POST /commit` options.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub pause: bool,
    pub changes: Vec<String>,
}

/// `PUT /containers/{id}/archive` flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyToOptions {
    /// Let a file replace a directory and the other way round (the CLI never does).
    pub allow_overwrite_dir_with_file: bool,
    pub copy_uid_gid: bool,
}

fn path_stat(headers: &HeaderMap) -> Result<ContainerPathStat> {
    let raw = headers
        .get(PATH_STAT_HEADER)
        .ok_or_else(|| ClientError::Protocol(format!("no {PATH_STAT_HEADER} header")))?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(raw.as_bytes())
        .map_err(|e| ClientError::Protocol(format!("decoding {PATH_STAT_HEADER}: {e}")))?;
    Ok(serde_json::from_slice(&json)?)
}

impl Client {
    /// `GET /containers/{id}/export`: the filesystem as a tar stream.
    pub async fn container_export(&self, id: &str) -> Result<BodyReader> {
        let resp = self
            .get(&format!("/containers/{}/export", esc(id)), &Vec::new())
            .await?;
        Ok(BodyReader::new(resp.into_body()))
    }

    /// `GET /containers/{id}/changes` (`null` from the daemon is an empty list).
    pub async fn container_changes(&self, id: &str) -> Result<Vec<FilesystemChange>> {
        let list: Option<Vec<FilesystemChange>> = self
            .get_json(&format!("/containers/{}/changes", esc(id)), &Vec::new())
            .await?;
        Ok(list.unwrap_or_default())
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub async fn container_stat_path(&self, id: &str, path: &str) -> Result<ContainerPathStat> {
        let q: Query = vec![("path", path.to_string())];
        let resp = self
            .request(
                Method::HEAD,
                &format!("/containers/{}/archive", esc(id)),
                &q,
                None,
                body::empty(),
            )
            .await?;
        path_stat(resp.headers())
    }

    /// `GET /containers/{id}/archive?path=`: the path's stat and a tar of it.
    pub async fn copy_from_container(
        &self,
        id: &str,
        path: &str,
    ) -> Result<(ContainerPathStat, BodyReader)> {
        let q: Query = vec![("path", path.to_string())];
        let resp = self
            .get(&format!("/containers/{}/archive", esc(id)), &q)
            .await?;
        let stat = path_stat(resp.headers())?;
        Ok((stat, BodyReader::new(resp.into_body())))
    }

    /// `PUT /containers/{id}/archive?path=`: extracts the tar `content` into the directory `path`.
    pub async fn copy_to_container(
        &self,
        id: &str,
        path: &str,
        opts: CopyToOptions,
        content: RequestBody,
    ) -> Result<()> {
        let mut q: Query = vec![("path", path.to_string())];
        if !opts.allow_overwrite_dir_with_file {
            q.push(("noOverwriteDirNonDir", "true".into()));
        }
        if opts.copy_uid_gid {
            q.push(("copyUIDGID", "true".into()));
        }
        let resp = self
            .request(
                Method::PUT,
                &format!("/containers/{}/archive", esc(id)),
                &q,
                Some("application/x-tar"),
                content,
            )
            .await?;
        body::collect(resp.into_body()).await?;
        Ok(())
    }

    /// `POST /commit?container=`: returns the new image's id.
    pub async fn container_commit(&self, container: &str, opts: &CommitOptions) -> Result<String> {
        let mut q: Query = vec![("container", container.to_string())];
        let optional = [
            ("repo", &opts.repo),
            ("tag", &opts.tag),
            ("comment", &opts.comment),
            ("author", &opts.author),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                q.push((key, v.clone()));
            }
        }
        for c in &opts.changes {
            q.push(("changes", c.clone()));
        }
        q.push(("pause", opts.pause.to_string()));
        let resp: IdAnswer = self
            .post_json("/commit", &q, &serde_json::json!({}))
            .await?;
        Ok(resp.id)
    }
}

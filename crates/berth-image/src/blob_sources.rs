//! Where compressed layer blobs came from and went to, like dockerd's v2 metadata: the
//! registry digest of a layer (per DiffID and compression) and the repositories of each
//! registry that hold it. A push uses it to skip compressing a layer the registry already
//! has, and to mount a blob from another repository of the same registry.

use berth_store::{Db, DbError};
use rusqlite::params;

/// Schema steps of the `blob_sources` subsystem; append only.
pub const MIGRATIONS: &[&str] = &["CREATE TABLE blob_sources (
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        diff_id TEXT NOT NULL,
        compression TEXT NOT NULL,
        registry TEXT NOT NULL,
        repository TEXT NOT NULL,
        PRIMARY KEY (digest, registry, repository)
    );
    CREATE INDEX blob_sources_diff ON blob_sources(diff_id, compression);"];

/// One compressed blob of a layer, seen on one repository of one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobSource {
    /// The compressed blob's digest (what the registry names it by).
    pub digest: String,
    pub size: u64,
    /// The uncompressed layer's digest.
    pub diff_id: String,
    /// `gzip`, `zstd` or `none`.
    pub compression: String,
    /// `host[:port]`.
    pub registry: String,
    pub repository: String,
}

pub(crate) fn record(db: &Db, s: &BlobSource) -> Result<(), DbError> {
    db.with(|c| {
        c.execute(
            "INSERT INTO blob_sources (digest, size, diff_id, compression, registry, repository)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(digest, registry, repository) DO UPDATE SET
               size = excluded.size, diff_id = excluded.diff_id, compression = excluded.compression",
            params![s.digest, s.size as i64, s.diff_id, s.compression, s.registry, s.repository],
        )
        .map(drop)
        .map_err(DbError::from)
    })
}

/// Every known compressed blob of layer `diff_id` in `compression`, on any registry.
pub(crate) fn for_layer(
    db: &Db,
    diff_id: &str,
    compression: &str,
) -> Result<Vec<BlobSource>, DbError> {
    db.with(|c| {
        let mut stmt = c.prepare(
            "SELECT digest, size, diff_id, compression, registry, repository FROM blob_sources
             WHERE diff_id = ?1 AND compression = ?2 ORDER BY rowid DESC",
        )?;
        let rows = stmt.query_map(params![diff_id, compression], |r| {
            Ok(BlobSource {
                digest: r.get(0)?,
                size: r.get::<_, i64>(1)? as u64,
                diff_id: r.get(2)?,
                compression: r.get(3)?,
                registry: r.get(4)?,
                repository: r.get(5)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
    })
}

impl crate::ImageService {
    /// The local tags of repository `repo` (`host/path`, normalised), sorted: what `push -a`
    /// pushes.
    pub fn repository_tags(&self, repo: &str) -> Result<Vec<String>, crate::ImageError> {
        let prefix = format!("{repo}:");
        let names: Vec<String> = self.db.with(|c| {
            let mut stmt = c.prepare(
                "SELECT name FROM image_refs
                 WHERE namespace = ?3 AND is_digest = 0 AND substr(name, 1, ?2) = ?1 ORDER BY name",
            )?;
            let rows = stmt.query_map(params![prefix, prefix.len() as i64, &*self.ns], |r| {
                r.get(0)
            })?;
            rows.collect::<Result<Vec<String>, _>>()
                .map_err(DbError::from)
        })?;
        Ok(names
            .into_iter()
            .filter_map(|n| n.strip_prefix(&prefix).map(str::to_string))
            .filter(|t| !t.contains('/') && !t.contains(':'))
            .collect())
    }

    /// Remembers that `source.digest` holds layer `source.diff_id` on that repository.
    pub fn record_blob_source(&self, source: &BlobSource) -> Result<(), crate::ImageError> {
        Ok(record(&self.db, source)?)
    }

    /// What is known of layer `diff_id`'s blobs in `compression`, most recent first.
    pub fn blob_sources(
        &self,
        diff_id: &str,
        compression: &str,
    ) -> Result<Vec<BlobSource>, crate::ImageError> {
        Ok(for_layer(&self.db, diff_id, compression)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sources_are_found_by_layer_and_compression() {
        let db = Db::open_in_memory().unwrap();
        db.migrate("blob_sources", MIGRATIONS).unwrap();
        let s = |digest: &str, repo: &str, comp: &str| BlobSource {
            digest: digest.into(),
            size: 10,
            diff_id: "sha256:d".into(),
            compression: comp.into(),
            registry: "r:5000".into(),
            repository: repo.into(),
        };
        record(&db, &s("sha256:g", "a", "gzip")).unwrap();
        record(&db, &s("sha256:g", "b", "gzip")).unwrap();
        record(&db, &s("sha256:g", "b", "gzip")).unwrap();
        record(&db, &s("sha256:z", "a", "zstd")).unwrap();
        let gz = for_layer(&db, "sha256:d", "gzip").unwrap();
        assert_eq!(
            gz.iter().map(|s| s.repository.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(for_layer(&db, "sha256:d", "zstd").unwrap().len(), 1);
        assert!(for_layer(&db, "sha256:x", "gzip").unwrap().is_empty());
    }
}

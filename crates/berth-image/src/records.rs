//! The image tables in `berth.db` and the queries over them.

use berth_store::{Db, DbError};
use rusqlite::{params, OptionalExtension, Transaction};

/// Schema steps of the `images` subsystem; append only.
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE layers (
        chain_id TEXT PRIMARY KEY,
        diff_id TEXT NOT NULL,
        size INTEGER NOT NULL,
        blob TEXT
    );
    CREATE TABLE images (
        id TEXT PRIMARY KEY,
        parent TEXT,
        created TEXT,
        size INTEGER NOT NULL,
        last_tag_time TEXT,
        added_at TEXT NOT NULL
    );
    CREATE TABLE image_layers (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        chain_id TEXT NOT NULL REFERENCES layers(chain_id),
        PRIMARY KEY (image_id, position)
    );
    CREATE INDEX image_layers_chain ON image_layers(chain_id);
    CREATE TABLE image_refs (
        name TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        is_digest INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX image_refs_image ON image_refs(image_id);",
    // The builder's cache: a step's key (its parent and the instruction, sources included) to
    // the image the step made.
    "CREATE TABLE build_cache (
        key TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        last_used INTEGER NOT NULL
    );
    CREATE INDEX build_cache_image ON build_cache(image_id);",
    // Image namespaces (containerd's: the Docker API's `default`, the CRI's `k8s.io`): each
    // namespace holds its own images and names; image rows, layers and blobs are shared.
    // Everything before belongs to `default`.
    "CREATE TABLE image_namespaces (
        namespace TEXT NOT NULL,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        added_at TEXT NOT NULL,
        PRIMARY KEY (namespace, image_id)
    );
    CREATE INDEX image_namespaces_image ON image_namespaces(image_id);
    INSERT INTO image_namespaces (namespace, image_id, added_at)
        SELECT 'default', id, added_at FROM images;
    CREATE TABLE image_refs_ns (
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        is_digest INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (namespace, name)
    );
    INSERT INTO image_refs_ns (namespace, name, image_id, is_digest, created_at)
        SELECT 'default', name, image_id, is_digest, created_at FROM image_refs;
    DROP TABLE image_refs;
    ALTER TABLE image_refs_ns RENAME TO image_refs;
    CREATE INDEX image_refs_image ON image_refs(image_id);",
];

/// The namespace of the Docker API's images.
pub const DEFAULT_NAMESPACE: &str = "default";

/// One row of `images`.
#[derive(Debug, Clone)]
pub struct ImageRow {
    pub id: String,
    pub parent: Option<String>,
    pub created: Option<String>,
    pub size: i64,
    pub last_tag_time: Option<String>,
}

/// One row of `layers`.
#[derive(Debug, Clone)]
pub struct LayerRow {
    pub chain_id: String,
    pub diff_id: String,
    pub size: i64,
    pub blob: Option<String>,
}

pub fn image(db: &Db, id: &str) -> Result<Option<ImageRow>, DbError> {
    db.with(|c| {
        c.query_row(
            "SELECT id, parent, created, size, last_tag_time FROM images WHERE id = ?1",
            [id],
            |r| {
                Ok(ImageRow {
                    id: r.get(0)?,
                    parent: r.get(1)?,
                    created: r.get(2)?,
                    size: r.get(3)?,
                    last_tag_time: r.get(4)?,
                })
            },
        )
        .optional()
        .map_err(DbError::from)
    })
}

/// The image, when namespace `ns` holds it.
pub fn image_in(db: &Db, ns: &str, id: &str) -> Result<Option<ImageRow>, DbError> {
    db.with(|c| {
        c.query_row(
            "SELECT i.id, i.parent, i.created, i.size, i.last_tag_time FROM images i
             JOIN image_namespaces n ON n.image_id = i.id WHERE n.namespace = ?1 AND i.id = ?2",
            [ns, id],
            |r| {
                Ok(ImageRow {
                    id: r.get(0)?,
                    parent: r.get(1)?,
                    created: r.get(2)?,
                    size: r.get(3)?,
                    last_tag_time: r.get(4)?,
                })
            },
        )
        .optional()
        .map_err(DbError::from)
    })
}

/// Every image namespace `ns` holds.
pub fn images_in(db: &Db, ns: &str) -> Result<Vec<ImageRow>, DbError> {
    db.with(|c| {
        let mut st = c.prepare(
            "SELECT i.id, i.parent, i.created, i.size, i.last_tag_time FROM images i
             JOIN image_namespaces n ON n.image_id = i.id WHERE n.namespace = ?1",
        )?;
        let rows = st.query_map([ns], |r| {
            Ok(ImageRow {
                id: r.get(0)?,
                parent: r.get(1)?,
                created: r.get(2)?,
                size: r.get(3)?,
                last_tag_time: r.get(4)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
    })
}

/// The namespaces holding the image.
pub fn namespaces_of(db: &Db, id: &str) -> Result<Vec<String>, DbError> {
    db.with(|c| {
        let mut st = c.prepare(
            "SELECT namespace FROM image_namespaces WHERE image_id = ?1 ORDER BY namespace",
        )?;
        let rows = st.query_map([id], |r| r.get(0))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(DbError::from)
    })
}

/// Every image of every namespace (garbage collection and checks work on all of them).
pub fn all_images(db: &Db) -> Result<Vec<ImageRow>, DbError> {
    db.with(|c| {
        let mut st = c.prepare("SELECT id, parent, created, size, last_tag_time FROM images")?;
        let rows = st.query_map([], |r| {
            Ok(ImageRow {
                id: r.get(0)?,
                parent: r.get(1)?,
                created: r.get(2)?,
                size: r.get(3)?,
                last_tag_time: r.get(4)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
    })
}

/// Image ids of namespace `ns` starting with `prefix` (a hex prefix without `sha256:`), at
/// most `limit`.
pub fn ids_with_prefix(
    db: &Db,
    ns: &str,
    prefix: &str,
    limit: usize,
) -> Result<Vec<String>, DbError> {
    db.with(|c| {
        let mut st = c.prepare(
            "SELECT image_id FROM image_namespaces
             WHERE namespace = ?4 AND substr(image_id, 8, ?2) = ?1 LIMIT ?3",
        )?;
        let rows = st.query_map(
            params![prefix, prefix.len() as i64, limit as i64, ns],
            |r| r.get(0),
        )?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(DbError::from)
    })
}

pub fn image_for_ref(db: &Db, ns: &str, name: &str) -> Result<Option<String>, DbError> {
    db.with(|c| {
        c.query_row(
            "SELECT image_id FROM image_refs WHERE namespace = ?1 AND name = ?2",
            [ns, name],
            |r| r.get(0),
        )
        .optional()
        .map_err(DbError::from)
    })
}

/// `(name, is_digest)` of every reference to the image in namespace `ns`, oldest first.
pub fn refs_of(db: &Db, ns: &str, image_id: &str) -> Result<Vec<(String, bool)>, DbError> {
    db.with(|c| {
        let mut st = c.prepare(
            "SELECT name, is_digest FROM image_refs WHERE namespace = ?1 AND image_id = ?2
             ORDER BY created_at, name",
        )?;
        let rows = st.query_map([ns, image_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
    })
}

pub fn layers_of(db: &Db, image_id: &str) -> Result<Vec<LayerRow>, DbError> {
    db.with(|c| {
        let mut st = c.prepare(
            "SELECT l.chain_id, l.diff_id, l.size, l.blob FROM image_layers il
             JOIN layers l ON l.chain_id = il.chain_id WHERE il.image_id = ?1 ORDER BY il.position",
        )?;
        let rows = st.query_map([image_id], |r| {
            Ok(LayerRow {
                chain_id: r.get(0)?,
                diff_id: r.get(1)?,
                size: r.get(2)?,
                blob: r.get(3)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
    })
}

pub fn layer(db: &Db, chain_id: &str) -> Result<Option<LayerRow>, DbError> {
    db.with(|c| {
        c.query_row(
            "SELECT chain_id, diff_id, size, blob FROM layers WHERE chain_id = ?1",
            [chain_id],
            |r| {
                Ok(LayerRow {
                    chain_id: r.get(0)?,
                    diff_id: r.get(1)?,
                    size: r.get(2)?,
                    blob: r.get(3)?,
                })
            },
        )
        .optional()
        .map_err(DbError::from)
    })
}

/// Whether anything in the database still refers to the blob `digest` (as a config or a
/// layer tar).
// Not used by GC (which works on whole inventories), but by writers that clean up after
// themselves.
#[allow(dead_code)]
pub fn blob_referenced(db: &Db, digest: &str) -> Result<bool, DbError> {
    db.with(|c| {
        c.query_row(
            "SELECT EXISTS(SELECT 1 FROM images WHERE id = ?1) OR EXISTS(SELECT 1 FROM layers WHERE blob = ?1)",
            [digest],
            |r| r.get(0),
        )
        .map_err(DbError::from)
    })
}

// Not used by GC (which works on whole inventories), but by writers that clean up after
// themselves.
#[allow(dead_code)]
pub fn layer_referenced(db: &Db, chain_id: &str) -> Result<bool, DbError> {
    db.with(|c| {
        c.query_row(
            "SELECT EXISTS(SELECT 1 FROM image_layers WHERE chain_id = ?1)",
            [chain_id],
            |r| r.get(0),
        )
        .map_err(DbError::from)
    })
}

/// Inserts a layer unless it is known already.
pub fn insert_layer(tx: &Transaction<'_>, l: &LayerRow) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO layers (chain_id, diff_id, size, blob) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(chain_id) DO UPDATE SET blob = COALESCE(layers.blob, excluded.blob)",
        params![l.chain_id, l.diff_id, l.size, l.blob],
    )?;
    Ok(())
}

/// Inserts an image and its layer list unless it exists already (same config, same id), and
/// puts it in namespace `ns`. `true` when the row is new.
pub fn insert_image(
    tx: &Transaction<'_>,
    ns: &str,
    img: &ImageRow,
    chain_ids: &[String],
    now: &str,
) -> Result<bool, DbError> {
    let added = tx.execute(
        "INSERT INTO images (id, parent, created, size, last_tag_time, added_at) VALUES (?1, ?2, ?3, ?4, NULL, ?5)
         ON CONFLICT(id) DO NOTHING",
        params![img.id, img.parent, img.created, img.size, now],
    )?;
    if added == 1 {
        for (i, chain) in chain_ids.iter().enumerate() {
            tx.execute(
                "INSERT INTO image_layers (image_id, position, chain_id) VALUES (?1, ?2, ?3)",
                params![img.id, i as i64, chain],
            )?;
        }
    }
    add_to_namespace(tx, ns, &img.id, now)?;
    Ok(added == 1)
}

/// Puts an existing image in namespace `ns` (nothing when it is there already).
pub fn add_to_namespace(
    tx: &Transaction<'_>,
    ns: &str,
    image_id: &str,
    now: &str,
) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO image_namespaces (namespace, image_id, added_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(namespace, image_id) DO NOTHING",
        params![ns, image_id, now],
    )?;
    Ok(())
}

/// Points `name` of namespace `ns` at `image_id` (moving it from any other image; the image
/// joins the namespace) and stamps the tag time.
pub fn set_ref(
    tx: &Transaction<'_>,
    ns: &str,
    name: &str,
    image_id: &str,
    is_digest: bool,
    now: &str,
) -> Result<(), DbError> {
    add_to_namespace(tx, ns, image_id, now)?;
    tx.execute(
        "INSERT INTO image_refs (namespace, name, image_id, is_digest, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(namespace, name) DO UPDATE SET image_id = excluded.image_id, created_at = excluded.created_at",
        params![ns, name, image_id, is_digest, now],
    )?;
    tx.execute(
        "UPDATE images SET last_tag_time = ?2 WHERE id = ?1",
        params![image_id, now],
    )?;
    Ok(())
}

pub fn delete_ref(db: &Db, ns: &str, name: &str) -> Result<(), DbError> {
    db.with(|c| {
        c.execute(
            "DELETE FROM image_refs WHERE namespace = ?1 AND name = ?2",
            [ns, name],
        )
        .map(drop)
        .map_err(DbError::from)
    })
}

/// Takes the image out of namespace `ns` with its references there; when no namespace holds
/// it any more, deletes the row and its layer list too (`true`).
pub fn delete_image(db: &Db, ns: &str, id: &str) -> Result<bool, DbError> {
    db.transaction(|tx| {
        tx.execute(
            "DELETE FROM image_refs WHERE namespace = ?1 AND image_id = ?2",
            [ns, id],
        )?;
        tx.execute(
            "DELETE FROM image_namespaces WHERE namespace = ?1 AND image_id = ?2",
            [ns, id],
        )?;
        let held: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM image_namespaces WHERE image_id = ?1)",
            [id],
            |r| r.get(0),
        )?;
        if held {
            return Ok(false);
        }
        tx.execute("DELETE FROM image_refs WHERE image_id = ?1", [id])?;
        tx.execute("DELETE FROM image_layers WHERE image_id = ?1", [id])?;
        tx.execute("DELETE FROM images WHERE id = ?1", [id])?;
        Ok(true)
    })
}

// Not used by GC (which works on whole inventories), but by writers that clean up after
// themselves.
#[allow(dead_code)]
pub fn delete_layer(db: &Db, chain_id: &str) -> Result<(), DbError> {
    db.with(|c| {
        c.execute("DELETE FROM layers WHERE chain_id = ?1", [chain_id])
            .map(drop)
            .map_err(DbError::from)
    })
}

pub fn children_of(db: &Db, id: &str) -> Result<Vec<String>, DbError> {
    db.with(|c| {
        let mut st = c.prepare("SELECT id FROM images WHERE parent = ?1")?;
        let rows = st.query_map([id], |r| r.get(0))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(DbError::from)
    })
}

/// Every row of `layers`.
pub fn all_layers(db: &Db) -> Result<Vec<LayerRow>, DbError> {
    db.with(|c| {
        let mut st = c.prepare("SELECT chain_id, diff_id, size, blob FROM layers")?;
        let rows = st.query_map([], |r| {
            Ok(LayerRow {
                chain_id: r.get(0)?,
                diff_id: r.get(1)?,
                size: r.get(2)?,
                blob: r.get(3)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>().map_err(DbError::from)
    })
}

/// Chain ids that at least one image lists.
pub fn referenced_layers(db: &Db) -> Result<std::collections::BTreeSet<String>, DbError> {
    db.with(|c| {
        let mut st = c.prepare("SELECT DISTINCT chain_id FROM image_layers")?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>().map_err(DbError::from)
    })
}

/// Unpacked size of every layer, by chain id.
pub fn layer_sizes(db: &Db) -> Result<std::collections::HashMap<String, i64>, DbError> {
    Ok(all_layers(db)?
        .into_iter()
        .map(|l| (l.chain_id, l.size))
        .collect())
}

/// How many images list each chain id.
pub fn layer_image_counts(db: &Db) -> Result<std::collections::HashMap<String, i64>, DbError> {
    db.with(|c| {
        let mut st = c.prepare(
            "SELECT chain_id, COUNT(DISTINCT image_id) FROM image_layers GROUP BY chain_id",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>().map_err(DbError::from)
    })
}

/// Deletes these `layers` rows (in one transaction).
pub fn delete_layers(db: &Db, chain_ids: &[String]) -> Result<(), DbError> {
    if chain_ids.is_empty() {
        return Ok(());
    }
    db.transaction(|tx| {
        for chain in chain_ids {
            tx.execute("DELETE FROM layers WHERE chain_id = ?1", [chain])?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store from before namespaces: its images and names become the Docker API's.
    #[test]
    fn old_images_and_names_move_into_the_default_namespace() {
        let db = Db::open_in_memory().expect("db");
        db.migrate("images", &MIGRATIONS[..2]).expect("old schema");
        db.with(|c| {
            c.execute_batch(
                "INSERT INTO images (id, parent, created, size, last_tag_time, added_at)
                     VALUES ('sha256:aa', NULL, NULL, 1, NULL, 't');
                 INSERT INTO image_refs (name, image_id, is_digest, created_at)
                     VALUES ('docker.io/library/a:1', 'sha256:aa', 0, 't');",
            )
            .map_err(DbError::from)
        })
        .expect("old rows");
        db.migrate("images", MIGRATIONS).expect("migrate");
        let found = image_for_ref(&db, DEFAULT_NAMESPACE, "docker.io/library/a:1").expect("ref");
        assert_eq!(found.as_deref(), Some("sha256:aa"));
        assert!(image_in(&db, DEFAULT_NAMESPACE, "sha256:aa")
            .expect("image")
            .is_some());
        assert_eq!(
            image_for_ref(&db, "k8s.io", "docker.io/library/a:1").expect("ref"),
            None
        );
        assert!(images_in(&db, "k8s.io").expect("list").is_empty());
        assert_eq!(
            namespaces_of(&db, "sha256:aa").expect("namespaces"),
            [DEFAULT_NAMESPACE]
        );
        // The same name may point at different images in two namespaces.
        db.transaction(|tx| {
            insert_image(
                tx,
                "k8s.io",
                &ImageRow {
                    id: "sha256:bb".into(),
                    parent: None,
                    created: None,
                    size: 1,
                    last_tag_time: None,
                },
                &[],
                "t",
            )?;
            set_ref(
                tx,
                "k8s.io",
                "docker.io/library/a:1",
                "sha256:bb",
                false,
                "t",
            )
        })
        .expect("k8s.io");
        let k8s = image_for_ref(&db, "k8s.io", "docker.io/library/a:1").expect("ref");
        assert_eq!(k8s.as_deref(), Some("sha256:bb"));
        assert_eq!(
            image_for_ref(&db, DEFAULT_NAMESPACE, "docker.io/library/a:1")
                .expect("ref")
                .as_deref(),
            Some("sha256:aa")
        );
        // Leaving one namespace keeps a row another holds; the last one deletes it.
        db.transaction(|tx| add_to_namespace(tx, "k8s.io", "sha256:aa", "t"))
            .expect("share");
        assert!(!delete_image(&db, DEFAULT_NAMESPACE, "sha256:aa").expect("leave"));
        assert!(image(&db, "sha256:aa").expect("row").is_some());
        assert!(delete_image(&db, "k8s.io", "sha256:aa").expect("last"));
        assert!(image(&db, "sha256:aa").expect("row").is_none());
    }
}

//! `docker tag` and `docker rmi`, with dockerd's conflict rules and messages.

use berth_api::models::ImageDeleteResponseItem;
use berth_types::{id, Digest, Reference};

use crate::config::now_rfc3339;
use crate::error::ImageError;
use crate::records;
use crate::service::ImageService;

/// A container that uses an image, as the daemon reports it to [`ImageService::remove`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    pub container_id: String,
    pub running: bool,
}

/// What may stop an image from being deleted (dockerd's conflict classes).
#[derive(Clone, Copy)]
struct Conflicts {
    running: bool,
    children: bool,
    references: bool,
    stopped: bool,
}

const HARD: Conflicts = Conflicts {
    running: true,
    children: true,
    references: false,
    stopped: false,
};
const HARD_AND_SOFT: Conflicts = Conflicts {
    running: true,
    children: true,
    references: true,
    stopped: true,
};

struct Conflict {
    message: String,
    /// A container uses the image (as opposed to a reference or child keeping it).
    used: bool,
}

fn untagged(name: String) -> ImageDeleteResponseItem {
    ImageDeleteResponseItem {
        untagged: Some(name),
        deleted: None,
    }
}

fn deleted(id: String) -> ImageDeleteResponseItem {
    ImageDeleteResponseItem {
        untagged: None,
        deleted: Some(id),
    }
}

impl ImageService {
    /// `docker tag name repo[:tag]` (`tag` empty means `latest`). A tag already pointing at
    /// another image is moved, as dockerd does.
    pub fn tag(&self, name: &str, repo: &str, tag: &str) -> Result<Reference, ImageError> {
        let image_id = self.resolve_id(name)?;
        // dockerd's `TagImage`: `repo`, then `tag` in place of any tag or digest it has.
        let reference =
            Reference::parse_repo_tag(repo, tag).map_err(|e| ImageError::Invalid(e.message))?;
        if reference.digest.is_some() {
            return Err(ImageError::Invalid(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        if reference.path == "sha256" || reference.familiar_name() == "sha256" {
            return Err(ImageError::Invalid(
                "refusing to create an ambiguous tag using digest algorithm as name".into(),
            ));
        }
        let _guard = self.lock()?;
        let now = now_rfc3339();
        self.db.transaction(|tx| -> Result<(), ImageError> {
            records::set_ref(tx, &self.ns, &reference.to_string(), &image_id, false, &now)?;
            Ok(())
        })?;
        Ok(reference)
    }

    /// Records `repo@digest` (a pulled or pushed manifest) for the image: its `RepoDigests`.
    pub fn add_digest_ref(
        &self,
        image_id: &str,
        repo: &str,
        digest: &str,
    ) -> Result<(), ImageError> {
        let reference = Reference::parse(&format!("{repo}@{digest}"))
            .map_err(|e| ImageError::Invalid(e.message))?;
        let _guard = self.lock()?;
        let now = now_rfc3339();
        self.db.transaction(|tx| -> Result<(), ImageError> {
            records::set_ref(tx, &self.ns, &reference.to_string(), image_id, true, &now)?;
            Ok(())
        })?;
        Ok(())
    }

    /// `docker rmi`. `users` lists the containers using an image id. Returns dockerd's
    /// `Untagged`/`Deleted` records, including the chain ids of layers nothing uses any more.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
        users: &dyn Fn(&str) -> Vec<ImageUser>,
    ) -> Result<Vec<ImageDeleteResponseItem>, ImageError> {
        let image_id = self.resolve_id(name)?;
        let _guard = self.lock()?;
        // Outside the Docker API's namespace, an image another namespace also holds is not
        // deleted by its removal here: no container using it can be in the way.
        let shared = &*self.ns != records::DEFAULT_NAMESPACE
            && records::namespaces_of(&self.db, &image_id)?
                .iter()
                .any(|n| *n != *self.ns);
        let no_users = |_: &str| Vec::new();
        let users: &dyn Fn(&str) -> Vec<ImageUser> = if shared { &no_users } else { users };
        let mut records_out = Vec::new();
        let mut repo_refs = records::refs_of(&self.db, &self.ns, &image_id)?;
        let mut removed_repository_ref = false;

        if !is_id_prefix(&image_id, name) {
            // A reference was named: untag it first.
            // Untagging the last reference of a used image would leave it dangling: that
            // needs force (dockerd checks isSingleReference, not the bare count).
            let using = users(&image_id);
            if let Some(user) = using.first() {
                if !force && is_single_reference(&repo_refs) {
                    return Err(ImageError::Conflict(format!(
                        "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                        id::short(&user.container_id),
                        id::short(&image_id)
                    )));
                }
            }
            let reference = self.reference_for(name, &repo_refs)?;
            records::delete_ref(&self.db, &self.ns, &reference.to_string())?;
            records_out.push(untagged(reference.familiar()));
            repo_refs = records::refs_of(&self.db, &self.ns, &image_id)?;

            // Dropping the last tag of a repository also drops that repository's digest refs.
            if reference.digest.is_none() {
                let repo = reference.name();
                let same_repo = |n: &str| {
                    Reference::parse(n)
                        .map(|r| r.name() == repo)
                        .unwrap_or(false)
                };
                let tags_left = repo_refs
                    .iter()
                    .any(|(n, is_digest)| !is_digest && same_repo(n));
                if !tags_left {
                    for (n, _) in repo_refs
                        .iter()
                        .filter(|(n, is_digest)| *is_digest && same_repo(n))
                    {
                        records::delete_ref(&self.db, &self.ns, n)?;
                        records_out.push(untagged(
                            Reference::parse(n)
                                .map(|r| r.familiar())
                                .unwrap_or_else(|_| n.clone()),
                        ));
                    }
                    repo_refs = records::refs_of(&self.db, &self.ns, &image_id)?;
                }
            }
            if !repo_refs.is_empty() {
                return Ok(records_out);
            }
            removed_repository_ref = true;
        } else if is_single_reference(&repo_refs) {
            // An id was named and one repository references the image: remove those references
            // too, unless something keeps the image.
            let mut mask = HARD;
            if !force {
                mask.stopped = true;
            }
            if let Some(conflict) = self.check_conflicts(&image_id, mask, users)? {
                return Err(ImageError::Conflict(conflict.message));
            }
            for (n, _) in &repo_refs {
                records::delete_ref(&self.db, &self.ns, n)?;
                records_out.push(untagged(
                    Reference::parse(n)
                        .map(|r| r.familiar())
                        .unwrap_or_else(|_| n.clone()),
                ));
            }
        }

        self.delete_image(
            &image_id,
            &mut records_out,
            force,
            !noprune,
            removed_repository_ref,
            users,
        )?;
        Ok(records_out)
    }

    fn reference_for(
        &self,
        name: &str,
        repo_refs: &[(String, bool)],
    ) -> Result<Reference, ImageError> {
        let mut r = Reference::parse_name_only(name).map_err(|e| ImageError::Invalid(e.message))?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(berth_types::reference::DEFAULT_TAG.to_string());
        }
        if repo_refs.iter().any(|(n, _)| *n == r.to_string()) {
            Ok(r)
        } else {
            Err(ImageError::NotFound(r.familiar()))
        }
    }

    /// dockerd's `imageDeleteHelper`: deletes the image unless a conflict stops it (`quiet`:
    /// conflicts of a still-tagged or used image just end the call), then garbage-collects
    /// the layers and blobs only it used, and with `prune` goes on to its untagged parent.
    fn delete_image(
        &self,
        image_id: &str,
        out: &mut Vec<ImageDeleteResponseItem>,
        force: bool,
        prune: bool,
        quiet: bool,
        users: &dyn Fn(&str) -> Vec<ImageUser>,
    ) -> Result<(), ImageError> {
        let mask = if force { HARD } else { HARD_AND_SOFT };
        if let Some(conflict) = self.check_conflicts(image_id, mask, users)? {
            let dangling = records::refs_of(&self.db, &self.ns, image_id)?.is_empty()
                && records::children_of(&self.db, image_id)?.is_empty();
            // After an untag, a still-used image simply stays (dockerd answers only "Untagged").
            if quiet && (!dangling || conflict.used) {
                return Ok(());
            }
            return Err(ImageError::Conflict(conflict.message));
        }
        let parent = records::image(&self.db, image_id)?.and_then(|r| r.parent);
        // Remaining references go with the image (force by id).
        for (n, _) in records::refs_of(&self.db, &self.ns, image_id)? {
            records::delete_ref(&self.db, &self.ns, &n)?;
            out.push(untagged(
                Reference::parse(&n).map(|r| r.familiar()).unwrap_or(n),
            ));
        }
        let layers = records::layers_of(&self.db, image_id)?;
        records::delete_image(&self.db, &self.ns, image_id)?;
        out.push(deleted(image_id.to_string()));

        // Only this image's layers and blobs are candidates; the collector keeps whatever
        // another image, a container snapshot or a lease still uses.
        let chains: Vec<Digest> = layers
            .iter()
            .rev()
            .filter_map(|l| l.chain_id.parse().ok())
            .collect();
        let mut blobs: Vec<Digest> = image_id.parse().ok().into_iter().collect();
        blobs.extend(
            layers
                .iter()
                .filter_map(|l| l.blob.as_deref()?.parse().ok()),
        );
        let report = self.collect_locked(Some((&chains, &blobs)))?;
        for chain in chains.iter().filter(|c| report.layers_removed.contains(c)) {
            out.push(deleted(chain.to_string()));
        }

        match parent.filter(|_| prune) {
            Some(parent) if records::image(&self.db, &parent)?.is_some() => {
                self.delete_image(&parent, out, false, true, true, users)
            }
            _ => Ok(()),
        }
    }

    fn check_conflicts(
        &self,
        image_id: &str,
        mask: Conflicts,
        users: &dyn Fn(&str) -> Vec<ImageUser>,
    ) -> Result<Option<Conflict>, ImageError> {
        let short = id::short(image_id).to_string();
        let hard = |message: String, used: bool| Conflict {
            message: format!("conflict: unable to delete {short} (cannot be forced) - {message}"),
            used,
        };
        let soft = |message: String, used: bool| Conflict {
            message: format!("conflict: unable to delete {short} (must be forced) - {message}"),
            used,
        };
        let using = users(image_id);
        if mask.running {
            if let Some(c) = using.iter().find(|u| u.running) {
                return Ok(Some(hard(
                    format!(
                        "image is being used by running container {}",
                        id::short(&c.container_id)
                    ),
                    true,
                )));
            }
        }
        if mask.children && !records::children_of(&self.db, image_id)?.is_empty() {
            return Ok(Some(hard("image has dependent child images".into(), false)));
        }
        if mask.references && !records::refs_of(&self.db, &self.ns, image_id)?.is_empty() {
            return Ok(Some(soft(
                "image is referenced in multiple repositories".into(),
                false,
            )));
        }
        if mask.stopped {
            if let Some(c) = using.iter().find(|u| !u.running) {
                return Ok(Some(soft(
                    format!(
                        "image is being used by stopped container {}",
                        id::short(&c.container_id)
                    ),
                    true,
                )));
            }
        }
        Ok(None)
    }
}

/// Whether `name` is (a prefix of) the image id, with or without `sha256:`.
fn is_id_prefix(image_id: &str, name: &str) -> bool {
    let hex = image_id.strip_prefix("sha256:").unwrap_or(image_id);
    image_id.starts_with(name) || (id::is_hex_prefix(name) && hex.starts_with(name))
}

/// dockerd's `isSingleReference`: one tag, possibly with digest refs of the same repository.
fn is_single_reference(refs: &[(String, bool)]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let repo = |n: &str| {
        Reference::parse(n)
            .map(|r| r.name())
            .unwrap_or_else(|_| n.to_string())
    };
    let mut single: Option<&str> = None;
    let mut digest_repos = std::collections::BTreeSet::new();
    for (n, is_digest) in refs {
        if *is_digest {
            digest_repos.insert(repo(n));
        } else if single.is_none() {
            single = Some(n);
        } else {
            return false;
        }
    }
    let single = single.unwrap_or(&refs[0].0);
    digest_repos.len() == 1 && digest_repos.contains(&repo(single))
}

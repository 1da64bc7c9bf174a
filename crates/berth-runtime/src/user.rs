//! Resolving docker's `--user user[:group]` against the rootfs's /etc/passwd and /etc/group
//! (moby/sys/user `GetExecUser`).

use std::path::Path;

use berth_types::inroot::Root;

/// ids must be in this range (moby/sys/user).
const MAX_ID: u64 = i32::MAX as u64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    /// `--group-add` names an unknown group (moby's capitalised wording for this case).
    #[error("Unable to find group {0}: no matching entries in group file")]
    NoAdditionalGroup(String),
    #[error("uids and gids must be in range 0-{MAX_ID}")]
    OutOfRange,
    #[error("reading {path} in the container: {message}")]
    Read { path: String, message: String },
}

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups from /etc/group (only when no group was given).
    pub additional_gids: Vec<u32>,
    /// The passwd entry's home, or "/" when there is none.
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`, ...) inside `rootfs`.
/// An empty spec is root.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<ResolvedUser, UserError> {
    let root = Root::open(rootfs).map_err(|e| read_error("/", e))?;
    let passwd = root
        .read_optional("/etc/passwd")
        .map_err(|e| read_error("/etc/passwd", e))?;
    let group = root
        .read_optional("/etc/group")
        .map_err(|e| read_error("/etc/group", e))?;
    resolve_in(
        spec,
        passwd.as_deref().unwrap_or(""),
        group.as_deref().unwrap_or(""),
    )
}

fn read_error(path: &str, e: std::io::Error) -> UserError {
    UserError::Read {
        path: path.to_string(),
        message: e.to_string(),
    }
}

/// `resolve` over the files' contents.
pub fn resolve_in(spec: &str, passwd: &str, group: &str) -> Result<ResolvedUser, UserError> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_arg = if user_arg.is_empty() { "0" } else { user_arg };
    let uid_num = parse_id(user_arg)?;
    let users = parse_passwd(passwd);
    let matched = users.iter().find(|u| match uid_num {
        Some(uid) => u.uid == uid,
        None => u.name == user_arg,
    });
    let mut resolved = match (matched, uid_num) {
        (Some(u), _) => ResolvedUser {
            uid: u.uid,
            gid: u.gid,
            additional_gids: vec![],
            home: u.home.clone(),
        },
        (None, Some(uid)) => ResolvedUser {
            uid,
            gid: 0,
            additional_gids: vec![],
            home: "/".into(),
        },
        (None, None) => return Err(UserError::NoUser(user_arg.to_string())),
    };
    let groups = parse_group(group);
    match group_arg.filter(|g| !g.is_empty()) {
        Some(g) => {
            let gid_num = parse_id(g)?;
            let found = groups.iter().find(|e| match gid_num {
                Some(gid) => e.gid == gid,
                None => e.name == g,
            });
            resolved.gid = match (found, gid_num) {
                (Some(e), _) => e.gid,
                (None, Some(gid)) => gid,
                (None, None) => return Err(UserError::NoGroup(g.to_string())),
            };
        }
        None => {
            if let Some(u) = matched {
                resolved.additional_gids = groups
                    .iter()
                    .filter(|e| e.members.contains(&u.name))
                    .map(|e| e.gid)
                    .collect();
            }
        }
    }
    Ok(resolved)
}

/// `--group-add` values (names looked up in `rootfs`'s /etc/group, else numbers), as
/// moby/sys/user `GetAdditionalGroupsPath`: the first matching entry by name or gid, a number
/// without an entry as itself, duplicates once.
pub fn additional_groups(rootfs: &Path, wanted: &[String]) -> Result<Vec<u32>, UserError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let root = Root::open(rootfs).map_err(|e| read_error("/", e))?;
    let group = root
        .read_optional("/etc/group")
        .map_err(|e| read_error("/etc/group", e))?;
    additional_groups_in(wanted, group.as_deref().unwrap_or(""))
}

/// `additional_groups` over the group file's contents.
pub fn additional_groups_in(wanted: &[String], group: &str) -> Result<Vec<u32>, UserError> {
    let groups = parse_group(group);
    let mut gids = Vec::new();
    for w in wanted {
        let found = groups
            .iter()
            .find(|g| g.name == *w || g.gid.to_string() == *w)
            .map(|g| g.gid);
        let gid = match found {
            Some(gid) => gid,
            None => match w.parse::<i64>() {
                Ok(n) if (0..=MAX_ID as i64).contains(&n) => n as u32,
                Ok(_) => return Err(UserError::OutOfRange),
                Err(_) => return Err(UserError::NoAdditionalGroup(w.clone())),
            },
        };
        if !gids.contains(&gid) {
            gids.push(gid);
        }
    }
    Ok(gids)
}

/// `Some(id)` for a number in range, `None` for a name.
fn parse_id(s: &str) -> Result<Option<u32>, UserError> {
    match s.parse::<u64>() {
        Ok(n) if n <= MAX_ID => Ok(Some(n as u32)),
        Ok(_) => Err(UserError::OutOfRange),
        Err(_) => Ok(None),
    }
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f
                    .get(5)
                    .map_or("/", |h| if h.is_empty() { "/" } else { h })
                    .to_string(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f.get(3).map_or(vec![], |m| {
                    m.split(',')
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect()
                }),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_add_takes_names_and_numbers() {
        let wanted = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            additional_groups_in(&wanted(&["staff", "1234", "10", "wheel"]), GROUP),
            Ok(vec![50, 1234, 10])
        );
        assert_eq!(
            additional_groups_in(&wanted(&["nosuch"]), GROUP),
            Err(UserError::NoAdditionalGroup("nosuch".into()))
        );
        assert_eq!(
            additional_groups_in(&wanted(&["99999999999"]), GROUP),
            Err(UserError::OutOfRange)
        );
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        alice:x:1000:1000:Alice:/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:alice,bob\nalice:x:1000:\nstaff:x:50:alice\n";

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("etc")).expect("mkdir");
        std::fs::write(dir.path().join("etc/passwd"), PASSWD).expect("passwd");
        std::fs::write(dir.path().join("etc/group"), GROUP).expect("group");
        dir
    }

    #[test]
    fn empty_is_root_with_its_home() {
        let r = resolve(rootfs().path(), "").expect("root");
        assert_eq!(
            r,
            ResolvedUser {
                uid: 0,
                gid: 0,
                additional_gids: vec![],
                home: "/root".into()
            }
        );
    }

    #[test]
    fn names_resolve_with_supplementary_groups() {
        let r = resolve(rootfs().path(), "alice").expect("alice");
        assert_eq!((r.uid, r.gid, r.home.as_str()), (1000, 1000, "/home/alice"));
        assert_eq!(r.additional_gids, vec![10, 50]);
        let r = resolve(rootfs().path(), "1000").expect("by uid");
        assert_eq!(
            r.additional_gids,
            vec![10, 50],
            "a uid that matches an entry gets its groups"
        );
    }

    #[test]
    fn explicit_groups_replace_the_primary_and_drop_supplementaries() {
        let r = resolve(rootfs().path(), "alice:wheel").expect("alice:wheel");
        assert_eq!((r.uid, r.gid), (1000, 10));
        assert!(r.additional_gids.is_empty());
        let r = resolve(rootfs().path(), "daemon:4242").expect("numeric gid");
        assert_eq!((r.uid, r.gid), (1, 4242));
    }

    #[test]
    fn numeric_ids_need_no_entries() {
        let r = resolve(rootfs().path(), "4000:4001").expect("numeric");
        assert_eq!(
            r,
            ResolvedUser {
                uid: 4000,
                gid: 4001,
                additional_gids: vec![],
                home: "/".into()
            }
        );
        let empty = tempfile::tempdir().expect("tempdir");
        assert_eq!(resolve(empty.path(), "").expect("no files").uid, 0);
        assert_eq!(resolve(empty.path(), "7").expect("no files").gid, 0);
    }

    #[test]
    fn unknown_names_fail_with_docker_s_words() {
        let e = resolve(rootfs().path(), "xyz").expect_err("unknown user");
        assert_eq!(
            e.to_string(),
            "unable to find user xyz: no matching entries in passwd file"
        );
        let e = resolve(rootfs().path(), "alice:nogroup").expect_err("unknown group");
        assert_eq!(
            e.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        assert_eq!(
            resolve(rootfs().path(), "99999999999"),
            Err(UserError::OutOfRange)
        );
    }

    #[test]
    fn passwd_is_read_inside_the_rootfs() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("etc")).expect("mkdir");
        // An absolute symlink must resolve inside the rootfs, not to the host's passwd.
        std::fs::write(
            dir.path().join("passwd.real"),
            "svc:x:321:321::/srv:/bin/sh\n",
        )
        .expect("write");
        std::os::unix::fs::symlink("/passwd.real", dir.path().join("etc/passwd")).expect("symlink");
        assert_eq!(resolve(dir.path(), "svc").expect("svc").uid, 321);
        assert!(
            resolve(dir.path(), "root").is_err(),
            "the host's passwd must not be read"
        );
    }
}

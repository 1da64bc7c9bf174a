//! Image references, normalised as docker does: `busybox` is `docker.io/library/busybox:latest`.

use std::fmt;
use std::str::FromStr;

use crate::{Digest, Error};

pub const DEFAULT_DOMAIN: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (with port), e.g. `docker.io` or `localhost:5000`.
    pub domain: String,
    /// Repository path, e.g. `library/busybox`.
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// dockerd's `ParseNormalizedNamed` followed by `TagNameOnly`: with neither tag nor digest
    /// the tag defaults to `latest`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let mut r = Self::parse_name_only(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// dockerd's `ParseNormalizedNamed` (distribution/reference `normalize.go`): the one strict
    /// parser of every reference that reaches berth, with dockerd's messages. The tag is not
    /// defaulted.
    pub fn parse_name_only(s: &str) -> Result<Self, Error> {
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::invalid(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote_name = remainder.split(':').next().unwrap_or("");
        if remote_name.to_lowercase() != remote_name {
            return Err(Error::invalid(format!(
                "invalid reference format: repository name ({remote_name}) must be lowercase"
            )));
        }
        let parsed = parse_reference(&format!("{domain}/{remainder}"))?;
        let (domain, path) = match parsed.name.split_once('/') {
            Some((d, p)) => (d.to_string(), p.to_string()),
            None => (DEFAULT_DOMAIN.to_string(), parsed.name.clone()),
        };
        Ok(Self {
            domain,
            path,
            tag: parsed.tag,
            digest: parsed.digest,
        })
    }

    /// dockerd's `WithTag`: this reference with `tag` (its digest, if any, kept). A tag outside
    /// `[\w][\w.-]{0,127}` is `invalid tag format`.
    pub fn with_tag(&self, tag: &str) -> Result<Self, Error> {
        if !valid_tag(tag) {
            return Err(Error::invalid("invalid tag format"));
        }
        Ok(Self {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// dockerd's `TrimNamed`: the repository alone, without tag or digest.
    pub fn trimmed(&self) -> Self {
        Self {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }

    /// `repo` then, when `tag` is not empty, that tag in place of any tag or digest `repo`
    /// had (`POST /images/{name}/tag`, `POST /commit`); with neither, `latest`.
    pub fn parse_repo_tag(repo: &str, tag: &str) -> Result<Self, Error> {
        let r = Self::parse_name_only(repo)?;
        if tag.is_empty() {
            let mut r = r;
            if r.tag.is_none() && r.digest.is_none() {
                r.tag = Some(DEFAULT_TAG.to_string());
            }
            return Ok(r);
        }
        r.trimmed().with_tag(tag)
    }

    /// `docker.io/library/busybox` — the repository without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short form docker shows: `busybox`, `me/app`, `localhost:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix("library/")
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.name()
        }
    }

    /// `busybox:latest` (or `busybox@sha256:...`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// The longest repository name (domain included) distribution accepts.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// distribution/reference's `splitDockerDomain` (as dockerd 20.10 vendors it): the first
/// component is a registry only when it has a `.` or `:` or is `localhost`; `index.docker.io`
/// is `docker.io`; official images get `library/`.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("library/{remainder}");
    }
    (domain, remainder)
}

const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";

/// What `ReferenceRegexp` captures: the name (domain included), tag and digest.
struct Parsed {
    name: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// distribution/reference's `Parse`: `ReferenceRegexp` anchored, then the name length and the
/// digest, each failure with distribution's message.
fn parse_reference(s: &str) -> Result<Parsed, Error> {
    let Some((name, tag, digest)) = match_reference(s) else {
        if s.is_empty() {
            return Err(Error::invalid(
                "repository name must have at least one component",
            ));
        }
        if match_reference(&s.to_ascii_lowercase()).is_some() {
            return Err(Error::invalid("repository name must be lowercase"));
        }
        return Err(Error::invalid("invalid reference format"));
    };
    if name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(Error::invalid(format!(
            "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )));
    }
    let digest = match digest {
        None => None,
        Some(d) => Some(parse_digest(d)?),
    };
    Ok(Parsed {
        name: name.to_string(),
        tag: tag.map(str::to_string),
        digest,
    })
}

/// go-digest's `Parse` on a string `DigestRegexp` matched, with its messages.
fn parse_digest(d: &str) -> Result<Digest, Error> {
    let (algorithm, hex) = d.split_once(':').unwrap_or((d, ""));
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(Error::invalid("unsupported digest algorithm")),
    };
    if hex.len() != len {
        return Err(Error::invalid("invalid checksum digest length"));
    }
    if !hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(Error::invalid("invalid checksum digest format"));
    }
    // sha384 is a valid go-digest algorithm that berth stores nothing under.
    d.parse::<Digest>()
        .map_err(|_| Error::invalid("unsupported digest algorithm"))
}

/// Matches `ReferenceRegexp` = `^(NameRegexp)(?::(TagRegexp))?(?:@(DigestRegexp))?$`.
fn match_reference(s: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
    let (rest, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        if !match_digest(d) {
            return None;
        }
    }
    // A tag can hold neither '/' nor ':', and a ':' in the name is followed by a '/' (a
    // registry port), so the tag is what follows a last ':' that has no '/' after it.
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        if !valid_tag(t) {
            return None;
        }
    }
    match_name(name).then_some((name, tag, digest))
}

/// `NameRegexp`: an optional domain and `/`, then name components separated by `/`.
fn match_name(name: &str) -> bool {
    let comps: Vec<&str> = name.split('/').collect();
    let Some((first, rest)) = comps.split_first() else {
        return false;
    };
    if !rest.iter().all(|c| valid_path_component(c)) {
        return false;
    }
    valid_path_component(first) || (!rest.is_empty() && valid_domain(first))
}

/// `DomainRegexp`: dot-separated components of `[a-zA-Z0-9]` with inner `-`, and an optional
/// `:port`.
fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    host.split('.').all(|c| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    })
}

/// `TagRegexp`: `[\w][\w.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// `DigestRegexp`: `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`.
fn match_digest(d: &str) -> bool {
    let Some((algorithm, hex)) = d.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    algorithm_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `nameComponentRegexp`: `[a-z0-9]+` runs separated by `.`, `_`, `__` or any number of `-`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        // A run of [a-z0-9]+.
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // A separator.
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let r = Reference::parse("busybox").expect("parse");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        let r = Reference::parse("me/app:v1").expect("parse");
        assert_eq!(r.name(), "docker.io/me/app");
        assert_eq!(r.familiar(), "me/app:v1");
        let r = Reference::parse("localhost:5000/app").expect("parse");
        assert_eq!(r.domain, "localhost:5000");
        assert_eq!(r.familiar(), "localhost:5000/app:latest");
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "a:b:c",
            "app:",
            "-app",
            "app@sha256:zz",
            "a//b",
            "../x",
            "../x:y",
            "a..b",
            "a/.b",
            "a._b",
            "a.",
            "foo:bar/baz",
            "localhost:/x",
            "-bad.io/x",
            "app:-x",
        ] {
            let e = Reference::parse(bad).expect_err(bad);
            assert_eq!(e.kind, crate::ErrorKind::InvalidArgument, "{bad}");
        }
    }

    fn message(s: &str) -> String {
        Reference::parse(s).expect_err(s).message
    }

    #[test]
    fn messages_are_distributions() {
        assert_eq!(message("../x"), "invalid reference format");
        assert_eq!(message("app:-x"), "invalid reference format");
        assert_eq!(
            message("Busybox"),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(
            message("Foo/bar:v1"),
            "invalid reference format: repository name (Foo/bar) must be lowercase"
        );
        assert_eq!(
            message(&"a".repeat(300)),
            "repository name must not be more than 255 characters"
        );
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(
            message(&hex),
            format!("invalid repository name ({hex}), cannot specify 64-byte hexadecimal strings")
        );
        assert_eq!(
            message(&format!("a@sha256:{}", "0".repeat(40))),
            "invalid checksum digest length"
        );
        assert_eq!(
            message(&format!("a@md5:{}", "0".repeat(32))),
            "unsupported digest algorithm"
        );
        let r = Reference::parse("busybox").expect("parse");
        assert_eq!(
            r.with_tag("-x").expect_err("tag").message,
            "invalid tag format"
        );
        assert_eq!(
            r.with_tag(&"t".repeat(129)).expect_err("tag").message,
            "invalid tag format"
        );
    }

    #[test]
    fn accepts_what_distribution_accepts() {
        // The longest name: 255 characters with the domain and `library/`.
        let longest = "a".repeat(255 - "docker.io/library/".len());
        assert_eq!(Reference::parse(&longest).expect("255").name().len(), 255);
        assert!(Reference::parse(&format!("{longest}a")).is_err());
        for (s, want) in [
            ("a__b/c--d/e.f_g", "docker.io/a__b/c--d/e.f_g:latest"),
            ("FOO.io/bar:V1", "FOO.io/bar:V1"),
            ("index.docker.io/foo", "docker.io/library/foo:latest"),
            ("localhost:5000/x:y", "localhost:5000/x:y"),
            ("localhost:5000", "docker.io/library/localhost:5000"),
            ("my-reg.io:443/a/b", "my-reg.io:443/a/b:latest"),
            ("_:_", ""),
        ] {
            match Reference::parse(s) {
                Ok(r) => assert_eq!(r.to_string(), want, "{s}"),
                Err(e) => assert!(want.is_empty(), "{s}: {}", e.message),
            }
        }
        let r = Reference::parse_repo_tag("me/app:old", "new").expect("repo tag");
        assert_eq!(r.familiar(), "me/app:new");
        let r = Reference::parse_repo_tag("me/app", "").expect("repo tag");
        assert_eq!(r.familiar(), "me/app:latest");
    }
}

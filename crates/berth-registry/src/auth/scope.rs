//! Access scopes as the token protocol spells them: `repository:<name>:pull,push`.

use std::fmt;

/// One resource and the actions wanted (or granted) on it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Scope {
    /// `repository` or `registry` (for `catalog`).
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Scope {
    pub fn repository(name: &str, actions: &[&str]) -> Self {
        Self {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// `registry:catalog:*`, needed for `/v2/_catalog`.
    pub fn catalog() -> Self {
        Self {
            kind: "registry".into(),
            name: "catalog".into(),
            actions: vec!["*".into()],
        }
    }

    /// Parses `type:name:action,action`. Names contain no `:` (a port would make it
    /// `host:port/name`, which clients do not send for a registry's own repositories).
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Self {
            kind: kind.into(),
            name: name.into(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    /// Whether `granted` scopes cover every action of this one (`*` grants all).
    pub fn covered_by(&self, granted: &[Scope]) -> bool {
        self.actions.iter().all(|wanted| {
            granted.iter().any(|g| {
                g.kind == self.kind
                    && g.name == self.name
                    && g.actions.iter().any(|a| a == wanted || a == "*")
            })
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_print_and_cover() {
        let s = Scope::parse("repository:a/b:pull,push").expect("parse");
        assert_eq!(s, Scope::repository("a/b", &["pull", "push"]));
        assert_eq!(s.to_string(), "repository:a/b:pull,push");
        assert!(Scope::parse("repository::pull").is_none());
        let granted = [Scope::repository("a/b", &["pull", "push"])];
        assert!(Scope::repository("a/b", &["pull"]).covered_by(&granted));
        assert!(!Scope::repository("a/b", &["delete"]).covered_by(&granted));
        assert!(!Scope::repository("a/c", &["pull"]).covered_by(&granted));
        assert!(
            Scope::repository("a/c", &["delete"]).covered_by(&[Scope::repository("a/c", &["*"])])
        );
    }
}

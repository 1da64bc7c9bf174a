//! Registry auth: credentials, `WWW-Authenticate` challenges and the token they lead to.

use base64::Engine as _;

/// A user's credentials for one registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// An identity token (OAuth refresh token) instead of a password.
    pub identity_token: String,
}

impl Credentials {
    pub fn is_empty(&self) -> bool {
        self.username.is_empty() && self.password.is_empty() && self.identity_token.is_empty()
    }

    /// `Basic <base64(user:password)>`.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WwwAuthenticate {
    Basic,
    Bearer {
        realm: String,
        service: String,
        scope: String,
    },
}

impl WwwAuthenticate {
    /// Parses `Basic realm="x"` or `Bearer realm="...",service="...",scope="..."`.
    pub fn parse(header: &str) -> Option<Self> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Self::Basic),
            "bearer" => {
                let mut realm = String::new();
                let mut service = String::new();
                let mut scope = String::new();
                for (k, v) in params_of(params) {
                    match k.as_str() {
                        "realm" => realm = v,
                        "service" => service = v,
                        "scope" => scope = v,
                        _ => {}
                    }
                }
                (!realm.is_empty()).then_some(Self::Bearer {
                    realm,
                    service,
                    scope,
                })
            }
            _ => None,
        }
    }
}

/// `k="v",k2=v2` pairs; commas inside quotes belong to the value.
fn params_of(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
        }
        out.push((key.trim().to_ascii_lowercase(), value));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            WwwAuthenticate::parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#
            ),
            Some(WwwAuthenticate::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: "registry.docker.io".into(),
                scope: "repository:library/busybox:pull,push".into(),
            })
        );
        assert_eq!(
            WwwAuthenticate::parse(r#"Basic realm="Registry Realm""#),
            Some(WwwAuthenticate::Basic)
        );
        assert_eq!(WwwAuthenticate::parse("Negotiate"), None);
    }

    #[test]
    fn basic_header() {
        let c = Credentials {
            username: "u".into(),
            password: "p".into(),
            ..Default::default()
        };
        assert_eq!(c.basic(), "Basic dTpw");
    }
}

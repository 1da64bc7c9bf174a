//! Parser directives (`# syntax=`, `# escape=`, `# check=`): only at the very top, each once.

use crate::error::ErrorKind;

/// The directives found at the top of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Directives {
    pub syntax: Option<String>,
    pub escape: Option<char>,
    pub check: Option<String>,
}

/// Tracks directives while the first lines are read.
#[derive(Debug)]
pub(crate) struct DirectiveState {
    pub found: Directives,
    pub escape: char,
    done: bool,
}

impl DirectiveState {
    pub(crate) fn new() -> Self {
        DirectiveState {
            found: Directives::default(),
            escape: '\\',
            done: false,
        }
    }

    /// Looks at one line; the first line that is not a known directive ends the directives.
    pub(crate) fn consider(&mut self, line: &str) -> Result<(), ErrorKind> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = match_directive(line) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        let slot_taken = match key.as_str() {
            "syntax" => self.found.syntax.is_some(),
            "escape" => self.found.escape.is_some(),
            "check" => self.found.check.is_some(),
            _ => {
                self.done = true;
                return Ok(());
            }
        };
        if slot_taken {
            return Err(ErrorKind::DuplicateDirective(key));
        }
        match key.as_str() {
            "syntax" => self.found.syntax = Some(value.to_string()),
            "check" => self.found.check = Some(value.to_string()),
            _ => {
                let escape = match value {
                    "`" => '`',
                    "\\" => '\\',
                    _ => return Err(ErrorKind::InvalidEscapeToken(value.to_string())),
                };
                self.escape = escape;
                self.found.escape = Some(escape);
            }
        }
        Ok(())
    }
}

/// `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
fn match_directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let key_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let key = &rest[..key_len];
    if !key.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[key_len..].trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_directive_lines() {
        assert_eq!(
            match_directive("# syntax=docker/dockerfile:1"),
            Some(("syntax", "docker/dockerfile:1"))
        );
        assert_eq!(match_directive("#ESCAPE = `  "), Some(("ESCAPE", "`")));
        assert_eq!(match_directive("# escape="), None);
        assert_eq!(match_directive("# just a comment"), None);
        assert_eq!(match_directive("#1x=y"), None);
    }

    #[test]
    fn only_before_other_lines_and_once() {
        let mut d = DirectiveState::new();
        d.consider("# escape=`").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(
            d.consider("# Escape=\\").unwrap_err().to_string(),
            "only one escape parser directive can be used"
        );
        let mut d = DirectiveState::new();
        d.consider("# a comment").unwrap();
        d.consider("# escape=`").unwrap();
        assert_eq!(d.escape, '\\');
        let mut d = DirectiveState::new();
        let err = d.consider("# escape=x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid escape token 'x' does not match ` or \\"
        );
    }
}

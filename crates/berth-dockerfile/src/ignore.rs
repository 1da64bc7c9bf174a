//! `.dockerignore`: which context paths a build leaves out, with moby/patternmatcher's rules.
//!
//! Each line is a pattern (`#` comments and blank lines skipped); `!` re-includes; patterns are
//! cleaned like Go's `filepath.Clean` and a leading `/` is dropped. `*` and `?` stay within one
//! path segment, `**` spans any number of them, and a pattern that matches a directory matches
//! everything below it. The last matching pattern decides.

use regex::Regex;

/// A pattern that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern {pattern:?}: {reason}")]
pub struct IgnoreError {
    pub pattern: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    regex: Regex,
}

/// The compiled patterns of a `.dockerignore` file.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        let mut patterns = Vec::new();
        // A UTF-8 byte order mark before the first pattern is not part of it.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let exclusion = pattern.starts_with('!');
            if exclusion {
                pattern = pattern[1..].trim();
            }
            if pattern.is_empty() {
                continue;
            }
            let mut cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let regex = compile(&cleaned).map_err(|reason| IgnoreError {
                pattern: line.to_string(),
                reason,
            })?;
            patterns.push(Pattern { exclusion, regex });
        }
        Ok(Self { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `rel_path` (slash-separated, relative to the context root) is left out: the last
    /// pattern matching it or one of its parent directories decides.
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let path = clean(rel_path.trim_start_matches('/'));
        let parents: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for p in &self.patterns {
            let mut matched = p.regex.is_match(&path);
            if !matched && parents.len() > 1 {
                for i in 1..parents.len() {
                    if p.regex.is_match(&parents[..i].join("/")) {
                        matched = true;
                        break;
                    }
                }
            }
            if matched {
                excluded = !p.exclusion;
            }
        }
        excluded
    }

    /// Whether some `!` pattern could re-include a path below the excluded directory `dir`, so a
    /// walker must still descend into it.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }
}

/// Go's `path.Clean` for slash-separated paths.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// patternmatcher's translation of a pattern into an anchored regular expression.
fn compile(pattern: &str) -> Result<Regex, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^");
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => {
                let next = chars.get(i).ok_or("trailing backslash")?;
                i += 1;
                re.push_str(&regex::escape(&next.to_string()));
            }
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .ok_or("unterminated character class")?;
                let mut class: String = chars[i..i + end].iter().collect();
                if let Some(rest) = class.strip_prefix('!') {
                    class = format!("^{rest}");
                }
                re.push('[');
                re.push_str(&class.replace('\\', "\\\\").replace('[', "\\["));
                re.push(']');
                i += end + 1;
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &str, path: &str) -> bool {
        DockerIgnore::parse(patterns).unwrap().is_excluded(path)
    }

    #[test]
    fn patternmatcher_cases() {
        // (pattern, path, excluded) from moby/patternmatcher's TestMatches table.
        let cases = [
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**/", "file/", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/dir2/file", true),
            ("**/file", "file", true),
            ("**/file", "dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(excluded(pattern, path), want, "{pattern} vs {path}");
        }
    }

    #[test]
    fn parents_exceptions_and_leading_slash() {
        let ig = "# comment\n\n/build\n*.md\n!README.md\nsecrets/\nlogs/**\n!logs/keep.log\n";
        assert!(excluded(ig, "build"));
        assert!(
            excluded(ig, "build/out/x.o"),
            "a matched directory excludes its contents"
        );
        assert!(excluded(ig, "notes.md"));
        assert!(!excluded(ig, "README.md"));
        assert!(!excluded(ig, "docs/notes.md"), "*.md is only the top level");
        assert!(excluded(ig, "secrets/key"));
        assert!(excluded(ig, "logs/a.log"));
        assert!(!excluded(ig, "logs/keep.log"));
        assert!(!excluded(ig, "src/main.rs"));
        assert!(!excluded(ig, "# comment"));
        assert!(excluded("./a/../b", "b"));
        assert!(
            excluded("\u{feff}secret\n", "secret"),
            "a BOM is not part of the pattern"
        );
        // docker-py's test_build_with_dockerignore patterns.
        let py = "ignored\nDockerfile\n.dockerignore\n ignored-with-spaces \n!ignored/subdir/excepted-file\n! ignored/subdir/excepted-with-spaces  \n\n#*\n";
        assert!(excluded(py, "ignored-with-spaces"));
        assert!(excluded(py, "ignored/subdir/file"));
        assert!(!excluded(py, "ignored/subdir/excepted-file"));
        assert!(!excluded(py, "ignored/subdir/excepted-with-spaces"));
        assert!(!excluded(py, "#file.txt"));
        assert!(!excluded(py, "not-ignored"));
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert!(DockerIgnore::parse("[abc").is_err());
        assert!(DockerIgnore::parse("abc\\").is_err());
    }

    #[test]
    fn clean_follows_go() {
        assert_eq!(clean("a//b/./c/.."), "a/b");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("/"), "/");
    }
}

//! Shell-like word processing and variable expansion, as BuildKit's `shell/lex.go`:
//! quotes, escapes, `$VAR`, `${VAR}`, `${VAR:-w}`, `${VAR-w}`, `${VAR:+w}`, `${VAR+w}`,
//! `${VAR:?w}`, `${VAR?w}`, `${VAR#p}`, `${VAR##p}`, `${VAR%p}`, `${VAR%%p}`, `${VAR/p/r}`, `${VAR//p/r}`.

use std::collections::{BTreeMap, HashMap};

use crate::instruction::{Add, ArgDef, Copy, From, Instruction, KeyValue, Run, SourcesAndDest};

/// Errors of word processing; the messages are BuildKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unexpected end of statement while looking for matching {0}")]
    UnexpectedEnd(char),
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern { pattern: String, reason: String },
    #[error("failed to process \"{source_word}\": {inner}")]
    Word {
        source_word: String,
        inner: Box<ExpandError>,
    },
}

/// The variables visible to an expansion (build args and ENV of the stage).
pub trait Env {
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl Env for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Env for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// Ordered `(name, value)` pairs; a later pair overrides an earlier one, as in an env list.
impl Env for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Env for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.as_slice().lookup(name)
    }
}

/// Processes words: removes quotes and escapes, expands variables, splits into words.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    pub escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters (heredoc bodies).
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset_env: bool,
}

/// The result of processing one word: the joined result and its split into words.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Processed {
    pub result: String,
    pub words: Vec<String>,
}

impl Lexer {
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// Expands `word` into one string (spaces kept), as `ProcessWord`.
    pub fn process_word(
        &self,
        word: &str,
        env: &(impl Env + ?Sized),
    ) -> Result<String, ExpandError> {
        Ok(self.process(word, env)?.result)
    }

    /// Expands `word` and splits the result into words, as `ProcessWords`.
    pub fn process_words(
        &self,
        word: &str,
        env: &(impl Env + ?Sized),
    ) -> Result<Vec<String>, ExpandError> {
        Ok(self.process(word, env)?.words)
    }

    pub fn process(&self, word: &str, env: &(impl Env + ?Sized)) -> Result<Processed, ExpandError> {
        let mut state = WordState {
            lexer: *self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
        };
        state
            .process_stop_on(None, self.raw_escapes)
            .map_err(|inner| ExpandError::Word {
                source_word: word.to_string(),
                inner: Box::new(inner),
            })
    }
}

#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct WordState<'a, E: Env + ?Sized> {
    lexer: Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a E,
    raw_escapes: bool,
}

impl<E: Env + ?Sized> WordState<'_, E> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<Processed, ExpandError> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let out = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        out
    }

    fn process_stop_on_inner(&mut self, stop: Option<char>) -> Result<Processed, ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok(Processed {
                    result,
                    words: words.finish(),
                });
            }
            let quotes = !self.lexer.skip_process_quotes;
            if ch == '$' {
                let value = self.process_dollar()?;
                result.push_str(&value);
                words.add_string(&value);
            } else if quotes && ch == '\'' {
                let value = self.process_single_quote()?;
                result.push_str(&value);
                words.add_raw_string(&value);
            } else if quotes && ch == '"' {
                let value = self.process_double_quote()?;
                result.push_str(&value);
                words.add_raw_string(&value);
            } else {
                self.pos += 1;
                if ch == self.lexer.escape {
                    if self.raw_escapes {
                        words.add_raw_char(ch);
                        result.push(ch);
                    }
                    // The escape character escapes the next one, and vanishes at the end.
                    let Some(escaped) = self.next() else { break };
                    words.add_raw_char(escaped);
                    result.push(escaped);
                } else {
                    words.add_char(ch);
                    result.push(ch);
                }
            }
        }
        if let Some(stop) = stop {
            return Err(ExpandError::UnexpectedEnd(stop));
        }
        Ok(Processed {
            result,
            words: words.finish(),
        })
    }

    fn process_single_quote(&mut self) -> Result<String, ExpandError> {
        let mut result = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(ExpandError::UnterminatedSingleQuote),
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(ch) => result.push(ch),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, ExpandError> {
        let mut result = String::new();
        let open = self.next();
        if self.lexer.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(ExpandError::UnterminatedDoubleQuote),
                Some('"') => {
                    self.pos += 1;
                    if self.lexer.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.lexer.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            // A trailing escape is dropped.
                            None => continue,
                            Some(next)
                                if next == '"' || next == '$' || next == self.lexer.escape =>
                            {
                                self.pos += 1;
                                ch = next;
                            }
                            // Other escapes stay literal inside double quotes.
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1; // the '$'
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.env.lookup(&name) {
                Some(v) => v.to_string(),
                None if self.lexer.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1; // the '{'
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.process_name();
        let Some(mut ch) = self.next() else {
            return Err(ExpandError::MissingBrace);
        };
        let mut modifier = ch.to_string();
        let mut null_is_unset = false;
        match ch {
            '}' => {
                return Ok(match self.env.lookup(&name) {
                    Some(v) => v.to_string(),
                    None if self.lexer.skip_unset_env => format!("${{{name}}}"),
                    None => String::new(),
                });
            }
            ':' => {
                null_is_unset = true;
                match self.next() {
                    Some(c) => {
                        ch = c;
                        modifier.push(c);
                    }
                    None => return Err(ExpandError::MissingBrace),
                }
            }
            _ => {}
        }
        if ch == '/' && !null_is_unset {
            return self.process_replace(name);
        }
        if !matches!(ch, '+' | '-' | '?' | '#' | '%') {
            return Err(ExpandError::UnsupportedModifier(modifier));
        }
        // Patterns keep their escapes: `\*` is a literal star.
        let raw_escapes = ch == '#' || ch == '%';
        let word = match self.process_stop_on(Some('}'), raw_escapes) {
            Ok(p) => p.result,
            Err(_) if self.peek().is_none() => return Err(ExpandError::MissingBrace),
            Err(e) => return Err(e),
        };
        let value = self.env.lookup(&name);
        if value.is_none() && self.lexer.skip_unset_env {
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        let unset = value.is_none() || (null_is_unset && value == Some(""));
        if ch == '#' || ch == '%' {
            // `#`/`%` remove the shortest prefix/suffix matching the pattern, `##`/`%%` the longest.
            let greedy = word.starts_with(ch);
            let pattern = if greedy { &word[1..] } else { word.as_str() };
            let pattern = Pattern::parse(pattern)?;
            let value: Vec<char> = value.unwrap_or_default().chars().collect();
            let n = value.len();
            let mut lengths: Vec<usize> = (0..=n).collect();
            if greedy {
                lengths.reverse();
            }
            let found = if ch == '#' {
                lengths
                    .into_iter()
                    .find(|&l| pattern.matches(&value[..l]))
                    .map(|l| value[l..].iter().collect())
            } else {
                lengths
                    .into_iter()
                    .find(|&l| pattern.matches(&value[n - l..]))
                    .map(|l| value[..n - l].iter().collect())
            };
            return Ok(found.unwrap_or_else(|| value.iter().collect()));
        }
        match ch {
            '-' => Ok(if unset {
                word
            } else {
                value.unwrap_or_default().to_string()
            }),
            '+' => Ok(if unset { String::new() } else { word }),
            _ => {
                let default = if value.is_none() {
                    "is not allowed to be unset"
                } else {
                    "is not allowed to be empty"
                };
                if unset {
                    let message = if word.is_empty() {
                        default.to_string()
                    } else {
                        word
                    };
                    return Err(ExpandError::Required { name, message });
                }
                Ok(value.unwrap_or_default().to_string())
            }
        }
    }

    /// `${VAR/pattern/replacement}` (first match) and `${VAR//pattern/replacement}` (all).
    fn process_replace(&mut self, name: String) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = match self.process_stop_on(Some('/'), true) {
            Ok(p) => p.result,
            Err(_) if self.peek().is_none() => return Err(ExpandError::MissingSlash),
            Err(e) => return Err(e),
        };
        let replacement = match self.process_stop_on(Some('}'), true) {
            Ok(p) => p.result,
            Err(_) if self.peek().is_none() => return Err(ExpandError::MissingBrace),
            Err(e) => return Err(e),
        };
        let Some(value) = self.env.lookup(&name) else {
            if self.lexer.skip_unset_env {
                return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
            }
            return Ok(String::new());
        };
        let compiled = Pattern::parse(&pattern)?;
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut replaced = false;
        while i < chars.len() {
            let longest = if replaced && !all {
                None
            } else {
                (i + 1..=chars.len())
                    .rev()
                    .find(|&end| compiled.matches(&chars[i..end]))
            };
            match longest {
                Some(end) => {
                    out.push_str(&replacement);
                    i = end;
                    replaced = true;
                }
                None => {
                    out.push(chars[i]);
                    i += 1;
                }
            }
        }
        Ok(out)
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.pos += 1;
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            self.pos += 1;
            name.push(ch);
        }
        name
    }
}

/// Expands the words of `instruction` where Dockerfile applies expansion, with `env` (the
/// stage's ARG and ENV values; for FROM, the ARGs declared before the first FROM).
///
/// Expanded: FROM's image and `--platform`; ENV and LABEL keys and values; ARG names and
/// defaults; ADD/COPY sources, destination, `--from`, `--chown`, `--chmod`, `--checksum`,
/// `--exclude` and the bodies of unquoted heredoc sources; EXPOSE (each word may split);
/// VOLUME, USER, WORKDIR, STOPSIGNAL; RUN's `--mount` and `--network`. Left for the shell:
/// RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK commands; MAINTAINER and ONBUILD are kept as written.
pub fn expand_instruction(
    instruction: &Instruction,
    escape: char,
    env: &(impl Env + ?Sized),
) -> Result<Instruction, ExpandError> {
    let lex = Lexer::new(escape);
    let word = |s: &str| lex.process_word(s, env);
    let opt = |s: &Option<String>| s.as_deref().map(word).transpose();
    let all = |v: &[String]| v.iter().map(|s| word(s)).collect::<Result<Vec<_>, _>>();
    let pairs = |v: &[KeyValue]| {
        v.iter()
            .map(|kv| {
                Ok(KeyValue {
                    key: word(&kv.key)?,
                    value: word(&kv.value)?,
                })
            })
            .collect::<Result<Vec<_>, ExpandError>>()
    };
    let paths = |p: &SourcesAndDest| -> Result<SourcesAndDest, ExpandError> {
        let body = Lexer {
            skip_process_quotes: true,
            ..lex
        };
        let inline_sources = p
            .inline_sources
            .iter()
            .map(|doc| {
                let mut doc = doc.clone();
                if doc.expand {
                    doc.content = body.process_word(&doc.content, env)?;
                }
                Ok(doc)
            })
            .collect::<Result<Vec<_>, ExpandError>>()?;
        Ok(SourcesAndDest {
            sources: all(&p.sources)?,
            inline_sources,
            dest: word(&p.dest)?,
        })
    };
    Ok(match instruction {
        Instruction::From(f) => Instruction::From(From {
            image: word(&f.image)?,
            stage_name: f.stage_name.clone(),
            platform: opt(&f.platform)?,
        }),
        Instruction::Env(kvs) => Instruction::Env(pairs(kvs)?),
        Instruction::Label(kvs) => Instruction::Label(pairs(kvs)?),
        Instruction::Arg(defs) => Instruction::Arg(
            defs.iter()
                .map(|d| {
                    Ok(ArgDef {
                        name: word(&d.name)?,
                        default: opt(&d.default)?,
                    })
                })
                .collect::<Result<Vec<_>, ExpandError>>()?,
        ),
        Instruction::Copy(c) => Instruction::Copy(Copy {
            paths: paths(&c.paths)?,
            from: opt(&c.from)?,
            chown: opt(&c.chown)?,
            chmod: opt(&c.chmod)?,
            link: c.link,
            parents: c.parents,
            exclude: all(&c.exclude)?,
        }),
        Instruction::Add(a) => Instruction::Add(Add {
            paths: paths(&a.paths)?,
            chown: opt(&a.chown)?,
            chmod: opt(&a.chmod)?,
            link: a.link,
            keep_git_dir: a.keep_git_dir,
            checksum: opt(&a.checksum)?,
            exclude: all(&a.exclude)?,
        }),
        Instruction::Expose(ports) => {
            let mut out = Vec::new();
            for p in ports {
                out.extend(lex.process_words(p, env)?);
            }
            Instruction::Expose(out)
        }
        Instruction::Volume(v) => Instruction::Volume(all(v)?),
        Instruction::User(u) => Instruction::User(word(u)?),
        Instruction::Workdir(w) => Instruction::Workdir(word(w)?),
        Instruction::StopSignal(s) => Instruction::StopSignal(word(s)?),
        Instruction::Run(r) => Instruction::Run(Run {
            mounts: all(&r.mounts)?,
            network: opt(&r.network)?,
            ..r.clone()
        }),
        Instruction::Cmd(_)
        | Instruction::Entrypoint(_)
        | Instruction::Shell(_)
        | Instruction::Healthcheck(_)
        | Instruction::Maintainer(_)
        | Instruction::OnBuild(_) => instruction.clone(),
    })
}

/// A shell pattern of `${VAR#...}`, `${VAR%...}`, `${VAR/...}`: `*`, `?` and `\\`-escaped literals.
#[derive(Debug)]
enum PatternToken {
    Star,
    Any,
    Char(char),
}

#[derive(Debug)]
struct Pattern(Vec<PatternToken>);

impl Pattern {
    fn parse(pattern: &str) -> Result<Pattern, ExpandError> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => PatternToken::Star,
                '?' => PatternToken::Any,
                '\\' => match chars.next() {
                    Some(e @ ('*' | '?' | '\\' | '}' | '/')) => PatternToken::Char(e),
                    other => {
                        let shown = other.map(String::from).unwrap_or_default();
                        return Err(ExpandError::InvalidPattern {
                            pattern: pattern.to_string(),
                            reason: format!("invalid escape '\\{shown}'"),
                        });
                    }
                },
                c => PatternToken::Char(c),
            });
        }
        Ok(Pattern(tokens))
    }

    /// Whether the whole of `text` matches.
    fn matches(&self, text: &[char]) -> bool {
        fn go(p: &[PatternToken], t: &[char]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some((PatternToken::Star, rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
                Some((PatternToken::Any, rest)) => !t.is_empty() && go(rest, &t[1..]),
                Some((PatternToken::Char(c), rest)) => t.first() == Some(c) && go(rest, &t[1..]),
            }
        }
        go(&self.0, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![
            ("A".into(), "a".into()),
            ("EMPTY".into(), String::new()),
            ("SP".into(), "x y".into()),
        ]
    }

    fn word(s: &str) -> String {
        Lexer::new('\\').process_word(s, &env()).unwrap()
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(word("$A"), "a");
        assert_eq!(word("${A}b"), "ab");
        assert_eq!(word("$Ab"), "");
        assert_eq!(word("$UNSET"), "");
        assert_eq!(word("x$"), "x$");
        assert_eq!(word("$1x"), "x");
    }

    #[test]
    fn modifiers_follow_posix() {
        assert_eq!(word("${UNSET:-w}"), "w");
        assert_eq!(word("${EMPTY:-w}"), "w");
        assert_eq!(word("${EMPTY-w}"), "");
        assert_eq!(word("${UNSET-w}"), "w");
        assert_eq!(word("${A:-w}"), "a");
        assert_eq!(word("${A:+w}"), "w");
        assert_eq!(word("${EMPTY:+w}"), "");
        assert_eq!(word("${EMPTY+w}"), "w");
        assert_eq!(word("${UNSET+w}"), "");
        assert_eq!(word("${UNSET:-$A}"), "a");
        assert_eq!(word("${A:?}"), "a");
    }

    #[test]
    fn required_variables_fail_with_buildkit_messages() {
        let lex = Lexer::new('\\');
        let err = lex.process_word("${UNSET:?}", &env()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to process \"${UNSET:?}\": UNSET: is not allowed to be unset"
        );
        let err = lex.process_word("${EMPTY:?must set}", &env()).unwrap_err();
        assert!(err.to_string().ends_with("EMPTY: must set"), "{err}");
        let err = lex.process_word("${EMPTY:?}", &env()).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("EMPTY: is not allowed to be empty"),
            "{err}"
        );
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(word("'$A'"), "$A");
        assert_eq!(word("\"$A\""), "a");
        assert_eq!(word("\\$A"), "$A");
        assert_eq!(word("\"\\$A\""), "$A");
        assert_eq!(word("\"a\\nb\""), "a\\nb");
        assert_eq!(word("\"a\\\"b\""), "a\"b");
        assert_eq!(word("a\\ b"), "a b");
        assert_eq!(word("'a\\b'"), "a\\b");
        assert_eq!(word("trail\\"), "trail");
    }

    #[test]
    fn backtick_escape() {
        let lex = Lexer::new('`');
        assert_eq!(lex.process_word("`$A", &env()).unwrap(), "$A");
        assert_eq!(lex.process_word("c:\\dir", &env()).unwrap(), "c:\\dir");
    }

    #[test]
    fn words_split_after_expansion_but_not_inside_quotes() {
        let lex = Lexer::new('\\');
        assert_eq!(
            lex.process_words("$SP z", &env()).unwrap(),
            vec!["x", "y", "z"]
        );
        assert_eq!(
            lex.process_words("\"$SP\" z", &env()).unwrap(),
            vec!["x y", "z"]
        );
        assert_eq!(lex.process_words("a\\ b", &env()).unwrap(), vec!["a b"]);
    }

    #[test]
    fn prefix_suffix_and_replace() {
        let lex = Lexer::new('\\');
        let e = env_with(&[("P", "dir/sub/file.tar.gz")]);
        let w = |s: &str| lex.process_word(s, &e).unwrap();
        assert_eq!(w("${P#*/}"), "sub/file.tar.gz");
        assert_eq!(w("${P##*/}"), "file.tar.gz");
        assert_eq!(w("${P%.*}"), "dir/sub/file.tar");
        assert_eq!(w("${P%%.*}"), "dir/sub/file");
        assert_eq!(w("${P#nomatch}"), "dir/sub/file.tar.gz");
        assert_eq!(w("${P/\\//-}"), "dir-sub/file.tar.gz");
        assert_eq!(w("${P//\\//-}"), "dir-sub-file.tar.gz");
        assert_eq!(w("${P/s?b/X}"), "dir/X/file.tar.gz");
        assert_eq!(w("${UNSET#x}"), "");
        let err = lex.process_word("${P/x", &e).unwrap_err().to_string();
        assert!(err.ends_with("syntax error: missing '/' in ${}"), "{err}");
    }

    fn env_with(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn syntax_errors() {
        let lex = Lexer::new('\\');
        let msg = |s: &str| lex.process_word(s, &env()).unwrap_err().to_string();
        assert!(msg("${A").ends_with("syntax error: missing '}'"));
        assert!(msg("${}").ends_with("syntax error: bad substitution"));
        assert!(msg("${:x}").ends_with("syntax error: bad substitution"));
        assert!(msg("${A:-x").ends_with("syntax error: missing '}'"));
        assert!(msg("'abc").ends_with("matching single-quote"));
        assert!(msg("\"abc").ends_with("matching double-quote"));
        assert!(msg("${A*x}").ends_with("unsupported modifier (*) in substitution"));
        assert!(msg("${A:/x/y}").ends_with("unsupported modifier (:/) in substitution"));
    }

    #[test]
    fn raw_modes_and_unset_skipping() {
        let lex = Lexer {
            raw_quotes: true,
            raw_escapes: true,
            skip_unset_env: true,
            ..Lexer::new('\\')
        };
        assert_eq!(
            lex.process_word("'x'\"$U\"\\n${U:-d}", &env()).unwrap(),
            "'x'\"$U\"\\n${U:-d}"
        );
        let heredoc = Lexer {
            skip_process_quotes: true,
            ..Lexer::new('\\')
        };
        assert_eq!(
            heredoc.process_word("echo '$A' \"x\"", &env()).unwrap(),
            "echo 'a' \"x\""
        );
    }
}

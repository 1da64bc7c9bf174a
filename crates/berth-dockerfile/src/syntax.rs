//! Splitting one logical line into keyword, flags and arguments, as BuildKit's
//! `split_command.go` and `line_parsers.go`.

use crate::error::ErrorKind;

/// `[\t\v\f\r ]` — BuildKit's separator for whitespace-delimited arguments (not `\n`).
pub(crate) fn is_separator(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Splits on runs of separators.
pub(crate) fn split_whitespace(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split(is_separator)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Splits `rest` once on the first run of separators.
pub(crate) fn split_once_whitespace(rest: &str) -> (&str, Option<&str>) {
    match rest.find(is_separator) {
        Some(i) => (&rest[..i], Some(rest[i..].trim_start_matches(is_separator))),
        None => (rest, None),
    }
}

/// One logical line split into its keyword (as written), flags and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitLine {
    pub keyword: String,
    pub flags: Vec<String>,
    pub rest: String,
}

pub(crate) fn split_command(line: &str) -> SplitLine {
    let (keyword, rest) = split_once_whitespace(line.trim());
    let (rest, flags) = match rest {
        Some(rest) => extract_flags(rest),
        None => (String::new(), Vec::new()),
    };
    SplitLine {
        keyword: keyword.to_string(),
        flags,
        rest: rest.trim().to_string(),
    }
}

/// Takes the leading `--flag[=value]` words (quotes and `\` processed in them); a bare `--`
/// ends the flags.
fn extract_flags(line: &str) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut i = 0;
    while i <= chars.len() {
        let at_end = i == chars.len();
        let (byte, ch) = chars.get(i).copied().unwrap_or((line.len(), '\0'));
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            let next = chars.get(i + 1).map(|c| c.1);
            if ch != '-' || next != Some('-') {
                return (line[byte..].to_string(), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        match phase {
            Phase::Word => {
                if ch.is_whitespace() {
                    if word == "--" {
                        return (line[byte..].to_string(), words);
                    }
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                    phase = Phase::Spaces;
                } else if ch == '\'' || ch == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(ch);
                } else if ch == '\\' {
                    if let Some(&(_, escaped)) = chars.get(i + 1) {
                        word.push(escaped);
                        i += 1;
                    }
                } else {
                    word.push(ch);
                }
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                } else if ch == '\\' {
                    match chars.get(i + 1) {
                        Some(&(_, escaped)) => {
                            word.push(escaped);
                            i += 1;
                        }
                        None => phase = Phase::Word,
                    }
                } else {
                    word.push(ch);
                }
            }
            Phase::Spaces => {}
        }
        i += 1;
    }
    (String::new(), words)
}

/// Words separated by whitespace, quotes and escapes kept for the later expansion
/// (BuildKit's `parseWords`, used by ENV, LABEL and ARG).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if !in_word {
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            in_word = true;
        }
        match quote {
            None => {
                if ch.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    in_word = false;
                    i += 1;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    if i + 1 == chars.len() {
                        i += 1;
                        continue;
                    }
                    word.push(ch);
                    i += 1;
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
                word.push(ch);
            }
            Some(q) => {
                if ch == q {
                    quote = None;
                }
                if ch == escape && q != '\'' {
                    if i + 1 == chars.len() {
                        quote = None;
                        i += 1;
                        continue;
                    }
                    word.push(ch);
                    i += 1;
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
                word.push(ch);
            }
        }
        i += 1;
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// A JSON array of strings (exec form); `Ok(None)` when the text is not a JSON array.
pub(crate) fn parse_json_array(rest: &str) -> Result<Option<Vec<String>>, ErrorKind> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(ErrorKind::JsonNotStrings),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_command_takes_keyword_flags_rest() {
        let s = split_command("  copy --from=build --chown=\"a b\" src dst ");
        assert_eq!(s.keyword, "copy");
        assert_eq!(s.flags, ["--from=build", "--chown=a b"]);
        assert_eq!(s.rest, "src dst");
        let s = split_command("RUN -- --not-a-flag");
        assert_eq!(s.flags, Vec::<String>::new());
        assert_eq!(s.rest, "--not-a-flag");
        let s = split_command("RUN -x");
        assert_eq!(s.rest, "-x");
        let s = split_command("EXPOSE");
        assert_eq!((s.keyword.as_str(), s.rest.as_str()), ("EXPOSE", ""));
    }

    #[test]
    fn parse_words_keeps_quotes_and_escapes() {
        assert_eq!(
            parse_words(r#"a="b c" d='e' f\ g"#, '\\'),
            [r#"a="b c""#, "d='e'", r"f\ g"]
        );
        assert_eq!(parse_words(r#"x="" y"#, '\\'), [r#"x="""#, "y"]);
        assert_eq!(parse_words("a`  b", '`'), ["a` ", "b"]);
    }

    #[test]
    fn json_arrays() {
        assert_eq!(
            parse_json_array(r#" ["a", "b c"]"#).unwrap(),
            Some(vec!["a".into(), "b c".into()])
        );
        assert_eq!(parse_json_array("[not json").unwrap(), None);
        assert_eq!(parse_json_array("echo [a]").unwrap(), None);
        assert_eq!(
            parse_json_array(r#"["a", 1]"#).unwrap_err(),
            ErrorKind::JsonNotStrings
        );
    }
}

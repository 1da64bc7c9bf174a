//! Heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) as BuildKit recognises them.

use crate::expand::{ExpandError, Lexer};

/// One heredoc of an instruction: its delimiter and the lines up to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter with quotes removed (`EOF`).
    pub name: String,
    /// The file descriptor before `<<` (0 when not written).
    pub file_descriptor: u32,
    /// False when any part of the delimiter was quoted: the body is then taken literally.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body and the delimiter line.
    pub chomp: bool,
    /// The body as written, each line with its newline.
    pub content: String,
}

impl Heredoc {
    /// The body with `<<-` tab stripping applied.
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// Recognises `word` as a heredoc redirection; `Ok(None)` when it is not one.
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, ExpandError> {
    let digits = word.bytes().take_while(u8::is_ascii_digit).count();
    let Some(after) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match after.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, after),
    };
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let file_descriptor = word[..digits].parse().unwrap_or(0);
    let none: [(String, String); 0] = [];
    let lexer = Lexer {
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    let words = lexer.process_words(rest, &none[..])?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = Lexer {
        raw_quotes: true,
        ..lexer
    }
    .process_words(rest, &none[..])?;
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    // A quote vanished in the unquoted reading: some of the delimiter was quoted.
    let expand = raw.first().is_some_and(|r| quotes(r) == quotes(name));
    Ok(Some(Heredoc {
        name: name.clone(),
        file_descriptor,
        expand,
        chomp,
        content: String::new(),
    }))
}

/// The heredocs named on an instruction line, in order.
pub(crate) fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, ExpandError> {
    let none: [(String, String); 0] = [];
    let lexer = Lexer {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset_env: true,
        ..Lexer::new('\\')
    };
    // BuildKit ignores a lexing error here: the line then names no heredoc.
    let words = lexer.process_words(line, &none[..]).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_forms() {
        let h = parse_heredoc("<<EOF").unwrap().unwrap();
        assert_eq!(
            (h.name.as_str(), h.expand, h.chomp, h.file_descriptor),
            ("EOF", true, false, 0)
        );
        let h = parse_heredoc("<<-\"END\"").unwrap().unwrap();
        assert_eq!((h.name.as_str(), h.expand, h.chomp), ("END", false, true));
        let h = parse_heredoc("3<<'X'").unwrap().unwrap();
        assert_eq!(
            (h.name.as_str(), h.expand, h.file_descriptor),
            ("X", false, 3)
        );
        let h = parse_heredoc("<<E\"O\"F").unwrap().unwrap();
        assert_eq!((h.name.as_str(), h.expand), ("EOF", false));
        assert_eq!(parse_heredoc("<<").unwrap(), None);
        assert_eq!(parse_heredoc("<<<EOF").unwrap(), None);
        assert_eq!(parse_heredoc("a<<EOF").unwrap(), None);
        assert_eq!(parse_heredoc("file").unwrap(), None);
    }

    #[test]
    fn several_per_line() {
        let docs = heredocs_from_line("COPY <<A <<-'B' /dst").unwrap();
        let names: Vec<_> = docs
            .iter()
            .map(|d| (d.name.as_str(), d.expand, d.chomp))
            .collect();
        assert_eq!(names, [("A", true, false), ("B", false, true)]);
        assert!(heredocs_from_line("RUN echo '<<EOF'").unwrap().is_empty());
    }

    #[test]
    fn chomp_strips_leading_tabs() {
        let h = Heredoc {
            name: "E".into(),
            file_descriptor: 0,
            expand: true,
            chomp: true,
            content: "\t\ta\n\t b\nc\n".into(),
        };
        assert_eq!(h.body(), "a\n b\nc\n");
    }
}

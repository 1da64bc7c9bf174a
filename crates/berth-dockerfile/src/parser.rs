//! From text to instructions: directives, comments, line continuations, heredoc bodies, and the
//! per-instruction line parsers (BuildKit's `parser.go` and `line_parsers.go`).

use crate::directives::DirectiveState;
use crate::error::{Error, ErrorKind};
use crate::heredoc::heredocs_from_line;
use crate::instruction::{to_instruction, Node, RawNode};
use crate::syntax::{
    parse_json_array, parse_words, split_command, split_once_whitespace, split_whitespace,
};
use crate::Dockerfile;

const EMPTY_CONTINUATION_WARNING: &str =
    "[WARNING]: Empty continuation lines will become errors in a future release.";

/// Parses `content`; `file` names the Dockerfile in errors.
pub fn parse(file: &str, content: &str) -> Result<Dockerfile, Error> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    let err = |line: usize, kind: ErrorKind| Error {
        file: file.to_string(),
        line,
        kind,
    };
    let mut directives = DirectiveState::new();
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut next = 0;
    let mut current_line = 0;

    while next < lines.len() {
        let raw = lines[next];
        next += 1;
        current_line += 1;
        let processed =
            process_line(&mut directives, raw, true).map_err(|k| err(current_line, k))?;
        let start_line = current_line;
        let escape = directives.escape;
        let (mut line, mut end_of_line) = trim_continuation(&processed, escape);
        if end_of_line && line.is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !end_of_line && next < lines.len() {
            let raw = lines[next];
            next += 1;
            current_line += 1;
            let processed =
                process_line(&mut directives, raw, false).map_err(|k| err(current_line, k))?;
            if is_comment(raw) {
                continue;
            }
            if processed.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, eol) = trim_continuation(&processed, escape);
            line.push_str(&part);
            end_of_line = eol;
        }
        if empty_continuation {
            warnings.push(format!(
                "[WARNING]: Empty continuation line found in:\n    {line}"
            ));
        }

        let mut raw_node = node_from_line(&line, escape).map_err(|k| err(start_line, k))?;
        if can_contain_heredoc(&raw_node) {
            let heredocs = heredocs_from_line(&line).map_err(|e| err(start_line, e.into()))?;
            for mut doc in heredocs {
                let mut terminated = false;
                while next < lines.len() {
                    let body_line = lines[next];
                    next += 1;
                    current_line += 1;
                    let mut candidate = body_line.trim_end_matches(['\r', '\n']);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(body_line);
                }
                if !terminated {
                    return Err(err(start_line, ErrorKind::UnterminatedHeredoc));
                }
                raw_node.heredocs.push(doc);
            }
            if let Some(sub) = raw_node.sub.as_mut() {
                sub.heredocs = raw_node.heredocs.clone();
            }
        }
        let instruction = to_instruction(&raw_node).map_err(|k| err(start_line, k))?;
        nodes.push(Node {
            instruction,
            start_line,
            end_line: current_line,
            original: line,
        });
    }

    if !warnings.is_empty() {
        warnings.push(EMPTY_CONTINUATION_WARNING.to_string());
    }
    if nodes.is_empty() {
        return Err(err(current_line, ErrorKind::NoInstructions));
    }
    Ok(Dockerfile {
        directives: directives.found,
        escape: directives.escape,
        nodes,
        warnings,
    })
}

/// Strips the newline (and leading space on a first line), checks for a directive, and blanks
/// a comment line.
fn process_line(
    directives: &mut DirectiveState,
    raw: &str,
    strip_left: bool,
) -> Result<String, ErrorKind> {
    let mut line = raw.trim_end_matches(['\r', '\n']);
    if strip_left {
        line = line.trim_start();
    }
    directives.consider(line)?;
    Ok(if line.starts_with('#') {
        String::new()
    } else {
        line.to_string()
    })
}

fn is_comment(raw: &str) -> bool {
    raw.trim_end_matches(['\r', '\n'])
        .trim_start()
        .starts_with('#')
}

/// Removes a trailing escape character (the continuation) unless it is itself escaped;
/// returns the line and whether it ends the instruction.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    let Some(before) = trimmed.strip_suffix(escape) else {
        return (line.to_string(), true);
    };
    if before.ends_with(escape) {
        return (line.to_string(), true);
    }
    (before.to_string(), false)
}

/// Splits a logical line and applies its instruction's line parser.
fn node_from_line(line: &str, escape: char) -> Result<RawNode, ErrorKind> {
    let split = split_command(line);
    let rest = split.rest.as_str();
    let mut node = RawNode {
        keyword: split.keyword.clone(),
        flags: split.flags,
        args: Vec::new(),
        json: false,
        original: line.to_string(),
        heredocs: Vec::new(),
        sub: None,
    };
    match split.keyword.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => match parse_json_array(rest)? {
            Some(args) => (node.args, node.json) = (args, true),
            None => node.args = split_whitespace(rest),
        },
        "cmd" | "entrypoint" | "run" | "shell" => (node.args, node.json) = maybe_json(rest)?,
        "arg" => node.args = parse_words(rest, escape),
        "env" => node.args = name_values(rest, "ENV", escape)?,
        "label" => node.args = name_values(rest, "LABEL", escape)?,
        "expose" | "from" => node.args = split_whitespace(rest),
        "maintainer" | "stopsignal" | "user" | "workdir" if !rest.is_empty() => {
            node.args = vec![rest.to_string()]
        }
        "healthcheck" => {
            let (kind, command) = split_once_whitespace(rest);
            if !kind.is_empty() {
                let (mut args, json) = maybe_json(command.unwrap_or(""))?;
                args.insert(0, kind.to_string());
                (node.args, node.json) = (args, json);
            }
        }
        "onbuild" if !rest.is_empty() => {
            let sub = node_from_line(rest, escape)?;
            node.args = std::iter::once(sub.keyword.clone())
                .chain(sub.args.iter().cloned())
                .collect();
            node.sub = Some(Box::new(sub));
        }
        _ => {}
    }
    Ok(node)
}

/// JSON array (exec form) or the whole text as one argument (shell form).
fn maybe_json(rest: &str) -> Result<(Vec<String>, bool), ErrorKind> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    Ok(match parse_json_array(rest)? {
        Some(args) => (args, true),
        None => (vec![rest.to_string()], false),
    })
}

/// ENV and LABEL: `key value` (old form) or `key=value ...`, flattened to key, value pairs.
fn name_values(rest: &str, name: &'static str, escape: char) -> Result<Vec<String>, ErrorKind> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        return match split_once_whitespace(rest) {
            (key, Some(value)) => Ok(vec![key.to_string(), value.to_string()]),
            (_, None) => Err(ErrorKind::TwoArguments(name)),
        };
    }
    let mut out = Vec::with_capacity(words.len() * 2);
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(ErrorKind::MissingEquals(word));
        };
        out.push(k.to_string());
        out.push(v.to_string());
    }
    Ok(out)
}

fn can_contain_heredoc(node: &RawNode) -> bool {
    let node = match (&node.sub, node.keyword.eq_ignore_ascii_case("onbuild")) {
        (Some(sub), true) => sub.as_ref(),
        _ => node,
    };
    let kw = node.keyword.to_ascii_lowercase();
    matches!(kw.as_str(), "add" | "copy" | "run") && !node.json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert_eq!(
            trim_continuation("RUN a \\", '\\'),
            ("RUN a ".to_string(), false)
        );
        assert_eq!(
            trim_continuation("RUN a \\  \t", '\\'),
            ("RUN a ".to_string(), false)
        );
        assert_eq!(trim_continuation("\\", '\\'), (String::new(), false));
        assert_eq!(
            trim_continuation("RUN a \\\\", '\\'),
            ("RUN a \\\\".to_string(), true)
        );
        assert_eq!(
            trim_continuation("RUN a `", '`'),
            ("RUN a ".to_string(), false)
        );
        assert_eq!(
            trim_continuation("RUN a \\", '`'),
            ("RUN a \\".to_string(), true)
        );
    }

    #[test]
    fn name_values_forms() {
        assert_eq!(name_values("k v w", "ENV", '\\').unwrap(), ["k", "v w"]);
        assert_eq!(
            name_values("a=1 b=\"2 3\"", "ENV", '\\').unwrap(),
            ["a", "1", "b", "\"2 3\""]
        );
        assert_eq!(
            name_values("k", "ENV", '\\').unwrap_err().to_string(),
            "ENV must have two arguments"
        );
        assert_eq!(
            name_values("a=1 b", "LABEL", '\\').unwrap_err().to_string(),
            "Syntax error - can't find = in \"b\". Must be of the form: name=value"
        );
    }
}

//! Program name, usage lines, and clap errors rewritten in docker's (pflag's) words.

use std::sync::OnceLock;

use clap::error::{ContextKind, ContextValue, ErrorKind};

static PROG: OnceLock<String> = OnceLock::new();

/// The name the user invoked us by (argv[0]'s basename).
pub fn prog() -> &'static str {
    PROG.get_or_init(|| {
        std::env::args_os()
            .next()
            .and_then(|a| {
                std::path::Path::new(&a)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "berth".to_string())
    })
}

/// The usage line after "Usage:  prog " for a command path ("run", "container ls").
pub fn usage_line(path: &str) -> String {
    let verb = path.rsplit(' ').next().unwrap_or(path);
    let rest = match verb {
        "run" => "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        "create" => "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        "start" => "[OPTIONS] CONTAINER [CONTAINER...]",
        "stop" | "restart" | "kill" | "rm" | "remove" => "[OPTIONS] CONTAINER [CONTAINER...]",
        "ps" | "ls" | "list" if !path.starts_with("image") => "[OPTIONS]",
        "images" | "ls" | "list" => "[OPTIONS] [REPOSITORY[:TAG]]",
        "logs" => "[OPTIONS] CONTAINER",
        "exec" => "[OPTIONS] CONTAINER COMMAND [ARG...]",
        "attach" => "[OPTIONS] CONTAINER",
        "inspect" if path.starts_with("image") => "[OPTIONS] IMAGE [IMAGE...]",
        "inspect" if path.starts_with("container") => "[OPTIONS] CONTAINER [CONTAINER...]",
        "inspect" => "[OPTIONS] NAME|ID [NAME|ID...]",
        "top" => "CONTAINER [ps OPTIONS]",
        "rename" => "CONTAINER NEW_NAME",
        "cp" => "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tdocker cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        "diff" => "CONTAINER",
        "export" => "[OPTIONS] CONTAINER",
        "commit" => "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
        "wait" => "CONTAINER [CONTAINER...]",
        "import" => "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        "tag" => "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        "rmi" => "[OPTIONS] IMAGE [IMAGE...]",
        "history" => "[OPTIONS] IMAGE",
        "save" => "[OPTIONS] IMAGE [IMAGE...]",
        "version" | "info" | "events" => "[OPTIONS]",
        "container" | "image" | "system" => "COMMAND",
        _ => "[OPTIONS]",
    };
    let rest = if path.starts_with("image ") && matches!(verb, "rm" | "remove") {
        "[OPTIONS] IMAGE [IMAGE...]"
    } else {
        rest
    };
    format!("{path} {rest}")
}

const GLOBAL_VALUE_FLAGS: [&str; 6] =
    ["-H", "--host", "-l", "--log-level", "--config", "--context"];

/// The command path in argv: "run", or "container ls".
pub fn command_path(args: &[String]) -> String {
    let mut words = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if a.starts_with('-') {
            if words.is_empty() && GLOBAL_VALUE_FLAGS.contains(&a.as_str()) {
                i += 1;
            }
            i += 1;
            continue;
        }
        words.push(a.clone());
        if !(a == "container" || a == "image") || words.len() == 2 {
            break;
        }
        i += 1;
    }
    words.join(" ")
}

/// The raw argv token a flag error is about ("--bogus", "-z", "-e").
fn offending_token(err: &clap::Error, args: &[String]) -> Option<String> {
    if err.kind() == ErrorKind::UnknownArgument {
        if let Some(ContextValue::String(s)) = err.get(ContextKind::InvalidArg) {
            return Some(s.split('=').next().unwrap_or(s).to_string());
        }
    }
    // a missing value: the flag is the last thing typed
    args.iter()
        .rev()
        .find(|a| a.starts_with('-'))
        .map(|a| a.split('=').next().unwrap_or(a).to_string())
}

/// pflag's wording for a bad flag.
fn flag_message(err: &clap::Error, args: &[String]) -> String {
    let token = offending_token(err, args).unwrap_or_default();
    let describe = |prefix: &str| {
        if let Some(long) = token.strip_prefix("--") {
            format!("{prefix}: --{long}")
        } else {
            let short = token.trim_start_matches('-').chars().next().unwrap_or('?');
            let which = if prefix == "unknown flag" {
                "unknown shorthand flag"
            } else {
                prefix
            };
            format!("{which}: '{short}' in -{short}")
        }
    };
    match err.kind() {
        ErrorKind::UnknownArgument => describe("unknown flag"),
        ErrorKind::InvalidValue
            if err
                .get(ContextKind::InvalidValue)
                .is_some_and(|v| matches!(v, ContextValue::String(s) if s.is_empty())) =>
        {
            describe("flag needs an argument")
        }
        ErrorKind::NoEquals => describe("flag needs an argument"),
        _ => {
            let text = err.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string();
            first
        }
    }
}

/// Turns a clap parse failure into docker's output and exit code.
pub fn from_clap(err: clap::Error, args: &[String]) -> (String, i32) {
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => (err.to_string(), 0),
        ErrorKind::InvalidSubcommand => {
            let prog = prog();
            let path = command_path(args);
            let parent = path
                .rsplit_once(' ')
                .map(|(p, _)| format!(" {p}"))
                .unwrap_or_default();
            let cmd = match err.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => path.clone(),
            };
            let hint = if parent.is_empty() {
                format!("{prog}: unknown command: {prog} {cmd}\n\nRun '{prog} --help' for more information")
            } else {
                format!(
                    "{prog}: unknown command: {prog}{parent} {cmd}\n\nUsage:  {prog}{parent}\n\nRun '{prog}{parent} --help' for more information"
                )
            };
            (hint, 1)
        }
        _ => {
            let prog = prog();
            let path = command_path(args);
            let msg = flag_message(&err, args);
            (
                format!(
                    "{msg}\n\nUsage:  {prog} {}\n\nRun '{prog} {path} --help' for more information",
                    usage_line(&path)
                ),
                125,
            )
        }
    }
}

/// pflag's error for a flag where the image (or container) should be: with
/// interspersed flags off, clap hands it to us as the first positional.
pub fn check_leading_flag(
    path: &str,
    first: Option<&String>,
) -> Result<(), crate::error::CliError> {
    let Some(token) = first.filter(|t| t.starts_with('-') && t.len() > 1) else {
        return Ok(());
    };
    let msg = if let Some(long) = token.strip_prefix("--") {
        format!("unknown flag: --{}", long.split('=').next().unwrap_or(long))
    } else {
        let c = token.chars().nth(1).unwrap_or('?');
        format!("unknown shorthand flag: '{c}' in {token}")
    };
    let prog = prog();
    Err(crate::error::CliError::status(
        125,
        format!(
            "{msg}\n\nUsage:  {prog} {}\n\nRun '{prog} {path} --help' for more information",
            usage_line(path)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_command_paths() {
        assert_eq!(
            command_path(&v(&["berth", "-H", "unix:///x", "run", "-d", "busybox"])),
            "run"
        );
        assert_eq!(
            command_path(&v(&["berth", "container", "ls", "-a"])),
            "container ls"
        );
        assert_eq!(command_path(&v(&["berth", "image", "rm", "x"])), "image rm");
    }

    #[test]
    fn usage_lines() {
        assert_eq!(usage_line("run"), "run [OPTIONS] IMAGE [COMMAND] [ARG...]");
        assert_eq!(
            usage_line("image ls"),
            "image ls [OPTIONS] [REPOSITORY[:TAG]]"
        );
        assert_eq!(usage_line("container ls"), "container ls [OPTIONS]");
        assert_eq!(
            usage_line("image rm"),
            "image rm [OPTIONS] IMAGE [IMAGE...]"
        );
    }
}

//! `-it` sessions: the client runs on a real pty made by `script(1)` (util-linux), whose stdin
//! and stdout are pipes the test writes and reads.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::cli::Spawned;

/// Quotes `arg` for `sh -c`.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Starts `program args...` on a pty with `env` set; `script -e` exits with its exit code.
pub fn spawn(program: &Path, args: &[&str], env: &[(&str, &str)]) -> std::io::Result<Spawned> {
    let line = std::iter::once(shell_quote(&program.to_string_lossy()))
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-f", "-e", "-c", &line, "/dev/null"])
        .stdin(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Spawned::spawn(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn quotes_what_the_shell_would_split() {
        assert_eq!(shell_quote("plain-arg"), "plain-arg");
        assert_eq!(shell_quote("two words"), "'two words'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn runs_a_command_on_a_terminal_and_reports_its_exit_code() {
        let mut s = spawn(
            Path::new("sh"),
            &[
                "-c",
                "[ -t 0 ] && echo on-a-tty; read x; echo got-$x; exit 4",
            ],
            &[],
        )
        .expect("script");
        assert!(
            s.wait_for_stdout("on-a-tty", Duration::from_secs(10)),
            "{}",
            s.stdout()
        );
        s.write_stdin(b"abc\n");
        assert_eq!(s.wait(Duration::from_secs(10)), Some(4));
        assert!(s.stdout().contains("got-abc"), "{}", s.stdout());
    }
}

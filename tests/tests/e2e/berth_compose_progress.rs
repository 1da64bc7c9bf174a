//! `berth compose` progress displays, as Compose v2 shows them: the redrawn tty block
//! (`--ansi always`, or a terminal), plain lines, JSON lines, and nothing with `quiet`.

use std::process::Command;

use berth_tests::cli;

use super::berth_compose::{Proj, COMPOSE_TIMEOUT};
use super::*;

const ONE_SERVICE: &str = r#"services:
  web:
    image: busybox
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
"#;

/// `berth compose -p <name> <display flags> <args>` without the suite's `--progress plain`.
fn compose(p: &Proj, display: &[&str], args: &[&str]) -> Command {
    let mut cmd = p.d.command(Client::Berth);
    cmd.current_dir(&p.dir)
        .env_remove("COMPOSE_ANSI")
        .env_remove("COMPOSE_PROGRESS")
        .env_remove("NO_COLOR")
        .args(["compose", "-p", &p.name])
        .args(display)
        .args(args);
    cmd
}

/// The text without its ANSI escape sequences.
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    out
}

#[test]
fn tty_block_is_redrawn_with_a_title_count_and_timers() {
    let Some(p) = Proj::start("bcprog", &[("compose.yaml", ONE_SERVICE)]) else {
        return;
    };
    let up = cli::run(
        compose(&p, &["--ansi", "always"], &["up", "-d"]),
        None,
        COMPOSE_TIMEOUT,
    );
    up.success();
    // Cursor movement: the block is drawn over itself, not appended line by line.
    assert!(up.stderr.contains("\x1b[?25l"), "{up}");
    let text = strip_ansi(&up.stderr);
    assert!(text.contains("[+] Running 2/2"), "{text}");
    let web = p.container("web", 1);
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains(&format!("Container {web}")))
        .unwrap_or_else(|| panic!("no line for {web}: {text}"));
    assert!(line.starts_with(" ✔ Container "), "{line:?}");
    assert!(line.contains(" Started"), "{line:?}");
    assert!(
        line.trim_end().ends_with('s'),
        "a timer ends the line: {line:?}"
    );
    assert!(
        text.contains(&format!(" ✔ Network {}", p.scoped("default"))),
        "{text}"
    );
    // Colour: the done mark is green.
    assert!(up.stderr.contains("\x1b[32m✔"), "{up}");

    // The title is the command's.
    let stop = cli::run(
        compose(&p, &["--ansi", "always"], &["stop"]),
        None,
        COMPOSE_TIMEOUT,
    );
    stop.success();
    assert!(
        strip_ansi(&stop.stderr).contains("[+] Stopping 1/1"),
        "{stop}"
    );
}

#[test]
fn a_terminal_gets_the_tty_block_unless_ansi_never() {
    let Some(p) = Proj::start("bcterm", &[("compose.yaml", ONE_SERVICE)]) else {
        return;
    };
    // util-linux `script` gives the command a pseudo-terminal.
    let run_in_pty = |display: &str| {
        let mut inner = compose(&p, &[], &[]);
        let argv: Vec<String> = std::iter::once(inner.get_program())
            .chain(inner.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .chain(display.split_whitespace().map(str::to_string))
            .chain(["up".to_string(), "-d".to_string()])
            .collect();
        let mut cmd = Command::new("script");
        cmd.args(["-q", "-e", "-c", &argv.join(" "), "/dev/null"]);
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(d) = inner.get_current_dir() {
            cmd.current_dir(d);
        }
        inner.env_clear();
        cli::run(cmd, None, COMPOSE_TIMEOUT)
    };
    let tty = run_in_pty("");
    tty.success();
    assert!(strip_ansi(&tty.stdout).contains("[+] Running"), "{tty}");
    let plain = run_in_pty("--ansi never");
    plain.success();
    assert!(!plain.stdout.contains("[+] Running"), "{plain}");
    assert!(
        plain
            .stdout
            .contains(&format!(" Container {}  Running", p.container("web", 1))),
        "{plain}"
    );
}

#[test]
fn plain_json_and_quiet_progress() {
    let Some(p) = Proj::start("bcjson", &[("compose.yaml", ONE_SERVICE)]) else {
        return;
    };
    let web = p.container("web", 1);
    let json = cli::run(
        compose(&p, &["--progress", "json"], &["up", "-d"]),
        None,
        COMPOSE_TIMEOUT,
    );
    json.success();
    let events: Vec<serde_json::Value> = json
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let id = format!("Container {web}");
    assert!(
        events
            .iter()
            .any(|e| e["id"] == id.as_str() && e["text"] == "Started"),
        "{json}"
    );

    // The environment chooses too, as compose's COMPOSE_PROGRESS.
    let mut cmd = compose(&p, &[], &["restart"]);
    cmd.env("COMPOSE_PROGRESS", "plain");
    let plain = cli::run(cmd, None, COMPOSE_TIMEOUT);
    plain
        .success()
        .stderr_has(&format!(" Container {web}  Started"));
    assert!(!plain.stderr.contains('\x1b'), "{plain}");

    let quiet = cli::run(
        compose(&p, &["--progress", "quiet"], &["stop"]),
        None,
        COMPOSE_TIMEOUT,
    );
    quiet.success();
    assert_eq!(quiet.stderr, "", "{quiet}");

    let bad = cli::run(
        compose(&p, &["--progress", "fancy"], &["ps"]),
        None,
        COMPOSE_TIMEOUT,
    );
    bad.code_is(1)
        .stderr_has("unsupported --progress value \"fancy\"");
}

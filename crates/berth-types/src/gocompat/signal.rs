//! Signals as docker names them: moby's Linux `SignalMap` (github.com/moby/sys/signal) and its
//! `ParseSignal` (`SIGTERM`, `TERM`, `term`, `15`, `RTMIN+3`).

/// moby's `sigrtmin`: glibc keeps 32 and 33 for itself.
pub const SIGRTMIN: i32 = 34;
/// moby's `sigrtmax`.
pub const SIGRTMAX: i32 = 64;

/// moby's Linux signal names without `SIG`, and their numbers; the real-time ones are
/// [`rt_signal`]'s `RTMIN`, `RTMIN+1` ... `RTMIN+15`, `RTMAX-14` ... `RTMAX`.
pub const SIGNALS: &[(&str, i32)] = &[
    ("ABRT", libc::SIGABRT),
    ("ALRM", libc::SIGALRM),
    ("BUS", libc::SIGBUS),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("FPE", libc::SIGFPE),
    ("HUP", libc::SIGHUP),
    ("ILL", libc::SIGILL),
    ("INT", libc::SIGINT),
    ("IO", libc::SIGIO),
    ("IOT", libc::SIGIOT),
    ("KILL", libc::SIGKILL),
    ("PIPE", libc::SIGPIPE),
    ("POLL", libc::SIGPOLL),
    ("PROF", libc::SIGPROF),
    ("PWR", libc::SIGPWR),
    ("QUIT", libc::SIGQUIT),
    ("SEGV", libc::SIGSEGV),
    ("STKFLT", libc::SIGSTKFLT),
    ("STOP", libc::SIGSTOP),
    ("SYS", libc::SIGSYS),
    ("TERM", libc::SIGTERM),
    ("TRAP", libc::SIGTRAP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("VTALRM", libc::SIGVTALRM),
    ("WINCH", libc::SIGWINCH),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
];

/// A signal docker does not know; `Display` is moby's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid signal: {0}")]
pub struct SignalError(pub String);

/// The number of a real-time signal name of moby's map: `RTMIN`, `RTMIN+1` ... `RTMIN+15`,
/// `RTMAX-14` ... `RTMAX-1`, `RTMAX`.
fn rt_signal(name: &str) -> Option<i32> {
    let offset = |rest: &str, sign: char| -> Option<i32> {
        if rest.is_empty() {
            return Some(0);
        }
        let digits = rest.strip_prefix(sign)?;
        // moby's map spells each offset without leading zeros or signs.
        if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return offset(rest, '+').filter(|n| *n <= 15).map(|n| SIGRTMIN + n);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return offset(rest, '-').filter(|n| *n <= 14).map(|n| SIGRTMAX - n);
    }
    None
}

/// The number of a signal name of moby's map (upper case, without `SIG`).
pub fn by_name(name: &str) -> Option<i32> {
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, num)| *num)
        .or_else(|| rt_signal(name))
}

/// moby's `ParseSignal`: a number (Go's `strconv.Atoi`, anything but 0), or a name of the map in
/// any case, with or without `SIG`.
pub fn parse_signal(raw: &str) -> Result<i32, SignalError> {
    if let Some(n) = atoi(raw) {
        return if n == 0 {
            Err(SignalError(raw.to_string()))
        } else {
            Ok(n)
        };
    }
    let upper = raw.to_ascii_uppercase();
    by_name(upper.strip_prefix("SIG").unwrap_or(&upper)).ok_or_else(|| SignalError(raw.to_string()))
}

/// Go's `strconv.Atoi` for a signal: an optional sign and decimal digits fitting an `i32`
/// (larger numbers are not signals anyway).
fn atoi(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// moby's Linux map in every spelling `ParseSignal` takes, its real-time range and its errors.
    #[test]
    fn parse_signal_as_moby() {
        assert_eq!(
            parse_signal("0").map_err(|e| e.to_string()),
            Err("Invalid signal: 0".into())
        );
        assert_eq!(
            parse_signal("SIG").map_err(|e| e.to_string()),
            Err("Invalid signal: SIG".into())
        );
        for (name, n) in SIGNALS {
            assert_eq!(parse_signal(name), Ok(*n), "{name}");
            assert_eq!(parse_signal(&format!("SIG{name}")), Ok(*n), "{name}");
            assert_eq!(parse_signal(&name.to_ascii_lowercase()), Ok(*n), "{name}");
        }
        assert_eq!(parse_signal("15"), Ok(15));
        assert_eq!(parse_signal("kill"), Ok(9));
        assert_eq!(parse_signal("SIGTERM"), Ok(15));
        assert_eq!(parse_signal("RTMIN"), Ok(34));
        assert_eq!(parse_signal("SIGRTMIN+1"), Ok(35));
        assert_eq!(parse_signal("rtmin+15"), Ok(49));
        assert_eq!(parse_signal("RTMAX-14"), Ok(50));
        assert_eq!(parse_signal("RTMAX-1"), Ok(63));
        assert_eq!(parse_signal("RTMAX"), Ok(64));
        for bad in [
            "RTMIN+16", "RTMAX-15", "RTMIN+01", "RTMIN-1", "RTMAX+1", "NOPE", "",
        ] {
            assert_eq!(parse_signal(bad), Err(SignalError(bad.into())), "{bad}");
        }
        // The Linux numbers docker users know.
        assert_eq!(by_name("HUP"), Some(1));
        assert_eq!(by_name("USR1"), Some(10));
        assert_eq!(by_name("WINCH"), Some(28));
        assert_eq!(by_name("PWR"), Some(30));
    }
}

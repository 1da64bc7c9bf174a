//! The local terminal: is it one, its size, and raw mode for `-it`.

use std::io::IsTerminal;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::termios::{self, SetArg, Termios};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TermError {
    #[error("the input device is not a TTY")]
    NotATty,
    #[error("failed to set the terminal mode: {0}")]
    Mode(#[from] nix::Error),
}

pub fn stdin_is_tty() -> bool {
    std::io::stdin().is_terminal()
}

/// (height, width) of the terminal on stdout (or stdin), if any.
pub fn window_size() -> Option<(u16, u16)> {
    for fd in [libc::STDOUT_FILENO, libc::STDIN_FILENO] {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one `winsize` into the valid, exclusively borrowed `ws`.
        let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
        if rc == 0 && ws.ws_row > 0 {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

/// Puts stdin in raw mode until dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub fn enable() -> Result<Self, TermError> {
        let stdin = std::io::stdin();
        let fd: BorrowedFd<'_> = stdin.as_fd();
        if !stdin.is_terminal() {
            return Err(TermError::NotATty);
        }
        let saved = termios::tcgetattr(fd)?;
        let mut raw = saved.clone();
        // like Go's term.MakeRaw: the container's TTY already does the output processing
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw)?;
        Ok(Self { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

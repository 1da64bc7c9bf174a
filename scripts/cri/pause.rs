//! critest's pause stand-in (scripts/critest): PID 1 of a pod that waits for SIGTERM or SIGINT
//! and exits 0, reaping whatever children it inherits meanwhile. Built by scripts/critest with
//! plain `rustc` (no crates), statically linked so the image needs no libc.

use std::os::raw::c_int;

const SIGINT: c_int = 2;
const SIGTERM: c_int = 15;
const SIGCHLD: c_int = 17;
const WNOHANG: c_int = 1;

extern "C" {
    fn signal(sig: c_int, handler: extern "C" fn(c_int)) -> usize;
    fn pause() -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn _exit(code: c_int) -> !;
}

extern "C" fn down(_: c_int) {
    // SAFETY: _exit is async-signal-safe and ends the process.
    unsafe { _exit(0) }
}

extern "C" fn reap(_: c_int) {
    // SAFETY: waitpid with a null status pointer and WNOHANG is async-signal-safe.
    while unsafe { waitpid(-1, std::ptr::null_mut(), WNOHANG) } > 0 {}
}

fn main() {
    // SAFETY: the handlers only call async-signal-safe functions.
    unsafe {
        signal(SIGINT, down);
        signal(SIGTERM, down);
        signal(SIGCHLD, reap);
    }
    loop {
        // SAFETY: pause has no preconditions; it returns after each handled signal.
        unsafe { pause() };
    }
}

//! critest's nonewprivs stand-in (scripts/critest; upstream: kubernetes test/images/nonewprivs):
//! installed setuid root, it prints the effective uid, which stays the caller's under
//! no_new_privs. Built with plain `rustc`, statically linked.

extern "C" {
    fn geteuid() -> u32;
}

fn main() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { geteuid() };
    println!("Effective uid: {euid}");
}

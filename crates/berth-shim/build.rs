//! Links the shim as a fixed-address (non-PIE) executable: a PIE this size carries ~20k
//! relative relocations, and applying them at every start dirties ~400 KiB of `.data.rel.ro`
//! in each shim, a quarter of its 2 MB resident-set budget. Shared libraries keep ASLR.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}

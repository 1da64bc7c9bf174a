//! `berth`: the docker-compatible command line (all of it in the library, see `lib.rs`).

fn main() {
    berth_cli::main()
}

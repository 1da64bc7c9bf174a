//! `berth-shim <path/to/shim.json>`: the per-container supervisor. The protocol is documented
//! in `berth_runtime::shim_proto`.

mod conn;
mod detach;
mod exit_file;
mod helper;
mod jsonlog;
mod launch;
mod oom;
mod proc_io;
mod requests;
mod runtime_select;
mod shimlog;
mod supervisor;
mod timefmt;
mod trim;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(config), None) = (args.next(), args.next()) else {
        eprintln!("usage: berth-shim <path/to/shim.json>");
        std::process::exit(2);
    };
    std::process::exit(launch::run(std::path::Path::new(&config)));
}

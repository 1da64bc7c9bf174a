//! `berth-shim <path/to/shim.json>`: the per-container supervisor. The protocol is documented
//! in `berth_runtime::shim_proto`.

mod bind_dev;
mod conn;
mod detach;
mod exit_file;
mod failpoint;
mod helper;
mod jsonlog;
mod launch;
mod oom;
mod proc_io;
mod requests;
mod runtime_select;
mod shimlog;
mod spare;
mod supervisor;
mod timefmt;
mod trace;
mod trim;

fn main() {
    let all: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if all
        .first()
        .is_some_and(|a| a == berth_runtime::spec::DEV_BIND_HOOK_ARG)
    {
        if let Err(e) = bind_dev::run(&all[1..]) {
            eprintln!("berth-shim: {e}");
            std::process::exit(1);
        }
        return;
    }
    if all
        .first()
        .is_some_and(|a| a == berth_runtime::shim_proto::SPARE_ARG)
    {
        std::process::exit(spare::run());
    }
    let mut args = all.into_iter();
    let (Some(config), None) = (args.next(), args.next()) else {
        eprintln!("usage: berth-shim <path/to/shim.json>");
        std::process::exit(2);
    };
    std::process::exit(launch::run(std::path::Path::new(&config)));
}

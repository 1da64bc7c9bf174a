//! A root process inside a limited container tries to lift its limits through the cgroup
//! filesystem (on the v1/hybrid layout and on pure v2), to write release_agent and
//! notify_on_release, and to make cgroups; the host-side values must hold, and so must the
//! limits themselves.

use std::path::{Path, PathBuf};

use berth_tests::{unique_name, Client, TestDaemon};

use crate::Ctx;

const ROOT: &str = "/sys/fs/cgroup";

fn unified() -> bool {
    Path::new(ROOT).join("cgroup.controllers").exists()
}

/// The host-side file of a container's cgroup: `controller` is the v1 hierarchy.
fn host_file(id: &str, controller: &str, v1: &str, v2: &str) -> PathBuf {
    if unified() {
        Path::new(ROOT).join("berth").join(id).join(v2)
    } else {
        Path::new(ROOT)
            .join(controller)
            .join("berth")
            .join(id)
            .join(v1)
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| format!("<{e}>"))
}

/// A shell function `try_write FILE VALUE` printing `WROTE FILE` when the write succeeded,
/// and `$p_<ctrl>` / `$u`: the container's own cgroup path in each v1 hierarchy and in v2.
const PRELUDE: &str = r#"
try_write() { [ -e "$1" ] || return 0; if (printf '%s\n' "$2" > "$1") 2>/dev/null; then echo "WROTE $1"; else echo "refused $1"; fi; }
own() { sed -n "s/^[0-9]*:[^:]*$1[^:]*:\(.*\)\$/\1/p" /proc/self/cgroup | head -1; }
u=$(sed -n 's/^0::\(.*\)$/\1/p' /proc/self/cgroup); [ "$u" = / ] && u=
"#;

/// The candidate paths of a cgroup file as the container may see it: its own cgroup bound at
/// the hierarchy's mount point (runc's layout), or the whole hierarchy.
fn candidates(controller: &str, v1: &str, v2: &str) -> String {
    format!(
        "p=$(own {controller}); [ \"$p\" = / ] && p=; for f in {ROOT}/{controller}/{v1} {ROOT}/{controller}$p/{v1} {ROOT}/{v2} {ROOT}$u/{v2}; do"
    )
}

struct Limit {
    check: &'static str,
    flags: &'static [&'static str],
    controller: &'static str,
    v1: &'static str,
    v2: &'static str,
    /// What the container writes: v1, v2.
    raise: (&'static str, &'static str),
    /// A script run after the attempts, printing what the limit let it do.
    exercise: &'static str,
}

const LIMITS: &[Limit] = &[
    Limit {
        check: "memory-limit",
        flags: &["-m", "64m"],
        controller: "memory",
        v1: "memory.limit_in_bytes",
        v2: "memory.max",
        raise: ("1073741824", "max"),
        // 150 MB in a shell variable: killed by the OOM killer under a 64 MB limit.
        exercise: "x=$(head -c 157286400 /dev/zero | tr '\\0' a); echo survived ${#x}",
    },
    Limit {
        check: "pids-limit",
        flags: &["--pids-limit", "20"],
        controller: "pids",
        v1: "pids.max",
        v2: "pids.max",
        raise: ("max", "max"),
        exercise: "i=0; while [ $i -lt 40 ]; do sleep 60 & i=$((i+1)); done 2>/dev/null; sleep 0.5; echo procs $(ls -d /proc/[0-9]* | wc -l)",
    },
    Limit {
        check: "cpu-quota",
        flags: &["--cpu-quota", "50000", "--cpu-period", "100000"],
        controller: "cpu",
        v1: "cpu.cfs_quota_us",
        v2: "cpu.max",
        raise: ("-1", "max 100000"),
        exercise: "true",
    },
];

fn start(ctx: &Ctx, d: &TestDaemon, flags: &[&str]) -> (String, String) {
    let name = unique_name("rel-cg");
    let mut args = vec![
        "run".to_string(),
        "-d".into(),
        "--name".into(),
        name.clone(),
    ];
    args.extend(ctx.runtime_args());
    args.extend(flags.iter().map(|f| f.to_string()));
    args.extend(["busybox", "sleep", "600"].map(String::from));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = d.berth(&refs).success().out().to_string();
    (name, id)
}

fn inside(d: &TestDaemon, name: &str, script: &str) -> berth_tests::Out {
    d.run(
        Client::Berth,
        &["exec", name, "sh", "-c", &format!("{PRELUDE}\n{script}")],
    )
}

fn wrote(out: &berth_tests::Out) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with("WROTE ") || l.starts_with("MADE "))
        .map(str::to_string)
        .collect()
}

pub fn run(ctx: &mut Ctx) {
    let Some(d) = ctx.daemon("cgroup") else {
        return;
    };
    let layout = if unified() { "v2" } else { "v1/hybrid" };
    for l in LIMITS {
        ctx.check(&format!("cgroup/{}", l.check), |ctx| {
            limit(ctx, &d, l, layout)
        });
    }
    ctx.check("cgroup/release-agent", |ctx| release_agent(ctx, &d));
    ctx.check("cgroup/mkdir", |ctx| mkdir(ctx, &d));
    ctx.teardown("cgroup", d);
}

fn limit(ctx: &mut Ctx, d: &TestDaemon, l: &Limit, layout: &str) -> Result<(), String> {
    let (name, id) = start(ctx, d, l.flags);
    let host = host_file(&id, l.controller, l.v1, l.v2);
    let before = read(&host);
    let value = if unified() { l.raise.1 } else { l.raise.0 };
    let script = format!(
        "{}{} try_write \"$f\" '{value}'; done",
        // v1 memory: the swap limit caps the memory limit, so it goes first.
        if l.controller == "memory" {
            format!(
                "{} try_write \"$f\" '{value}'; done; ",
                candidates("memory", "memory.memsw.limit_in_bytes", "memory.swap.max")
            )
        } else {
            String::new()
        },
        candidates(l.controller, l.v1, l.v2)
    );
    let attempt = inside(d, &name, &script);
    let exercised = inside(d, &name, l.exercise);
    let after = read(&host);
    // What the kernel counts, from the host (the container may be unable to fork a counter).
    let pids_now = read(&host_file(&id, "pids", "pids.current", "pids.current"));
    let wrote = wrote(&attempt);
    let result = exercised
        .stdout
        .lines()
        .last()
        .unwrap_or("(killed)")
        .to_string();
    let result = if exercised.code == 137 {
        "killed by the OOM killer".to_string()
    } else {
        result
    };
    ctx.figure(
        "cgroup limits",
        format!(
            "{} ({layout}, {}): writes from inside: {}; host {} {before:?} -> {after:?}; then: {result} (pids.current {pids_now})",
            l.check,
            l.flags.join(" "),
            if wrote.is_empty() {
                "all refused".to_string()
            } else {
                wrote.join(", ")
            },
            host.display()
        ),
    );
    d.berth(&["rm", "-f", &name]).success();
    let mut bad = Vec::new();
    if !wrote.is_empty() {
        bad.push(format!(
            "the container wrote its limits: {}",
            wrote.join(", ")
        ));
    }
    if before != after {
        bad.push(format!(
            "host {} went from {before:?} to {after:?}",
            host.display()
        ));
    }
    match l.check {
        "memory-limit" if result.starts_with("survived") => {
            bad.push(format!("150 MB allocated under -m 64m: {result}"))
        }
        "pids-limit" => {
            let n: usize = pids_now.parse().unwrap_or(usize::MAX);
            if n > 20 {
                bad.push(format!("pids.current is {pids_now} under --pids-limit 20"));
            }
        }
        _ => {}
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("\n"))
    }
}

/// The v1 hierarchies' mount points (none on pure v2).
fn hierarchies() -> Vec<PathBuf> {
    if unified() {
        return Vec::new();
    }
    std::fs::read_dir(ROOT)
        .map(|e| {
            e.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !p.is_symlink() && p.join("cgroup.procs").exists())
                .collect()
        })
        .unwrap_or_default()
}

fn release_agent(ctx: &mut Ctx, d: &TestDaemon) -> Result<(), String> {
    let (name, id) = start(ctx, d, &["-m", "64m"]);
    let files: Vec<PathBuf> = hierarchies()
        .iter()
        .flat_map(|h| {
            [
                h.join("release_agent"),
                h.join("notify_on_release"),
                h.join("berth").join(&id).join("notify_on_release"),
            ]
        })
        .filter(|p| p.exists())
        .collect();
    let before: Vec<String> = files.iter().map(|f| read(f)).collect();
    // Each file is written with its current value: nothing changes even where it is allowed.
    let script = format!(
        "for h in {ROOT}/*/; do c=$(basename $h); p=$(own $c); [ \"$p\" = / ] && p=; \
         for f in $h/release_agent $h/notify_on_release $h$p/notify_on_release; do \
         [ -e $f ] && try_write $f \"$(cat $f)\"; done; done"
    );
    let attempt = inside(d, &name, &script);
    let after: Vec<String> = files.iter().map(|f| read(f)).collect();
    let wrote = wrote(&attempt);
    let changed: Vec<String> = files
        .iter()
        .zip(before.iter().zip(&after))
        .filter(|(_, (b, a))| b != a)
        .map(|(f, (b, a))| format!("{} {b:?} -> {a:?}", f.display()))
        .collect();
    ctx.figure(
        "cgroup limits",
        format!(
            "release_agent/notify_on_release: writes from inside: {}; host files changed: {}",
            if wrote.is_empty() {
                "all refused".to_string()
            } else {
                wrote.join(", ")
            },
            if changed.is_empty() {
                "none".to_string()
            } else {
                changed.join(", ")
            }
        ),
    );
    d.berth(&["rm", "-f", &name]).success();
    if wrote.is_empty() && changed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "writable from inside: {}\nchanged on the host: {}",
            wrote.join(", "),
            changed.join(", ")
        ))
    }
}

fn mkdir(ctx: &mut Ctx, d: &TestDaemon) -> Result<(), String> {
    let (name, id) = start(ctx, d, &["-m", "64m"]);
    let dir = unique_name("rel-escape");
    let script = format!(
        "for h in {ROOT} {ROOT}/*; do [ -e $h/cgroup.procs ] || continue; c=$(basename $h); p=$(own $c); [ \"$p\" = / ] && p=; \
         for t in $h/{dir} $h$p/{dir} $h$u/{dir}; do mkdir $t 2>/dev/null && echo MADE $t; done; done; true"
    );
    let attempt = inside(d, &name, &script);
    let made = wrote(&attempt);
    // Where such directories appear on the host; removed again.
    let mut places: Vec<PathBuf> = vec![
        Path::new(ROOT).to_path_buf(),
        Path::new(ROOT).join("berth").join(&id),
    ];
    for h in hierarchies() {
        places.push(h.join("berth").join(&id));
        places.push(h);
    }
    let found: Vec<PathBuf> = places
        .iter()
        .map(|p| p.join(&dir))
        .filter(|p| p.is_dir())
        .collect();
    for p in &found {
        let _ = std::fs::remove_dir(p);
    }
    ctx.figure(
        "cgroup limits",
        format!(
            "mkdir under {ROOT}: from inside {}; on the host: {}",
            if made.is_empty() {
                "all refused".to_string()
            } else {
                made.join(", ")
            },
            if found.is_empty() {
                "nothing".to_string()
            } else {
                found
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    );
    d.berth(&["rm", "-f", &name]).success();
    if made.is_empty() && found.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "cgroups made from inside: {}; appeared on the host: {found:?}",
            made.join(", ")
        ))
    }
}

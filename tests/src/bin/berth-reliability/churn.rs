//! Churn with leak accounting: the same run/rm cycle many times, a census of everything the
//! daemon holds on the host before and after; any count that grew is a leak.

use std::time::Duration;

use berth_tests::leaks::Census;
use berth_tests::{unique_name, TestDaemon};

use crate::Ctx;

/// berthd's fds move with idle connections and its log; more growth than this is a leak.
const FD_SLACK: usize = 4;

/// One kind of cycle.
struct Variant {
    name: &'static str,
    /// The share of the cycles it runs (1: all; the slow ones run fewer).
    divisor: usize,
    cycle: fn(&TestDaemon, &[String]) -> Result<(), String>,
}

fn berth(d: &TestDaemon, args: &[&str]) -> berth_tests::Out {
    d.berth(args)
}

/// `berth run <runtime> <args>`, which must exit `code`.
fn run_ctr(d: &TestDaemon, rt: &[String], args: &[&str], code: i32) -> Result<(), String> {
    let mut all = vec!["run"];
    all.extend(rt.iter().map(String::as_str));
    all.extend_from_slice(args);
    let out = berth(d, &all);
    if out.code == code {
        Ok(())
    } else {
        Err(format!("expected exit {code}: {out}"))
    }
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "default-bridge",
        divisor: 1,
        cycle: |d, rt| run_ctr(d, rt, &["--rm", "busybox", "true"], 0),
    },
    Variant {
        name: "published-port",
        divisor: 1,
        cycle: |d, rt| {
            let name = unique_name("rel-port");
            run_ctr(
                d,
                rt,
                &[
                    "-d",
                    "--name",
                    &name,
                    "-p",
                    "127.0.0.1::80",
                    "busybox",
                    "sleep",
                    "300",
                ],
                0,
            )?;
            let out = berth(d, &["rm", "-f", &name]);
            (out.code == 0).then_some(()).ok_or_else(|| out.to_string())
        },
    },
    Variant {
        name: "user-network",
        divisor: 1,
        cycle: |d, rt| {
            let net = unique_name("rel-net");
            let out = berth(d, &["network", "create", &net]);
            if out.code != 0 {
                return Err(out.to_string());
            }
            run_ctr(d, rt, &["--rm", "--network", &net, "busybox", "true"], 0)?;
            let out = berth(d, &["network", "rm", &net]);
            (out.code == 0).then_some(()).ok_or_else(|| out.to_string())
        },
    },
    Variant {
        name: "anonymous-volume",
        divisor: 1,
        cycle: |d, rt| {
            run_ctr(
                d,
                rt,
                &["--rm", "-v", "/data", "busybox", "touch", "/data/x"],
                0,
            )
        },
    },
    // dockerd removes the image volume of a `run --rm` whose command does not exist.
    Variant {
        name: "failed-run-rm-image-volume",
        divisor: 5,
        cycle: |d, rt| {
            run_ctr(
                d,
                rt,
                &["--rm", "rel-volimage:1", "e2e-no-such-command"],
                127,
            )
        },
    },
];

pub fn run(ctx: &mut Ctx) {
    let Some(d) = ctx.daemon("churn") else {
        return;
    };
    let cycles = ctx.pick(30, 500);
    let rt = ctx.runtime_args();
    ctx.check("churn/setup", |_| {
        // An image with a VOLUME, for the failing `run --rm`.
        let c = unique_name("rel-volsrc");
        berth(&d, &["create", "--name", &c, "busybox", "true"]).success();
        berth(&d, &["commit", "-c", "VOLUME /vol", &c, "rel-volimage:1"]).success();
        berth(&d, &["rm", &c]).success();
        Ok(())
    });
    for v in VARIANTS {
        let n = (cycles / v.divisor).max(1);
        ctx.check(&format!("churn/{}", v.name), |ctx| {
            // One warm-up cycle: the first run makes the bridge, the table, the layer cache.
            (v.cycle)(&d, &rt)?;
            settle(&d);
            let before = Census::take(&d);
            for i in 0..n {
                (v.cycle)(&d, &rt).map_err(|e| format!("cycle {}: {e}", i + 1))?;
            }
            settle(&d);
            let after = Census::take(&d);
            let grew = before.growth(&after, &[("berthd-fds", FD_SLACK)]);
            let changed = before.changes(&after);
            ctx.figure(
                "churn",
                format!(
                    "{}: {n} cycles; {}",
                    v.name,
                    if changed.is_empty() {
                        "nothing grew".to_string()
                    } else {
                        changed
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            );
            if grew.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "grew over {n} cycles: {}",
                    grew.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        });
    }
    ctx.teardown("churn", d);
}

/// Shims exit and the kernel drops veths just after a removal returns: let them.
fn settle(d: &TestDaemon) {
    let mut last = Census::take(d);
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(300));
        let now = Census::take(d);
        if now == last {
            return;
        }
        last = now;
    }
}

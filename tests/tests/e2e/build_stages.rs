//! Multi-stage builds run independent stages side by side: two stages that each wait for
//! the other to have started can only both succeed when they run at the same time. The
//! output stays dockerd's classic stream, steps in order; a failing stage stops the others
//! and leaves no container or dangling image behind.

use super::build::{build, context};
use super::*;

/// A RUN that marks `me` as started in a shared cache mount, then waits (bounded) for
/// `other` to have started too.
fn rendezvous(sync_id: &str, me: &str, other: &str) -> String {
    format!(
        "RUN --mount=type=cache,id={sync_id},target=/sync sh -c 'touch /sync/{me}; i=0; while [ ! -f /sync/{other} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; test -f /sync/{other} && echo {me} saw {other}'"
    )
}

both_clients! {
    fn independent_stages_build_at_the_same_time(d, c) {
        let sync = unique_name("sync");
        let dockerfile = format!(
            "FROM busybox AS left\n{}\nRUN echo left > /left.txt\n\
             FROM busybox AS right\n{}\nRUN echo right > /right.txt\n\
             FROM busybox\nCOPY --from=left /left.txt /\nCOPY --from=right /right.txt /\nCMD cat /left.txt /right.txt\n",
            rendezvous(&sync, "left", "right"),
            rendezvous(&sync, "right", "left"),
        );
        let ctx = context(&[("Dockerfile", &dockerfile)]);
        let name = unique_name("parallel");
        let out = build(d, c, ctx.path(), &["--no-cache", "-t", &name]);
        out.success()
            .stdout_has("left saw right")
            .stdout_has("right saw left")
            .stdout_has(&format!("Successfully tagged {name}:latest"));
        // The classic stream keeps its order: Step 1/10 ... Step 10/10, one after another.
        let steps: Vec<usize> = out
            .out()
            .lines()
            .filter_map(|l| l.strip_prefix("Step "))
            .filter_map(|l| l.split('/').next())
            .filter_map(|n| n.parse().ok())
            .collect();
        assert_eq!(steps, (1..=10).collect::<Vec<_>>(), "{out}");
        d.run(c, &["run", "--rm", &name]).success().stdout_has("left\nright");
    }

    fn a_failing_stage_kills_the_others_and_leaves_nothing(d, c) {
        // `slow` is inside a long RUN when `broken` fails: the build must stop it at once
        // (otherwise the CLI's 120 s limit fails this test) and never run its next step.
        let sync = unique_name("sync");
        let dockerfile = format!(
            "FROM busybox AS slow\n\
             RUN --mount=type=cache,id={sync},target=/sync sh -c 'touch /sync/slow; sleep 200'\n\
             RUN echo never > /never\n\
             FROM busybox AS broken\n\
             RUN --mount=type=cache,id={sync},target=/sync sh -c 'i=0; while [ ! -f /sync/slow ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; exit 7'\n\
             FROM busybox\nCOPY --from=slow /never /\nCOPY --from=broken /etc/hostname /\n",
        );
        let ctx = context(&[("Dockerfile", &dockerfile)]);
        let out = build(d, c, ctx.path(), &["--no-cache"]);
        out.code_is(7).stderr_has("returned a non-zero code: 7");
        assert!(!out.out().contains("Step 3/8"), "stage slow stopped before its next step: {out}");
        assert_eq!(d.run(c, &["ps", "-aq"]).success().out(), "", "no containers left");
        assert_eq!(d.run(c, &["images", "-q", "--filter", "dangling=true"]).success().out(), "");
    }
}

both_clients! {
    fn a_client_that_goes_away_stops_the_build_and_its_run(d, c) {
        let ctx = context(&[("Dockerfile", "FROM busybox\nRUN sleep 200\nRUN echo never\n")]);
        let mut cmd = d.command(c);
        cmd.env("DOCKER_BUILDKIT", "0")
            .args(["build", "--no-cache"])
            .arg(ctx.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut cli = cmd.spawn().unwrap_or_else(|e| panic!("spawning the build: {e}"));
        let running = wait_until(Duration::from_secs(60), || {
            !d.run(c, &["ps", "-q"]).success().out().is_empty()
        });
        assert!(running, "the RUN container started");
        let _ = cli.kill();
        let _ = cli.wait();
        let gone = wait_until(Duration::from_secs(60), || {
            d.run(c, &["ps", "-aq"]).success().out().is_empty()
        });
        assert!(gone, "the RUN container was killed and removed: {}", d.run(c, &["ps", "-a"]));
    }
}

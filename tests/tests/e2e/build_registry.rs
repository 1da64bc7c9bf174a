//! The builder with a registry: a FROM image that is not here is pulled (its progress in the
//! build's output), `--pull` refreshes one that is, and `--cache-from` lets an image pulled
//! from elsewhere stand in for the steps it was built by.

use super::build::{build, cache_hits, context, image_id};
use super::registry::Served;
use super::*;

both_clients! {
    fn a_missing_base_is_pulled_and_pull_refreshes_a_stale_one(d, c) {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let reg = Served::start(root.path(), &[]);
        let base = format!("{}/e2e/{}:v1", reg.addr, unique_name("base"));
        d.run(c, &["tag", "busybox", &base]).success();
        d.run(c, &["push", &base]).success();
        let pushed_id = image_id(d, c, &base);

        let Some(other) = TestDaemon::start() else { return };
        let ctx = context(&[("Dockerfile", &format!("FROM {base}\nRUN echo built > /built\n"))]);
        let out = build(&other, c, ctx.path(), &["-t", "app"]);
        out.success()
            .stdout_has(&format!("v1: Pulling from {}", base.trim_end_matches(":v1")))
            .stdout_has("Successfully tagged app:latest");
        assert_eq!(image_id(&other, c, &base), pushed_id, "the base came from the registry");
        other.run(c, &["run", "--rm", "app", "cat", "/built"]).success().stdout_has("built");

        // Locally the tag now names something else; --pull brings the registry's back.
        let stale = context(&[("Dockerfile", &format!("FROM {base}\nRUN touch /stale\n"))]);
        build(&other, c, stale.path(), &["-t", &base]).success();
        assert_ne!(image_id(&other, c, &base), pushed_id);
        build(&other, c, ctx.path(), &[]).success();
        assert_ne!(image_id(&other, c, &base), pushed_id, "without --pull the local image is used");
        build(&other, c, ctx.path(), &["--pull"]).success();
        assert_eq!(image_id(&other, c, &base), pushed_id, "--pull fetched the registry's image");

        // A base that the registry does not have either fails the build clearly.
        let missing = context(&[("Dockerfile", &format!("FROM {}/e2e/nothing-here:v1\n", reg.addr))]);
        build(&other, c, missing.path(), &[]).code_is(1).stderr_has("not found");
    }

    fn cache_from_an_image_built_elsewhere(d, c) {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let reg = Served::start(root.path(), &[]);
        let base = format!("{}/e2e/{}:v1", reg.addr, unique_name("base"));
        let app = format!("{}/e2e/{}:v1", reg.addr, unique_name("app"));
        d.run(c, &["tag", "busybox", &base]).success();
        d.run(c, &["push", &base]).success();
        let dockerfile = format!("FROM {base}\nRUN echo one > /one\nCOPY f.txt /f.txt\nENV APP=1\nCMD cat /one /f.txt\n");
        let ctx = context(&[("Dockerfile", &dockerfile), ("f.txt", "first\n")]);
        build(d, c, ctx.path(), &["-t", &app]).success();
        d.run(c, &["push", &app]).success();
        let app_id = image_id(d, c, &app);

        let Some(other) = TestDaemon::start() else { return };
        // Without --cache-from nothing is cached on a fresh daemon.
        let cold = build(&other, c, ctx.path(), &["-t", "cold"]);
        cold.success();
        assert_eq!(cache_hits(&cold), 0, "{cold}");

        let fresh = TestDaemon::start().unwrap_or_else(|| panic!("a second daemon"));
        fresh.run(c, &["pull", &app]).success();
        let out = build(&fresh, c, ctx.path(), &["--cache-from", &app, "-t", "warm"]);
        out.success();
        assert_eq!(cache_hits(&out), 4, "every step after FROM came from the pulled image: {out}");
        assert_eq!(image_id(&fresh, c, "warm"), app_id, "the very image built elsewhere");

        // A changed COPY source: the RUN before it still comes from the source image.
        std::fs::write(ctx.path().join("f.txt"), "second\n").unwrap_or_else(|e| panic!("{e}"));
        let changed = build(&fresh, c, ctx.path(), &["--cache-from", &app, "-t", "changed"]);
        changed.success();
        assert_eq!(cache_hits(&changed), 1, "only the RUN is cached: {changed}");
        fresh.run(c, &["run", "--rm", "changed"]).success().stdout_has("one\nsecond");
    }
}

both_clients! {
    fn a_private_base_is_pulled_with_the_clients_stored_login(d, c) {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let users = super::registry_server::htpasswd(root.path(), &[("builder", "pa55word")]);
        let store = root.path().join("store");
        let reg = Served::start(&store, &["--htpasswd", &users.display().to_string()]);
        let base = format!("{}/private/{}:v1", reg.addr, unique_name("base"));
        d.run_with_input(c, &["login", "-u", "builder", "--password-stdin", &reg.addr], b"pa55word\n").success();
        d.run(c, &["tag", "busybox", &base]).success();
        d.run(c, &["push", &base]).success();
        d.run(c, &["rmi", &base]).success();

        // The CLI sends its stored credentials (X-Registry-Config) with the build.
        let ctx = context(&[("Dockerfile", &format!("FROM {base}\nRUN echo private\n"))]);
        build(d, c, ctx.path(), &[]).success().stdout_has("Status: Downloaded newer image for");
        d.run(c, &["logout", &reg.addr]).success();
        d.run(c, &["rmi", &base]).success();
        build(d, c, ctx.path(), &[]).code_is(1);
    }
}

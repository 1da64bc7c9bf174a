//! A container's changes: `diff`, `export`, and `commit` with `--change`, its image id and
//! layer digests as dockerd computes them, and the pause around a running container's commit.

use super::*;

both_clients! {
    fn container_diff_and_export(d, c) {
        let name = unique_name("diff");
        d.run(c, &["run", "--name", &name, "busybox", "sh", "-c",
            "echo hi > /etc/e2e-new; rm /bin/true; mkdir -p /tmp/d; echo z > /tmp/d/f"]).success();
        let diff = d.run(c, &["diff", &name]);
        assert_eq!(
            diff.success().lines(),
            ["C /bin", "D /bin/true", "C /etc", "A /etc/e2e-new", "C /tmp", "A /tmp/d", "A /tmp/d/f"],
            "{diff}"
        );
        // A container that changed nothing prints nothing.
        let quiet = unique_name("diff-none");
        d.run(c, &["create", "--name", &quiet, "busybox", "true"]).success();
        assert_eq!(d.run(c, &["container", "diff", &quiet]).success().out(), "");

        let out = d.host_dir("export").join("fs.tar");
        d.run(c, &["export", "-o", &out.display().to_string(), &name]).success();
        let names = tar_names(&out);
        for want in ["etc/e2e-new", "tmp/d/f", "bin/sh", "etc/passwd"] {
            assert!(names.iter().any(|n| n == want), "{want} missing from export: {names:?}");
        }
        assert!(!names.iter().any(|n| n == "bin/true"), "deleted file exported");
        let listing = host("tar", &["xOf", &out.display().to_string(), "etc/e2e-new"]);
        assert_eq!(listing, "hi\n");

        d.run(c, &["export", "-o", "/no/such/dir/x.tar", &name])
            .code_is(1)
            .stderr_has("failed to export container: invalid output path: stat /no/such/dir: no such file or directory");
        d.run(c, &["diff", "e2e-no-such-container"]).code_is(1).stderr_has("No such container: e2e-no-such-container");
    }

    fn commit_with_changes(d, c) {
        let name = unique_name("commit");
        d.run(c, &["run", "--name", &name, "-e", "FROM_RUN=1", "busybox", "sh", "-c",
            "echo committed > /file; rm /bin/true; mkdir -p /etc/opq"]).success();
        let repo = unique_name("committed");
        let image = format!("{repo}:v1");
        let committed = d.run(c, &["commit",
            "-c", "ENV A=1", "-c", r#"CMD ["cat", "/file"]"#, "-c", "LABEL k=v", "-c", "EXPOSE 8080",
            "-c", "WORKDIR /etc", "-c", "USER nobody", "-c", "VOLUME /vol", "-c", r#"ENTRYPOINT []"#,
            "-m", "the message", "-a", "E2E <e2e@example.com>", "--pause=false", &name, &image]);
        let id = committed.success().out().to_string();
        assert!(id.starts_with("sha256:") && id.len() == 71, "{committed}");

        let run = d.run(c, &["run", "--rm", &image]);
        assert_eq!(run.success().out(), "committed", "{run}");
        d.run(c, &["run", "--rm", &image, "ls", "/bin/true"]).code_is(1);

        let cfg = d.inspect(c, &image,
            "{{.Id}}|{{.Comment}}|{{.Author}}|{{json .Config.Env}}|{{json .Config.Labels}}|{{json .Config.ExposedPorts}}|{{.Config.WorkingDir}}|{{.Config.User}}|{{json .Config.Volumes}}|{{len .RootFS.Layers}}");
        assert_eq!(cfg, format!(
            "{id}|the message|E2E <e2e@example.com>|[\"A=1\",\"FROM_RUN=1\"]|{{\"k\":\"v\"}}|{{\"8080/tcp\":{{}}}}|/etc|nobody|{{\"/vol\":{{}}}}|2"
        ));
        // The id is the digest of the config, and the new diff id the digest of the layer tar,
        // both as stored: what dockerd computes from the same bytes.
        let blobs = d.data_root.join("content/blobs/sha256");
        assert_eq!(format!("sha256:{}", sha256_of(&blobs.join(&id[7..]))), id);
        let layer = d.inspect(c, &image, "{{index .RootFS.Layers 1}}");
        let layer_blob = blobs.join(&layer[7..]);
        assert_eq!(format!("sha256:{}", sha256_of(&layer_blob)), layer);
        let names = tar_names(&layer_blob);
        assert_eq!(names, ["bin", "bin/.wh.true", "etc", "etc/opq", "file"], "{names:?}");

        let history = d.run(c, &["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", &image]);
        assert_eq!(history.success().lines().first().copied(),
            Some("sh -c echo committed > /file; rm /bin/true; mkdir -p /etc/opq|the message"), "{history}");

        // Without changes the container's config is kept; an unknown instruction is refused.
        let plain = d.run(c, &["container", "commit", &name]);
        plain.success();
        let kept = d.inspect(c, plain.out(), "{{json .Config.Cmd}}|{{json .RepoTags}}");
        assert_eq!(kept, r#"["sh","-c","echo committed > /file; rm /bin/true; mkdir -p /etc/opq"]|[]"#);
        d.run(c, &["commit", "-c", "RUN true", &name]).code_is(1).stderr_has("RUN is not a valid change command");
        d.run(c, &["commit", "e2e-no-such-container"]).code_is(1).stderr_has("No such container: e2e-no-such-container");

        // A running container is paused for the commit (the default) and running after it.
        let live = unique_name("commitlive");
        d.run(c, &["run", "-d", "--name", &live, "busybox", "sh", "-c", "echo live > /live; sleep 300"]).success();
        assert!(wait_until(Duration::from_secs(10), || {
            d.run(c, &["exec", &live, "cat", "/live"]).stdout.contains("live")
        }));
        d.run(c, &["commit", &live, &format!("{repo}:live")]).success();
        assert_eq!(d.inspect(c, &live, "{{.State.Status}}"), "running");
        // The docker CLI sends whole seconds: an `until` in the past would cut this second.
        let events = d.run(c, &["events", "--since", "1m", "--until", &(unix_now() + 1).to_string(),
            "--filter", &format!("container={live}"), "--format", "{{.Action}}"]);
        let actions: Vec<&str> = events.success().lines().into_iter()
            .filter(|a| ["pause", "commit", "unpause"].contains(a)).collect();
        assert_eq!(actions, ["pause", "commit", "unpause"], "{events}\n{}", events.stdout);
        d.run(c, &["rm", "-f", &live]).success();
    }
}

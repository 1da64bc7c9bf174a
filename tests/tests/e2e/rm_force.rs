//! `rm -f` of running containers: several at once in argument order, the killed container's
//! rootfs detached and its layer set aside then deleted after the answer, and a kill -9 of
//! berthd in between that leaves nothing once it restarts.

use berth_tests::leaks::mounts_under;

use super::*;

/// Directories under `<data-root>/overlay` that are neither a layer, `l`, nor in `keep`: a
/// container's writable layer or a `tmp-` one set aside.
fn container_layers(d: &TestDaemon, keep: &[String]) -> Vec<String> {
    let overlay = d.data_root.join("overlay");
    std::fs::read_dir(&overlay)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "l" && !keep.contains(n))
                .filter(|n| overlay.join(n).join("lower").exists() || n.starts_with("tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Nothing of a removed container stays: no mount under the daemon's directory, no writable
/// layer (the set-aside ones are deleted just after the answer) and no short link to one.
#[track_caller]
fn assert_layers_gone(d: &TestDaemon) {
    assert_eq!(mounts_under(d.dir()), Vec::<std::path::PathBuf>::new());
    assert!(
        wait_until(SETTLE, || container_layers(d, &[]).is_empty()),
        "left in overlay/: {:?}",
        container_layers(d, &[])
    );
    let dangling: Vec<_> = std::fs::read_dir(d.data_root.join("overlay/l"))
        .map(|r| {
            r.flatten()
                .filter(|e| std::fs::metadata(e.path()).is_err())
                .collect()
        })
        .unwrap_or_default();
    assert!(dangling.is_empty(), "dangling short links: {dangling:?}");
}

both_clients! {
    fn rm_f_of_many_answers_in_argument_order(d, c) {
        let mut names = Vec::new();
        for i in 0..6 {
            let name = unique_name(&format!("rmf{i}"));
            // Each writes into its writable layer, which goes with it.
            d.run_detached(c, &["--name", &name, "--network", "none", "busybox", "sh", "-c",
                "mkdir -p /data && for i in $(seq 50); do echo $i > /data/f$i; done; echo ready; sleep 300"]);
            names.push(name);
        }
        for n in &names {
            d.wait_for_log(c, n, "ready");
        }
        let missing = unique_name("missing");
        let mut args: Vec<&str> = vec!["rm", "-f"];
        args.extend(names[..3].iter().map(String::as_str));
        args.push(&missing);
        args.extend(names[3..].iter().map(String::as_str));
        // As the docker CLI: the missing one's error on stderr, yet success for `-f`.
        let out = d.run(c, &args);
        out.success().stderr_has(&format!("No such container: {missing}"));
        assert_eq!(out.lines(), names.iter().map(String::as_str).collect::<Vec<_>>(), "{out}");
        assert!(d.ps_names(c, &["-a"]).is_empty());
        assert_layers_gone(d);
        // Without -f a missing container fails the command.
        d.run(c, &["rm", &missing]).code_is(1).stderr_has("No such container");
    }
}

/// Killed once `rm -f` had set the layer aside, before its files were deleted: the container
/// was still recorded as being removed, so the restart finishes the removal, and the set-aside
/// directory is swept.
#[test]
fn killed_with_the_layer_set_aside() {
    let Some(mut d) = TestDaemon::start() else {
        return;
    };
    let id = d.run_detached(
        Client::Docker,
        &[
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo x > /written; sleep 300",
        ],
    );
    d.restart_with_failpoint("rm-layer-set-aside");
    let _ = d.docker(&["rm", "-f", &id]);
    assert!(
        d.wait_for_daemon_death(Duration::from_secs(30)),
        "berthd did not reach the failpoint"
    );
    let set_aside = container_layers(&d, &[]);
    assert!(
        set_aside.iter().any(|n| n.starts_with("tmp-")) && !set_aside.contains(&id),
        "the layer should be set aside: {set_aside:?}"
    );
    d.restart();
    d.docker(&["container", "inspect", &id])
        .code_is(1)
        .stderr_has("No such container");
    assert_layers_gone(&d);
    assert!(d.check_problems().is_empty(), "{:?}", d.check_problems());
}

/// Killed right after the exit's release detached the rootfs, before the removal went on: the
/// restart records the exit, the container is there (exited) with nothing mounted, and a
/// removal takes the rest.
#[test]
fn killed_after_the_rootfs_was_detached() {
    let Some(mut d) = TestDaemon::start() else {
        return;
    };
    let id = d.run_detached(
        Client::Docker,
        &["--network", "none", "busybox", "sleep", "300"],
    );
    d.restart_with_failpoint("rm-rootfs-detached");
    let _ = d.docker(&["rm", "-f", &id]);
    assert!(
        d.wait_for_daemon_death(Duration::from_secs(30)),
        "berthd did not reach the failpoint"
    );
    d.restart();
    assert_eq!(mounts_under(d.dir()), Vec::<std::path::PathBuf>::new());
    let state = d.inspect(Client::Docker, &id, "{{.State.Status}}");
    assert!(state == "exited" || state == "removing", "state {state}");
    d.docker(&["rm", "-f", &id]).success();
    assert_layers_gone(&d);
    assert!(!d.exec_root.join("netns").join(&id).exists());
    assert!(d.check_problems().is_empty(), "{:?}", d.check_problems());
}

/// Many unnamed creates at once each get a name of their own: a generated name another create
/// took meanwhile is drawn again, never answered with a name conflict.
#[test]
fn parallel_unnamed_creates_never_conflict() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    let socket = d.socket.clone();
    let body = br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"none"}}"#;
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let socket = &socket;
                s.spawn(move || {
                    (0..30)
                        .map(|_| {
                            let r = berth_tests::http::request(
                                socket,
                                "POST",
                                "/containers/create",
                                berth_tests::http::JSON,
                                body,
                                Duration::from_secs(60),
                            )
                            .expect("create");
                            (r.status, r.text())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let failed: Vec<_> = answers.iter().filter(|(s, _)| *s != 201).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        answers.len(),
        failed.first()
    );
    let mut names = d.ps_names(Client::Docker, &["-a"]);
    assert_eq!(names.len(), 240);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 240, "names are unique");
}

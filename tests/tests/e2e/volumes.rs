//! Volumes and mounts through a real berthd with both CLIs: named volumes that outlive their
//! containers, copy-up from the image, read-only mounts, tmpfs, --volumes-from, prune rules,
//! symlink escapes (CVE-2021-30465 class), bad input, and a daemon restart.

use super::*;

/// An image with content owned by 1000:1000 (mode 0750) under a `VOLUME`, and symlinks
/// pointing out of the root: `/escape -> /`, `/up -> ../../../..`.
fn volume_image(d: &TestDaemon, c: Client) -> String {
    let name = unique_name("volimg");
    let ctr = unique_name("volsrc");
    d.run(
        c,
        &[
            "run", "--name", &ctr, "busybox", "sh", "-c",
            "mkdir -p /srv/content && echo seeded > /srv/content/file && chown -R 1000:1000 /srv/content && chmod 0750 /srv/content && ln -s / /escape && ln -s ../../../.. /up",
        ],
    )
    .success();
    d.run(
        c,
        &[
            "commit",
            "--change",
            "VOLUME [\"/srv/content\"]",
            &ctr,
            &name,
        ],
    )
    .success();
    d.run(c, &["rm", &ctr]).success();
    name
}

fn mounts_json(d: &TestDaemon, c: Client, ctr: &str) -> serde_json::Value {
    let raw = d.inspect(c, ctr, "{{json .Mounts}}");
    serde_json::from_str(&raw).unwrap_or(serde_json::Value::Null)
}

both_clients! {
    fn named_volume_outlives_its_containers(d, c) {
        let vol = unique_name("data");
        d.run(c, &["volume", "create", "--label", "team=a", &vol]).success().stdout_has(&vol);
        d.run(c, &["run", "--rm", "-v", &format!("{vol}:/data"), "busybox", "sh", "-c", "echo kept > /data/f"])
            .success();
        d.run(c, &["run", "--rm", "-v", &format!("{vol}:/data"), "busybox", "cat", "/data/f"])
            .success()
            .stdout_has("kept");
        let ls = d.run(c, &["volume", "ls", "--filter", "label=team=a", "--format", "{{.Name}} {{.Driver}}"]);
        assert_eq!(ls.success().out(), format!("{vol} local"));
        assert_eq!(d.run(c, &["volume", "ls", "-q", "--filter", "label=team=b"]).success().out(), "");
        let mp = d.run(c, &["volume", "inspect", "-f", "{{.Mountpoint}}|{{.Scope}}|{{.Labels.team}}", &vol]);
        let mp = mp.success().out().to_string();
        assert!(mp.ends_with(&format!("/volumes/{vol}/_data|local|a")), "{mp}");

        let holder = unique_name("holder");
        d.run(c, &["create", "--name", &holder, "-v", &format!("{vol}:/data"), "busybox", "true"]).success();
        let id = d.inspect(c, &holder, "{{.Id}}");
        d.run(c, &["volume", "rm", &vol])
            .code_is(1)
            .stderr_has(&format!("remove {vol}: volume is in use - [{id}]"));
        let mounts = mounts_json(d, c, &holder);
        assert_eq!(mounts[0]["Type"], "volume");
        assert_eq!(mounts[0]["Name"], vol.as_str());
        assert_eq!(mounts[0]["Destination"], "/data");
        assert_eq!(mounts[0]["RW"], true);
        d.run(c, &["rm", "-v", &holder]).success();
        assert!(d.run(c, &["volume", "ls", "-q"]).success().lines().contains(&vol.as_str()), "named volumes survive rm -v");
        d.run(c, &["volume", "rm", &vol]).success();
        d.run(c, &["volume", "inspect", &vol]).code_is(1).stderr_has(&format!("get {vol}: no such volume"));
    }

    fn bad_volume_input_creates_nothing(d, c) {
        d.run(c, &["volume", "create", "x/y"]).code_is(1).stderr_has(
            "create x/y: \"x/y\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path",
        );
        d.run(c, &["volume", "create", "-o", "foo=bar", "vbad"]).code_is(1).stderr_has("create vbad: invalid option key: \"foo\"");
        d.run(c, &["run", "--rm", "-v", "x/y:/d", "busybox", "true"]).code_is(125).stderr_has("includes invalid characters for a local volume name");
        d.run(c, &["run", "--rm", "-v", "v1:/d", "-v", "v2:/d", "busybox", "true"]).code_is(125).stderr_has("Duplicate mount point: /d");
        d.run(c, &["run", "--rm", "--mount", "type=bind,src=rel/dir,dst=/d", "busybox", "true"])
            .code_is(125)
            .stderr_has("invalid mount path: 'rel/dir' mount path must be absolute");
        d.run(c, &["run", "--rm", "--mount", "type=volume,dst=/d,bogus=1", "busybox", "true"])
            .code_is(125)
            .stderr_has("unexpected key 'bogus' in 'bogus=1'");
        d.run(c, &["run", "--rm", "-v", "v3:/proc/sys/kernel", "busybox", "true"]).code_is(125).stderr_has("/proc/sys/kernel");
        assert_eq!(d.run(c, &["volume", "ls", "-q"]).success().out(), "", "no volume was left behind");
        assert_eq!(d.run(c, &["ps", "-aq"]).success().out(), "", "no container was left behind");
    }

    fn image_volumes_are_copied_up_and_anonymous_ones_go_with_rm(d, c) {
        let img = volume_image(d, c);
        let ctr = unique_name("anon");
        d.run(c, &["run", "--name", &ctr, &img, "sh", "-c", "stat -c '%u:%g %a' /srv/content; cat /srv/content/file"])
            .success()
            .stdout_has("1000:1000 750")
            .stdout_has("seeded");
        let mounts = mounts_json(d, c, &ctr);
        let anon = mounts[0]["Name"].as_str().unwrap_or_default().to_string();
        assert_eq!(anon.len(), 64, "an anonymous volume: {mounts}");
        assert_eq!(mounts[0]["Destination"], "/srv/content");
        let named = unique_name("seeded");
        d.run(c, &["run", "--rm", "-v", &format!("{named}:/srv/content"), &img, "stat", "-c", "%u:%g %a", "/srv/content/file"])
            .success()
            .stdout_has("1000:1000");
        let empty = unique_name("empty");
        d.run(c, &["run", "--rm", "-v", &format!("{empty}:/srv/content:nocopy"), &img, "ls", "-A", "/srv/content"])
            .success();
        assert_eq!(
            d.run(c, &["run", "--rm", "-v", &format!("{empty}:/x"), "busybox", "ls", "-A", "/x"]).success().out(),
            "",
            "nocopy leaves the volume empty"
        );
        d.run(c, &["rm", "-v", &ctr]).success();
        let left = d.run(c, &["volume", "ls", "-q"]).success().out().to_string();
        assert!(!left.contains(&anon), "rm -v removes the anonymous volume: {left}");
        // --rm takes anonymous volumes too; prune then only removes anonymous ones unless -a.
        d.run(c, &["run", "--rm", "-v", "/scratch", "busybox", "true"]).success();
        let kept = unique_name("kept");
        d.run(c, &["create", "-v", "/anon2", "-v", &format!("{kept}:/k"), "busybox", "true"]).success();
        let before: Vec<String> = d.run(c, &["volume", "ls", "-q"]).success().lines().iter().map(|s| s.to_string()).collect();
        assert_eq!(before.len(), 4, "named, empty, kept and anon2: {before:?}");
        d.run(c, &["rm", "-f", d.run(c, &["ps", "-aq"]).success().out()]).success();
        let pruned = d.run(c, &["volume", "prune", "-f"]);
        pruned.success().stdout_has("Deleted Volumes:");
        let after = d.run(c, &["volume", "ls", "-q"]).success().out().to_string();
        assert!(after.contains(&kept) && after.contains(&named) && after.lines().count() == 3, "{after}");
        d.run(c, &["volume", "prune", "-af"]).success();
        assert_eq!(d.run(c, &["volume", "ls", "-q"]).success().out(), "");
    }

    fn read_only_mounts_binds_and_read_only_rootfs(d, c) {
        let host = d.dir().join(unique_name("hostdir"));
        std::fs::create_dir_all(&host).expect("host dir");
        std::fs::write(host.join("in"), "from host").expect("file");
        let bind_ro = format!("{}:/h:ro", host.display());
        d.run(c, &["run", "--rm", "-v", &bind_ro, "busybox", "sh", "-c", "cat /h/in; echo x > /h/new"])
            .code_is(1)
            .stdout_has("from host")
            .stderr_has("Read-only file system");
        assert!(!host.join("new").exists());
        let vol = unique_name("rw");
        d.run(c, &["run", "--rm", "--read-only", "-v", &format!("{vol}:/data"), "busybox", "sh", "-c", "echo ok > /data/f && cat /data/f && ! touch /rootfile"])
            .success()
            .stdout_has("ok");
        let missing = d.dir().join(unique_name("created"));
        d.run(c, &["run", "--rm", "-v", &format!("{}:/m", missing.display()), "busybox", "sh", "-c", "echo made > /m/f"])
            .success();
        assert_eq!(std::fs::read_to_string(missing.join("f")).ok().as_deref(), Some("made\n"), "-v creates a missing host directory");
        let mnt = format!("type=bind,source={},target=/b,readonly,bind-propagation=rslave,consistency=cached", host.display());
        d.run(c, &["run", "--rm", "--mount", &mnt, "busybox", "sh", "-c", "! touch /b/x && cat /b/in"])
            .success()
            .stdout_has("from host");
        d.run(c, &["run", "--rm", "--mount", "type=bind,source=/definitely/not/here,target=/b", "busybox", "true"])
            .code_is(125)
            .stderr_has("bind source path does not exist: /definitely/not/here");
    }

    fn tmpfs_mounts_and_tmpfs_volumes(d, c) {
        d.run(c, &["run", "--rm", "--tmpfs", "/t:size=1m", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts"])
            .success()
            .stdout_has("tmpfs /t tmpfs")
            .stdout_has("size=1024k");
        d.run(c, &["run", "--rm", "--mount", "type=tmpfs,dst=/m,tmpfs-size=2m,tmpfs-mode=1770", "busybox", "sh", "-c", "grep ' /m ' /proc/mounts; stat -c %a /m"])
            .success()
            .stdout_has("size=2048k")
            .stdout_has("1770");
        let vol = unique_name("tmpvol");
        d.run(c, &["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=3m", &vol]).success();
        let opts = d.run(c, &["volume", "inspect", "-f", "{{.Options.type}} {{.Options.o}}", &vol]);
        assert_eq!(opts.success().out(), "tmpfs size=3m");
        d.run(c, &["run", "--rm", "-v", &format!("{vol}:/v"), "busybox", "sh", "-c", "grep ' /v ' /proc/mounts && echo data > /v/f"])
            .success()
            .stdout_has("size=3072k");
        // Unmounted once unused: a tmpfs volume starts empty at its next use.
        d.run(c, &["run", "--rm", "-v", &format!("{vol}:/v"), "busybox", "ls", "-A", "/v"]).success();
        d.run(c, &["volume", "rm", &vol]).success();
    }

    fn volumes_from_shares_mounts(d, c) {
        let vol = unique_name("shared");
        let src = unique_name("src");
        d.run(c, &["create", "--name", &src, "-v", &format!("{vol}:/shared"), "-v", "/anon", "busybox", "true"]).success();
        d.run(c, &["run", "--rm", "--volumes-from", &src, "busybox", "sh", "-c", "echo via > /shared/f && touch /anon/a"]).success();
        d.run(c, &["run", "--rm", "--volumes-from", &format!("{src}:ro"), "busybox", "sh", "-c", "cat /shared/f; ls /anon; ! touch /shared/g"])
            .success()
            .stdout_has("via")
            .stdout_has("a");
        // dockerd answers 404 (the docker CLI then tries to pull the image, as it does there).
        d.run(c, &["run", "--rm", "--volumes-from", "no-such-ctr", "busybox", "true"]).code_is(125);
    }

    fn symlinked_targets_stay_inside_the_container(d, c) {
        let img = volume_image(d, c);
        let marker = unique_name("pwned");
        let host_target = std::path::Path::new("/tmp").join(&marker);
        let vol = unique_name("esc");
        // /escape -> / and /up -> ../../../.. must resolve inside the rootfs.
        d.run(c, &["run", "--rm", "-v", &format!("{vol}:/escape/tmp/{marker}"), &img, "sh", "-c", &format!("grep -c ' /tmp/{marker} ' /proc/mounts && touch /tmp/{marker}/inside")])
            .success()
            .stdout_has("1");
        let bind_src = d.dir().join(unique_name("bsrc"));
        std::fs::create_dir_all(&bind_src).expect("bind src");
        d.run(c, &["run", "--rm", "-v", &format!("{}:/up/tmp/{marker}b", bind_src.display()), &img, "sh", "-c", &format!("touch /tmp/{marker}b/x")])
            .success();
        assert!(bind_src.join("x").exists(), "the bind landed at /tmp/<marker>b inside the container");
        assert!(!host_target.exists(), "nothing was created on the host at {}", host_target.display());
        assert!(!std::path::Path::new("/tmp").join(format!("{marker}b")).exists());
        let data = d.run(c, &["volume", "inspect", "-f", "{{.Mountpoint}}", &vol]);
        assert!(std::path::Path::new(data.success().out()).join("inside").exists());
    }

    fn containers_keep_volumes_across_a_daemon_restart(d, c) {
        let vol = unique_name("persist");
        let tmpvol = unique_name("tmpv");
        d.run(c, &["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", &tmpvol]).success();
        let ctr = unique_name("longrun");
        d.run_detached(c, &["--name", &ctr, "-v", &format!("{vol}:/data"), "-v", &format!("{tmpvol}:/t"), "busybox", "sh", "-c", "echo before > /data/f; echo t > /t/f; sleep 300"]);
        wait_until(SETTLE, || d.run(c, &["exec", &ctr, "cat", "/t/f"]).stdout.contains('t'));
        d.restart();
        assert_eq!(d.inspect(c, &ctr, "{{.State.Running}}"), "true");
        d.run(c, &["exec", &ctr, "sh", "-c", "cat /data/f /t/f"]).success().stdout_has("before");
        d.run(c, &["volume", "rm", &vol]).code_is(1).stderr_has("volume is in use");
        d.run(c, &["rm", "-f", &ctr]).success();
        d.run(c, &["run", "--rm", "-v", &format!("{vol}:/data"), "busybox", "cat", "/data/f"]).success().stdout_has("before");
        d.run(c, &["volume", "rm", &vol, &tmpvol]).success();
    }

    fn system_df_reports_volume_usage(d, c) {
        let vol = unique_name("dfvol");
        d.run(c, &["run", "--rm", "-v", &format!("{vol}:/d"), "busybox", "sh", "-c", "head -c 100000 /dev/zero > /d/blob"]).success();
        let out = d.run(c, &["system", "df", "-v"]);
        let text = out.success().out().to_string();
        assert!(text.contains(&vol), "{text}");
        let raw = d.api("GET", "/system/df?type=volume", None, b"");
        let body: serde_json::Value = serde_json::from_slice(&raw.body).unwrap_or_default();
        let entry = body["Volumes"].as_array().and_then(|v| v.iter().find(|x| x["Name"] == vol.as_str())).cloned().unwrap_or_default();
        assert_eq!(entry["UsageData"]["Size"], 100000, "{body}");
        assert_eq!(entry["UsageData"]["RefCount"], 0);
    }
}

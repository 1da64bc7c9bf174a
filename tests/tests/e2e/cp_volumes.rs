//! `docker cp` and the archive endpoints see a container's volumes and bind mounts, running or
//! stopped, as dockerd does (it mounts them for the call): reads come from the volume, writes
//! land in it (never in the container's upper layer), `:ro` mounts refuse writes with dockerd's
//! message, and a symlink inside a volume resolves inside the container.

use super::*;

/// The host path of the mount at `dest` in container `name`.
fn mount_source(d: &TestDaemon, c: Client, name: &str, dest: &str) -> std::path::PathBuf {
    let format =
        format!("{{{{range .Mounts}}}}{{{{if eq .Destination \"{dest}\"}}}}{{{{.Source}}}}{{{{end}}}}{{{{end}}}}");
    let source = d.inspect(c, name, &format);
    assert!(!source.is_empty(), "no mount at {dest} in {name}");
    std::path::PathBuf::from(source)
}

both_clients! {
    fn cp_through_volumes_and_binds(d, c) {
        let name = unique_name("cpvol");
        let vol = unique_name("cpvolnamed");
        let h = d.host_dir("cpvol");
        write(&h.join("bind/f"), "bind\n");
        write(&h.join("robind/r"), "ro\n");
        write(&h.join("in/new"), "new\n");
        let hs = |p: &str| h.join(p).display().to_string();
        let ctr = |p: &str| format!("{name}:{p}");
        d.run_detached(c, &["--name", &name,
            "-v", &format!("{vol}:/data"),
            "-v", &format!("{}:/bind", hs("bind")),
            "-v", &format!("{}:/robind:ro", hs("robind")),
            "-v", "/anon",
            "busybox", "sh", "-c",
            "echo named > /data/f; mkdir /data/sub; echo s > /data/sub/s; echo anon > /anon/a; ln -s /etc /data/etc; touch /ready; sleep 300"]);
        d.wait_for_inspect(c, &name, "{{.State.Running}}", "true");
        assert!(wait_until(SETTLE, || d.run(c, &["exec", &name, "test", "-e", "/ready"]).code == 0));
        let named_src = mount_source(d, c, &name, "/data");
        let anon_src = mount_source(d, c, &name, "/anon");
        let container_passwd = d.run(c, &["exec", &name, "cat", "/etc/passwd"]).success().out().to_string();
        assert_ne!(container_passwd, read(std::path::Path::new("/etc/passwd")).trim_end());

        for state in ["running", "stopped"] {
            if state == "stopped" {
                d.run(c, &["stop", "-t", "0", &name]).success();
            }
            // Out of a named volume, a bind mount, an anonymous volume: whole directories.
            let out = |what: &str| h.join(format!("{state}-{what}"));
            d.run(c, &["cp", &ctr("/data"), &out("data").display().to_string()]).success();
            assert_eq!(read(&out("data").join("f")), "named\n", "{state}");
            assert_eq!(read(&out("data").join("sub/s")), "s\n", "{state}");
            d.run(c, &["cp", &ctr("/bind/."), &out("bind").display().to_string()]).success();
            assert_eq!(read(&out("bind").join("f")), "bind\n", "{state}");
            d.run(c, &["cp", &ctr("/anon/a"), &out("anon").display().to_string()]).success();
            assert_eq!(read(&out("anon")), "anon\n", "{state}");
            // A symlink inside the volume to /etc is the container's /etc, not the host's.
            d.run(c, &["cp", &ctr("/data/etc/passwd"), &out("passwd").display().to_string()]).success();
            assert_eq!(read(&out("passwd")).trim_end(), container_passwd, "{state}");

            // Into them: the file appears in the volume or on the bind source.
            let new = format!("new-{state}");
            std::fs::copy(h.join("in/new"), h.join(&new)).expect("copy");
            d.run(c, &["cp", &hs(&new), &ctr("/data/")]).success();
            d.run(c, &["cp", &hs(&new), &ctr("/data/sub")]).success();
            d.run(c, &["cp", &hs(&new), &ctr("/bind/")]).success();
            d.run(c, &["cp", &hs(&new), &ctr("/anon")]).success();
            assert_eq!(read(&named_src.join(&new)), "new\n", "{state}");
            assert_eq!(read(&named_src.join("sub").join(&new)), "new\n", "{state}");
            assert_eq!(read(&h.join("bind").join(&new)), "new\n", "{state}");
            assert_eq!(read(&anon_src.join(&new)), "new\n", "{state}");
            // Through the symlink: into the container's /etc, nothing on the host's.
            d.run(c, &["cp", &hs(&new), &ctr("/data/etc/")]).success();
            assert!(!std::path::Path::new("/etc").join(&new).exists(), "written into the host's /etc");
            d.run(c, &["cp", &ctr(&format!("/etc/{new}")), &out("etc-new").display().to_string()]).success();
            assert_eq!(read(&out("etc-new")), "new\n", "{state}");

            // A read-only bind refuses, and nothing is written.
            d.run(c, &["cp", &hs(&new), &ctr("/robind/")])
                .code_is(1)
                .stderr_has("mounted volume is marked read-only");
            assert!(!h.join("robind").join(&new).exists(), "{state}: written into a :ro bind");
        }
        // None of it went to the container's own layer.
        let diff = d.run(c, &["diff", &name]);
        diff.success();
        for p in ["/data/new", "/data/f", "/bind/new", "/anon/a", "/anon/new"] {
            assert!(!diff.out().lines().any(|l| l.ends_with(p) || l.contains(&format!("{p}-"))), "{p} in the layer: {diff}");
        }
        d.run(c, &["rm", "-v", &name]).success();
        d.run(c, &["volume", "rm", &vol]).success();
    }

    fn cp_with_a_read_only_rootfs_file_binds_and_escaping_links(d, c) {
        let name = unique_name("cpro");
        let vol = unique_name("cprovol");
        let h = d.host_dir("cpro");
        write(&h.join("bound.conf"), "bound\n");
        let marker = unique_name("marker");
        write(&h.join(&marker), "m\n");
        let hs = |p: &str| h.join(p).display().to_string();
        let ctr = |p: &str| format!("{name}:{p}");
        d.run_detached(c, &["--name", &name, "--read-only",
            "-v", &format!("{vol}:/data"),
            "-v", &format!("{}:/etc/bound.conf", hs("bound.conf")),
            "busybox", "sh", "-c",
            "ln -s ../../../.. /data/up; touch /data/ready; sleep 300"]);
        d.wait_for_inspect(c, &name, "{{.State.Running}}", "true");
        assert!(wait_until(SETTLE, || d.run(c, &["exec", &name, "test", "-e", "/data/ready"]).code == 0));
        let named_src = mount_source(d, c, &name, "/data");
        // The rootfs is read-only, the volume is not.
        d.run(c, &["cp", &hs(&marker), &ctr("/data/")]).success();
        assert_eq!(read(&named_src.join(&marker)), "m\n");
        d.run(c, &["cp", &hs(&marker), &ctr("/")])
            .code_is(1)
            .stderr_has("container rootfs is marked read-only");
        // A relative link climbing out of the volume lands on the container's `/`: the
        // read-only rootfs, never the host's.
        d.run(c, &["cp", &hs(&marker), &ctr("/data/up/")])
            .code_is(1)
            .stderr_has("container rootfs is marked read-only");
        assert!(!std::path::Path::new("/").join(&marker).exists(), "written on the host's /");
        let container_passwd = d.run(c, &["exec", &name, "cat", "/etc/passwd"]).success().out().to_string();
        let out = h.join("passwd");
        d.run(c, &["cp", &ctr("/data/up/etc/passwd"), &out.display().to_string()]).success();
        assert_eq!(read(&out).trim_end(), container_passwd);
        // A bind-mounted file: read from, and overwritten on, the host.
        let out = h.join("bound-out");
        d.run(c, &["cp", &ctr("/etc/bound.conf"), &out.display().to_string()]).success();
        assert_eq!(read(&out), "bound\n");
        d.run(c, &["rm", "-f", "-v", &name]).success();
        d.run(c, &["volume", "rm", &vol]).success();
    }
}

/// `POST /v1.45/containers/create` with one volume mount of `volume` at `/m`, `Subpath`
/// `subpath` (anonymous when `volume` is empty); the response.
fn create_with_subpath(
    d: &TestDaemon,
    volume: &str,
    subpath: &str,
    cmd: &str,
) -> berth_tests::http::Response {
    let body = serde_json::json!({
        "Image": "busybox",
        "Cmd": ["sh", "-c", cmd],
        "HostConfig": {"Mounts": [{
            "Type": "volume", "Source": volume, "Target": "/m",
            "VolumeOptions": {"Subpath": subpath},
        }]},
    });
    d.api(
        "POST",
        "/v1.45/containers/create",
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

fn created_id(r: &berth_tests::http::Response) -> String {
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
        .and_then(|j| j["Id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no Id: {}", r.text()))
}

#[test]
fn volume_subpath_mounts_a_directory_of_the_volume_and_stays_inside_it() {
    let Some(d) = TestDaemon::start() else { return };
    let vol = unique_name("subvol");
    d.docker(&["volume", "create", &vol]).success();
    d.docker(&["run", "--rm", "-v", &format!("{vol}:/v"), "busybox", "sh", "-c",
        "mkdir -p /v/sub/deep && echo hi > /v/sub/deep/f && ln -s / /v/esc && ln -s ../.. /v/up && ln -s sub /v/inlink && echo file > /v/plain"])
        .success();
    let data = std::path::PathBuf::from(
        d.docker(&["volume", "inspect", "-f", "{{.Mountpoint}}", &vol])
            .success()
            .out()
            .to_string(),
    );

    // The subdirectory is what the container sees at /m; writes land there.
    for sub in ["sub", "inlink", "sub/./deep/.."] {
        let id = created_id(&create_with_subpath(
            &d,
            &vol,
            sub,
            "cat /m/deep/f; touch /m/written",
        ));
        let out = d.docker(&["start", "-a", &id]);
        assert_eq!(out.success().out(), "hi", "{sub}: {out}");
        assert!(
            data.join("sub/written").exists(),
            "{sub}: write not in the subpath"
        );
        assert!(
            !data.join("written").exists(),
            "{sub}: write at the volume's top"
        );
        // cp sees the same subdirectory.
        let copied = d.dir().join(unique_name("subcp"));
        d.docker(&[
            "cp",
            &format!("{id}:/m/deep/f"),
            &copied.display().to_string(),
        ])
        .success();
        assert_eq!(read(&copied), "hi\n");
        d.docker(&["rm", &id]).success();
        std::fs::remove_file(data.join("sub/written")).expect("rm written");
    }

    // The docker CLI's `volume-subpath`.
    let out = d.docker(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=volume,src={vol},dst=/m,volume-subpath=sub/deep"),
        "busybox",
        "cat",
        "/m/f",
    ]);
    assert_eq!(out.success().out(), "hi", "{out}");

    // Bad input at create: dockerd's wording, 400.
    for (volume, sub, msg) in [
        (
            vol.as_str(),
            "../x",
            "subpath must be a relative path within the volume",
        ),
        (
            vol.as_str(),
            "/sub",
            "subpath must be a relative path within the volume",
        ),
        (
            vol.as_str(),
            "sub/../../x",
            "subpath must be a relative path within the volume",
        ),
        (
            "",
            "sub",
            "must not set Subpath when using anonymous volumes",
        ),
    ] {
        let r = create_with_subpath(&d, volume, sub, "true");
        assert_eq!(r.status, 400, "{sub}: {}", r.text());
        assert!(
            r.text().contains(&format!(
                "invalid mount config for type \\\"volume\\\": {msg}"
            )),
            "{sub}: {}",
            r.text()
        );
    }

    // Before API 1.45 there was no Subpath.
    let body = serde_json::json!({
        "Image": "busybox",
        "HostConfig": {"Mounts": [{"Type": "volume", "Source": vol, "Target": "/m",
            "VolumeOptions": {"Subpath": "sub"}}]},
    });
    let r = d.api(
        "POST",
        "/v1.44/containers/create",
        Some("application/json"),
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text()
            .contains("VolumeOptions.Subpath needs API v1.45 or newer"),
        "{}",
        r.text()
    );

    // At start: a missing subpath is 404, a symlink out of the volume 400; the container
    // stays created and nothing outside the volume is mounted.
    let start = |id: &str| d.api("POST", &format!("/containers/{id}/start"), None, b"");
    let id = created_id(&create_with_subpath(&d, &vol, "nope", "true"));
    let r = start(&id);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.text().contains(&format!(
            "cannot access path {}",
            data.join("nope").display()
        )),
        "{}",
        r.text()
    );
    assert_eq!(
        d.inspect(berth_tests::Client::Docker, &id, "{{.State.Status}}"),
        "created"
    );
    for sub in ["esc", "up", "esc/etc"] {
        let id = created_id(&create_with_subpath(&d, &vol, sub, "ls /m"));
        let r = start(&id);
        assert_eq!(r.status, 400, "{sub}: {}", r.text());
        assert!(
            r.text()
                .contains("path concatenation escapes the base directory"),
            "{sub}: {}",
            r.text()
        );
    }
    // A subpath naming a file mounts the file.
    let id = created_id(&create_with_subpath(&d, &vol, "plain", "cat /m"));
    let out = d.docker(&["start", "-a", &id]);
    assert_eq!(out.success().out(), "file", "{out}");
}

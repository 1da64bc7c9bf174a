//! The last gaps of "Drop-in for every client", each as dockerd 20.10 behaves:
//! - image inspect's `Container` and `ContainerConfig` before API 1.45: the committed
//!   container and its config, a classic build step's container config (`Cmd` the RUN command
//!   or the `#(nop)` line), a zero config for images that carry none; kept by save/load;
//! - `docker cp` of a directory above a volume or bind mount includes the mount's contents,
//!   and an extraction into such a directory lands in the mount;
//! - removing a link from a running parent rebuilds its /etc/hosts without the link and leaves
//!   its later execs without the link's variables (its processes keep theirs), as dockerd's
//!   `updateNetwork` does.

use std::path::Path;

use super::build::build;
use super::*;

fn image_json(d: &TestDaemon, version: &str, name: &str) -> serde_json::Value {
    let r = d.api("GET", &format!("/{version}/images/{name}/json"), None, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().unwrap_or_else(|| panic!("not JSON: {}", r.text()))
}

/// Every field of Go's `container.Config` as dockerd 20.10 writes it.
const CONFIG_FIELDS: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Image",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "OnBuild",
    "Labels",
];

/// The image's `ContainerConfig` at API 1.41 (checked to be a whole config object), after
/// checking that API 1.45 leaves it and `Container` out.
fn container_config(d: &TestDaemon, name: &str) -> (String, serde_json::Value) {
    // (dockerd 20.10 itself, which the suite can run against, speaks 1.41 at most.)
    let version = d
        .api("GET", "/version", None, b"")
        .json()
        .unwrap_or_default();
    let max = version["ApiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let minor = max
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0);
    if minor >= 45 {
        let new = image_json(d, "v1.45", name);
        assert!(new.get("ContainerConfig").is_none(), "1.45: {new}");
        assert!(new.get("Container").is_none(), "1.45: {new}");
    }
    let old = image_json(d, "v1.41", name);
    let cc = old["ContainerConfig"].clone();
    assert!(
        cc.is_object(),
        "1.41: ContainerConfig is not an object: {old}"
    );
    for f in CONFIG_FIELDS {
        assert!(
            cc.get(*f).is_some(),
            "1.41: ContainerConfig.{f} missing: {cc}"
        );
    }
    let container = old["Container"]
        .as_str()
        .unwrap_or_else(|| panic!("1.41: Container is not a string: {old}"))
        .to_string();
    (container, cc)
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_string())
        .collect()
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn image_container_config_is_dockerds_before_api_1_45() {
    let Some(d) = TestDaemon::start() else { return };

    // An imported image has none: the zero config, as dockerd keeps it by value.
    let (container, cc) = container_config(&d, "busybox");
    assert_eq!(container, "");
    assert_eq!(cc["Hostname"], "");
    assert!(cc["Cmd"].is_null(), "{cc}");
    assert!(cc["Env"].is_null(), "{cc}");
    assert_eq!(cc["AttachStdout"], false);

    // A commit records the container and its config.
    let name = unique_name("ccommit");
    let id = d.run_detached(
        Client::Docker,
        &[
            "--name",
            &name,
            "-e",
            "X=1",
            "busybox",
            "sh",
            "-c",
            "echo hi > /f",
        ],
    );
    d.docker(&["wait", &name]).success();
    let tag = unique_name("committed");
    d.docker(&["commit", "-c", "CMD [\"cat\", \"/f\"]", &name, &tag])
        .success();
    let (container, cc) = container_config(&d, &tag);
    assert_eq!(container, id);
    assert_eq!(strings(&cc["Cmd"]), ["sh", "-c", "echo hi > /f"]);
    assert!(strings(&cc["Env"]).contains(&"X=1".to_string()), "{cc}");
    assert_eq!(cc["Hostname"], id[..12]);
    assert_eq!(cc["Image"], "busybox");
    // The image's own config is the commit's, not the container's.
    let img = image_json(&d, "v1.41", &tag);
    assert_eq!(strings(&img["Config"]["Cmd"]), ["cat", "/f"]);

    // save, rmi, load: the same config blob, so the same id and container config.
    let h = d.host_dir("ccsave");
    let tar = h.join("img.tar").display().to_string();
    let image_id = img["Id"].as_str().unwrap_or_default().to_string();
    d.docker(&["save", "-o", &tar, &tag]).success();
    d.docker(&["rm", &name]).success();
    d.docker(&["rmi", &tag]).success();
    d.docker(&["load", "-i", &tar]).success();
    let loaded = image_json(&d, "v1.41", &tag);
    assert_eq!(loaded["Id"], image_id.as_str());
    assert_eq!(loaded["Container"], id.as_str());
    assert_eq!(loaded["ContainerConfig"], cc);

    // push, rmi, pull: the same again.
    let root = tempfile::tempdir().expect("tempdir");
    let registry = crate::registry::Served::start(root.path(), &[]);
    let remote = format!("{}/gap15/cc:1", registry.addr);
    d.docker(&["tag", &tag, &remote]).success();
    d.docker(&["push", &remote]).success();
    d.docker(&["rmi", &tag, &remote]).success();
    d.docker(&["pull", &remote]).success();
    let pulled = image_json(&d, "v1.41", &remote);
    assert_eq!(pulled["Id"], image_id.as_str());
    assert_eq!(pulled["Container"], id.as_str());
    assert_eq!(pulled["ContainerConfig"], cc);
    d.docker(&["rmi", &remote]).success();
}

#[test]
fn classic_build_steps_record_their_container_config() {
    let Some(d) = TestDaemon::start() else { return };
    let ctx = d.host_dir("ccbuild");
    write(&ctx.join("f"), "f\n");
    let dockerfile = |text: &str| write(&ctx.join("Dockerfile"), text);

    // RUN: the command as run (build args before it, as dockerd's history shows them), the
    // RUN container, the parent as Image, no entrypoint, no host name (dockerd commits the
    // cache probe's copy of the config, which its create did not touch).
    dockerfile("FROM busybox\nENTRYPOINT [\"/bin/echo\"]\nENV A=b\nARG V\nRUN echo \"$V\" > /x\n");
    let run_tag = unique_name("ccrun");
    build(
        &d,
        Client::Docker,
        &ctx,
        &["-t", &run_tag, "--build-arg", "V=1"],
    )
    .success();
    let (container, cc) = container_config(&d, &run_tag);
    assert!(is_id(&container), "RUN: Container {container:?}");
    assert_eq!(cc["Hostname"], "");
    assert_eq!(
        strings(&cc["Cmd"]),
        ["|1", "V=1", "/bin/sh", "-c", "echo \"$V\" > /x"]
    );
    assert!(cc["Entrypoint"].is_null(), "{cc}");
    assert!(strings(&cc["Env"]).contains(&"A=b".to_string()), "{cc}");
    assert!(!strings(&cc["Env"]).contains(&"V=1".to_string()), "{cc}");
    let parent = image_json(&d, "v1.41", &run_tag)["Parent"].clone();
    assert!(
        parent.as_str().is_some_and(|p| p.starts_with("sha256:")),
        "{parent}"
    );
    assert_eq!(cc["Image"], parent);
    // The image itself keeps its entrypoint.
    let img = image_json(&d, "v1.41", &run_tag);
    assert_eq!(strings(&img["Config"]["Entrypoint"]), ["/bin/echo"]);

    // COPY: one `#(nop)` argument after the shell, no container.
    dockerfile("FROM busybox\nCOPY f /f\n");
    let copy_tag = unique_name("cccopy");
    build(&d, Client::Docker, &ctx, &["-t", &copy_tag]).success();
    let (container, cc) = container_config(&d, &copy_tag);
    assert_eq!(container, "");
    let cmd = strings(&cc["Cmd"]);
    assert_eq!(cmd[..2], ["/bin/sh", "-c"]);
    assert_eq!(cmd.len(), 3, "{cmd:?}");
    assert!(
        cmd[2].starts_with("#(nop) COPY file:") && cmd[2].ends_with(" in /f "),
        "{cmd:?}"
    );

    // A config step: the shell (SHELL's when set), `#(nop) ` and the instruction; the history
    // line is the same words joined.
    dockerfile("FROM busybox\nSHELL [\"/bin/sh\", \"-ec\"]\nCMD [\"sh\"]\n");
    let cmd_tag = unique_name("cccmd");
    build(&d, Client::Docker, &ctx, &["-t", &cmd_tag]).success();
    let (_, cc) = container_config(&d, &cmd_tag);
    let cmd = strings(&cc["Cmd"]);
    assert_eq!(cmd, ["/bin/sh", "-ec", "#(nop) ", "CMD [\"sh\"]"]);
    let history = d.docker(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        &cmd_tag,
    ]);
    assert_eq!(
        history.success().out().lines().next(),
        Some(cmd.join(" ").as_str())
    );
}

/// The host path of the mount at `dest` in container `name`.
fn mount_source(d: &TestDaemon, c: Client, name: &str, dest: &str) -> std::path::PathBuf {
    let format = format!(
        "{{{{range .Mounts}}}}{{{{if eq .Destination \"{dest}\"}}}}{{{{.Source}}}}{{{{end}}}}{{{{end}}}}"
    );
    let source = d.inspect(c, name, &format);
    assert!(!source.is_empty(), "no mount at {dest} in {name}");
    std::path::PathBuf::from(source)
}

fn exists(p: &Path) -> bool {
    p.symlink_metadata().is_ok()
}

both_clients! {
    fn cp_of_a_directory_above_mounts_goes_through_them(d, c) {
        let name = unique_name("cpabove");
        let vol = unique_name("cpabovevol");
        let h = d.host_dir("cpabove");
        write(&h.join("bind/in-bind"), "bind\n");
        write(&h.join("mnt/in-mnt"), "mnt\n");
        write(&h.join("ro/in-ro"), "ro\n");
        let hs = |p: &str| h.join(p).display().to_string();
        let ctr = |p: &str| format!("{name}:{p}");
        // A volume at /data, a bind nested in it at /data/sub, one at /mnt/b, a read-only one.
        d.run_detached(c, &["--name", &name,
            "-v", &format!("{vol}:/data"),
            "-v", &format!("{}:/data/sub", hs("bind")),
            "-v", &format!("{}:/mnt/b", hs("mnt")),
            "-v", &format!("{}:/data/ro:ro", hs("ro")),
            "busybox", "sh", "-c", "echo top > /data/top; touch /ready; sleep 300"]);
        d.wait_for_inspect(c, &name, "{{.State.Running}}", "true");
        assert!(wait_until(SETTLE, || d.run(c, &["exec", &name, "test", "-e", "/ready"]).code == 0));
        let vol_src = mount_source(d, c, &name, "/data");

        for state in ["running", "stopped"] {
            if state == "stopped" {
                d.run(c, &["stop", "-t", "0", &name]).success();
            }
            let out = |what: &str| h.join(format!("{state}-{what}"));
            // Reading a directory above the mounts: their contents come along.
            d.run(c, &["cp", &ctr("/data"), &out("data").display().to_string()]).success();
            assert_eq!(read(&out("data").join("top")), "top\n", "{state}");
            assert_eq!(read(&out("data").join("sub/in-bind")), "bind\n", "{state}");
            assert_eq!(read(&out("data").join("ro/in-ro")), "ro\n", "{state}");
            d.run(c, &["cp", &ctr("/"), &out("root").display().to_string()]).success();
            assert_eq!(read(&out("root").join("mnt/b/in-mnt")), "mnt\n", "{state}");
            assert_eq!(read(&out("root").join("data/sub/in-bind")), "bind\n", "{state}");
            assert_eq!(read(&out("root").join("data/top")), "top\n", "{state}");
            assert!(exists(&out("root").join("bin/busybox")), "{state}: no rootfs");

            // Writing into a directory that holds mount points: entries land in the mounts.
            let src = h.join(format!("{state}-src"));
            write(&src.join("sub").join(format!("w-{state}")), "w\n");
            write(&src.join(format!("top-{state}")), "t\n");
            d.run(c, &["cp", &format!("{}/.", src.display()), &ctr("/data")]).success();
            assert_eq!(read(&h.join("bind").join(format!("w-{state}"))), "w\n", "{state}");
            assert_eq!(read(&vol_src.join(format!("top-{state}"))), "t\n", "{state}");
            let rsrc = h.join(format!("{state}-rsrc"));
            write(&rsrc.join("mnt/b").join(format!("r-{state}")), "r\n");
            d.run(c, &["cp", &format!("{}/.", rsrc.display()), &ctr("/")]).success();
            assert_eq!(read(&h.join("mnt").join(format!("r-{state}"))), "r\n", "{state}");

            // A read-only mount below the extraction point refuses what would land in it.
            let rosrc = h.join(format!("{state}-rosrc"));
            write(&rosrc.join("ro").join(format!("x-{state}")), "x\n");
            d.run(c, &["cp", &format!("{}/.", rosrc.display()), &ctr("/data")]).code_is(1);
            assert!(!exists(&h.join("ro").join(format!("x-{state}"))), "{state}: written into a :ro bind");
        }
        // Nothing of it went to the container's own layer, nor onto the host's rootfs view.
        let diff = d.run(c, &["diff", &name]);
        diff.success();
        for p in ["in-bind", "w-running", "r-running", "in-mnt", "top-running"] {
            assert!(!diff.out().contains(p), "{p} in the layer: {diff}");
        }
        d.run(c, &["rm", "-v", &name]).success();
        d.run(c, &["volume", "rm", &vol]).success();
    }
}

#[test]
fn removing_a_link_of_a_running_parent_updates_its_hosts_as_dockerd() {
    let Some(d) = TestDaemon::start() else { return };
    let child = unique_name("lchild");
    let parent = unique_name("lparent");
    d.docker(&["run", "-d", "--name", &child, "busybox", "sleep", "300"])
        .success();
    d.docker(&[
        "run",
        "-d",
        "--name",
        &parent,
        "--link",
        &format!("{child}:a1"),
        "--link",
        &format!("{child}:a2"),
        "busybox",
        "sleep",
        "300",
    ])
    .success();
    d.wait_for_inspect(Client::Docker, &parent, "{{.State.Running}}", "true");
    let hosts = || {
        d.docker(&["exec", &parent, "cat", "/etc/hosts"])
            .success()
            .out()
            .to_string()
    };
    let has_alias = |text: &str, alias: &str| {
        text.lines()
            .any(|l| l.split_whitespace().skip(1).any(|n| n == alias))
    };
    let before = hosts();
    assert!(
        has_alias(&before, "a1") && has_alias(&before, "a2"),
        "{before}"
    );
    d.docker(&[
        "exec",
        &parent,
        "sh",
        "-c",
        "echo '192.0.2.9 custom' >> /etc/hosts",
    ])
    .success();

    d.docker(&["rm", "--link", &format!("{parent}/a1")])
        .success();
    // /etc/hosts is rebuilt: the removed link's line and the container's own edit are gone,
    // the remaining link stays.
    let after = hosts();
    assert!(!has_alias(&after, "a1"), "{after}");
    assert!(has_alias(&after, "a2"), "{after}");
    assert!(!has_alias(&after, "custom"), "{after}");
    assert!(has_alias(&after, "localhost"), "{after}");
    // A later exec has only the remaining link's variables; PID 1 keeps what it started with.
    let env = d
        .docker(&["exec", &parent, "env"])
        .success()
        .out()
        .to_string();
    assert!(!env.lines().any(|l| l.starts_with("A1_")), "{env}");
    assert!(env.lines().any(|l| l.starts_with("A2_NAME=")), "{env}");
    let pid1 = d
        .docker(&[
            "exec",
            &parent,
            "sh",
            "-c",
            "tr '\\0' '\\n' < /proc/1/environ",
        ])
        .success()
        .out()
        .to_string();
    assert!(pid1.lines().any(|l| l.starts_with("A1_NAME=")), "{pid1}");
    let links = d.inspect(Client::Docker, &parent, "{{json .HostConfig.Links}}");
    assert!(links.contains("/a2") && !links.contains("/a1"), "{links}");

    // On a stopped parent the link just goes; the next start has no trace of it.
    d.docker(&["stop", "-t", "0", &parent]).success();
    d.docker(&["rm", "--link", &format!("{parent}/a2")])
        .success();
    assert_eq!(
        d.inspect(Client::Docker, &parent, "{{json .HostConfig.Links}}"),
        "null"
    );
    d.docker(&["start", &parent]).success();
    d.wait_for_inspect(Client::Docker, &parent, "{{.State.Running}}", "true");
    let restarted = hosts();
    assert!(
        !has_alias(&restarted, "a1") && !has_alias(&restarted, "a2"),
        "{restarted}"
    );
    d.docker(&["rm", "-f", &parent, &child]).success();
}

both_clients! {
    fn cp_sees_the_containers_own_etc_files(d, c) {
        // dockerd mounts the container's hostname, hosts and resolv.conf for `cp` too.
        let name = unique_name("cpetc");
        let h = d.host_dir("cpetc");
        d.run_detached(c, &["--name", &name, "--hostname", "cphost", "busybox", "sleep", "300"]);
        d.wait_for_inspect(c, &name, "{{.State.Running}}", "true");
        let hosts_in_ctr = d.run(c, &["exec", &name, "cat", "/etc/hosts"]).success().out().to_string();
        for state in ["running", "stopped"] {
            if state == "stopped" {
                d.run(c, &["stop", "-t", "0", &name]).success();
            }
            let out = |what: &str| h.join(format!("{state}-{what}"));
            d.run(c, &["cp", &format!("{name}:/etc/hostname"), &out("hostname").display().to_string()]).success();
            assert_eq!(read(&out("hostname")), "cphost\n", "{state}");
            d.run(c, &["cp", &format!("{name}:/etc"), &out("etc").display().to_string()]).success();
            assert_eq!(read(&out("etc").join("hosts")).trim_end(), hosts_in_ctr, "{state}");
            assert!(read(&out("etc").join("resolv.conf")).contains("nameserver"), "{state}");
            assert!(exists(&out("etc").join("passwd")), "{state}: no rootfs /etc");
        }
        d.run(c, &["rm", &name]).success();
    }
}

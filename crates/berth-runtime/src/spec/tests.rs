use super::*;
use oci_spec::runtime::{Capability, LinuxNamespaceType};

fn host() -> HostInfo {
    HostInfo {
        bounding: CapSet(0x1fffeffffff),
        seccomp: seccomp::Host {
            go_arch: "amd64",
            kernel: (6, 18),
        },
        cgroup2: false,
        cgroup_namespaces: true,
    }
}

fn input() -> SpecInput {
    SpecInput {
        id: "abc".into(),
        rootfs: "/var/lib/berth/overlay/abc/merged".into(),
        args: vec!["sh".into(), "-c".into(), "true".into()],
        env: vec!["PATH=/bin".into()],
        hostname: "abc".into(),
        domainname: String::new(),
        cgroups_path: "/berth/abc".into(),
        ..Default::default()
    }
}

fn cap(name: &str) -> Capability {
    serde_json::from_value(serde_json::Value::String(name.into())).expect("capability name")
}

fn namespaces(spec: &Spec) -> Vec<LinuxNamespaceType> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
        .iter()
        .map(|n| n.typ())
        .collect()
}

#[test]
fn defaults_follow_docker() {
    let spec = build_for(&input(), &host()).expect("spec");
    let process = spec.process().as_ref().expect("process");
    assert_eq!(process.args().as_ref().map(Vec::len), Some(3));
    assert_eq!(process.cwd(), &std::path::PathBuf::from("/"));
    let caps = process.capabilities().as_ref().expect("caps");
    assert_eq!(caps.bounding().as_ref().map(|c| c.len()), Some(14));
    assert!(caps
        .effective()
        .as_ref()
        .is_some_and(|c| c.contains(&cap("CAP_NET_BIND_SERVICE"))));
    assert!(
        caps.inheritable().is_none(),
        "docker no longer sets inheritable capabilities"
    );

    let mounts = spec.mounts().as_ref().expect("mounts");
    let dests: Vec<String> = mounts
        .iter()
        .map(|m| m.destination().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        dests,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm"
        ]
    );
    let pts = &mounts[2];
    assert!(pts.options().as_ref().is_some_and(
        |o| o.contains(&"ptmxmode=0666".to_string()) && o.contains(&"gid=5".to_string())
    ));
    assert!(mounts[3]
        .options()
        .as_ref()
        .is_some_and(|o| o.contains(&"ro".to_string())));
    assert!(mounts[6]
        .options()
        .as_ref()
        .is_some_and(|o| o.contains(&"size=67108864".to_string())));

    let linux = spec.linux().as_ref().expect("linux");
    assert!(linux
        .masked_paths()
        .as_ref()
        .is_some_and(|m| m.contains(&"/proc/kcore".to_string())));
    assert!(linux
        .readonly_paths()
        .as_ref()
        .is_some_and(|m| m.contains(&"/proc/sys".to_string())));
    assert_eq!(
        linux.cgroups_path().as_deref(),
        Some(std::path::Path::new("/berth/abc"))
    );
    let rules = linux
        .resources()
        .as_ref()
        .and_then(|r| r.devices().clone())
        .expect("device rules");
    assert!(!rules[0].allow(), "deny-all first");
    assert_eq!(rules.len(), 8);
    assert!(linux.seccomp().is_some());
    assert_eq!(
        namespaces(&spec),
        [
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Ipc
        ]
    );
    assert_eq!(spec.hostname().as_deref(), Some("abc"));
    assert_eq!(spec.root().as_ref().and_then(|r| r.readonly()), Some(false));
}

#[test]
fn privileged_gets_everything_and_no_confinement() {
    let spec = build_for(
        &SpecInput {
            privileged: true,
            ..input()
        },
        &host(),
    )
    .expect("spec");
    let caps = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().clone())
        .expect("caps");
    assert_eq!(
        caps.bounding().as_ref().map(|c| c.len()),
        Some(40),
        "the bounding set, without CAP_SYS_RESOURCE"
    );
    assert!(!caps
        .bounding()
        .as_ref()
        .is_some_and(|c| c.contains(&cap("CAP_SYS_RESOURCE"))));
    let linux = spec.linux().as_ref().expect("linux");
    assert!(linux.seccomp().is_none());
    assert!(linux.masked_paths().as_ref().is_none_or(Vec::is_empty));
    assert!(linux.readonly_paths().as_ref().is_none_or(Vec::is_empty));
    let rules = linux
        .resources()
        .as_ref()
        .and_then(|r| r.devices().clone())
        .expect("device rules");
    assert!(rules.len() == 1 && rules[0].allow());
    assert!(linux.devices().as_ref().is_some_and(|d| d
        .iter()
        .any(|d| d.path() == std::path::Path::new("/dev/null"))));
    let sys = &spec.mounts().as_ref().expect("mounts")[3];
    assert!(sys
        .options()
        .as_ref()
        .is_some_and(|o| o.contains(&"rw".to_string())));
}

#[test]
fn cap_changes_reach_the_process_and_seccomp() {
    let spec = build_for(
        &SpecInput {
            cap_add: vec!["sys_admin".into()],
            cap_drop: vec!["NET_RAW".into()],
            ..input()
        },
        &host(),
    )
    .expect("spec");
    let caps = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().clone())
        .expect("caps");
    let eff = caps.effective().clone().expect("effective");
    assert!(eff.contains(&cap("CAP_SYS_ADMIN")) && !eff.contains(&cap("CAP_NET_RAW")));
    let seccomp = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone())
        .expect("seccomp");
    assert!(seccomp
        .syscalls()
        .iter()
        .flatten()
        .any(|r| r.names().contains(&"mount".to_string())));

    let err = build_for(
        &SpecInput {
            cap_add: vec!["bogus".into()],
            ..input()
        },
        &host(),
    )
    .expect_err("unknown cap");
    assert_eq!(err.to_string(), "unknown capability: \"CAP_BOGUS\"");
}

#[test]
fn seccomp_choices() {
    let spec = build_for(
        &SpecInput {
            seccomp: SeccompChoice::Unconfined,
            ..input()
        },
        &host(),
    )
    .expect("spec");
    assert!(spec.linux().as_ref().is_some_and(|l| l.seccomp().is_none()));
    let profile = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}"#;
    let spec = build_for(
        &SpecInput {
            seccomp: SeccompChoice::Profile(profile.into()),
            ..input()
        },
        &host(),
    )
    .expect("spec");
    let s = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone())
        .expect("seccomp");
    assert_eq!(s.syscalls().as_ref().map(Vec::len), Some(1));
    let bad = build_for(
        &SpecInput {
            seccomp: SeccompChoice::Profile("[".into()),
            ..input()
        },
        &host(),
    );
    assert!(matches!(bad, Err(SpecError::Seccomp(_))));
}

#[test]
fn network_init_read_only_and_mounts() {
    let spec = build_for(
        &SpecInput {
            network: NetworkMode::Host,
            init: Some("/usr/libexec/berth-init".into()),
            read_only: true,
            shm_size: Some(1 << 20),
            mounts: vec![BindMount {
                source: "/c/hosts".into(),
                destination: "/etc/hosts".into(),
                read_only: true,
            }],
            user: ProcessUser {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![10],
            },
            cwd: "/work".into(),
            no_new_privileges: true,
            oom_score_adj: Some(-500),
            resources: Resources {
                memory: Some(64 << 20),
                memory_swap: Some(128 << 20),
                cpu_quota: Some(50_000),
                cpu_period: Some(100_000),
                cpuset_cpus: Some("0".into()),
                pids_limit: Some(20),
                ..Default::default()
            },
            devices: vec![DeviceMapping {
                host: "/dev/null".into(),
                container: "/dev/mynull".into(),
                permissions: "rw".into(),
            }],
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 100,
                hard: 200,
            }],
            sysctls: [("kernel.shm_rmid_forced".to_string(), "1".to_string())].into(),
            ..input()
        },
        &host(),
    )
    .expect("spec");
    assert!(!namespaces(&spec).contains(&LinuxNamespaceType::Network));
    let process = spec.process().as_ref().expect("process");
    assert_eq!(
        process.args().as_ref().expect("args")[..3],
        ["/sbin/docker-init", "--", "sh"].map(String::from)
    );
    assert_eq!(process.user().uid(), 1000);
    assert_eq!(
        process.user().additional_gids().as_deref(),
        Some(&[10u32][..])
    );
    assert_eq!(process.no_new_privileges(), Some(true));
    assert_eq!(process.oom_score_adj(), Some(-500));
    assert_eq!(spec.root().as_ref().and_then(|r| r.readonly()), Some(true));
    let memory = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .and_then(|r| *r.memory())
        .expect("memory");
    assert_eq!(memory.limit(), Some(64 << 20));
    assert_eq!(memory.swap(), Some(128 << 20));
    let linux = spec.linux().as_ref().expect("linux");
    let resources = linux.resources().as_ref().expect("resources");
    let cpu = resources.cpu().as_ref().expect("cpu");
    assert_eq!((cpu.quota(), cpu.period()), (Some(50_000), Some(100_000)));
    assert_eq!(cpu.cpus().as_deref(), Some("0"));
    assert_eq!(resources.pids().as_ref().map(|p| p.limit()), Some(20));
    let device = &linux.devices().as_ref().expect("devices")[0];
    assert_eq!(device.path(), std::path::Path::new("/dev/mynull"));
    assert_eq!((device.major(), device.minor()), (1, 3));
    let rules = resources.devices().as_ref().expect("device rules");
    assert!(rules
        .last()
        .is_some_and(|r| r.allow() && r.major() == Some(1) && r.minor() == Some(3)));
    let rlimits = process.rlimits().as_ref().expect("rlimits");
    assert_eq!((rlimits[0].soft(), rlimits[0].hard()), (100, 200));
    let mounts = spec.mounts().as_ref().expect("mounts");
    let init = mounts
        .iter()
        .find(|m| m.destination() == std::path::Path::new(INIT_PATH))
        .expect("init mount");
    assert!(init
        .options()
        .as_ref()
        .is_some_and(|o| o.contains(&"ro".to_string())));
    let hosts = mounts
        .iter()
        .find(|m| m.destination() == std::path::Path::new("/etc/hosts"))
        .expect("hosts");
    assert_eq!(hosts.typ().as_deref(), Some("bind"));
    assert!(mounts.iter().any(|m| m
        .options()
        .as_ref()
        .is_some_and(|o| o.contains(&"size=1048576".to_string()))));
    assert!(
        spec.linux().as_ref().is_some_and(|l| l
            .sysctl()
            .as_ref()
            .is_some_and(|s| s.len() == 1 && s.contains_key("kernel.shm_rmid_forced"))),
        "host network keeps the host's sysctls but the user's"
    );

    let spec = build_for(
        &SpecInput {
            network: NetworkMode::Path("/run/berth/netns/x".into()),
            ..input()
        },
        &HostInfo {
            cgroup2: true,
            ..host()
        },
    )
    .expect("spec");
    let ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .expect("ns");
    let net = ns
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Network)
        .expect("netns");
    assert_eq!(
        net.path().as_deref(),
        Some(std::path::Path::new("/run/berth/netns/x"))
    );
    assert!(
        namespaces(&spec).contains(&LinuxNamespaceType::Cgroup),
        "pure v2 gets a private cgroup namespace"
    );
}

#[test]
fn an_empty_command_is_refused() {
    let err = build_for(
        &SpecInput {
            args: vec![],
            ..input()
        },
        &host(),
    )
    .expect_err("no command");
    assert_eq!(err.to_string(), "No command specified");
}

#[test]
fn cgroup_namespace_follows_the_mode_and_the_host() {
    let has_cgroupns = |mode, cgroup2, cgroup_namespaces| {
        let spec = build_for(
            &SpecInput {
                cgroupns: mode,
                ..input()
            },
            &HostInfo {
                cgroup2,
                cgroup_namespaces,
                ..host()
            },
        )
        .expect("spec");
        namespaces(&spec).contains(&LinuxNamespaceType::Cgroup)
    };
    use CgroupNamespace::{Host, HostDefault, Private};
    // dockerd's defaults: private on pure v2, the host's on v1 and hybrid.
    assert!(has_cgroupns(HostDefault, true, true));
    assert!(!has_cgroupns(HostDefault, false, true));
    // Asked for, either way, on both layouts.
    assert!(has_cgroupns(Private, false, true));
    assert!(has_cgroupns(Private, true, true));
    assert!(!has_cgroupns(Host, true, true));
    assert!(!has_cgroupns(Host, false, true));
    // A kernel without cgroup namespaces: the setting is discarded (dockerd warns).
    assert!(!has_cgroupns(Private, true, false));
    assert!(!has_cgroupns(HostDefault, true, false));
}

#[test]
fn cgroup_mount_is_read_only_unless_privileged() {
    let cgroup_options = |privileged| {
        let spec = build_for(
            &SpecInput {
                privileged,
                ..input()
            },
            &host(),
        )
        .expect("spec");
        spec.mounts()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .find(|m| m.typ().as_deref() == Some("cgroup"))
            .and_then(|m| m.options().clone())
            .unwrap_or_default()
    };
    assert!(cgroup_options(false).contains(&"ro".to_string()));
    assert!(cgroup_options(true).contains(&"rw".to_string()));
    assert!(!cgroup_options(true).contains(&"ro".to_string()));
}

fn mount_dests(spec: &Spec) -> Vec<String> {
    spec.mounts()
        .iter()
        .flatten()
        .map(|m| m.destination().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_user_mount_on_dev_replaces_the_dev_defaults_as_dockerd() {
    let dev = SpecMount {
        destination: "/dev".into(),
        typ: "bind".into(),
        source: "/dev".into(),
        options: vec!["rbind".into(), "rprivate".into()],
    };
    let shm = SpecMount {
        destination: "/dev/shm".into(),
        typ: "tmpfs".into(),
        source: "tmpfs".into(),
        options: vec![],
    };
    // runc: the defaults under /dev go, the user's /dev is an ordinary bind.
    let spec = build_for(
        &SpecInput {
            user_mounts: vec![dev.clone()],
            ..input()
        },
        &host(),
    )
    .expect("spec");
    assert_eq!(
        mount_dests(&spec),
        ["/proc", "/sys", "/sys/fs/cgroup", "/dev"]
    );
    assert!(spec.hooks().is_none());

    // A user's /dev/shm replaces only the default /dev/shm.
    let spec = build_for(
        &SpecInput {
            user_mounts: vec![shm],
            ..input()
        },
        &host(),
    )
    .expect("spec");
    let dests = mount_dests(&spec);
    assert_eq!(dests.iter().filter(|d| *d == "/dev/shm").count(), 1);
    assert!(dests.contains(&"/dev/pts".to_string()));

    // The embedded runtime: its /dev tmpfs stays, the bind becomes the createContainer hook.
    let spec = build_for(
        &SpecInput {
            user_mounts: vec![dev],
            dev_bind_hook: Some("/usr/bin/berth-shim".into()),
            ..input()
        },
        &host(),
    )
    .expect("spec");
    assert_eq!(
        mount_dests(&spec),
        ["/proc", "/dev", "/sys", "/sys/fs/cgroup"]
    );
    let hooks = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().clone())
        .expect("createContainer hook");
    assert_eq!(
        hooks[0].path(),
        &std::path::PathBuf::from("/usr/bin/berth-shim")
    );
    assert_eq!(
        hooks[0].args().clone().unwrap_or_default(),
        [
            "berth-shim",
            DEV_BIND_HOOK_ARG,
            "/var/lib/berth/overlay/abc/merged",
            "/dev",
            "rbind,rprivate"
        ]
    );
}

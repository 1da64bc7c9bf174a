//! From a container record to what the runtime needs: merged config, process, /etc files and
//! the OCI spec (built by `berth_runtime::spec`).

use std::collections::HashMap;
use std::path::Path;

use berth_api::models::{ContainerConfig, HealthConfig, HostConfig};
use berth_types::{Error, Result};

use crate::container::record::Container;
use crate::daemon::Daemon;
use berth_runtime::spec::{BindMount, NetworkMode, ProcessUser, SeccompChoice, SpecInput};

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Fills what the user left unset from the image's config, as dockerd's `merge`.
pub fn merge_image_config(user: &mut ContainerConfig, image: &ContainerConfig) {
    if user.user.as_deref().is_none_or(str::is_empty) {
        user.user = image.user.clone();
    }
    if let Some(img_ports) = &image.exposed_ports {
        let ports = user.exposed_ports.get_or_insert_with(HashMap::new);
        for (k, v) in img_ports {
            ports.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    match (&mut user.env, &image.env) {
        // dockerd takes the image's list (nil when it has none) for an empty one.
        (env, img) if env.as_ref().is_none_or(Vec::is_empty) => *env = img.clone(),
        (Some(env), Some(img)) => {
            for ie in img {
                let key = ie.split('=').next().unwrap_or_default();
                if !env.iter().any(|ue| ue.split('=').next() == Some(key)) {
                    env.push(ie.clone());
                }
            }
        }
        _ => {}
    }
    // A container always has a label map (`{}` without labels), as dockerd's merge makes it.
    let labels = user.labels.get_or_insert_with(HashMap::new);
    if let Some(img_labels) = &image.labels {
        for (k, v) in img_labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    // `--entrypoint ""` resets the image's entrypoint.
    let reset_entrypoint = matches!(&user.entrypoint, Some(e) if e.len() == 1 && e[0].is_empty());
    if reset_entrypoint {
        user.entrypoint = None;
        if user.cmd.as_ref().is_none_or(Vec::is_empty) {
            user.cmd = image.cmd.clone();
        }
    } else if user.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if user.cmd.as_ref().is_none_or(Vec::is_empty) {
            user.cmd = image.cmd.clone();
        }
        if user.entrypoint.is_none() {
            user.entrypoint = image.entrypoint.clone();
        }
    }
    merge_image_healthcheck(&mut user.healthcheck, image.healthcheck.as_ref());
    if user.working_dir.as_deref().is_none_or(str::is_empty) {
        user.working_dir = image.working_dir.clone();
    }
    // An empty map gives way to the image's volumes (nil when it has none), as in dockerd.
    if user.volumes.as_ref().is_none_or(HashMap::is_empty) {
        user.volumes = image.volumes.clone();
    }
    if user.stop_signal.as_deref().is_none_or(str::is_empty) {
        user.stop_signal = image.stop_signal.clone();
    }
    if user.on_build.is_none() {
        user.on_build = image.on_build.clone();
    }
}

/// What dockerd writes into a new container's HostConfig for what the request left unset, so
/// inspect shows the settings the container runs with: a private IPC namespace, the cgroup
/// namespace mode of the host's cgroup version (a namespace only on cgroup v2), the default
/// /dev/shm size, and (unless privileged) the masked and read-only paths the runtime applies.
pub fn fill_host_defaults(hc: &mut HostConfig, cgroup2: bool) {
    use berth_api::models::HostConfigCgroupnsModeEnum as Cgroupns;
    use berth_runtime::spec::{DEFAULT_SHM_SIZE, MASKED_PATHS, READONLY_PATHS};
    if hc.ipc_mode.as_deref().is_none_or(str::is_empty) {
        hc.ipc_mode = Some("private".into());
    }
    if matches!(hc.cgroupns_mode, None | Some(Cgroupns::EMPTY)) {
        hc.cgroupns_mode = Some(if cgroup2 {
            Cgroupns::PRIVATE
        } else {
            Cgroupns::HOST
        });
    }
    if hc.shm_size.unwrap_or(0) == 0 {
        hc.shm_size = Some(DEFAULT_SHM_SIZE as i64);
    }
    if !hc.privileged.unwrap_or(false) {
        let list = |paths: &[&str]| Some(paths.iter().map(|p| p.to_string()).collect());
        if hc.masked_paths.is_none() {
            hc.masked_paths = list(MASKED_PATHS);
        }
        if hc.readonly_paths.is_none() {
            hc.readonly_paths = list(READONLY_PATHS);
        }
    }
}

/// `Path` and `Args`: the entrypoint followed by the command.
pub fn command(config: &ContainerConfig) -> Result<(String, Vec<String>)> {
    let mut argv: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    argv.extend(config.cmd.clone().unwrap_or_default());
    let mut it = argv.into_iter();
    match it.next() {
        Some(p) => Ok((p, it.collect())),
        None => Err(Error::invalid("No command specified")),
    }
}

/// Rejects what berth cannot honour, with dockerd's wording. (Network modes are checked by
/// `plan_networks`.)
pub fn validate_host_config(hc: &HostConfig) -> Result<()> {
    crate::container::restart::validate(hc)?;
    for opt in hc.security_opt.clone().unwrap_or_default() {
        let (k, _) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
        if !matches!(
            k,
            "no-new-privileges" | "seccomp" | "apparmor" | "label" | "systempaths"
        ) {
            return Err(Error::invalid(format!(
                "invalid --security-opt 2: \"{opt}\""
            )));
        }
    }
    for (key, _) in hc.port_bindings.iter().flatten() {
        berth_network::ports::parse_port_key(key).map_err(crate::network::repo::net_error)?;
    }
    for b in hc
        .port_bindings
        .iter()
        .flatten()
        .flat_map(|(_, v)| v.iter().flatten())
    {
        berth_network::ports::parse_host_port(b.host_port.as_deref().unwrap_or_default())
            .map_err(crate::network::repo::net_error)?;
    }
    for extra in hc.extra_hosts.iter().flatten() {
        let ok = extra.split_once([':', '=']).is_some_and(|(n, ip)| {
            !n.is_empty() && (ip == HOST_GATEWAY || ip.parse::<std::net::IpAddr>().is_ok())
        });
        if !ok {
            return Err(Error::invalid(format!(
                "invalid IP address in add-host: {extra:?}"
            )));
        }
    }
    Ok(())
}

/// `--add-host name:host-gateway`: the default bridge's gateway address.
const HOST_GATEWAY: &str = "host-gateway";

/// The container's hostname: `--hostname`, the host's for `--network host`, else the short id.
pub fn hostname(c: &Container) -> String {
    if let Some(h) = c.config.hostname.as_deref().filter(|h| !h.is_empty()) {
        return h.to_string();
    }
    if c.host_config.network_mode.as_deref() == Some("host") {
        if let Ok(u) = nix::sys::utsname::uname() {
            return u.nodename().to_string_lossy().into_owned();
        }
    }
    c.short_id().to_string()
}

/// Writes `hostname`, `hosts` and `resolv.conf` in the container's directory, as dockerd.
pub fn write_etc_files(d: &Daemon, c: &Container, dir: &Path) -> Result<()> {
    let write = |name: &str, data: String| {
        std::fs::write(dir.join(name), data)
            .map_err(|e| Error::internal(format!("writing {name}: {e}")))
    };
    if let crate::network::mode::Mode::Container(other) =
        crate::network::mode::mode_of(&c.host_config)
    {
        // Sharing another container's network: its names and resolvers too.
        let o = d.lookup(&other)?;
        let odir = d.container_dir(&o.id);
        for name in ["hostname", "hosts", "resolv.conf"] {
            let data = std::fs::read_to_string(odir.join(name)).unwrap_or_default();
            write(name, data)?;
        }
        return Ok(());
    }
    let host = hostname(c);
    let host_net = c.host_config.network_mode.as_deref() == Some("host");
    write("hostname", format!("{host}\n"))?;
    let mut hosts = if host_net {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        )
    };
    for extra in c.host_config.extra_hosts.clone().unwrap_or_default() {
        if let Some((name, ip)) = extra.split_once([':', '=']) {
            let ip = if ip == HOST_GATEWAY {
                d.host_gateway_ip()?.to_string()
            } else {
                ip.to_string()
            };
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    if !host_net {
        let fqdn = match c.config.domainname.as_deref().filter(|d| !d.is_empty()) {
            Some(domain) => format!("{host}.{domain} {host}"),
            None => host.clone(),
        };
        for (net, ep) in &c.net.active {
            let Some(ip) = ep.ip_address.as_deref().filter(|i| !i.is_empty()) else {
                continue;
            };
            let mut names = vec![fqdn.clone()];
            if net != "bridge" {
                names.push(c.bare_name().to_string());
                names.extend(ep.aliases.clone().unwrap_or_default());
            }
            names.dedup();
            hosts.push_str(&format!("{ip}\t{}\n", names.join(" ")));
        }
        for line in d.link_hosts(c) {
            hosts.push_str(&line);
            hosts.push('\n');
        }
    }
    write("hosts", hosts)?;
    let resolv = if d.dns.serving(&c.id) {
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        crate::network::dns::embedded_resolv_conf(&c.host_config, &host)
    } else {
        resolv_conf(&c.host_config, host_net)
    };
    write("resolv.conf", resolv)?;
    Ok(())
}

/// The host's resolv.conf with `--dns`, `--dns-search` and `--dns-option` applied; off the
/// host network, loopback resolvers are unreachable, so they are dropped and Google's public
/// resolvers used when none remain (dockerd's behaviour).
fn resolv_conf(hc: &HostConfig, host_net: bool) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let dns = hc.dns.clone().unwrap_or_default();
    let search = hc.dns_search.clone().unwrap_or_default();
    let options = hc.dns_options.clone().unwrap_or_default();
    if host_net && dns.is_empty() && search.is_empty() && options.is_empty() {
        return host;
    }
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let t = line.trim();
        if let Some(addr) = t.strip_prefix("nameserver") {
            let addr = addr.trim();
            if !dns.is_empty() || (!host_net && (addr.starts_with("127.") || addr == "::1")) {
                continue;
            }
            servers += 1;
        } else if ((t.starts_with("search") || t.starts_with("domain")) && !search.is_empty())
            || (t.starts_with("options") && !options.is_empty())
        {
            // Replaced by the container's own below.
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    for server in &dns {
        out.push_str(&format!("nameserver {server}\n"));
        servers += 1;
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    if !search.is_empty() && search != ["."] {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// The process environment: PATH, HOSTNAME, TERM defaults overridden by the config's env.
/// dockerd's `CreateDaemonEnvironment` then the container's and the process's own variables:
/// PATH, HOSTNAME, TERM with a TTY, the link variables (`links`), each replaced by a later
/// variable of the same name.
pub fn process_env(c: &Container, links: &[String], extra: &[String], tty: bool) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={}", hostname(c)),
    ];
    if tty {
        env.push("TERM=xterm".into());
    }
    env.extend(links.iter().cloned());
    for e in c.config.env.iter().flatten().chain(extra.iter()) {
        let key = e.split('=').next().unwrap_or_default();
        match env.iter_mut().find(|x| x.split('=').next() == Some(key)) {
            Some(slot) => *slot = e.clone(),
            None => env.push(e.clone()),
        }
    }
    env
}

fn spec_error(e: berth_runtime::spec::SpecError) -> Error {
    use berth_runtime::spec::SpecError;
    match e {
        SpecError::NoCommand => Error::invalid("No command specified"),
        SpecError::Caps(e) => Error::invalid(e.to_string()),
        SpecError::Seccomp(e) => Error::invalid(e.to_string()),
        SpecError::Resource(e) => Error::invalid(e.to_string()),
        SpecError::Invalid(m) => Error::internal(m),
    }
}

/// Resolves `-u` inside the mounted rootfs, plus `HostConfig.GroupAdd` (dockerd's `getUser`,
/// for the container's process and for execs alike).
/// The primary group is always among the supplementary groups, as runc sets them.
fn resolve_user(
    rootfs: &Path,
    user: &str,
    group_add: &[String],
) -> Result<berth_runtime::user::ResolvedUser> {
    let internal = |e: berth_runtime::user::UserError| Error::internal(e.to_string());
    let mut u = berth_runtime::user::resolve(rootfs, user).map_err(internal)?;
    if !u.additional_gids.contains(&u.gid) {
        u.additional_gids.insert(0, u.gid);
    }
    for gid in berth_runtime::user::additional_groups(rootfs, group_add).map_err(internal)? {
        if !u.additional_gids.contains(&gid) {
            u.additional_gids.push(gid);
        }
    }
    Ok(u)
}

fn security_opts(hc: &HostConfig) -> (bool, SeccompChoice) {
    let mut nnp = false;
    let mut seccomp = SeccompChoice::Default;
    for opt in hc.security_opt.clone().unwrap_or_default() {
        let (k, v) = match opt.split_once(['=', ':']) {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (opt.clone(), String::new()),
        };
        match k.as_str() {
            "no-new-privileges" => nnp = v.is_empty() || v == "true",
            "seccomp" if v == "unconfined" => seccomp = SeccompChoice::Unconfined,
            "seccomp" if v == "builtin" || v.is_empty() => seccomp = SeccompChoice::Default,
            "seccomp" => seccomp = SeccompChoice::Profile(v),
            _ => {}
        }
    }
    (nnp, seccomp)
}

fn with_home(mut env: Vec<String>, home: &str) -> Vec<String> {
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

/// Everything the runtime's spec builder needs, for the container's init.
fn spec_input(d: &Daemon, c: &Container, rootfs: &Path, dir: &Path) -> Result<SpecInput> {
    let hc = &c.host_config;
    let group_add = hc.group_add.clone().unwrap_or_default();
    let user = resolve_user(rootfs, c.config.user.as_deref().unwrap_or(""), &group_add)?;
    let tty = c.tty();
    let (no_new_privileges, seccomp) = security_opts(hc);
    let network = match crate::network::mode::mode_of(hc) {
        crate::network::mode::Mode::Host => NetworkMode::Host,
        crate::network::mode::Mode::Container(other) => {
            let pid = d.lookup(&other)?.snapshot().state.pid;
            NetworkMode::Path(format!("/proc/{pid}/ns/net").into())
        }
        _ => match &c.net.sandbox {
            Some(path) => NetworkMode::Path(path.into()),
            None => NetworkMode::None,
        },
    };
    let bind = |name: &str, dest: &str| BindMount {
        source: dir.join(name),
        destination: dest.to_string(),
        read_only: false,
    };
    let mut args = vec![c.path.clone()];
    args.extend(c.args.iter().cloned());
    Ok(SpecInput {
        id: c.id.clone(),
        rootfs: rootfs.to_path_buf(),
        args,
        env: with_home(process_env(c, &d.link_env(c)?, &[], tty), &user.home),
        cwd: c
            .config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
        user: ProcessUser {
            uid: user.uid,
            gid: user.gid,
            additional_gids: user.additional_gids.clone(),
        },
        hostname: hostname(c),
        domainname: c.config.domainname.clone().unwrap_or_default(),
        tty,
        open_stdin: c.config.open_stdin.unwrap_or(false),
        privileged: hc.privileged.unwrap_or(false),
        cap_add: hc.cap_add.clone().unwrap_or_default(),
        cap_drop: hc.cap_drop.clone().unwrap_or_default(),
        no_new_privileges,
        seccomp,
        read_only: hc.readonly_rootfs.unwrap_or(false),
        network,
        mounts: vec![
            bind("resolv.conf", "/etc/resolv.conf"),
            bind("hostname", "/etc/hostname"),
            bind("hosts", "/etc/hosts"),
        ],
        user_mounts: Vec::new(),
        shm_size: hc.shm_size.filter(|s| *s > 0).map(|s| s as u64),
        init: if hc.init.unwrap_or(false) {
            d.config.init_binary.clone()
        } else {
            None
        },
        cgroups_path: cgroups_path(&c.id),
        oom_score_adj: hc.oom_score_adj.map(|v| v as i32),
        resources: crate::runtime::resources::limits(hc)?,
        devices: crate::runtime::resources::devices(hc)?,
        ulimits: crate::runtime::resources::ulimits(hc)?,
        sysctls: hc.sysctls.clone().unwrap_or_default().into_iter().collect(),
        cgroupns: crate::runtime::cgroupns::of(hc),
        dev_bind_hook: (c.runtime == crate::daemon::EMBEDDED_RUNTIME)
            .then(|| d.config.shim_binary.clone()),
    })
}

/// The container's cgroup (under berth's parent, for the cgroupfs driver).
pub fn cgroups_path(id: &str) -> String {
    format!("/berth/{id}")
}

/// The OCI spec for the container's init.
pub fn build(
    d: &Daemon,
    c: &Container,
    rootfs: &Path,
    dir: &Path,
) -> Result<oci_spec::runtime::Spec> {
    if c.host_config.init.unwrap_or(false) && d.config.init_binary.is_none() {
        return Err(Error::invalid(
            "--init requested but no berth-init binary is installed",
        ));
    }
    let mut input = spec_input(d, c, rootfs, dir)?;
    input.user_mounts = d.prepare_mounts(c, rootfs)?;
    // A user's mount of /etc/hosts (or hostname, resolv.conf) replaces berth's own.
    let user_dests: Vec<String> = input
        .user_mounts
        .iter()
        .map(|m| m.destination.clone())
        .collect();
    input
        .mounts
        .retain(|m| !user_dests.contains(&m.destination));
    // dockerd creates a missing working directory (root-owned, 0755) before the start.
    berth_types::inroot::Root::open(rootfs)
        .and_then(|root| root.mkdir_all(&input.cwd, 0o755))
        .map_err(|e| {
            Error::invalid(format!("creating the working directory {}: {e}", input.cwd))
        })?;
    let mut spec = berth_runtime::spec::build(&input).map_err(spec_error)?;
    if let Some(p) = spec.process_mut() {
        let size = c.host_config.console_size.as_deref();
        if let Some(&[h, w]) = size {
            set_console_size(p, u16::try_from(h).ok(), u16::try_from(w).ok());
        }
    }
    set_rootfs_propagation(&mut spec);
    crate::sandbox::member::adjust_spec(d, c, spec)
}

/// dockerd's root propagation: shared (recursively) when a mount is (r)shared, so that mounts
/// made under it inside the container reach the host; else slave when one is (r)slave; else
/// the runtime's default (slave too). Written `shared`/`slave`, the spelling youki accepts
/// (it applies them with MS_REC; runc reads both spellings).
fn set_rootfs_propagation(spec: &mut oci_spec::runtime::Spec) {
    let has = |names: [&str; 2]| {
        spec.mounts().iter().flatten().any(|m| {
            m.options()
                .iter()
                .flatten()
                .any(|o| names.contains(&o.as_str()))
        })
    };
    let propagation = if has(["rshared", "shared"]) {
        "shared"
    } else if has(["rslave", "slave"]) {
        "slave"
    } else {
        return;
    };
    if let Some(linux) = spec.linux_mut() {
        linux.set_rootfs_propagation(Some(propagation.to_string()));
    }
}

/// The terminal's size as the process starts (the runtime sets it before the process runs,
/// as runc does): dockerd's `HostConfig.ConsoleSize` and exec `ConsoleSize`, `[height,
/// width]`. Nothing without a terminal or when both are 0.
pub fn set_console_size(
    p: &mut oci_spec::runtime::Process,
    height: Option<u16>,
    width: Option<u16>,
) {
    let (h, w) = (height.unwrap_or(0), width.unwrap_or(0));
    if p.terminal() != Some(true) || (h == 0 && w == 0) {
        return;
    }
    if let Ok(b) = oci_spec::runtime::BoxBuilder::default()
        .height(u64::from(h))
        .width(u64::from(w))
        .build()
    {
        p.set_console_size(Some(b));
    }
}

/// The OCI process for an exec in a running container.
pub fn exec_process(
    d: &Daemon,
    c: &Container,
    e: &berth_api::models::ExecConfig,
) -> Result<oci_spec::runtime::Process> {
    let rootfs = d.images.rootfs_dir(&c.id);
    let dir = d.container_dir(&c.id);
    let mut input = spec_input(d, c, &rootfs, &dir)?;
    let tty = e.tty.unwrap_or(false);
    let user_spec = e
        .user
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| c.config.user.clone())
        .unwrap_or_default();
    let group_add = c.host_config.group_add.clone().unwrap_or_default();
    let user = resolve_user(&rootfs, &user_spec, &group_add)?;
    let env = with_home(
        process_env(c, &d.link_env(c)?, &e.env.clone().unwrap_or_default(), tty),
        &user.home,
    );
    let cwd = e
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| input.cwd.clone());
    if e.privileged.unwrap_or(false) {
        input.privileged = true;
    }
    let pu = ProcessUser {
        uid: user.uid,
        gid: user.gid,
        additional_gids: user.additional_gids,
    };
    let mut p = berth_runtime::spec::exec_process(
        &input,
        e.cmd.clone().unwrap_or_default(),
        env,
        &cwd,
        &pu,
        tty,
    )
    .map_err(spec_error)?;
    // Execs never get the init wrapper.
    p.set_args(e.cmd.clone());
    Ok(p)
}

/// dockerd's merge: the user's health config wins field by field; unset fields (an empty
/// test, zero durations) come from the image's HEALTHCHECK.
pub fn merge_image_healthcheck(user: &mut Option<HealthConfig>, image: Option<&HealthConfig>) {
    let Some(image) = image else { return };
    let Some(u) = user.as_mut() else {
        *user = Some(image.clone());
        return;
    };
    if u.test.as_ref().is_none_or(Vec::is_empty) {
        u.test = image.test.clone();
    }
    let inherit = |mine: &mut Option<i64>, theirs: Option<i64>| {
        if mine.unwrap_or(0) == 0 {
            *mine = theirs;
        }
    };
    inherit(&mut u.interval, image.interval);
    inherit(&mut u.timeout, image.timeout);
    inherit(&mut u.start_period, image.start_period);
    inherit(&mut u.start_interval, image.start_interval);
    inherit(&mut u.retries, image.retries);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_follows_dockerd() {
        let image = ContainerConfig {
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            cmd: Some(vec!["sh".into()]),
            working_dir: Some("/w".into()),
            ..Default::default()
        };
        let mut user = ContainerConfig {
            env: Some(vec!["A=2".into()]),
            ..Default::default()
        };
        merge_image_config(&mut user, &image);
        assert_eq!(
            user.env,
            Some(vec!["A=2".to_string(), "PATH=/bin".to_string()])
        );
        assert_eq!(user.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(user.working_dir.as_deref(), Some("/w"));

        let mut ep = ContainerConfig {
            entrypoint: Some(vec!["echo".into()]),
            ..Default::default()
        };
        merge_image_config(&mut ep, &image);
        assert_eq!(
            ep.cmd, None,
            "an explicit entrypoint does not inherit the image's cmd"
        );
        assert_eq!(command(&ep).ok(), Some(("echo".to_string(), vec![])));
        assert!(command(&ContainerConfig::default()).is_err());

        // Empty lists and maps take the image's, nil ones included; labels are always a map.
        let mut empty = ContainerConfig {
            env: Some(vec![]),
            volumes: Some(HashMap::new()),
            ..Default::default()
        };
        merge_image_config(&mut empty, &ContainerConfig::default());
        assert_eq!(empty.env, None);
        assert_eq!(empty.volumes, None);
        assert_eq!(empty.labels, Some(HashMap::new()));
    }
}

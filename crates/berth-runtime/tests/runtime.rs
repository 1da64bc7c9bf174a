//! Runs real containers through the embedded (libcontainer) and external (runc) backends.
//! Needs root. Each test holds one global lock: libcontainer forks with raw clone3, which is
//! only safe while no other thread of this process might hold a libc lock.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use berth_runtime::embedded::EmbeddedRuntime;
use berth_runtime::external::ExternalRuntime;
use berth_runtime::spec::{self, SeccompChoice, SpecInput};
use berth_runtime::{ProcessIo, Runtime, RuntimeError, Stdio};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

static LOCK: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    // The shim reaps containers as a subreaper; so do the tests.
    static SUBREAPER: OnceLock<()> = OnceLock::new();
    SUBREAPER.get_or_init(|| {
        nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    });
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Embedded,
    Runc,
}

// crun 1.8 refuses this hybrid cgroup layout ("cgroups in hybrid mode not supported"), so the
// external backend is exercised with runc.
const BACKENDS: [Backend; 2] = [Backend::Embedded, Backend::Runc];

fn runtime(backend: Backend, root: &Path) -> Box<dyn Runtime> {
    match backend {
        Backend::Embedded => Box::new(EmbeddedRuntime::new(root)),
        Backend::Runc => Box::new(ExternalRuntime::new("runc", root, vec![])),
    }
}

/// A bundle with a busybox rootfs; deleting the container and the temp dir on drop, even when
/// the test failed.
struct Container {
    id: String,
    bundle: PathBuf,
    runtime: Box<dyn Runtime>,
    _dir: tempfile::TempDir,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.runtime.delete(&self.id, true);
        // The runtimes remove the container's cgroup but not the shared parent; the tests run
        // one at a time, so it is empty again here (rmdir fails harmlessly otherwise).
        let _ = std::fs::remove_dir("/sys/fs/cgroup/berth-test");
        for controller in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_dir(controller.path().join("berth-test"));
        }
    }
}

fn busybox_rootfs(rootfs: &Path) {
    std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir bin");
    for d in ["proc", "sys", "dev", "etc", "tmp", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).expect("mkdir");
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|a| *a != "busybox")
    {
        let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
}

fn container(backend: Backend, input: SpecInput) -> Container {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let id = format!("berth-rt-test-{}-{n}", std::process::id());
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = dir.path().join("rootfs");
    busybox_rootfs(&rootfs);
    let input = SpecInput {
        id: id.clone(),
        rootfs,
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        hostname: "test".into(),
        cgroups_path: format!("/berth-test/{id}"),
        ..input
    };
    let spec = spec::build(&input).expect("spec");
    spec.save(dir.path().join("config.json"))
        .expect("config.json");
    Container {
        id,
        bundle: dir.path().to_path_buf(),
        runtime: runtime(backend, &dir.path().join("state")),
        _dir: dir,
    }
}

fn cmd(args: &[&str]) -> SpecInput {
    SpecInput {
        args: args.iter().map(|a| (*a).to_string()).collect(),
        ..Default::default()
    }
}

/// Waits for `pid` (re-parented to this subreaper); exit code or 128 + signal.
fn wait(pid: i32) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)).expect("waitpid") {
            WaitStatus::Exited(_, code) => return code,
            WaitStatus::Signaled(_, sig, _) => return 128 + sig as i32,
            _ if Instant::now() > deadline => panic!("process {pid} did not exit"),
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe().expect("pipe")
}

fn read_all(fd: OwnedFd) -> String {
    let mut s = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut s)
        .expect("read");
    s
}

/// Creates, starts and waits; (exit code, stdout, stderr).
fn run(backend: Backend, input: SpecInput) -> (i32, String, String) {
    let c = container(backend, input);
    let ((out_r, out_w), (err_r, err_w)) = (pipe(), pipe());
    let io = ProcessIo::Pipes(Stdio {
        stdin: None,
        stdout: Some(out_w),
        stderr: Some(err_w),
    });
    let spawned = c
        .runtime
        .create(&c.id, &c.bundle, io)
        .unwrap_or_else(|e| panic!("{backend:?} create: {e}"));
    c.runtime
        .start(&c.id)
        .unwrap_or_else(|e| panic!("{backend:?} start: {e}"));
    let code = wait(spawned.pid);
    (code, read_all(out_r), read_all(err_r))
}

#[test]
fn exit_codes_and_stdout() {
    let _g = serial();
    for b in BACKENDS {
        assert_eq!(run(b, cmd(&["sh", "-c", "exit 3"])).0, 3, "{b:?}");
        let (code, out, _) = run(b, cmd(&["echo", "hello from", "berth"]));
        assert_eq!((code, out.as_str()), (0, "hello from berth\n"), "{b:?}");
        let (code, _, err) = run(b, cmd(&["sh", "-c", "echo oops >&2; exit 1"]));
        assert_eq!((code, err.as_str()), (1, "oops\n"), "{b:?}");
    }
}

#[test]
fn missing_commands_fail_at_create_with_runc_s_words() {
    let _g = serial();
    for b in BACKENDS {
        for (args, want) in [
            (
                &["nosuchcmd"][..],
                "exec: \"nosuchcmd\": executable file not found in $PATH",
            ),
            (&["/nosuch/path"][..], "no such file or directory"),
        ] {
            let c = container(b, cmd(args));
            let err = c
                .runtime
                .create(&c.id, &c.bundle, ProcessIo::Pipes(Stdio::default()))
                .expect_err("create must fail");
            assert!(
                matches!(&err, RuntimeError::NotFound(m) if m.contains(want)),
                "{b:?}: {err:?}"
            );
        }
        let c = container(b, cmd(&["/etc/passwd"]));
        let err = c
            .runtime
            .create(&c.id, &c.bundle, ProcessIo::Pipes(Stdio::default()))
            .expect_err("not executable");
        assert!(
            matches!(err, RuntimeError::PermissionDenied(_)),
            "{b:?}: {err:?}"
        );
    }
}

#[test]
fn default_seccomp_blocks_unshare() {
    let _g = serial();
    for b in BACKENDS {
        // A user namespace needs no capability: only seccomp stops it.
        let (code, _, err) = run(b, cmd(&["unshare", "-U", "true"]));
        assert_ne!(
            code, 0,
            "{b:?}: unshare must fail under the default profile"
        );
        assert!(err.contains("Operation not permitted"), "{b:?}: {err}");
        let (code, _, err) = run(
            b,
            SpecInput {
                seccomp: SeccompChoice::Unconfined,
                ..cmd(&["unshare", "-U", "true"])
            },
        );
        assert_eq!(code, 0, "{b:?}: unconfined allows it: {err}");
    }
}

#[test]
fn capabilities_are_docker_s_defaults() {
    let _g = serial();
    for b in BACKENDS {
        let (code, out, _) = run(
            b,
            cmd(&["grep", "-E", "^Cap(Eff|Bnd|Inh)", "/proc/self/status"]),
        );
        assert_eq!(code, 0);
        assert!(out.contains("CapEff:\t00000000a80425fb"), "{b:?}: {out}");
        assert!(out.contains("CapBnd:\t00000000a80425fb"), "{b:?}: {out}");
        assert!(out.contains("CapInh:\t0000000000000000"), "{b:?}: {out}");
        let input = SpecInput {
            cap_drop: vec!["all".into()],
            cap_add: vec!["chown".into()],
            ..cmd(&["grep", "CapEff", "/proc/self/status"])
        };
        let (_, out, _) = run(b, input);
        assert!(out.contains("CapEff:\t0000000000000001"), "{b:?}: {out}");
    }
}

#[test]
fn masked_and_readonly_paths() {
    let _g = serial();
    for b in BACKENDS {
        let script = "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo writable || echo ro";
        let (code, out, err) = run(b, cmd(&["sh", "-c", script]));
        assert_eq!(code, 0, "{b:?}: {err}");
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            ["0", "0", "ro"],
            "{b:?}"
        );
    }
}

#[test]
fn terminal_and_exec() {
    let _g = serial();
    for b in BACKENDS {
        let c = container(
            b,
            SpecInput {
                tty: true,
                ..cmd(&["sh", "-c", "tty; echo in-tty; sleep 30"])
            },
        );
        let spawned = c
            .runtime
            .create(&c.id, &c.bundle, ProcessIo::Terminal)
            .unwrap_or_else(|e| panic!("{b:?}: {e}"));
        let master = spawned.pty_master.expect("pty master");
        c.runtime.start(&c.id).expect("start");
        let mut reader = std::fs::File::from(master);
        let mut got = String::new();
        let mut buf = [0u8; 256];
        while !got.contains("in-tty") {
            let n = reader.read(&mut buf).expect("read pty");
            assert!(n > 0, "{b:?}: pty closed early: {got:?}");
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(got.contains("/dev/pts/0"), "{b:?}: {got:?}");

        // exec into the running container
        let mut process = spec::build(&SpecInput {
            rootfs: c.bundle.join("rootfs"),
            env: vec!["PATH=/bin".into()],
            ..cmd(&["sh", "-c", "echo exec-ok; cat /proc/1/cmdline"])
        })
        .expect("spec")
        .process()
        .clone()
        .expect("process");
        process.set_terminal(Some(false));
        let (out_r, out_w) = pipe();
        let io = ProcessIo::Pipes(Stdio {
            stdin: None,
            stdout: Some(out_w),
            stderr: None,
        });
        let exec = c
            .runtime
            .exec(&c.id, &process, io)
            .unwrap_or_else(|e| panic!("{b:?} exec: {e}"));
        assert_eq!(wait(exec.pid), 0);
        let out = read_all(out_r);
        // busybox sh execs its last command, so init is `sleep 30` by now.
        assert_eq!(out, "exec-ok\nsleep\x0030\0", "{b:?}");

        process.set_args(Some(vec!["nosuchcmd".into()]));
        let err = c
            .runtime
            .exec(&c.id, &process, ProcessIo::Pipes(Stdio::default()))
            .expect_err("missing exec cmd");
        assert!(matches!(err, RuntimeError::NotFound(_)), "{b:?}: {err:?}");

        c.runtime.kill(&c.id, libc::SIGKILL, false).expect("kill");
        assert_eq!(wait(spawned.pid), 137);
        c.runtime.delete(&c.id, false).expect("delete");
        assert!(
            matches!(
                c.runtime.kill(&c.id, 9, false),
                Err(RuntimeError::NoSuchContainer(_))
            ),
            "{b:?}"
        );
    }
}

#[test]
fn init_reaps_and_passes_the_exit_code() {
    let _g = serial();
    let out = std::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/build-init"
    ))
    .output()
    .expect("scripts/build-init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let init = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    for b in BACKENDS {
        let script = "sh -c 'sleep 0.1 &' ; sleep 0.3; ps -o pid,stat,comm; exit 5";
        let (code, out, err) = run(
            b,
            SpecInput {
                init: Some(init.clone()),
                ..cmd(&["sh", "-c", script])
            },
        );
        assert_eq!(code, 5, "{b:?}: {err}");
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with("1 ") && l.contains("docker-init")),
            "{b:?}: {out}"
        );
        assert!(!out.contains(" Z "), "{b:?}: a zombie was left: {out}");
    }
}

/// The shim starts and deletes a container in its own process, without a helper's fork, only
/// when that forks nothing: with poststart or poststop hooks (which libcontainer runs as child
/// processes) the embedded runtime declines and does nothing, and the general path runs them.
#[test]
fn start_and_delete_in_place_decline_when_hooks_would_fork() {
    use oci_spec::runtime::{HookBuilder, HooksBuilder, Spec};
    let _g = serial();
    for with_hooks in [false, true] {
        let c = container(Backend::Embedded, cmd(&["sh", "-c", "echo ran"]));
        let marks = c.bundle.join("marks");
        if with_hooks {
            let config = c.bundle.join("config.json");
            let mut spec = Spec::load(&config).expect("config.json");
            let hook = |name: &str| {
                HookBuilder::default()
                    .path("/bin/sh")
                    .args(vec![
                        "sh".to_string(),
                        "-c".to_string(),
                        format!("echo {name} >> {}", marks.display()),
                    ])
                    .build()
                    .expect("hook")
            };
            spec.set_hooks(Some(
                HooksBuilder::default()
                    .poststart(vec![hook("poststart")])
                    .poststop(vec![hook("poststop")])
                    .build()
                    .expect("hooks"),
            ));
            spec.save(&config).expect("config.json");
        }
        let embedded = EmbeddedRuntime::new(c.bundle.join("state"));
        let state_dir = c.bundle.join("state").join(&c.id);
        let (out_r, out_w) = pipe();
        let io = ProcessIo::Pipes(Stdio {
            stdin: None,
            stdout: Some(out_w),
            stderr: None,
        });
        let spawned = c.runtime.create(&c.id, &c.bundle, io).expect("create");
        let started = embedded.start_forking_nothing(&c.id);
        if with_hooks {
            assert!(
                started.is_none(),
                "started in place despite a poststart hook"
            );
            assert!(!marks.exists(), "declining ran a hook");
            c.runtime.start(&c.id).expect("start with hooks");
        } else {
            started.expect("started in place").expect("start");
        }
        assert_eq!(wait(spawned.pid), 0);
        assert_eq!(read_all(out_r), "ran\n");
        let deleted = embedded.delete_forking_nothing(&c.id, true);
        if with_hooks {
            assert!(
                deleted.is_none(),
                "deleted in place despite a poststop hook"
            );
            assert!(state_dir.exists(), "declining deleted the container");
            c.runtime.delete(&c.id, true).expect("delete with hooks");
            let ran = std::fs::read_to_string(&marks).expect("the hooks' marks");
            assert_eq!(ran, "poststart\npoststop\n");
        } else {
            deleted.expect("deleted in place").expect("delete");
        }
        assert!(!state_dir.exists(), "the container's state is left");
    }
}

//! Compiled seccomp programs cached under `<data-root>/seccomp-cache` (one file per profile,
//! see berth_runtime::seccomp_cache): the filter stays enforced with the cache warm, for
//! `exec` too; a changed profile is never served another's program; a damaged file is
//! recompiled, never loaded; and a valid file is what the init actually loads.

use super::*;

/// The file format's header: magic, format, key (64 hex), SHA-256 of the program.
const HEADER_LEN: usize = 8 + 4 + 64 + 32;
/// One BPF instruction: `RET SECCOMP_RET_ALLOW`.
const RET_ALLOW: [u8; 8] = [0x06, 0, 0, 0, 0x00, 0x00, 0xff, 0x7f];

/// The default profile refuses unshare(2) without CAP_SYS_ADMIN (a user namespace needs no
/// capability, so only seccomp stands in the way).
const UNSHARE: &[&str] = &["unshare", "-U", "true"];

/// The cache files of `d`, sorted.
fn cache_files(d: &TestDaemon) -> Vec<std::path::PathBuf> {
    let dir = d.data_root.join("seccomp-cache");
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.expect("cache dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "bpf"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("reading {}: {e}", dir.display()),
    };
    files.sort();
    files
}

/// `args` run in a new container with `opts`, stdout and stderr together.
fn run_in(d: &TestDaemon, c: Client, opts: &[&str], args: &[&str]) -> berth_tests::cli::Out {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(opts);
    all.push("busybox");
    all.extend_from_slice(args);
    d.run(c, &all)
}

#[track_caller]
fn assert_confined(d: &TestDaemon, c: Client, opts: &[&str]) {
    let status = run_in(d, c, opts, &["grep", "^Seccomp:", "/proc/self/status"]);
    assert_eq!(
        status
            .success()
            .out()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["Seccomp:", "2"]
    );
    run_in(d, c, opts, UNSHARE)
        .code_is(1)
        .stderr_has("Operation not permitted");
}

/// A docker-format profile file refusing `names` with EPERM, everything else allowed.
fn profile_file(d: &TestDaemon, name: &str, names: &[&str]) -> std::path::PathBuf {
    let path = d.dir().join(format!("{}.json", unique_name(name)));
    write_profile(&path, names);
    path
}

fn write_profile(path: &std::path::Path, names: &[&str]) {
    let rules = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": names, "action": "SCMP_ACT_ERRNO"}],
    });
    std::fs::write(path, rules.to_string()).expect("writing the profile");
}

/// mkdir and chmod in a fresh container with `opts`: whether each succeeded.
#[track_caller]
fn mkdir_chmod(d: &TestDaemon, c: Client, opts: &[&str]) -> (bool, bool) {
    let script = "touch /f; mkdir /made; echo mkdir=$?; chmod 600 /f; echo chmod=$?";
    let out = run_in(d, c, opts, &["sh", "-c", script]);
    let lines = out.success().lines();
    (lines.contains(&"mkdir=0"), lines.contains(&"chmod=0"))
}

both_clients! {
    fn default_profile_stays_enforced_with_the_cache_warm(d, c) {
        // Unconfined allows what the default profile refuses: the check below can fail.
        run_in(d, c, &["--security-opt", "seccomp=unconfined"], UNSHARE).success();
        assert!(cache_files(d).is_empty(), "unconfined compiled nothing: {:?}", cache_files(d));
        assert_confined(d, c, &[]);
        let files = cache_files(d);
        assert_eq!(files.len(), 1, "{files:?}");
        let before = std::fs::read(&files[0]).expect("reading the cache file");
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&files[0]).expect("stat"));
        // Warm: served from the file (not rewritten), and still enforced.
        assert_confined(d, c, &[]);
        assert_confined(d, c, &[]);
        assert_eq!(cache_files(d), files);
        assert_eq!(std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&files[0]).expect("stat")), inode);
        assert_eq!(sha256_of(&files[0]), sha256_hex(&before));
    }

    fn exec_runs_under_the_cached_filter(d, c) {
        let name = unique_name("secexec");
        let no_chmod = profile_file(d, "no-chmod", &["chmod", "fchmod", "fchmodat", "fchmodat2"]);
        let custom = format!("seccomp={}", no_chmod.display());
        for (opts, what) in [(vec![], "default"), (vec!["--security-opt", custom.as_str()], "custom")] {
            // Twice: the second container and its execs run with the cache warm.
            for round in 0..2 {
                let cname = format!("{name}-{what}-{round}");
                let mut args = vec!["run", "-d", "--name", cname.as_str()];
                args.extend_from_slice(&opts);
                args.extend_from_slice(&["busybox", "sleep", "300"]);
                d.run(c, &args).success();
                let status = d.run(c, &["exec", &cname, "grep", "^Seccomp:", "/proc/self/status"]);
                assert_eq!(status.success().out().split_whitespace().collect::<Vec<_>>(), ["Seccomp:", "2"], "{what}");
                if what == "default" {
                    d.run(c, &["exec", &cname, "unshare", "-U", "true"]).code_is(1).stderr_has("Operation not permitted");
                } else {
                    d.run(c, &["exec", &cname, "sh", "-c", "touch /f && chmod 600 /f"]).code_is(1).stderr_has("Operation not permitted");
                    d.run(c, &["exec", &cname, "unshare", "-U", "true"]).success();
                }
                d.run(c, &["rm", "-f", &cname]).success();
            }
        }
        assert_eq!(cache_files(d).len(), 2, "{:?}", cache_files(d));
    }

    fn each_profile_gets_its_own_program(d, c) {
        let no_mkdir = profile_file(d, "no-mkdir", &["mkdir", "mkdirat"]);
        let no_chmod = profile_file(d, "no-chmod", &["chmod", "fchmod", "fchmodat", "fchmodat2"]);
        let a = format!("seccomp={}", no_mkdir.display());
        let b = format!("seccomp={}", no_chmod.display());
        assert_eq!(mkdir_chmod(d, c, &["--security-opt", &a]), (false, true));
        assert_eq!(mkdir_chmod(d, c, &["--security-opt", &b]), (true, false));
        assert_eq!(mkdir_chmod(d, c, &["--security-opt", &a]), (false, true));
        assert_eq!(mkdir_chmod(d, c, &[]), (true, true));
        assert_eq!(mkdir_chmod(d, c, &["--security-opt", &b]), (true, false));
        assert_eq!(cache_files(d).len(), 3, "{:?}", cache_files(d));
        // The same file changed: the new content is what is enforced.
        write_profile(&no_mkdir, &["chmod", "fchmod", "fchmodat", "fchmodat2", "mkdir", "mkdirat"]);
        assert_eq!(mkdir_chmod(d, c, &["--security-opt", &a]), (false, false));
        write_profile(&no_mkdir, &["mkdir", "mkdirat"]);
        assert_eq!(mkdir_chmod(d, c, &["--security-opt", &a]), (false, true));
        assert_eq!(cache_files(d).len(), 4, "{:?}", cache_files(d));
    }

    fn a_damaged_cache_file_is_recompiled_not_loaded(d, c) {
        assert_confined(d, c, &[]);
        let files = cache_files(d);
        assert_eq!(files.len(), 1, "{files:?}");
        let path = &files[0];
        let good = std::fs::read(path).expect("reading the cache file");
        assert!(good.len() > HEADER_LEN + 8 && (good.len() - HEADER_LEN).is_multiple_of(8), "{} bytes", good.len());
        let program_len = good.len() - HEADER_LEN;
        let damaged: Vec<(&str, Vec<u8>)> = vec![
            ("truncated", good[..HEADER_LEN + program_len / 2 + 3].to_vec()),
            ("truncated to whole instructions", good[..good.len() - 8].to_vec()),
            ("empty", Vec::new()),
            // The header kept, the program replaced by allow-everything of the same length:
            // loading it would let unshare through.
            ("program swapped", [&good[..HEADER_LEN], &RET_ALLOW.repeat(program_len / 8)].concat()),
        ];
        for (what, bytes) in damaged {
            std::fs::write(path, &bytes).expect("damaging the cache file");
            assert_confined(d, c, &[]);
            assert_eq!(sha256_of(path), sha256_hex(&good), "{what}: not rewritten");
        }
    }

    fn a_valid_cache_file_is_what_the_init_loads(d, c) {
        // The cache is trusted as the rest of the data root is (root's, 0700): a file that
        // verifies is loaded as it is. Re-signing one that allows everything shows the init
        // runs the cached program rather than compiling the profile again.
        assert_confined(d, c, &[]);
        let files = cache_files(d);
        assert_eq!(files.len(), 1, "{files:?}");
        let good = std::fs::read(&files[0]).expect("reading the cache file");
        let digest = hex::decode(sha256_hex(&RET_ALLOW)).expect("hex");
        let forged = [&good[..HEADER_LEN - 32], &digest, &RET_ALLOW].concat();
        std::fs::write(&files[0], &forged).expect("writing the cache file");
        let status = run_in(d, c, &[], &["grep", "^Seccomp:", "/proc/self/status"]);
        assert_eq!(status.success().out().split_whitespace().collect::<Vec<_>>(), ["Seccomp:", "2"]);
        run_in(d, c, &[], UNSHARE).success();
        // Removed: compiled again from the profile, enforced again.
        std::fs::remove_file(&files[0]).expect("removing the cache file");
        assert_confined(d, c, &[]);
        assert_eq!(sha256_of(&files[0]), sha256_hex(&good));
    }
}

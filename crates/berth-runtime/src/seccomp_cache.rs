//! Seccomp profiles compiled to BPF once, kept on disk (`<data-root>/seccomp-cache`).
//!
//! libseccomp compiling the default profile is most of what seccomp costs a container start.
//! The embedded runtime asks [`SeccompCache::program`] for a profile's program before it clones
//! the container's init (or an exec'd process); the program is registered with libcontainer
//! (`libcontainer::seccomp::set_precompiled`), and the init loads it with seccomp(2) when the
//! profile it applies is the one the program was compiled from.
//!
//! A program is stored under a key hashing everything it depends on ([`key`]): the profile as
//! serialized in the spec, the architecture, the libseccomp version and API level, and the
//! kernel. The file ([`encode`]) repeats the key and carries the SHA-256 of the program; a file
//! that is truncated, corrupt, or for another key is not loaded: the profile is compiled again
//! and the file replaced (written to a temp file and renamed, so readers see whole files only).
//! Profiles with a notify action are never cached (libseccomp must create the listener).

use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

/// The file format's tag and version.
const MAGIC: &[u8; 8] = b"BERTHBPF";
const FORMAT: u32 = 2;
/// Magic, format, key (64 hex), SHA-256 of the program.
const HEADER_LEN: usize = 8 + 4 + 64 + 32;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("serializing the seccomp profile: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("compiling the seccomp profile: {0}")]
    Compile(#[from] libcontainer::seccomp::SeccompError),
    #[error("seccomp cache {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the program depends on besides the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEnv {
    pub arch: String,
    pub generator: String,
    pub kernel: String,
}

impl KeyEnv {
    /// This process's: the build's architecture, the loaded libseccomp, the running kernel.
    /// None of them changes under a running process, so they are read once (libseccomp's
    /// API level probes the kernel with a few seccomp(2) calls); a spare shim reads them
    /// before it waits ([`warm`]).
    pub fn current() -> KeyEnv {
        static CURRENT: std::sync::OnceLock<KeyEnv> = std::sync::OnceLock::new();
        CURRENT.get_or_init(KeyEnv::read).clone()
    }

    fn read() -> KeyEnv {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        KeyEnv {
            arch: std::env::consts::ARCH.to_string(),
            generator: libcontainer::seccomp::generator_version(),
            kernel: format!(
                "{} {}",
                read("/proc/sys/kernel/osrelease").trim(),
                read("/proc/sys/kernel/version").trim()
            ),
        }
    }
}

/// Reads what every key depends on besides the profile ([`KeyEnv::current`]) ahead of the
/// first start.
pub fn warm() {
    let _ = KeyEnv::current();
}

/// The cache key of a profile (its JSON as the spec serializes it) in `env`: 64 hex digits.
pub fn key(profile_json: &[u8], env: &KeyEnv) -> String {
    let mut h = Sha256::new();
    // Each part length-prefixed, so no two different inputs hash the same bytes.
    for part in [
        format!("berth-seccomp-bpf/{FORMAT}").as_bytes(),
        env.arch.as_bytes(),
        env.generator.as_bytes(),
        env.kernel.as_bytes(),
        profile_json,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

/// The cache file for `program` compiled under `key`.
pub fn encode(key: &str, program: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + program.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&Sha256::digest(program));
    out.extend_from_slice(program);
    out
}

/// The program in a cache file, when the file is whole, of this format, for `key`, and the
/// program hashes as recorded and has the shape of a BPF program; None otherwise.
pub fn decode(key: &str, file: &[u8]) -> Option<Vec<u8>> {
    if file.len() <= HEADER_LEN || key.len() != 64 {
        return None;
    }
    let (header, program) = file.split_at(HEADER_LEN);
    let (magic, rest) = header.split_at(MAGIC.len());
    let (format, rest) = rest.split_at(4);
    let (stored_key, digest) = rest.split_at(64);
    let ok = magic == MAGIC
        && format == FORMAT.to_le_bytes()
        && stored_key == key.as_bytes()
        && digest == Sha256::digest(program).as_slice()
        && libcontainer::seccomp::well_formed(program);
    ok.then(|| program.to_vec())
}

/// Where a program came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A valid cache file.
    Cached,
    /// Compiled now (no file, or one that failed verification), and stored.
    Compiled,
}

/// A directory of compiled programs.
#[derive(Debug, Clone)]
pub struct SeccompCache {
    dir: PathBuf,
}

impl SeccompCache {
    pub fn new(dir: impl Into<PathBuf>) -> SeccompCache {
        SeccompCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The BPF program of `seccomp`: from the cache, else compiled and stored. Callers check
    /// [`libcontainer::seccomp::cacheable`] first.
    pub fn program(&self, seccomp: &LinuxSeccomp) -> Result<(Vec<u8>, Source), CacheError> {
        let json = serde_json::to_vec(seccomp)?;
        let key = key(&json, &KeyEnv::current());
        let path = self.dir.join(format!("{key}.bpf"));
        match std::fs::read(&path) {
            Ok(bytes) => {
                if let Some(program) = decode(&key, &bytes) {
                    return Ok((program, Source::Cached));
                }
                tracing::warn!(path = %path.display(), "invalid seccomp cache file: recompiling");
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(CacheError::Io { path, source }),
        }
        let program = libcontainer::seccomp::compile_bpf(seccomp)?;
        self.store(&key, &path, &program)?;
        Ok((program, Source::Compiled))
    }

    /// Writes the file for `key` whole: a temp file in the directory, renamed over `path`.
    fn store(&self, key: &str, path: &Path, program: &[u8]) -> Result<(), CacheError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CacheError::Io { path, source }
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io(&self.dir))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = self
            .dir
            .join(format!(".{key}.{}.{nanos}.tmp", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&encode(key, program)))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(path)(e));
        }
        Ok(())
    }
}

/// Registers the compiled program of `spec`'s seccomp profile for the process about to be
/// cloned (see the module docs), or clears any registration when there is nothing to serve.
/// A cache that fails only costs the compile in the init: the error is logged, not returned.
pub fn prepare(cache: Option<&SeccompCache>, spec: &oci_spec::runtime::Spec) {
    use libcontainer::seccomp::{cacheable, clear_precompiled, set_precompiled};
    clear_precompiled();
    let Some(cache) = cache else { return };
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return;
    };
    if !cacheable(seccomp) {
        return;
    }
    match cache.program(seccomp) {
        Ok((program, source)) => {
            tracing::debug!(?source, len = program.len(), "seccomp program");
            set_precompiled(seccomp, program);
        }
        Err(e) => tracing::warn!("seccomp cache: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::LinuxSeccompFilterFlag;

    use super::*;

    fn env() -> KeyEnv {
        KeyEnv {
            arch: "x86_64".into(),
            generator: "libseccomp 2.5.4 api 6".into(),
            kernel: "6.1.0 #1 SMP".into(),
        }
    }

    const PROFILE: &[u8] = br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;

    #[test]
    fn key_is_stable_hex() {
        let k = key(PROFILE, &env());
        assert_eq!(k.len(), 64);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(k, key(PROFILE, &env()));
    }

    #[test]
    fn key_changes_with_profile_and_environment() {
        let base = key(PROFILE, &env());
        let other_profile = br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}"#;
        assert_ne!(base, key(other_profile, &env()));
        // One byte of the profile (errno, whitespace) is another profile.
        assert_ne!(base, key(&[PROFILE, b" "].concat(), &env()));
        for changed in [
            KeyEnv {
                arch: "aarch64".into(),
                ..env()
            },
            KeyEnv {
                generator: "libseccomp 2.6.0 api 7".into(),
                ..env()
            },
            KeyEnv {
                kernel: "6.1.0 #2 SMP".into(),
                ..env()
            },
        ] {
            assert_ne!(base, key(PROFILE, &changed), "{changed:?}");
        }
    }

    #[test]
    fn key_parts_do_not_run_together() {
        // Moving bytes from one part to the next gives another key.
        let a = KeyEnv {
            arch: "x86".into(),
            generator: "_64lib".into(),
            ..env()
        };
        let b = KeyEnv {
            arch: "x86_64".into(),
            generator: "lib".into(),
            ..env()
        };
        assert_ne!(key(PROFILE, &a), key(PROFILE, &b));
    }

    #[test]
    fn key_follows_the_serialized_profile() {
        let a: LinuxSeccomp = serde_json::from_slice(PROFILE).expect("profile");
        let mut b = a.clone();
        b.set_default_errno_ret(Some(1));
        let ka = key(&serde_json::to_vec(&a).expect("json"), &env());
        let kb = key(&serde_json::to_vec(&b).expect("json"), &env());
        assert_ne!(ka, kb);
        assert_eq!(
            ka,
            key(&serde_json::to_vec(&a.clone()).expect("json"), &env())
        );
    }

    /// RET ALLOW: one instruction.
    const ALLOW: [u8; 8] = [0x06, 0, 0, 0, 0x00, 0x00, 0xff, 0x7f];

    #[test]
    fn file_round_trips() {
        let k = key(PROFILE, &env());
        assert_eq!(decode(&k, &encode(&k, &ALLOW)), Some(ALLOW.to_vec()));
    }

    #[test]
    fn damaged_or_foreign_files_are_refused() {
        let k = key(PROFILE, &env());
        let good = encode(&k, &[ALLOW, ALLOW].concat());
        // Truncated anywhere: in the header, to the header, mid-instruction, one instruction off.
        for len in [0, 10, HEADER_LEN, HEADER_LEN + 3, good.len() - 8] {
            assert_eq!(decode(&k, &good[..len]), None, "truncated to {len}");
        }
        // Any flipped byte.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert_eq!(decode(&k, &bad), None, "byte {i} flipped");
        }
        // Another key's file.
        let other = key(b"{}", &env());
        assert_eq!(decode(&other, &good), None);
        // A program swapped in with the header kept.
        let mut swapped = good[..HEADER_LEN].to_vec();
        swapped.extend_from_slice(&[ALLOW, ALLOW, ALLOW].concat());
        assert_eq!(decode(&k, &swapped), None);
        // Not a BPF program's shape, though hashed right.
        assert_eq!(decode(&k, &encode(&k, &ALLOW[..7])), None);
        assert_eq!(decode(&k, &encode(&k, &[])), None);
    }

    #[test]
    fn program_compiles_once_then_reads_the_file_and_replaces_a_bad_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = SeccompCache::new(dir.path().join("cache"));
        let profile: LinuxSeccomp = serde_json::from_slice(PROFILE).expect("profile");
        let (compiled, source) = cache.program(&profile).expect("compile");
        assert_eq!(source, Source::Compiled);
        let (cached, source) = cache.program(&profile).expect("cached");
        assert_eq!(source, Source::Cached);
        assert_eq!(cached, compiled);
        let files: Vec<PathBuf> = std::fs::read_dir(cache.dir())
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let bytes = std::fs::read(&files[0]).expect("read");
        std::fs::write(&files[0], &bytes[..bytes.len() - 4]).expect("truncate");
        let (again, source) = cache.program(&profile).expect("recompile");
        assert_eq!((again, source), (compiled.clone(), Source::Compiled));
        assert_eq!(std::fs::read(&files[0]).expect("read"), bytes);
        // Another profile, another file and program.
        let mut other = profile.clone();
        other.set_default_errno_ret(Some(38));
        other.set_default_action(oci_spec::runtime::LinuxSeccompAction::ScmpActErrno);
        let (program, source) = cache.program(&other).expect("other");
        assert_eq!(source, Source::Compiled);
        assert_ne!(program, compiled);
        assert_eq!(std::fs::read_dir(cache.dir()).expect("read_dir").count(), 2);
    }

    fn getcwd_errno(errno: u32) -> LinuxSeccomp {
        let json = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_NATIVE"],
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}],
        });
        serde_json::from_value(json).expect("profile")
    }

    /// In a forked child: registers `registered`, applies `apply` as the init does, and
    /// returns the errno getcwd(2) fails with then (0: it succeeds; 200: applying failed).
    fn getcwd_errno_under(
        registered: Option<(&LinuxSeccomp, Vec<u8>)>,
        apply: &LinuxSeccomp,
    ) -> i32 {
        use libcontainer::seccomp::{clear_precompiled, initialize_seccomp, set_precompiled};
        use nix::sys::wait::{waitpid, WaitStatus};
        // SAFETY: the child only applies a filter, makes one syscall and exits.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                clear_precompiled();
                if let Some((profile, program)) = registered {
                    set_precompiled(profile, program);
                }
                let code = match nix::sys::prctl::set_no_new_privs()
                    .ok()
                    .and_then(|()| initialize_seccomp(apply).ok())
                {
                    None => 200,
                    Some(_) => match nix::unistd::getcwd() {
                        Ok(_) => 0,
                        Err(e) => e as i32,
                    },
                };
                // SAFETY: _exit skips the parent's atexit handlers and test harness state.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => code,
                other => panic!("child: {other:?}"),
            },
        }
    }

    #[test]
    fn the_init_loads_the_registered_program_for_that_profile_only() {
        use libcontainer::seccomp::compile_bpf;
        let eagain = getcwd_errno(libc::EAGAIN as u32);
        let exdev = getcwd_errno(libc::EXDEV as u32);
        let enosys = getcwd_errno(libc::ENOSYS as u32);
        // Uncached and cached, the profile is enforced.
        assert_eq!(getcwd_errno_under(None, &eagain), libc::EAGAIN);
        let program = compile_bpf(&eagain).expect("compile");
        assert_eq!(
            getcwd_errno_under(Some((&eagain, program)), &eagain),
            libc::EAGAIN
        );
        // The registered program is what is loaded for its profile (here, another's program)...
        let other = compile_bpf(&exdev).expect("compile");
        assert_eq!(
            getcwd_errno_under(Some((&eagain, other.clone())), &eagain),
            libc::EXDEV
        );
        // ... and never for a different profile.
        assert_eq!(
            getcwd_errno_under(Some((&eagain, other)), &enosys),
            libc::ENOSYS
        );
        // With the flags libcontainer passes (TSYNC, LOG, SPEC_ALLOW), loaded the same way.
        let mut flagged = eagain.clone();
        flagged.set_flags(Some(vec![
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        ]));
        let program = compile_bpf(&exdev).expect("compile");
        assert_eq!(
            getcwd_errno_under(Some((&flagged, program)), &flagged),
            libc::EXDEV
        );
        assert_eq!(getcwd_errno_under(None, &flagged), libc::EAGAIN);
    }

    #[test]
    fn notify_profiles_and_listener_flags_are_not_cached() {
        use libcontainer::seccomp::cacheable;
        let plain = getcwd_errno(libc::EAGAIN as u32);
        assert!(cacheable(&plain));
        let notify: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/listener.sock",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_NOTIFY"}],
        }))
        .expect("profile");
        assert!(!cacheable(&notify));
        let mut waitkill = plain.clone();
        waitkill.set_flags(Some(vec![
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
        ]));
        assert!(!cacheable(&waitkill));

        let dir = tempfile::tempdir().expect("tempdir");
        let cache = SeccompCache::new(dir.path().join("cache"));
        let spec_with = |seccomp: &LinuxSeccomp| {
            let mut spec = oci_spec::runtime::Spec::default();
            let mut linux = spec.linux().clone().unwrap_or_default();
            linux.set_seccomp(Some(seccomp.clone()));
            spec.set_linux(Some(linux));
            spec
        };
        prepare(Some(&cache), &spec_with(&notify));
        assert!(
            !cache.dir().exists(),
            "a notify profile was compiled into the cache"
        );
        prepare(Some(&cache), &spec_with(&plain));
        assert_eq!(std::fs::read_dir(cache.dir()).expect("read_dir").count(), 1);
    }
}

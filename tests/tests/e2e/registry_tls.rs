//! The registry client's transport through a real berthd: HTTPS to `berth registry serve
//! --tls-cert` with the CA in berthd's `certs-dir`, the refusal without it, daemon.json
//! `insecure-registries` (by `host:port` and by CIDR), client certificates, `registry-mirrors`
//! for docker.io pulls, and login over TLS. A secure registry must not be on loopback
//! (127.0.0.0/8 is always insecure), so the TLS registries listen on the gateway address of a bridge made for them.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use berth_tests::{unique_name, Client, TestDaemon};

use super::registry::Served;

/// Runs each scenario once with the docker CLI and once with berth; the scenario starts the
/// daemons it needs (they differ in daemon.json).
macro_rules! each_client {
    ($(fn $name:ident($c:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn scenario($c: Client) $body

            #[test]
            fn docker() {
                scenario(Client::Docker);
            }

            #[test]
            fn berth() {
                scenario(Client::Berth);
            }
        }
    )*};
}

/// A non-loopback address that stays on this machine: the gateway of a bridge network made by
/// a helper berthd (kept alive with it), so tests send nothing beyond this host's bridges.
struct BridgeAddress {
    _owner: TestDaemon,
    ip: IpAddr,
}

impl BridgeAddress {
    fn new() -> Option<Self> {
        let owner = TestDaemon::start()?;
        let net = unique_name("tlsnet");
        owner
            .run(Client::Berth, &["network", "create", &net])
            .success();
        let gateway = owner
            .run(
                Client::Berth,
                &[
                    "network",
                    "inspect",
                    "-f",
                    "{{(index .IPAM.Config 0).Gateway}}",
                    &net,
                ],
            )
            .success()
            .out()
            .trim()
            .to_string();
        let ip: IpAddr = gateway
            .parse()
            .unwrap_or_else(|e| panic!("the gateway of {net} is not an address: {gateway:?}: {e}"));
        Some(Self { _owner: owner, ip })
    }
}

/// A CA, and certificates it signed.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new() -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "berth e2e CA");
        let ca = p.self_signed(&ca_key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Self { dir, ca, ca_key }
    }

    fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// (cert.pem, key.pem) named `name`, for `ip` as a server or as a client.
    fn issue(&self, name: &str, ip: IpAddr, client: bool) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.subject_alt_names.push(rcgen::SanType::IpAddress(ip));
        p.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = p.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let (c, k) = (
            self.dir.path().join(format!("{name}.pem")),
            self.dir.path().join(format!("{name}-key.pem")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}

/// `berth registry serve` over TLS on a bridge's address; `None` (test skipped) only when
/// `BERTH_TEST_SKIP_BLACKBOX=1` and no berthd can be started to make the bridge.
struct TlsRegistry {
    served: Served,
    _bridge: BridgeAddress,
    root: tempfile::TempDir,
    pki: Pki,
    ip: IpAddr,
}

impl TlsRegistry {
    fn start(extra: &[&str]) -> Option<Self> {
        let bridge = BridgeAddress::new()?;
        let ip = bridge.ip;
        let pki = Pki::new();
        let (cert, key) = pki.issue("server", ip, false);
        let root = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--tls-cert".to_string(),
            cert.display().to_string(),
            "--tls-key".to_string(),
            key.display().to_string(),
        ];
        args.extend(
            extra
                .iter()
                .map(|s| s.replace("{ca}", &pki.ca_pem().display().to_string())),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let served = Served::start_on(&format!("{ip}:0"), root.path(), &args);
        Some(Self {
            served,
            _bridge: bridge,
            root,
            pki,
            ip,
        })
    }

    fn addr(&self) -> &str {
        &self.served.addr
    }

    /// The repositories stored (nothing half-pushed hides elsewhere: the root is all there is).
    fn stored_repositories(&self) -> Vec<String> {
        let base = self.root.path().join("repositories");
        let mut out = Vec::new();
        let mut stack = vec![base.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.file_name().is_some_and(|n| n == "_manifests") {
                    out.push(dir.strip_prefix(&base).unwrap().display().to_string());
                } else if p.is_dir() {
                    stack.push(p);
                }
            }
        }
        out.sort();
        out
    }
}

/// berthd with `daemon_json` (its `certs-dir` is `{dir}/certs.d`) and `certs.d/<host>/<file>`
/// copied from the given paths.
fn daemon(daemon_json: serde_json::Value, certs: &[(&str, &str, &Path)]) -> TestDaemon {
    let mut json = daemon_json;
    let certs: Vec<(String, String, PathBuf)> = certs
        .iter()
        .map(|(h, f, p)| (h.to_string(), f.to_string(), p.to_path_buf()))
        .collect();
    TestDaemon::start_with_setup(&["--config-file", "{dir}/daemon.json"], move |dir| {
        let certs_dir = dir.join("certs.d");
        json["certs-dir"] = serde_json::json!(certs_dir);
        for (host, file, from) in &certs {
            std::fs::create_dir_all(certs_dir.join(host)).unwrap();
            std::fs::copy(from, certs_dir.join(host).join(file)).unwrap();
        }
        std::fs::write(dir.join("daemon.json"), json.to_string()).unwrap();
    })
    .unwrap()
}

fn image_ids(d: &TestDaemon, c: Client) -> String {
    d.run(c, &["images", "-a", "-q", "--no-trunc"])
        .success()
        .out()
        .to_string()
}

each_client! {
    fn push_and_pull_over_tls_with_the_ca_in_certs_d(c) {
        let Some(reg) = TlsRegistry::start(&[]) else { return };
        let ca = reg.pki.ca_pem();
        let d = daemon(serde_json::json!({}), &[(reg.addr(), "ca.crt", &ca)]);
        let image = format!("{}/tls/{}:v1", reg.addr(), unique_name("bb"));
        d.run(c, &["tag", "busybox", &image]).success();
        d.run(c, &["push", &image]).success().stdout_has(": Pushed").stdout_has("v1: digest: sha256:");
        assert_eq!(reg.stored_repositories().len(), 1);
        d.run(c, &["rmi", &image]).success();
        d.run(c, &["pull", &image]).success().stdout_has(&format!("Status: Downloaded newer image for {image}"));
        d.run(c, &["run", "--rm", &image, "echo", "over-tls"]).success().stdout_has("over-tls");
    }

    fn an_unknown_authority_is_refused_and_nothing_is_stored(c) {
        let Some(reg) = TlsRegistry::start(&[]) else { return };
        // No CA for this registry: it is secure (not loopback, not listed), so no fallback.
        let d = daemon(serde_json::json!({}), &[]);
        let image = format!("{}/tls/{}:v1", reg.addr(), unique_name("bb"));
        d.run(c, &["tag", "busybox", &image]).success();
        let want = format!(
            "Get \"https://{}/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority",
            reg.addr()
        );
        d.run(c, &["push", &image]).code_is(1).stderr_has(&want);
        assert_eq!(reg.stored_repositories(), Vec::<String>::new(), "nothing stored");
        let before = image_ids(&d, c);
        d.run(c, &["pull", &image]).code_is(1).stderr_has("x509: certificate signed by unknown authority");
        assert_eq!(image_ids(&d, c), before, "nothing pulled");
        // A CA that did not sign the server's certificate does not help either.
        let other = Pki::new();
        let d2 = daemon(serde_json::json!({}), &[(reg.addr(), "ca.crt", &other.ca_pem())]);
        d2.run(c, &["pull", &image]).code_is(1).stderr_has("x509: certificate signed by unknown authority");
        // docker info shows only the default insecure ranges.
        let info = d.run(c, &["info"]);
        info.success().stdout_has(" Insecure Registries:\n  ::1/128\n  127.0.0.0/8\n");
    }

    fn insecure_registries_skip_verification(c) {
        let Some(reg) = TlsRegistry::start(&[]) else { return };
        // By host:port: HTTPS without checking the certificate (the server speaks only TLS).
        let d = daemon(serde_json::json!({ "insecure-registries": [reg.addr()] }), &[]);
        let image = format!("{}/insecure/{}:v1", reg.addr(), unique_name("bb"));
        d.run(c, &["tag", "busybox", &image]).success();
        d.run(c, &["push", &image]).success().stdout_has(": Pushed");
        d.run(c, &["info"]).success().stdout_has(&format!(" Insecure Registries:\n  {}\n  ::1/128\n  127.0.0.0/8\n", reg.addr()));
        let cfg = d.run(c, &["info", "--format", "{{json .RegistryConfig}}"]);
        let v: serde_json::Value = serde_json::from_str(cfg.success().out()).unwrap();
        assert_eq!(v["IndexConfigs"][reg.addr()]["Secure"], false, "{v}");
        assert_eq!(v["IndexConfigs"]["docker.io"]["Official"], true, "{v}");
        // By CIDR: the registry's address is in it.
        let cidr = format!("{}/{}", reg.ip, if reg.ip.is_ipv4() { 32 } else { 128 });
        let d2 = daemon(serde_json::json!({ "insecure-registries": [cidr] }), &[]);
        d2.run(c, &["pull", &image]).success().stdout_has("Status: Downloaded newer image");
        assert_eq!(d2.inspect(c, &image, "{{.Id}}"), d.inspect(c, &image, "{{.Id}}"));
        let v: serde_json::Value = serde_json::from_str(d2.run(c, &["info", "--format", "{{json .RegistryConfig.InsecureRegistryCIDRs}}"]).success().out()).unwrap();
        assert_eq!(v, serde_json::json!([cidr, "::1/128", "127.0.0.0/8"]));
    }

    fn client_certificates_from_certs_d(c) {
        let Some(reg) = TlsRegistry::start(&["--tls-client-ca", "{ca}"]) else { return };
        let ca = reg.pki.ca_pem();
        let (cert, key) = reg.pki.issue("client", reg.ip, true);
        let image = format!("{}/mtls/{}:v1", reg.addr(), unique_name("bb"));
        // The CA alone: the server wants a client certificate.
        let without = daemon(serde_json::json!({}), &[(reg.addr(), "ca.crt", &ca)]);
        without.run(c, &["tag", "busybox", &image]).success();
        without.run(c, &["push", &image]).code_is(1).stderr_has("tls: certificate required");
        assert_eq!(reg.stored_repositories(), Vec::<String>::new());
        // With client.cert + client.key beside it: in.
        let with = daemon(
            serde_json::json!({}),
            &[(reg.addr(), "ca.crt", &ca), (reg.addr(), "client.cert", &cert), (reg.addr(), "client.key", &key)],
        );
        with.run(c, &["tag", "busybox", &image]).success();
        with.run(c, &["push", &image]).success().stdout_has(": Pushed");
        with.run(c, &["rmi", &image]).success();
        with.run(c, &["pull", &image]).success();
        // A .cert without its .key is refused in dockerd's words.
        let unpaired = daemon(serde_json::json!({}), &[(reg.addr(), "ca.crt", &ca), (reg.addr(), "client.cert", &cert)]);
        unpaired.run(c, &["pull", &image]).code_is(1)
            .stderr_has("missing key client.key for client certificate client.cert. CA certificates must use the extension .crt");
    }

    fn login_over_tls(c) {
        let tmp = tempfile::tempdir().unwrap();
        let htpasswd = tmp.path().join("htpasswd");
        std::fs::write(&htpasswd, format!("alice:{}\n", bcrypt::hash("wonderland", 5).unwrap())).unwrap();
        let Some(reg) = TlsRegistry::start(&["--htpasswd", htpasswd.to_str().unwrap()]) else { return };
        let ca = reg.pki.ca_pem();
        let d = daemon(serde_json::json!({}), &[(reg.addr(), "ca.crt", &ca)]);
        d.run(c, &["login", "-u", "alice", "-p", "wrong", reg.addr()])
            .code_is(1)
            .stderr_has(&format!("login attempt to https://{}/v2/ failed with status: 401 Unauthorized", reg.addr()));
        d.run_with_input(c, &["login", "-u", "alice", "--password-stdin", reg.addr()], b"wonderland\n")
            .success()
            .stdout_has("Login Succeeded");
        let image = format!("{}/alice/{}:v1", reg.addr(), unique_name("bb"));
        d.run(c, &["tag", "busybox", &image]).success();
        d.run(c, &["push", &image]).success().stdout_has(": Pushed");
        // Without the CA the login fails on the certificate, not on the password.
        let no_ca = daemon(serde_json::json!({}), &[]);
        no_ca.run(c, &["login", "-u", "alice", "-p", "wonderland", reg.addr()])
            .code_is(1)
            .stderr_has("x509: certificate signed by unknown authority");
    }

    fn docker_io_pulls_go_through_the_mirrors(c) {
        // The mirror: a plain-HTTP registry on loopback holding library/busybox:latest.
        let root = tempfile::tempdir().unwrap();
        let mirror = Served::start(root.path(), &[]);
        let seed = TestDaemon::start().unwrap();
        let seeded = format!("{}/library/busybox:latest", mirror.addr);
        seed.run(c, &["tag", "busybox", &seeded]).success();
        seed.run(c, &["push", &seeded]).success();
        let id = seed.inspect(c, "busybox", "{{.Id}}");

        // A dead mirror first: the next one serves; no internet is needed.
        let dead = "http://127.0.0.1:1";
        let live = format!("http://{}", mirror.addr);
        let d = daemon(serde_json::json!({ "registry-mirrors": [dead, live] }), &[]);
        d.run(c, &["info"]).success().stdout_has(&format!(" Registry Mirrors:\n  {dead}/\n  {live}/\n"));
        d.run(c, &["rmi", "busybox"]).success();
        d.run(c, &["pull", "busybox"]).success()
            .stdout_has("latest: Pulling from library/busybox")
            .stdout_has("Status: Downloaded newer image for busybox:latest");
        assert_eq!(d.inspect(c, "busybox", "{{.Id}}"), id);
        let digests = d.inspect(c, "busybox", "{{json .RepoDigests}}");
        let digests: Vec<String> = serde_json::from_str(&digests).unwrap();
        assert_eq!(digests.len(), 1, "{digests:?}");
        assert!(digests[0].starts_with("busybox@sha256:"), "{digests:?}");
        // The same through the long names.
        d.run(c, &["rmi", "busybox"]).success();
        d.run(c, &["pull", "docker.io/library/busybox:latest"]).success();
        assert_eq!(d.inspect(c, "busybox:latest", "{{.Id}}"), id);
        d.run(c, &["run", "--rm", "busybox", "echo", "mirrored"]).success().stdout_has("mirrored");
    }
}

/// Bad registry settings stop berthd at start, in dockerd's words.
#[test]
fn bad_registry_settings_are_refused_at_start() {
    let bins = berth_tests::paths::Binaries::locate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (json, want) in [
        (
            r#"{"registry-mirrors": ["mirror.example"]}"#,
            "invalid mirror: no scheme specified for \"mirror.example\"",
        ),
        (
            r#"{"insecure-registries": ["ftp://reg:5000"]}"#,
            "insecure registry ftp://reg:5000 should not contain '://'",
        ),
    ] {
        let config = dir.path().join("daemon.json");
        std::fs::write(&config, json).unwrap();
        let out = std::process::Command::new(&bins.berthd)
            .arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("-H")
            .arg(format!("unix://{}/s.sock", dir.path().display()))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{json}: berthd started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{json}: {stderr}");
    }
}

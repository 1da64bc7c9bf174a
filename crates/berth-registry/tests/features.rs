#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

//! sha512, referrers, size limits, auth (htpasswd and tokens), TLS and online GC, over real
//! HTTP on 127.0.0.1.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use berth_registry::auth::htpasswd::Htpasswd;
use berth_registry::auth::issuer::{AccessRule, IssuerConfig, TokenIssuer};
use berth_registry::auth::token::TokenVerifier;
use berth_registry::gc::{self, GcOptions};
use berth_registry::storage::Storage;
use berth_registry::{Auth, Config};
use common::*;
use hyper::{Method, StatusCode};
use sha2::{Digest as _, Sha512};

fn sha512(data: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(data)))
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test]
async fn sha512_blobs_and_manifests() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), false).await;
    let config = b"{\"architecture\":\"amd64\"}".to_vec();
    let layer = vec![7u8; 3000];
    let (dc, dl) = (sha512(&config), sha512(&layer));
    // Monolithic, then chunked with Content-Range, both named by sha512.
    let r = s
        .req(
            Method::POST,
            &format!("/v2/big/blobs/uploads/?digest={dc}"),
            &[],
            &config,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.header("docker-content-digest"), dc);
    let r = s
        .req(Method::POST, "/v2/big/blobs/uploads/", &[], b"")
        .await;
    let loc = r.header("location").to_string();
    let r = s
        .req(
            Method::PATCH,
            &loc,
            &[("content-range", "0-1499")],
            &layer[..1500],
        )
        .await;
    assert_eq!(
        (r.status, r.header("range")),
        (StatusCode::ACCEPTED, "0-1499")
    );
    let r = s
        .req(
            Method::PUT,
            &format!("{loc}&digest={dl}").replacen("&", "?", usize::from(!loc.contains('?'))),
            &[],
            &layer[1500..],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(tmp
        .path()
        .join("content/blobs/sha512")
        .join(&dl[7..])
        .is_file());
    let r = s.get(&format!("/v2/big/blobs/{dl}")).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, 3000));
    assert_eq!(r.header("docker-content-digest"), dl);
    // A sha512 upload whose content does not match.
    let r = s
        .req(
            Method::POST,
            &format!("/v2/big/blobs/uploads/?digest={}", sha512(b"x")),
            &[],
            b"y",
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    // A manifest referencing sha512 blobs, pushed by its sha512 digest.
    let m = manifest((&dc, config.len()), &[(&dl, layer.len())]);
    let dm = sha512(&m);
    let ct = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
    let r = s
        .req(Method::PUT, &format!("/v2/big/manifests/{dm}"), &ct, &m)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.header("docker-content-digest"), dm);
    let r = s.get(&format!("/v2/big/manifests/{dm}")).await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &m[..]));
    // The same manifest by tag is named by its sha256.
    let r = s.req(Method::PUT, "/v2/big/manifests/v1", &ct, &m).await;
    assert_eq!(r.header("docker-content-digest"), digest(&m));
    // The wrong sha512 for a manifest.
    let r = s
        .req(
            Method::PUT,
            &format!("/v2/big/manifests/{}", sha512(b"other")),
            &ct,
            &m,
        )
        .await;
    assert_eq!(r.error_code(), "DIGEST_INVALID");
}

#[tokio::test]
async fn referrers_api() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), false).await;
    let config = s.push_blob("app", b"{}").await;
    let layer = s.push_blob("app", b"layer").await;
    let image = manifest((&config, 2), &[(&layer, 5)]);
    let ct = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
    let r = s
        .req(Method::PUT, "/v2/app/manifests/v1", &ct, &image)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("oci-subject"), "", "no subject, no OCI-Subject");
    let subject = digest(&image);
    let empty = s.push_blob("app", b"{}").await;
    let sig = s.push_blob("app", b"signature").await;
    let artifact = |artifact_type: &str, annotation: &str| {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": sig, "size": 9}],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": image.len()},
            "annotations": {"note": annotation},
        }))
        .unwrap()
    };
    let a = artifact("application/vnd.example.sig", "a");
    let b = artifact("application/vnd.example.sbom", "b");
    for m in [&a, &b] {
        let r = s
            .req(
                Method::PUT,
                &format!("/v2/app/manifests/{}", digest(m)),
                &ct,
                m,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(r.header("oci-subject"), subject);
    }
    let r = s.get(&format!("/v2/app/referrers/{subject}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type"),
        "application/vnd.oci.image.index.v1+json"
    );
    let list = r.json();
    let mut found: Vec<(String, String)> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["digest"].as_str().unwrap().to_string(),
                d["artifactType"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    let mut want = vec![
        (digest(&a), "application/vnd.example.sig".to_string()),
        (digest(&b), "application/vnd.example.sbom".to_string()),
    ];
    want.sort();
    assert_eq!(found, want);
    assert_eq!(
        list["manifests"][0]["size"].as_u64().unwrap() as usize,
        a.len()
    );
    // Filtered by artifactType, which the response says it applied.
    let r = s
        .get(&format!(
            "/v2/app/referrers/{subject}?artifactType=application/vnd.example.sig"
        ))
        .await;
    assert_eq!(r.header("oci-filters-applied"), "artifactType");
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(r.json()["manifests"][0]["annotations"]["note"], "a");
    // Deleting a referrer removes it from the list; an unknown subject lists nothing.
    let r = s
        .req(
            Method::DELETE,
            &format!("/v2/app/manifests/{}", digest(&a)),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = s.get(&format!("/v2/app/referrers/{subject}")).await;
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 1);
    let r = s
        .get(&format!("/v2/app/referrers/{}", digest(b"none")))
        .await;
    assert_eq!(
        (r.status, r.json()["manifests"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    let r = s.get("/v2/app/referrers/sha256:zz").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
}

#[tokio::test]
async fn oversized_and_dangling_manifests_store_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), false).await;
    let config = s.push_blob("m", b"{}").await;
    let blobs_before = files_under(&tmp.path().join("content/blobs")).len();
    let mut huge = manifest((&config, 2), &[]);
    huge.truncate(huge.len() - 1);
    huge.extend_from_slice(b",\"annotations\":{\"pad\":\"");
    huge.extend(std::iter::repeat_n(b'x', 4 << 20));
    huge.extend_from_slice(b"\"}}");
    let ct = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
    let r = s.req(Method::PUT, "/v2/m/manifests/big", &ct, &huge).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "MANIFEST_INVALID")
    );
    // A layer that was never pushed, and an index naming an unknown child.
    let missing = digest(b"never pushed");
    let m = manifest((&config, 2), &[(&missing, 12)]);
    let r = s
        .req(Method::PUT, "/v2/m/manifests/dangling", &ct, &m)
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN")
    );
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": missing, "size": 1}],
    }))
    .unwrap();
    let r = s
        .req(
            Method::PUT,
            "/v2/m/manifests/idx",
            &[("content-type", "application/vnd.oci.image.index.v1+json")],
            &index,
        )
        .await;
    assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        files_under(&tmp.path().join("content/blobs")).len(),
        blobs_before
    );
    assert!(files_under(&tmp.path().join("repositories/m/_manifests")).is_empty());
    assert!(files_under(&tmp.path().join("content/ingest")).is_empty());
}

fn htpasswd_file(dir: &Path, users: &[(&str, &str)]) -> std::path::PathBuf {
    let path = dir.join("htpasswd");
    let text: String = users
        .iter()
        .map(|(u, p)| format!("{u}:{}\n", bcrypt::hash(p, 4).unwrap()))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn htpasswd_basic_auth() {
    let tmp = tempfile::tempdir().unwrap();
    let file = htpasswd_file(tmp.path(), &[("alice", "wonder")]);
    let config = Config {
        auth: Arc::new(Auth::Htpasswd {
            realm: "test-realm".into(),
            users: Htpasswd::load(&file).unwrap(),
        }),
        ..Config::default()
    };
    let s = start_with(&tmp.path().join("root"), config).await;
    let r = s.get("/v2/").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    assert_eq!(r.header("www-authenticate"), "Basic realm=\"test-realm\"");
    let wrong = basic("alice", "nope");
    let r = s
        .req(
            Method::GET,
            "/v2/x/tags/list",
            &[("authorization", &wrong)],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .req(
            Method::POST,
            &format!("/v2/x/blobs/uploads/?digest={}", digest(b"d")),
            &[],
            b"d",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(files_under(&tmp.path().join("root/content/blobs")).is_empty());
    let ok = basic("alice", "wonder");
    assert_eq!(
        s.req(Method::GET, "/v2/", &[("authorization", &ok)], b"")
            .await
            .status,
        StatusCode::OK
    );
    let r = s
        .req(
            Method::POST,
            &format!("/v2/x/blobs/uploads/?digest={}", digest(b"d")),
            &[("authorization", &ok)],
            b"d",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = s
        .req(Method::GET, "/v2/_catalog", &[("authorization", &ok)], b"")
        .await;
    assert_eq!(r.json()["repositories"][0], "x");
}

fn issuer_config(access: Vec<AccessRule>) -> IssuerConfig {
    IssuerConfig {
        issuer: "test-issuer".into(),
        service: "test-service".into(),
        key: None,
        expiration: Duration::from_secs(300),
        access,
    }
}

async fn token(s: &Server, auth: &str, scopes: &[&str]) -> Resp {
    let q: String = scopes.iter().map(|sc| format!("&scope={sc}")).collect();
    s.req(
        Method::GET,
        &format!("/token?service=test-service{q}"),
        &[("authorization", auth)],
        b"",
    )
    .await
}

#[tokio::test]
async fn token_auth_with_the_builtin_issuer() {
    let tmp = tempfile::tempdir().unwrap();
    let file = htpasswd_file(tmp.path(), &[("bob", "builder"), ("eve", "evil")]);
    let issuer = Arc::new(
        TokenIssuer::new(
            &file,
            issuer_config(vec![
                AccessRule {
                    account: "bob".into(),
                    name: "*".into(),
                    actions: vec!["*".into()],
                },
                AccessRule {
                    account: "eve".into(),
                    name: "eve/*".into(),
                    actions: vec!["pull".into(), "push".into()],
                },
            ]),
        )
        .unwrap(),
    );
    let verifier = TokenVerifier::with_keys(
        None,
        "test-service".into(),
        "test-issuer".into(),
        vec![issuer.decoding_key()],
    );
    let config = Config {
        auth: Arc::new(Auth::Token {
            verifier,
            tls: false,
        }),
        token_issuer: Some(issuer),
        ..Config::default()
    };
    let s = start_with(&tmp.path().join("root"), config).await;
    let r = s.get("/v2/app/tags/list").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.header("www-authenticate"),
        format!("Bearer realm=\"http://{}/token\",service=\"test-service\",scope=\"repository:app:pull\"", s.addr)
    );
    // The issuer wants the right password.
    let r = token(&s, &basic("bob", "wrong"), &["repository:app:pull"]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = token(&s, &basic("bob", "builder"), &["repository:app:pull,push"]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let app = format!("Bearer {}", r.json()["token"].as_str().unwrap());
    assert_eq!(r.json()["expires_in"], 300);
    let d = digest(b"blob");
    let r = s
        .req(
            Method::POST,
            &format!("/v2/app/blobs/uploads/?digest={d}"),
            &[("authorization", &app)],
            b"blob",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        s.req(Method::GET, "/v2/", &[("authorization", &app)], b"")
            .await
            .status,
        StatusCode::OK
    );
    // The token is for `app`: another repository, or deleting, is DENIED.
    let r = s
        .req(
            Method::GET,
            &format!("/v2/other/blobs/{d}"),
            &[("authorization", &app)],
            b"",
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::FORBIDDEN, "DENIED")
    );
    let r = s
        .req(
            Method::DELETE,
            &format!("/v2/app/blobs/{d}"),
            &[("authorization", &app)],
            b"",
        )
        .await;
    assert_eq!(r.error_code(), "DENIED");
    let r = s
        .req(Method::GET, "/v2/_catalog", &[("authorization", &app)], b"")
        .await;
    assert_eq!(r.error_code(), "DENIED");
    // eve may only touch eve/*: her token for app grants nothing there.
    let r = token(
        &s,
        &basic("eve", "evil"),
        &["repository:app:pull", "repository:eve/x:pull,push,delete"],
    )
    .await;
    let eve = format!("Bearer {}", r.json()["token"].as_str().unwrap());
    let r = s
        .req(
            Method::GET,
            &format!("/v2/app/blobs/{d}"),
            &[("authorization", &eve)],
            b"",
        )
        .await;
    assert_eq!(r.error_code(), "DENIED");
    let r = s
        .req(
            Method::POST,
            &format!("/v2/eve/x/blobs/uploads/?digest={d}"),
            &[("authorization", &eve)],
            b"blob",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = s
        .req(
            Method::DELETE,
            &format!("/v2/eve/x/blobs/{d}"),
            &[("authorization", &eve)],
            b"",
        )
        .await;
    assert_eq!(r.error_code(), "DENIED", "delete was not granted to eve");
    // A mount from a repository the token cannot read falls back to an upload session.
    let r = s
        .req(
            Method::POST,
            &format!("/v2/eve/x/blobs/uploads/?mount={d}&from=app"),
            &[("authorization", &eve)],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    // A forged token (another key) and garbage are 401.
    let other = TokenIssuer::new(&file, issuer_config(Vec::new())).unwrap();
    let forged = other
        .issue(
            "bob",
            vec![berth_registry::auth::Scope::repository("app", &["pull"])],
        )
        .unwrap();
    let r = s
        .req(
            Method::GET,
            &format!("/v2/app/blobs/{d}"),
            &[("authorization", &format!("Bearer {}", forged.token))],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .req(
            Method::GET,
            "/v2/",
            &[("authorization", "Bearer x.y.z")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// A token signed by an outside issuer whose certificate is in the rootcertbundle.
#[tokio::test]
async fn token_auth_with_a_rootcertbundle() {
    let tmp = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["issuer".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let bundle = tmp.path().join("bundle.pem");
    std::fs::write(&bundle, cert.pem()).unwrap();
    let verifier = TokenVerifier::from_bundle(
        Some("https://auth.example/token".into()),
        "svc".into(),
        "outside".into(),
        &bundle,
    )
    .unwrap();
    let config = Config {
        auth: Arc::new(Auth::Token {
            verifier,
            tls: false,
        }),
        ..Config::default()
    };
    let s = start_with(&tmp.path().join("root"), config).await;
    let sign = |iss: &str, aud: &str, exp_offset: i64| {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let claims = serde_json::json!({
            "iss": iss, "aud": aud, "sub": "u", "exp": now + exp_offset, "nbf": now - 10, "iat": now,
            "access": [{"type": "repository", "name": "lib/app", "actions": ["pull"]}],
        });
        let enc = jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der());
        let t = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            &claims,
            &enc,
        )
        .unwrap();
        format!("Bearer {t}")
    };
    let path = format!("/v2/lib/app/blobs/{}", digest(b"absent"));
    let r = s
        .req(
            Method::GET,
            &path,
            &[("authorization", &sign("outside", "svc", 300))],
            b"",
        )
        .await;
    assert_eq!(
        r.error_code(),
        "BLOB_UNKNOWN",
        "authorized through to the blob lookup"
    );
    for bad in [
        sign("other", "svc", 300),
        sign("outside", "other", 300),
        sign("outside", "svc", -600),
    ] {
        let r = s
            .req(Method::GET, &path, &[("authorization", &bad)], b"")
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r
            .header("www-authenticate")
            .starts_with("Bearer realm=\"https://auth.example/token\""));
    }
}

#[tokio::test]
async fn tls_with_rustls() {
    let tmp = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (tmp.path().join("c.pem"), tmp.path().join("k.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let server_config = berth_registry::tls::load_server_config(&cert_path, &key_path).unwrap();
    let registry =
        berth_registry::Registry::open(&tmp.path().join("root"), Config::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(berth_registry::tls::serve_tls(
        listener,
        registry,
        server_config,
    ));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("/v2/")
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        plain.get(format!("http://{addr}/v2/").parse().unwrap()),
    )
    .await
    .unwrap();
    assert!(r.is_err());
    task.abort();
}

/// Sets a file's mtime into the past, as if written long ago.
fn age(path: &Path, by: Duration) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - by).unwrap();
}

fn blob_path(root: &Path, d: &str) -> std::path::PathBuf {
    let (alg, hex) = d.split_once(':').unwrap();
    root.join("content/blobs").join(alg).join(hex)
}

/// Whether some process waits for a flock on `lock` (a `->` line of /proc/locks naming its
/// inode).
fn someone_waits_for(lock: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(lock).unwrap().ino();
    std::fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains("->") && l.contains(&format!(":{ino} ")))
}

/// The race `gc_while_pushing_breaks_nothing` met by chance, made to happen: a HEAD has found
/// the blob and waits for the use lock while the collector, holding it, deletes the blob. The
/// HEAD must then answer 404 (the pusher uploads the blob again), not 200 for a blob that is
/// gone. The wait runs on the blocking pool: this test's runtime has a single thread, which a
/// flock taken on it would have blocked for good.
#[tokio::test]
async fn a_head_waiting_for_the_collector_sees_the_blob_it_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let s = Arc::new(start(&root, false).await);
    let d = s.push_blob("app", b"soon collected").await;
    let path = format!("/v2/app/blobs/{d}");
    assert_eq!(
        s.req(Method::HEAD, &path, &[], b"").await.status,
        StatusCode::OK
    );

    let collector = Storage::attach(&root).unwrap();
    let held = collector.sweep_lock().unwrap();
    let head = {
        let (s, path) = (Arc::clone(&s), path.clone());
        tokio::spawn(async move { s.req(Method::HEAD, &path, &[], b"").await.status })
    };
    let lock = root.join("gc.lock");
    let mut waited = Duration::ZERO;
    while !someone_waits_for(&lock) {
        assert!(
            waited < Duration::from_secs(10),
            "the HEAD never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        waited += Duration::from_millis(5);
    }
    // What the collector does under its lock: the blob's data goes.
    std::fs::remove_file(blob_path(&root, &d)).unwrap();
    drop(held);
    assert_eq!(head.await.unwrap(), StatusCode::NOT_FOUND);
    assert_eq!(
        s.req(Method::HEAD, &path, &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn gc_sweeps_unreferenced_and_untagged() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let s = start(root, false).await;
    let config = s.push_blob("app", b"{}").await;
    let l1 = s.push_blob("app", b"layer one").await;
    let l2 = s.push_blob("app", b"layer two").await;
    let orphan = s.push_blob("app", b"orphan").await;
    let young_orphan = s.push_blob("app", b"young").await;
    let ct = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
    let tagged = manifest((&config, 2), &[(&l1, 9)]);
    let untagged = manifest((&config, 2), &[(&l2, 9)]);
    s.req(Method::PUT, "/v2/app/manifests/v1", &ct, &tagged)
        .await;
    s.req(
        Method::PUT,
        &format!("/v2/app/manifests/{}", digest(&untagged)),
        &ct,
        &untagged,
    )
    .await;
    let hour = Duration::from_secs(3600);
    for d in [
        &config,
        &l1,
        &l2,
        &orphan,
        &digest(&tagged),
        &digest(&untagged),
    ] {
        age(&blob_path(root, d), 2 * hour);
    }
    age(
        &root
            .join("repositories/app/_manifests/revisions/sha256")
            .join(&digest(&untagged)[7..]),
        2 * hour,
    );
    let storage = Storage::attach(root).unwrap();
    let opts = |dry_run, delete_untagged| GcOptions {
        dry_run,
        delete_untagged,
        grace: hour,
    };

    let report = gc::collect(&storage, &opts(true, true)).unwrap();
    assert_eq!(report.blobs_removed.len(), 3, "{report:?}"); // orphan, l2, the untagged manifest
    assert!(
        blob_path(root, &orphan).is_file(),
        "dry run deletes nothing"
    );

    let report = gc::collect(&storage, &opts(false, false)).unwrap();
    assert_eq!(report.blobs_removed, vec![orphan.parse().unwrap()]);
    assert_eq!(report.young_kept, 1);
    assert!(!blob_path(root, &orphan).exists());
    assert!(blob_path(root, &young_orphan).is_file());
    assert_eq!(
        s.get(&format!("/v2/app/blobs/{orphan}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        !root
            .join("repositories/app/_layers/sha256")
            .join(&orphan[7..])
            .exists(),
        "dangling link dropped"
    );

    let report = gc::collect(&storage, &opts(false, true)).unwrap();
    assert_eq!(report.manifests_removed.len(), 1);
    assert!(!blob_path(root, &l2).exists());
    assert_eq!(
        s.get(&format!("/v2/app/manifests/{}", digest(&untagged)))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The tagged image is whole.
    for d in [&config, &l1] {
        assert_eq!(
            s.get(&format!("/v2/app/blobs/{d}")).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(s.get("/v2/app/manifests/v1").await.body, tagged);
}

/// Pushes race a collector that runs in a loop with a short grace period. Each push first
/// makes its base layer look old and unreferenced, then HEADs it (as docker does) and, when
/// present, only references it: the HEAD must renew the blob's grace period, or the collector
/// deletes it under the push. Every image pushed must pull back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_while_pushing_breaks_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let s = Arc::new(start(&root, false).await);
    let grace = Duration::from_millis(500);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (root, stop) = (root.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let storage = Storage::attach(&root).unwrap();
            let (mut runs, mut deleted) = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let opts = GcOptions {
                    dry_run: false,
                    delete_untagged: true,
                    grace,
                };
                deleted += gc::collect(&storage, &opts).unwrap().blobs_removed.len();
                runs += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (runs, deleted)
        })
    };
    let config = b"{}";
    let ct = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
    let (mut reused, mut reuploaded) = (0, 0);
    let mut pushed = Vec::new();
    for i in 0..30 {
        let repo = format!("app{}", i % 3);
        let base_data = format!("base layer {}", i % 5);
        let base = digest(base_data.as_bytes());
        if i < 5 {
            s.push_blob(&repo, base_data.as_bytes()).await;
            s.push_blob(&repo, config).await;
        }
        let base_path = blob_path(&root, &base);
        if base_path.exists() {
            age(&base_path, Duration::from_secs(3600));
        }
        for (d, data) in [
            (&base, base_data.as_bytes()),
            (&digest(config), &config[..]),
        ] {
            let head = s
                .req(Method::HEAD, &format!("/v2/{repo}/blobs/{d}"), &[], b"")
                .await;
            if head.status == StatusCode::OK {
                reused += 1;
            } else {
                reuploaded += 1;
                s.push_blob(&repo, data).await;
            }
        }
        // A client's think time between the existence check and the manifest.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let own = s.push_blob(&repo, format!("layer {i}").as_bytes()).await;
        let m = manifest(
            (&digest(config), 2),
            &[(&base, base_data.len()), (&own, format!("layer {i}").len())],
        );
        let r = s
            .req(Method::PUT, &format!("/v2/{repo}/manifests/t{i}"), &ct, &m)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "push {i}: {:?}", r.body);
        pushed.push((repo, format!("t{i}"), m, base, own));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (runs, deleted) = tokio::task::spawn_blocking(move || collector.join().unwrap())
        .await
        .unwrap();
    assert!(
        runs > 1 && reused > 0,
        "runs {runs}, reused {reused}, reuploaded {reuploaded}, deleted {deleted}"
    );
    tokio::time::sleep(grace).await;
    gc::collect(
        &Storage::attach(&root).unwrap(),
        &GcOptions {
            dry_run: false,
            delete_untagged: true,
            grace,
        },
    )
    .unwrap();
    for (repo, tag, m, base, own) in &pushed {
        let r = s.get(&format!("/v2/{repo}/manifests/{tag}")).await;
        assert_eq!(&r.body[..], &m[..]);
        for d in [base, &digest(config), own] {
            let r = s.get(&format!("/v2/{repo}/blobs/{d}")).await;
            assert_eq!(r.status, StatusCode::OK, "{repo}:{tag} lost {d}");
        }
    }
}

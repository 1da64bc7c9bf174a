#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

//! Drives berth's registry over real HTTP on 127.0.0.1 with a plain hyper client.

mod common;

use std::net::SocketAddr;

use common::*;
use hyper::{Method, StatusCode};

#[tokio::test]
async fn base_and_monolithic_push_pull() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), false).await;
    let r = s.get("/v2/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("docker-distribution-api-version"), "registry/2.0");

    let data = b"hello registry layer".to_vec();
    let d = s.push_blob("lib/app", &data).await;
    let r = s
        .req(Method::HEAD, &format!("/v2/lib/app/blobs/{d}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), data.len().to_string());
    assert_eq!(r.header("docker-content-digest"), d);
    let r = s.get(&format!("/v2/lib/app/blobs/{d}")).await;
    assert_eq!(&r.body[..], &data[..]);

    // Range reads.
    let r = s
        .req(
            Method::GET,
            &format!("/v2/lib/app/blobs/{d}"),
            &[("range", "bytes=6-13")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], b"registry");
    assert_eq!(
        r.header("content-range"),
        format!("bytes 6-13/{}", data.len())
    );
    let r = s
        .req(
            Method::GET,
            &format!("/v2/lib/app/blobs/{d}"),
            &[("range", "bytes=100-")],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // A blob pushed to one repository is not visible from another until mounted.
    let r = s.get(&format!("/v2/other/blobs/{d}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "BLOB_UNKNOWN");
    let r = s
        .req(
            Method::POST,
            &format!("/v2/other/blobs/uploads/?mount={d}&from=lib/app"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("location"), format!("/v2/other/blobs/{d}"));
    assert_eq!(
        s.get(&format!("/v2/other/blobs/{d}")).await.status,
        StatusCode::OK
    );
    // Deduplicated: one copy of the data.
    let blobs = files_under(&tmp.path().join("content/blobs"));
    assert_eq!(blobs.len(), 1);

    // Mount from a repository without the blob falls back to an upload session.
    let missing = digest(b"nope");
    let r = s
        .req(
            Method::POST,
            &format!("/v2/third/blobs/uploads/?mount={missing}&from=lib/app"),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);

    // Blob delete unlinks it from the repository only.
    let r = s
        .req(Method::DELETE, &format!("/v2/other/blobs/{d}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        s.get(&format!("/v2/other/blobs/{d}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get(&format!("/v2/lib/app/blobs/{d}")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn chunked_upload() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), false).await;
    let r = s
        .req(Method::POST, "/v2/chunky/blobs/uploads/", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("range"), "0-0");
    let uuid = r.header("docker-upload-uuid").to_string();
    assert!(!uuid.is_empty());
    let loc = r.header("location").to_string();
    assert_eq!(loc, format!("/v2/chunky/blobs/uploads/{uuid}"));

    let r = s
        .req(Method::PATCH, &loc, &[("content-range", "0-4")], b"hello")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("range"), "0-4");

    // Out of order: starts at 10, upload has 5 bytes.
    let r = s
        .req(Method::PATCH, &loc, &[("content-range", "10-14")], b"xxxxx")
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.error_code(), "RANGE_INVALID");
    // Length disagrees with the range.
    let r = s
        .req(Method::PATCH, &loc, &[("content-range", "5-9")], b"xx")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "SIZE_INVALID");

    let r = s
        .req(Method::PATCH, &loc, &[("content-range", "5-10")], b" world")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("range"), "0-10");
    // Streamed chunk without Content-Range.
    let r = s.req(Method::PATCH, &loc, &[], b"!").await;
    assert_eq!(r.header("range"), "0-11");

    let r = s.get(&loc).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("range"), "0-11");

    let d = digest(b"hello world!?");
    let r = s
        .req(Method::PUT, &format!("{loc}?digest={d}"), &[], b"?")
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.header("docker-content-digest"), d);
    assert_eq!(
        &s.get(&format!("/v2/chunky/blobs/{d}")).await.body[..],
        b"hello world!?"
    );
    // The session is gone.
    assert_eq!(s.get(&loc).await.status, StatusCode::NOT_FOUND);
    assert!(files_under(&tmp.path().join("content/ingest")).is_empty());

    // Cancel.
    let r = s
        .req(Method::POST, "/v2/chunky/blobs/uploads/", &[], b"")
        .await;
    let loc = r.header("location").to_string();
    s.req(Method::PATCH, &loc, &[], b"abc").await;
    assert_eq!(
        s.req(Method::DELETE, &loc, &[], b"").await.status,
        StatusCode::NO_CONTENT
    );
    let r = s.get(&loc).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "BLOB_UPLOAD_UNKNOWN");
    assert!(files_under(&tmp.path().join("content/ingest")).is_empty());
}

#[tokio::test]
async fn digest_mismatch_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), false).await;
    let wrong = digest(b"something else");
    let r = s
        .req(
            Method::POST,
            &format!("/v2/x/blobs/uploads/?digest={wrong}"),
            &[],
            b"payload",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "DIGEST_INVALID");

    let r = s.req(Method::POST, "/v2/x/blobs/uploads/", &[], b"").await;
    let loc = r.header("location").to_string();
    s.req(Method::PATCH, &loc, &[], b"payload").await;
    let r = s
        .req(Method::PUT, &format!("{loc}?digest={wrong}"), &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "DIGEST_INVALID");
    assert!(files_under(&tmp.path().join("content")).is_empty());
    assert_eq!(
        s.get(&format!("/v2/x/blobs/{}", digest(b"payload")))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let r = s
        .req(
            Method::POST,
            "/v2/x/blobs/uploads/?digest=sha256:zz",
            &[],
            b"a",
        )
        .await;
    assert_eq!(r.error_code(), "DIGEST_INVALID");
}

#[tokio::test]
async fn manifests_tags_catalog() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), false).await;
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer = b"layer-bytes";
    let cd = s.push_blob("app", config).await;
    let ld = s.push_blob("app", layer).await;
    let m = manifest((&cd, config.len()), &[(&ld, layer.len())]);
    let md = digest(&m);
    let ct = ("content-type", "application/vnd.oci.image.manifest.v1+json");

    // A manifest naming a missing blob is refused and nothing is stored.
    let absent = digest(b"absent");
    let bad = manifest((&cd, config.len()), &[(&absent, 6)]);
    let r = s
        .req(Method::PUT, "/v2/app/manifests/broken", &[ct], &bad)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        s.get("/v2/app/manifests/broken").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!tmp
        .path()
        .join("content/blobs/sha256")
        .join(&digest(&bad)[7..])
        .exists());

    // Garbage and unknown media types.
    let r = s
        .req(Method::PUT, "/v2/app/manifests/x", &[ct], b"{not json")
        .await;
    assert_eq!(r.error_code(), "MANIFEST_INVALID");
    let r = s
        .req(
            Method::PUT,
            "/v2/app/manifests/x",
            &[("content-type", "text/plain")],
            b"{}",
        )
        .await;
    assert_eq!(r.error_code(), "MANIFEST_INVALID");
    // A digest reference that does not match the body.
    let r = s
        .req(
            Method::PUT,
            &format!("/v2/app/manifests/{absent}"),
            &[ct],
            &m,
        )
        .await;
    assert_eq!(r.error_code(), "DIGEST_INVALID");
    // Too big.
    let huge = vec![b' '; 5 << 20];
    let r = s
        .req(Method::PUT, "/v2/app/manifests/huge", &[ct], &huge)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

    for tag in ["v1", "v2", "v3", "latest"] {
        let r = s
            .req(Method::PUT, &format!("/v2/app/manifests/{tag}"), &[ct], &m)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(r.header("docker-content-digest"), md);
        assert_eq!(r.header("location"), format!("/v2/app/manifests/{md}"));
    }
    for reference in ["latest", md.as_str()] {
        let r = s.get(&format!("/v2/app/manifests/{reference}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..], &m[..]);
        assert_eq!(
            r.header("content-type"),
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(r.header("docker-content-digest"), md);
        let r = s
            .req(
                Method::HEAD,
                &format!("/v2/app/manifests/{reference}"),
                &[],
                b"",
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-length"), m.len().to_string());
    }
    // Docker schema2 by digest.
    let mut docker: serde_json::Value = serde_json::from_slice(&m).unwrap();
    docker["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json".into();
    let dm = serde_json::to_vec(&docker).unwrap();
    let dmd = digest(&dm);
    let r = s
        .req(
            Method::PUT,
            &format!("/v2/app/manifests/{dmd}"),
            &[(
                "content-type",
                "application/vnd.docker.distribution.manifest.v2+json",
            )],
            &dm,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = s.get(&format!("/v2/app/manifests/{dmd}")).await;
    assert_eq!(
        r.header("content-type"),
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    // An index over both; then one naming an unknown child.
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": m.len()}]
    })).unwrap();
    let r = s
        .req(
            Method::PUT,
            "/v2/app/manifests/multi",
            &[("content-type", "application/vnd.oci.image.index.v1+json")],
            &index,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let bad_index = String::from_utf8(index.clone())
        .unwrap()
        .replace(&md, &absent);
    let r = s
        .req(
            Method::PUT,
            "/v2/app/manifests/multi2",
            &[("content-type", "application/vnd.oci.image.index.v1+json")],
            bad_index.as_bytes(),
        )
        .await;
    assert_eq!(r.error_code(), "MANIFEST_BLOB_UNKNOWN");

    // Tags pagination.
    let r = s.get("/v2/app/tags/list").await;
    assert_eq!(
        r.json()["tags"],
        serde_json::json!(["latest", "multi", "v1", "v2", "v3"])
    );
    let r = s.get("/v2/app/tags/list?n=2").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["latest", "multi"]));
    assert_eq!(
        r.header("link"),
        "</v2/app/tags/list?last=multi&n=2>; rel=\"next\""
    );
    let r = s.get("/v2/app/tags/list?n=2&last=multi").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["v1", "v2"]));
    let r = s.get("/v2/app/tags/list?n=2&last=v2").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["v3"]));
    assert_eq!(r.header("link"), "");
    assert_eq!(
        s.get("/v2/app/tags/list?n=x").await.error_code(),
        "PAGINATION_NUMBER_INVALID"
    );
    assert_eq!(
        s.get("/v2/nobody/tags/list").await.error_code(),
        "NAME_UNKNOWN"
    );

    // Catalog.
    s.push_blob("a/nested/repo", b"z").await;
    let r = s.get("/v2/_catalog").await;
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["a/nested/repo", "app"])
    );
    let r = s.get("/v2/_catalog?n=1").await;
    assert_eq!(
        r.json()["repositories"],
        serde_json::json!(["a/nested/repo"])
    );
    assert_eq!(
        r.header("link"),
        "</v2/_catalog?last=a%2Fnested%2Frepo&n=1>; rel=\"next\""
    );

    // Delete a tag, then the manifest by digest (which takes its remaining tags).
    assert_eq!(
        s.req(Method::DELETE, "/v2/app/manifests/v1", &[], b"")
            .await
            .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        s.get("/v2/app/manifests/v1").await.error_code(),
        "MANIFEST_UNKNOWN"
    );
    assert_eq!(s.get("/v2/app/manifests/v2").await.status, StatusCode::OK);
    assert_eq!(
        s.req(Method::DELETE, &format!("/v2/app/manifests/{md}"), &[], b"")
            .await
            .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        s.get(&format!("/v2/app/manifests/{md}")).await.error_code(),
        "MANIFEST_UNKNOWN"
    );
    assert_eq!(
        s.get("/v2/app/tags/list").await.json()["tags"],
        serde_json::json!(["multi"])
    );
    assert!(files_under(&tmp.path().join("tmp")).is_empty());
}

#[tokio::test]
async fn bad_names_and_read_only() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), false).await;
    for path in [
        "/v2/../etc/blobs/uploads/",
        "/v2/a/../../b/blobs/uploads/",
        "/v2/UPPER/blobs/uploads/",
        "/v2/a%2F..%2Fb/blobs/uploads/",
    ] {
        let r = s.req(Method::POST, path, &[], b"").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(r.error_code(), "NAME_INVALID", "{path}");
    }
    let r = s
        .req(
            Method::POST,
            "/v2/ok/blobs/uploads/?mount=sha256:00&from=../x",
            &[],
            b"",
        )
        .await;
    assert_eq!(r.error_code(), "NAME_INVALID");
    let r = s.get("/v2/ok/manifests/bad%20tag").await;
    assert_eq!(r.error_code(), "TAG_INVALID");
    assert!(files_under(&tmp.path().join("repositories")).is_empty());
    let d = s.push_blob("ok", b"data").await;
    drop(s);

    let ro = start(tmp.path(), true).await;
    let r = ro
        .req(Method::POST, "/v2/ok/blobs/uploads/", &[], b"")
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error_code(), "UNSUPPORTED");
    let r = ro
        .req(Method::DELETE, &format!("/v2/ok/blobs/{d}"), &[], b"")
        .await;
    assert_eq!(r.error_code(), "UNSUPPORTED");
    assert_eq!(
        ro.get(&format!("/v2/ok/blobs/{d}")).await.status,
        StatusCode::OK
    );
}

/// Sends a request head promising `promised` bytes, then only part of them, and hangs up.
async fn send_truncated(addr: SocketAddr, method: &str, path: &str, promised: usize) {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {promised}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b'x'; 10]).await.unwrap();
    stream.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    drop(stream);
}

async fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if cond() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    cond()
}

#[tokio::test]
async fn interrupted_uploads_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), false).await;
    let ingest = tmp.path().join("content/ingest");
    let d = digest(&[b'x'; 1000]);

    send_truncated(
        s.addr,
        "POST",
        &format!("/v2/cut/blobs/uploads/?digest={d}"),
        1000,
    )
    .await;
    assert!(wait_for(|| files_under(&ingest).is_empty()).await);
    assert!(files_under(&tmp.path().join("content/blobs")).is_empty());

    let r = s
        .req(Method::POST, "/v2/cut/blobs/uploads/", &[], b"")
        .await;
    let loc = r.header("location").to_string();
    s.req(Method::PATCH, &loc, &[], b"0123").await;
    assert_eq!(files_under(&ingest).len(), 1);
    send_truncated(s.addr, "PATCH", &loc, 1000).await;
    // The session's size is unknown to the client now: it is dropped with its data.
    assert!(wait_for(|| files_under(&ingest).is_empty()).await);
    assert_eq!(s.get(&loc).await.error_code(), "BLOB_UPLOAD_UNKNOWN");
    assert!(files_under(&tmp.path().join("content/blobs")).is_empty());
}

#[tokio::test]
async fn abandoned_uploads_expire() {
    let tmp = tempfile::tempdir().unwrap();
    let config = berth_registry::Config {
        upload_idle_limit: std::time::Duration::from_millis(200),
        ..Default::default()
    };
    let s = start_with(tmp.path(), config).await;
    let ingest = tmp.path().join("content/ingest");
    let r = s
        .req(Method::POST, "/v2/idle/blobs/uploads/", &[], b"")
        .await;
    let abandoned = r.header("location").to_string();
    s.req(Method::PATCH, &abandoned, &[], b"half").await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    // A new upload sweeps the abandoned one and its ingest file.
    let r = s
        .req(Method::POST, "/v2/idle/blobs/uploads/", &[], b"")
        .await;
    let fresh = r.header("location").to_string();
    assert_eq!(s.get(&abandoned).await.error_code(), "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(s.get(&fresh).await.status, StatusCode::NO_CONTENT);
    assert_eq!(files_under(&ingest).len(), 1);
    // A blob and manifest delete of something absent is the spec's *_UNKNOWN.
    let absent = digest(b"absent");
    let r = s
        .req(
            Method::DELETE,
            &format!("/v2/idle/blobs/{absent}"),
            &[],
            b"",
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UNKNOWN")
    );
    let r = s
        .req(
            Method::DELETE,
            &format!("/v2/idle/manifests/{absent}"),
            &[],
            b"",
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN")
    );
}

//! Endpoints clients probe that berth answers as a dockerd outside a swarm would, and
//! `GET /distribution/{name}/json` against a real registry.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use berth_tests::{unique_name, Client, TestDaemon};

use crate::registry::Served;
use crate::registry_xfer::put_image;

const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

#[test]
fn swarm_endpoints_answer_as_a_node_outside_a_swarm() {
    let Some(d) = TestDaemon::start() else { return };
    for (method, path) in [
        ("GET", "/swarm"),
        ("GET", "/v1.41/swarm"),
        ("GET", "/swarm/unlockkey"),
        ("POST", "/swarm/update?version=1"),
        ("POST", "/swarm/unlock"),
        ("GET", "/nodes"),
        ("GET", "/nodes/abc"),
        ("DELETE", "/nodes/abc"),
        ("GET", "/services"),
        ("POST", "/services/create"),
        ("GET", "/services/web/logs?stdout=1"),
        ("GET", "/tasks"),
        ("GET", "/tasks/abc"),
        ("GET", "/secrets"),
        ("POST", "/secrets/create"),
        ("GET", "/configs"),
        ("GET", "/configs/abc"),
    ] {
        let r = d.api(method, path, Some("application/json"), b"{}");
        assert_eq!(r.status, 503, "{method} {path}: {}", r.text());
        assert_eq!(
            r.json().unwrap()["message"],
            NOT_A_MANAGER,
            "{method} {path}"
        );
    }
    let r = d.api("POST", "/swarm/leave", None, b"");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(
        r.json().unwrap()["message"],
        "This node is not part of a swarm"
    );
    let r = d.api("POST", "/swarm/init", Some("application/json"), b"{}");
    assert_eq!(r.status, 501, "{}", r.text());

    // As users meet them: the docker CLI's words and exit codes.
    d.docker(&["node", "ls"])
        .code_is(1)
        .stderr_has(NOT_A_MANAGER);
    d.docker(&["service", "ls"])
        .code_is(1)
        .stderr_has(NOT_A_MANAGER);
    d.docker(&["swarm", "leave"])
        .code_is(1)
        .stderr_has("This node is not part of a swarm");
    // `docker info` still works and says the node is outside a swarm.
    assert_eq!(
        d.docker(&["info", "-f", "{{.Swarm.LocalNodeState}}"])
            .success()
            .out(),
        "inactive"
    );
}

#[test]
fn distribution_inspect_asks_the_registry() {
    let Some(d) = TestDaemon::start() else { return };
    let root = tempfile::tempdir().unwrap();
    let s = Served::start(root.path(), &[]);
    let path = format!("e2e/{}", unique_name("dist"));
    let (amd_digest, amd_size, _) = put_image(&s, &path, "amd", "amd", "gzip", "amd64");
    let (arm_digest, arm_size, _) = put_image(&s, &path, "arm", "arm", "gzip", "arm64");

    // A single manifest: its descriptor, and the platform from its config.
    let r = d.api(
        "GET",
        &format!("/distribution/{}/{path}:amd/json", s.addr),
        None,
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json().unwrap();
    assert_eq!(v["Descriptor"]["digest"], amd_digest);
    assert_eq!(v["Descriptor"]["size"], amd_size);
    assert_eq!(
        v["Descriptor"]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        v["Platforms"],
        serde_json::json!([{"architecture": "amd64", "os": "linux"}])
    );

    // An index: every entry's platform.
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd_digest, "size": amd_size, "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm_digest, "size": arm_size, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ],
    })).unwrap();
    let put = s.req(
        "PUT",
        &format!("/v2/{path}/manifests/multi"),
        &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
        &index,
    );
    assert_eq!(put.status, 201, "{}", put.text());
    let r = d.api(
        "GET",
        &format!("/v1.41/distribution/{}/{path}:multi/json", s.addr),
        None,
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json().unwrap();
    assert_eq!(
        v["Descriptor"]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(v["Descriptor"]["size"], index.len());
    assert_eq!(
        v["Platforms"],
        serde_json::json!([{"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux", "variant": "v8"}])
    );

    // By digest, too; a tag the registry does not have is a 404 naming it.
    let r = d.api(
        "GET",
        &format!("/distribution/{}/{path}@{arm_digest}/json", s.addr),
        None,
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().unwrap()["Platforms"][0]["architecture"], "arm64");
    let r = d.api(
        "GET",
        &format!("/distribution/{}/{path}:nope/json", s.addr),
        None,
        b"",
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = d.api("GET", "/distribution/Bad..Name/json", None, b"");
    assert_eq!(r.status, 400, "{}", r.text());
    // Nothing was pulled.
    d.run(
        Client::Berth,
        &["image", "inspect", &format!("{}/{path}:amd", s.addr)],
    )
    .code_is(1);
}

//! The differential harness: one sequence of Engine API requests, shaped as the docker CLI,
//! docker-py and Compose send them, run against the reference dockerd 20.10 (API 1.41) and
//! against berthd at API 1.41, 1.44, 1.45 and 1.47; every response compared by status, content
//! type, framing and JSON shape (berth/tests/src/apidiff.rs). A difference fails the test unless
//! docs/api.md lists it under "Deliberate differences" with its reason.
//!
//! dockerd 20.10 speaks API 1.41 at most, so berth's answers at 1.44+ are compared with dockerd's
//! at 1.41 and the fields the swagger of the requested version added or dropped
//! (tests/fixtures/api-fields.json). Requests that only exist from 1.44 (several networks at
//! create) are compared with what dockerd shows after the 1.41 way of doing the same (create,
//! then connect).
//!
//! Without dockerd the test fails, unless BERTH_NO_DOCKERD=1 says to skip it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use berth_tests::apidiff::{self, BodyKind, Ctx, Diff, FieldVersions, Observed};
use berth_tests::host::{unix_now, unix_now_fraction, url_encode};
use berth_tests::http;
use berth_tests::refdockerd::RefDockerd;
use berth_tests::tarball::tar_of;
use berth_tests::TestDaemon;

const TIMEOUT: Duration = Duration::from_secs(60);
const UPGRADE: &[(&str, &str)] = &[("Connection", "Upgrade"), ("Upgrade", "tcp")];

/// At which API versions a step runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum When {
    Always,
    /// Before 1.44 (dockerd always; berth at 1.41).
    Old,
    /// From 1.44 (berth only), compared with dockerd's step of the given name.
    New(&'static str),
}

#[derive(Clone)]
enum Body {
    None,
    Json(String),
    Bytes(&'static str, Vec<u8>),
    /// The body of an earlier step's response (an image archive, say).
    Saved(&'static str, &'static str),
}

#[derive(Clone)]
struct Step {
    name: &'static str,
    endpoint: &'static str,
    method: &'static str,
    path: String,
    body: Body,
    upgrade: bool,
    /// Extra request headers.
    headers: Vec<(&'static str, &'static str)>,
    kind: BodyKind,
    compare: bool,
    compare_output: bool,
    compare_tar: bool,
    when: When,
    /// Saves a string from the JSON answer (pointer) as a placeholder.
    save: Option<(&'static str, &'static str)>,
    save_body: bool,
    /// A pause before the request, so that something started earlier (a detached exec) has
    /// ended on both daemons whatever their speed.
    pause_before: Option<std::time::Duration>,
}

fn step(name: &'static str, endpoint: &'static str, path: &str) -> Step {
    let method = endpoint.split(' ').next().unwrap_or("GET");
    Step {
        name,
        endpoint,
        method,
        path: path.to_string(),
        body: Body::None,
        upgrade: false,
        headers: Vec::new(),
        kind: BodyKind::Auto,
        compare: true,
        compare_output: false,
        compare_tar: false,
        when: When::Always,
        save: None,
        save_body: false,
        pause_before: None,
    }
}

impl Step {
    fn json(mut self, body: &str) -> Self {
        self.body = Body::Json(body.to_string());
        self
    }
    fn bytes(mut self, ct: &'static str, body: Vec<u8>) -> Self {
        self.body = Body::Bytes(ct, body);
        self
    }
    fn saved(mut self, ct: &'static str, from: &'static str) -> Self {
        self.body = Body::Saved(ct, from);
        self
    }
    /// `X-Registry-Auth: {}` (base64), as the docker CLI sends to pull and push.
    fn registry_auth(mut self) -> Self {
        self.headers.push(("X-Registry-Auth", "e30="));
        self
    }
    fn after(mut self, pause: std::time::Duration) -> Self {
        self.pause_before = Some(pause);
        self
    }
    fn upgrade(mut self) -> Self {
        self.upgrade = true;
        self
    }
    fn output(mut self) -> Self {
        self.kind = BodyKind::Output;
        self.compare_output = true;
        self
    }
    fn framing_only(mut self) -> Self {
        self.compare_output = false;
        self
    }
    fn tar(mut self, names: bool) -> Self {
        self.kind = BodyKind::Tar;
        self.compare_tar = names;
        self
    }
    fn stream(mut self) -> Self {
        self.kind = BodyKind::JsonStream;
        self
    }
    fn setup(mut self) -> Self {
        self.compare = false;
        self
    }
    fn when(mut self, w: When) -> Self {
        self.when = w;
        self
    }
    fn save(mut self, key: &'static str, pointer: &'static str) -> Self {
        self.save = Some((key, pointer));
        self
    }
    fn keep_body(mut self) -> Self {
        self.save_body = true;
        self
    }
}

/// `filters=` with the JSON percent-encoded.
fn filters(json: &str) -> String {
    format!("filters={}", url_encode(json))
}

/// The docker CLI's `create` body (docker 28, `docker run -d`), with `cmd` and extra fields.
fn cli_create(cmd: &str, extra_config: &str, host_config: &str, endpoints: &str) -> String {
    format!(
        r#"{{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":{cmd},"Image":"busybox","Volumes":{{}},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{{}}{extra_config},"HostConfig":{{"Binds":null,"ContainerIDFile":"","LogConfig":{{"Type":"","Config":{{}}}},"NetworkMode":"default","PortBindings":{{}},"RestartPolicy":{{"Name":"no","MaximumRetryCount":0}},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null{host_config}}},"NetworkingConfig":{{"EndpointsConfig":{{{endpoints}}}}}}}"#
    )
}

/// The sequence. Names are the same on both daemons; `{...}` are placeholders.
fn scenario() -> Vec<Step> {
    let sleeper = r#"["sh","-c","echo out; echo err >&2; sleep 300"]"#;
    let ctx = tar_of(&[(
        "Dockerfile",
        "FROM busybox\nLABEL dh=1\nRUN echo built > /built && echo to-stderr >&2\nENV DH=1\nCMD [\"cat\", \"/built\"]\n",
    )]);
    let bad_ctx = tar_of(&[("Dockerfile", "FROM busybox\nRUN exit 3\n")]);
    let parse_err_ctx = tar_of(&[("Dockerfile", "FROM busybox\nNOPE x\n")]);
    let busybox = std::fs::read(berth_tests::daemon::busybox_tar()).unwrap_or_default();
    let put = tar_of(&[("hello.txt", "hello\n")]);
    vec![
        // System.
        step("ping", "GET /_ping", "/_ping"),
        step("ping-head", "HEAD /_ping", "/_ping"),
        step("version", "GET /version", "/version"),
        step("info", "GET /info", "/info"),
        // Images.
        step("import-url", "POST /images/create", "/images/create?fromSrc=http%3A%2F%2F127.0.0.1%3A1%2Fdh.tar&repo=dh-url").stream(),
        step("import", "POST /images/create", &format!("/images/create?fromSrc=-&repo=dh-import&tag=1&message=m&{}", format_args!("changes={}", url_encode("ENV A=1"))))
            .bytes("application/x-tar", busybox)
            .stream(),
        step("tag", "POST /images/{name}/tag", "/images/busybox/tag?repo=dh-tag&tag=v1"),
        step("tag-missing", "POST /images/{name}/tag", "/images/dh-nope/tag?repo=dh-x&tag=v1"),
        step("images", "GET /images/json", "/images/json"),
        step("images-all-digests", "GET /images/json", "/images/json?all=1&digests=1"),
        step("images-two-references", "GET /images/json", &format!("/images/json?{}", filters(r#"{"reference":{"busybox":true,"dh-tag":true}}"#))),
        step("images-reference-list", "GET /images/json", &format!("/images/json?{}", filters(r#"{"reference":["busybox","dh-import"]}"#))),
        step("images-dangling", "GET /images/json", &format!("/images/json?{}", filters(r#"{"dangling":["false"]}"#))),
        step("image-inspect", "GET /images/{name}/json", "/images/busybox/json").save("busybox", "/Id"),
        step("image-inspect-missing", "GET /images/{name}/json", "/images/dh-nope/json"),
        step("history", "GET /images/{name}/history", "/images/dh-import:1/history"),
        step("save", "GET /images/{name}/get", "/images/dh-tag:v1/get").tar(false).keep_body(),
        step("save-names", "GET /images/get", "/images/get?names=dh-tag%3Av1&names=busybox").tar(false),
        step("rmi-tag", "DELETE /images/{name}", "/images/dh-tag:v1"),
        step("load", "POST /images/load", "/images/load").saved("application/x-tar", "save").stream(),
        step("load-quiet", "POST /images/load", "/images/load?quiet=1").saved("application/x-tar", "save").stream(),
        step("load-garbage", "POST /images/load", "/images/load").bytes("application/x-tar", b"not a tar".to_vec()),
        step("build", "POST /build", "/build?t=dh-build%3A1&rm=1&forcerm=1&labels=%7B%22l%22%3A%22v%22%7D").bytes("application/x-tar", ctx.clone()).stream(),
        step("build-quiet", "POST /build", "/build?t=dh-build%3A2&q=1").bytes("application/x-tar", ctx).stream(),
        step("build-fails", "POST /build", "/build?t=dh-build%3A3").bytes("application/x-tar", bad_ctx).stream(),
        step("build-parse-error", "POST /build", "/build").bytes("application/x-tar", parse_err_ctx),
        step("build-prune", "POST /build/prune", "/build/prune"),
        step("pull-refused", "POST /images/create", "/images/create?fromImage=127.0.0.1%3A1%2Fdh-nope&tag=latest").registry_auth().stream(),
        step("tag-for-push", "POST /images/{name}/tag", "/images/busybox/tag?repo=127.0.0.1%3A1%2Fdh-push&tag=1").setup(),
        step("push-refused", "POST /images/{name}/push", "/images/127.0.0.1:1/dh-push/push?tag=1").registry_auth().stream(),
        step("push-missing", "POST /images/{name}/push", "/images/dh-nope/push?tag=1").registry_auth().stream(),
        step("auth-refused", "POST /auth", "/auth").json(r#"{"username":"u","password":"p","serveraddress":"127.0.0.1:1"}"#),
        step("search", "GET /images/search", "/images/search?term=127.0.0.1%3A1%2Fdh"),
        step("distribution", "GET /distribution/{name}/json", "/distribution/127.0.0.1:1/dh:1/json"),
        // Containers.
        step("create-bad-json", "POST /containers/create", "/containers/create?name=dh-bad").json("{\"Image\":"),
        step("create-missing-image", "POST /containers/create", "/containers/create?name=dh-bad").json(r#"{"Image":"dh-nope:1"}"#),
        step("create-cli", "POST /containers/create", "/containers/create?name=dh-c1")
            .json(&cli_create(sleeper, r#","ExposedPorts":{"80/tcp":{}}"#, r#","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":""}]}"#, "")),
        step("create-conflict", "POST /containers/create", "/containers/create?name=dh-c1").json(r#"{"Image":"busybox"}"#),
        step("create-dockerpy", "POST /containers/create", "/containers/create?name=dh-c2")
            .json(r#"{"Hostname":null,"Domainname":null,"ExposedPorts":null,"User":null,"Tty":false,"OpenStdin":false,"StdinOnce":false,"AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Env":["A=1"],"Cmd":["sh","-c","echo out; echo err >&2; sleep 300"],"Image":"busybox","Volumes":null,"NetworkDisabled":false,"Entrypoint":null,"WorkingDir":null,"Domainname":null,"Labels":{"dh.a":"1","dh.b":"2"},"StopSignal":null,"Healthcheck":null,"StopTimeout":null,"Runtime":null,"HostConfig":{"NetworkMode":"default"}}"#),
        step("create-tty", "POST /containers/create", "/containers/create?name=dh-tty")
            .json(&cli_create(r#"["sh","-c","echo tty-out; sleep 300"]"#, r#","Tty":true,"OpenStdin":true"#, "", "")),
        step("start", "POST /containers/{id}/start", "/containers/dh-c1/start"),
        step("start-again", "POST /containers/{id}/start", "/containers/dh-c1/start"),
        step("start-c2", "POST /containers/{id}/start", "/containers/dh-c2/start").setup(),
        step("start-tty", "POST /containers/{id}/start", "/containers/dh-tty/start").setup(),
        step("start-missing", "POST /containers/{id}/start", "/containers/dh-nope/start"),
        step("ps", "GET /containers/json", "/containers/json"),
        step("ps-all-size", "GET /containers/json", "/containers/json?all=1&size=1"),
        step("ps-two-labels", "GET /containers/json", &format!("/containers/json?all=1&{}", filters(r#"{"label":["dh.a=1","dh.b=2"]}"#))),
        step("ps-two-labels-map", "GET /containers/json", &format!("/containers/json?all=1&{}", filters(r#"{"label":{"dh.a=1":true,"dh.b=3":true}}"#))),
        step("ps-two-names", "GET /containers/json", &format!("/containers/json?all=1&{}", filters(r#"{"name":["dh-c1","dh-c2"]}"#))),
        step("ps-status", "GET /containers/json", &format!("/containers/json?all=1&{}", filters(r#"{"status":["running","exited"]}"#))),
        step("inspect", "GET /containers/{id}/json", "/containers/dh-c1/json"),
        step("inspect-size", "GET /containers/{id}/json", "/containers/dh-c1/json?size=1"),
        step("inspect-dockerpy", "GET /containers/{id}/json", "/containers/dh-c2/json"),
        step("inspect-tty", "GET /containers/{id}/json", "/containers/dh-tty/json"),
        step("inspect-missing", "GET /containers/{id}/json", "/containers/dh-nope/json"),
        step("top", "GET /containers/{id}/top", "/containers/dh-c1/top"),
        step("top-args", "GET /containers/{id}/top", "/containers/dh-c1/top?ps_args=aux"),
        step("logs", "GET /containers/{id}/logs", "/containers/dh-c1/logs?stdout=1&stderr=1").output(),
        step("logs-tail-ts", "GET /containers/{id}/logs", "/containers/dh-c1/logs?stdout=1&stderr=1&tail=1&timestamps=1").output().framing_only(),
        step("logs-tty", "GET /containers/{id}/logs", "/containers/dh-tty/logs?stdout=1&stderr=1").output(),
        step("logs-none", "GET /containers/{id}/logs", "/containers/dh-c1/logs"),
        step("stats", "GET /containers/{id}/stats", "/containers/dh-c1/stats?stream=false"),
        step("stats-one-shot", "GET /containers/{id}/stats", "/containers/dh-c1/stats?stream=false&one-shot=true"),
        step("resize-tty", "POST /containers/{id}/resize", "/containers/dh-tty/resize?h=40&w=100"),
        step("resize-no-tty", "POST /containers/{id}/resize", "/containers/dh-c1/resize?h=40&w=100"),
        step("archive-put", "PUT /containers/{id}/archive", "/containers/dh-c1/archive?path=%2Ftmp").bytes("application/x-tar", put.clone()),
        step("archive-put-not-dir", "PUT /containers/{id}/archive", "/containers/dh-c1/archive?path=%2Fetc%2Fhostname").bytes("application/x-tar", put),
        step("archive-head", "HEAD /containers/{id}/archive", "/containers/dh-c1/archive?path=%2Ftmp%2Fhello.txt"),
        step("archive-head-missing", "HEAD /containers/{id}/archive", "/containers/dh-c1/archive?path=%2Fnope"),
        step("archive-get", "GET /containers/{id}/archive", "/containers/dh-c1/archive?path=%2Ftmp%2Fhello.txt").tar(true),
        step("archive-get-missing", "GET /containers/{id}/archive", "/containers/dh-c1/archive?path=%2Fnope"),
        step("changes", "GET /containers/{id}/changes", "/containers/dh-c1/changes"),
        step("changes-none", "GET /containers/{id}/changes", "/containers/dh-c2/changes"),
        step("export", "GET /containers/{id}/export", "/containers/dh-c2/export").tar(false),
        step("update", "POST /containers/{id}/update", "/containers/dh-c1/update").json(r#"{"Memory":67108864,"MemorySwap":134217728,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2}}"#),
        step("update-bad", "POST /containers/{id}/update", "/containers/dh-c1/update").json(r#"{"Memory":67108864,"MemorySwap":1000}"#),
        step("inspect-updated", "GET /containers/{id}/json", "/containers/dh-c1/json"),
        step("pause", "POST /containers/{id}/pause", "/containers/dh-c1/pause"),
        step("pause-again", "POST /containers/{id}/pause", "/containers/dh-c1/pause"),
        step("inspect-paused", "GET /containers/{id}/json", "/containers/dh-c1/json"),
        step("exec-paused", "POST /containers/{id}/exec", "/containers/dh-c1/exec").json(r#"{"Cmd":["true"]}"#),
        step("unpause", "POST /containers/{id}/unpause", "/containers/dh-c1/unpause"),
        step("unpause-again", "POST /containers/{id}/unpause", "/containers/dh-c1/unpause"),
        step("rename", "POST /containers/{id}/rename", "/containers/dh-c2/rename?name=dh-c2b"),
        step("rename-conflict", "POST /containers/{id}/rename", "/containers/dh-c2b/rename?name=dh-c1"),
        step("rename-back", "POST /containers/{id}/rename", "/containers/dh-c2b/rename?name=dh-c2").setup(),
        step("commit", "POST /commit", "/commit?container=dh-c1&repo=dh-commit&tag=1&comment=c&pause=1").json(r#"{"Env":["C=1"]}"#),
        step("commit-inspect", "GET /images/{name}/json", "/images/dh-commit:1/json"),
        step("rmi-in-use", "DELETE /images/{name}", "/images/{busybox}"),
        // Exec.
        step("exec-create", "POST /containers/{id}/exec", "/containers/dh-c1/exec")
            .json(r#"{"User":"","Privileged":false,"Tty":false,"ConsoleSize":null,"AttachStdin":false,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":["sh","-c","echo out; echo err >&2; exit 3"]}"#)
            .save("exec1", "/Id"),
        step("exec-inspect-created", "GET /exec/{id}/json", "/exec/{exec1}/json"),
        step("exec-start", "POST /exec/{id}/start", "/exec/{exec1}/start").json(r#"{"Detach":false,"Tty":false,"ConsoleSize":null}"#).upgrade().output(),
        step("exec-inspect-done", "GET /exec/{id}/json", "/exec/{exec1}/json"),
        step("exec-start-again", "POST /exec/{id}/start", "/exec/{exec1}/start").json(r#"{"Detach":false,"Tty":false}"#).upgrade().output().framing_only(),
        step("exec-create-tty", "POST /containers/{id}/exec", "/containers/dh-c1/exec")
            .json(r#"{"Tty":true,"AttachStdout":true,"AttachStderr":true,"Cmd":["sh","-c","echo tty"]}"#)
            .save("exec2", "/Id"),
        step("exec-start-tty", "POST /exec/{id}/start", "/exec/{exec2}/start").json(r#"{"Detach":false,"Tty":true}"#).upgrade().output(),
        step("exec-create-plain", "POST /containers/{id}/exec", "/containers/dh-c1/exec")
            .json(r#"{"AttachStdout":true,"AttachStderr":true,"Cmd":["sh","-c","echo plain"]}"#)
            .save("exec3", "/Id"),
        // docker-py's exec_start(tty=True) on an exec created without a TTY.
        step("exec-start-tty-request", "POST /exec/{id}/start", "/exec/{exec3}/start").json(r#"{"Detach":false,"Tty":true}"#).upgrade().output(),
        step("exec-create-nohijack", "POST /containers/{id}/exec", "/containers/dh-c1/exec")
            .json(r#"{"AttachStdout":true,"AttachStderr":true,"Cmd":["sh","-c","echo nohijack; echo e >&2"]}"#)
            .save("exec4", "/Id"),
        step("exec-start-no-upgrade", "POST /exec/{id}/start", "/exec/{exec4}/start").json(r#"{"Detach":false,"Tty":false}"#).output(),
        step("exec-create-detach", "POST /containers/{id}/exec", "/containers/dh-c1/exec")
            .json(r#"{"Tty":true,"Cmd":["sleep","2"]}"#)
            .save("exec5", "/Id"),
        step("exec-start-detach", "POST /exec/{id}/start", "/exec/{exec5}/start").json(r#"{"Detach":true,"Tty":true}"#),
        step("exec-resize", "POST /exec/{id}/resize", "/exec/{exec5}/resize?h=30&w=90"),
        step("exec-inspect-running", "GET /exec/{id}/json", "/exec/{exec5}/json"),
        step("exec-inspect-missing", "GET /exec/{id}/json", "/exec/dh-nope/json"),
        step("exec-missing-container", "POST /containers/{id}/exec", "/containers/dh-nope/exec").json(r#"{"Cmd":["true"]}"#),
        // Attach, to a container that exits after its output.
        step("create-attach", "POST /containers/create", "/containers/create?name=dh-att")
            .json(r#"{"Image":"busybox","Cmd":["sh","-c","echo out; echo err >&2"],"AttachStdout":true,"AttachStderr":true,"Volumes":{"/anon":{}}}"#)
            .setup(),
        step("start-attach", "POST /containers/{id}/start", "/containers/dh-att/start").setup(),
        step("wait", "POST /containers/{id}/wait", "/containers/dh-att/wait"),
        step("wait-not-running", "POST /containers/{id}/wait", "/containers/dh-att/wait?condition=not-running"),
        step("attach-logs", "POST /containers/{id}/attach", "/containers/dh-att/attach?logs=1&stream=0&stdout=1&stderr=1").upgrade().output(),
        step("attach-logs-no-upgrade", "POST /containers/{id}/attach", "/containers/dh-att/attach?logs=1&stream=0&stdout=1&stderr=1").output(),
        step("attach-missing", "POST /containers/{id}/attach", "/containers/dh-nope/attach?stream=1&stdout=1").upgrade(),
        step("attach-ws", "GET /containers/{id}/attach/ws", "/containers/dh-att/attach/ws?logs=1&stdout=1"),
        step("inspect-exited", "GET /containers/{id}/json", "/containers/dh-att/json"),
        step("stats-stopped", "GET /containers/{id}/stats", "/containers/dh-att/stats?stream=false"),
        step("logs-follow-exited", "GET /containers/{id}/logs", "/containers/dh-att/logs?stdout=1&stderr=1&follow=1").output(),
        // Stop, kill, restart.
        step("restart", "POST /containers/{id}/restart", "/containers/dh-c2/restart?t=1"),
        step("kill-signal", "POST /containers/{id}/kill", "/containers/dh-c2/kill?signal=SIGWINCH"),
        step("kill-bad-signal", "POST /containers/{id}/kill", "/containers/dh-c2/kill?signal=NOPE"),
        step("kill", "POST /containers/{id}/kill", "/containers/dh-c2/kill"),
        step("inspect-killed", "GET /containers/{id}/json", "/containers/dh-c2/json"),
        step("kill-stopped", "POST /containers/{id}/kill", "/containers/dh-c2/kill"),
        step("stop", "POST /containers/{id}/stop", "/containers/dh-tty/stop?t=1"),
        step("stop-again", "POST /containers/{id}/stop", "/containers/dh-tty/stop?t=1"),
        step("wait-stopped", "POST /containers/{id}/wait", "/containers/dh-tty/wait"),
        // Volumes.
        step("volume-create", "POST /volumes/create", "/volumes/create").json(r#"{"Name":"dh-vol","Driver":"local","DriverOpts":{},"Labels":{"dh.v":"1"}}"#),
        step("volume-create-again", "POST /volumes/create", "/volumes/create").json(r#"{"Name":"dh-vol"}"#),
        step("volume-create-bad-name", "POST /volumes/create", "/volumes/create").json(r#"{"Name":"a/b"}"#),
        step("volume-create-anon", "POST /volumes/create", "/volumes/create").json(r#"{}"#).save("anon", "/Name"),
        step("volumes", "GET /volumes", "/volumes"),
        step("volumes-name", "GET /volumes", &format!("/volumes?{}", filters(r#"{"name":["dh-vol"]}"#))),
        step("volumes-dangling", "GET /volumes", &format!("/volumes?{}", filters(r#"{"dangling":["true"],"label":["dh.v=1"]}"#))),
        step("volume-inspect", "GET /volumes/{name}", "/volumes/dh-vol"),
        step("volume-inspect-missing", "GET /volumes/{name}", "/volumes/dh-nope"),
        step("create-with-volumes", "POST /containers/create", "/containers/create?name=dh-vc")
            .json(&cli_create(r#"["sh","-c","echo data > /data/f; sleep 300"]"#, "", r#","Mounts":[{"Type":"volume","Source":"dh-vol2","Target":"/d2"},{"Type":"tmpfs","Target":"/t"}],"Tmpfs":{"/run":""}"#, "").replace(r#""Binds":null"#, r#""Binds":["dh-vol:/data"]"#)),
        step("start-with-volumes", "POST /containers/{id}/start", "/containers/dh-vc/start"),
        step("inspect-with-volumes", "GET /containers/{id}/json", "/containers/dh-vc/json"),
        step("ps-volume-filter", "GET /containers/json", &format!("/containers/json?{}", filters(r#"{"volume":["dh-vol"]}"#))),
        // The container writes /data/f once it runs: give it the time to, on both daemons.
        step("archive-in-volume", "GET /containers/{id}/archive", "/containers/dh-vc/archive?path=%2Fdata").tar(true)
            .after(std::time::Duration::from_millis(1000)),
        step("volume-rm-in-use", "DELETE /volumes/{name}", "/volumes/dh-vol"),
        step("df", "GET /system/df", "/system/df"),
        // Networks.
        step("network-create", "POST /networks/create", "/networks/create")
            .json(r#"{"Name":"dh-net1","CheckDuplicate":true,"Driver":"bridge","Scope":"","EnableIPv6":false,"IPAM":{"Driver":"default","Config":[],"Options":null},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{"dh.n":"1","com.docker.compose.network":"net1"}}"#),
        step("network-create-subnet", "POST /networks/create", "/networks/create")
            .json(r#"{"Name":"dh-net2","CheckDuplicate":true,"Driver":"bridge","IPAM":{"Driver":"default","Config":[{"Subnet":"{subnet}.0/24","Gateway":"{subnet}.1"}]},"Internal":true,"Labels":{"dh.n":"2"}}"#),
        step("network-create-dup", "POST /networks/create", "/networks/create").json(r#"{"Name":"dh-net1","CheckDuplicate":true,"Driver":"bridge"}"#),
        step("network-create-bad-driver", "POST /networks/create", "/networks/create").json(r#"{"Name":"dh-net3","Driver":"dh-nope"}"#),
        step("networks", "GET /networks", "/networks"),
        step("networks-two-names", "GET /networks", &format!("/networks?{}", filters(r#"{"name":["dh-net1","dh-net2"]}"#))),
        step("networks-label-driver", "GET /networks", &format!("/networks?{}", filters(r#"{"label":["dh.n"],"driver":["bridge"],"type":["custom"]}"#))),
        step("network-inspect", "GET /networks/{id}", "/networks/dh-net2"),
        step("network-inspect-verbose", "GET /networks/{id}", "/networks/dh-net1?verbose=true"),
        step("network-inspect-bridge", "GET /networks/{id}", "/networks/bridge"),
        step("network-inspect-missing", "GET /networks/{id}", "/networks/dh-nope"),
        step("connect", "POST /networks/{id}/connect", "/networks/dh-net1/connect")
            .json(r#"{"Container":"dh-c1","EndpointConfig":{"Aliases":["dh-alias"],"IPAMConfig":null,"Links":null,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"","DriverOpts":null}}"#),
        step("connect-again", "POST /networks/{id}/connect", "/networks/dh-net1/connect").json(r#"{"Container":"dh-c1"}"#),
        step("network-inspect-member", "GET /networks/{id}", "/networks/dh-net1"),
        // By now the detached `sleep 2` exec has ended on both daemons: ExecIDs is null.
        step("inspect-two-networks", "GET /containers/{id}/json", "/containers/dh-c1/json")
            .after(std::time::Duration::from_millis(2500)),
        step("ps-network-filter", "GET /containers/json", &format!("/containers/json?{}", filters(r#"{"network":["dh-net1"]}"#))),
        step("network-rm-in-use", "DELETE /networks/{id}", "/networks/dh-net1"),
        step("disconnect", "POST /networks/{id}/disconnect", "/networks/dh-net1/disconnect").json(r#"{"Container":"dh-c1","Force":false}"#),
        step("disconnect-again", "POST /networks/{id}/disconnect", "/networks/dh-net1/disconnect").json(r#"{"Container":"dh-c1","Force":false}"#),
        // Several networks at create: API 1.44; before, dockerd refuses them.
        step("create-two-networks-old", "POST /containers/create", "/containers/create?name=dh-mn-old")
            .json(&cli_create(sleeper, "", "", r#""dh-net1":{"Aliases":["a1"]},"dh-net2":{"Aliases":["a2"]}"#).replace(r#""NetworkMode":"default""#, r#""NetworkMode":"dh-net1""#))
            .when(When::Old),
        step("create-two-networks", "POST /containers/create", "/containers/create?name=dh-mn")
            .json(&cli_create(sleeper, "", "", r#""dh-net1":{"Aliases":["a1"]}"#).replace(r#""NetworkMode":"default""#, r#""NetworkMode":"dh-net1""#))
            .when(When::Old),
        step("connect-second", "POST /networks/{id}/connect", "/networks/dh-net2/connect")
            .json(r#"{"Container":"dh-mn","EndpointConfig":{"Aliases":["a2"],"IPAMConfig":{"IPv4Address":"{subnet}.7"}}}"#)
            .when(When::Old),
        step("create-two-networks-1.44", "POST /containers/create", "/containers/create?name=dh-mn")
            .json(&cli_create(sleeper, "", "", r#""dh-net1":{"Aliases":["a1"]},"dh-net2":{"Aliases":["a2"],"IPAMConfig":{"IPv4Address":"{subnet}.7"}}"#).replace(r#""NetworkMode":"default""#, r#""NetworkMode":"dh-net1""#))
            .when(When::New("create-two-networks")),
        step("start-two-networks", "POST /containers/{id}/start", "/containers/dh-mn/start"),
        step("inspect-created-two-networks", "GET /containers/{id}/json", "/containers/dh-mn/json"),
        step("network-inspect-two-members", "GET /networks/{id}", "/networks/dh-net2"),
        // Removal and pruning.
        step("rm-running", "DELETE /containers/{id}", "/containers/dh-vc"),
        step("rm-force", "DELETE /containers/{id}", "/containers/dh-vc?force=1&v=1"),
        step("rm-mn", "DELETE /containers/{id}", "/containers/dh-mn?force=1"),
        step("rm-missing", "DELETE /containers/{id}", "/containers/dh-nope"),
        step("stop-c1", "POST /containers/{id}/stop", "/containers/dh-c1/stop?t=1").setup(),
        step("container-prune-label", "POST /containers/prune", &format!("/containers/prune?{}", filters(r#"{"label":["dh.nope"]}"#))),
        step("container-prune", "POST /containers/prune", "/containers/prune"),
        step("volume-rm", "DELETE /volumes/{name}", "/volumes/dh-vol"),
        step("volume-rm-missing", "DELETE /volumes/{name}", "/volumes/dh-nope"),
        step("volume-rm-missing-force", "DELETE /volumes/{name}", "/volumes/dh-nope?force=1"),
        // Before 1.42 a prune takes every unused volume; from 1.42 the anonymous ones, and the
        // named ones with all=true.
        step("volume-prune", "POST /volumes/prune", "/volumes/prune").when(When::Old),
        step("volume-prune-1.42", "POST /volumes/prune", "/volumes/prune").when(When::New("volume-prune")),
        step("volume-prune-all", "POST /volumes/prune", &format!("/volumes/prune?{}", filters(r#"{"all":["true"]}"#))).when(When::New("volume-prune")).setup(),
        step("network-rm", "DELETE /networks/{id}", "/networks/dh-net2"),
        step("network-rm-predefined", "DELETE /networks/{id}", "/networks/bridge"),
        step("network-prune", "POST /networks/prune", "/networks/prune"),
        step("rmi", "DELETE /images/{name}", "/images/dh-commit:1"),
        step("rmi-missing", "DELETE /images/{name}", "/images/dh-nope"),
        step("image-prune", "POST /images/prune", &format!("/images/prune?{}", filters(r#"{"dangling":["true"]}"#))),
        step("image-prune-all-label", "POST /images/prune", &format!("/images/prune?{}", filters(r#"{"dangling":["false"],"label":["dh.nope"]}"#))),
        step("df-after", "GET /system/df", "/system/df"),
        step("events", "GET /events", "/events?since={since}&until={until}").stream(),
        step("events-filtered", "GET /events", &format!("/events?since={{since}}&until={{until}}&{}", filters(r#"{"type":["container"],"event":["start","die"]}"#))).stream(),
        // Swarm and plugins on a node that is not in a swarm.
        step("swarm", "GET /swarm", "/swarm"),
        step("nodes", "GET /nodes", "/nodes"),
        step("services", "GET /services", "/services"),
        step("tasks", "GET /tasks", "/tasks"),
        step("secrets", "GET /secrets", "/secrets"),
        step("configs", "GET /configs", "/configs"),
        step("plugins", "GET /plugins", "/plugins"),
        step("swarm-leave", "POST /swarm/leave", "/swarm/leave"),
        step("volume-update", "PUT /volumes/{name}", "/volumes/dh-nope?version=1").json("{}"),
        step("unknown-path", "GET /dh-nope", "/dh-nope"),
    ]
}

/// One daemon to run the sequence against.
struct Target<'a> {
    socket: &'a Path,
    /// The API version in the paths.
    version: &'a str,
    /// `{subnet}`: a /24 (its first three octets) for this daemon's user network.
    subnet: String,
}

/// A difference without its version and step: endpoint, path, dockerd's, berth's.
type DiffKey = (String, String, String, String);

/// The sequence's observations, by step name.
type Run = BTreeMap<&'static str, Observed>;

fn run(target: &Target, steps: &[Step], is_dockerd: bool) -> Run {
    let since = unix_now().saturating_sub(1).to_string();
    let mut vars: BTreeMap<&str, String> = BTreeMap::new();
    let mut bodies: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    let mut out = Run::new();
    let new_api = apidiff::version_key(target.version) >= (1, 44);
    for s in steps {
        if let Some(pause) = s.pause_before {
            std::thread::sleep(pause);
        }
        let runs = match s.when {
            When::Always => true,
            When::Old => is_dockerd || !new_api,
            When::New(_) => !is_dockerd && new_api,
        };
        if !runs {
            continue;
        }
        let fill = |t: &str| {
            let mut t = t
                .replace("{since}", &since)
                .replace("{until}", &unix_now_fraction())
                .replace("{subnet}", &target.subnet);
            for (k, v) in &vars {
                t = t.replace(&format!("{{{k}}}"), v);
            }
            t
        };
        let path = format!("/v{}{}", target.version, fill(&s.path));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        let body: Vec<u8> = match &s.body {
            Body::None => Vec::new(),
            Body::Json(j) => {
                headers.push(("Content-Type", "application/json"));
                fill(j).into_bytes()
            }
            Body::Bytes(ct, b) => {
                headers.push(("Content-Type", ct));
                b.clone()
            }
            Body::Saved(ct, from) => {
                headers.push(("Content-Type", ct));
                bodies.get(from).cloned().unwrap_or_default()
            }
        };
        if s.upgrade {
            headers.extend_from_slice(UPGRADE);
        }
        headers.extend(s.headers.iter().copied());
        let send =
            || http::request_with_headers(target.socket, s.method, &path, &headers, &body, TIMEOUT);
        // A request that got no answer at all (the connection reset under load; dockerd
        // closing on a route it lacks before our body is read) is sent up to three times more
        // when repeating it cannot change the outcome.
        let mut answer = send();
        for _ in 0..3 {
            if answer.is_ok() || !matches!(s.method, "GET" | "HEAD" | "PUT") {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
            answer = send();
        }
        let observed = match answer {
            Ok(r) => {
                if s.save_body {
                    bodies.insert(s.name, r.body.clone());
                }
                let o = Observed::from_response(&r, s.kind);
                if let Some((key, pointer)) = s.save {
                    if let Some(v) = o
                        .docs
                        .first()
                        .and_then(|d| d.pointer(pointer))
                        .and_then(|v| v.as_str())
                    {
                        vars.insert(key, v.to_string());
                    }
                }
                o
            }
            Err(e) => Observed {
                status: 0,
                content_type: Some(format!("no answer: {e}")),
                framing: apidiff::Framing::Empty,
                docs: Vec::new(),
                output: BTreeMap::new(),
                tar_names: Vec::new(),
                header_doc: None,
            },
        };
        out.insert(s.name, observed);
    }
    out
}

/// Removes what a run left on berthd, so the next version's run starts alike.
fn reset(d: &TestDaemon) {
    let json = |path: &str| d.api("GET", path, None, b"").json().unwrap_or_default();
    for c in json("/containers/json?all=1")
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(id) = c["Id"].as_str() {
            d.api(
                "DELETE",
                &format!("/containers/{id}?force=1&v=1"),
                None,
                b"",
            );
        }
    }
    for n in json("/networks").as_array().into_iter().flatten() {
        let name = n["Name"].as_str().unwrap_or_default();
        if name.starts_with("dh-") {
            d.api("DELETE", &format!("/networks/{name}"), None, b"");
        }
    }
    for v in json("/volumes")["Volumes"].as_array().into_iter().flatten() {
        if let Some(name) = v["Name"].as_str() {
            d.api("DELETE", &format!("/volumes/{name}?force=1"), None, b"");
        }
    }
    // Untag (as `docker rmi <tag>` does) everything but busybox:latest.
    for i in json("/images/json").as_array().into_iter().flatten() {
        for tag in i["RepoTags"].as_array().into_iter().flatten() {
            let tag = tag.as_str().unwrap_or_default();
            if tag != "busybox:latest" {
                d.api("DELETE", &format!("/images/{tag}"), None, b"");
            }
        }
    }
    let r = d.api("GET", "/images/busybox:latest/json", None, b"");
    assert_eq!(
        r.status,
        200,
        "busybox:latest went with the other tags: {}",
        r.text()
    );
}

/// The berth CLI sends its first request at its own API version without asking `/_ping`
/// first; dockerd 20.10 (API 1.41) refuses it as too new, and the CLI must then negotiate and
/// send it again, its user none the wiser.
fn berth_cli_against_an_older_daemon(dockerd: &RefDockerd) {
    let bins = berth_tests::paths::Binaries::locate().unwrap_or_else(|e| panic!("{e}"));
    let host = format!("unix://{}", dockerd.socket.display());
    let berth = |args: &[&str]| {
        let out = std::process::Command::new(&bins.berth)
            .args(args)
            .env("DOCKER_HOST", &host)
            .env_remove("DOCKER_API_VERSION")
            .output()
            .expect("running berth");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // A JSON body (the create), empty bodies (attach's wait, start) and a GET, each the first
    // request of its command.
    let (code, out, err) = berth(&["run", "--rm", "--network", "none", "busybox", "echo", "hi"]);
    assert_eq!((code, out.as_str()), (Some(0), "hi\n"), "{err}");
    let (code, out, err) = berth(&["ps", "-a", "--format", "{{.ID}}"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "", "run --rm left a container: {out}");
    let (code, out, err) = berth(&["version", "--format", "{{.Client.APIVersion}}"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("1.41"),
        "negotiated with dockerd 20.10: {out}"
    );
    // An error that is not about the version still reaches the user as dockerd worded it.
    let (code, _, err) = berth(&["rm", "no-such-container-here"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("No such container: no-such-container-here"),
        "{err}"
    );
}

#[test]
fn api_matches_dockerd() {
    let began = Instant::now();
    if !RefDockerd::installed() && std::env::var("BERTH_NO_DOCKERD").as_deref() == Ok("1") {
        eprintln!(
            "skipped: BERTH_NO_DOCKERD=1 and {} is not installed",
            berth_tests::refdockerd::DOCKERD
        );
        return;
    }
    if !berth_tests::preflight::blackbox_can_run() {
        return;
    }
    let root = berth_tests::paths::repo_root();
    let api_md = std::fs::read_to_string(root.join("docs/api.md")).expect("docs/api.md");
    let listed = apidiff::parse_listed(&api_md).unwrap_or_else(|e| panic!("{e}"));
    let fields_text = std::fs::read_to_string(root.join("tests/fixtures/api-fields.json"))
        .expect("api-fields.json");
    let fields = FieldVersions::parse(&fields_text).unwrap_or_else(|e| panic!("{e}"));
    let steps = scenario();

    let dockerd = match RefDockerd::start() {
        Ok(d) => d,
        Err(e) if std::env::var("BERTH_NO_DOCKERD").as_deref() == Ok("1") => {
            eprintln!("skipped (BERTH_NO_DOCKERD=1): {e}");
            return;
        }
        Err(e) => panic!("the reference dockerd is needed (set BERTH_NO_DOCKERD=1 to skip): {e}"),
    };
    eprintln!("reference dockerd answered in {:?}", dockerd.startup);
    let Some(berthd) = TestDaemon::start() else {
        return;
    };
    let slot = berthd.net.as_ref().map(|s| s.n).unwrap_or(99);
    let (_, dockerd_prefix) = dockerd.spare_subnet();
    let reference = run(
        &Target {
            socket: &dockerd.socket,
            version: "1.41",
            subnet: dockerd_prefix,
        },
        &steps,
        true,
    );
    eprintln!("dockerd sequence done at {:?}", began.elapsed());
    berth_cli_against_an_older_daemon(&dockerd);
    drop(dockerd);

    let mut diffs: Vec<Diff> = Vec::new();
    let mut compared: BTreeSet<&str> = BTreeSet::new();
    let mut requests = 0;
    for (i, version) in ["1.41", "1.44", "1.45", "1.47"].into_iter().enumerate() {
        if i > 0 {
            reset(&berthd);
        }
        let got = run(
            &Target {
                socket: &berthd.socket,
                version,
                subnet: format!("10.{slot}.250"),
            },
            &steps,
            false,
        );
        eprintln!("berth v{version} sequence done at {:?}", began.elapsed());
        for s in &steps {
            if !s.compare {
                continue;
            }
            let Some(b) = got.get(s.name) else { continue };
            let reference_name = match s.when {
                When::New(r) => r,
                _ => s.name,
            };
            let Some(d) = reference.get(reference_name) else {
                continue;
            };
            requests += 1;
            compared.insert(s.endpoint);
            let ctx = Ctx {
                endpoint: s.endpoint,
                step: s.name,
                version,
                fields: &fields,
                compare_output: s.compare_output,
                compare_tar_names: s.compare_tar,
            };
            diffs.extend(apidiff::compare(&ctx, d, b));
        }
    }

    // One line per difference, with the versions it showed at.
    let mut merged: BTreeMap<DiffKey, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for d in &diffs {
        let e = merged
            .entry((
                d.endpoint.clone(),
                d.path.clone(),
                d.dockerd.clone(),
                d.berth.clone(),
            ))
            .or_default();
        e.0.insert(d.version.clone());
        e.1.insert(d.step.clone());
    }
    let mut unlisted = Vec::new();
    let mut silenced = 0;
    let mut used = vec![false; listed.len()];
    for ((endpoint, path, dv, bv), (versions, steps)) in &merged {
        let probe = Diff {
            endpoint: endpoint.clone(),
            path: path.clone(),
            dockerd: dv.clone(),
            berth: bv.clone(),
            version: String::new(),
            step: steps.iter().cloned().collect::<Vec<_>>().join(","),
        };
        match listed.iter().position(|l| l.matches(&probe)) {
            Some(i) => {
                used[i] = true;
                silenced += 1;
            }
            None => unlisted.push(format!(
                "{endpoint}  {path}  [v{}; {}]\n      dockerd: {dv}\n      berth:   {bv}",
                versions.iter().cloned().collect::<Vec<_>>().join(","),
                steps.iter().cloned().collect::<Vec<_>>().join(",")
            )),
        }
    }
    let endpoints_in_docs = api_md
        .split("## Differential harness")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("| `"))
        .count();
    eprintln!(
        "compared {} endpoints ({} requests at API 1.41, 1.44, 1.45, 1.47; {} rows in docs/api.md); {} differences: {} listed as deliberate, {} not; {:?}",
        compared.len(),
        requests,
        endpoints_in_docs,
        merged.len(),
        silenced,
        unlisted.len(),
        began.elapsed()
    );
    for (l, u) in listed.iter().zip(&used) {
        if !u {
            eprintln!(
                "listed in docs/api.md but not seen: {} {}",
                l.endpoint, l.path
            );
        }
    }
    assert!(
        unlisted.is_empty(),
        "compared {} endpoints; {} differences from dockerd 20.10 (fix them, or list them in docs/api.md under \"Deliberate differences\" with the reason):\n  {}",
        compared.len(),
        unlisted.len(),
        unlisted.join("\n  ")
    );
}

//! `/containers/...`: create, list, inspect, lifecycle, wait, logs, attach, resize, rename, top.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use berth_api::ContainerCreateBody;
use berth_daemon::{AttachOptions, Daemon, ListOptions, LogsOptions, RemoveOptions, WaitCondition};
use futures::FutureExt;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use berth_api::gojson;

use crate::body::{empty, json_response, streamed, RequiredJson};
use crate::error::ApiError;
use crate::hijack::{stream_content_type, Hijack, MULTIPLEXED_STREAM, RAW_STREAM};
use crate::query::{Params, QueryError};
use crate::stopping::Stopping;
use crate::version::ApiVersion;

use super::target::Target;

pub(super) async fn create(
    State(d): State<Arc<Daemon>>,
    p: Params,
    v: ApiVersion,
    RequiredJson(raw): RequiredJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let name = p.non_empty("name");
    check_restart_policy_name(&raw)?;
    check_subpath_version(&raw, &v)?;
    check_cgroupns_mode(&raw)?;
    check_endpoint_count(&raw, &v)?;
    let mut body: ContainerCreateBody = serde_json::from_value(raw)
        .map_err(|e| ApiError::from(crate::body::BodyError::Json(e.to_string())))?;
    if !v.at_least("1.42") {
        // "ConsoleSize is not respected by Linux daemon before API 1.42" (dockerd).
        if let Some(hc) = body.host_config.as_mut() {
            hc.console_size = Some(vec![0, 0]);
        }
    }
    let created = d.container_create(name, body).await?;
    Ok(json_response(StatusCode::CREATED, &created))
}

/// Before API 1.44 a container is created on one network only: dockerd refuses more.
fn check_endpoint_count(raw: &serde_json::Value, v: &ApiVersion) -> Result<(), ApiError> {
    if v.at_least("1.44") {
        return Ok(());
    }
    let Some(endpoints) = raw
        .pointer("/NetworkingConfig/EndpointsConfig")
        .and_then(serde_json::Value::as_object)
    else {
        return Ok(());
    };
    if endpoints.len() > 1 {
        let names: Vec<&str> = endpoints.keys().map(String::as_str).collect();
        return Err(ApiError::invalid(format!(
            "Container cannot be connected to network endpoints: {}",
            names.join(", ")
        )));
    }
    Ok(())
}

/// Every endpoint of an inspect shows dockerd's fields, null when unset (`Aliases`,
/// `IPAMConfig`, `Links`, `DriverOpts`), and `DNSNames` from API 1.44 on. Before API 1.45 the
/// `Aliases` of a user-defined network also list the short id and the hostname, as dockerd's.
fn endpoints_for_version(inspect: &mut serde_json::Value, v: &ApiVersion) {
    let short_id: String = inspect
        .get("Id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(12)
        .collect();
    let hostname = inspect
        .pointer("/Config/Hostname")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(networks) = inspect
        .pointer_mut("/NetworkSettings/Networks")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    for (name, ep) in networks.iter_mut() {
        let Some(ep) = ep.as_object_mut() else {
            continue;
        };
        for key in ["IPAMConfig", "Links", "Aliases", "DriverOpts"] {
            ep.entry(key).or_insert(serde_json::Value::Null);
        }
        for key in [
            "NetworkID",
            "EndpointID",
            "Gateway",
            "IPAddress",
            "IPv6Gateway",
            "GlobalIPv6Address",
            "MacAddress",
        ] {
            ep.entry(key).or_insert_with(|| "".into());
        }
        for key in ["IPPrefixLen", "GlobalIPv6PrefixLen"] {
            ep.entry(key).or_insert_with(|| 0.into());
        }
        let user_defined = !["bridge", "host", "none", "default"].contains(&name.as_str())
            && !name.starts_with("container:");
        let attached = ep
            .get("EndpointID")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|e| !e.is_empty());
        if !v.at_least("1.45") && user_defined && attached {
            let mut aliases: Vec<serde_json::Value> = ep
                .get("Aliases")
                .and_then(serde_json::Value::as_array)
                .cloned()
                .unwrap_or_default();
            for extra in [&short_id, &hostname] {
                if !extra.is_empty() && !aliases.iter().any(|a| a.as_str() == Some(extra)) {
                    aliases.push(extra.as_str().into());
                }
            }
            ep.insert("Aliases".into(), aliases.into());
        }
        if v.at_least("1.44") {
            ep.entry("DNSNames").or_insert(serde_json::Value::Null);
        } else {
            ep.remove("DNSNames");
        }
    }
}

/// An unknown restart policy name gets dockerd's message rather than a JSON decoding error.
fn check_restart_policy_name(raw: &serde_json::Value) -> Result<(), ApiError> {
    let name = raw
        .pointer("/HostConfig/RestartPolicy/Name")
        .and_then(serde_json::Value::as_str);
    match name {
        None | Some("" | "no" | "always" | "on-failure" | "unless-stopped") => Ok(()),
        Some(other) => Err(ApiError::invalid(format!(
            "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        ))),
    }
}

/// `Mounts[].VolumeOptions.Subpath` came with API 1.45; older requests are refused, as dockerd.
fn check_subpath_version(raw: &serde_json::Value, v: &ApiVersion) -> Result<(), ApiError> {
    if v.at_least("1.45") {
        return Ok(());
    }
    let mounts = raw
        .pointer("/HostConfig/Mounts")
        .and_then(serde_json::Value::as_array);
    let with_subpath = mounts.into_iter().flatten().any(|m| {
        m.pointer("/VolumeOptions/Subpath")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|s| !s.is_empty())
    });
    if with_subpath {
        return Err(ApiError::invalid(
            "VolumeOptions.Subpath needs API v1.45 or newer",
        ));
    }
    Ok(())
}

/// An unknown `CgroupnsMode` gets dockerd's message rather than a JSON decoding error.
fn check_cgroupns_mode(raw: &serde_json::Value) -> Result<(), ApiError> {
    match raw.pointer("/HostConfig/CgroupnsMode") {
        None | Some(serde_json::Value::Null) => Ok(()),
        Some(serde_json::Value::String(m)) if matches!(m.as_str(), "" | "host" | "private") => {
            Ok(())
        }
        Some(serde_json::Value::String(other)) => Err(ApiError::invalid(format!(
            "invalid cgroup namespace mode: {other}"
        ))),
        // Not a string: the JSON decoding error, as dockerd's.
        Some(_) => Ok(()),
    }
}

pub fn list_options(p: &Params) -> Result<ListOptions, ApiError> {
    let mut filters = p.filters()?;
    // Pre-filter parameters that dockerd still honours.
    for key in ["since", "before"] {
        if let Some(v) = p.non_empty(key) {
            filters.add(key, v);
        }
    }
    Ok(ListOptions {
        all: p.bool("all"),
        limit: p.int("limit")?,
        size: p.bool("size"),
        filters,
    })
}

pub(super) async fn list(
    State(d): State<Arc<Daemon>>,
    v: ApiVersion,
    p: Params,
) -> Result<Response, ApiError> {
    let list = d.container_list(list_options(&p)?).await?;
    let mut list = gojson::to_value(&list, gojson::CONTAINER_SUMMARY, &v.0).map_err(|e| {
        ApiError(berth_types::Error::internal(format!(
            "encoding response: {e}"
        )))
    })?;
    summary_endpoints(&mut list);
    Ok(json_response(StatusCode::OK, &list))
}

/// dockerd's list copies only an endpoint's addresses and ids (and its IPAM config) from the
/// container (moby's `container/view.go`): `Aliases`, `Links` and `DriverOpts` are null there.
fn summary_endpoints(list: &mut serde_json::Value) {
    let Some(items) = list.as_array_mut() else {
        return;
    };
    for item in items {
        let Some(networks) = item
            .pointer_mut("/NetworkSettings/Networks")
            .and_then(serde_json::Value::as_object_mut)
        else {
            continue;
        };
        for ep in networks
            .values_mut()
            .filter_map(serde_json::Value::as_object_mut)
        {
            for key in ["Aliases", "Links", "DriverOpts"] {
                ep.insert(key.into(), serde_json::Value::Null);
            }
        }
    }
}

pub(super) async fn inspect(
    Target { d, id }: Target,
    p: Params,
    v: ApiVersion,
) -> Result<Response, ApiError> {
    let c = d.container_inspect(&id, p.bool("size")).await?;
    // Go's encoding first, then the per-version endpoint fields (DNSNames only from 1.44).
    let mut c = gojson::to_value(&c, gojson::CONTAINER_JSON, &v.0).map_err(|e| {
        ApiError(berth_types::Error::internal(format!(
            "encoding response: {e}"
        )))
    })?;
    endpoints_for_version(&mut c, &v);
    Ok(json_response(StatusCode::OK, &c))
}

/// dockerd refuses a start body (a host config) since API 1.24; a JSON object shorter than
/// 8 bytes (`null`, `{}`) is tolerated, a chunked body of unknown length is not.
fn check_start_body(headers: &HeaderMap) -> Result<(), ApiError> {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = headers
        .get(header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked || length.is_some_and(|n| n > 7) {
        return Err(ApiError::invalid(
            "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24",
        ));
    }
    Ok(())
}

pub(super) async fn start(
    Target { d, id }: Target,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_start_body(&headers)?;
    d.container_start(&id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `t` (seconds) and, from API 1.42, `signal`.
fn stop_params<'a>(
    p: &'a Params,
    v: &ApiVersion,
) -> Result<(Option<&'a str>, Option<i64>), ApiError> {
    let signal = if v.at_least("1.42") {
        p.non_empty("signal")
    } else {
        None
    };
    Ok((signal, p.int("t")?))
}

pub(super) async fn stop(t: Target, v: ApiVersion, p: Params) -> Result<Response, ApiError> {
    let (signal, timeout) = stop_params(&p, &v)?;
    t.d.container_stop(&t.id, signal, timeout).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(super) async fn restart(t: Target, v: ApiVersion, p: Params) -> Result<Response, ApiError> {
    let (signal, timeout) = stop_params(&p, &v)?;
    t.d.container_restart(&t.id, signal, timeout).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(super) async fn kill(Target { d, id }: Target, p: Params) -> Result<Response, ApiError> {
    d.container_kill(&id, p.non_empty("signal")).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `condition=not-running|next-exit|removed`; before API 1.30 the parameter did not exist.
pub fn wait_condition(p: &Params, v: &ApiVersion) -> Result<WaitCondition, ApiError> {
    if !v.at_least("1.30") {
        return Ok(WaitCondition::NotRunning);
    }
    match p.non_empty("condition") {
        None | Some("not-running") => Ok(WaitCondition::NotRunning),
        Some("next-exit") => Ok(WaitCondition::NextExit),
        Some("removed") => Ok(WaitCondition::Removed),
        Some(other) => Err(ApiError::invalid(format!("invalid condition: {other:?}"))),
    }
}

/// Headers go out at once (the CLI starts the container only after seeing them); the JSON
/// body follows when the condition is met.
pub(super) async fn wait(
    Target { d, id }: Target,
    v: ApiVersion,
    stopping: Stopping,
    p: Params,
) -> Result<Response, ApiError> {
    let condition = wait_condition(&p, &v)?;
    let done = d.container_wait(&id, condition).await?;
    let api = v.0.clone();
    let body = done
        .map(move |status| {
            let doc = gojson::to_value(&status, gojson::CONTAINER_WAIT, &api).unwrap_or_default();
            let mut line = serde_json::to_vec(&doc).unwrap_or_default();
            line.push(b'\n');
            line
        })
        .into_stream();
    Ok(streamed(stopping.cut(body), "application/json"))
}

pub(super) async fn remove(Target { d, id }: Target, p: Params) -> Result<Response, ApiError> {
    let opts = RemoveOptions {
        force: p.bool("force"),
        volumes: p.bool("v"),
        link: p.bool("link"),
    };
    d.container_remove(&id, opts).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `DELETE /containers/<parent>/<alias>`: a link name (docker-py and `docker rm --link` send
/// it so). With `link=true` the link is removed; without, the linked container, as dockerd
/// resolves link names to it.
pub(super) async fn remove_by_link_name(
    State(d): State<Arc<Daemon>>,
    Path((parent, alias)): Path<(String, String)>,
    p: Params,
) -> Result<Response, ApiError> {
    let link_name = format!("{parent}/{alias}");
    if p.bool("link") {
        d.container_remove_link(&link_name).await?;
    } else {
        let opts = RemoveOptions {
            force: p.bool("force"),
            volumes: p.bool("v"),
            link: false,
        };
        d.container_remove_linked(&link_name, opts).await?;
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `tail=all` or N; dockerd reads anything else (and negatives) as all.
pub fn parse_tail(value: Option<&str>) -> Option<usize> {
    value.and_then(|v| v.trim().parse::<usize>().ok())
}

pub fn logs_options(p: &Params) -> Result<LogsOptions, ApiError> {
    let (stdout, stderr) = (p.bool("stdout"), p.bool("stderr"));
    if !(stdout || stderr) {
        return Err(ApiError::invalid(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    Ok(LogsOptions {
        stdout,
        stderr,
        follow: p.bool("follow"),
        tail: parse_tail(p.get("tail")),
        since: p.timestamp("since")?,
        until: p.timestamp("until")?,
        timestamps: p.bool("timestamps"),
    })
}

pub(super) async fn logs(
    Target { d, id }: Target,
    v: ApiVersion,
    stopping: Stopping,
    p: Params,
) -> Result<Response, ApiError> {
    let stream = d.container_logs(&id, logs_options(&p)?).await?;
    let content_type = if !stream.tty && v.at_least("1.42") {
        MULTIPLEXED_STREAM
    } else {
        RAW_STREAM
    };
    Ok(streamed(stopping.cut(stream.body), content_type))
}

/// The query of an attach, plain or websocket.
fn attach_options(p: &Params) -> AttachOptions {
    AttachOptions {
        stream: p.bool("stream"),
        logs: p.bool("logs"),
        stdin: p.bool("stdin"),
        stdout: p.bool("stdout"),
        stderr: p.bool("stderr"),
        detach_keys: p.non_empty("detachKeys").map(str::to_string),
    }
}

pub(super) async fn attach(
    Target { d, id }: Target,
    v: ApiVersion,
    p: Params,
    hijack: Hijack,
    body: Body,
) -> Result<Response, ApiError> {
    let opts = attach_options(&p);
    // dockerd hijacks the connection to report a refused attach (missing or paused container,
    // bad detach keys): the status line, the raw-stream type and the message as plain text.
    let session = match d.container_attach(&id, opts).await {
        Ok(s) => s,
        Err(e) => return Ok(attach_refused(e)),
    };
    let content_type = stream_content_type(session.tty, &v);
    Ok(hijack.run(session, content_type, Some(body)))
}

/// `GET /containers/{id}/attach/ws`: the container is looked up first (a JSON 404), then the
/// attach is validated (JSON errors), then the websocket handshake, whose failures are dockerd's
/// (x/net/websocket's) bare 400s; from API 1.28 the output goes in binary frames.
pub(super) async fn attach_ws(
    Target { d, id }: Target,
    v: ApiVersion,
    p: Params,
    headers: HeaderMap,
    hijack: Hijack,
) -> Result<Response, ApiError> {
    d.container_id(&id)?;
    let get = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    let bare = |status: StatusCode, text: &'static str| {
        let mut resp = Response::new(Body::from(text));
        *resp.status_mut() = status;
        resp
    };
    if get(header::UPGRADE) != "websocket" || !get(header::CONNECTION).contains("upgrade") {
        return Ok(bare(StatusCode::BAD_REQUEST, "not websocket protocol"));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if key.is_empty() {
        return Ok(bare(StatusCode::BAD_REQUEST, "mismatch challenge/response"));
    }
    if get(header::SEC_WEBSOCKET_VERSION) != "13" {
        let mut resp = bare(StatusCode::BAD_REQUEST, "missing or bad WebSocket Version");
        resp.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Ok(resp);
    }
    let opts = attach_options(&p);
    let session = d.container_attach(&id, opts).await?;
    let Some(on_upgrade) = hijack.into_upgrade() else {
        return Err(ApiError(berth_types::Error::internal(
            "the connection cannot be taken over",
        )));
    };
    crate::websocket::serve(on_upgrade, session, v.at_least("1.28"));
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = HeaderValue::from_str(&crate::websocket::accept_key(&key))
        .map_err(|e| ApiError(berth_types::Error::internal(e.to_string())))?;
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    Ok(resp)
}

/// A refused attach as dockerd writes it on the hijacked connection.
fn attach_refused(e: berth_types::Error) -> Response {
    let status = crate::error::status_of(e.kind);
    let mut resp = Response::new(Body::from(format!("{}\r\n", e.message)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.docker.raw-stream"),
    );
    resp
}

/// `h` and `w`, both required (dockerd: `strconv.Atoi` on each, 400 on failure).
pub fn console_size(p: &Params) -> Result<(u16, u16), ApiError> {
    let dim = |key: &str| -> Result<u16, ApiError> {
        p.int::<u16>(key)?.ok_or_else(|| {
            QueryError::NotAnInteger {
                key: key.to_string(),
                value: String::new(),
            }
            .into()
        })
    };
    Ok((dim("h")?, dim("w")?))
}

pub(super) async fn resize(Target { d, id }: Target, p: Params) -> Result<Response, ApiError> {
    let (h, w) = console_size(&p)?;
    d.container_resize(&id, h, w).await?;
    Ok(empty(StatusCode::OK))
}

pub(super) async fn rename(Target { d, id }: Target, p: Params) -> Result<Response, ApiError> {
    let Some(name) = p.non_empty("name") else {
        return Err(ApiError::invalid("Neither old nor new names may be empty"));
    };
    d.container_rename(&id, name).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(super) async fn top(Target { d, id }: Target, p: Params) -> Result<Response, ApiError> {
    let top = d.container_top(&id, p.non_empty("ps_args")).await?;
    Ok(json_response(StatusCode::OK, &top))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> Params {
        Params::parse(q).expect("query")
    }

    #[test]
    fn wait_conditions() {
        let v = ApiVersion::current();
        assert_eq!(
            wait_condition(&params(""), &v).ok(),
            Some(WaitCondition::NotRunning)
        );
        assert_eq!(
            wait_condition(&params("condition=next-exit"), &v).ok(),
            Some(WaitCondition::NextExit)
        );
        assert_eq!(
            wait_condition(&params("condition=removed"), &v).ok(),
            Some(WaitCondition::Removed)
        );
        let e = wait_condition(&params("condition=paused"), &v).expect_err("unknown");
        assert_eq!(e.0.message, "invalid condition: \"paused\"");
        // Before 1.30 the parameter is ignored.
        assert_eq!(
            wait_condition(&params("condition=paused"), &ApiVersion("1.29".into())).ok(),
            Some(WaitCondition::NotRunning)
        );
    }

    #[test]
    fn logs_need_a_stream_and_read_tail_like_dockerd() {
        let e = logs_options(&params("follow=1")).expect_err("no stream");
        assert_eq!(
            e.0.message,
            "Bad parameters: you must choose at least one stream"
        );
        let o = logs_options(&params("stdout=1&tail=5&since=10&timestamps=true")).expect("options");
        assert!(o.stdout && !o.stderr && o.timestamps && !o.follow);
        assert_eq!(o.tail, Some(5));
        assert_eq!(o.since, Some(10.0));
        assert_eq!(parse_tail(Some("all")), None);
        assert_eq!(parse_tail(Some("-1")), None);
        assert_eq!(parse_tail(None), None);
        assert!(logs_options(&params("stdout=1&until=later")).is_err());
    }

    #[test]
    fn list_options_fold_legacy_parameters_into_filters() {
        let o = list_options(&params("all=1&limit=3&before=abc")).expect("options");
        assert!(o.all && !o.size);
        assert_eq!(o.limit, Some(3));
        assert_eq!(o.filters.get("before"), ["abc"]);
        assert!(list_options(&params("limit=x")).is_err());
        assert!(list_options(&params("filters=%5B1%5D")).is_err());
    }

    #[test]
    fn resize_requires_both_dimensions() {
        assert_eq!(console_size(&params("h=24&w=80")).ok(), Some((24, 80)));
        assert!(console_size(&params("h=24")).is_err());
        assert!(console_size(&params("h=x&w=80")).is_err());
        assert!(console_size(&params("h=-1&w=80")).is_err());
    }

    #[test]
    fn stop_reads_signal_only_from_1_42() {
        let p = params("t=5&signal=SIGINT");
        assert_eq!(
            stop_params(&p, &ApiVersion::current()).ok(),
            Some((Some("SIGINT"), Some(5)))
        );
        assert_eq!(
            stop_params(&p, &ApiVersion("1.41".into())).ok(),
            Some((None, Some(5)))
        );
        assert!(stop_params(&params("t=soon"), &ApiVersion::current()).is_err());
    }

    #[test]
    fn start_refuses_a_host_config_body() {
        let mut h = HeaderMap::new();
        assert!(check_start_body(&h).is_ok());
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("2"));
        assert!(check_start_body(&h).is_ok());
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("40"));
        assert!(check_start_body(&h).is_err());
    }
}

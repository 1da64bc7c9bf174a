//! `/images/...`: import, list, inspect, tag, remove, history, save (`get`), load, prune. Image names contain slashes
//! (`/images/me/app:v1/json`), so everything below `/images/` that is not a fixed route is
//! matched as one wildcard and split here, as dockerd's `{name:.*}` routes do.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_api::stream::{error_line, line, status_line, stream_line};
use berth_daemon::{Daemon, ImageRemoveOptions, ImportOptions};
use futures::StreamExt;
use http::StatusCode;

use crate::body::{empty, go_json, json_response};
use crate::error::ApiError;
use crate::query::Params;
use crate::version::ApiVersion;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route("/images/create", post(create))
        .route("/images/json", get(list))
        .route("/images/prune", post(prune))
        .route("/images/get", get(save_many))
        .route("/images/load", post(load))
        .route("/images/search", get(search))
        .route(
            "/images/{*path}",
            get(get_named).post(post_named).delete(remove),
        )
}

/// A route under `/images/{name}/...`.
#[derive(Debug, PartialEq, Eq)]
pub enum NamedRoute<'a> {
    Inspect(&'a str),
    History(&'a str),
    Tag(&'a str),
    Save(&'a str),
    Push(&'a str),
}

/// Splits the wildcard part of a `GET` or `POST` path into the image name and the action;
/// the name is everything before the last segment, slashes included.
pub fn split_named<'a>(path: &'a str, method: &http::Method) -> Option<NamedRoute<'a>> {
    let (name, action) = path.rsplit_once('/')?;
    if name.is_empty() {
        return None;
    }
    match (method.as_str(), action) {
        ("GET", "json") => Some(NamedRoute::Inspect(name)),
        ("GET", "history") => Some(NamedRoute::History(name)),
        ("POST", "tag") => Some(NamedRoute::Tag(name)),
        ("GET", "get") => Some(NamedRoute::Save(name)),
        ("POST", "push") => Some(NamedRoute::Push(name)),
        _ => None,
    }
}

fn page_not_found() -> ApiError {
    ApiError::not_found("page not found")
}

async fn get_named(
    State(d): State<Arc<Daemon>>,
    Path(path): Path<String>,
    v: ApiVersion,
) -> Result<Response, ApiError> {
    match split_named(&path, &http::Method::GET) {
        Some(NamedRoute::Inspect(name)) => Ok(go_json(
            StatusCode::OK,
            &d.image_inspect(name, &v.0).await?,
            berth_api::gojson::IMAGE_INSPECT,
            &v,
        )),
        Some(NamedRoute::History(name)) => {
            Ok(json_response(StatusCode::OK, &d.image_history(name).await?))
        }
        Some(NamedRoute::Save(name)) => save(&d, vec![name.to_string()]).await,
        _ => Err(page_not_found()),
    }
}

async fn post_named(
    State(d): State<Arc<Daemon>>,
    Path(path): Path<String>,
    p: Params,
    headers: http::HeaderMap,
) -> Result<Response, ApiError> {
    match split_named(&path, &http::Method::POST) {
        Some(NamedRoute::Push(name)) => {
            let compression = p
                .non_empty("compression")
                .map(berth_daemon::push::LayerCompression::parse)
                .transpose()?;
            let opts = berth_daemon::push::PushOptions { compression };
            let rx = d
                .image_push(
                    name,
                    p.get("tag").unwrap_or_default(),
                    registry_auth(&headers),
                    opts,
                )
                .await?;
            Ok(progress_response(rx))
        }
        Some(NamedRoute::Tag(name)) => {
            // An empty `repo` is refused by the reference grammar, as dockerd does.
            d.image_tag(name, p.get("repo").unwrap_or(""), p.non_empty("tag"))
                .await?;
            Ok(empty(StatusCode::CREATED))
        }
        _ => Err(page_not_found()),
    }
}

/// `DELETE /images/{name}`: the whole wildcard is the name.
async fn remove(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    p: Params,
) -> Result<Response, ApiError> {
    let opts = ImageRemoveOptions {
        force: p.bool("force"),
        noprune: p.bool("noprune"),
    };
    Ok(json_response(
        StatusCode::OK,
        &d.image_remove(&name, opts).await?,
    ))
}

async fn list(
    State(d): State<Arc<Daemon>>,
    v: ApiVersion,
    p: Params,
) -> Result<Response, ApiError> {
    let mut filters = p.filters()?;
    // The pre-1.41 `filter` parameter is a reference filter.
    if !v.at_least("1.41") {
        if let Some(reference) = p.non_empty("filter") {
            filters.add("reference", reference);
        }
    }
    let images = d
        .image_list(p.bool("all"), &filters, p.bool("digests"), &v.0)
        .await?;
    let mut doc = serde_json::to_value(&images)
        .map_err(|e| ApiError(berth_types::Error::internal(format!("encoding: {e}"))))?;
    if let Some(items) = doc.as_array_mut() {
        for item in items {
            nil_when_empty(item);
        }
    }
    Ok(go_json(
        StatusCode::OK,
        &doc,
        berth_api::gojson::IMAGE_SUMMARY,
        &v,
    ))
}

/// dockerd's image summary has nil (null) `RepoDigests` and `Labels` when the image has none;
/// the swagger model's are plain lists and maps, so berth's empty ones are turned back here.
pub fn nil_when_empty(summary: &mut serde_json::Value) {
    for key in ["RepoDigests", "Labels"] {
        let empty = match summary.get(key) {
            Some(serde_json::Value::Array(a)) => a.is_empty(),
            Some(serde_json::Value::Object(o)) => o.is_empty(),
            _ => false,
        };
        if empty {
            summary[key] = serde_json::Value::Null;
        }
    }
}

/// `POST /images/prune`: `filters` (dangling, until, label, label!).
async fn prune(
    State(d): State<Arc<Daemon>>,
    v: ApiVersion,
    p: Params,
) -> Result<Response, ApiError> {
    let report = d.image_prune(&p.filters()?).await?;
    Ok(go_json(
        StatusCode::OK,
        &report,
        berth_api::gojson::IMAGE_PRUNE,
        &v,
    ))
}

/// What `POST /images/create` was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateRequest {
    Pull(String),
    ImportFromBody,
    ImportFromUrl(String),
}

pub fn create_request(p: &Params) -> Result<CreateRequest, ApiError> {
    if let Some(image) = p.non_empty("fromImage") {
        return Ok(CreateRequest::Pull(image.to_string()));
    }
    match p.non_empty("fromSrc") {
        Some("-") => Ok(CreateRequest::ImportFromBody),
        Some(url) => Ok(CreateRequest::ImportFromUrl(url.to_string())),
        None => Err(ApiError::invalid(
            "either fromImage or fromSrc must be given",
        )),
    }
}

pub fn import_options(p: &Params, v: &ApiVersion) -> ImportOptions {
    let message = match p.non_empty("message") {
        Some(m) => m.to_string(),
        None => "Imported from -".to_string(),
    };
    ImportOptions {
        repo: p.non_empty("repo").map(str::to_string),
        tag: p.non_empty("tag").map(str::to_string),
        changes: p.all("changes"),
        message: Some(message),
        platform: if v.at_least("1.32") {
            p.non_empty("platform").map(str::to_string)
        } else {
            None
        },
    }
}

/// The credentials of `X-Registry-Auth`.
fn registry_auth(headers: &http::HeaderMap) -> berth_daemon::distribution::Credentials {
    berth_daemon::distribution::credentials_from_header(
        headers.get("x-registry-auth").and_then(|v| v.to_str().ok()),
    )
}

/// A progress channel as dockerd's JSON stream, one message per line, flushed as it comes.
fn progress_response(mut rx: tokio::sync::mpsc::Receiver<serde_json::Value>) -> Response {
    let lines = futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
        .map(|msg| Ok::<_, std::convert::Infallible>(line(&msg)));
    let mut resp = Response::new(Body::from_stream(lines));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// `GET /images/search?term=&limit=&filters=`: the registry's v1 search.
async fn search(
    State(d): State<Arc<Daemon>>,
    p: Params,
    headers: http::HeaderMap,
) -> Result<Response, ApiError> {
    let limit = p.int::<i64>("limit")?;
    let found = d
        .image_search(
            p.get("term").unwrap_or_default(),
            limit,
            &p.filters()?,
            registry_auth(&headers),
        )
        .await?;
    Ok(json_response(StatusCode::OK, &found))
}

/// `POST /images/create?fromSrc=-`: the request body is the tarball, streamed to the daemon.
async fn create(
    State(d): State<Arc<Daemon>>,
    v: ApiVersion,
    p: Params,
    headers: http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    match create_request(&p)? {
        CreateRequest::Pull(image) => {
            let creds = registry_auth(&headers);
            let opts = berth_daemon::pull::PullOptions {
                platform: p.non_empty("platform").map(str::to_string),
            };
            let rx = d
                .image_pull(&image, p.get("tag").unwrap_or_default(), creds, opts)
                .await?;
            Ok(progress_response(rx))
        }
        CreateRequest::ImportFromUrl(url) => {
            // dockerd fetches first: a failed download is the request's (500) error.
            let (url, data) = d.import_source(&url).await?;
            let id = d.image_import(data, import_options(&p, &v)).await?;
            let mut body = status_line(&format!("Downloading from {url}"));
            body.extend(status_line(&id));
            let mut resp = Response::new(Body::from(body));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            Ok(resp)
        }
        CreateRequest::ImportFromBody => {
            let data = body
                .into_data_stream()
                .map(|chunk| chunk.map_err(std::io::Error::other))
                .boxed();
            let id = d.image_import(data, import_options(&p, &v)).await?;
            let mut resp = Response::new(Body::from(status_line(&id)));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            Ok(resp)
        }
    }
}

// ---- save and load (`docker save`, `docker load`) ----

/// `GET /images/get?names=a&names=b`.
async fn save_many(State(d): State<Arc<Daemon>>, p: Params) -> Result<Response, ApiError> {
    save(&d, p.all("names")).await
}

/// Streams the archive of `names` as `application/x-tar`.
async fn save(d: &Daemon, names: Vec<String>) -> Result<Response, ApiError> {
    let stream = d.image_save(names).await?;
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

/// `POST /images/load`: the body is the archive; the answer is dockerd's JSON stream. berth
/// sends no progress bars, so `quiet` changes nothing. As dockerd 20.10's router, a failed
/// load is not an HTTP error: the answer is 200 and its stream ends with the error line (the
/// `ImageLoadError` docker-py raises, the message the docker CLI prints).
async fn load(State(d): State<Arc<Daemon>>, body: Body) -> Result<Response, ApiError> {
    let data = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other))
        .boxed();
    let out: Vec<u8> = match d.image_load(data).await {
        Ok(messages) => messages.iter().flat_map(|m| stream_line(m)).collect(),
        Err(e) => error_line(&e.message),
    };
    let mut resp = Response::new(Body::from(out));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn names_with_slashes_and_tags_split_at_the_last_segment() {
        assert_eq!(
            split_named("me/app:v1/json", &Method::GET),
            Some(NamedRoute::Inspect("me/app:v1"))
        );
        assert_eq!(
            split_named("busybox/json", &Method::GET),
            Some(NamedRoute::Inspect("busybox"))
        );
        assert_eq!(
            split_named("localhost:5000/team/app:v2/history", &Method::GET),
            Some(NamedRoute::History("localhost:5000/team/app:v2"))
        );
        assert_eq!(
            split_named("me/app/tag", &Method::POST),
            Some(NamedRoute::Tag("me/app"))
        );
        // An image may itself be called "json".
        assert_eq!(
            split_named("json/json", &Method::GET),
            Some(NamedRoute::Inspect("json"))
        );
        assert_eq!(split_named("me/app/tag", &Method::GET), None);
        assert_eq!(split_named("/json", &Method::GET), None);
        assert_eq!(split_named("me/app/push", &Method::GET), None);
        assert_eq!(
            split_named("me/app:v1/get", &Method::GET),
            Some(NamedRoute::Save("me/app:v1"))
        );
        assert_eq!(split_named("busybox", &Method::GET), None);
    }

    #[test]
    fn create_decides_between_pull_and_import() {
        let p = |q: &str| Params::parse(q).expect("query");
        assert_eq!(
            create_request(&p("fromSrc=-&repo=me/app")).ok(),
            Some(CreateRequest::ImportFromBody)
        );
        assert_eq!(
            create_request(&p("fromImage=busybox&tag=latest")).ok(),
            Some(CreateRequest::Pull("busybox".into()))
        );
        assert!(matches!(
            create_request(&p("fromSrc=http%3A%2F%2Fx%2Fa.tar")),
            Ok(CreateRequest::ImportFromUrl(_))
        ));
        assert!(create_request(&p("")).is_err());
    }

    #[test]
    fn import_options_follow_dockerd() {
        let p = Params::parse("fromSrc=-&repo=me%2Fapp&tag=v1&changes=CMD%20sh&changes=ENV%20A%3D1&platform=linux%2Famd64")
            .expect("query");
        let o = import_options(&p, &ApiVersion::current());
        assert_eq!(o.repo.as_deref(), Some("me/app"));
        assert_eq!(o.tag.as_deref(), Some("v1"));
        assert_eq!(o.changes, vec!["CMD sh".to_string(), "ENV A=1".to_string()]);
        assert_eq!(o.message.as_deref(), Some("Imported from -"));
        assert_eq!(o.platform.as_deref(), Some("linux/amd64"));
        assert_eq!(
            import_options(&p, &ApiVersion("1.31".into())).platform,
            None
        );
    }
}

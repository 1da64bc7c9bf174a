//! `GET /containers/{id}/stats`: JSON frames, one per second or a single one.

use axum::response::Response;
use berth_daemon::StatsOptions;
use futures::StreamExt;

use crate::body::streamed;
use crate::error::ApiError;
use crate::query::Params;
use crate::stopping::Stopping;
use crate::version::ApiVersion;

use super::target::Target;

/// `stream` (default true) and `one-shot` (default false), with dockerd's refusal of both.
pub fn stats_options(p: &Params) -> Result<StatsOptions, ApiError> {
    let opts = StatsOptions {
        stream: p.bool_or("stream", true),
        one_shot: p.bool_or("one-shot", false),
    };
    if opts.stream && opts.one_shot {
        return Err(ApiError::invalid(
            "cannot have stream=true and one-shot=true",
        ));
    }
    Ok(opts)
}

pub(super) async fn stats(
    Target { d, id }: Target,
    v: ApiVersion,
    stopping: Stopping,
    p: Params,
) -> Result<Response, ApiError> {
    let frames = d.container_stats(&id, stats_options(&p)?).await?;
    let frames = frames.map(move |frame| as_go(frame, &v.0));
    Ok(streamed(stopping.cut(frames), "application/json"))
}

/// One stats frame (a JSON line) as dockerd's Go type writes it at API `api`.
fn as_go(frame: bytes::Bytes, api: &str) -> bytes::Bytes {
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(&frame) else {
        return frame;
    };
    berth_api::gojson::encode(&mut doc, berth_api::gojson::CONTAINER_STATS, api);
    match serde_json::to_vec(&doc) {
        Ok(mut line) => {
            line.push(b'\n');
            bytes::Bytes::from(line)
        }
        Err(_) => frame,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_defaults_on_and_excludes_one_shot() {
        let o = stats_options(&Params::parse("").expect("q")).expect("opts");
        assert!(o.stream && !o.one_shot);
        let o = stats_options(&Params::parse("stream=0&one-shot=1").expect("q")).expect("opts");
        assert!(!o.stream && o.one_shot);
        assert!(stats_options(&Params::parse("one-shot=true").expect("q")).is_err());
    }
}

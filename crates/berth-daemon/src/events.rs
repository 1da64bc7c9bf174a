//! The event bus: a bounded history for `since` queries and a broadcast for live listeners.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use berth_api::models::{EventActor, EventMessage, EventMessageScopeEnum, EventMessageTypeEnum};
use berth_api::Filters;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;

use crate::options::EventsOptions;

/// How many past events `since` can reach back to (dockerd keeps 256).
const HISTORY: usize = 1024;

pub struct EventBus {
    history: Mutex<VecDeque<EventMessage>>,
    live: broadcast::Sender<EventMessage>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            history: Mutex::new(VecDeque::new()),
            live: broadcast::channel(HISTORY).0,
        }
    }
}

/// Event types berth emits.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Container,
    Image,
    Volume,
    Network,
    Builder,
}

/// An event as dockerd writes it: the message plus the legacy `status`, `id` and `from` that
/// dockerd still fills for container and image events (`from` is the container's image).
#[derive(Debug, serde::Serialize)]
pub struct WireEvent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<&'a str>,
    #[serde(flatten)]
    pub message: &'a EventMessage,
}

impl<'a> WireEvent<'a> {
    pub fn new(message: &'a EventMessage) -> Self {
        let nonempty = |s: Option<&'a str>| s.filter(|s| !s.is_empty());
        let actor = message.actor.as_ref();
        let id = nonempty(actor.and_then(|a| a.id.as_deref()));
        let action = nonempty(message.action.as_deref());
        let (status, id, from) = match message.typ {
            Some(EventMessageTypeEnum::CONTAINER) => (
                action,
                id,
                nonempty(
                    actor
                        .and_then(|a| a.attributes.as_ref())
                        .and_then(|a| a.get("image"))
                        .map(String::as_str),
                ),
            ),
            Some(EventMessageTypeEnum::IMAGE) => (action, id, None),
            _ => (None, None, None),
        };
        Self {
            status,
            id,
            from,
            message,
        }
    }
}

impl EventBus {
    /// Records and broadcasts one event.
    pub fn emit(&self, kind: Kind, action: &str, id: &str, attributes: HashMap<String, String>) {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let typ = match kind {
            Kind::Container => EventMessageTypeEnum::CONTAINER,
            Kind::Image => EventMessageTypeEnum::IMAGE,
            Kind::Volume => EventMessageTypeEnum::VOLUME,
            Kind::Network => EventMessageTypeEnum::NETWORK,
            Kind::Builder => EventMessageTypeEnum::BUILDER,
        };
        let mut msg = EventMessage {
            typ: Some(typ),
            action: Some(action.to_string()),
            actor: Some(EventActor {
                id: Some(id.to_string()),
                attributes: Some(attributes),
            }),
            scope: Some(EventMessageScopeEnum::LOCAL),
            time: Some(nanos / 1_000_000_000),
            time_nano: Some(nanos),
        };
        if let Ok(mut h) = self.history.lock() {
            // Keep history strictly ordered by time even if the clock steps back.
            if let Some(last) = h.back() {
                if last.time_nano > msg.time_nano {
                    msg.time_nano = last.time_nano;
                    msg.time = last.time;
                }
            }
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(msg.clone());
        }
        let _ = self.live.send(msg);
    }

    /// Past events matching `opts`, then live ones until `until` (forever without it).
    pub fn subscribe(&self, opts: EventsOptions) -> BoxStream<'static, EventMessage> {
        let rx = self.live.subscribe();
        let past: Vec<EventMessage> = match self.history.lock() {
            Ok(h) => h
                .iter()
                .filter(|e| in_window(e, opts.since, opts.until) && matches(e, &opts.filters))
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        };
        let now = now_secs();
        // Without `since` or with `until` in the past there is nothing live to wait for.
        let until_passed = opts.until.is_some_and(|u| u <= now);
        let past_stream = stream::iter(past);
        if until_passed {
            return past_stream.boxed();
        }
        let until = opts.until;
        let filters = opts.filters.clone();
        let live = stream::unfold(rx, move |mut rx| async move {
            loop {
                let next = match until {
                    Some(u) => {
                        let wait = std::time::Duration::from_secs_f64((u - now_secs()).max(0.0));
                        match tokio::time::timeout(wait, rx.recv()).await {
                            Ok(r) => r,
                            Err(_) => return None,
                        }
                    }
                    None => rx.recv().await,
                };
                match next {
                    Ok(e) => return Some((e, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |e| {
            let ok = matches(e, &filters);
            async move { ok }
        });
        past_stream.chain(live).boxed()
    }
}

fn now_secs() -> f64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as f64 / 1e9
}

fn in_window(e: &EventMessage, since: Option<f64>, until: Option<f64>) -> bool {
    let Some(since) = since else { return false };
    let t = e.time_nano.unwrap_or_default() as f64 / 1e9;
    t >= since && until.is_none_or(|u| t <= u)
}

/// dockerd's event filters: type, event/action, container, image, label, scope.
fn matches(e: &EventMessage, f: &Filters) -> bool {
    let typ = e.typ.map(|t| t.to_string()).unwrap_or_default();
    let action = e.action.clone().unwrap_or_default();
    let actor = e.actor.clone().unwrap_or_default();
    let id = actor.id.unwrap_or_default();
    let attrs = actor.attributes.unwrap_or_default();
    let name = attrs.get("name").cloned().unwrap_or_default();
    let any = |key: &str, test: &dyn Fn(&str) -> bool| {
        let vals = f.get(key);
        vals.is_empty() || vals.iter().any(|v| test(v))
    };
    any("type", &|v| v == typ)
        && any("event", &|v| {
            v == action || action.split(':').next() == Some(v)
        })
        && any("action", &|v| v == action)
        && any("scope", &|v| v == "local")
        && (typ != "container" || any("container", &|v| id.starts_with(v) || v == name))
        && any("image", &|v| {
            (typ == "image" && (id == v || name == v)) || attrs.get("image").is_some_and(|i| i == v)
        })
        && any("label", &|v| match v.split_once('=') {
            Some((k, val)) => attrs.get(k).is_some_and(|x| x == val),
            None => attrs.contains_key(v),
        })
        && (f.get("container").is_empty() || typ == "container")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn since_replays_history_and_filters_apply() {
        let bus = EventBus::default();
        let mut attrs = HashMap::new();
        attrs.insert("name".to_string(), "web".to_string());
        bus.emit(Kind::Container, "create", "abc", attrs.clone());
        bus.emit(Kind::Image, "tag", "sha256:1", HashMap::new());
        let mut f = Filters::default();
        f.add("type", "container");
        let got: Vec<_> = bus
            .subscribe(EventsOptions {
                since: Some(0.0),
                until: Some(now_secs()),
                filters: f,
            })
            .collect()
            .await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].action.as_deref(), Some("create"));
    }
}

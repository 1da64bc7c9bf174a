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

/// dockerd's event filters (`daemon/events/filter.go`): type, event/action, scope, the actor
/// keys (container, volume, network, daemon, plugin, node, service, secret, config: an id or
/// name prefix of the event's actor, whatever its type), image, label (every one must match
/// the actor's attributes). Several values of one other key are OR'ed.
fn matches(e: &EventMessage, f: &Filters) -> bool {
    let typ = e.typ.map(|t| t.to_string()).unwrap_or_default();
    let action = e.action.clone().unwrap_or_default();
    let actor = e.actor.clone().unwrap_or_default();
    let id = actor.id.unwrap_or_default();
    let attrs = actor.attributes.unwrap_or_default();
    let name = attrs.get("name").cloned().unwrap_or_default();
    // `FuzzyMatch` of the actor's id or name.
    let actor_key = |key: &str| {
        f.any_of(key, |v| {
            id == v || name == v || id.starts_with(v) || name.starts_with(v)
        })
    };
    f.any_of("type", |v| v == typ)
        && f.any_of("event", |v| {
            v == action || action.split(':').next() == Some(v)
        })
        && f.any_of("action", |v| v == action)
        && f.any_of("scope", |v| v == "local")
        && [
            "container",
            "volume",
            "network",
            "daemon",
            "plugin",
            "node",
            "service",
            "secret",
            "config",
        ]
        .into_iter()
        .all(actor_key)
        && f.any_of("image", |v| {
            (typ == "image" && (id == v || name == v)) || attrs.get("image").is_some_and(|i| i == v)
        })
        && f.match_kv_list("label", &attrs)
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

    fn event(typ: Kind, id: &str, attrs: &[(&str, &str)]) -> EventMessage {
        let bus = EventBus::default();
        let attrs = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        bus.emit(typ, "create", id, attrs);
        let history = bus.history.lock().map(|h| h.clone()).unwrap_or_default();
        history.into_iter().last().expect("an event")
    }

    #[test]
    fn labels_are_anded_and_actor_keys_match_id_or_name() {
        let e = event(
            Kind::Container,
            "abcdef",
            &[("name", "web-1"), ("project", "p"), ("number", "1")],
        );
        let mut f = Filters::default();
        f.add("label", "project=p");
        f.add("label", "number=1");
        assert!(matches(&e, &f));
        f.add("label", "number=2");
        assert!(!matches(&e, &f), "every label must match");
        let mut f = Filters::default();
        f.add("container", "zzz");
        f.add("container", "web");
        assert!(matches(&e, &f), "values of one key are OR'ed");
        let mut f = Filters::default();
        f.add("network", "net");
        assert!(!matches(&e, &f));
        let n = event(
            Kind::Network,
            "0123",
            &[("name", "net1"), ("container", "abcdef")],
        );
        assert!(matches(&n, &f));
        let mut f = Filters::default();
        f.add("volume", "v");
        assert!(!matches(&n, &f));
    }
}

//! `events`: the daemon's event stream, one line per event.

use clap::Args;
use serde_json::Value;

use crate::commands::parse_filters;
use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};
use crate::format::template::FormatTemplate;
use crate::format::timefmt::{get_timestamp, rfc3339_nano_fixed};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    pub rest: Vec<String>,
}

/// docker's default event line: "TIME TYPE ACTION ID (k=v, ...)".
pub fn event_line(e: &Value) -> String {
    let mut out = String::new();
    let nanos = e.get("timeNano").and_then(Value::as_i64).unwrap_or(0);
    let secs = e.get("time").and_then(Value::as_i64).unwrap_or(0);
    if nanos != 0 {
        out.push_str(&rfc3339_nano_fixed(nanos));
        out.push(' ');
    } else if secs != 0 {
        out.push_str(&rfc3339_nano_fixed(secs * 1_000_000_000));
        out.push(' ');
    }
    let typ = e.get("Type").and_then(Value::as_str).unwrap_or("");
    let action = e.get("Action").and_then(Value::as_str).unwrap_or("");
    let id = e.pointer("/Actor/ID").and_then(Value::as_str).unwrap_or("");
    out.push_str(&format!("{typ} {action} {id}"));
    if let Some(attrs) = e
        .pointer("/Actor/Attributes")
        .and_then(Value::as_object)
        .filter(|a| !a.is_empty())
    {
        let mut pairs: Vec<String> = attrs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect();
        pairs.sort();
        out.push_str(&format!(" ({})", pairs.join(", ")));
    }
    out
}

pub async fn run(ctx: &Ctx, path: &str, args: EventsArgs) -> CliResult {
    Arity::None.check(path, args.rest.len())?;
    let filters = parse_filters(&args.filter)?;
    let now = chrono::Utc::now();
    let since = args
        .since
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| get_timestamp(s, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| get_timestamp(s, now))
        .transpose()?;
    let template = match args.format.as_deref().filter(|f| !f.is_empty()) {
        Some("json") => Some(FormatTemplate::parse("{{json .}}", false)?),
        Some(f) => Some(FormatTemplate::parse(f, false)?),
        None => None,
    };
    let mut stream = ctx
        .client
        .events(since.as_deref(), until.as_deref(), &filters)
        .await?;
    while let Some(event) = stream.next().await {
        let event = event?;
        let line = match &template {
            Some(t) => t.render(&event)?,
            None => event_line(&event),
        };
        ctx.outln(&line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let e = serde_json::json!({"Type": "container", "Action": "start", "Actor": {"ID": "abc", "Attributes": {"name": "x", "image": "busybox"}}, "time": 1, "timeNano": 1_000_000_123i64});
        let line = event_line(&e);
        assert!(
            line.ends_with(" container start abc (image=busybox, name=x)"),
            "{line}"
        );
        assert!(line.contains(".000000123"), "{line}");
    }
}

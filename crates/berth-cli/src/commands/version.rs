//! `version`: client and server sections laid out like docker's.

use clap::Args;
use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use crate::format::template::FormatTemplate;

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    pub rest: Vec<String>,
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// RFC 3339 build time -> Go's time.ANSIC, as docker reformats it.
fn ansic(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.format("%a %b %e %H:%M:%S %Y").to_string())
        .unwrap_or_else(|_| t.to_string())
}

fn detail(v: &Value, key: &str) -> String {
    match v.pointer(&format!("/Details/{key}")) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn server_section(server: &Value) -> String {
    let mut out = String::from("Server:");
    if let Some(p) = server
        .pointer("/Platform/Name")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
    {
        out.push(' ');
        out.push_str(p);
    }
    out.push('\n');
    for c in server
        .get("Components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = s(c, "Name");
        out.push_str(&format!(" {name}:\n"));
        if name == "Engine" {
            out.push_str(&format!("  Version:          {}\n", s(c, "Version")));
            out.push_str(&format!(
                "  API version:      {} (minimum version {})\n",
                detail(c, "ApiVersion"),
                detail(c, "MinAPIVersion")
            ));
            out.push_str(&format!("  Go version:       {}\n", detail(c, "GoVersion")));
            out.push_str(&format!("  Git commit:       {}\n", detail(c, "GitCommit")));
            out.push_str(&format!(
                "  Built:            {}\n",
                ansic(&detail(c, "BuildTime"))
            ));
            out.push_str(&format!(
                "  OS/Arch:          {}/{}\n",
                detail(c, "Os"),
                detail(c, "Arch")
            ));
            out.push_str(&format!(
                "  Experimental:     {}\n",
                detail(c, "Experimental")
            ));
        } else {
            out.push_str(&format!("  Version:          {}\n", s(c, "Version")));
            let mut keys: Vec<&String> = c
                .get("Details")
                .and_then(Value::as_object)
                .map(|d| d.keys().collect())
                .unwrap_or_default();
            keys.sort();
            for k in keys {
                let pad = 17usize.saturating_sub(k.len());
                out.push_str(&format!("  {k}:{}{}\n", " ".repeat(pad), detail(c, k)));
            }
        }
    }
    out
}

/// `value` with `APIVersion` beside its JSON name `ApiVersion`.
fn with_go_names(mut value: Value) -> Value {
    if let Some(obj) = value.as_object_mut() {
        if let Some(v) = obj.get("ApiVersion").cloned() {
            obj.insert("APIVersion".into(), v);
        }
    }
    value
}

pub async fn run(ctx: &Ctx, path: &str, args: VersionArgs) -> CliResult {
    Arity::None.check(path, args.rest.len())?;
    let negotiated = ctx.client.api_version().await;
    let api = match &negotiated {
        Ok(v) if v != berth_client::MAX_API_VERSION => {
            format!("{v} (downgraded from {})", berth_client::MAX_API_VERSION)
        }
        Ok(v) => v.clone(),
        Err(_) => berth_client::MAX_API_VERSION.to_string(),
    };
    let os_arch = format!("{}/{}", std::env::consts::OS, go_arch());
    let client = json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": negotiated.as_ref().map(String::clone).unwrap_or_else(|_| berth_client::MAX_API_VERSION.into()),
        "DefaultAPIVersion": berth_client::MAX_API_VERSION,
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "Context": "default",
    });
    let server = match negotiated {
        Ok(_) => Some(ctx.client.version().await),
        Err(e) => Some(Err(e)),
    };
    if let Some(fmt) = args.format.as_deref().filter(|f| !f.is_empty()) {
        let text = if fmt == "json" { "{{json .}}" } else { fmt };
        let tmpl = FormatTemplate::parse(text, false)?;
        let server_value = match &server {
            Some(Ok(v)) => v.clone(),
            _ => Value::Null,
        };
        let data = if fmt == "json" {
            json!({"Client": client, "Server": server_value})
        } else {
            // Templates name Go's struct fields, where `ApiVersion` is `APIVersion`.
            json!({"Client": with_go_names(client), "Server": with_go_names(server_value)})
        };
        ctx.outln(&tmpl.render(&data)?)?;
        return match server {
            Some(Err(e)) => Err(e.into()),
            _ => Ok(()),
        };
    }
    let mut out = format!(
        "Client:\n Version:           {}\n API version:       {api}\n OS/Arch:           {os_arch}\n Context:           default\n",
        env!("CARGO_PKG_VERSION")
    );
    match server {
        Some(Ok(v)) => {
            out.push('\n');
            out.push_str(&server_section(&v));
            ctx.out(&out)
        }
        Some(Err(e)) => {
            ctx.out(&out)?;
            Err(CliError::from(e))
        }
        None => ctx.out(&out),
    }
}

/// Go's GOARCH spelling.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_layout() {
        let v = json!({"Components": [
            {"Name": "Engine", "Version": "1.0", "Details": {"ApiVersion": "1.47", "MinAPIVersion": "1.24", "GoVersion": "n/a",
             "GitCommit": "abc", "BuildTime": "2024-05-07T21:09:36.000000000+00:00", "Os": "linux", "Arch": "amd64", "Experimental": "false"}},
            {"Name": "runc", "Version": "1.1", "Details": {"GitCommit": "def"}}
        ]});
        let text = server_section(&v);
        assert!(text.contains("  API version:      1.47 (minimum version 1.24)\n"));
        assert!(text.contains("  Built:            Tue May  7 21:09:36 2024\n"));
        assert!(text.contains(" runc:\n  Version:          1.1\n  GitCommit:        def\n"));
    }
}

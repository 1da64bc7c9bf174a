//! dockerd's JSON message streams (`POST /images/create`, `/images/{name}/push`, `/build`,
//! `/images/load`): one `jsonmessage.JSONMessage` object per line, each line ended by `\r\n`,
//! fields in the Go struct's order. The error message is built here and only here.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `jsonmessage.JSONError`: the `errorDetail` of an error message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A code where dockerd sets one (a failed RUN's exit code); omitted when none or 0.
    #[serde(default, skip_serializing_if = "no_code")]
    pub code: Option<i64>,
    #[serde(default)]
    pub message: String,
}

fn no_code(code: &Option<i64>) -> bool {
    code.unwrap_or(0) == 0
}

/// An error line of a stream: `{"errorDetail":{"code":N,"message":M},"error":M}`, as
/// `streamformatter.FormatError` writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    #[serde(rename = "errorDetail")]
    pub error_detail: ErrorDetail,
    pub error: String,
}

impl ErrorMessage {
    pub fn new(message: &str, code: Option<i64>) -> Self {
        Self {
            error_detail: ErrorDetail {
                code,
                message: message.to_string(),
            },
            error: message.to_string(),
        }
    }
}

/// The error message for streams that carry JSON values (pull, push, build).
pub fn error_message(message: &str, code: Option<i64>) -> Value {
    serde_json::to_value(ErrorMessage::new(message, code)).unwrap_or_default()
}

/// `jsonmessage.JSONMessage`'s fields in its order; a line's fields are written in this order,
/// others after them.
const FIELD_ORDER: &[&str] = &[
    "stream",
    "status",
    "progressDetail",
    "progress",
    "id",
    "from",
    "time",
    "timeNano",
    "errorDetail",
    "error",
    "aux",
];

/// One line of a stream: the message's JSON, fields in dockerd's order, then `\r\n`.
pub fn line(message: &Value) -> Vec<u8> {
    let mut out = match message {
        Value::Object(fields) => {
            let known = FIELD_ORDER.iter().filter_map(|k| fields.get_key_value(*k));
            let others = fields
                .iter()
                .filter(|(k, _)| !FIELD_ORDER.contains(&k.as_str()));
            let mut out = b"{".to_vec();
            for (i, (key, value)) in known.chain(others).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Strings and values always serialize.
                out.extend(serde_json::to_vec(key).unwrap_or_default());
                out.push(b':');
                out.extend(serde_json::to_vec(value).unwrap_or_default());
            }
            out.push(b'}');
            out
        }
        other => serde_json::to_vec(other).unwrap_or_default(),
    };
    out.extend_from_slice(b"\r\n");
    out
}

/// An error line (`streamformatter.FormatError`).
pub fn error_line(message: &str) -> Vec<u8> {
    line(&error_message(message, None))
}

/// A `{"stream":"text\n"}` line (`streamformatter`'s stdout writer).
pub fn stream_line(text: &str) -> Vec<u8> {
    line(&serde_json::json!({ "stream": format!("{text}\n") }))
}

/// A `{"status":...}` line (`streamformatter.FormatStatus` without an id).
pub fn status_line(status: &str) -> Vec<u8> {
    line(&serde_json::json!({ "status": status }))
}

/// `jsonmessage.JSONProgress.String()` as dockerd renders the `progress` field (200 columns):
/// a 50-wide bar, then go-units `HumanSize` of current and total (`[====>    ]  1.23MB/4.56MB`).
pub fn progress_bar(current: i64, total: i64) -> String {
    use berth_types::gocompat::units::human_size;
    if current <= 0 && total <= 0 {
        return String::new();
    }
    if total <= 0 {
        return format!("{:>8}", human_size(current as f64));
    }
    let percentage = ((current as f64 / total as f64 * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let bar = format!(
        "[{}>{}] ",
        "=".repeat(percentage),
        " ".repeat(50 - percentage)
    );
    let current_size = human_size(current as f64);
    if current > total {
        return format!("{bar}{current_size:>8}");
    }
    format!("{bar}{current_size:>8}/{}", human_size(total as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_lines_are_dockerds() {
        assert_eq!(
            error_line("unexpected EOF"),
            b"{\"errorDetail\":{\"message\":\"unexpected EOF\"},\"error\":\"unexpected EOF\"}\r\n"
        );
        let m = "The command '/bin/sh -c exit 3' returned a non-zero code: 3";
        assert_eq!(
            error_message(m, Some(3)),
            json!({ "errorDetail": { "code": 3, "message": m }, "error": m })
        );
        assert_eq!(
            String::from_utf8(line(&error_message("x", Some(1)))).expect("utf-8"),
            "{\"errorDetail\":{\"code\":1,\"message\":\"x\"},\"error\":\"x\"}\r\n"
        );
        assert_eq!(
            error_message("x", Some(0)),
            json!({ "errorDetail": { "message": "x" }, "error": "x" })
        );
        let back: ErrorMessage =
            serde_json::from_value(error_message("x", Some(2))).expect("reads back");
        assert_eq!(back, ErrorMessage::new("x", Some(2)));
    }

    #[test]
    fn lines_keep_jsonmessage_field_order() {
        let msg = json!({
            "id": "abc",
            "status": "Downloading",
            "progressDetail": { "current": 1, "total": 2 },
            "progress": "[>] 1B/2B",
        });
        assert_eq!(
            String::from_utf8(line(&msg)).expect("utf-8"),
            "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1,\"total\":2},\
             \"progress\":\"[>] 1B/2B\",\"id\":\"abc\"}\r\n"
        );
        assert_eq!(
            stream_line("Loaded image: a"),
            b"{\"stream\":\"Loaded image: a\\n\"}\r\n"
        );
        assert_eq!(
            status_line("sha256:abc"),
            b"{\"status\":\"sha256:abc\"}\r\n"
        );
    }

    #[test]
    fn progress_bars_are_jsonprogress_strings() {
        assert_eq!(
            progress_bar(1_048_576, 4_194_304),
            format!("[{}>{}]  1.049MB/4.194MB", "=".repeat(12), " ".repeat(38))
        );
        assert_eq!(
            progress_bar(4_194_304, 4_194_304),
            format!("[{}>]  4.194MB/4.194MB", "=".repeat(50))
        );
        assert_eq!(
            progress_bar(0, 1000),
            format!("[>{}]       0B/1kB", " ".repeat(50))
        );
        assert_eq!(progress_bar(512, 0), "    512B");
        assert_eq!(progress_bar(0, 0), "");
        assert_eq!(
            progress_bar(2000, 1000),
            format!("[{}>] {:>8}", "=".repeat(50), "2kB")
        );
    }
}

//! Query parameters read the way dockerd reads them: first value wins, booleans by
//! `httputils.BoolValue`, integers strictly, timestamps as unix seconds or RFC 3339.

use std::str::FromStr;

use axum::extract::FromRequestParts;
use berth_api::Filters;
use http::request::Parts;

use crate::error::ApiError;

/// Why a query parameter was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("invalid query string: {0}")]
    Malformed(String),
    #[error("invalid value for {key}: strconv.Atoi: parsing {value:?}: invalid syntax")]
    NotAnInteger { key: String, value: String },
    #[error("invalid value for {key}: {value:?} is out of range")]
    OutOfRange { key: String, value: String },
    #[error("invalid timestamp for {key}: {value:?} is neither unix seconds nor RFC 3339")]
    Timestamp { key: String, value: String },
    #[error("{0}")]
    Filters(String),
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::invalid(e.to_string())
    }
}

/// The decoded query string, in order, with repeated keys kept.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self::parse(parts.uri.query().unwrap_or(""))?)
    }
}

/// dockerd's `BoolValue`: false for "", "0", "no", "false" and "none" (any case), else true.
pub fn parse_bool(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
}

/// Unix seconds with an optional fraction (`1700000000.5`), or an RFC 3339 time.
pub fn parse_timestamp(key: &str, value: &str) -> Result<f64, QueryError> {
    let bad = || QueryError::Timestamp {
        key: key.to_string(),
        value: value.to_string(),
    };
    let (secs, frac) = match value.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (value, None),
    };
    if let Ok(s) = secs.parse::<i64>() {
        let fraction = match frac {
            None => 0.0,
            Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                format!("0.{f}").parse::<f64>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        let sign = if secs.starts_with('-') { -1.0 } else { 1.0 };
        return Ok(s as f64 + sign * fraction);
    }
    let t = chrono::DateTime::parse_from_rfc3339(value).map_err(|_| bad())?;
    Ok(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
}

impl Params {
    pub fn parse(query: &str) -> Result<Self, QueryError> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .map(Self)
            .map_err(|e| QueryError::Malformed(e.to_string()))
    }

    /// The first value of `key` (Go's `FormValue`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key` when it is not empty.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// dockerd's `BoolValue` (absent is false).
    pub fn bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(parse_bool)
    }

    /// dockerd's `BoolValueOrDefault`: `default` when absent or empty.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None | Some("") => default,
            Some(v) => parse_bool(v),
        }
    }

    /// An integer, `None` when absent or empty, 400 on anything else that does not parse.
    pub fn int<T: FromStr>(&self, key: &str) -> Result<Option<T>, QueryError> {
        let Some(v) = self.non_empty(key) else {
            return Ok(None);
        };
        match v.trim().parse::<T>() {
            Ok(n) => Ok(Some(n)),
            Err(_) if v.trim().parse::<i128>().is_ok() => Err(QueryError::OutOfRange {
                key: key.to_string(),
                value: v.to_string(),
            }),
            Err(_) => Err(QueryError::NotAnInteger {
                key: key.to_string(),
                value: v.to_string(),
            }),
        }
    }

    /// A timestamp, `None` when absent or empty.
    pub fn timestamp(&self, key: &str) -> Result<Option<f64>, QueryError> {
        self.non_empty(key)
            .map(|v| parse_timestamp(key, v))
            .transpose()
    }

    /// The `filters` JSON (both the modern and the pre-1.30 map form).
    pub fn filters(&self) -> Result<Filters, QueryError> {
        Filters::parse(self.get("filters").unwrap_or("")).map_err(QueryError::Filters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_follow_dockerd() {
        for f in ["", "0", "no", "false", "FALSE", "None", " false "] {
            assert!(!parse_bool(f), "{f:?} should be false");
        }
        for t in ["1", "true", "True", "yes", "on", "anything"] {
            assert!(parse_bool(t), "{t:?} should be true");
        }
        let p = Params::parse("all=1&size=false&force=").expect("parse");
        assert!(p.bool("all"));
        assert!(!p.bool("size"));
        assert!(!p.bool("force"));
        assert!(!p.bool("missing"));
        assert!(p.bool_or("missing", true));
        assert!(p.bool_or("force", true));
        assert!(!p.bool_or("size", true));
    }

    #[test]
    fn integers_are_strict() {
        let p = Params::parse("t=10&h=abc&w=70000&limit=").expect("parse");
        assert_eq!(p.int::<i64>("t"), Ok(Some(10)));
        assert_eq!(p.int::<i64>("limit"), Ok(None));
        assert_eq!(p.int::<i64>("missing"), Ok(None));
        assert!(matches!(
            p.int::<u16>("h"),
            Err(QueryError::NotAnInteger { .. })
        ));
        assert!(matches!(
            p.int::<u16>("w"),
            Err(QueryError::OutOfRange { .. })
        ));
        let e: ApiError = p.int::<u16>("h").expect_err("garbage").into();
        assert_eq!(e.0.kind, berth_types::ErrorKind::InvalidArgument);
    }

    #[test]
    fn repeated_keys_and_first_value() {
        let p = Params::parse("changes=CMD%20%5B%22sh%22%5D&changes=ENV%20A%3Db&repo=me%2Fapp")
            .expect("parse");
        assert_eq!(
            p.all("changes"),
            vec!["CMD [\"sh\"]".to_string(), "ENV A=b".to_string()]
        );
        assert_eq!(p.get("repo"), Some("me/app"));
    }

    #[test]
    fn timestamps_accept_unix_and_rfc3339() {
        assert_eq!(parse_timestamp("since", "1700000000"), Ok(1_700_000_000.0));
        let frac = parse_timestamp("since", "1700000000.25").expect("fractional");
        assert!((frac - 1_700_000_000.25).abs() < 1e-6);
        let rfc = parse_timestamp("since", "2023-11-14T22:13:20Z").expect("rfc3339");
        assert!((rfc - 1_700_000_000.0).abs() < 1e-6);
        let rfc_nanos = parse_timestamp("since", "2023-11-14T22:13:20.5+00:00").expect("rfc3339");
        assert!((rfc_nanos - 1_700_000_000.5).abs() < 1e-6);
        assert!(parse_timestamp("since", "yesterday").is_err());
        assert!(parse_timestamp("since", "12.x").is_err());
        assert!(parse_timestamp("since", "12.").is_err());
    }

    #[test]
    fn filters_parse_or_fail_with_400() {
        let p = Params::parse("filters=%7B%22status%22%3A%5B%22running%22%5D%7D").expect("parse");
        assert_eq!(p.filters().expect("filters").get("status"), ["running"]);
        let bad = Params::parse("filters=notjson").expect("parse");
        assert!(matches!(bad.filters(), Err(QueryError::Filters(_))));
        assert!(Params::default().filters().expect("empty").is_empty());
    }
}

//! Filter values as dockerd reads them: booleans, `key[=value]` lists and `until` times.

use std::collections::HashMap;

use berth_api::Filters;

use crate::error::ImageError;

/// dockerd's `invalidFilter` text: `invalid filter 'key=[v1 v2]'`.
pub(crate) fn invalid_filter(key: &str, values: &[String]) -> ImageError {
    ImageError::Invalid(format!("invalid filter '{key}=[{}]'", values.join(" ")))
}

/// `filters.GetBoolOrDefault`: one value among `true`/`1`/`false`/`0` (any case), or the default.
pub(crate) fn bool_or_default(
    filters: &Filters,
    key: &str,
    default: bool,
) -> Result<bool, ImageError> {
    let values = filters.get(key);
    match values {
        [] => Ok(default),
        [v] if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        [v] if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        _ => Err(invalid_filter(key, values)),
    }
}

/// The prune filters `label` (all must match) and `label!` (excluded when all match).
pub fn match_prune_labels(filters: &Filters, labels: &HashMap<String, String>) -> bool {
    filters.match_prune_labels(labels)
}

/// The `until` filter of a prune, as unix seconds (`None` when absent).
pub(crate) fn until(filters: &Filters, now: i64) -> Result<Option<i64>, ImageError> {
    match filters.get("until") {
        [] => Ok(None),
        [v] => parse_timestamp(v, now)
            .map(Some)
            .map_err(|e| ImageError::Invalid(format!("invalid value for 'until' filter: {e}"))),
        _ => Err(ImageError::Invalid(
            "more than one until filter specified".into(),
        )),
    }
}

/// Go's `timestamp.GetTimestamp`: a duration before `now` (`10m`, `1h30m`), an RFC 3339 time, a
/// date (`2006-01-02`, `2006-01-02T15:04:05`, taken as UTC), or unix seconds (`secs[.nanos]`).
pub fn parse_timestamp(value: &str, now: i64) -> Result<i64, String> {
    // As Go's `reference.Add(-d).Unix()`: whole seconds, rounded down; "0" is the epoch.
    let duration = (value != "0")
        .then(|| berth_types::gocompat::duration::parse_duration(value).ok())
        .flatten();
    if let Some(nanos) = duration {
        return Ok(
            (i128::from(now) * 1_000_000_000 - i128::from(nanos)).div_euclid(1_000_000_000) as i64,
        );
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(t.timestamp());
    }
    for layout in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, layout) {
            return Ok(t.and_utc().timestamp());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp());
        }
    }
    let secs = value.split_once('.').map_or(value, |(s, _)| s);
    secs.parse::<i64>()
        .map_err(|_| format!("failed to parse value as time or duration: {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(pairs: &[(&str, &str)]) -> Filters {
        let mut f = Filters::default();
        for (k, v) in pairs {
            f.add(k, v);
        }
        f
    }

    #[test]
    fn booleans_as_dockerd_reads_them() {
        assert!(bool_or_default(&filters(&[]), "dangling", true).expect("default"));
        assert!(!bool_or_default(&filters(&[("dangling", "false")]), "dangling", true).expect("f"));
        assert!(bool_or_default(&filters(&[("dangling", "1")]), "dangling", false).expect("1"));
        let err =
            bool_or_default(&filters(&[("dangling", "maybe")]), "dangling", true).expect_err("bad");
        assert_eq!(err.to_string(), "invalid filter 'dangling=[maybe]'");
        assert!(bool_or_default(
            &filters(&[("dangling", "true"), ("dangling", "false")]),
            "dangling",
            true
        )
        .is_err());
    }

    #[test]
    fn labels_and_negated_labels() {
        let labels: HashMap<String, String> = [
            ("tier".to_string(), "web".to_string()),
            ("keep".to_string(), String::new()),
        ]
        .into();
        assert!(match_prune_labels(&filters(&[("label", "tier")]), &labels));
        assert!(match_prune_labels(
            &filters(&[("label", "tier=web")]),
            &labels
        ));
        assert!(!match_prune_labels(
            &filters(&[("label", "tier=db")]),
            &labels
        ));
        assert!(!match_prune_labels(
            &filters(&[("label", "tier"), ("label", "x")]),
            &labels
        ));
        assert!(!match_prune_labels(
            &filters(&[("label!", "keep")]),
            &labels
        ));
        assert!(match_prune_labels(
            &filters(&[("label!", "other")]),
            &labels
        ));
        assert!(match_prune_labels(&filters(&[]), &labels));
    }

    #[test]
    fn until_takes_durations_times_and_unix_seconds() {
        let now = 1_700_000_000;
        assert_eq!(parse_timestamp("10m", now), Ok(now - 600));
        assert_eq!(parse_timestamp("1h30m", now), Ok(now - 5400));
        assert_eq!(parse_timestamp("1.5h", now), Ok(now - 5400));
        assert_eq!(parse_timestamp("1.5s", now), Ok(now - 2));
        assert_eq!(parse_timestamp("-1m", now), Ok(now + 60));
        assert_eq!(parse_timestamp("0", now), Ok(0));
        assert_eq!(parse_timestamp("1699999000", now), Ok(1_699_999_000));
        assert_eq!(parse_timestamp("1699999000.5", now), Ok(1_699_999_000));
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20Z", now),
            Ok(1_700_000_000)
        );
        assert_eq!(parse_timestamp("2023-11-14", now), Ok(1_699_920_000));
        assert!(parse_timestamp("yesterday", now).is_err());
        assert!(until(&filters(&[("until", "a"), ("until", "b")]), now).is_err());
        let e = until(&filters(&[("until", "soon")]), now).expect_err("bad");
        assert!(e
            .to_string()
            .starts_with("invalid value for 'until' filter"));
    }
}

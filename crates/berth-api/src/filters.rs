//! The `filters` query parameter: `{"status":["running"]}`, or the pre-1.30 form
//! `{"status":{"running":true}}`.

use std::collections::{BTreeMap, HashMap};

/// Filter name to accepted values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the JSON text of a `filters` parameter (empty means no filters).
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        let v: serde_json::Value =
            serde_json::from_str(s).map_err(|e| format!("invalid filter '{s}': {e}"))?;
        let obj = v
            .as_object()
            .ok_or_else(|| format!("invalid filter '{s}'"))?;
        let mut map = BTreeMap::new();
        for (k, v) in obj {
            let vals: Vec<String> = match v {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                serde_json::Value::Object(o) => o
                    .iter()
                    .filter(|(_, b)| b.as_bool().unwrap_or(false))
                    .map(|(k, _)| k.clone())
                    .collect(),
                _ => return Err(format!("invalid filter '{s}'")),
            };
            map.insert(k.clone(), vals);
        }
        Ok(Self(map))
    }

    /// The JSON text in the modern form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn add(&mut self, key: &str, value: &str) {
        self.0
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }

    /// dockerd's `ExactMatch`/`Match` shape: true when `key` is absent, else when any of its
    /// values passes `test` (values of one key are OR'ed: `name=a&name=b` lists both).
    pub fn any_of(&self, key: &str, test: impl Fn(&str) -> bool) -> bool {
        let values = self.get(key);
        values.is_empty() || values.iter().any(|v| test(v))
    }

    /// dockerd's `MatchKVList`: true when `key` is absent, else when every value (`k` or
    /// `k=v`) matches `labels` (several `label` filters are AND'ed).
    pub fn match_kv_list(&self, key: &str, labels: &HashMap<String, String>) -> bool {
        self.get(key).iter().all(|f| match f.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(f.as_str()),
        })
    }

    /// The prune filters on labels (dockerd's `matchLabels`): every `label` matches, and not
    /// every `label!` does (a `label!` filter excludes what matches all of its values).
    pub fn match_prune_labels(&self, labels: &HashMap<String, String>) -> bool {
        self.match_kv_list("label", labels)
            && (self.get("label!").is_empty() || !self.match_kv_list("label!", labels))
    }

    /// Rejects filter names not in `allowed`, with dockerd's message.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), String> {
        for k in self.0.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(format!("invalid filter '{k}'"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let a = Filters::parse(r#"{"status":["running","exited"]}"#).expect("parse");
        assert_eq!(a.get("status"), ["running", "exited"]);
        let b = Filters::parse(r#"{"status":{"running":true}}"#).expect("parse");
        assert_eq!(b.get("status"), ["running"]);
        assert!(Filters::parse("[1]").is_err());
        assert!(a.validate(&["name"]).is_err());
    }

    #[test]
    fn labels_are_anded_and_other_values_ored() {
        let labels = HashMap::from([
            ("project".to_string(), "p".to_string()),
            ("number".to_string(), "2".to_string()),
        ]);
        let mut f = Filters::default();
        assert!(f.match_kv_list("label", &labels));
        f.add("label", "project=p");
        f.add("label", "number=2");
        assert!(f.match_kv_list("label", &labels));
        f.add("label", "number=1");
        assert!(!f.match_kv_list("label", &labels));
        let mut f = Filters::default();
        f.add("label", "project");
        f.add("label", "missing");
        assert!(!f.match_kv_list("label", &labels));
        assert!(!f.match_kv_list("label", &HashMap::new()));

        let mut f = Filters::default();
        assert!(f.any_of("name", |v| v == "x"));
        f.add("name", "a");
        f.add("name", "b");
        assert!(f.any_of("name", |v| v == "b"));
        assert!(!f.any_of("name", |v| v == "c"));

        let mut f = Filters::default();
        f.add("label!", "project=p");
        f.add("label!", "number=1");
        assert!(
            f.match_prune_labels(&labels),
            "label! excludes only when all match"
        );
        f.add("label", "project");
        assert!(f.match_prune_labels(&labels));
        let mut f = Filters::default();
        f.add("label!", "project=p");
        assert!(!f.match_prune_labels(&labels));
    }
}

//! The `filters` query parameter: `{"status":["running"]}`, or the pre-1.30 form
//! `{"status":{"running":true}}`.

use std::collections::BTreeMap;

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
}

//! Renders rows (JSON objects, one per listed thing) through `--format` the way docker's
//! formatter.Context does: `table` formats get a header row and tabwriter alignment.

use super::tabwriter;
use super::template::{expand, FormatTemplate, TemplateError, ROW_MARKER};

pub struct TableSpec<'a> {
    /// The default table template, e.g. `{{.ID}}\t{{.Image}}...`.
    pub default: &'a str,
    /// `(field, header)` pairs for the header row.
    pub headers: &'a [(&'a str, &'a str)],
}

/// Picks the template: `-q` wins (`{{.ID}}`), then `--format`, then the default table.
pub fn render_rows(
    spec: &TableSpec<'_>,
    format: Option<&str>,
    quiet: bool,
    rows: &[serde_json::Value],
) -> Result<String, TemplateError> {
    let expanded = match (quiet, format) {
        (true, _) => expand("{{.ID}}", spec.default),
        (false, Some(f)) if !f.is_empty() => expand(f, spec.default),
        _ => expand("table", spec.default),
    };
    let tmpl = FormatTemplate::parse(&expanded.text, expanded.table)?;
    let mut buf = String::new();
    if tmpl.table {
        let header: serde_json::Map<String, serde_json::Value> = spec
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        buf.push_str(&tmpl.render(&serde_json::Value::Object(header))?);
        buf.push('\n');
    }
    for row in rows {
        let mut row = row.clone();
        if let Some(obj) = row.as_object_mut() {
            obj.insert(ROW_MARKER.to_string(), serde_json::Value::Bool(true));
        }
        buf.push_str(&tmpl.render(&row)?);
        buf.push('\n');
    }
    Ok(if tmpl.table {
        tabwriter::align(&buf)
    } else {
        buf
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC: TableSpec<'static> = TableSpec {
        default: "{{.ID}}\t{{.Name}}",
        headers: &[("ID", "CONTAINER ID"), ("Name", "NAME")],
    };

    #[test]
    fn default_table_has_header() {
        let rows = vec![json!({"ID": "abc", "Name": "x"})];
        assert_eq!(
            render_rows(&SPEC, None, false, &rows).unwrap(),
            "CONTAINER ID   NAME\nabc            x\n"
        );
    }

    #[test]
    fn quiet_prints_ids() {
        let rows = vec![
            json!({"ID": "abc", "Name": "x"}),
            json!({"ID": "def", "Name": "y"}),
        ];
        assert_eq!(
            render_rows(&SPEC, Some("{{.Name}}"), true, &rows).unwrap(),
            "abc\ndef\n"
        );
    }

    #[test]
    fn custom_format_without_table_is_not_aligned() {
        let rows = vec![json!({"ID": "abc", "Name": "x"})];
        assert_eq!(
            render_rows(&SPEC, Some("{{.Name}}\t{{.ID}}"), false, &rows).unwrap(),
            "x\tabc\n"
        );
        assert_eq!(
            render_rows(&SPEC, Some("table {{.Name}}"), false, &[]).unwrap(),
            "NAME\n"
        );
    }
}

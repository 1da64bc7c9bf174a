//! What the `inspect` commands print: the objects' JSON as one indented array (`[]` when none
//! was found), or a `-f` template over each; then the errors of the names not found.

use crate::ctx::Ctx;
use crate::error::{CliError, CliResult};
use crate::format::json_indent::indent;
use crate::format::template::FormatTemplate;

/// The output of one `inspect`, built a name at a time.
pub struct Inspected {
    template: Option<FormatTemplate>,
    raws: Vec<Vec<u8>>,
    out: String,
    errors: Vec<String>,
}

impl Inspected {
    /// For `-f format`: empty, absent or `json` print the JSON, anything else is a template.
    pub fn new(format: Option<&str>) -> Result<Self, CliError> {
        let template = match format.filter(|f| !f.is_empty() && *f != "json") {
            Some(f) => Some(FormatTemplate::parse(f, false)?),
            None => None,
        };
        Ok(Self {
            template,
            raws: Vec::new(),
            out: String::new(),
            errors: Vec::new(),
        })
    }

    /// One name's answer: its JSON, or why it was not found.
    pub fn add(&mut self, found: Result<Vec<u8>, String>) -> CliResult {
        match found {
            Ok(raw) => match &self.template {
                Some(t) => {
                    let value: serde_json::Value = serde_json::from_slice(&raw)?;
                    self.out.push_str(&t.render(&value)?);
                    self.out.push('\n');
                }
                None => self.raws.push(raw),
            },
            Err(e) => self.errors.push(e),
        }
        Ok(())
    }

    /// Prints it all; the errors, one a line, make status 1.
    pub fn print(mut self, ctx: &Ctx) -> CliResult {
        if self.template.is_none() {
            if self.raws.is_empty() {
                self.out.push_str("[]\n");
            } else {
                let mut joined = b"[".to_vec();
                joined.extend(self.raws.join(&b","[..]));
                joined.push(b']');
                self.out.push_str(&indent(&joined, "    "));
                self.out.push('\n');
            }
        }
        ctx.out(&self.out)?;
        if self.errors.is_empty() {
            return Ok(());
        }
        Err(CliError::status(1, self.errors.join("\n")))
    }
}

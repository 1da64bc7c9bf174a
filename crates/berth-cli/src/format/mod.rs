//! Output formatting shared by the commands: tables, templates, units, times.

pub mod inspect;
pub mod json_indent;
pub mod strings;
pub mod table;
pub mod tabwriter;
pub mod template;
pub mod timefmt;

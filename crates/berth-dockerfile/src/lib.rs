#![cfg_attr(test, allow(clippy::unwrap_used))]
//! A Dockerfile parser that follows BuildKit's (`moby/buildkit/frontend/dockerfile`): parser
//! directives, continuations, comments, heredocs, JSON and shell forms, flags, typed
//! instructions with their lines and original text, and variable expansion.
//!
//! ```
//! let df = berth_dockerfile::parse("Dockerfile", "FROM busybox AS base\nRUN echo hi\n").unwrap();
//! assert_eq!(df.nodes.len(), 2);
//! ```

mod directives;
mod error;
pub mod expand;
mod flags;
mod heredoc;
pub mod ignore;
mod instruction;
mod parser;
mod syntax;

pub use directives::Directives;
pub use error::{Error, ErrorKind};
pub use expand::{expand_instruction, Env, ExpandError, Lexer};
pub use heredoc::{parse_heredoc, Heredoc};
pub use ignore::{DockerIgnore, IgnoreError};
pub use instruction::{
    Add, ArgDef, CommandLine, Copy, From, Healthcheck, Instruction, KeyValue, Node, OnBuild, Run,
    SourcesAndDest,
};
pub use parser::parse;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    /// The escape character in effect (`\` or `` ` ``); expansion must use it.
    pub escape: char,
    pub nodes: Vec<Node>,
    /// Non-fatal findings in BuildKit's wording (empty continuation lines).
    pub warnings: Vec<String>,
}

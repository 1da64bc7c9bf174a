//! How a command fails: the message docker prints and the exit code it uses.

use berth_client::ClientError;
use thiserror::Error;

use crate::usage;

#[derive(Debug, Error)]
pub enum CliError {
    /// Printed as is (may be empty), then exit with `code`.
    #[error("{message}")]
    Status { code: i32, message: String },
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Template(#[from] crate::format::template::TemplateError),
    #[error("{0}")]
    Time(#[from] crate::format::timefmt::TimeError),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

impl CliError {
    pub fn status(code: i32, message: impl Into<String>) -> Self {
        Self::Status {
            code,
            message: message.into(),
        }
    }

    /// A silent exit with `code` (the error was already printed, or there is none to print).
    pub fn exit(code: i32) -> Self {
        Self::Status {
            code,
            message: String::new(),
        }
    }

    pub fn code(&self) -> i32 {
        match self {
            Self::Status { code, .. } => *code,
            _ => 1,
        }
    }

    /// docker's arity error: "prog: 'prog cmd' requires at least 1 argument" + usage, exit 1.
    pub fn arity(path: &str, requirement: &str, see_hint: bool) -> Self {
        let prog = usage::prog();
        let verb = if see_hint { "See" } else { "Run" };
        Self::status(
            1,
            format!(
                "{prog}: '{prog} {path}' {requirement}\n\nUsage:  {prog} {}\n\n{verb} '{prog} {path} --help' for more information",
                usage::usage_line(path)
            ),
        )
    }
}

/// Checks positional counts with docker's messages.
pub enum Arity {
    None,
    Exactly(usize),
    AtLeast(usize),
    AtMost(usize),
}

impl Arity {
    pub fn check(&self, path: &str, n: usize) -> Result<(), CliError> {
        let plural = |k: usize| if k == 1 { "argument" } else { "arguments" };
        match *self {
            Arity::None if n > 0 => Err(CliError::arity(path, "accepts no arguments", false)),
            Arity::Exactly(k) if n != k => Err(CliError::arity(
                path,
                &format!("requires {k} {}", plural(k)),
                false,
            )),
            Arity::AtLeast(k) if n < k => Err(CliError::arity(
                path,
                &format!("requires at least {k} {}", plural(k)),
                true,
            )),
            Arity::AtMost(k) if n > k => Err(CliError::arity(
                path,
                &format!("requires at most {k} {}", plural(k)),
                false,
            )),
            _ => Ok(()),
        }
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

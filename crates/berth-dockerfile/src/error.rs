//! Parse errors: BuildKit's wording, with the file name and the line of the instruction.

use crate::expand::ExpandError;

/// A Dockerfile that cannot be parsed, located at `file:line`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {kind}")]
pub struct Error {
    pub file: String,
    /// 1-based line where the failing instruction (or directive) starts.
    pub line: usize,
    pub kind: ErrorKind,
}

impl Error {
    /// The message as dockerd/BuildKit print it.
    pub fn moby_message(&self) -> String {
        format!(
            "dockerfile parse error on line {}: {}",
            self.line, self.kind
        )
    }
}

/// What is wrong; each message is copied from moby/buildkit's Dockerfile frontend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("file with no instructions")]
    NoInstructions,
    #[error("invalid escape token '{0}' does not match ` or \\")]
    InvalidEscapeToken(String),
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    #[error("unknown instruction: {0}")]
    UnknownInstruction(String),
    #[error("{0} requires at least one argument")]
    AtLeastOneArgument(&'static str),
    #[error("{0} requires exactly one argument")]
    ExactlyOneArgument(&'static str),
    #[error("{0} requires at least two arguments, but only one was provided. Destination could not be determined")]
    NoDestination(&'static str),
    #[error("{0} requires the arguments to be in JSON form")]
    NotJson(&'static str),
    #[error("FROM requires either one or three arguments")]
    FromArguments,
    #[error(
        "invalid name for build stage: {0:?}, name can't start with a number or contain symbols"
    )]
    InvalidStageName(String),
    #[error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChain,
    #[error("{0} isn't allowed as an ONBUILD trigger")]
    OnbuildTrigger(String),
    #[error("{0} must have two arguments")]
    TwoArguments(&'static str),
    #[error("Syntax error - can't find = in {0:?}. Must be of the form: name=value")]
    MissingEquals(String),
    #[error("{0} names can not be blank")]
    BlankName(&'static str),
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    JsonNotStrings,
    #[error("HEALTHCHECK NONE takes no arguments")]
    HealthcheckNoneArguments,
    #[error("Missing command after HEALTHCHECK CMD")]
    HealthcheckMissingCommand,
    #[error("Unknown type {0:?} in HEALTHCHECK (try CMD)")]
    HealthcheckUnknownType(String),
    /// Go's `time.ParseDuration` error, in its words.
    #[error("{0}")]
    InvalidDuration(berth_types::gocompat::duration::DurationError),
    #[error("Interval {0:?} cannot be less than 1ms")]
    IntervalTooShort(String),
    #[error("strconv.ParseInt: parsing {0:?}: invalid syntax")]
    InvalidRetries(String),
    #[error("--retries cannot be negative ({0})")]
    NegativeRetries(i64),
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
    #[error("{0} cannot accept a heredoc as {1}")]
    BadHeredoc(&'static str, &'static str),
    #[error("unterminated heredoc")]
    UnterminatedHeredoc,
    #[error("Arg should start with -- : {0}")]
    FlagWithoutDashes(String),
    #[error("Unknown flag: {0}")]
    UnknownFlag(String),
    #[error("Duplicate flag specified: {0}")]
    DuplicateFlag(String),
    #[error("Missing a value on flag: {0}")]
    MissingFlagValue(String),
    #[error("Expecting boolean value for flag {0}, not: {1}")]
    ExpectingBool(String, String),
    #[error(transparent)]
    Expand(#[from] ExpandError),
}

//! Loader errors, worded as Docker Compose v2 words them.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LoadError {
    /// No compose file in the working directory or its parents.
    #[error("no configuration file provided: not found")]
    NoConfigFile,
    /// `-f` names a file that cannot be read.
    #[error("open {path}: {reason}")]
    Open { path: String, reason: String },
    /// YAML that does not parse: `yaml: line N: ...` with the file.
    #[error("{file}: {message}")]
    Yaml { file: String, message: String },
    /// Schema validation: `validating <file>: services.web additional properties 'foo' not allowed`.
    #[error("validating {file}: {message}")]
    Validation { file: String, message: String },
    /// `${VAR:?msg}` unset, or a bad substitution.
    #[error("error while interpolating {path}: {message}")]
    Interpolation { path: String, message: String },
    /// A malformed `${...}` (compose's wording, the template on the last line).
    #[error("invalid interpolation format for {path}.\nYou may need to escape any $ with another $.\n{template}")]
    InvalidInterpolation { path: String, template: String },
    /// Decoding a value into its type failed (`'services[a].command' invalid command line string`).
    #[error("decoding failed due to the following error(s):\n\n'{path}' {message}")]
    Decoding { path: String, message: String },
    /// An invalid project name.
    #[error("invalid project name {name:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number")]
    InvalidProjectName { name: String },
    /// No project name can be derived (empty directory name and no `name:`).
    #[error("project name must not be empty")]
    EmptyProjectName,
    /// A `depends_on` cycle: `dependency cycle detected: a -> b -> a`.
    #[error("dependency cycle detected: {0}")]
    DependencyCycle(String),
    /// A semantic error with compose's wording (`service "web" refers to undefined network
    /// foo: invalid compose project`).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl LoadError {
    /// `<message>: invalid compose project`, compose's ErrInvalid wrapping.
    pub fn invalid(message: impl std::fmt::Display) -> Self {
        LoadError::Invalid(format!("{message}: invalid compose project"))
    }
}

//! The CLI's error type: every failure is one line, and the exit code says whose fault it was.

use std::fmt::Display;

/// Exit code for bad input, refused configurations and missing tools (the user can fix these).
pub const EXIT_USAGE: i32 = 2;
/// Exit code for failures of the hardware or of a tool run (the design or the environment is at fault).
pub const EXIT_FAILURE: i32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StaError {
    /// Bad input: a parameter, a file, an existing output. Nothing was written.
    #[error("{0}")]
    Usage(String),
    /// A required tool is missing or a tool run failed.
    #[error("{0}")]
    Tool(String),
    /// The simulated hardware disagreed with the golden model.
    #[error("{0}")]
    Mismatch(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl StaError {
    pub fn exit_code(&self) -> i32 {
        match self {
            StaError::Usage(_) | StaError::Tool(_) => EXIT_USAGE,
            StaError::Mismatch(_) | StaError::Io { .. } => EXIT_FAILURE,
        }
    }
}

/// Wraps any error that comes from user input (a golden-model validation error, a parse error) as [`StaError::Usage`].
pub fn usage(e: impl Display) -> StaError {
    StaError::Usage(e.to_string())
}

/// Wraps an I/O error with what was being done, e.g. "writing out/filelist.f".
pub fn io_context(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StaError {
    let context = context.into();
    move |source| StaError::Io { context, source }
}

pub type Result<T, E = StaError> = std::result::Result<T, E>;

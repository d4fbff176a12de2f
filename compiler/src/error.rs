//! The crate's error type: every variant renders as one line that names the input and what is allowed.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CompileError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A model file is missing a tensor, has one of the wrong shape or dtype, or is not a safetensors file.
    #[error("{path}: {message}")]
    Model { path: PathBuf, message: String },
    /// Bad user input (text, parameters, configuration).
    #[error("{0}")]
    Input(String),
    /// The float reference library failed (should not happen on validated input).
    #[error("float reference: {0}")]
    Candle(String),
}

impl From<candle_core::Error> for CompileError {
    fn from(e: candle_core::Error) -> Self {
        CompileError::Candle(e.to_string())
    }
}

pub type Result<T, E = CompileError> = std::result::Result<T, E>;

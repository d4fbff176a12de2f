//! Locating Verilator. Kept separate so callers can probe for it (and print the install hint) before doing work.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::ToolError;

/// The `verilator` executable on PATH, or an error carrying the install command.
pub fn verilator_available() -> Result<PathBuf, ToolError> {
    which::which("verilator").map_err(|_| ToolError::NotFound)
}

/// First line of `verilator --version`, e.g. `Verilator 5.006 2023-01-22 rev (Debian 5.006-3)`.
/// Part of the build cache key: a different Verilator must never reuse a binary built by another.
pub fn verilator_version(tool: &Path) -> Result<String, ToolError> {
    let out = Command::new(tool)
        .arg("--version")
        .output()
        .map_err(|source| ToolError::Version {
            tool: tool.to_path_buf(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) if out.status.success() => Ok(line.to_string()),
        _ => Err(ToolError::NoVersion {
            tool: tool.to_path_buf(),
        }),
    }
}

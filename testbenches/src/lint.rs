//! `verilator --lint-only -Wall`: the generated RTL must be warning-free, so any warning fails the lint.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::error::SimError;
use crate::tool::verilator_available;

/// What Verilator reported. Only the first line of each message is kept in `warnings`/`errors`;
/// `output` is the complete text with source excerpts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LintReport {
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
    pub output: String,
    pub seconds: f64,
}

impl LintReport {
    /// The first message (error before warning), for one-line summaries.
    pub fn first(&self) -> &str {
        self.errors.iter().chain(&self.warnings).next().map_or("(none)", String::as_str)
    }

    pub fn is_clean(&self) -> bool {
        self.warnings.is_empty() && self.errors.is_empty()
    }

    fn from_output(output: String, seconds: f64) -> Self {
        let starts = |p: &str| -> Vec<String> {
            output.lines().filter(|l| l.starts_with(p)).map(str::to_string).collect()
        };
        let warnings = starts("%Warning");
        let errors = starts("%Error").into_iter().filter(|l| !l.starts_with("%Error: Exiting due to")).collect();
        LintReport { warnings, errors, output, seconds }
    }
}

/// Lints `sources` (dependency order) with `top` as top module. `Ok` only when Verilator reports nothing;
/// otherwise `SimError::Lint` carries the full report.
pub fn lint(sources: &[PathBuf], top: &str) -> Result<LintReport, SimError> {
    let tool = verilator_available()?;
    let start = Instant::now();
    let out = Command::new(&tool)
        .args(["--lint-only", "-Wall", "--top-module", top])
        .args(sources)
        .output()
        .map_err(SimError::io("run", &tool))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let mut report = LintReport::from_output(text, start.elapsed().as_secs_f64());
    if !out.status.success() && report.is_clean() {
        report.errors.push(format!("verilator exited with {}", out.status));
    }
    if report.is_clean() {
        Ok(report)
    } else {
        Err(SimError::Lint(Box::new(report)))
    }
}

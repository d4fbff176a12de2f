//! `verilator --lint-only -Wall`: the generated RTL must be warning-free, so any warning fails the lint.

use std::path::PathBuf;
use std::time::Instant;

use crate::error::SimError;
use crate::tool::find_verilator;

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
        self.errors
            .iter()
            .chain(&self.warnings)
            .next()
            .map_or("(none)", String::as_str)
    }

    pub fn is_clean(&self) -> bool {
        self.warnings.is_empty() && self.errors.is_empty()
    }

    fn from_output(output: String, seconds: f64) -> Self {
        let starts = |p: &str| -> Vec<String> {
            output
                .lines()
                .filter(|l| l.starts_with(p))
                .map(str::to_string)
                .collect()
        };
        let warnings = starts("%Warning");
        let errors = starts("%Error")
            .into_iter()
            .filter(|l| !l.starts_with("%Error: Exiting due to"))
            .collect();
        LintReport {
            warnings,
            errors,
            output,
            seconds,
        }
    }
}

/// Lints `sources` (dependency order) with `top` as top module. `Ok` only when Verilator reports nothing;
/// otherwise `SimError::Lint` carries the full report.
pub fn lint(sources: &[PathBuf], top: &str) -> Result<LintReport, SimError> {
    let tool = find_verilator()?;
    let start = Instant::now();
    let out = tool
        .command()
        .args(["--lint-only", "-Wall", "--top-module", top])
        .args(sources)
        .output()
        .map_err(SimError::io("run", &tool.path))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut report = LintReport::from_output(text, start.elapsed().as_secs_f64());
    if !out.status.success() && report.is_clean() {
        report
            .errors
            .push(format!("verilator exited with {}", out.status));
    }
    if report.is_clean() {
        Ok(report)
    } else {
        Err(SimError::Lint(Box::new(report)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip() -> bool {
        std::env::var_os("STA_SKIP_VERILATOR_TESTS").is_some()
    }

    fn module(dir: &std::path::Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(format!("{name}.v"));
        let text = format!("module {name} (input wire clk, input wire [3:0] a, output reg [3:0] y);\n{body}\nendmodule\n");
        std::fs::write(&path, text).expect("write test module");
        path
    }

    #[test]
    fn clean_module_passes_and_unused_signal_fails() {
        if skip() {
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let clean = module(dir.path(), "clean", "always @(posedge clk) y <= a;");
        assert!(lint(&[clean], "clean").is_ok_and(|r| r.is_clean()));
        let dirty = module(
            dir.path(),
            "dirty",
            "wire [3:0] spare = a + 4'd1;\nalways @(posedge clk) y <= a;",
        );
        match lint(&[dirty], "dirty") {
            Err(SimError::Lint(report)) => {
                assert!(
                    report.warnings.iter().any(|w| w.contains("UNUSED")),
                    "{}",
                    report.output
                );
                assert!(report.errors.is_empty(), "{:?}", report.errors);
            }
            other => panic!("expected a lint failure, got {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_are_reported_as_errors() {
        if skip() {
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let broken = module(dir.path(), "broken", "always @(posedge clk) y <= ;");
        let Err(SimError::Lint(report)) = lint(&[broken], "broken") else {
            panic!("expected a lint failure")
        };
        assert!(!report.errors.is_empty() && !report.first().starts_with("%Error: Exiting"));
    }
}

//! Running one tool step: working directory = the output's work directory, relative paths only, stdout and stderr
//! into `logs/<step>.log`, wall time measured, progress reported.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::tools::Tool;
use crate::error::{io_context, Result, StaError};

/// Lines of a failed tool's log shown in the error.
pub const TAIL_LINES: usize = 15;

/// Hears about the long steps of a run (`sta sweep` can print its own lines; the CLI draws a spinner).
pub trait Progress: Sync {
    /// `step` (`synth`, `pnr`, `bitstream`) started: `what` says which tool on which design.
    fn started(&self, step: &str, what: &str);
    /// `step` ended after `seconds`, successfully or not.
    fn finished(&self, step: &str, seconds: f64, ok: bool);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn started(&self, _: &str, _: &str) {}
    fn finished(&self, _: &str, _: f64, _: bool) {}
}

/// A spinner with the elapsed time on stderr while a step runs, and one line per finished step; invisible when
/// stderr is not a terminal (indicatif draws nothing then), so CI logs and tests stay quiet.
#[derive(Default)]
pub struct Spinner {
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Progress for Spinner {
    fn started(&self, step: &str, what: &str) {
        let bar = indicatif::ProgressBar::new_spinner().with_message(format!("{step}: {what}"));
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }

    fn finished(&self, step: &str, seconds: f64, ok: bool) {
        if let Some(bar) = self.bar.lock().ok().and_then(|mut slot| slot.take()) {
            if let Ok(style) = indicatif::ProgressStyle::with_template("  {msg}") {
                bar.set_style(style);
            }
            bar.finish_with_message(format!(
                "{step}: {} in {seconds:.1} s",
                if ok { "done" } else { "FAILED" }
            ));
        }
    }
}

/// The last `n` lines of a text file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A step's failure: the error, and the log (relative to the work directory) to keep and point at.
#[derive(Debug)]
pub struct StepError {
    pub error: StaError,
    pub log: Option<String>,
}

impl From<StaError> for StepError {
    fn from(error: StaError) -> Self {
        StepError { error, log: None }
    }
}

/// Runs `tool args` in `work` with output to `work/<log>`; returns the wall time in seconds. A non-zero exit is a
/// [`StaError::Tool`] carrying the last [`TAIL_LINES`] lines of the log.
pub fn run_tool(
    tool: &Tool,
    args: &[String],
    work: &Path,
    log: &str,
    step: &str,
    what: &str,
    progress: &dyn Progress,
) -> std::result::Result<f64, StepError> {
    let log_path = work.join(log);
    let out =
        File::create(&log_path).map_err(io_context(format!("creating {}", log_path.display())))?;
    let err = out
        .try_clone()
        .map_err(io_context(format!("opening {}", log_path.display())))?;
    progress.started(step, what);
    let start = Instant::now();
    let status = Command::new(&tool.path)
        .args(args)
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status();
    let seconds = start.elapsed().as_secs_f64();
    progress.finished(step, seconds, matches!(&status, Ok(s) if s.success()));
    let status = status.map_err(|e| {
        StaError::Tool(format!(
            "cannot start {} ({}): {e}",
            tool.kind.name(),
            tool.path.display()
        ))
    })?;
    if !status.success() {
        return Err(StepError {
            error: StaError::Tool(format!(
                "{} failed ({status}) after {seconds:.1} s; last lines of {log}:\n{}",
                tool.kind.name(),
                tail(&log_path, TAIL_LINES)
            )),
            log: Some(log.to_string()),
        });
    }
    Ok(seconds)
}

/// Result type of the steps.
pub type StepResult<T> = std::result::Result<T, StepError>;

/// Creates a directory inside the work directory.
pub fn make_dir(work: &Path, relative: &str) -> Result<()> {
    let dir = work.join(relative);
    std::fs::create_dir_all(&dir).map_err(io_context(format!("creating {}", dir.display())))
}

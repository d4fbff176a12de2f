//! Running a built simulation on a list of beats.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use serde::Deserialize;
use sta_golden::pe_array::{ActBeat, ArrayShape, ResultBeat, WeightBeat};

use crate::beatfile::{act_line, parse_result_line, weight_line};
use crate::error::SimError;
use crate::sim_build::SimBuild;

const WEIGHTS_FILE: &str = "weights.txt";
const ACTS_FILE: &str = "acts.txt";
const RESULTS_FILE: &str = "results.txt";
const SUMMARY_FILE: &str = "summary.json";

/// Per-run knobs. Probabilities are per cycle and must lie in `[0, 1)` (1 would never make progress).
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Seeds every random choice (gaps, stalls, the junk driven while valid is low): same seed, same run.
    pub seed: u64,
    /// Probability that each input stream withholds valid in a cycle where it has a beat to offer.
    pub in_gap: f64,
    /// Probability that `m_y_tready` is low in a cycle.
    pub out_stall: f64,
    /// Give up (with `SimError::Timeout`) after this many cycles past reset.
    pub max_cycles: u64,
    /// Where the beat files, results and summary go; a temporary directory (deleted afterwards) when `None`.
    pub work_dir: Option<PathBuf>,
    /// Write a VCD trace here; the build needs `BuildOptions::trace`.
    pub vcd: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            seed: 1,
            in_gap: 0.0,
            out_stall: 0.0,
            max_cycles: 1_000_000,
            work_dir: None,
            vcd: None,
        }
    }
}

/// What one run produced. `results` holds every beat received, including any beyond `expected_results`
/// that arrived while the harness drained, so a caller comparing against the golden model sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOutcome {
    pub results: Vec<ResultBeat>,
    /// Clock cycles simulated after reset was released.
    pub cycles: u64,
    pub perf_cycles: u64,
    pub perf_busy: u64,
    pub perf_stall: u64,
    pub err_last: bool,
    /// Wall time of the harness process (file parsing included, build excluded).
    pub wall_seconds: f64,
    /// Time of the harness's cycle loop alone (no process start, beat-file parsing or summary writing).
    pub loop_seconds: f64,
}

/// The harness's `summary.json`.
#[derive(Debug, Deserialize)]
struct Summary {
    status: String,
    message: String,
    cycle: u64,
    cycles: u64,
    perf_cycles: u64,
    perf_busy: u64,
    perf_stall: u64,
    err_last: bool,
    results: u64,
    weights_sent: usize,
    weights_total: usize,
    acts_sent: usize,
    acts_total: usize,
    loop_seconds: f64,
}

impl SimBuild {
    /// Streams `weights`/`acts` through the DUT and collects results until `expected_results` beats have arrived.
    pub fn run(
        &self,
        weights: &[WeightBeat],
        acts: &[ActBeat],
        expected_results: usize,
        opts: &RunOptions,
    ) -> Result<SimOutcome, SimError> {
        self.check_options(opts)?;
        if weights.len() != acts.len() {
            return Err(SimError::BeatCounts {
                weights: weights.len(),
                acts: acts.len(),
            });
        }
        let (dir, _guard) = work_dir(opts)?;
        write_beats(&dir, weights, acts, &self.shape)?;
        let start = Instant::now();
        let output = self.spawn(&dir, expected_results, opts)?;
        let wall_seconds = start.elapsed().as_secs_f64();
        let summary = read_summary(&dir.join(SUMMARY_FILE), &output)?;
        check_summary(&summary, opts.max_cycles)?;
        let results = read_results(&dir.join(RESULTS_FILE), &self.shape)?;
        if results.len() as u64 != summary.results {
            let reason = format!(
                "{} result lines but the summary counts {}",
                results.len(),
                summary.results
            );
            return Err(SimError::Summary {
                path: dir.join(SUMMARY_FILE),
                reason,
            });
        }
        Ok(SimOutcome {
            results,
            cycles: summary.cycles,
            perf_cycles: summary.perf_cycles,
            perf_busy: summary.perf_busy,
            perf_stall: summary.perf_stall,
            err_last: summary.err_last,
            wall_seconds,
            loop_seconds: summary.loop_seconds,
        })
    }

    fn check_options(&self, opts: &RunOptions) -> Result<(), SimError> {
        let prob = |name: &'static str, p: f64| {
            if (0.0..1.0).contains(&p) {
                Ok(())
            } else {
                Err(SimError::InvalidOption {
                    name,
                    value: p.to_string(),
                    expected: "a probability in [0, 1)",
                })
            }
        };
        prob("in_gap", opts.in_gap)?;
        prob("out_stall", opts.out_stall)?;
        if opts.vcd.is_some() && !self.model.trace {
            return Err(SimError::TraceNotBuilt);
        }
        Ok(())
    }

    fn spawn(&self, dir: &Path, expected: usize, opts: &RunOptions) -> Result<Output, SimError> {
        let file = |name: &str| dir.join(name).display().to_string();
        let mut cmd = Command::new(&self.model.binary);
        cmd.arg(format!("+weights={}", file(WEIGHTS_FILE)))
            .arg(format!("+acts={}", file(ACTS_FILE)))
            .arg(format!("+results={}", file(RESULTS_FILE)))
            .arg(format!("+summary={}", file(SUMMARY_FILE)))
            .arg(format!("+expect={expected}"))
            .arg(format!("+seed={}", opts.seed))
            .arg(format!("+in_gap={}", opts.in_gap))
            .arg(format!("+out_stall={}", opts.out_stall))
            .arg(format!("+max_cycles={}", opts.max_cycles));
        if let Some(vcd) = &opts.vcd {
            cmd.arg(format!("+vcd={}", vcd.display()));
        }
        cmd.current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(SimError::io("run", &self.model.binary))
    }
}

/// The run directory, plus the temporary directory guard that deletes it when the run used no `work_dir`.
/// Stale outputs in a reused `work_dir` are removed so an old summary can never be mistaken for this run's.
fn work_dir(opts: &RunOptions) -> Result<(PathBuf, Option<tempfile::TempDir>), SimError> {
    let Some(dir) = &opts.work_dir else {
        let tmp = tempfile::Builder::new()
            .prefix("sta-sim-")
            .tempdir()
            .map_err(SimError::io("create", "a temp dir"))?;
        return Ok((tmp.path().to_path_buf(), Some(tmp)));
    };
    fs::create_dir_all(dir).map_err(SimError::io("create", dir))?;
    for name in [RESULTS_FILE, SUMMARY_FILE] {
        let path = dir.join(name);
        if path.exists() {
            fs::remove_file(&path).map_err(SimError::io("remove", &path))?;
        }
    }
    Ok((dir.clone(), None))
}

fn write_beats(
    dir: &Path,
    weights: &[WeightBeat],
    acts: &[ActBeat],
    shape: &ArrayShape,
) -> Result<(), SimError> {
    let lines: Result<Vec<String>, SimError> = weights
        .iter()
        .enumerate()
        .map(|(i, b)| weight_line(b, i, shape))
        .collect();
    write_lines(&dir.join(WEIGHTS_FILE), &lines?)?;
    let lines: Result<Vec<String>, SimError> = acts
        .iter()
        .enumerate()
        .map(|(i, b)| act_line(b, i, shape))
        .collect();
    write_lines(&dir.join(ACTS_FILE), &lines?)
}

fn write_lines(path: &Path, lines: &[String]) -> Result<(), SimError> {
    let file = fs::File::create(path).map_err(SimError::io("create", path))?;
    let mut w = BufWriter::new(file);
    for line in lines {
        writeln!(w, "{line}").map_err(SimError::io("write", path))?;
    }
    w.flush().map_err(SimError::io("write", path))
}

/// The summary, or `HarnessFailed` when the harness never wrote one (bad input, a crash, or an RTL assertion:
/// Verilator prints those on stdout, so both streams are searched).
fn read_summary(path: &Path, output: &Output) -> Result<Summary, SimError> {
    let Ok(text) = fs::read_to_string(path) else {
        let output_text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        return Err(SimError::HarnessFailed {
            status: output.status.to_string(),
            last_line: headline(&output_text),
            output: output_text,
        });
    };
    serde_json::from_str(&text).map_err(|e| SimError::Summary {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The most telling line of a failed run: its first Verilator `%Error`, else its last non-empty line.
fn headline(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let error = text.lines().find(|l| l.contains("%Error"));
    error
        .or_else(|| lines.next_back())
        .unwrap_or("no output")
        .trim()
        .to_string()
}

/// Maps a non-ok status to its error, and insists every input beat was consumed.
fn check_summary(s: &Summary, max_cycles: u64) -> Result<(), SimError> {
    match s.status.as_str() {
        "ok" => {}
        "timeout" => {
            return Err(SimError::Timeout {
                max_cycles,
                message: s.message.clone(),
            })
        }
        "protocol" => {
            return Err(SimError::Protocol {
                cycle: s.cycle,
                message: s.message.clone(),
            })
        }
        other => {
            return Err(SimError::Summary {
                path: PathBuf::from(SUMMARY_FILE),
                reason: format!("status {other}"),
            })
        }
    }
    if s.weights_sent != s.weights_total || s.acts_sent != s.acts_total {
        return Err(SimError::InputsLeft {
            weights_sent: s.weights_sent,
            weights_total: s.weights_total,
            acts_sent: s.acts_sent,
            acts_total: s.acts_total,
        });
    }
    Ok(())
}

fn read_results(path: &Path, shape: &ArrayShape) -> Result<Vec<ResultBeat>, SimError> {
    let text = fs::read_to_string(path).map_err(SimError::io("read", path))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            parse_result_line(l, shape).map_err(|e| SimError::ResultLine {
                line: i + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headline_prefers_the_first_verilator_error() {
        let text = "[0] %Error: pe.v:70: Assertion failed: ACC_W must be in 17..48\n%Error: pe.v:70: Verilog $stop\nAborting...\n";
        assert_eq!(
            headline(text),
            "[0] %Error: pe.v:70: Assertion failed: ACC_W must be in 17..48"
        );
        assert_eq!(
            headline("harness: bad plusarg +seed=x\n\n"),
            "harness: bad plusarg +seed=x"
        );
        assert_eq!(headline(""), "no output");
    }

    #[test]
    fn timeout_and_protocol_statuses_map_to_their_errors() {
        let summary = |status: &str, sent: usize| Summary {
            status: status.into(),
            message: "m".into(),
            cycle: 7,
            cycles: 9,
            perf_cycles: 9,
            perf_busy: 1,
            perf_stall: 0,
            err_last: false,
            results: 0,
            weights_sent: sent,
            weights_total: 2,
            acts_sent: sent,
            acts_total: 2,
            loop_seconds: 0.0,
        };
        assert!(matches!(
            check_summary(&summary("timeout", 2), 5),
            Err(SimError::Timeout { max_cycles: 5, .. })
        ));
        assert!(matches!(
            check_summary(&summary("protocol", 2), 5),
            Err(SimError::Protocol { cycle: 7, .. })
        ));
        assert!(matches!(
            check_summary(&summary("ok", 1), 5),
            Err(SimError::InputsLeft {
                weights_sent: 1,
                ..
            })
        ));
        assert!(check_summary(&summary("ok", 2), 5).is_ok());
    }
}

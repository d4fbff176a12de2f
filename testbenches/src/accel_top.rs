//! The Verilator harness of the whole accelerator (`templates/accel_top_tb.cpp`, docs/accelerator.md): the same
//! word-stream driver as the narrow-stream harness ([`crate::stream_io`]) for the top's ports (`s_in_*`, `m_out_*`,
//! `err`, `busy`), for any word width W that is a multiple of 32 (words travel as W/32 little-endian chunks, the
//! [`Word`] of `sta_golden::top::isa`), with resets in the middle of a run.
//!
//! [`build_accel_top`] builds (or finds in the shared cache) the model; [`AccelTopSimBuild::run`] plays a stimulus of
//! words and resets under random input gaps and output stalls and returns the words received between resets.

use std::fs;
use std::path::{Path, PathBuf};

use askama::Template;
use serde::Deserialize;
use sta_golden::top::isa::Word;

use crate::error::SimError;
use crate::sim_build::{build_model, BuildOptions, BuiltModel};

/// Cycles `rst` is held high at the start and at each reset item.
pub const RESET_CYCLES: u32 = 5;
/// Cycles the harness runs on after the expected words (and waits for a DUT that has stopped taking words).
pub const DRAIN_CYCLES: u32 = 64;

#[derive(Template)]
#[template(path = "accel_top_tb.cpp", escape = "none")]
struct AccelTopHarness<'a> {
    top: &'a str,
    word_bits: u32,
    hex_digits: usize,
    reset_cycles: u32,
    drain_cycles: u32,
    trace: bool,
}

fn check_word_bits(top: &str, word_bits: u32) -> Result<(), SimError> {
    if word_bits > 0 && word_bits.is_multiple_of(32) && word_bits <= 1024 {
        return Ok(());
    }
    Err(SimError::UnsupportedShape {
        reason: format!(
            "accelerator {top}: word width {word_bits} (the harness takes multiples of 32)"
        ),
    })
}

/// The harness C++ for the accelerator `top` with `word_bits`-bit stream words; `trace` compiles in the VCD writer
/// (`AccelRun::vcd`).
pub fn render_accel_top_harness(
    top: &str,
    word_bits: u32,
    trace: bool,
) -> Result<String, SimError> {
    check_word_bits(top, word_bits)?;
    Ok(AccelTopHarness {
        top,
        word_bits,
        hex_digits: word_bits as usize / 4,
        reset_cycles: RESET_CYCLES,
        drain_cycles: DRAIN_CYCLES,
        trace,
    }
    .render()?)
}

/// One item of a stimulus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StimItem {
    /// A stream word (W/32 chunks).
    Word(Word),
    /// Once every earlier word has been accepted, `idle` more cycles, then a reset.
    Reset { idle: u64 },
}

/// The stimulus file: one hex word or `reset N` per line.
pub fn stimulus_text(items: &[StimItem]) -> String {
    items
        .iter()
        .map(|item| match item {
            StimItem::Word(w) => w.hex() + "\n",
            StimItem::Reset { idle } => format!("reset {idle}\n"),
        })
        .collect()
}

/// Parses the results file into the words received between resets (a `reset` line starts a new segment).
pub fn parse_results(text: &str, word_bits: u32) -> Result<Vec<Vec<(Word, bool)>>, SimError> {
    let mut segments = vec![Vec::new()];
    let chunks = word_bits as usize / 32;
    for (i, line) in text.lines().enumerate() {
        let bad = |reason: &str| SimError::ResultLine {
            line: i + 1,
            reason: reason.to_string(),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "reset" {
            segments.push(Vec::new());
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(hex), Some(last), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad("expected `<hex word> <m_out_tlast>` or `reset`"));
        };
        if hex.len() != chunks * 8 {
            return Err(bad("wrong number of hex digits"));
        }
        // digits only: a multi-byte character would split the chunks off a character boundary, and
        // `from_str_radix` takes a leading '+'
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("bad hex word"));
        }
        let mut word = Vec::with_capacity(chunks);
        for c in (0..chunks).rev() {
            let digits = &hex[c * 8..c * 8 + 8];
            word.push(u32::from_str_radix(digits, 16).map_err(|_| bad("bad hex word"))?);
        }
        let last = match last {
            "0" => false,
            "1" => true,
            _ => return Err(bad("m_out_tlast must be 0 or 1")),
        };
        if let Some(segment) = segments.last_mut() {
            segment.push((Word(word), last));
        }
    }
    Ok(segments)
}

/// A built accelerator simulation.
#[derive(Debug, Clone)]
pub struct AccelTopSimBuild {
    pub top: String,
    pub word_bits: u32,
    pub model: BuiltModel,
}

/// Builds (or finds in the shared cache) the simulation of `sources` (dependency order) with `top` as top module.
pub fn build_accel_top(
    sources: &[PathBuf],
    top: &str,
    word_bits: u32,
    cache_root: &Path,
    options: &BuildOptions,
) -> Result<AccelTopSimBuild, SimError> {
    let harness = render_accel_top_harness(top, word_bits, options.trace)?;
    let model = build_model(sources, top, &harness, cache_root, options)?;
    Ok(AccelTopSimBuild {
        top: top.to_string(),
        word_bits,
        model,
    })
}

/// How a run drives the accelerator: percent of cycles with s_in_tvalid withheld and with m_out_tready low (0..=90
/// each); `max_cycles` 0 means the harness's default limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccelRun {
    pub seed: u64,
    pub in_gap: u32,
    pub out_stall: u32,
    pub max_cycles: u64,
}

impl Default for AccelRun {
    fn default() -> Self {
        AccelRun {
            seed: 1,
            in_gap: 0,
            out_stall: 0,
            max_cycles: 0,
        }
    }
}

/// What a run saw. Cycles count from the end of the last reset.
#[derive(Debug, Clone, PartialEq)]
pub struct AccelOutcome {
    /// The words received (with `m_out_tlast`), one segment per stretch between resets (the last is after the
    /// last reset).
    pub segments: Vec<Vec<(Word, bool)>>,
    /// Cycles up to and including the last word received after the last reset.
    pub cycles: u64,
    /// Words the accelerator took, over the whole run.
    pub words_in: u64,
    pub words_in_total: u64,
    /// Cycles (after the last reset) in which the first and last word were taken.
    pub first_in: u64,
    pub last_in: u64,
    /// `err` and `busy` after the last cycle.
    pub err: bool,
    pub busy: bool,
    pub wall_seconds: f64,
}

impl AccelOutcome {
    /// The words received after the last reset.
    pub fn last_segment(&self) -> &[(Word, bool)] {
        self.segments.last().map(Vec::as_slice).unwrap_or(&[])
    }
}

#[derive(Debug, Deserialize)]
struct Summary {
    status: String,
    message: String,
    cycle: u64,
    cycles: u64,
    words_in: u64,
    words_in_total: u64,
    first_in: u64,
    last_in: u64,
    err: bool,
    busy: bool,
}

impl AccelTopSimBuild {
    /// Plays `items` and collects `expect_words` words after the last reset (plus any that follow). A protocol
    /// violation or a hang is an error; input words the accelerator never took are not (after an error it stops
    /// taking them): see [`AccelOutcome::words_in`].
    pub fn run(
        &self,
        items: &[StimItem],
        expect_words: usize,
        run: &AccelRun,
    ) -> Result<AccelOutcome, SimError> {
        self.run_traced(items, expect_words, run, None)
    }

    /// [`run`](Self::run), writing a VCD trace to `vcd` (the model must be built with `BuildOptions::trace`).
    pub fn run_traced(
        &self,
        items: &[StimItem],
        expect_words: usize,
        run: &AccelRun,
        vcd: Option<&Path>,
    ) -> Result<AccelOutcome, SimError> {
        for (name, v) in [("in_gap", run.in_gap), ("out_stall", run.out_stall)] {
            if v > 90 {
                return Err(SimError::InvalidOption {
                    name,
                    value: v.to_string(),
                    expected: "a percentage 0..=90",
                });
            }
        }
        let chunks = self.word_bits as usize / 32;
        if let Some(StimItem::Word(w)) = items
            .iter()
            .find(|i| matches!(i, StimItem::Word(w) if w.0.len() != chunks))
        {
            return Err(SimError::Hex {
                reason: format!("a word of {} chunks for W = {}", w.0.len(), self.word_bits),
            });
        }
        let tmp = tempfile::Builder::new()
            .prefix("sta-accel-top-sim-")
            .tempdir()
            .map_err(SimError::io("create", "a temp dir"))?;
        let dir = tmp.path();
        let (stim, results, summary_path) = (
            dir.join("stimulus.txt"),
            dir.join("results.txt"),
            dir.join("summary.json"),
        );
        fs::write(&stim, stimulus_text(items)).map_err(SimError::io("write", &stim))?;
        let mut plusargs = vec![
            format!("+stim={}", stim.display()),
            format!("+results={}", results.display()),
            format!("+summary={}", summary_path.display()),
            format!("+expect={expect_words}"),
            format!("+seed={}", run.seed),
            format!("+in_gap={}", run.in_gap),
            format!("+out_stall={}", run.out_stall),
        ];
        if run.max_cycles > 0 {
            plusargs.push(format!("+max_cycles={}", run.max_cycles));
        }
        if let Some(vcd) = vcd {
            if !self.model.trace {
                return Err(SimError::TraceNotBuilt);
            }
            plusargs.push(format!("+vcd={}", vcd.display()));
        }
        let (summary, wall_seconds): (Summary, f64) =
            self.model.run_harness(dir, &plusargs, &summary_path)?;
        match summary.status.as_str() {
            "ok" => {}
            "timeout" => {
                return Err(SimError::Timeout {
                    max_cycles: summary.cycle,
                    message: summary.message,
                })
            }
            _ => {
                return Err(SimError::Protocol {
                    cycle: summary.cycle,
                    message: summary.message,
                })
            }
        }
        let text = fs::read_to_string(&results).map_err(SimError::io("read", &results))?;
        Ok(AccelOutcome {
            segments: parse_results(&text, self.word_bits)?,
            cycles: summary.cycles,
            words_in: summary.words_in,
            words_in_total: summary.words_in_total,
            first_in: summary.first_in,
            last_in: summary.last_in,
            err: summary.err,
            busy: summary.busy,
            wall_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harness_renders_for_wide_words_only() {
        let text = render_accel_top_harness("sta_top_x", 64, false).unwrap_or_default();
        assert!(
            text.contains("#include \"Vsta_top_x.h\"") && text.contains("constexpr int W = 64;")
        );
        assert!(text.contains("exactly 16 hex digits") && !text.contains("verilated_vcd_c.h"));
        let traced = render_accel_top_harness("sta_top_x", 64, true).unwrap_or_default();
        assert!(traced.contains("verilated_vcd_c.h") && traced.contains("HAS_TRACE = true"));
        assert!(
            render_accel_top_harness("x", 48, false).is_err()
                && render_accel_top_harness("x", 8, false).is_err()
        );
    }

    #[test]
    fn stimulus_and_results_round_trip() {
        let items = [
            StimItem::Word(Word(vec![0x1234_5678, 0x9abc_def0])),
            StimItem::Reset { idle: 7 },
            StimItem::Word(Word(vec![1, 0])),
        ];
        assert_eq!(
            stimulus_text(&items),
            "9abcdef012345678\nreset 7\n0000000000000001\n"
        );
        let segments = parse_results("9abcdef012345678 0\nreset\n0000000000000001 1\n", 64)
            .unwrap_or_default();
        assert_eq!(segments.len(), 2);
        assert_eq!(
            segments[0],
            vec![(Word(vec![0x1234_5678, 0x9abc_def0]), false)]
        );
        assert_eq!(segments[1], vec![(Word(vec![1, 0]), true)]);
        assert!(parse_results("12 1\n", 64).is_err() && parse_results("zz 1\n", 32).is_err());
        assert!(parse_results("0000000000000001 2\n", 64).is_err());
    }
}

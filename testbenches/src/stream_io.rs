//! The Verilator harness of the narrow-stream I/O wrapper (`templates/stream_io_tb.cpp`, docs/stream-io.md): one
//! harness for every `<inner>_io<W>`, since all wrappers have the same ports (`clk`, `rst`, `s_tdata[W]`, `s_tvalid`,
//! `s_tready`, `m_tdata[W]`, `m_tlast`, `m_tvalid`, `m_tready`, `err`).
//!
//! The harness plays input words with random valid gaps, takes output words under random ready stalls, checks every
//! cycle that a stalled output holds still, and writes the words it received with their `m_tlast`. It needs nothing
//! but Verilator and a C++ compiler, so a design directory ships it ([`harness_files`]) with a make fragment and the
//! golden words for a take-home simulation. The text formats are [`words_text`] (stimulus: one hex word per line) and
//! [`output_text`] (results and expected words: `<hex word> <m_tlast>` per line).

use std::fs;
use std::path::{Path, PathBuf};

use askama::Template;
use serde::Deserialize;

use crate::error::SimError;
use crate::harness::{BITS_HEADER, TB_HEADER};
use crate::sim_build::{build_model, BuildOptions, BuiltModel};

/// File name of the rendered harness in a take-home testbench.
pub const HARNESS_FILE: &str = "stream_io_tb.cpp";

#[derive(Template)]
#[template(path = "stream_io_tb.cpp", escape = "none")]
struct StreamIoHarness<'a> {
    top: &'a str,
    word_bits: u32,
    hex_digits: usize,
}

fn hex_digits(word_bits: u32) -> usize {
    word_bits.div_ceil(4).max(1) as usize
}

fn check_word_bits(module: &str, word_bits: u32) -> Result<(), SimError> {
    if (1..=32).contains(&word_bits) {
        return Ok(());
    }
    Err(SimError::UnsupportedShape {
        reason: format!(
            "stream wrapper {module}: word width {word_bits} (the harness takes 1..=32)"
        ),
    })
}

/// The harness C++ for the wrapper `top` with `word_bits`-bit words.
pub fn render_stream_io_harness(top: &str, word_bits: u32) -> Result<String, SimError> {
    check_word_bits(top, word_bits)?;
    let harness = StreamIoHarness {
        top,
        word_bits,
        hex_digits: hex_digits(word_bits),
    };
    Ok(harness.render()?)
}

/// What a standalone build needs: (file name, contents) of the harness and the two helper headers it includes.
pub fn harness_files(top: &str, word_bits: u32) -> Result<Vec<(&'static str, String)>, SimError> {
    Ok(vec![
        (HARNESS_FILE, render_stream_io_harness(top, word_bits)?),
        ("sta_tb.h", TB_HEADER.to_string()),
        ("sta_bits.h", BITS_HEADER.to_string()),
    ])
}

fn hex_word(word: u64, word_bits: u32) -> String {
    format!("{word:0width$x}", width = hex_digits(word_bits))
}

/// Stimulus text: one word per line, exactly ⌈W/4⌉ hex digits.
pub fn words_text(words: &[u64], word_bits: u32) -> String {
    words
        .iter()
        .map(|&w| hex_word(w, word_bits) + "\n")
        .collect()
}

/// Results / expected text: `<hex word> <m_tlast>` per line.
pub fn output_text(words: &[(u64, bool)], word_bits: u32) -> String {
    words
        .iter()
        .map(|&(w, last)| format!("{} {}\n", hex_word(w, word_bits), u8::from(last)))
        .collect()
}

/// Parses [`output_text`].
pub fn parse_output_text(text: &str) -> Result<Vec<(u64, bool)>, SimError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let bad = |reason: &str| SimError::ResultLine {
                line: i + 1,
                reason: reason.to_string(),
            };
            let mut fields = line.split_whitespace();
            let (Some(word), Some(last), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(bad("expected `<hex word> <m_tlast>`"));
            };
            let word = u64::from_str_radix(word, 16).map_err(|_| bad("bad hex word"))?;
            match last {
                "0" => Ok((word, false)),
                "1" => Ok((word, true)),
                _ => Err(bad("m_tlast must be 0 or 1")),
            }
        })
        .collect()
}

/// A built wrapper simulation.
#[derive(Debug, Clone)]
pub struct StreamIoSimBuild {
    pub module: String,
    pub word_bits: u32,
    pub model: BuiltModel,
}

/// Builds (or finds in the shared cache) the simulation of `sources` (dependency order, the wrapper among them) with
/// the wrapper `module` as top.
pub fn build_stream_io(
    sources: &[PathBuf],
    module: &str,
    word_bits: u32,
    cache_root: &Path,
    options: &BuildOptions,
) -> Result<StreamIoSimBuild, SimError> {
    let harness = render_stream_io_harness(module, word_bits)?;
    let model = build_model(sources, module, &harness, cache_root, options)?;
    Ok(StreamIoSimBuild {
        module: module.to_string(),
        word_bits,
        model,
    })
}

/// How a run drives the wrapper: percent of cycles with s_tvalid withheld and with m_tready low (0..=90 each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamIoRun {
    pub seed: u64,
    pub in_gap: u32,
    pub out_stall: u32,
}

impl Default for StreamIoRun {
    fn default() -> Self {
        StreamIoRun {
            seed: 1,
            in_gap: 0,
            out_stall: 0,
        }
    }
}

/// What a run saw. Cycles count from the end of reset; a "beat end" is the cycle of a word with `m_tlast`.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamIoOutcome {
    /// Every word received, with its `m_tlast`, including any beyond the expected count.
    pub words: Vec<(u64, bool)>,
    /// Cycles up to and including the last word received.
    pub cycles: u64,
    /// Cycles the first and the last input word were accepted.
    pub first_in: u64,
    pub last_in: u64,
    /// Cycle of every word received with `m_tlast`.
    pub beat_ends: Vec<u64>,
    /// `err` after the last cycle.
    pub err: bool,
    pub wall_seconds: f64,
}

impl StreamIoOutcome {
    /// Steady-state cycles per output beat: the spacing of the first and last beat ends (`None` below two beats).
    pub fn cycles_per_beat(&self) -> Option<f64> {
        match self.beat_ends.as_slice() {
            [first, .., last] => Some((last - first) as f64 / (self.beat_ends.len() - 1) as f64),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Summary {
    status: String,
    message: String,
    cycle: u64,
    cycles: u64,
    words_out: u64,
    beats_out: u64,
    first_in: u64,
    last_in: u64,
    err: bool,
}

impl StreamIoSimBuild {
    /// Streams `words` in and collects `expect_words` words out (plus any extra that follow). A protocol violation, a
    /// hang, or input words left untaken is an error.
    pub fn run(
        &self,
        words: &[u64],
        expect_words: usize,
        run: &StreamIoRun,
    ) -> Result<StreamIoOutcome, SimError> {
        for (name, v) in [("in_gap", run.in_gap), ("out_stall", run.out_stall)] {
            if v > 90 {
                return Err(SimError::InvalidOption {
                    name,
                    value: v.to_string(),
                    expected: "a percentage 0..=90",
                });
            }
        }
        let tmp = tempfile::Builder::new()
            .prefix("sta-stream-io-sim-")
            .tempdir()
            .map_err(SimError::io("create", "a temp dir"))?;
        let dir = tmp.path();
        let (stim, results, summary_path, ends) = (
            dir.join("stimulus.hex"),
            dir.join("results.hex"),
            dir.join("summary.json"),
            dir.join("beat_ends.txt"),
        );
        fs::write(&stim, words_text(words, self.word_bits))
            .map_err(SimError::io("write", &stim))?;
        let plusargs = [
            format!("+stim={}", stim.display()),
            format!("+results={}", results.display()),
            format!("+summary={}", summary_path.display()),
            format!("+beat_ends={}", ends.display()),
            format!("+expect={expect_words}"),
            format!("+seed={}", run.seed),
            format!("+in_gap={}", run.in_gap),
            format!("+out_stall={}", run.out_stall),
        ];
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
        let received = parse_output_text(&text)?;
        let text = fs::read_to_string(&ends).map_err(SimError::io("read", &ends))?;
        let beat_ends = text
            .lines()
            .map(|l| l.trim().parse::<u64>())
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|e| SimError::Summary {
                path: ends.clone(),
                reason: e.to_string(),
            })?;
        if received.len() as u64 != summary.words_out || beat_ends.len() as u64 != summary.beats_out
        {
            return Err(SimError::Summary {
                path: summary_path,
                reason: format!(
                    "{} result lines and {} beat ends but the summary counts {} words and {} beats",
                    received.len(),
                    beat_ends.len(),
                    summary.words_out,
                    summary.beats_out
                ),
            });
        }
        Ok(StreamIoOutcome {
            words: received,
            cycles: summary.cycles,
            first_in: summary.first_in,
            last_in: summary.last_in,
            beat_ends,
            err: summary.err,
            wall_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harness_renders_for_any_wrapper() {
        let text = render_stream_io_harness("sta_softmax_p4_l64_s4_io16", 16).unwrap_or_default();
        assert!(text.contains("#include \"Vsta_softmax_p4_l64_s4_io16.h\""));
        assert!(text.contains("constexpr int W = 16;"));
        assert!(text.contains("exactly 4 hex digits"));
        assert!(render_stream_io_harness("x", 33).is_err());
        let files = harness_files("x_io8", 8).unwrap_or_default();
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, [HARNESS_FILE, "sta_tb.h", "sta_bits.h"]);
    }

    #[test]
    fn text_formats_round_trip() {
        assert_eq!(words_text(&[0x5, 0xab], 8), "05\nab\n");
        assert_eq!(words_text(&[0x5], 32), "00000005\n");
        let out = [(0x1234u64, false), (0xbeef, true)];
        let text = output_text(&out, 16);
        assert_eq!(text, "1234 0\nbeef 1\n");
        assert_eq!(parse_output_text(&text).ok(), Some(out.to_vec()));
        assert!(matches!(
            parse_output_text("12 2\n"),
            Err(SimError::ResultLine { line: 1, .. })
        ));
        assert!(parse_output_text("zz 1\n").is_err() && parse_output_text("12\n").is_err());
    }
}

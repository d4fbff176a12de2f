//! The Verilator harness of the softmax unit (`templates/softmax_tb.cpp`): build, stream rows, collect outputs.
//!
//! The unit has AXI-stream style ports `s_tdata[P*SW]`, `s_tkeep[P]`, `s_tlast`, `s_tvalid`, `s_tready` and the same
//! on the output side (`m_*`, `m_tdata[P*OB]`). The harness streams rows with random valid gaps and ready stalls and checks every
//! cycle that a stalled output holds still and that each output row has exactly its input row's beats, `m_tlast`
//! and `m_tkeep`. Values are compared by the caller (against `sta_golden::SoftmaxNumerics::softmax_row`).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use askama::Template;
use serde::Deserialize;

use crate::error::SimError;
use crate::sim_build::{build_model, BuildOptions, BuiltModel};

#[derive(Template)]
#[template(path = "softmax_tb.cpp", escape = "none")]
struct SoftmaxHarness<'a> {
    top: &'a str,
    lanes: usize,
    score_bits: u32,
    output_bits: u32,
}

/// The port widths of a softmax unit: P lanes of SW-bit scores in, P lanes of OB-bit probabilities out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftmaxPorts {
    pub lanes: usize,
    /// SW, 8..=16.
    pub score_bits: u32,
    /// OB, 7..=8.
    pub output_bits: u32,
}

impl SoftmaxPorts {
    /// INT8 scores, 8-bit outputs.
    pub fn int8(lanes: usize) -> SoftmaxPorts {
        SoftmaxPorts {
            lanes,
            score_bits: 8,
            output_bits: 8,
        }
    }
}

/// A built softmax simulation.
#[derive(Debug, Clone)]
pub struct SoftmaxSimBuild {
    pub module: String,
    pub ports: SoftmaxPorts,
    pub model: BuiltModel,
}

/// Random valid gaps on the input and ready stalls on the output, in percent of cycles (0..=90).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SoftmaxStalls {
    pub in_gap: u32,
    pub out_stall: u32,
}

/// One row's outputs and timing (cycles counted from the end of reset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftmaxRowOut {
    pub y: Vec<u8>,
    pub first_in: u64,
    pub last_in: u64,
    pub first_out: u64,
    pub last_out: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxOutcome {
    pub rows: Vec<SoftmaxRowOut>,
    /// Cycles from the end of reset to the last output beat (inclusive).
    pub cycles: u64,
    pub wall_seconds: f64,
    /// Time of the harness's cycle loop alone (no process start or file I/O).
    pub loop_seconds: f64,
}

#[derive(Debug, Deserialize)]
struct Summary {
    status: String,
    message: String,
    cycles: u64,
    loop_seconds: f64,
}

/// Builds (or finds in the shared cache) the simulation of `sources` (the unit's RTL in dependency order, or a
/// netlist) with `module` as top and the port widths `ports`.
pub fn build_softmax(
    sources: &[PathBuf],
    module: &str,
    ports: SoftmaxPorts,
    cache_root: &Path,
    options: &BuildOptions,
) -> Result<SoftmaxSimBuild, SimError> {
    let SoftmaxPorts {
        lanes,
        score_bits,
        output_bits,
    } = ports;
    if !(1..=64).contains(&lanes)
        || !(8..=16).contains(&score_bits)
        || !(7..=8).contains(&output_bits)
    {
        return Err(SimError::UnsupportedShape {
            reason: format!(
                "softmax unit {module}: lanes {lanes} (1..=64), score bits {score_bits} (8..=16), output bits \
                 {output_bits} (7..=8)"
            ),
        });
    }
    let harness = SoftmaxHarness {
        top: module,
        lanes,
        score_bits,
        output_bits,
    }
    .render()?;
    let model = build_model(sources, module, &harness, cache_root, options)?;
    Ok(SoftmaxSimBuild {
        module: module.to_string(),
        ports,
        model,
    })
}

impl SoftmaxSimBuild {
    /// Streams `rows` (each 1.. elements, signed SW-bit codes) through the unit; returns every row's outputs and
    /// timing. A protocol violation or a timeout is `SimError::Protocol`.
    pub fn run<S: Copy + Into<i64>>(
        &self,
        rows: &[Vec<S>],
        stalls: SoftmaxStalls,
        seed: u64,
    ) -> Result<SoftmaxOutcome, SimError> {
        for (name, v) in [("in_gap", stalls.in_gap), ("out_stall", stalls.out_stall)] {
            if v > 90 {
                return Err(SimError::InvalidOption {
                    name,
                    value: v.to_string(),
                    expected: "a percentage 0..=90",
                });
            }
        }
        if let Some(i) = rows.iter().position(Vec::is_empty) {
            return Err(SimError::InvalidOption {
                name: "rows",
                value: format!("row {i} is empty"),
                expected: "rows of at least one element",
            });
        }
        let sw = self.ports.score_bits;
        let half = 1i64 << (sw - 1);
        if let Some(v) = rows
            .iter()
            .flatten()
            .map(|&s| s.into())
            .find(|v| !(-half..half).contains(v))
        {
            return Err(SimError::InvalidOption {
                name: "rows",
                value: format!("score {v}"),
                expected: "signed codes of the unit's score width",
            });
        }
        let digits = sw.div_ceil(4) as usize;
        let mask = (1u64 << sw) - 1;
        let tmp = tempfile::Builder::new()
            .prefix("sta-softmax-sim-")
            .tempdir()
            .map_err(SimError::io("create", "a temp dir"))?;
        let dir = tmp.path();
        let stim = dir.join("stim.txt");
        {
            let file = fs::File::create(&stim).map_err(SimError::io("create", &stim))?;
            let mut w = BufWriter::new(file);
            for row in rows {
                let mut line = row.len().to_string();
                for &s in row {
                    line.push_str(&format!(" {:0digits$x}", s.into() as u64 & mask));
                }
                writeln!(w, "{line}").map_err(SimError::io("write", &stim))?;
            }
            w.flush().map_err(SimError::io("write", &stim))?;
        }
        let results = dir.join("results.txt");
        let summary_path = dir.join("summary.json");
        let plusargs = [
            format!("+stim={}", stim.display()),
            format!("+results={}", results.display()),
            format!("+summary={}", summary_path.display()),
            format!("+seed={seed}"),
            format!("+in_gap={}", stalls.in_gap),
            format!("+out_stall={}", stalls.out_stall),
        ];
        let (summary, wall_seconds): (Summary, f64) =
            self.model.run_harness(dir, &plusargs, &summary_path)?;
        if summary.status != "ok" {
            return Err(SimError::Protocol {
                cycle: summary.cycles,
                message: summary.message,
            });
        }
        let rows_out = read_results(&results, rows)?;
        Ok(SoftmaxOutcome {
            rows: rows_out,
            cycles: summary.cycles,
            wall_seconds,
            loop_seconds: summary.loop_seconds,
        })
    }
}

fn read_results<S>(path: &Path, rows: &[Vec<S>]) -> Result<Vec<SoftmaxRowOut>, SimError> {
    let text = fs::read_to_string(path).map_err(SimError::io("read", path))?;
    let mut out = Vec::with_capacity(rows.len());
    for (n, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let bad = |reason: &str| SimError::ResultLine {
            line: n + 1,
            reason: reason.to_string(),
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 {
            return Err(bad("expected `row first_in last_in first_out last_out y…`"));
        }
        let num = |i: usize| f[i].parse::<u64>().map_err(|_| bad("bad number"));
        let y = f[5..]
            .iter()
            .map(|h| u8::from_str_radix(h, 16).map_err(|_| bad("bad hex")))
            .collect::<Result<Vec<u8>, _>>()?;
        if rows.get(n).map(Vec::len) != Some(y.len()) {
            return Err(bad("output row length differs from the input row"));
        }
        out.push(SoftmaxRowOut {
            y,
            first_in: num(1)?,
            last_in: num(2)?,
            first_out: num(3)?,
            last_out: num(4)?,
        });
    }
    if out.len() != rows.len() {
        return Err(SimError::ResultLine {
            line: out.len(),
            reason: format!("{} result rows for {} input rows", out.len(), rows.len()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harness_renders_for_the_unit() {
        let text = SoftmaxHarness {
            top: "sta_softmax_p4_l64_s4_sw16_o7",
            lanes: 4,
            score_bits: 16,
            output_bits: 7,
        }
        .render()
        .unwrap_or_default();
        assert!(text.contains("#include \"Vsta_softmax_p4_l64_s4_sw16_o7.h\""));
        assert!(text.contains("constexpr int P = 4;"));
        assert!(text.contains("constexpr int SW = 16;") && text.contains("constexpr int OB = 7;"));
    }
}

//! The Verilator harness of a PWL LUT approximator (`templates/pwl_tb.cpp`): build, stimulus, run.
//!
//! The unit has the ports `clk`, `rst`, `in_valid`, `in_data[7:0]`, `out_valid`, `out_data[OW-1:0]` and a fixed
//! latency. A stimulus is one [`PwlStep`] per clock cycle. The harness checks, every cycle, that each accepted input
//! comes out exactly `latency` cycles later and that `out_valid` is never high otherwise (a reset cycle drops the
//! inputs in flight); the outputs come back tagged with the index of their input, so the caller compares values.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use askama::Template;
use serde::Deserialize;

use crate::error::SimError;
use crate::sim_build::{build_model, BuildOptions, BuiltModel};

const STIM_FILE: &str = "stim.txt";
const RESULTS_FILE: &str = "results.txt";
const SUMMARY_FILE: &str = "summary.json";

/// Cycles `rst` is held high before the stimulus (`in_valid` random meanwhile: the reset must win).
const RESET_CYCLES: u32 = 4;
/// Idle cycles after the last due output: a spurious `out_valid` would show up here.
const DRAIN_CYCLES: u32 = 8;
/// Input width of the harness: the golden model's approximators take INT8 codes.
const IN_BITS: u32 = 8;

#[derive(Template)]
#[template(path = "pwl_tb.cpp", escape = "none")]
struct PwlHarness<'a> {
    top: &'a str,
    in_bits: u32,
    out_bits: u32,
    latency: u32,
    reset_cycles: u32,
    drain_cycles: u32,
}

/// What the harness needs to know about the unit: its module name, output width and latency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PwlPorts {
    pub module: String,
    /// OW, 1..=64.
    pub output_bits: u32,
    /// Cycles from `in_valid` to `out_valid`, at least 1.
    pub latency: u32,
}

/// One clock cycle of stimulus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PwlStep {
    /// `in_valid` high with this code.
    Input(i8),
    /// `in_valid` low, junk on `in_data`.
    Idle,
    /// `rst` high (with `in_valid` random): every input in flight is dropped.
    Reset,
}

/// A built PWL simulation.
#[derive(Debug, Clone)]
pub struct PwlSimBuild {
    pub ports: PwlPorts,
    pub model: BuiltModel,
}

/// The outputs of one run, in the order they appeared: (index of the input among the stimulus's inputs, value
/// sign-extended from OW bits).
#[derive(Debug, Clone, PartialEq)]
pub struct PwlOutcome {
    pub outputs: Vec<(usize, i64)>,
    /// Inputs the unit accepted (every `PwlStep::Input`).
    pub accepted: u64,
    /// Clock cycles after the initial reset.
    pub cycles: u64,
    pub wall_seconds: f64,
}

#[derive(Debug, Deserialize)]
struct Summary {
    status: String,
    message: String,
    cycle: u64,
    cycles: u64,
    accepted: u64,
    results: u64,
}

fn render(ports: &PwlPorts) -> Result<String, SimError> {
    if !(1..=64).contains(&ports.output_bits) || ports.latency == 0 {
        return Err(SimError::UnsupportedShape {
            reason: format!(
                "PWL unit {}: output_bits {} (1..=64) and latency {} (>= 1)",
                ports.module, ports.output_bits, ports.latency
            ),
        });
    }
    let harness = PwlHarness {
        top: &ports.module,
        in_bits: IN_BITS,
        out_bits: ports.output_bits,
        latency: ports.latency,
        reset_cycles: RESET_CYCLES,
        drain_cycles: DRAIN_CYCLES,
    };
    Ok(harness.render()?)
}

/// Builds (or finds in the shared cache) the simulation of `sources` (the unit's RTL or a Yosys netlist of it).
pub fn build_pwl(
    sources: &[PathBuf],
    ports: &PwlPorts,
    cache_root: &Path,
    options: &BuildOptions,
) -> Result<PwlSimBuild, SimError> {
    let harness = render(ports)?;
    let model = build_model(sources, &ports.module, &harness, cache_root, options)?;
    Ok(PwlSimBuild {
        ports: ports.clone(),
        model,
    })
}

/// The standard exhaustive stimulus: all 256 codes in ascending order (−128 first) with seeded random idle gaps
/// (about one cycle in four), a back-to-back burst of all 256 in a scrambled order, then a burst cut by a reset
/// (the inputs in flight are lost) and resumed. Every code is accepted at least twice with nothing lost.
pub fn exhaustive_stimulus(seed: u64) -> Vec<PwlStep> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut steps = Vec::new();
    for code in i8::MIN..=i8::MAX {
        while next() % 4 == 0 {
            steps.push(PwlStep::Idle);
        }
        steps.push(PwlStep::Input(code));
    }
    // 167 is odd, so code·167 mod 256 visits every code once
    steps.extend((0..256u32).map(|i| PwlStep::Input(((i * 167 + 13) % 256) as u8 as i8)));
    steps.extend([-128i8, 127, -1, 0, 1].map(PwlStep::Input));
    steps.push(PwlStep::Reset);
    steps.extend([127i8, -128, 64, -64].map(PwlStep::Input));
    steps
}

/// The input codes of a stimulus, in order (what output `i` of a run must be the golden value of).
pub fn input_codes(steps: &[PwlStep]) -> Vec<i8> {
    steps
        .iter()
        .filter_map(|s| match s {
            PwlStep::Input(q) => Some(*q),
            _ => None,
        })
        .collect()
}

/// The indices (among the stimulus's inputs) that must come out: all but those still in flight at a reset.
pub fn expected_indices(steps: &[PwlStep], latency: u32) -> Vec<usize> {
    let mut out = Vec::new();
    let mut in_flight: Vec<(usize, usize)> = Vec::new(); // (index, cycle it was accepted)
    let mut index = 0;
    for (cycle, step) in steps.iter().enumerate() {
        // outputs due in this cycle leave before its rising edge
        in_flight.retain(|&(i, c)| {
            let done = c + latency as usize <= cycle;
            if done {
                out.push(i);
            }
            !done
        });
        match step {
            PwlStep::Input(_) => {
                in_flight.push((index, cycle));
                index += 1;
            }
            PwlStep::Reset => in_flight.clear(),
            PwlStep::Idle => {}
        }
    }
    out.extend(in_flight.iter().map(|&(i, _)| i));
    out
}

impl PwlSimBuild {
    /// Plays `steps` (one per cycle) and returns the outputs; `seed` drives the junk on idle cycles. Any latency or
    /// `out_valid` violation is `SimError::Protocol`.
    pub fn run(
        &self,
        steps: &[PwlStep],
        seed: u64,
        work_dir: Option<&Path>,
    ) -> Result<PwlOutcome, SimError> {
        let tmp;
        let dir = match work_dir {
            Some(d) => {
                fs::create_dir_all(d).map_err(SimError::io("create", d))?;
                d.to_path_buf()
            }
            None => {
                tmp = tempfile::Builder::new()
                    .prefix("sta-pwl-sim-")
                    .tempdir()
                    .map_err(SimError::io("create", "a temp dir"))?;
                tmp.path().to_path_buf()
            }
        };
        for name in [RESULTS_FILE, SUMMARY_FILE] {
            let path = dir.join(name);
            if path.exists() {
                fs::remove_file(&path).map_err(SimError::io("remove", &path))?;
            }
        }
        write_stimulus(&dir.join(STIM_FILE), steps)?;
        let file = |name: &str| dir.join(name).display().to_string();
        let plusargs = [
            format!("+stim={}", file(STIM_FILE)),
            format!("+results={}", file(RESULTS_FILE)),
            format!("+summary={}", file(SUMMARY_FILE)),
            format!("+seed={seed}"),
        ];
        let summary_path = dir.join(SUMMARY_FILE);
        let (summary, wall_seconds): (Summary, f64) =
            self.model.run_harness(&dir, &plusargs, &summary_path)?;
        if summary.status != "ok" {
            return Err(SimError::Protocol {
                cycle: summary.cycle,
                message: summary.message,
            });
        }
        let outputs = read_outputs(&dir.join(RESULTS_FILE), self.ports.output_bits)?;
        if outputs.len() as u64 != summary.results {
            return Err(SimError::Summary {
                path: summary_path,
                reason: format!(
                    "{} result lines but the summary counts {}",
                    outputs.len(),
                    summary.results
                ),
            });
        }
        Ok(PwlOutcome {
            outputs,
            accepted: summary.accepted,
            cycles: summary.cycles,
            wall_seconds,
        })
    }
}

fn write_stimulus(path: &Path, steps: &[PwlStep]) -> Result<(), SimError> {
    let file = fs::File::create(path).map_err(SimError::io("create", path))?;
    let mut w = BufWriter::new(file);
    for step in steps {
        let line = match step {
            PwlStep::Input(q) => format!("d {:02x}", *q as u8),
            PwlStep::Idle => "i".to_string(),
            PwlStep::Reset => "r".to_string(),
        };
        writeln!(w, "{line}").map_err(SimError::io("write", path))?;
    }
    w.flush().map_err(SimError::io("write", path))
}

/// Parses `index HEX` lines; HEX is OW bits, sign-extended here.
fn read_outputs(path: &Path, bits: u32) -> Result<Vec<(usize, i64)>, SimError> {
    let text = fs::read_to_string(path).map_err(SimError::io("read", path))?;
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |reason: &str| SimError::ResultLine {
            line: n + 1,
            reason: format!("{reason}: {line:?}"),
        };
        let mut fields = line.split_whitespace();
        let (Some(index), Some(hex), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad("expected `index HEX`"));
        };
        let index: usize = index.parse().map_err(|_| bad("bad index"))?;
        let raw = u64::from_str_radix(hex, 16).map_err(|_| bad("bad hex"))?;
        let unused = 64 - bits;
        out.push((index, ((raw << unused) as i64) >> unused));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stimulus_covers_every_code_and_the_reset_drops_what_is_in_flight() {
        let steps = exhaustive_stimulus(5);
        let inputs: Vec<i8> = input_codes(&steps);
        for code in i8::MIN..=i8::MAX {
            assert!(inputs.iter().filter(|&&q| q == code).count() >= 2, "{code}");
        }
        assert!(steps.contains(&PwlStep::Idle));
        let expected = expected_indices(&steps, 3);
        // the reset follows 5 back-to-back inputs: the last two (still in flight) are lost, the rest come out
        assert_eq!(expected.len(), inputs.len() - 2);
        let lost: Vec<usize> = (0..inputs.len())
            .filter(|i| !expected.contains(i))
            .collect();
        assert_eq!(lost, vec![inputs.len() - 6, inputs.len() - 5]);
    }

    #[test]
    fn expected_indices_at_the_latency_boundary() {
        use PwlStep::*;
        // input at cycle 0 is due in cycle 3, sampled before the reset's edge in cycle 3: delivered
        assert_eq!(expected_indices(&[Input(1), Idle, Idle, Reset], 3), vec![0]);
        assert_eq!(
            expected_indices(&[Input(1), Idle, Reset], 3),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn harness_renders_for_the_unit() {
        let ports = PwlPorts {
            module: "sta_pwl_x".into(),
            output_bits: 12,
            latency: 3,
        };
        let text = render(&ports).unwrap_or_default();
        assert!(
            text.contains("#include \"Vsta_pwl_x.h\"")
                && text.contains("constexpr int OUT_BITS = 12;")
        );
        assert!(render(&PwlPorts {
            latency: 0,
            ..ports
        })
        .is_err());
    }

    #[test]
    fn outputs_are_sign_extended() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("r.txt");
        std::fs::write(&path, "0 80\n1 7f\n2 ff\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            read_outputs(&path, 8).ok(),
            Some(vec![(0, -128), (1, 127), (2, -1)])
        );
        std::fs::write(&path, "0 80 1\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(read_outputs(&path, 8).is_err());
    }
}

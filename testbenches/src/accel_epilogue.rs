//! The Verilator harness of the accelerator's epilogue (`templates/epilogue_tb.cpp`): build, stimulus, run, and the
//! comparison of every lane of every beat with the golden model (`sta_golden::accel::epilogue_beat`).
//!
//! The unit has the ports `clk`, `rst`, `in_valid`, `in_mode[1:0]`, `in_acc[L*ACC_W]`, `in_bias[32]`,
//! `in_mult[15]`, `in_shift[6]`, `in_rshift[5]`, `in_gsel[4]`, `in_skip[L*8]`, `out_valid`, `out_data[L*24]` and a
//! fixed latency. A stimulus is one [`EpilogueStep`] per clock cycle. The harness checks, every cycle, that each
//! accepted beat comes out exactly `latency` cycles later and that `out_valid` is never high otherwise (a reset
//! cycle drops the beats in flight); [`EpilogueSimBuild::check`] then compares the values.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use askama::Template;
use serde::Deserialize;
use sta_golden::accel::{epilogue_beat, EpilogueMode, EpilogueParams};
use sta_golden::pwl::PwlTable;

use crate::beatfile::{pack_i8_lanes, pack_lanes, unpack_signed_lanes};
use crate::error::SimError;
use crate::sim_build::{build_model, BuildOptions, BuiltModel};

const STIM_FILE: &str = "stim.txt";
const RESULTS_FILE: &str = "results.txt";
const SUMMARY_FILE: &str = "summary.json";

/// Cycles `rst` is held high before the stimulus (`in_valid` random meanwhile: the reset must win).
const RESET_CYCLES: u32 = 4;
/// Idle cycles after the last due output: a spurious `out_valid` would show up here.
const DRAIN_CYCLES: u32 = 8;
/// Width of one output lane.
const OUT_LANE_BITS: u32 = 24;

#[derive(Template)]
#[template(path = "epilogue_tb.cpp", escape = "none")]
struct EpilogueHarness<'a> {
    top: &'a str,
    lanes: usize,
    acc_bits: u32,
    latency: u32,
    reset_cycles: u32,
    drain_cycles: u32,
}

/// What the harness and the golden comparison need to know about the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpilogueConfig {
    pub module: String,
    /// L, 1..=64.
    pub lanes: usize,
    /// ACC_W, 17..=48.
    pub acc_width: u32,
    /// SW of the REQS mode.
    pub score_bits: u32,
    /// Cycles from `in_valid` to `out_valid`, at least 1.
    pub latency: u32,
    /// The GELU tables baked into the unit, in `in_gsel` order.
    pub tables: Vec<PwlTable>,
}

/// One beat: a mode, the channel's constants and L lanes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpilogueBeat {
    pub mode: EpilogueMode,
    pub params: EpilogueParams,
    /// Accumulators, each a signed ACC_W-bit value.
    pub accs: Vec<i64>,
    /// Skip codes (RESID; driven in every mode).
    pub skips: Vec<i8>,
}

/// One clock cycle of stimulus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpilogueStep {
    /// `in_valid` high with this beat.
    Beat(EpilogueBeat),
    /// `in_valid` low, junk on every other input.
    Idle,
    /// `rst` high (with `in_valid` and the fields random): every beat in flight is dropped.
    Reset,
}

/// A built epilogue simulation.
#[derive(Debug, Clone)]
pub struct EpilogueSimBuild {
    pub config: EpilogueConfig,
    pub model: BuiltModel,
}

/// The outputs of one run, in the order they appeared: (index of the beat among the stimulus's beats, its L lanes
/// sign-extended from 24 bits).
#[derive(Debug, Clone, PartialEq)]
pub struct EpilogueOutcome {
    pub outputs: Vec<(usize, Vec<i32>)>,
    /// Beats the unit accepted (every `EpilogueStep::Beat`).
    pub accepted: u64,
    /// Clock cycles after the initial reset.
    pub cycles: u64,
    pub wall_seconds: f64,
}

/// What [`EpilogueSimBuild::check`] compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpilogueCheck {
    pub beats: usize,
    pub lanes: usize,
    /// GELU beats whose `gelu_select` has no table: the hardware's output is not defined, so they are not compared.
    pub unchecked_beats: usize,
}

/// A disagreement with the golden model or with the expected sequence of outputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpilogueCheckError {
    #[error(
        "output {position} belongs to beat {got:?} but beat {expected:?} was due (beats lost or out of order)"
    )]
    Sequence {
        position: usize,
        expected: Option<usize>,
        got: Option<usize>,
    },
    #[error(
        "{mismatches} lane(s) differ from the golden model; first: beat {beat} lane {lane}: {mode} acc = {acc} \
         skip = {skip} bias = {bias} mult = {mult} shift = {shift} rshift = {rshift} gsel = {gsel}: expected \
         {expected}, got {got}"
    )]
    Mismatch {
        mismatches: usize,
        beat: usize,
        lane: usize,
        mode: EpilogueMode,
        acc: i64,
        skip: i8,
        bias: i32,
        mult: u32,
        shift: u32,
        rshift: u32,
        gsel: usize,
        expected: i32,
        got: i32,
    },
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

fn render(config: &EpilogueConfig) -> Result<String, SimError> {
    if !(1..=64).contains(&config.lanes)
        || !(1..=63).contains(&config.acc_width)
        || config.latency == 0
    {
        return Err(SimError::UnsupportedShape {
            reason: format!(
                "epilogue {}: lanes {} (1..=64), acc_width {} (1..=63), latency {} (>= 1)",
                config.module, config.lanes, config.acc_width, config.latency
            ),
        });
    }
    let harness = EpilogueHarness {
        top: &config.module,
        lanes: config.lanes,
        acc_bits: config.acc_width,
        latency: config.latency,
        reset_cycles: RESET_CYCLES,
        drain_cycles: DRAIN_CYCLES,
    };
    Ok(harness.render()?)
}

/// Builds (or finds in the shared cache) the simulation of `sources` (the unit's modules, leaves first, or a Yosys
/// netlist of them).
pub fn build_epilogue(
    sources: &[PathBuf],
    config: &EpilogueConfig,
    cache_root: &Path,
    options: &BuildOptions,
) -> Result<EpilogueSimBuild, SimError> {
    let harness = render(config)?;
    let model = build_model(sources, &config.module, &harness, cache_root, options)?;
    Ok(EpilogueSimBuild {
        config: config.clone(),
        model,
    })
}

/// The indices (among the stimulus's beats) that must come out: all but those still in flight at a reset.
pub fn epilogue_expected_indices(steps: &[EpilogueStep], latency: u32) -> Vec<usize> {
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
            EpilogueStep::Beat(_) => {
                in_flight.push((index, cycle));
                index += 1;
            }
            EpilogueStep::Reset => in_flight.clear(),
            EpilogueStep::Idle => {}
        }
    }
    out.extend(in_flight.iter().map(|&(i, _)| i));
    out
}

fn field_error(field: &'static str, beat: usize, value: String) -> SimError {
    SimError::InvalidOption {
        name: field,
        value: format!("{value} (beat {beat})"),
        expected: "a value that fits its port (acc: signed ACC_W bits, mult: 15 bits, shift: 6, rshift: 5, gsel: 4)",
    }
}

/// The stimulus line of one beat; checks lane counts and that every field fits its port.
fn beat_line(
    beat: &EpilogueBeat,
    index: usize,
    config: &EpilogueConfig,
) -> Result<String, SimError> {
    let lanes = config.lanes;
    for (field, got) in [("accs", beat.accs.len()), ("skips", beat.skips.len())] {
        if got != lanes {
            return Err(SimError::BeatLanes {
                stream: "epilogue",
                beat: index,
                field,
                expected: lanes,
                got,
            });
        }
    }
    let half = 1i64 << (config.acc_width - 1);
    if let Some(&acc) = beat.accs.iter().find(|&&a| !(-half..half).contains(&a)) {
        return Err(field_error("acc", index, acc.to_string()));
    }
    let p = &beat.params;
    for (name, value, bits) in [
        ("mult", u64::from(p.scale.mult), 15),
        ("shift", u64::from(p.scale.shift), 6),
        ("rshift", u64::from(p.residual_shift), 5),
        ("gsel", p.gelu_select as u64, 4),
    ] {
        if value >> bits != 0 {
            return Err(field_error(name, index, value.to_string()));
        }
    }
    let mask = (1u64 << config.acc_width) - 1;
    let accs: Vec<u64> = beat.accs.iter().map(|&a| a as u64 & mask).collect();
    Ok(format!(
        "d {:x} {:08x} {:04x} {:02x} {:02x} {:x} {} {}",
        beat.mode.code(),
        p.bias as u32,
        p.scale.mult,
        p.scale.shift,
        p.residual_shift,
        p.gelu_select,
        pack_lanes(&accs, config.acc_width),
        pack_i8_lanes(&beat.skips)
    ))
}

fn write_stimulus(
    path: &Path,
    steps: &[EpilogueStep],
    config: &EpilogueConfig,
) -> Result<(), SimError> {
    let file = fs::File::create(path).map_err(SimError::io("create", path))?;
    let mut w = BufWriter::new(file);
    let mut index = 0;
    for step in steps {
        let line = match step {
            EpilogueStep::Beat(beat) => {
                index += 1;
                beat_line(beat, index - 1, config)?
            }
            EpilogueStep::Idle => "i".to_string(),
            EpilogueStep::Reset => "r".to_string(),
        };
        writeln!(w, "{line}").map_err(SimError::io("write", path))?;
    }
    w.flush().map_err(SimError::io("write", path))
}

/// Parses `index HEX` lines; HEX is the L·24-bit `out_data`, split into sign-extended lanes.
fn read_outputs(path: &Path, lanes: usize) -> Result<Vec<(usize, Vec<i32>)>, SimError> {
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
        let values = unpack_signed_lanes(hex, lanes, OUT_LANE_BITS)?;
        // 24-bit lanes sign-extended: always inside i32
        out.push((index, values.into_iter().map(|v| v as i32).collect()));
    }
    Ok(out)
}

impl EpilogueSimBuild {
    /// Plays `steps` (one per cycle) and returns the outputs; `seed` drives the junk on idle cycles. Any latency or
    /// `out_valid` violation is `SimError::Protocol`.
    pub fn run(
        &self,
        steps: &[EpilogueStep],
        seed: u64,
        work_dir: Option<&Path>,
    ) -> Result<EpilogueOutcome, SimError> {
        let tmp;
        let dir = match work_dir {
            Some(d) => {
                fs::create_dir_all(d).map_err(SimError::io("create", d))?;
                d.to_path_buf()
            }
            None => {
                tmp = tempfile::Builder::new()
                    .prefix("sta-epilogue-sim-")
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
        write_stimulus(&dir.join(STIM_FILE), steps, &self.config)?;
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
        let outputs = read_outputs(&dir.join(RESULTS_FILE), self.config.lanes)?;
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
        Ok(EpilogueOutcome {
            outputs,
            accepted: summary.accepted,
            cycles: summary.cycles,
            wall_seconds,
        })
    }

    /// Compares `outcome` (a run of `steps`) with the golden model: the outputs must be exactly the beats that were
    /// not lost to a reset, in order, and every lane must equal `epilogue_beat`. GELU beats whose table index is out
    /// of range are counted but not compared.
    pub fn check(
        &self,
        steps: &[EpilogueStep],
        outcome: &EpilogueOutcome,
    ) -> Result<EpilogueCheck, EpilogueCheckError> {
        check_outputs(&self.config, steps, outcome)
    }
}

fn check_outputs(
    config: &EpilogueConfig,
    steps: &[EpilogueStep],
    outcome: &EpilogueOutcome,
) -> Result<EpilogueCheck, EpilogueCheckError> {
    let beats: Vec<&EpilogueBeat> = steps
        .iter()
        .filter_map(|s| match s {
            EpilogueStep::Beat(b) => Some(b),
            _ => None,
        })
        .collect();
    let expected = epilogue_expected_indices(steps, config.latency);
    let got: Vec<usize> = outcome.outputs.iter().map(|(i, _)| *i).collect();
    if let Some(position) = (0..expected.len().max(got.len()))
        .find(|&p| expected.get(p) != got.get(p) || beats.len() <= got[p])
    {
        return Err(EpilogueCheckError::Sequence {
            position,
            expected: expected.get(position).copied(),
            got: got.get(position).copied(),
        });
    }
    let mut first = None;
    let (mut mismatches, mut lanes, mut unchecked_beats) = (0, 0, 0);
    for (index, values) in &outcome.outputs {
        let beat = beats[*index];
        if beat.mode == EpilogueMode::Gelu && beat.params.gelu_select >= config.tables.len() {
            unchecked_beats += 1;
            continue;
        }
        let want = epilogue_beat(
            beat.mode,
            &beat.accs,
            &beat.params,
            &beat.skips,
            &config.tables,
            config.score_bits,
        );
        for (lane, (&w, &g)) in want.iter().zip(values).enumerate() {
            lanes += 1;
            if w != g {
                mismatches += 1;
                first.get_or_insert((*index, lane, w, g));
            }
        }
    }
    match first {
        None => Ok(EpilogueCheck {
            beats: outcome.outputs.len(),
            lanes,
            unchecked_beats,
        }),
        Some((index, lane, expected, got)) => {
            let beat = beats[index];
            let p = &beat.params;
            Err(EpilogueCheckError::Mismatch {
                mismatches,
                beat: index,
                lane,
                mode: beat.mode,
                acc: beat.accs[lane],
                skip: beat.skips[lane],
                bias: p.bias,
                mult: p.scale.mult,
                shift: p.scale.shift,
                rshift: p.residual_shift,
                gsel: p.gelu_select,
                expected,
                got,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sta_golden::encoder::program::{default_gelu_table, Scale};

    fn config(lanes: usize, acc_width: u32) -> EpilogueConfig {
        EpilogueConfig {
            module: "sta_epilogue_x".into(),
            lanes,
            acc_width,
            score_bits: 16,
            latency: 3,
            tables: vec![default_gelu_table(4).unwrap_or_else(|| panic!("table"))],
        }
    }

    fn beat(mode: EpilogueMode, accs: Vec<i64>, skips: Vec<i8>) -> EpilogueBeat {
        EpilogueBeat {
            mode,
            params: EpilogueParams {
                bias: -1,
                scale: Scale {
                    mult: 0x7fff,
                    shift: 47,
                },
                residual_shift: 24,
                gelu_select: 0,
            },
            accs,
            skips,
        }
    }

    #[test]
    fn beat_lines_pack_every_field_at_its_port_width() {
        let c = config(2, 20);
        let b = beat(EpilogueMode::Reqs, vec![-1, (1 << 19) - 1], vec![-128, 1]);
        assert_eq!(
            beat_line(&b, 0, &c).ok().as_deref(),
            Some("d 3 ffffffff 7fff 2f 18 0 7fffffffff 0180")
        );
        let wide = beat(EpilogueMode::Req8, vec![1 << 19, 0], vec![0, 0]);
        assert!(matches!(
            beat_line(&wide, 4, &c),
            Err(SimError::InvalidOption { name: "acc", .. })
        ));
        let short = beat(EpilogueMode::Req8, vec![0], vec![0, 0]);
        assert!(matches!(
            beat_line(&short, 0, &c),
            Err(SimError::BeatLanes { field: "accs", .. })
        ));
        let mut gsel = beat(EpilogueMode::Gelu, vec![0, 0], vec![0, 0]);
        gsel.params.gelu_select = 16;
        assert!(beat_line(&gsel, 0, &c).is_err());
    }

    #[test]
    fn harness_renders_for_the_unit() {
        let c = config(3, 32);
        let text = render(&c).unwrap_or_default();
        assert!(text.contains("#include \"Vsta_epilogue_x.h\""));
        assert!(
            text.contains("constexpr int LANES = 3;")
                && text.contains("constexpr int ACC_BITS = 32;")
        );
        assert!(render(&EpilogueConfig { latency: 0, ..c }).is_err());
    }

    #[test]
    fn the_check_finds_the_first_mismatch_and_lost_beats() {
        use EpilogueStep::*;
        let c = config(2, 32);
        let b = beat(EpilogueMode::Req8, vec![5, -5], vec![0, 0]);
        let mut b2 = b.clone();
        b2.params.scale = Scale { mult: 3, shift: 1 };
        let steps = vec![Beat(b.clone()), Idle, Beat(b2.clone()), Idle, Idle, Idle];
        assert_eq!(epilogue_expected_indices(&steps, 3), vec![0, 1]);
        // (5 - 1)·3 / 2 = 6, (−5 − 1)·3 / 2 = −9; the first beat's huge shift rounds everything to 0
        let outcome = |outputs| EpilogueOutcome {
            outputs,
            accepted: 2,
            cycles: 6,
            wall_seconds: 0.0,
        };
        let good = outcome(vec![(0, vec![0, 0]), (1, vec![6, -9])]);
        assert_eq!(
            check_outputs(&c, &steps, &good),
            Ok(EpilogueCheck {
                beats: 2,
                lanes: 4,
                unchecked_beats: 0
            })
        );
        let bad = outcome(vec![(0, vec![0, 0]), (1, vec![6, -8])]);
        let err = check_outputs(&c, &steps, &bad).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "1 lane(s) differ from the golden model; first: beat 1 lane 1: REQ8 acc = -5 skip = 0 bias = -1 \
                 mult = 3 shift = 1 rshift = 24 gsel = 0: expected -9, got -8"
            )
        );
        let lost = outcome(vec![(1, vec![6, -9])]);
        assert!(matches!(
            check_outputs(&c, &steps, &lost),
            Err(EpilogueCheckError::Sequence { position: 0, .. })
        ));
        // a reset two cycles after the second beat drops it
        let reset = vec![Beat(b), Idle, Beat(b2), Idle, Reset, Idle, Idle];
        assert_eq!(epilogue_expected_indices(&reset, 3), vec![0]);
    }

    #[test]
    fn outputs_are_split_into_signed_24_bit_lanes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("r.txt");
        std::fs::write(&path, "0 800000000001\n7 7fffffffffff\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            read_outputs(&path, 2).ok(),
            Some(vec![(0, vec![1, -(1 << 23)]), (7, vec![-1, (1 << 23) - 1])])
        );
        std::fs::write(&path, "0 80\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(read_outputs(&path, 2).is_err());
    }
}

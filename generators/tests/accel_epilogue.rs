//! The accelerator's epilogue (`sta_hdl::accel::epilogue`, `hdl/templates/sta_epilogue.v`) against the golden model
//! (`sta_golden::accel::epilogue_beat`): every lane of every beat through Verilator for L = 4 and L = 16 (ACC_W 32,
//! SW 16, the encoder's six GELU tables) and L = 5 with ACC_W 48, SW 12 and a table list of its own (a duplicate, two
//! tables of one format, 12- and 5-bit outputs). Each run has thousands of random beats in every mode (random
//! constants, shifts aimed near the output range so both saturations and the exact values occur) plus corner beats
//! (mult 0 and 32767, shift 0/1/47 and up to 63, rshift 0/24 and up to 31, accumulators at ±2^(ACC_W−1), bias
//! extremes, skip −128/127, rounding ties, every saturation boundary, every GELU table over all 256 input codes), idle
//! gaps and resets in the middle of bursts; `verilator --lint-only -Wall`; Yosys `synth` + `check -assert` of L = 4
//! (cell counts printed) and a simulation of the gate-level netlist of L = 2.
//!
//! The default set (`make test`, CI) leaves out L = 16 (L = 4 with more lanes) and simulates the netlist of L = 1
//! instead of L = 2; `STA_TEST_FULL=1` (`make test-full`) runs all of the above.
//!
//! `cargo test -p sta-generators --test accel_epilogue -- --nocapture` (prints the cell counts)

mod common;

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_generators::yosys::{parse_stat, synth_check, write_netlist, CellCounts};
use sta_golden::accel::{EpilogueMode, EpilogueParams};
use sta_golden::encoder::program::Scale;
use sta_golden::pwl::{PwlFormat, PwlTable};
use sta_hdl::accel::epilogue::{default_gelu_tables, emit_epilogue, EpilogueUnit};
use sta_testbenches::accel_epilogue::{
    build_epilogue, EpilogueBeat, EpilogueCheck, EpilogueConfig, EpilogueStep,
};
use sta_testbenches::{BuildOptions, SimError};

fn cache_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("sta-epilogue-cache")
}

/// Writes the unit's modules into `dir`, leaves first; returns their paths.
fn write_unit(unit: &EpilogueUnit, dir: &Path) -> Vec<PathBuf> {
    emit_epilogue(unit)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|m| {
            let path = dir.join(format!("{}.v", m.name));
            std::fs::write(&path, &m.text).unwrap_or_else(|e| panic!("{e}"));
            path
        })
        .collect()
}

fn config(unit: &EpilogueUnit) -> EpilogueConfig {
    EpilogueConfig {
        module: unit.module_name(),
        lanes: unit.lanes(),
        acc_width: unit.acc_width(),
        score_bits: unit.score_bits(),
        latency: unit.latency(),
        tables: unit.tables().to_vec(),
    }
}

fn lint_clean(sources: &[PathBuf], top: &str) {
    match sta_testbenches::lint(sources, top) {
        Ok(report) => assert!(report.is_clean(), "{top}: {:#?}", report.warnings),
        Err(SimError::Lint(report)) => panic!("{top}: lint:\n{}", report.output),
        Err(e) => panic!("{top}: {e}"),
    }
}

fn format(d_in: u32, cw: u32, fk: u32, ow: u32, d_out: u32) -> PwlFormat {
    PwlFormat {
        input_frac_bits: d_in,
        coeff_bits: cw,
        coeff_frac_bits: fk,
        output_bits: ow,
        output_frac_bits: d_out,
    }
}

/// A table list of the test's own: D_G = 4, the same format with one intercept changed (the two need distinct
/// module names), a 12-bit output that saturates to 8 bits both ways, D_G = 4 again (shares its module), a 5-bit
/// output (sign-extended to 8), D_G = 7.
fn other_tables() -> Vec<PwlTable> {
    let d = default_gelu_tables();
    let mut changed = d[2].clone();
    changed.intercepts[7] += 3;
    let wide = PwlTable {
        format: format(3, 12, 4, 12, 3),
        breakpoints: vec![-100, -20, 0, 30, 90],
        slopes: vec![-2048, 300, -7, 2047, 16, -900],
        intercepts: vec![2047, -2048, 5, -300, 1000, 40],
    };
    let narrow = PwlTable {
        format: format(4, 8, 6, 5, 2),
        breakpoints: vec![-64, 0, 64],
        slopes: vec![-128, 64, 127, -3],
        intercepts: vec![100, -7, -128, 127],
    };
    vec![
        d[2].clone(),
        changed,
        wide,
        d[2].clone(),
        narrow,
        d[5].clone(),
    ]
}

/// The random and corner beats of one unit.
struct Stimulus {
    rng: ChaCha8Rng,
    lanes: usize,
    acc_width: u32,
    score_bits: u32,
    tables: usize,
}

impl Stimulus {
    fn new(unit: &EpilogueUnit, seed: u64) -> Self {
        Stimulus {
            rng: ChaCha8Rng::seed_from_u64(seed),
            lanes: unit.lanes(),
            acc_width: unit.acc_width(),
            score_bits: unit.score_bits(),
            tables: unit.tables().len(),
        }
    }

    fn acc_min(&self) -> i64 {
        -(1i64 << (self.acc_width - 1))
    }

    fn acc_max(&self) -> i64 {
        (1i64 << (self.acc_width - 1)) - 1
    }

    /// A signed value of a random bit length up to `bits`: small and large magnitudes equally likely.
    fn signed(&mut self, bits: u32) -> i64 {
        let b = self.rng.gen_range(0..=bits);
        if b == 0 {
            return 0;
        }
        let half = 1i64 << (b - 1);
        self.rng.gen_range(-half..half)
    }

    /// A signed value of `bits` − 3 to `bits` bits.
    fn near(&mut self, bits: u32) -> i64 {
        let b = self.rng.gen_range(bits.saturating_sub(3)..=bits);
        if b == 0 {
            return 0;
        }
        let half = 1i64 << (b - 1);
        self.rng.gen_range(-half..half)
    }

    fn skip(&mut self) -> i8 {
        match self.rng.gen_range(0..10) {
            0 => -128,
            1 => 127,
            _ => self.rng.gen(),
        }
    }

    /// Output width the shift aims at: near it both saturations and the exact range occur.
    fn target_bits(&self, mode: EpilogueMode) -> i64 {
        match mode {
            EpilogueMode::Req8 | EpilogueMode::Gelu => 8,
            EpilogueMode::Reqs => i64::from(self.score_bits),
            EpilogueMode::Resid => 24,
        }
    }

    fn random_beat(&mut self, mode: EpilogueMode) -> EpilogueBeat {
        // the beat's magnitude: every lane's accumulator is drawn below it, some lanes at the extremes
        let acc_bits = self.rng.gen_range(0..=self.acc_width);
        let accs: Vec<i64> = (0..self.lanes)
            .map(|_| match self.rng.gen_range(0..20) {
                0 => self.acc_min(),
                1 => self.acc_max(),
                2..=5 => self.signed(acc_bits),
                // most lanes near the beat's magnitude, where the aimed shift puts them near the output range
                _ => self.near(acc_bits),
            })
            .collect();
        let skips = (0..self.lanes).map(|_| self.skip()).collect();
        let bias = match self.rng.gen_range(0..20) {
            0 => i32::MIN,
            1 => i32::MAX,
            2..=9 => 0,
            _ => self.signed(acc_bits.min(32)) as i32,
        };
        let mult = match self.rng.gen_range(0..20) {
            0 => 0,
            1 => 32767,
            _ => self.signed(16).unsigned_abs() as u32 & 0x7fff,
        };
        let mult_bits = 32 - mult.leading_zeros();
        let aimed = i64::from(acc_bits + mult_bits) - self.target_bits(mode);
        let shift = match self.rng.gen_range(0..20) {
            // the port's full range: the unit is exact beyond the contract's 47
            0 => self.rng.gen_range(0..64),
            1..=3 => self.rng.gen_range(0..=47),
            _ => (aimed + self.rng.gen_range(-3..=3)).clamp(0, 47) as u32,
        };
        let residual_shift = match self.rng.gen_range(0..20) {
            0 => self.rng.gen_range(25..32),
            1 => 24,
            2 => 0,
            _ => self.rng.gen_range(0..=24),
        };
        // every mode but GELU ignores the select: drive any value
        let gelu_select = match mode {
            EpilogueMode::Gelu => self.rng.gen_range(0..self.tables),
            _ => self.rng.gen_range(0..16),
        };
        EpilogueBeat {
            mode,
            params: EpilogueParams {
                bias,
                scale: Scale { mult, shift },
                residual_shift,
                gelu_select,
            },
            accs,
            skips,
        }
    }

    /// `values` spread over beats of L lanes (the last one padded with its first value).
    fn spread(
        &mut self,
        mode: EpilogueMode,
        params: EpilogueParams,
        values: &[i64],
    ) -> Vec<EpilogueBeat> {
        values
            .chunks(self.lanes)
            .map(|chunk| {
                let accs: Vec<i64> = (0..self.lanes)
                    .map(|l| chunk.get(l).copied().unwrap_or(chunk[0]))
                    .collect();
                let skips = (0..self.lanes).map(|_| self.skip()).collect();
                EpilogueBeat {
                    mode,
                    params,
                    accs,
                    skips,
                }
            })
            .collect()
    }

    fn corner_beats(&mut self) -> Vec<EpilogueBeat> {
        let p = |bias, mult, shift, residual_shift, gelu_select| EpilogueParams {
            bias,
            scale: Scale { mult, shift },
            residual_shift,
            gelu_select,
        };
        let extremes = [
            self.acc_min(),
            self.acc_min() + 1,
            -1,
            0,
            1,
            self.acc_max() - 1,
            self.acc_max(),
        ];
        let mut beats = Vec::new();
        // every mode × mult 0/32767 × shift 0/1/47 × bias extremes × rshift 0/24, accumulators at the extremes
        // (rotated so that every lane sees each), skips at −128/127
        let mut turn = 0;
        for mode in EpilogueMode::ALL {
            for mult in [0, 1, 32767] {
                for shift in [0, 1, 47] {
                    for bias in [i32::MIN, -1, 0, i32::MAX] {
                        for rs in [0, 24] {
                            turn += 1;
                            let accs = (0..self.lanes)
                                .map(|l| extremes[(l + turn) % extremes.len()])
                                .collect();
                            let skips = (0..self.lanes)
                                .map(|l| if (l + turn) % 2 == 0 { -128 } else { 127 })
                                .collect();
                            beats.push(EpilogueBeat {
                                mode,
                                params: p(bias, mult, shift, rs, turn % self.tables),
                                accs,
                                skips,
                            });
                        }
                    }
                }
            }
        }
        // rounding ties: odd multiples of 2^(s−1), both signs
        for shift in 1..=4u32 {
            let half = 1i64 << (shift - 1);
            let ties: Vec<i64> = (-7..=7).step_by(2).map(|k| k * half).collect();
            for mode in EpilogueMode::ALL {
                beats.extend(self.spread(mode, p(0, 1, shift, 0, 0), &ties));
            }
        }
        // the saturation boundaries of every width, exact (mult 1, shift 0), also reached through the bias
        let sw = self.score_bits;
        let mut edges = Vec::new();
        for bits in [8, sw, 24] {
            let h = 1i64 << (bits - 1);
            edges.extend([h - 2, h - 1, h, h + 1, -h - 1, -h, -h + 1]);
        }
        let edges: Vec<i64> = edges
            .into_iter()
            .filter(|&v| (self.acc_min()..=self.acc_max()).contains(&v))
            .collect();
        for mode in EpilogueMode::ALL {
            beats.extend(self.spread(mode, p(0, 1, 0, 0, 0), &edges));
            let shifted: Vec<i64> = edges.iter().map(|&v| v - 1000).collect();
            beats.extend(self.spread(mode, p(1000, 1, 0, 0, 0), &shifted));
        }
        // RESID: skip << 24 at both ends plus a branch that crosses ±2^23 (skip −128/127 lifted by 16: ±2^23 region)
        for skip in [-128i8, 127] {
            for branch in [-(1i64 << 23), -1, 0, 1, (1 << 23) - 1, 2048, -2048] {
                let accs = vec![branch.clamp(self.acc_min(), self.acc_max()); self.lanes];
                beats.push(EpilogueBeat {
                    mode: EpilogueMode::Resid,
                    params: p(0, 1, 0, 16, 0),
                    accs,
                    skips: vec![skip; self.lanes],
                });
            }
        }
        // every GELU table over all 256 codes: mult 1 shift 0 makes q the code itself; mult 2 shift 1 and a bias that
        // the accumulator cancels reach it through the rounding and the sum
        let codes: Vec<i64> = (-128..=127).collect();
        for g in 0..self.tables {
            beats.extend(self.spread(EpilogueMode::Gelu, p(0, 1, 0, 0, g), &codes));
            let biased: Vec<i64> = codes.iter().map(|&c| c - 77).collect();
            beats.extend(self.spread(EpilogueMode::Gelu, p(77, 2, 1, 0, g), &biased));
        }
        beats
    }

    /// Corner beats, then `random` random beats (modes uniform), with idle gaps (1–3 idle cycles after about one beat
    /// in four, among the first 20 of every 50; the other 30 back-to-back), a reset in the middle and two resets in a
    /// row later on (each right after a beat, so beats are in flight).
    fn steps(&mut self, random: usize) -> Vec<EpilogueStep> {
        let mut beats = self.corner_beats();
        for _ in 0..random {
            let mode = EpilogueMode::ALL[self.rng.gen_range(0..4)];
            beats.push(self.random_beat(mode));
        }
        let n = beats.len();
        let mut steps = Vec::new();
        for (i, beat) in beats.into_iter().enumerate() {
            steps.push(EpilogueStep::Beat(beat));
            if i == n / 2 {
                steps.push(EpilogueStep::Reset);
            } else if i == 3 * n / 4 {
                steps.extend([EpilogueStep::Reset, EpilogueStep::Reset]);
            } else if i % 50 < 20 && self.rng.gen_range(0..4) == 0 {
                // gaps among the first 20 beats of every 50, then a burst of 30 back-to-back
                let idle = self.rng.gen_range(1..=3);
                steps.extend(std::iter::repeat_n(EpilogueStep::Idle, idle));
            }
        }
        steps
    }
}

/// Builds `sources` (RTL or netlist) for `unit`, plays `steps` and compares every lane with the golden model.
fn simulate(
    unit: &EpilogueUnit,
    sources: &[PathBuf],
    steps: &[EpilogueStep],
    seed: u64,
) -> EpilogueCheck {
    let sim = match build_epilogue(
        sources,
        &config(unit),
        &cache_root(),
        &BuildOptions::default(),
    ) {
        Ok(sim) => sim,
        Err(SimError::BuildFailed { tail, .. }) => panic!("build failed:\n{tail}"),
        Err(e) => panic!("{e}"),
    };
    let outcome = sim
        .run(steps, seed, None)
        .unwrap_or_else(|e| panic!("{}: {e}", unit.module_name()));
    let check = sim
        .check(steps, &outcome)
        .unwrap_or_else(|e| panic!("{}: {e}", unit.module_name()));
    let beats = steps
        .iter()
        .filter(|s| matches!(s, EpilogueStep::Beat(_)))
        .count();
    assert!(
        check.beats < beats,
        "the resets dropped the beats in flight"
    );
    assert_eq!(check.unchecked_beats, 0);
    eprintln!(
        "{}: {} beats ({} lanes) equal the golden model; model built in {:.1} s (cache hit: {}), run {:.2} s",
        unit.module_name(),
        check.beats,
        check.lanes,
        sim.model.build_seconds,
        sim.model.cache_hit,
        outcome.wall_seconds
    );
    check
}

/// Lint, then every mode in Verilator against the golden model.
fn verify(unit: &EpilogueUnit, random: usize, seed: u64) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sources = write_unit(unit, dir.path());
    lint_clean(&sources, &unit.module_name());
    let steps = Stimulus::new(unit, seed).steps(random);
    simulate(unit, &sources, &steps, seed);
}

#[test]
fn l4_acc32_matches_the_golden_model_in_every_mode() {
    let unit = EpilogueUnit::with_default_tables(4, 32, 16).unwrap_or_else(|e| panic!("{e}"));
    verify(&unit, 8000, 1);
}

/// Full set only: the same unit and checks as L = 4 with more lanes.
#[test]
fn l16_acc32_matches_the_golden_model_in_every_mode() {
    if common::skip_unless_full("L = 16 (L = 4 runs in the default set)") {
        return;
    }
    let unit = EpilogueUnit::with_default_tables(16, 32, 16).unwrap_or_else(|e| panic!("{e}"));
    verify(&unit, 3000, 2);
}

#[test]
fn acc48_with_its_own_tables_matches_the_golden_model() {
    let unit = EpilogueUnit::new(5, 48, 12, other_tables()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        unit.luts().len(),
        5,
        "the duplicate D_G = 4 table shares a module"
    );
    verify(&unit, 5000, 3);
}

/// The cell counts of `section` (`=== name ===`) in the last statistics of a Yosys log.
fn cells(log: &str, section: &str) -> CellCounts {
    let stats = &log[log.rfind("Printing statistics").unwrap_or(0)..];
    let at = stats
        .find(&format!("=== {section} ==="))
        .unwrap_or_else(|| panic!("no statistics of {section}"));
    parse_stat(&stats[at..]).unwrap_or_else(|| panic!("no cell count for {section}"))
}

/// Yosys: generic synthesis of L = 4 with `check -assert` (no latches, no undriven or multiply driven nets), and
/// its cell counts (one module: the GELU datapath is part of every lane).
#[test]
fn l4_synthesises_clean() {
    let unit = EpilogueUnit::with_default_tables(4, 32, 16).unwrap_or_else(|e| panic!("{e}"));
    let top = unit.module_name();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sources = write_unit(&unit, dir.path());
    let log = synth_check(&sources, &top, dir.path()).unwrap_or_else(|e| panic!("{top}: {e}"));
    let own = cells(&log, &top);
    eprintln!(
        "{top}: Yosys synth: {} cells, {} flip-flops; cells by type {:?}",
        own.cells,
        own.matching("DFF"),
        own.by_type
    );
    assert!(own.cells > 0);
}

/// The gate-level netlist (Yosys `synth -flatten`) of a two-lane unit through the same harness and golden
/// comparison: Yosys reads the signed sums, the signed multiply, the arithmetic shift and the baked tables as
/// Verilator does. Two lanes keep the lane packing in the netlist and the model's build near a minute (L = 4 takes
/// over five). The default set simulates the netlist of one lane (the same datapath and tables, the build in
/// about half the time); `STA_TEST_FULL=1` the two-lane one.
#[test]
fn netlist_matches_the_golden_model() {
    let lanes = if common::full() { 2 } else { 1 };
    let unit = EpilogueUnit::with_default_tables(lanes, 32, 16).unwrap_or_else(|e| panic!("{e}"));
    let top = unit.module_name();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sources = write_unit(&unit, dir.path());
    let netlist = write_netlist(&sources, &top, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let steps = Stimulus::new(&unit, 4).steps(1500);
    simulate(&unit, &[netlist], &steps, 4);
}

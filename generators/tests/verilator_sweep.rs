//! The generated RTL, simulated in Verilator, against the golden model: every result beat compared, over the sweep
//! of configurations, sparse and dense, random and extreme operands, with random valid gaps and back-pressure.

mod common;

use common::*;
use sta_generators::gemm::{simulate_gemm, Mode, SimArgs};
use sta_golden::pe_array::{ArrayShape, DspMapping};

fn stalls(seed: u64) -> SimArgs {
    SimArgs {
        in_gap: 0.3,
        out_stall: 0.4,
        seed,
        cache_dir: None,
    }
}

fn sweep_point(index: usize, (n, m, rows, cols): (usize, usize, usize, usize)) {
    check_shape(index, shape(n, m, rows, cols));
}

fn check_shape(index: usize, shape: ArrayShape) {
    let ArrayShape {
        n, m, rows, cols, ..
    } = shape;
    let mut rng = rng(index as u64);
    // O and T deliberately not multiples of the array; K of several groups
    let (o, k, t) = (2 * rows + 1, 3 * m, 2 * cols + 1);
    let w = random_nm(o, k, n, m, &mut rng);
    let x = random_i8(k, t, &mut rng);
    for mode in [Mode::Sparse, Mode::Dense] {
        let run = simulate_gemm(&shape, &w, &x, mode, false, &stalls(index as u64))
            .unwrap_or_else(|e| panic!("{n}:{m} {rows}x{cols} {mode:?}: {e}"));
        assert!(run.report.bit_exact);
        assert_eq!(run.report.result_beats_compared, run.report.tiles * rows);
        assert_eq!(
            run.report.perf_busy, run.report.beats as u64,
            "perf_busy counts every accepted beat once"
        );
    }
    let (w, x) = corner_nm(rows + 1, 2 * m, n, m);
    let run = simulate_gemm(&shape, &w, &x, Mode::Sparse, false, &SimArgs::default())
        .unwrap_or_else(|e| panic!("{n}:{m} {rows}x{cols} corner: {e}"));
    assert_eq!(
        run.report.perf_busy, run.report.beats as u64,
        "perf_busy counts every accepted beat once"
    );
}

/// The ECP5 DSP mapping (MULT18X18D instances, simulated with the generated model) computes the same as the golden
/// model, with the same stalls: it changes only how the multipliers are written.
#[test]
fn ecp5_dsp_mapping_matches_the_golden_model() {
    check_shape(20, shape(2, 8, 3, 4).with_dsp(DspMapping::Ecp5));
    check_shape(21, shape(3, 4, 2, 2).with_dsp(DspMapping::Ecp5));
}

/// `ecp5-mixed`: DSP multipliers in the first ⌊D/N⌋ PEs, LUT multipliers in the others (and a budget too small for
/// one PE: all LUT), the same results and stalls as the golden model. N = 4 and 8 also run their 2- and 3-level
/// adder trees here.
#[test]
fn ecp5_mixed_mapping_matches_the_golden_model() {
    let mixed = |dsps| DspMapping::Ecp5Mixed { dsps };
    check_shape(22, shape(4, 8, 2, 3).with_dsp(mixed(10)));
    check_shape(23, shape(2, 8, 3, 4).with_dsp(mixed(7)));
    check_shape(24, shape(8, 16, 2, 2).with_dsp(mixed(7)));
}

/// The LUT multiplier on all 65,536 INT8 pairs: a 1×4 array without DSP budget, dense 1:2 tiles of one non-zero
/// product each, so every result is exactly one product w·x (W column 0 and X row 0 hold −128..=127).
#[test]
fn lut_multiplier_is_exact_on_every_int8_pair() {
    let shape = shape(1, 2, 1, 4).with_dsp(DspMapping::Ecp5Mixed { dsps: 0 });
    let value = |i: usize| (i as i32 - 128) as i8;
    let w = sta_golden::matrix::Matrix::from_fn(256, 2, |o, k| if k == 0 { value(o) } else { 0 });
    let x = sta_golden::matrix::Matrix::from_fn(2, 256, |k, t| if k == 0 { value(t) } else { 0 });
    let run = simulate_gemm(&shape, &w, &x, Mode::Dense, false, &SimArgs::default())
        .unwrap_or_else(|e| panic!("all-pairs LUT multiplier run: {e}"));
    assert!(run.report.bit_exact);
    assert_eq!(run.report.result_beats_compared, 256 * 64);
}

/// docs/pe-array.md "Cycles": with no gaps and no back-pressure a GEMM of `tiles` tiles of B beats takes
/// `ArrayShape::gemm_cycles` (one beat per cycle, at least R + 2 per tile after the first, then L + 2 + R)
/// for every adder-tree depth, and for B < R, B = R, R + 1 (the drain is not hidden) and R + 2.
#[test]
fn cycle_formula_holds_for_every_adder_tree_depth() {
    // the harness runs 16 cycles (its DRAIN_CYCLES) past the last result beat; the report counts 15 of them
    const HARNESS_DRAIN: u64 = 15;
    // shapes of the sweep (their Verilator models are built once for both tests): 1 to 4 tree levels; the 4x4 2:4
    // array with B = R - 2, R, R + 1 and R + 2 beats per tile
    for (i, (n, m, rows, cols, groups)) in [
        (1, 4, 3, 5, 5),
        (4, 8, 2, 7, 5),
        (8, 16, 3, 2, 5),
        (16, 16, 2, 1, 4),
        (2, 4, 4, 4, 2),
        (2, 4, 4, 4, 4),
        (2, 4, 4, 4, 5),
        (2, 4, 4, 4, 6),
    ]
    .into_iter()
    .enumerate()
    {
        let shape = shape(n, m, rows, cols);
        let mut rng = rng(40 + i as u64);
        let w = random_nm(2 * rows + 1, groups * m, n, m, &mut rng);
        let x = random_i8(groups * m, 2 * cols, &mut rng);
        let run = simulate_gemm(&shape, &w, &x, Mode::Sparse, false, &SimArgs::default())
            .unwrap_or_else(|e| panic!("{n}:{m} {rows}x{cols}: {e}"));
        let r = &run.report;
        assert_eq!(
            r.cycles,
            shape.gemm_cycles(r.tiles, r.beats / r.tiles) + HARNESS_DRAIN,
            "{n}:{m} {rows}x{cols}, {} tiles of {} beats",
            r.tiles,
            r.beats / r.tiles
        );
    }
}

#[test]
fn sweep_first_half() {
    for (i, point) in SWEEP.iter().enumerate().take(SWEEP.len() / 2) {
        sweep_point(i, *point);
    }
}

#[test]
fn sweep_second_half() {
    for (i, point) in SWEEP.iter().enumerate().skip(SWEEP.len() / 2) {
        sweep_point(i, *point);
    }
}

#[test]
fn default_configuration_with_heavy_backpressure() {
    // 16x16 2:8, the demo's array, with tiles shorter than the R-row drain so the pipeline must stall
    let shape = shape(2, 8, 16, 16);
    let mut rng = rng(99);
    let w = random_nm(40, 8, 2, 8, &mut rng);
    let x = random_i8(8, 40, &mut rng);
    let run = simulate_gemm(
        &shape,
        &w,
        &x,
        Mode::Sparse,
        false,
        &SimArgs {
            in_gap: 0.1,
            out_stall: 0.6,
            seed: 5,
            cache_dir: None,
        },
    )
    .expect("bit-exact under back-pressure");
    assert!(
        run.report.perf_stall > 0,
        "one-beat tiles with a slow consumer must stall the array"
    );
}

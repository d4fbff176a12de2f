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

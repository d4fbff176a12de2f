//! The accelerator's LayerNorm unit (`sta_hdl::accel::layernorm`, `hdl/templates/sta_layernorm.v`) end to end:
//! Verilator against the golden model (`sta_golden::encoder::ops::layernorm_rows`, the encoder's rsqrt LayerNorm) on
//! every lane of every output, for L = 4 with D = 32 and L = 8 with D = 384 (MiniLM's width), plus L = 3 with D = 5
//! (odd lanes and row, the next group's pass 0 right behind pass 2), L = 1 with D = 1, and a table with D_OUT = 12
//! and a negative segment (negative normaliser shifts, max(0, RSQRT)). Rows: random full-range, random narrow bands,
//! constant rows (V = 0), tiny variances (k ≤ 2, the 2k − 5 < 0 case), extremes (±2^23), rows whose f hits the
//! min(127) clamp; gains and offsets at their extremes; affine shifts 0, 47 (and 63); every corner row also as a
//! "probe" group whose offsets cancel the golden n_i·g_i, so that an error in n_i cannot hide in the INT8 output; row
//! groups back to back and with random idle cycles; resets in every phase (pass 0, the mean bubble, pass 1, the
//! normaliser bubble, pass 2 with outputs in flight) followed by clean groups. The harness checks in_ready (exactly
//! the documented bubbles) and the output latency every cycle. `verilator --lint-only -Wall`; Yosys `synth` +
//! `check -assert` (cell counts and multipliers printed) and a gate-level netlist simulation for L = 4, D = 32.
//!
//! The default set (`make test`, CI) leaves out L = 8, D = 384 (L = 4, D = 32 with a longer row) and simulates the
//! netlist of one lane with D = 5 instead of L = 4, D = 32 (over four minutes to build); `STA_TEST_FULL=1`
//! (`make test-full`) runs all of the above.
//!
//! `cargo test -p sta-generators --test accel_layernorm -- --nocapture`

mod common;

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_generators::yosys::{parse_stat, synth_stat, write_netlist};
use sta_golden::encoder::ops::{norm_stats, normalise, RSQRT_INPUT_FRAC_BITS};
use sta_golden::encoder::program::{default_rsqrt_table, NormMethod};
use sta_golden::numerics::round_shift;
use sta_golden::pwl::PwlTable;
use sta_hdl::accel::layernorm::{emit_layernorm, LayerNormUnit};
use sta_testbenches::accel_layernorm::{
    build_layernorm, check_layernorm, LayerNormGroup, LayerNormPorts, LayerNormSimBuild,
};
use sta_testbenches::{BuildOptions, SimError};

const R_MIN: i32 = -(1 << 23);
const R_MAX: i32 = (1 << 23) - 1;
const G_MIN: i32 = -(1 << 15);
const G_MAX: i32 = (1 << 15) - 1;
const C_MIN: i64 = -(1 << 39);
const C_MAX: i64 = (1 << 39) - 1;

fn cache_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("sta-layernorm-cache")
}

fn unit(lanes: usize, d: usize, table: PwlTable) -> LayerNormUnit {
    LayerNormUnit::new(lanes, d, table).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes the unit's modules into `dir`, leaves first.
fn write_design(unit: &LayerNormUnit, dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    emit_layernorm(unit)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|m| {
            let path = dir.join(format!("{}.v", m.name));
            std::fs::write(&path, &m.text).unwrap_or_else(|e| panic!("{e}"));
            path
        })
        .collect()
}

fn ports(unit: &LayerNormUnit) -> LayerNormPorts {
    LayerNormPorts {
        module: unit.module_name(),
        lanes: unit.lanes(),
        d: unit.d(),
        latency: unit.latency(),
        mean_bubble: unit.mean_bubble(),
        norm_bubble: unit.norm_bubble(),
    }
}

fn build(unit: &LayerNormUnit, sources: &[PathBuf]) -> LayerNormSimBuild {
    match build_layernorm(
        sources,
        &ports(unit),
        &cache_root(),
        &BuildOptions::default(),
    ) {
        Ok(sim) => sim,
        Err(SimError::BuildFailed { tail, .. }) => panic!("build failed:\n{tail}"),
        Err(e) => panic!("{e}"),
    }
}

/// k and the unclamped f of the normaliser (`norm_stats`' rsqrt path), or None for V = 0.
fn k_and_f(row: &[i32]) -> Option<(u32, i128)> {
    let v = norm_stats(row, NormMethod::Exact, None).sum_sq;
    (v != 0).then(|| {
        let k = (63 - v.leading_zeros()) / 2;
        let f = round_shift(i128::from(v), 2 * k as i32 - RSQRT_INPUT_FRAC_BITS as i32);
        (k, f)
    })
}

/// The row kinds of the verification, each a few rows of length d.
fn corner_rows(d: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<i32>> {
    let mut rows = Vec::new();
    let full = |rng: &mut ChaCha8Rng| (0..d).map(|_| rng.gen_range(R_MIN..=R_MAX)).collect();
    // random full range
    rows.push(full(rng));
    rows.push(full(rng));
    // random narrow bands around random centres (also next to the extremes)
    for (centre, width) in [
        (rng.gen_range(R_MIN..=R_MAX), 1),
        (rng.gen_range(-1000..=1000), 3),
        (R_MAX - 100, 100),
        (R_MIN + 1000, 1000),
        (rng.gen_range(R_MIN / 2..=R_MAX / 2), 1 << 12),
        (0, 1 << 18),
    ] {
        rows.push(
            (0..d)
                .map(|_| (centre + rng.gen_range(-width..=width)).clamp(R_MIN, R_MAX))
                .collect(),
        );
    }
    // constant rows: V = 0
    for c in [0, 7, R_MIN, R_MAX, -12345] {
        rows.push(vec![c; d]);
    }
    // tiny variances: [0, 0, 1, 1]-like, one or two bumps, a ±1 sprinkle (V < 64: k ≤ 2, 2k − 5 < 0)
    let c = rng.gen_range(-100_000..=100_000);
    rows.push((0..d).map(|i| c + i32::from(i % 4 >= 2)).collect());
    rows.push((0..d).map(|i| i32::from(i % 4 >= 2)).collect());
    rows.push((0..d).map(|i| c + i32::from(i == d / 2)).collect());
    rows.push(
        (0..d)
            .map(|i| c - i32::from(i == 0) + i32::from(i + 1 == d))
            .collect(),
    );
    rows.push((0..d).map(|i| R_MAX - i32::from(i % 3 == 1)).collect());
    rows.push(
        (0..d)
            .map(|_| {
                c + if rng.gen_range(0..8) == 0 {
                    rng.gen_range(-1..=1)
                } else {
                    0
                }
            })
            .collect(),
    );
    // extremes
    rows.push(
        (0..d)
            .map(|i| if i % 2 == 0 { R_MIN } else { R_MAX })
            .collect(),
    );
    rows.push(
        (0..d)
            .map(|i| if i < d / 2 { R_MAX } else { R_MIN })
            .collect(),
    );
    rows.push(
        (0..d)
            .map(|i| if i == d - 1 { R_MAX } else { R_MIN })
            .collect(),
    );
    rows.push((0..d).map(|i| if i == 0 { R_MIN } else { R_MAX }).collect());
    // μ = 0 rows [a, −a, 0, …] with V = 2a² just below 4^(k+1) (f rounds up to 128 and is clamped to 127) and
    // small a (V = 2, 8, 18, 32, 50: k ≤ 2)
    if d >= 2 {
        for k in [3u32, 6, 9, 12, 15, 18, 21] {
            let target = (1u64 << (2 * k + 2)) - 1;
            let a = ((target / 2) as f64).sqrt().floor() as i32;
            let mut row = vec![0; d];
            (row[0], row[1]) = (a, -a);
            rows.push(row);
        }
        for a in [1, 2, 3, 4, 5] {
            let mut row = vec![0; d];
            (row[d - 2], row[d - 1]) = (-a, a);
            rows.push(row);
        }
    }
    rows
}

/// Gains, offsets and shift of a group: `variant` picks extremes, zeros or random values.
fn affine_params(d: usize, variant: usize, rng: &mut ChaCha8Rng) -> (Vec<i32>, Vec<i64>, u32) {
    match variant % 6 {
        // extremes of every field, shift 0 (heavy saturation)
        0 => (
            (0..d).map(|i| [G_MIN, G_MAX, 0, 1, -1][i % 5]).collect(),
            (0..d).map(|i| [0, C_MAX, C_MIN, 1, -1, 5][i % 6]).collect(),
            0,
        ),
        // extremes at shift 47
        1 => (
            (0..d).map(|i| [G_MAX, G_MIN][i % 2]).collect(),
            (0..d).map(|i| [C_MIN, C_MAX, 0][i % 3]).collect(),
            47,
        ),
        // the in_shift port's largest code
        2 => (
            (0..d).map(|_| rng.gen_range(G_MIN..=G_MAX)).collect(),
            (0..d).map(|_| rng.gen_range(C_MIN..=C_MAX)).collect(),
            63,
        ),
        // unit gain at 2^15, offset 0, shift 15: y = sat_8(n) (mostly saturated, the sign of z)
        3 => (vec![1 << 14; d], vec![0; d], 15),
        // realistic: outputs spread over the INT8 range
        _ => {
            let shift = rng.gen_range(12..=40u32);
            let span = 1i64 << (shift + 6).min(39);
            (
                (0..d).map(|_| rng.gen_range(G_MIN..=G_MAX)).collect(),
                (0..d).map(|_| rng.gen_range(-span..span)).collect(),
                shift,
            )
        }
    }
}

/// A probe of `row` (in every lane): shift 0, random gains (and both extremes), offsets c_i = −n_i·g_i + noise with
/// the golden n_i and |noise| ≤ 100, so y_i = sat_8(noise_i + (n_i^rtl − n_i)·g_i): any error in n_i (mean, V,
/// normaliser, RSQRT, rounding) or in n·g + c shows up instead of vanishing in the INT8 output.
fn probe_group(
    row: &[i32],
    lanes: usize,
    table: &PwlTable,
    rng: &mut ChaCha8Rng,
) -> LayerNormGroup {
    let stats = norm_stats(row, NormMethod::Rsqrt, Some(table));
    let d = row.len();
    let gains: Vec<i32> = (0..d)
        .map(|i| match i % 8 {
            0 => G_MIN,
            1 => G_MAX,
            _ => rng.gen_range(G_MIN..=G_MAX),
        })
        .collect();
    let offsets = (0..d)
        .map(|i| {
            let n = i64::from(normalise(row[i], &stats));
            -n * i64::from(gains[i]) + rng.gen_range(-100..=100)
        })
        .collect();
    LayerNormGroup {
        rows: vec![row.to_vec(); lanes],
        gains,
        offsets,
        shift: 0,
        reset_after: None,
    }
}

/// Corner rows in groups of L (topped up with random rows), every corner row as a probe group ([`probe_group`]), then
/// random groups, then resets in every phase each followed by a clean group.
fn groups(
    lanes: usize,
    d: usize,
    table: &PwlTable,
    random_groups: usize,
    seed: u64,
) -> Vec<LayerNormGroup> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = corner_rows(d, &mut rng);
    let probes: Vec<LayerNormGroup> = rows
        .iter()
        .map(|row| probe_group(row, lanes, table, &mut rng))
        .collect();
    while !rows.len().is_multiple_of(lanes) {
        rows.push((0..d).map(|_| rng.gen_range(R_MIN..=R_MAX)).collect());
    }
    let mut out = Vec::new();
    let mut variant = 0;
    let mut group = |rows: Vec<Vec<i32>>, reset_after, rng: &mut ChaCha8Rng| {
        let (gains, offsets, shift) = affine_params(d, variant, rng);
        variant += 1;
        LayerNormGroup {
            rows,
            gains,
            offsets,
            shift,
            reset_after,
        }
    };
    for chunk in rows.chunks(lanes) {
        out.push(group(chunk.to_vec(), None, &mut rng));
    }
    out.extend(probes);
    let random_rows = |rng: &mut ChaCha8Rng| -> Vec<Vec<i32>> {
        (0..lanes)
            .map(|_| {
                let width = 1i32 << rng.gen_range(0..24);
                let centre = rng.gen_range(R_MIN..=R_MAX);
                (0..d)
                    .map(|_| (centre + rng.gen_range(-width..=width - 1)).clamp(R_MIN, R_MAX))
                    .collect()
            })
            .collect()
    };
    for _ in 0..random_groups {
        let rows = random_rows(&mut rng);
        out.push(group(rows, None, &mut rng));
    }
    // resets: mid pass 0, right after pass 0 (mean bubble), mid pass 1, right after pass 1 (normaliser bubble), in
    // pass 2 (outputs in flight), right after pass 2's last beat, before the first beat
    for at in [
        d / 2,
        d,
        d + d / 2,
        2 * d,
        2 * d + 1,
        2 * d + d / 2,
        3 * d,
        0,
    ] {
        let rows = random_rows(&mut rng);
        out.push(group(rows, Some(at), &mut rng));
        let rows = random_rows(&mut rng);
        out.push(group(rows, None, &mut rng));
    }
    out
}

/// The corner cases the rows must reach: V = 0, 2k − 5 < 0, f clamped to 127, the largest V.
fn assert_coverage(groups: &[LayerNormGroup]) {
    let rows: Vec<&Vec<i32>> = groups
        .iter()
        .filter(|g| g.reset_after.is_none())
        .flat_map(|g| &g.rows)
        .collect();
    let stats: Vec<Option<(u32, i128)>> = rows.iter().map(|r| k_and_f(r)).collect();
    assert!(stats.iter().any(Option::is_none), "no constant row");
    assert!(
        stats.iter().flatten().any(|&(k, _)| 2 * k < 5),
        "no row with 2k - 5 < 0"
    );
    assert!(
        stats.iter().flatten().any(|&(_, f)| f > 127),
        "no row whose f hits the clamp"
    );
    assert!(rows.iter().flat_map(|r| r.iter()).any(|&r| r == R_MIN));
    assert!(rows.iter().flat_map(|r| r.iter()).any(|&r| r == R_MAX));
}

/// Simulates `groups` back to back and with 30 % idle cycles and compares every output with the golden model.
fn simulate(unit: &LayerNormUnit, sim: &LayerNormSimBuild, groups: &[LayerNormGroup], seed: u64) {
    let name = unit.module_name();
    for (gap, seed) in [(0, seed), (30, seed + 1)] {
        let outcome = sim
            .run(groups, gap, seed, None)
            .unwrap_or_else(|e| panic!("{name} gap {gap}%: {e}"));
        let check = check_layernorm(groups, &outcome, unit.table())
            .unwrap_or_else(|e| panic!("{name} gap {gap}%: {e}"));
        let complete = groups.iter().filter(|g| g.reset_after.is_none()).count();
        assert_eq!(check.complete_groups, complete);
        eprintln!(
            "{name} gap {gap}%: {} groups ({complete} without reset, {} of them with every output), {} values \
             checked, {} cycles, {} stalled beats, {:.2} s",
            groups.len(),
            check.full_groups,
            check.values,
            outcome.cycles,
            outcome.stalls,
            outcome.wall_seconds
        );
    }
}

fn matches_the_golden_model(
    lanes: usize,
    d: usize,
    table: PwlTable,
    random_groups: usize,
    seed: u64,
) {
    let u = unit(lanes, d, table);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sources = write_design(&u, dir.path());
    let sim = build(&u, &sources);
    let groups = groups(lanes, d, u.table(), random_groups, seed);
    if d >= 2 {
        assert_coverage(&groups);
    }
    simulate(&u, &sim, &groups, seed);
}

#[test]
fn l4_d32_matches_the_golden_model() {
    matches_the_golden_model(4, 32, default_rsqrt_table(), 24, 1);
}

/// MiniLM's width. Full set only: L = 4, D = 32 runs the same checks in the default set.
#[test]
fn l8_d384_matches_the_golden_model() {
    if common::skip_unless_full("L = 8, D = 384 (L = 4, D = 32 runs in the default set)") {
        return;
    }
    matches_the_golden_model(8, 384, default_rsqrt_table(), 6, 2);
}

/// Odd L and D: the mean multiplier is not a shift, the lane index does not fill its bits, and the next group's pass 0
/// follows pass 2 within the pipeline's length.
#[test]
fn l3_d5_matches_the_golden_model() {
    matches_the_golden_model(3, 5, default_rsqrt_table(), 40, 3);
}

/// The smallest unit: one lane, rows of one element (μ = r, V = 0 always, y = the offset alone), bubbles of 3 and 8
/// cycles against 1-beat passes.
#[test]
fn l1_d1_matches_the_golden_model() {
    matches_the_golden_model(1, 1, default_rsqrt_table(), 40, 6);
}

/// A table with D_OUT = 12 (and the default's coefficients): shift = k − 3 is negative for k < 3, a left shift; its
/// last segment (f ≥ 118) is made negative, so mult = max(0, RSQRT(f)) = 0 there.
#[test]
fn negative_normaliser_shifts_match_the_golden_model() {
    let mut table = d_out_12_table();
    table.intercepts[15] = -table.intercepts[15];
    assert!(table.eval(127) < 0 && table.eval(117) > 0);
    table.validate().unwrap_or_else(|e| panic!("{e}"));
    matches_the_golden_model(2, 6, table, 30, 4);
}

fn d_out_12_table() -> PwlTable {
    let mut table = default_rsqrt_table();
    table.format.output_frac_bits = 12;
    table
}

#[test]
fn generated_units_are_lint_clean() {
    let d_out_12 = d_out_12_table();
    for (lanes, d, table) in [
        (4, 32, default_rsqrt_table()),
        (8, 384, default_rsqrt_table()),
        (1, 1, default_rsqrt_table()),
        (3, 4096, default_rsqrt_table()),
        (16, 384, default_rsqrt_table()),
        (2, 6, d_out_12),
    ] {
        let u = unit(lanes, d, table);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sources = write_design(&u, dir.path());
        let top = u.module_name();
        match sta_testbenches::lint(&sources, &top) {
            Ok(report) => assert!(report.is_clean(), "{top}: {:#?}", report.warnings),
            Err(SimError::Lint(report)) => panic!("{top}: lint:\n{}", report.output),
            Err(e) => panic!("{top}: {e}"),
        }
    }
}

/// Yosys `synth` + `check -assert` of L = 4, D = 32 (cell counts and the multipliers before fine-grained mapping are
/// printed).
#[test]
fn yosys_synth_check_l4_d32() {
    let u = unit(4, 32, default_rsqrt_table());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sources = write_design(&u, &dir.path().join("design"));
    let top = u.module_name();
    let coarse = synth_stat(
        &sources,
        &top,
        "synth -flatten -run :fine",
        dir.path(),
        "coarse",
    )
    .unwrap_or_else(|e| panic!("{top}: yosys: {e}"));
    let coarse = parse_stat(&coarse).unwrap_or_else(|| panic!("no statistics"));
    let full = synth_stat(&sources, &top, "synth -flatten", dir.path(), "synth")
        .unwrap_or_else(|e| panic!("{top}: yosys: {e}"));
    let cells = parse_stat(&full).unwrap_or_else(|| panic!("no statistics"));
    eprintln!(
        "{top}: yosys synth -flatten: {} cells ({} flip-flops); before fine mapping: {} $macc (multipliers), {} $mul",
        cells.cells,
        cells.matching("DFF"),
        coarse.matching("$macc"),
        coarse.matching("$mul"),
    );
    for (t, n) in &cells.by_type {
        eprintln!("  {t:<16} {n}");
    }
    // L lanes × (z·b, n·g) + the RSQRT unit's k·q; S·MU is a shift at D = 32
    assert_eq!(
        coarse.matching("$macc") + coarse.matching("$mul"),
        2 * 4 + 1
    );
}

/// The flat gate-level netlist (Yosys `synth -flatten`) simulated against the golden model: L = 4, D = 32 with
/// STA_TEST_FULL=1 (over four minutes to build), else one lane with the odd row of L = 3, D = 5 (the whole datapath:
/// a mean multiplier that is not a shift, the RSQRT unit, the affine stage; Yosys and the build in about a minute).
#[test]
fn netlist_simulation() {
    let (lanes, d) = if common::full() { (4, 32) } else { (1, 5) };
    let table = default_rsqrt_table();
    let u = unit(lanes, d, table);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sources = write_design(&u, &dir.path().join("design"));
    let top = u.module_name();
    let netlist = write_netlist(&sources, &top, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let sim = build(&u, &[netlist]);
    let groups = groups(lanes, d, u.table(), 4, 5);
    simulate(&u, &sim, &groups, 5);
}

//! The integer primitives of the encoder (docs/numerics.md "Integer-only encoder"), each a plain function on
//! explicit widths. The interpreter ([`super::run`]) composes them; the RTL of the accelerator must match each.

use crate::numerics::{round_shift, sat};
use crate::pwl::PwlTable;

use super::program::{NormMethod, Scale};

/// Width of the residual stream (the LayerNorm input): signed RW-bit.
pub const RESIDUAL_BITS: u32 = 24;
/// Fraction bits of the normalised value n = z/‖z‖ inside LayerNorm (|n| ≤ 1, so n fits 16 signed bits).
pub const NORM_FRAC_BITS: u32 = 15;
/// RSQRT input scale D_R of the LUT path: f = min(127, round_shift(V, 2k − D_R)) ∈ [2^D_R, 127].
pub const RSQRT_INPUT_FRAC_BITS: u32 = 5;
/// Extra precision bits of the exact reciprocal: inv = ⌊2^(e + INV_BITS) / s⌋ ∈ [2^(INV_BITS−1), 2^INV_BITS].
pub const INV_BITS: u32 = 16;

/// `Y[t][o] = Σ_k X[t][k] · W[o][k]`: INT8 × INT8 products summed in 32 bits. X is `tokens × k` and W is
/// `outputs × k`, both row-major; the result is `tokens × outputs`. Exact (no wrap) while k ≤ 131,071:
/// |Σ| ≤ k · 2^14 < 2^31. The callers' shapes are validated by the program (k ≤ 4,096).
///
/// Rows of X are spread over threads, and on x86-64 CPUs with AVX2 the same loop is compiled a second time with
/// AVX2 enabled (chosen at run time): integer sums do not depend on the order or width of the additions, so both
/// give identical results (the `gemm_paths_agree` test checks it).
pub fn gemm_i8(x: &[i8], w: &[i8], k: usize) -> Vec<i32> {
    use rayon::prelude::*;
    let k = k.max(1);
    let outputs = w.len() / k;
    let mut y = vec![0i32; x.len() / k * outputs];
    if outputs == 0 {
        return y;
    }
    y.par_chunks_mut(outputs)
        .zip(x.par_chunks_exact(k))
        .for_each(|(y_row, x_row)| gemm_row(x_row, w, k, y_row));
    y
}

/// One output row: y_row[o] = dot(x_row, W[o]).
fn gemm_row(x_row: &[i8], w: &[i8], k: usize, y_row: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above); the function is otherwise ordinary safe Rust.
        unsafe { gemm_row_avx2(x_row, w, k, y_row) };
        return;
    }
    gemm_row_portable(x_row, w, k, y_row);
}

#[inline(always)]
fn gemm_row_portable(x_row: &[i8], w: &[i8], k: usize, y_row: &mut [i32]) {
    for (y, w_row) in y_row.iter_mut().zip(w.chunks_exact(k)) {
        *y = dot_i8(x_row, w_row);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gemm_row_avx2(x_row: &[i8], w: &[i8], k: usize, y_row: &mut [i32]) {
    gemm_row_portable(x_row, w, k, y_row);
}

/// Σ a_i·b_i in i32 (the caller keeps the length within the no-overflow bound of [`gemm_i8`]).
#[inline(always)]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&p, &q)| i32::from(p) * i32::from(q))
        .sum()
}

/// Requantisation to `bits` signed bits: `sat_bits(round_shift(acc · mult, shift))` (numerics.md's requantisation,
/// generalised from 8 bits to any width).
pub fn requant(acc: i64, scale: Scale, bits: u32) -> i64 {
    sat(
        round_shift(i128::from(acc) * i128::from(scale.mult), scale.shift as i32),
        bits,
    )
}

/// The residual add of a linear layer's epilogue: `r = sat_RW((skip << RS) + round_shift((acc + bias) · mult,
/// shift))` — the skip connection (INT8 at scale s) lifted to the residual scale s·2^−RS, plus the layer output
/// requantised to the same scale.
pub fn residual(acc: i64, bias: i32, scale: Scale, skip: i8, residual_shift: u32) -> i32 {
    let branch = round_shift(
        i128::from(acc + i64::from(bias)) * i128::from(scale.mult),
        scale.shift as i32,
    );
    sat((i128::from(skip) << residual_shift) + branch, RESIDUAL_BITS) as i32
}

/// ⌊√v⌋ for any u64, exact (Newton's method on integers, started above the root).
pub fn isqrt(v: u64) -> u64 {
    if v < 2 {
        return v;
    }
    // 2^⌈bits/2⌉ ≥ √v: a start at or above the root makes the iteration decrease monotonically to ⌊√v⌋.
    let bits = 64 - v.leading_zeros();
    let mut x = 1u64 << bits.div_ceil(2);
    loop {
        let next = (x + v / x) / 2;
        if next >= x {
            return x;
        }
        x = next;
    }
}

/// The integer LayerNorm statistics of one row (docs/numerics.md): the centred values z_i and the normaliser
/// (a multiplier and a right shift such that n_i = round_shift(z_i · mult, shift) ≈ z_i / ‖z‖ · 2^15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormStats {
    /// μ = round_shift(Σ r_i · mean_mult, mean_shift).
    pub mean: i64,
    /// V = Σ z_i².
    pub sum_sq: u64,
    /// The multiplier applied to every z_i (0 when V = 0).
    pub mult: u64,
    /// The right shift after it.
    pub shift: i32,
}

/// The mean multiplier of a row of `len` elements: round(2^32 / len), so μ = round_shift(Σ·mean_mult, 32).
pub const MEAN_SHIFT: u32 = 32;

pub fn mean_mult(len: usize) -> u64 {
    let len = len.max(1) as u64;
    ((1u64 << MEAN_SHIFT) + len / 2) / len
}

/// The statistics step of LayerNorm on one residual row.
pub fn norm_stats(row: &[i32], method: NormMethod, rsqrt: Option<&PwlTable>) -> NormStats {
    let sum: i64 = row.iter().map(|&r| i64::from(r)).sum();
    let mean = round_shift(
        i128::from(sum) * i128::from(mean_mult(row.len())),
        MEAN_SHIFT as i32,
    ) as i64;
    // |z| < 2^25 and len ≤ 2^12 (validated dims), so V < 2^62.
    let sum_sq: u64 = row
        .iter()
        .map(|&r| {
            let z = i64::from(r) - mean;
            (z * z) as u64
        })
        .sum();
    let (mult, shift) = match (sum_sq, method, rsqrt) {
        (0, _, _) => (0, 0),
        (v, NormMethod::Rsqrt, Some(table)) => rsqrt_normaliser(v, table),
        (v, _, _) => exact_normaliser(v),
    };
    NormStats {
        mean,
        sum_sq,
        mult,
        shift,
    }
}

/// Exact path: V is first scaled up by an even power 2^(2P), P = ⌊(62 − bits(V)) / 2⌋, so that the root keeps
/// ≥ 30 significant bits however small V is; s = ⌊√(V·2^(2P))⌋ (≈ √V·2^P), e = ⌊log2 s⌋,
/// inv = ⌊2^(e+16) / s⌋ ∈ [2^15, 2^16]; n = round_shift(z·inv, e + 16 − 15 − P).
fn exact_normaliser(sum_sq: u64) -> (u64, i32) {
    let bits = 64 - sum_sq.leading_zeros();
    let p = 62u32.saturating_sub(bits) / 2;
    let s = isqrt(sum_sq << (2 * p));
    let e = 63 - s.leading_zeros();
    let inv = (1u64 << (e + INV_BITS)) / s;
    (
        inv,
        (e + INV_BITS) as i32 - NORM_FRAC_BITS as i32 - p as i32,
    )
}

/// LUT path: k = ⌊⌊log2 V⌋ / 2⌋, f = min(127, round_shift(V, 2k − D_R)) (f·2^−D_R ∈ [1, 4)), rs = RSQRT(f)
/// ≈ 2^D_O / √(f·2^−D_R), so 1/√V ≈ rs·2^−(D_O + k) and n = round_shift(z·rs, k + D_O − 15).
fn rsqrt_normaliser(sum_sq: u64, table: &PwlTable) -> (u64, i32) {
    let k = (63 - sum_sq.leading_zeros()) / 2;
    let f = round_shift(
        i128::from(sum_sq),
        2 * k as i32 - RSQRT_INPUT_FRAC_BITS as i32,
    )
    .min(127) as i8;
    let rs = table.eval(f).max(0) as u64;
    let shift = (k + table.format.output_frac_bits) as i32 - NORM_FRAC_BITS as i32;
    (rs, shift)
}

/// n_i = sat_16(round_shift((r_i − μ) · mult, shift)): z_i / ‖z‖ at 2^−15.
pub fn normalise(r: i32, stats: &NormStats) -> i32 {
    let z = i64::from(r) - stats.mean;
    sat(
        round_shift(i128::from(z) * i128::from(stats.mult), stats.shift),
        16,
    ) as i32
}

/// The affine step: y_i = sat_8(round_shift(n_i · g_i + c_i, shift)).
pub fn affine(n: i32, gain: i32, offset: i64, shift: u32) -> i8 {
    sat(
        round_shift(
            i128::from(n) * i128::from(gain) + i128::from(offset),
            shift as i32,
        ),
        8,
    ) as i8
}

/// LayerNorm of a group of residual rows with the rsqrt normaliser, as the accelerator's LayerNorm unit computes it:
/// row t becomes `y[t][i] = affine(normalise(rows[t][i], norm_stats(rows[t], Rsqrt, table)), gains[i], offsets[i],
/// shift)`, gains and offsets shared by the rows.
///
/// # Panics
/// When a row's length differs from the number of gains or offsets.
pub fn layernorm_rows(
    rows: &[Vec<i32>],
    gains: &[i32],
    offsets: &[i64],
    shift: u32,
    table: &PwlTable,
) -> Vec<Vec<i8>> {
    rows.iter()
        .map(|row| {
            assert!(
                row.len() == gains.len() && row.len() == offsets.len(),
                "row of {} values with {} gains and {} offsets",
                row.len(),
                gains.len(),
                offsets.len()
            );
            let stats = norm_stats(row, NormMethod::Rsqrt, Some(table));
            row.iter()
                .zip(gains.iter().zip(offsets))
                .map(|(&r, (&g, &c))| affine(normalise(r, &stats), g, c, shift))
                .collect()
        })
        .collect()
}

/// GELU through its PWL table: sat_8(table(q)) (the table's output format is INT8 at the input's scale).
pub fn gelu(q: i8, table: &PwlTable) -> i8 {
    sat(i128::from(table.eval(q)), 8) as i8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isqrt_is_the_floor_of_the_root() {
        for v in 0..10_000u64 {
            let s = isqrt(v);
            assert!(s * s <= v && (s + 1) * (s + 1) > v, "v = {v}");
        }
        for v in [
            u64::MAX,
            u64::MAX - 1,
            1 << 62,
            (1 << 62) - 1,
            999_999_999_999,
        ] {
            let s = isqrt(v);
            assert!(u128::from(s) * u128::from(s) <= u128::from(v));
            assert!(u128::from(s + 1) * u128::from(s + 1) > u128::from(v));
        }
    }

    #[test]
    fn gemm_matches_the_definition_at_the_extremes() {
        let k = 1536;
        let x = vec![-128i8; 2 * k];
        let w = vec![-128i8; 3 * k];
        let y = gemm_i8(&x, &w, k);
        assert_eq!(y, vec![1536 * 16384; 6]);
        let w: Vec<i8> = (0..3 * k)
            .map(|i| if i % 2 == 0 { 127 } else { -128 })
            .collect();
        let y = gemm_i8(&x, &w, k);
        assert_eq!(y[0], 768 * (-128 * 127) + 768 * 16384);
    }

    #[test]
    fn gemm_paths_agree() {
        let k = 300;
        let x: Vec<i8> = (0..7 * k).map(|i| (i * 7 % 256) as u8 as i8).collect();
        let w: Vec<i8> = (0..5 * k).map(|i| (i * 13 % 256) as u8 as i8).collect();
        let fast = gemm_i8(&x, &w, k);
        let mut slow = vec![0; 5];
        for (t, x_row) in x.chunks_exact(k).enumerate() {
            gemm_row_portable(x_row, &w, k, &mut slow);
            assert_eq!(&fast[t * 5..t * 5 + 5], &slow[..]);
            for o in 0..5 {
                let exact: i64 = (0..k)
                    .map(|j| i64::from(x_row[j]) * i64::from(w[o * k + j]))
                    .sum();
                assert_eq!(i64::from(slow[o]), exact);
            }
        }
    }

    #[test]
    fn residual_saturates_to_the_residual_width() {
        let unit = Scale { mult: 1, shift: 0 };
        assert_eq!(residual(5, 1, unit, 3, 4), 3 * 16 + 6);
        assert_eq!(
            residual(i64::from(i32::MAX), 0, unit, 127, 16),
            (1 << 23) - 1
        );
        assert_eq!(residual(-(1 << 30), 0, unit, -128, 16), -(1 << 23));
    }

    #[test]
    fn normalised_values_are_unit_norm() {
        let row: Vec<i32> = (0..384).map(|i| (i * 37 % 101) - 50 + 1000).collect();
        for method in [NormMethod::Exact, NormMethod::Rsqrt] {
            let table = crate::encoder::program::default_rsqrt_table();
            let stats = norm_stats(&row, method, Some(&table));
            let n: Vec<f64> = row
                .iter()
                .map(|&r| f64::from(normalise(r, &stats)) / 32768.0)
                .collect();
            let norm: f64 = n.iter().map(|v| v * v).sum::<f64>().sqrt();
            let tol = if method == NormMethod::Exact {
                2e-3
            } else {
                2e-2
            };
            assert!((norm - 1.0).abs() < tol, "{method:?}: ‖n‖ = {norm}");
        }
    }

    #[test]
    fn the_exact_normaliser_is_precise_for_small_rows() {
        // z = [−0.5, −0.5, 0.5, 0.5] after rounding μ: here r = [0, 0, 1, 1] gives μ = 1 (round half up), z = [−1, −1,
        // 0, 0], ‖z‖ = √2, so n = [−23170, −23170, 0, 0] at 2^−15.
        let stats = norm_stats(&[0, 0, 1, 1], NormMethod::Exact, None);
        let n: Vec<i32> = [0, 0, 1, 1].iter().map(|&r| normalise(r, &stats)).collect();
        assert_eq!(n, vec![-23170, -23170, 0, 0]);
    }

    #[test]
    fn a_constant_row_normalises_to_zero() {
        let stats = norm_stats(&[7; 16], NormMethod::Exact, None);
        assert_eq!(stats.sum_sq, 0);
        assert_eq!(normalise(7, &stats), 0);
        assert_eq!(affine(0, 1000, 5 << 10, 10), 5);
    }

    #[test]
    fn layernorm_rows_composes_norm_stats_normalise_and_affine() {
        let table = crate::encoder::program::default_rsqrt_table();
        let rows = vec![
            vec![0, 0, 1, 1],
            vec![7; 4],
            vec![-(1 << 23), (1 << 23) - 1, 5, -5],
        ];
        let gains = [1 << 15, -(1 << 15), 32767, 1000];
        let offsets = [0, 1 << 20, -(1 << 39), 5 << 10];
        let y = layernorm_rows(&rows, &gains, &offsets, 10, &table);
        assert_eq!(y.len(), 3);
        for (row, out) in rows.iter().zip(&y) {
            let stats = norm_stats(row, NormMethod::Rsqrt, Some(&table));
            for i in 0..4 {
                let want = affine(normalise(row[i], &stats), gains[i], offsets[i], 10);
                assert_eq!(out[i], want);
            }
        }
        // a constant row: V = 0, every n_i = 0, y_i = the offset alone
        assert_eq!(y[1], vec![0, 127, -128, 5]);
    }

    #[test]
    fn requant_generalises_numerics_requantisation() {
        let s = Scale { mult: 3, shift: 2 };
        for acc in -1000..1000 {
            let eight = crate::numerics::requantize(acc, 3, 2).unwrap();
            assert_eq!(requant(acc, s, 8), i64::from(eight));
        }
        assert_eq!(requant(1 << 20, Scale { mult: 1, shift: 0 }, 16), 32767);
    }
}

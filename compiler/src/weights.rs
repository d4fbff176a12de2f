//! Per-output-channel symmetric INT8 weight quantisation: row o of W is stored as INT8 codes c_oj in [−127, 127] and
//! one f32 scale s_o, real w_oj ≈ c_oj · s_o.
//!
//! s_o = max_j |w_oj| / 127 (a zero row gets s_o = 1.0 and codes 0), c_oj = round(w_oj / s_o) with ties away from
//! zero (the quotient is formed in f64, so the rounding decision is exact for every f32 input). A zero weight
//! quantises to code 0, so N:M legality survives quantisation; |c·s − w| ≤ s/2 (plus the f32 rounding of the
//! product c·s).

use sta_golden::Matrix;

use crate::model::Dense;

/// A linear layer's weight `[out][in]` in INT8 with one scale per output channel (real = code · scale).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantLinear {
    pub weight: Matrix<i8>,
    pub scales: Vec<f32>,
}

/// Largest code magnitude: −128 is never produced, so the code range is symmetric.
pub const MAX_CODE: i8 = 127;

/// Quantises every row of `w` with its own scale (see the module documentation). Non-finite weights are not
/// meaningful input (callers validate models); a NaN weight gets code 0.
pub fn quantize_linear(w: &Dense) -> QuantLinear {
    let mut codes = Vec::with_capacity(w.rows * w.cols);
    let mut scales = Vec::with_capacity(w.rows);
    for r in 0..w.rows {
        let row = w.row(r);
        let max = row.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        let scale = if max > 0.0 {
            max / f32::from(MAX_CODE)
        } else {
            1.0
        };
        scales.push(scale);
        codes.extend(row.iter().map(|&v| quantize_value(v, scale)));
    }
    let weight = Matrix::new(w.rows, w.cols, codes).unwrap_or_else(|_| Matrix::zeros(0, 0));
    QuantLinear { weight, scales }
}

/// round(v / scale), ties away from zero, clamped to [−127, 127].
fn quantize_value(v: f32, scale: f32) -> i8 {
    let q = (f64::from(v) / f64::from(scale)).round();
    q.clamp(-f64::from(MAX_CODE), f64::from(MAX_CODE)) as i8
}

impl QuantLinear {
    /// The real-valued weight, c_oj · s_o in f32.
    pub fn dequantize(&self) -> Dense {
        let (rows, cols) = (self.weight.rows(), self.weight.cols());
        let mut out = Dense::zeros(rows, cols);
        for r in 0..rows {
            let s = self.scales[r];
            for (o, &c) in out.row_mut(r).iter_mut().zip(self.weight.row(r)) {
                *o = f32::from(c) * s;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn zeros_stay_zero_and_the_error_is_at_most_half_a_step(
            rows in prop::collection::vec(
                prop::collection::vec(prop_oneof![Just(0.0f32), -1e3f32..1e3, -1e-3f32..1e-3], 1..24),
                1..6,
            ),
        ) {
            let cols = rows[0].len();
            let w = Dense {
                rows: rows.len(),
                cols,
                data: rows.iter().flat_map(|r| r.iter().cycle().take(cols).copied()).collect(),
            };
            let q = quantize_linear(&w);
            let back = q.dequantize();
            for r in 0..w.rows {
                let s = q.scales[r];
                let max = w.row(r).iter().fold(0.0f32, |m, &v| m.max(v.abs()));
                prop_assert_eq!(s, if max > 0.0 { max / 127.0 } else { 1.0 });
                for ((&v, &c), &d) in w.row(r).iter().zip(q.weight.row(r)).zip(back.row(r)) {
                    prop_assert!((-127..=127).contains(&c));
                    if v == 0.0 {
                        prop_assert_eq!(c, 0);
                    }
                    // Half a step, plus the f32 rounding of the product c·s.
                    prop_assert!((d - v).abs() <= s / 2.0 + f32::EPSILON * v.abs().max(s), "{} vs {}", d, v);
                }
            }
        }
    }

    #[test]
    fn rounds_half_away_from_zero_and_handles_zero_rows() {
        let w = Dense {
            rows: 2,
            cols: 4,
            data: vec![127.0, -0.5, 0.5, 1.5, 0.0, 0.0, -0.0, 0.0],
        };
        let q = quantize_linear(&w);
        assert_eq!(q.scales, vec![1.0, 1.0]);
        assert_eq!(q.weight.data(), &[127, -1, 1, 2, 0, 0, 0, 0]);
        let w = Dense {
            rows: 1,
            cols: 5,
            data: vec![-31.75, 0.124, 0.125, -0.375, 31.0],
        };
        let q = quantize_linear(&w);
        assert_eq!(q.scales, vec![0.25]);
        assert_eq!(q.weight.data(), &[-127, 0, 1, -2, 124]);
        assert_eq!(q.dequantize().data[0], -127.0 * q.scales[0]);
    }
}

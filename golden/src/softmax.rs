//! The softmax unit's integer datapath: docs/softmax.md "Numerics", exactly.
//!
//! One row of INT8 scores s_j (scale 2^−D_S) → max m → c_j = max(−128, round_shift(s_j − m, D_S − D_E)) →
//! e_j = max(0, EXP(c_j)) → S = Σ e_j (exact) → E = ⌊log2 S⌋, f = round_shift(S, E − D_R) → r = max(0, RECI(f)) →
//! y_j = min(255, round_shift(e_j·r, D_OR + E − 8)). The RTL, its Verilator harness and the accuracy report all call
//! [`SoftmaxNumerics::softmax_row`] (or [`SoftmaxNumerics::trace_row`] for every intermediate value).

use thiserror::Error;

use crate::numerics::round_shift;
use crate::pwl::PwlTable;
use crate::PwlError;

/// Largest score fraction bits D_S.
pub const MAX_SCORE_FRAC_BITS: u32 = 7;
/// Largest reciprocal input scale D_R: f ∈ [2^D_R, 2^(D_R+1)] (the upper end is reached when S rounds up) must be an
/// INT8 code, so 2^(D_R+1) ≤ 127.
pub const MAX_RECI_FRAC_BITS: u32 = 5;
/// Widest EXP and RECI output codes the datapath accepts (keeps S, e·r and every shift well inside an i64).
pub const MAX_TABLE_OUTPUT_BITS: u32 = 16;
/// Output width: unsigned 8-bit probabilities, scale 2^−8.
pub const OUTPUT_BITS: u32 = 8;
/// Largest output code.
pub const OUTPUT_MAX: u8 = u8::MAX;

/// A softmax configuration that the datapath cannot implement. One line, like the crate's other errors.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SoftmaxError {
    #[error("score_frac_bits = {value} is outside 0..={max}: D_S must lie in that range")]
    ScoreFracBits { value: u32, max: u32 },
    #[error("{table} table is invalid: {source}")]
    Table {
        table: &'static str,
        #[source]
        source: PwlError,
    },
    #[error("{table} table output_bits = {value} is outside 2..={max}: the softmax datapath keeps it at most {max} bits")]
    OutputBits {
        table: &'static str,
        value: u32,
        max: u32,
    },
    #[error(
        "reci table input_frac_bits = {value} is larger than {max}: the reciprocal input f ∈ [2^D_R, 2^(D_R+1)] \
         must fit INT8"
    )]
    ReciFracBits { value: u32, max: u32 },
    #[error("exp table gives {value} at code 0 (x = 0): e^0 must map to a positive code so the row sum S is never 0")]
    ExpAtZero { value: i64 },
    #[error("max_len = {max_len} is not allowed: rows have 1..=2^24 elements")]
    MaxLen { max_len: usize },
}

/// Every intermediate value of one row (docs/softmax.md steps 1–8), for debugging the RTL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SoftmaxTrace {
    /// Step 1: m = max_j s_j (0 for an empty row).
    pub max: i8,
    /// Step 3: the EXP input codes c_j (≤ 0).
    pub c: Vec<i8>,
    /// Step 4: e_j = max(0, exp.eval(c_j)), scale 2^−D_OE.
    pub e: Vec<i64>,
    /// Step 5: S = Σ e_j, exact.
    pub sum: u64,
    /// Step 6: E = ⌊log2 S⌋ (0 when S = 0).
    pub exponent: u32,
    /// Step 6: the reciprocal's input code f = round_shift(S, E − D_R) ∈ [2^D_R, 2^(D_R+1)] (0 when S = 0).
    pub f: i8,
    /// Step 7: r = max(0, reci.eval(f)), scale 2^−D_OR (0 when S = 0).
    pub r: i64,
    /// Step 8: the right shift D_OR + E − 8 applied to e_j·r (negative: left shift; 0 when S = 0).
    pub output_shift: i32,
    /// Step 8: y_j, unsigned, scale 2^−8.
    pub y: Vec<u8>,
}

/// The parameters of the softmax datapath: score scale D_S, the EXP table and the 1/x table. Validated by
/// [`SoftmaxNumerics::new`], so evaluation is infallible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftmaxNumerics {
    /// D_S: score code s means s·2^−D_S.
    pub score_frac_bits: u32,
    /// EXP: input scale D_E, output OW_E bits, D_OE fraction bits.
    pub exp: PwlTable,
    /// 1/x: input scale D_R (≤ 5), output OW_R bits, D_OR fraction bits.
    pub reci: PwlTable,
}

impl SoftmaxNumerics {
    /// Checks everything the datapath relies on: D_S ∈ 0..=7; both tables valid PWL tables with outputs of at most
    /// 16 bits; D_R ≤ 5 (f ∈ [2^D_R, 2^(D_R+1)] fits INT8); EXP(0) > 0 (so S ≥ 1 for every non-empty row).
    pub fn new(score_frac_bits: u32, exp: PwlTable, reci: PwlTable) -> Result<Self, SoftmaxError> {
        if score_frac_bits > MAX_SCORE_FRAC_BITS {
            return Err(SoftmaxError::ScoreFracBits {
                value: score_frac_bits,
                max: MAX_SCORE_FRAC_BITS,
            });
        }
        for (table, t) in [("exp", &exp), ("reci", &reci)] {
            t.validate()
                .map_err(|source| SoftmaxError::Table { table, source })?;
            let bits = t.format.output_bits;
            if !(2..=MAX_TABLE_OUTPUT_BITS).contains(&bits) {
                return Err(SoftmaxError::OutputBits {
                    table,
                    value: bits,
                    max: MAX_TABLE_OUTPUT_BITS,
                });
            }
        }
        if reci.format.input_frac_bits > MAX_RECI_FRAC_BITS {
            return Err(SoftmaxError::ReciFracBits {
                value: reci.format.input_frac_bits,
                max: MAX_RECI_FRAC_BITS,
            });
        }
        let at_zero = exp.eval(0);
        if at_zero <= 0 {
            return Err(SoftmaxError::ExpAtZero { value: at_zero });
        }
        Ok(SoftmaxNumerics {
            score_frac_bits,
            exp,
            reci,
        })
    }

    /// D_E: the EXP table's input scale.
    pub fn exp_frac_bits(&self) -> u32 {
        self.exp.format.input_frac_bits
    }

    /// D_R: the reciprocal table's input scale.
    pub fn reci_frac_bits(&self) -> u32 {
        self.reci.format.input_frac_bits
    }

    /// The shift of step 3, D_S − D_E (negative: left shift, then the clamp to −128).
    pub fn exp_input_shift(&self) -> i32 {
        self.score_frac_bits as i32 - self.exp_frac_bits() as i32
    }

    /// Bits of the unsigned e_j: OW_E − 1 (the clamp at 0 drops the sign).
    pub fn exp_bits(&self) -> u32 {
        self.exp.format.output_bits - 1
    }

    /// Bits of the unsigned r: OW_R − 1.
    pub fn reci_bits(&self) -> u32 {
        self.reci.format.output_bits - 1
    }

    /// Bits of the exact, unsigned row sum S for rows of up to `max_len` elements: OW_E − 1 + ⌈log2 max_len⌉.
    pub fn sum_bits(&self, max_len: usize) -> Result<u32, SoftmaxError> {
        if !(1..=1 << 24).contains(&max_len) {
            return Err(SoftmaxError::MaxLen { max_len });
        }
        Ok(self.exp_bits() + ceil_log2(max_len))
    }

    /// Bits of the unsigned product e_j·r: (OW_E − 1) + (OW_R − 1).
    pub fn product_bits(&self) -> u32 {
        self.exp_bits() + self.reci_bits()
    }

    /// Step 3 for one score, given the row maximum.
    pub fn exp_input(&self, score: i8, max: i8) -> i8 {
        let d = i128::from(score) - i128::from(max);
        round_shift(d, self.exp_input_shift()).max(-128) as i8
    }

    /// Step 4: e = max(0, EXP(c)).
    pub fn exp_code(&self, c: i8) -> i64 {
        self.exp.eval(c).max(0)
    }

    /// Steps 6–7 for a positive sum S: (E, f, r).
    pub fn reciprocal(&self, sum: u64) -> (u32, i8, i64) {
        debug_assert!(sum > 0);
        let exponent = 63 - sum.leading_zeros();
        let shift = exponent as i32 - self.reci_frac_bits() as i32;
        // f ∈ [2^D_R, 2^(D_R+1)] ⊆ [1, 64] by the D_R ≤ 5 check in `new`.
        let f = round_shift(i128::from(sum), shift) as i8;
        (exponent, f, self.reci.eval(f).max(0))
    }

    /// The whole row: unsigned 8-bit probabilities, scale 2^−8. An empty row gives an empty vector.
    pub fn softmax_row(&self, scores: &[i8]) -> Vec<u8> {
        self.trace_row(scores).y
    }

    /// The whole row with every intermediate value (docs/softmax.md steps 1–8).
    pub fn trace_row(&self, scores: &[i8]) -> SoftmaxTrace {
        let Some(&max) = scores.iter().max() else {
            return SoftmaxTrace::default();
        };
        let c: Vec<i8> = scores.iter().map(|&s| self.exp_input(s, max)).collect();
        let e: Vec<i64> = c.iter().map(|&q| self.exp_code(q)).collect();
        let sum: u64 = e.iter().map(|&v| v as u64).sum();
        if sum == 0 {
            // Impossible for a validated table (EXP(0) > 0 and the maximum has c = 0); kept as the contract's rule.
            let y = vec![0; scores.len()];
            return SoftmaxTrace {
                max,
                c,
                e,
                sum,
                y,
                ..SoftmaxTrace::default()
            };
        }
        let (exponent, f, r) = self.reciprocal(sum);
        let output_shift =
            self.reci.format.output_frac_bits as i32 + exponent as i32 - OUTPUT_BITS as i32;
        let y = e
            .iter()
            .map(|&v| {
                round_shift(i128::from(v) * i128::from(r), output_shift).min(i128::from(OUTPUT_MAX))
                    as u8
            })
            .collect();
        SoftmaxTrace {
            max,
            c,
            e,
            sum,
            exponent,
            f,
            r,
            output_shift,
            y,
        }
    }

    /// The reciprocal's worst relative error over every code f it can see: max over f ∈ [2^D_R, 2^(D_R+1)] of
    /// |f·r·2^−(D_R+D_OR) − 1| + f·r·2^−(D_R+D_OR)·0.5/f (the second term is the rounding of S to f).
    pub fn reciprocal_error_bound(&self) -> f64 {
        let d_r = self.reci_frac_bits();
        let scale = 2f64.powi(-((d_r + self.reci.format.output_frac_bits) as i32));
        ((1i64 << d_r)..=(1i64 << (d_r + 1)))
            .map(|f| {
                let rho = (f * self.reci.eval(f as i8).max(0)) as f64 * scale;
                let rounding = if d_r == 0 { 0.0 } else { rho * 0.5 / f as f64 };
                (rho - 1.0).abs() + rounding
            })
            .fold(0.0, f64::max)
    }

    /// A bound on |Σ_j y_j − 256| for a row of `len` elements (docs/softmax.md "Accuracy", the row sum):
    /// 256·[`reciprocal_error_bound`](Self::reciprocal_error_bound) for the normalisation, len/2 for rounding each
    /// output, 1 for the clamp at 255.
    pub fn sum_error_bound(&self, len: usize) -> f64 {
        256.0 * self.reciprocal_error_bound() + len as f64 / 2.0 + 1.0
    }
}

/// ⌈log2 n⌉ for n ≥ 1.
fn ceil_log2(n: usize) -> u32 {
    usize::BITS - (n.max(1) - 1).leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pwl::PwlParamsFile;
    use proptest::prelude::*;

    fn table(json: &str) -> PwlTable {
        PwlParamsFile::from_json(json).unwrap().table().unwrap()
    }

    /// The default numerics (docs/softmax.md): D_S = 4 and the committed 8- or 16-entry tables.
    fn defaults(entries: usize) -> SoftmaxNumerics {
        let (exp, reci) = match entries {
            8 => (
                include_str!("../../generators/data/softmax_exp8.json"),
                include_str!("../../generators/data/softmax_reci8.json"),
            ),
            _ => (
                include_str!("../../generators/data/softmax_exp16.json"),
                include_str!("../../generators/data/softmax_reci16.json"),
            ),
        };
        SoftmaxNumerics::new(4, table(exp), table(reci)).unwrap()
    }

    #[test]
    fn worked_example_from_the_doc() {
        let n = defaults(8);
        let t = n.trace_row(&[37]);
        assert_eq!(t.max, 37);
        assert_eq!(t.c, vec![0]);
        assert_eq!(t.e, vec![127]);
        assert_eq!(t.sum, 127);
        assert_eq!(t.exponent, 6);
        assert_eq!(t.f, 64);
        assert_eq!(t.r, 128);
        assert_eq!(t.output_shift, 6);
        assert_eq!(t.y, vec![254]);
    }

    #[test]
    fn length_one_is_almost_one_for_every_score_and_both_tables() {
        for entries in [8, 16] {
            let n = defaults(entries);
            for s in i8::MIN..=i8::MAX {
                let y = n.softmax_row(&[s]);
                assert_eq!(y.len(), 1);
                assert!(y[0] >= 250, "score {s}: y = {}", y[0]);
            }
        }
    }

    #[test]
    fn empty_row_is_empty() {
        assert!(defaults(8).softmax_row(&[]).is_empty());
    }

    #[test]
    fn all_equal_rows_are_uniform() {
        let n = defaults(8);
        for len in [1usize, 2, 3, 4, 7, 16, 64, 100, 128, 256] {
            for s in [-128i8, -1, 0, 55, 127] {
                let y = n.softmax_row(&vec![s; len]);
                assert!(y.iter().all(|&v| v == y[0]), "len {len}: not uniform");
                let ideal = 256.0 / len as f64;
                let got = f64::from(y[0]);
                assert!(
                    (got - ideal).abs() <= ideal * 0.02 + 0.5,
                    "len {len}: y = {got}, ideal {ideal}"
                );
            }
        }
    }

    #[test]
    fn one_dominant_score_takes_everything() {
        let n = defaults(8);
        let mut row = vec![-128i8; 64];
        row[17] = 127;
        let y = n.softmax_row(&row);
        assert!(y[17] >= 250);
        assert!(y.iter().enumerate().all(|(j, &v)| j == 17 || v == 0));
    }

    #[test]
    fn full_spread_is_monotonic_and_sums_to_about_one() {
        for entries in [8, 16] {
            let n = defaults(entries);
            let row: Vec<i8> = (i8::MIN..=i8::MAX).collect();
            let t = n.trace_row(&row);
            assert_eq!(t.max, 127);
            // Scores more than 8 below the maximum clamp to the EXP range's lowest code.
            assert!(t.c.iter().all(|&c| c <= 0));
            assert_eq!(t.c[0], -128);
            assert!(
                t.y.windows(2).all(|w| w[0] <= w[1]),
                "outputs must not decrease with the score"
            );
            let total: f64 = t.y.iter().map(|&v| f64::from(v)).sum();
            assert!((total - 256.0).abs() <= n.sum_error_bound(row.len()));
        }
    }

    #[test]
    fn sum_is_never_zero_and_zero_exp_at_origin_is_refused() {
        let n = defaults(8);
        // The row maximum always has c = 0 and EXP(0) > 0: S ≥ EXP(0).
        assert!(n.trace_row(&[-128, 127]).sum >= n.exp.eval(0) as u64);
        let mut bad = n.exp.clone();
        let last = bad.intercepts.len() - 1;
        bad.intercepts[last] = 0;
        bad.slopes[last] = 0;
        bad.intercepts.iter_mut().for_each(|b| *b = 0);
        assert!(matches!(
            SoftmaxNumerics::new(4, bad, n.reci.clone()),
            Err(SoftmaxError::ExpAtZero { .. })
        ));
    }

    #[test]
    fn invalid_configurations_are_refused_with_one_line_errors() {
        let n = defaults(8);
        let e = SoftmaxNumerics::new(8, n.exp.clone(), n.reci.clone()).unwrap_err();
        assert!(matches!(e, SoftmaxError::ScoreFracBits { value: 8, .. }));
        let mut reci = n.reci.clone();
        reci.format.input_frac_bits = 6;
        let e = SoftmaxNumerics::new(4, n.exp.clone(), reci).unwrap_err();
        assert!(matches!(e, SoftmaxError::ReciFracBits { value: 6, .. }));
        let mut exp = n.exp.clone();
        exp.format.output_bits = 17;
        assert!(matches!(
            SoftmaxNumerics::new(4, exp, n.reci.clone()),
            Err(SoftmaxError::OutputBits { .. })
        ));
        let mut exp = n.exp.clone();
        exp.breakpoints.pop();
        let e = SoftmaxNumerics::new(4, exp, n.reci.clone()).unwrap_err();
        assert!(matches!(e, SoftmaxError::Table { table: "exp", .. }));
        for e in [e, SoftmaxError::MaxLen { max_len: 0 }] {
            assert!(!e.to_string().contains('\n'));
        }
        assert!(n.sum_bits(0).is_err());
    }

    #[test]
    fn widths() {
        let n = defaults(8);
        assert_eq!(n.exp_bits(), 7);
        assert_eq!(n.reci_bits(), 9);
        assert_eq!(n.product_bits(), 16);
        assert_eq!(n.sum_bits(1).unwrap(), 7);
        assert_eq!(n.sum_bits(128).unwrap(), 14);
        assert_eq!(n.sum_bits(129).unwrap(), 15);
        // The sum of a full row of maxima fits: 128 · 127 < 2^14.
        assert!(n.trace_row(&[5; 128]).sum < 1 << 14);
    }

    #[test]
    fn f_stays_in_its_documented_range_for_every_sum() {
        let n = defaults(8);
        let d_r = n.reci_frac_bits();
        for sum in 1u64..(1 << 16) {
            let (_, f, r) = n.reciprocal(sum);
            assert!(
                (1 << d_r..=1 << (d_r + 1)).contains(&i64::from(f)),
                "S = {sum}: f = {f}"
            );
            assert!(r > 0);
        }
    }

    proptest! {
        #[test]
        fn outputs_sum_to_about_256(
            scores in proptest::collection::vec(any::<i8>(), 1..300),
            d_s in 0u32..=7,
            sixteen in any::<bool>(),
        ) {
            let base = defaults(if sixteen { 16 } else { 8 });
            let n = SoftmaxNumerics::new(d_s, base.exp, base.reci).unwrap();
            let y = n.softmax_row(&scores);
            prop_assert_eq!(y.len(), scores.len());
            let total: f64 = y.iter().map(|&v| f64::from(v)).sum();
            let bound = n.sum_error_bound(scores.len());
            prop_assert!((total - 256.0).abs() <= bound, "sum {} bound {}", total, bound);
            // The largest score gets the largest output.
            let arg = scores.iter().enumerate().max_by_key(|(_, &s)| s).map(|(j, _)| j).unwrap();
            prop_assert_eq!(y[arg], *y.iter().max().unwrap());
        }
    }
}

//! The softmax unit's integer datapath: docs/softmax.md "Numerics", exactly.
//!
//! One row of signed SW-bit scores s_j (scale 2^−D_S) → max m → d_j = s_j − m (SW + 1 bits) →
//! c_j = max(−128, round_shift(d_j, D_S − D_E)) → e_j = max(0, EXP(c_j)) → S = Σ e_j (exact) → E = ⌊log2 S⌋,
//! f = round_shift(S, E − D_R) → r = max(0, RECI(f)) → y_j = min(2^OB − 1, round_shift(e_j·r, D_OR + E − OB)).
//! SW = 8 and OB = 8 ([`SoftmaxNumerics::new`]) is the INT8-in, 8-bit-out unit; [`SoftmaxNumerics::with_widths`]
//! takes SW ∈ 8..=16 and OB ∈ {7, 8}; [`encoder_softmax_numerics`] is the configuration the encoder uses. The RTL, its
//! Verilator harness and the accuracy report all call [`SoftmaxNumerics::softmax_row`] (or
//! [`SoftmaxNumerics::trace_row`] for every intermediate value).

use std::ops::RangeInclusive;

use thiserror::Error;

use crate::numerics::round_shift;
use crate::pwl::PwlTable;
use crate::PwlError;

/// Score width SW of [`SoftmaxNumerics::new`]: INT8 scores.
pub const DEFAULT_SCORE_BITS: u32 = 8;
/// Score widths SW accepted: signed 8- to 16-bit codes.
pub const SCORE_BITS: RangeInclusive<u32> = 8..=16;
/// Output width OB of [`SoftmaxNumerics::new`]: unsigned 8-bit probabilities, scale 2^−8.
pub const DEFAULT_OUTPUT_BITS: u32 = 8;
/// Output widths OB accepted: 8 (unsigned, scale 2^−8) or 7 (scale 2^−7: non-negative INT8 codes, the A operand of
/// the PE array's A·V).
pub const OUTPUT_BITS: RangeInclusive<u32> = 7..=8;
/// Largest reciprocal input scale D_R: f ∈ [2^D_R, 2^(D_R+1)] (the upper end is reached when S rounds up) must be an
/// INT8 code, so 2^(D_R+1) ≤ 127.
pub const MAX_RECI_FRAC_BITS: u32 = 5;
/// Widest EXP and RECI output codes the datapath accepts (keeps S, e·r and every shift well inside an i64).
pub const MAX_TABLE_OUTPUT_BITS: u32 = 16;

/// A softmax configuration that the datapath cannot implement, or a score that does not fit it. One line, like the
/// crate's other errors.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SoftmaxError {
    #[error("score_bits = {value} is outside 8..=16: the score width SW must lie in that range")]
    ScoreBits { value: u32 },
    #[error("score_frac_bits = {value} is outside 0..={max}: D_S must be below the score width SW = {score_bits}")]
    ScoreFracBits {
        value: u32,
        max: u32,
        score_bits: u32,
    },
    #[error(
        "output_bits = {value} is outside 7..=8: OB is 8 (scale 2^-8) or 7 (INT8 codes at 2^-7)"
    )]
    ProbabilityBits { value: u32 },
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
    #[error("score {value} (element {index}) is outside {min}..={max}: scores are signed {score_bits}-bit codes")]
    ScoreRange {
        index: usize,
        value: i64,
        min: i64,
        max: i64,
        score_bits: u32,
    },
}

/// The width checks of [`SoftmaxNumerics::with_widths`], shared with the RTL generator: SW ∈ 8..=16,
/// D_S ∈ 0..=SW − 1, OB ∈ {7, 8}.
pub fn check_widths(
    score_bits: u32,
    score_frac_bits: u32,
    output_bits: u32,
) -> Result<(), SoftmaxError> {
    if !SCORE_BITS.contains(&score_bits) {
        return Err(SoftmaxError::ScoreBits { value: score_bits });
    }
    if score_frac_bits >= score_bits {
        return Err(SoftmaxError::ScoreFracBits {
            value: score_frac_bits,
            max: score_bits - 1,
            score_bits,
        });
    }
    if !OUTPUT_BITS.contains(&output_bits) {
        return Err(SoftmaxError::ProbabilityBits { value: output_bits });
    }
    Ok(())
}

/// Every intermediate value of one row (docs/softmax.md steps 1–8), for debugging the RTL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SoftmaxTrace {
    /// Step 1: m = max_j s_j (0 for an empty row).
    pub max: i32,
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
    /// Step 8: the right shift D_OR + E − OB applied to e_j·r (negative: left shift; 0 when S = 0).
    pub output_shift: i32,
    /// Step 8: y_j, unsigned OB-bit codes, scale 2^−OB.
    pub y: Vec<u8>,
}

/// The parameters of the softmax datapath: score width SW and scale D_S, output width OB, the EXP table and the 1/x
/// table. Validated by [`SoftmaxNumerics::new`] / [`SoftmaxNumerics::with_widths`], so evaluation is infallible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftmaxNumerics {
    /// SW: scores are signed SW-bit codes.
    pub score_bits: u32,
    /// D_S: score code s means s·2^−D_S.
    pub score_frac_bits: u32,
    /// OB: outputs are unsigned OB-bit codes at scale 2^−OB.
    pub output_bits: u32,
    /// EXP: input scale D_E, output OW_E bits, D_OE fraction bits.
    pub exp: PwlTable,
    /// 1/x: input scale D_R (≤ 5), output OW_R bits, D_OR fraction bits.
    pub reci: PwlTable,
}

impl SoftmaxNumerics {
    /// INT8 scores (SW = 8) and 8-bit outputs (OB = 8): [`with_widths`](Self::with_widths)`(8, score_frac_bits, 8, …)`.
    pub fn new(score_frac_bits: u32, exp: PwlTable, reci: PwlTable) -> Result<Self, SoftmaxError> {
        Self::with_widths(
            DEFAULT_SCORE_BITS,
            score_frac_bits,
            DEFAULT_OUTPUT_BITS,
            exp,
            reci,
        )
    }

    /// Checks everything the datapath relies on: SW ∈ 8..=16; D_S ∈ 0..=SW − 1; OB ∈ {7, 8}; both tables valid PWL
    /// tables with outputs of at most 16 bits; D_R ≤ 5 (f ∈ [2^D_R, 2^(D_R+1)] fits INT8); EXP(0) > 0 (so S ≥ 1 for
    /// every non-empty row).
    pub fn with_widths(
        score_bits: u32,
        score_frac_bits: u32,
        output_bits: u32,
        exp: PwlTable,
        reci: PwlTable,
    ) -> Result<Self, SoftmaxError> {
        check_widths(score_bits, score_frac_bits, output_bits)?;
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
            score_bits,
            score_frac_bits,
            output_bits,
            exp,
            reci,
        })
    }

    /// The score codes: −2^(SW−1) ..= 2^(SW−1) − 1.
    pub fn score_range(&self) -> RangeInclusive<i64> {
        let half = 1i64 << (self.score_bits - 1);
        -half..=half - 1
    }

    /// The largest output code, 2^OB − 1 (255 or 127).
    pub fn output_max(&self) -> u8 {
        ((1u32 << self.output_bits) - 1) as u8
    }

    /// Ok when every score is a signed SW-bit code; else the first that is not.
    pub fn check_scores<S: Copy + Into<i64>>(&self, scores: &[S]) -> Result<(), SoftmaxError> {
        let range = self.score_range();
        match scores
            .iter()
            .map(|&s| s.into())
            .enumerate()
            .find(|(_, s)| !range.contains(s))
        {
            None => Ok(()),
            Some((index, value)) => Err(SoftmaxError::ScoreRange {
                index,
                value,
                min: *range.start(),
                max: *range.end(),
                score_bits: self.score_bits,
            }),
        }
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

    /// Steps 2–3 for one score, given the row maximum (both SW-bit codes): d = s − m, then
    /// c = max(−128, round_shift(d, D_S − D_E)).
    pub fn exp_input(&self, score: i32, max: i32) -> i8 {
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

    /// The whole row: unsigned OB-bit probabilities, scale 2^−OB. Scores are SW-bit codes of any integer type
    /// (`&[i8]` for INT8 rows, `&[i16]` or wider for SW > 8). An empty row gives an empty vector.
    ///
    /// # Panics
    /// If a score is outside the signed SW-bit range ([`check_scores`](Self::check_scores) says which;
    /// [`try_softmax_row`](Self::try_softmax_row) returns that error instead).
    pub fn softmax_row<S: Copy + Into<i64>>(&self, scores: &[S]) -> Vec<u8> {
        self.trace_row(scores).y
    }

    /// [`softmax_row`](Self::softmax_row), or the error of the first score outside the SW-bit range.
    pub fn try_softmax_row<S: Copy + Into<i64>>(
        &self,
        scores: &[S],
    ) -> Result<Vec<u8>, SoftmaxError> {
        self.check_scores(scores)?;
        Ok(self.trace_row(scores).y)
    }

    /// The whole row with every intermediate value (docs/softmax.md steps 1–8).
    ///
    /// # Panics
    /// If a score is outside the signed SW-bit range, like [`softmax_row`](Self::softmax_row).
    pub fn trace_row<S: Copy + Into<i64>>(&self, scores: &[S]) -> SoftmaxTrace {
        if let Err(e) = self.check_scores(scores) {
            panic!("{e}");
        }
        // SW ≤ 16: every code fits an i32.
        let scores: Vec<i32> = scores.iter().map(|&s| s.into() as i32).collect();
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
            self.reci.format.output_frac_bits as i32 + exponent as i32 - self.output_bits as i32;
        let y_max = i128::from(self.output_max());
        let y = e
            .iter()
            .map(|&v| round_shift(i128::from(v) * i128::from(r), output_shift).min(y_max) as u8)
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

    /// A bound on |Σ_j y_j − 2^OB| for a row of `len` elements (docs/softmax.md "Accuracy", the row sum):
    /// 2^OB·[`reciprocal_error_bound`](Self::reciprocal_error_bound) for the normalisation, len/2 for rounding each
    /// output, 1 for the clamp at 2^OB − 1.
    pub fn sum_error_bound(&self, len: usize) -> f64 {
        f64::from(1u32 << self.output_bits) * self.reciprocal_error_bound() + len as f64 / 2.0 + 1.0
    }
}

/// SW of the encoder's softmax ([`encoder_softmax_numerics`]).
pub const ENCODER_SCORE_BITS: u32 = 16;
/// D_S of the encoder's softmax: score code s means s·2^−8 (range ±128).
pub const ENCODER_SCORE_FRAC_BITS: u32 = 8;
/// OB of the encoder's softmax: probabilities are INT8 codes 0..=127 at scale 2^−7.
pub const ENCODER_OUTPUT_BITS: u32 = 7;
/// The encoder's EXP table: 16 entries on [−8, 0.0625), D_E = 4, 12-bit output at 2^−11 (`sta lut search --function
/// exp --entries 16 --range=-8,0.0625 --output-bits 12 --output-frac-bits 11 --coeff-bits 14 --coeff-frac-bits 10
/// --seed 1`).
pub const ENCODER_EXP_TABLE: &str = include_str!("../data/softmax_exp16_w12.json");
/// The encoder's 1/x table: 8 entries on [1, 2.03125), D_R = 5, 12-bit output at 2^−10 (`sta lut search --function
/// reci --entries 8 --range=1,2.03125 --output-bits 12 --output-frac-bits 10 --coeff-bits 14 --coeff-frac-bits 10
/// --seed 1`).
pub const ENCODER_RECI_TABLE: &str = include_str!("../data/softmax_reci8_w12.json");

/// The softmax configuration of the encoder (docs/softmax.md "Encoder default"): SW = 16-bit scores at D_S = 8
/// (Q·Kᵀ/√d requantised to s = round(x·2^8), range ±128), OB = 7 (probabilities are non-negative INT8 codes at
/// 2^−7, the A operand of A·V), the 16-entry 12-bit EXP table [`ENCODER_EXP_TABLE`]
/// (`golden/data/softmax_exp16_w12.json`) and the 8-entry 12-bit 1/x table [`ENCODER_RECI_TABLE`]
/// (`golden/data/softmax_reci8_w12.json`). On the MiniLM layer-0 attention rows its largest error against the softmax
/// of the float scores is 0.0125.
pub fn encoder_softmax_numerics() -> SoftmaxNumerics {
    let table = |json: &str| {
        crate::pwl::PwlParamsFile::from_json(json)
            .and_then(|f| f.table())
            .unwrap_or_else(|e| unreachable!("the committed softmax tables are valid: {e}"))
    };
    SoftmaxNumerics::with_widths(
        ENCODER_SCORE_BITS,
        ENCODER_SCORE_FRAC_BITS,
        ENCODER_OUTPUT_BITS,
        table(ENCODER_EXP_TABLE),
        table(ENCODER_RECI_TABLE),
    )
    .unwrap_or_else(|e| unreachable!("the encoder's softmax configuration is valid: {e}"))
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
        assert!(defaults(8).softmax_row::<i8>(&[]).is_empty());
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

    /// The encoder's tables (12-bit EXP and 1/x) at any SW, D_S, OB.
    fn wide(score_bits: u32, score_frac_bits: u32, output_bits: u32) -> SoftmaxNumerics {
        let enc = encoder_softmax_numerics();
        SoftmaxNumerics::with_widths(score_bits, score_frac_bits, output_bits, enc.exp, enc.reci)
            .unwrap()
    }

    /// Every table set of the tests at SW = 16, OB = 7: the 8- and 16-entry 8-bit tables and the encoder's.
    fn sw16_ob7(score_frac_bits: u32) -> Vec<SoftmaxNumerics> {
        let mut out: Vec<SoftmaxNumerics> = [8, 16]
            .into_iter()
            .map(|entries| {
                let d = defaults(entries);
                SoftmaxNumerics::with_widths(16, score_frac_bits, 7, d.exp, d.reci).unwrap()
            })
            .collect();
        out.push(wide(16, score_frac_bits, 7));
        out
    }

    /// |Σ y − 2^OB| within the bound, every y ≤ 2^OB − 1, and y never decreases with the score.
    fn check_row(n: &SoftmaxNumerics, scores: &[i16]) -> Result<Vec<u8>, String> {
        let y = n.softmax_row(scores);
        if y.len() != scores.len() {
            return Err(format!("{} outputs for {} scores", y.len(), scores.len()));
        }
        let total: f64 = y.iter().map(|&v| f64::from(v)).sum();
        let (one, bound) = (
            f64::from(1u32 << n.output_bits),
            n.sum_error_bound(scores.len()),
        );
        if (total - one).abs() > bound {
            return Err(format!("sum {total}, bound {bound} around {one}"));
        }
        if let Some(v) = y.iter().find(|&&v| v > n.output_max()) {
            return Err(format!("output {v} above {}", n.output_max()));
        }
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by_key(|&j| scores[j]);
        if let Some(w) = order.windows(2).find(|w| y[w[0]] > y[w[1]]) {
            return Err(format!(
                "not monotonic: score {} -> {}, score {} -> {}",
                scores[w[0]], y[w[0]], scores[w[1]], y[w[1]]
            ));
        }
        Ok(y)
    }

    #[test]
    fn encoder_default_is_sw16_ds8_ob7_with_the_12_bit_tables() {
        let n = encoder_softmax_numerics();
        assert_eq!((n.score_bits, n.score_frac_bits, n.output_bits), (16, 8, 7));
        assert_eq!((n.exp.entries(), n.exp.format.output_bits), (16, 12));
        assert_eq!((n.reci.entries(), n.reci.format.output_bits), (8, 12));
        assert_eq!(n.output_max(), 127);
        assert_eq!(n.score_range(), -32768..=32767);
        // One element: e = EXP(0) ≈ 2^11, y = 127 (1 − 2^−7, the clamp).
        assert_eq!(n.softmax_row(&[1234i16]), vec![127]);
        // Two equal scores: ½ = 64 at 2^−7.
        assert_eq!(n.softmax_row(&[-5i16, -5]), vec![64, 64]);
    }

    #[test]
    fn sw16_corner_rows_at_ob7() {
        let (lo, hi) = (i16::MIN, i16::MAX);
        for d_s in [0, 4, 8, 15] {
            for n in sw16_ob7(d_s) {
                let ctx = |e: String| format!("D_S = {d_s}, {} EXP entries: {e}", n.exp.entries());
                // length 1: almost 1 for every kind of score
                for s in [lo, -1, 0, 1, hi] {
                    let y = check_row(&n, &[s]).unwrap_or_else(|e| panic!("{}", ctx(e)));
                    assert!(y[0] >= 124, "{}", ctx(format!("[{s}] -> {y:?}")));
                }
                // both extremes, in both orders: 2^(16 − D_S) apart, so the top takes everything unless D_S = 15
                // (a difference of 2: 1/(1 + e^−2) = 0.88 = 113/128)
                for row in [[lo, hi], [hi, lo]] {
                    let y = check_row(&n, &row).unwrap_or_else(|e| panic!("{}", ctx(e)));
                    let top = usize::from(row[1] == hi);
                    let want = if d_s == 15 {
                        (110..=116, 12..=18)
                    } else {
                        (124..=127, 0..=0)
                    };
                    assert!(
                        want.0.contains(&y[top]) && want.1.contains(&y[1 - top]),
                        "{}",
                        ctx(format!("{y:?}"))
                    );
                }
                // all equal, up to L_MAX = 4096
                for len in [2usize, 3, 7, 64, 100, 4096] {
                    for s in [lo, 0, hi] {
                        let y =
                            check_row(&n, &vec![s; len]).unwrap_or_else(|e| panic!("{}", ctx(e)));
                        assert!(
                            y.iter().all(|&v| v == y[0]),
                            "{}",
                            ctx(format!("len {len}"))
                        );
                        let ideal = 128.0 / len as f64;
                        assert!(
                            (f64::from(y[0]) - ideal).abs() <= ideal * 0.02 + 0.5,
                            "{}",
                            ctx(format!("len {len}: {} vs {ideal}", y[0]))
                        );
                    }
                }
                // one dominant score among the lowest, and a close second
                let mut row = vec![lo; 4096];
                row[1000] = hi;
                let y = check_row(&n, &row).unwrap_or_else(|e| panic!("{}", ctx(e)));
                // (at D_S = 15 the two codes are only 2 apart: 4095 elements at e^−2 share the row)
                if d_s <= 12 {
                    assert!(
                        y[1000] >= 124 && y.iter().enumerate().all(|(j, &v)| j == 1000 || v == 0),
                        "{}",
                        ctx(format!("y[1000] = {}", y[1000]))
                    );
                }
                let mut close = vec![0i16; 4096];
                close[7] = hi;
                close[9] = hi - 1;
                check_row(&n, &close).unwrap_or_else(|e| panic!("{}", ctx(e)));
                // the full 16-bit spread in steps of 16: sorted, so the outputs must not decrease
                let spread: Vec<i16> = (lo..=hi).step_by(16).collect();
                let t = n.trace_row(&spread);
                assert_eq!(t.c[0], if d_s == 15 { -32 } else { -128 });
                assert!(t.c.iter().all(|&c| c <= 0));
                check_row(&n, &spread).unwrap_or_else(|e| panic!("{}", ctx(e)));
            }
        }
    }

    #[test]
    fn the_difference_is_taken_at_sw_plus_one_bits() {
        // s − m = −65535 at SW = 16 must clamp to −128, not wrap to a small difference.
        let n = wide(16, 4, 8);
        let t = n.trace_row(&[i16::MIN, i16::MAX]);
        assert_eq!(t.max, 32767);
        assert_eq!(t.c, vec![-128, 0]);
        // At D_S = 15 the same codes are 2 apart in real terms: −2 at D_E = 4 is c = −32.
        let t = wide(16, 15, 8).trace_row(&[i16::MIN, i16::MAX]);
        assert_eq!(t.c, vec![-32, 0]);
        // D_S = 9, D_E = 4: d = −48 → round_shift(−48, 5) = round(−1.5) = −1 (half up).
        assert_eq!(wide(16, 9, 8).trace_row(&[-48i16, 0]).c, vec![-1, 0]);
    }

    #[test]
    fn ob7_is_the_ob8_formula_one_bit_coarser() {
        let (n8, n7) = (wide(16, 8, 8), wide(16, 8, 7));
        let row: Vec<i16> = vec![0, -100, -300, -700, -1500, 200, 200, -3000];
        let (t8, t7) = (n8.trace_row(&row), n7.trace_row(&row));
        assert_eq!((t8.e.clone(), t8.r), (t7.e.clone(), t7.r));
        assert_eq!(t7.output_shift, t8.output_shift + 1);
        for (j, &e) in t8.e.iter().enumerate() {
            let er = i128::from(e) * i128::from(t8.r);
            assert_eq!(
                i128::from(t7.y[j]),
                round_shift(er, t7.output_shift).min(127),
                "element {j}"
            );
        }
    }

    #[test]
    fn int8_rows_give_the_same_outputs_at_every_score_width() {
        // A wider datapath changes nothing for scores that fit INT8: d = s − m is exact either way.
        for entries in [8, 16] {
            let base = defaults(entries);
            for sw in [9, 12, 16] {
                let n = SoftmaxNumerics::with_widths(sw, 4, 8, base.exp.clone(), base.reci.clone())
                    .unwrap();
                let row: Vec<i8> = (i8::MIN..=i8::MAX).rev().step_by(3).collect();
                assert_eq!(n.softmax_row(&row), base.softmax_row(&row), "SW = {sw}");
                let wide: Vec<i16> = row.iter().map(|&s| i16::from(s)).collect();
                assert_eq!(n.softmax_row(&wide), base.softmax_row(&row), "SW = {sw}");
            }
        }
    }

    #[test]
    fn width_errors_name_the_value_and_the_range() {
        let d = defaults(8);
        let make =
            |sw, ds, ob| SoftmaxNumerics::with_widths(sw, ds, ob, d.exp.clone(), d.reci.clone());
        let cases: [((u32, u32, u32), &str); 6] = [
            ((7, 4, 8), "score_bits = 7 is outside 8..=16"),
            ((17, 4, 8), "score_bits = 17 is outside 8..=16"),
            ((16, 16, 8), "score_frac_bits = 16 is outside 0..=15"),
            ((12, 12, 8), "score_frac_bits = 12 is outside 0..=11"),
            ((16, 8, 6), "output_bits = 6 is outside 7..=8"),
            ((16, 8, 9), "output_bits = 9 is outside 7..=8"),
        ];
        for ((sw, ds, ob), needle) in cases {
            let e = make(sw, ds, ob).unwrap_err().to_string();
            assert!(e.starts_with(needle), "{e}");
            assert!(!e.contains('\n'));
        }
        assert!(make(16, 15, 7).is_ok() && make(8, 7, 7).is_ok() && make(12, 0, 8).is_ok());
        let n = make(12, 4, 7).unwrap();
        assert_eq!(n.check_scores(&[-2048i16, 2047]), Ok(()));
        let e = n.check_scores(&[0i16, 2048]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "score 2048 (element 1) is outside -2048..=2047: scores are signed 12-bit codes"
        );
        assert_eq!(
            n.try_softmax_row(&[-2049i32]),
            Err(n.check_scores(&[-2049i32]).unwrap_err())
        );
        assert!(n.try_softmax_row(&[-2048i32, 5]).is_ok());
        assert!(d.check_scores(&[300i16]).is_err() && d.check_scores(&[i8::MIN]).is_ok());
    }

    #[test]
    #[should_panic(expected = "outside -128..=127")]
    fn an_out_of_range_score_panics_in_softmax_row() {
        defaults(8).softmax_row(&[0i16, 128]);
    }

    proptest! {
        #[test]
        fn wide_rows_meet_the_row_sum_bound_and_are_monotonic(
            sw in 8u32..=16,
            ds_pick in any::<u32>(),
            ob in 7u32..=8,
            tables in 0usize..3,
            raw in proptest::collection::vec(any::<i16>(), 1..300),
            spread_pick in any::<u32>(),
        ) {
            let d_s = ds_pick % sw;
            let base = match tables {
                0 => defaults(8),
                1 => defaults(16),
                _ => encoder_softmax_numerics(),
            };
            let n = SoftmaxNumerics::with_widths(sw, d_s, ob, base.exp, base.reci).unwrap();
            // scores of SW bits, sometimes squeezed into a narrow band (ties and near-ties)
            let shift = 16 - sw + spread_pick % (sw - 1);
            let scores: Vec<i16> = raw.iter().map(|&s| s >> shift).collect();
            let y = check_row(&n, &scores).map_err(TestCaseError::fail)?;
            let arg = scores.iter().enumerate().max_by_key(|(_, &s)| s).map(|(j, _)| j).unwrap();
            prop_assert_eq!(y[arg], *y.iter().max().unwrap());
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

//! The piecewise-linear (PWL) LUT approximator of one function: the integer datapath of numerics.md, exactly.
//!
//! q (INT8 code, x = q·2^−D_IN) → segment i = #{j : q ≥ p_j} → acc = k_i·q + b_i·2^D_IN (exact) →
//! out = sat_OW(round_shift(acc, FK + D_IN − D_OUT)). The search, the RTL generator, the Verilator tests and the
//! reports all evaluate approximators through this module.

use serde::{Deserialize, Serialize};

use crate::numerics::{round_shift, sat};

/// The fixed-point formats of one approximator. Invariants are checked by [`PwlParams::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PwlFormat {
    /// D_IN: the input code q means x = q · 2^−D_IN.
    pub input_frac_bits: u32,
    /// CW: width of the signed slope and intercept codes.
    pub coeff_bits: u32,
    /// FK: fraction bits of slope and intercept.
    pub coeff_frac_bits: u32,
    /// OW: width of the signed output code.
    pub output_bits: u32,
    /// D_OUT: the output code means y = out · 2^−D_OUT.
    pub output_frac_bits: u32,
}

/// The integer content of one approximator: K−1 breakpoints (INT8 codes) and K slope/intercept codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PwlTable {
    pub format: PwlFormat,
    pub breakpoints: Vec<i8>,
    pub slopes: Vec<i64>,
    pub intercepts: Vec<i64>,
}

impl PwlTable {
    /// Number of segments K.
    pub fn entries(&self) -> usize {
        self.slopes.len()
    }

    /// i = number of breakpoints p_j with q ≥ p_j.
    pub fn segment(&self, q: i8) -> usize {
        self.breakpoints.iter().filter(|&&p| q >= p).count()
    }

    /// acc = k_i·q + b_i·2^D_IN, exact (fits in CW + 9 bits).
    pub fn accumulate(&self, q: i8) -> i64 {
        let i = self.segment(q);
        self.slopes[i] * i64::from(q) + (self.intercepts[i] << self.format.input_frac_bits)
    }

    /// The right shift from the accumulator's scale 2^−(FK + D_IN) to the output's 2^−D_OUT (negative: left shift).
    pub fn output_shift(&self) -> i32 {
        (self.format.coeff_frac_bits + self.format.input_frac_bits) as i32 - self.format.output_frac_bits as i32
    }

    /// The hardware output code for input code q (numerics.md `out`).
    pub fn eval(&self, q: i8) -> i64 {
        sat(round_shift(i128::from(self.accumulate(q)), self.output_shift()), self.format.output_bits)
    }

    /// The real value of an output code.
    pub fn output_value(&self, out: i64) -> f64 {
        out as f64 * 2f64.powi(-(self.format.output_frac_bits as i32))
    }
}

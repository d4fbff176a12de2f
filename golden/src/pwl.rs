//! The piecewise-linear (PWL) LUT approximator of one function: the integer datapath of numerics.md, exactly.
//!
//! q (INT8 code, x = q·2^−D_IN) → segment i = #{j : q ≥ p_j} → acc = k_i·q + b_i·2^D_IN (exact) →
//! out = sat_OW(round_shift(acc, FK + D_IN − D_OUT)). The search, the RTL generator, the Verilator tests and the
//! reports all evaluate approximators through this module.
//!
//! Submodules: [`range`] (the input range and its INT8 codes), [`mse`] (the two error measures of numerics.md),
//! [`params`] (the JSON parameter file), [`reference`] (importing the GQA-LUT reference files), [`random`] (random
//! legal tables, the inputs of `sta soak`).

pub mod mse;
pub mod params;
pub mod random;
pub mod range;
pub mod reference;

use serde::{Deserialize, Serialize};

use crate::numerics::{round_shift, sat};
use crate::PwlError;

pub use mse::{float_mse, hardware_mse};
pub use params::{MseFigures, Provenance, PwlParamsFile, Source};
pub use range::PwlRange;

/// Fewest and most segments an approximator may have.
pub const MIN_ENTRIES: usize = 4;
pub const MAX_ENTRIES: usize = 32;

/// The fixed-point formats of one approximator. Invariants are checked by [`PwlFormat::validate`].
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

impl PwlFormat {
    /// Checks that the formats describe a buildable datapath: widths a hardware register can have (the accumulator,
    /// CW + 9 bits, must fit an i64) and an output scale no finer than the accumulator's, so the output shift
    /// FK + D_IN − D_OUT is a right shift (≥ 0).
    pub fn validate(&self) -> Result<(), PwlError> {
        let check = |field: &'static str, value: u32, min: u32, max: u32| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(PwlError::Format {
                    field,
                    value: i64::from(value),
                    allowed: format!("it must lie in {min}..={max}"),
                })
            }
        };
        check("input_frac_bits", self.input_frac_bits, 0, 15)?;
        check("coeff_bits", self.coeff_bits, 2, 32)?;
        check("coeff_frac_bits", self.coeff_frac_bits, 0, 24)?;
        check("output_bits", self.output_bits, 2, 32)?;
        let finest = self.coeff_frac_bits + self.input_frac_bits;
        if self.output_frac_bits > finest {
            return Err(PwlError::Format {
                field: "output_frac_bits",
                value: i64::from(self.output_frac_bits),
                allowed: format!(
                    "it must be ≤ coeff_frac_bits + input_frac_bits = {finest} (the output cannot be finer than the \
                     accumulator)"
                ),
            });
        }
        Ok(())
    }

    /// The signed range of a CW-bit coefficient code.
    pub fn coeff_limits(&self) -> (i64, i64) {
        let half = 1i64 << (self.coeff_bits.clamp(1, 63) - 1);
        (-half, half - 1)
    }

    /// The real value of one coefficient code (slope or intercept).
    pub fn coeff_value(&self, code: i64) -> f64 {
        code as f64 * 2f64.powi(-(self.coeff_frac_bits as i32))
    }

    /// The real value of one input code.
    pub fn input_value(&self, q: i64) -> f64 {
        q as f64 * 2f64.powi(-(self.input_frac_bits as i32))
    }
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
    /// Checks the table against its formats: 4..=32 entries, K−1 non-decreasing breakpoints, K slopes and intercepts
    /// that fit CW signed bits. A table that passes can be evaluated and turned into hardware.
    pub fn validate(&self) -> Result<(), PwlError> {
        self.format.validate()?;
        let entries = self.slopes.len();
        if !(MIN_ENTRIES..=MAX_ENTRIES).contains(&entries) {
            return Err(PwlError::Entries { entries });
        }
        let count = |field: &'static str, found: usize, expected: usize| {
            if found == expected {
                Ok(())
            } else {
                Err(PwlError::Count {
                    field,
                    found,
                    entries,
                    expected,
                })
            }
        };
        count("breakpoints", self.breakpoints.len(), entries - 1)?;
        count("intercepts", self.intercepts.len(), entries)?;
        if let Some(index) =
            (1..self.breakpoints.len()).find(|&j| self.breakpoints[j] < self.breakpoints[j - 1])
        {
            return Err(PwlError::NotMonotonic {
                index,
                value: i64::from(self.breakpoints[index]),
                previous: i64::from(self.breakpoints[index - 1]),
            });
        }
        self.check_coefficients("slopes", &self.slopes)?;
        self.check_coefficients("intercepts", &self.intercepts)
    }

    fn check_coefficients(&self, field: &'static str, codes: &[i64]) -> Result<(), PwlError> {
        let (min, max) = self.format.coeff_limits();
        match codes.iter().position(|c| !(min..=max).contains(c)) {
            None => Ok(()),
            Some(index) => Err(PwlError::Coefficient {
                field,
                index,
                value: codes[index],
                bits: self.format.coeff_bits,
                min,
                max,
                hint: format!(": use coeff_bits ≥ {}", signed_bits(codes)),
            }),
        }
    }

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
        (self.format.coeff_frac_bits + self.format.input_frac_bits) as i32
            - self.format.output_frac_bits as i32
    }

    /// The hardware output code for input code q (numerics.md `out`).
    pub fn eval(&self, q: i8) -> i64 {
        sat(
            round_shift(i128::from(self.accumulate(q)), self.output_shift()),
            self.format.output_bits,
        )
    }

    /// The real value of an output code.
    pub fn output_value(&self, out: i64) -> f64 {
        out as f64 * 2f64.powi(-(self.format.output_frac_bits as i32))
    }

    /// The float approximation of numerics.md's float measure: breakpoints as real values p_j·2^−D_IN, segment
    /// i = #{j : x ≥ p_j}, y = k_i·x + b_i with the quantized k and b, no output rounding.
    pub fn eval_float(&self, x: f64) -> f64 {
        // x ≥ p·2^−D ⟺ x·2^D ≥ p: scaling by a power of two is exact, so this is the same comparison.
        let scaled = x * 2f64.powi(self.format.input_frac_bits as i32);
        let i = self
            .breakpoints
            .iter()
            .filter(|&&p| scaled >= f64::from(p))
            .count();
        self.format.coeff_value(self.slopes[i]) * x + self.format.coeff_value(self.intercepts[i])
    }
}

/// The fewest signed bits that hold every code.
pub fn signed_bits(codes: &[i64]) -> u32 {
    let needed = |c: i64| {
        65 - if c < 0 {
            (!c).leading_zeros()
        } else {
            c.leading_zeros()
        }
    };
    codes.iter().map(|&c| needed(c)).max().unwrap_or(1).max(1)
}

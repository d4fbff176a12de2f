//! Transaction-level model of the PE array: the beats it consumes, the beats it produces, and how a GEMM maps onto
//! them (the stream schedule documented in `docs/pe-array.md`).

mod run;
mod schedule;

use serde::Serialize;

use crate::nm::NmPattern;
use crate::numerics::MAX_PRODUCT;
use crate::ParamError;

pub use run::{assemble, run_array, utilisation};
pub use schedule::{schedule_dense, schedule_sparse, Schedule, Tile};

/// The shape of one PE array. Build it through [`ArrayShape::new`], which checks every value; the streaming models
/// re-check what they rely on ([`ArrayShape::checked_pattern`]) because the fields are public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ArrayShape {
    pub n: usize,
    pub m: usize,
    pub rows: usize,
    pub cols: usize,
    pub acc_width: u32,
    /// The longest reduction (K) the configuration promises not to overflow.
    pub max_k: usize,
    /// How the multipliers are built; changes the Verilog, never the arithmetic or the timing.
    pub dsp: DspMapping,
}

/// How the PE's INT8 multipliers are written in the Verilog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DspMapping {
    /// A plain `*` between registers: portable; the synthesis tool picks DSP blocks or LUTs.
    #[default]
    Inferred,
    /// One ECP5 MULT18X18D per multiplier with the block's own input and output registers (Yosys does not pack
    /// fabric registers into ECP5 DSPs). Simulation needs the model the generator writes next to the RTL.
    Ecp5,
}

impl DspMapping {
    /// The name used in flags, TOML files and manifests.
    pub fn name(self) -> &'static str {
        match self {
            DspMapping::Inferred => "inferred",
            DspMapping::Ecp5 => "ecp5",
        }
    }

    /// Suffix of the module names that contain the mapping ("" for the portable one).
    pub fn module_suffix(self) -> &'static str {
        match self {
            DspMapping::Inferred => "",
            DspMapping::Ecp5 => "_ecp5",
        }
    }
}

/// One beat on the weight stream `s_w`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightBeat {
    /// `rows * n` values; lane `r * n + s` is slot `s` of row `r`.
    pub values: Vec<i8>,
    /// `rows * n` indices in `0..m`; ignored on dense beats (sent as 0).
    pub indices: Vec<u8>,
    /// `s_w_tuser`: 1 = dense beat (select bypassed).
    pub dense: bool,
    pub last: bool,
}

/// One beat on the activation stream `s_a`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActBeat {
    /// `cols * m` values; lane `c * m + j` is activation `j` of the group for column `c`.
    pub values: Vec<i8>,
    pub last: bool,
}

/// One beat on the result stream `m_y`: one tile row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultBeat {
    /// `cols` accumulator values, each already wrapped to `acc_width` bits (sign-extended into i64).
    pub values: Vec<i64>,
    pub last: bool,
}

/// Legal range of `rows` and `cols`.
const DIM_RANGE: (usize, usize) = (1, 64);
/// Legal range of `acc_width` for a generated array.
const ACC_RANGE: (u32, u32) = (16, 48);

impl ArrayShape {
    /// The default longest reduction: 2^16, which a 32-bit accumulator holds (2^16 · 2^14 = 2^30 < 2^31).
    pub const DEFAULT_MAX_K: usize = 65536;

    /// Validates every parameter: a legal N:M pattern, 1 ≤ rows, cols ≤ 64, 16 ≤ acc_width ≤ 48, max_k a positive
    /// multiple of m, and the overflow rule max_k · 16384 ≤ 2^(acc_width−1) − 1 (numerics.md: the generator refuses
    /// configurations whose declared longest reduction could overflow).
    pub fn new(
        n: usize,
        m: usize,
        rows: usize,
        cols: usize,
        acc_width: u32,
        max_k: usize,
    ) -> Result<ArrayShape, ParamError> {
        let shape = ArrayShape {
            n,
            m,
            rows,
            cols,
            acc_width,
            max_k,
            dsp: DspMapping::Inferred,
        };
        // the generator's range first, so that a width outside it is refused with the range users may give
        check_acc_width(acc_width, ACC_RANGE)?;
        shape.checked_pattern()?;
        if max_k == 0 || !max_k.is_multiple_of(m) {
            return Err(ParamError::MaxKNotMultiple { max_k, m });
        }
        check_overflow(max_k, m, acc_width)?;
        Ok(shape)
    }

    /// The N:M pattern, after re-checking what the streaming models rely on (the fields are public, so a shape may
    /// have been built without [`ArrayShape::new`], e.g. by a test that wants a deliberately narrow accumulator):
    /// a legal pattern, rows and cols in 1..=64, and acc_width in 1..=64.
    pub fn checked_pattern(&self) -> Result<NmPattern, ParamError> {
        let pattern = NmPattern::new(self.n, self.m)?;
        check_dim("rows", self.rows)?;
        check_dim("cols", self.cols)?;
        check_acc_width(self.acc_width, (1, 64))?;
        Ok(pattern)
    }

    /// The same shape with the multipliers built as `dsp`.
    pub fn with_dsp(self, dsp: DspMapping) -> ArrayShape {
        ArrayShape { dsp, ..self }
    }

    /// Width of one weight index, log2(M).
    pub fn index_bits(&self) -> u32 {
        self.m.trailing_zeros()
    }

    /// Name of the single-PE module; encodes every parameter that changes its ports or arithmetic.
    pub fn pe_module_name(&self) -> String {
        format!(
            "sta_pe_n{}m{}_a{}{}",
            self.n,
            self.m,
            self.acc_width,
            self.dsp.module_suffix()
        )
    }

    /// Name of the array top module (docs/pe-array.md).
    pub fn array_module_name(&self) -> String {
        format!(
            "sta_pe_array_n{}m{}_r{}c{}_a{}{}",
            self.n,
            self.m,
            self.rows,
            self.cols,
            self.acc_width,
            self.dsp.module_suffix()
        )
    }

    /// Name of the array controller, which only depends on the number of result rows it drains.
    pub fn ctrl_module_name(&self) -> String {
        format!("sta_array_ctrl_r{}", self.rows)
    }
}

fn check_dim(name: &'static str, value: usize) -> Result<(), ParamError> {
    let (min, max) = DIM_RANGE;
    if !(min..=max).contains(&value) {
        return Err(ParamError::Dimension {
            name,
            value,
            min,
            max,
        });
    }
    Ok(())
}

fn check_acc_width(acc_width: u32, (min, max): (u32, u32)) -> Result<(), ParamError> {
    if !(min..=max).contains(&acc_width) {
        return Err(ParamError::AccWidth {
            acc_width,
            min,
            max,
        });
    }
    Ok(())
}

/// The overflow rule, with an error that names both ways out: the largest max_k this width allows and the smallest
/// width this max_k needs.
fn check_overflow(max_k: usize, m: usize, acc_width: u32) -> Result<(), ParamError> {
    let limit = (1u128 << (acc_width - 1)) - 1;
    let worst = max_k as u128 * MAX_PRODUCT as u128;
    if worst <= limit {
        return Ok(());
    }
    // The smallest w with worst ≤ 2^(w−1) − 1, i.e. worst < 2^(w−1): one more than worst's bit length.
    let smallest_acc_width = 128 - worst.leading_zeros() + 1;
    let largest_max_k = (limit / MAX_PRODUCT as u128) as usize / m * m;
    if largest_max_k == 0 {
        return Err(ParamError::AccWidthTooNarrow {
            acc_width,
            m,
            max_k,
            smallest_acc_width,
        });
    }
    Err(ParamError::AccumulatorOverflow {
        max_k,
        acc_width,
        largest_max_k,
        smallest_acc_width,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_shape_is_legal_and_named() {
        let s = ArrayShape::new(2, 8, 4, 16, 32, ArrayShape::DEFAULT_MAX_K).expect("legal");
        assert_eq!(s.index_bits(), 3);
        assert_eq!(s.pe_module_name(), "sta_pe_n2m8_a32");
        assert_eq!(s.array_module_name(), "sta_pe_array_n2m8_r4c16_a32");
        assert_eq!(s.ctrl_module_name(), "sta_array_ctrl_r4");
        assert_eq!(s.checked_pattern(), NmPattern::new(2, 8));
    }

    #[test]
    fn parameter_ranges() {
        assert_eq!(
            ArrayShape::new(5, 4, 1, 1, 32, 4),
            Err(ParamError::NLargerThanM { n: 5, m: 4 })
        );
        let dim = |name, value| {
            Err(ParamError::Dimension {
                name,
                value,
                min: 1,
                max: 64,
            })
        };
        assert_eq!(ArrayShape::new(1, 2, 0, 1, 32, 2), dim("rows", 0));
        assert_eq!(ArrayShape::new(1, 2, 1, 65, 32, 2), dim("cols", 65));
        assert!(ArrayShape::new(1, 2, 64, 64, 32, 2).is_ok());
        let acc = |acc_width| {
            Err(ParamError::AccWidth {
                acc_width,
                min: 16,
                max: 48,
            })
        };
        assert_eq!(ArrayShape::new(1, 2, 1, 1, 15, 2), acc(15));
        assert_eq!(ArrayShape::new(1, 2, 1, 1, 49, 2), acc(49));
        assert_eq!(
            ArrayShape::new(1, 4, 1, 1, 32, 6),
            Err(ParamError::MaxKNotMultiple { max_k: 6, m: 4 })
        );
        assert_eq!(
            ArrayShape::new(1, 4, 1, 1, 32, 0),
            Err(ParamError::MaxKNotMultiple { max_k: 0, m: 4 })
        );
    }

    #[test]
    fn overflow_rule_names_both_remedies() {
        // 2^31 − 1 = 131071.99… · 16384: the largest multiple of 4 is 131068; 131072 · 16384 = 2^31 needs 33 bits.
        let err = ArrayShape::new(2, 4, 1, 1, 32, 131072).expect_err("overflows");
        assert_eq!(
            err,
            ParamError::AccumulatorOverflow {
                max_k: 131072,
                acc_width: 32,
                largest_max_k: 131068,
                smallest_acc_width: 33
            }
        );
        assert!(err.to_string().contains("max_k ≤ 131068 or acc_width ≥ 33"));
        assert!(ArrayShape::new(2, 4, 1, 1, 32, 131068).is_ok());
        assert!(ArrayShape::new(2, 4, 1, 1, 33, 131072).is_ok());
        assert!(ArrayShape::new(2, 4, 1, 1, 31, ArrayShape::DEFAULT_MAX_K).is_err());
        // 48 bits: 2^33 − 16 (the largest multiple of 16 below 2^33) fits, 2^33 · 2^14 = 2^47 does not.
        assert!(ArrayShape::new(16, 16, 1, 1, 48, (1 << 33) - 16).is_ok());
        assert!(ArrayShape::new(16, 16, 1, 1, 48, 1 << 33).is_err());
        assert!(ArrayShape::new(16, 16, 1, 1, 48, usize::MAX / 16 * 16).is_err());
    }

    #[test]
    fn narrowest_accumulators() {
        // 16 bits hold one product (16384 ≤ 32767) but not the two of the smallest group.
        assert_eq!(
            ArrayShape::new(1, 2, 1, 1, 16, 2),
            Err(ParamError::AccWidthTooNarrow {
                acc_width: 16,
                m: 2,
                max_k: 2,
                smallest_acc_width: 17
            })
        );
        assert!(ArrayShape::new(1, 2, 1, 1, 17, 2).is_ok());
    }

    #[test]
    fn checked_pattern_catches_hand_built_shapes() {
        let bad = ArrayShape {
            n: 2,
            m: 4,
            rows: 1,
            cols: 1,
            acc_width: 0,
            max_k: 4,
            dsp: Default::default(),
        };
        assert_eq!(
            bad.checked_pattern(),
            Err(ParamError::AccWidth {
                acc_width: 0,
                min: 1,
                max: 64
            })
        );
        let narrow = ArrayShape {
            acc_width: 17,
            max_k: 1 << 20,
            ..bad
        };
        assert!(narrow.checked_pattern().is_ok());
    }
}

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DspMapping {
    /// A plain `*` between registers: portable; the synthesis tool picks DSP blocks or LUTs.
    #[default]
    Inferred,
    /// One ECP5 MULT18X18D per multiplier with the block's own input and output registers (Yosys does not pack
    /// fabric registers into ECP5 DSPs). Simulation needs the model the generator writes next to the RTL.
    Ecp5,
    /// MULT18X18D blocks for as many whole PEs as `dsps` blocks cover (⌊dsps / N⌋ PEs, row-major), an explicit
    /// LUT multiplier (radix-4 Booth) in every other PE: arrays beyond the part's DSP count.
    Ecp5Mixed { dsps: u32 },
}

/// The MULT18X18D blocks of the largest ECP5 (LFE5U-85F): the budget of `ecp5-mixed` when none is given.
pub const ECP5_85K_DSPS: u32 = 156;
/// The largest DSP budget `ecp5-mixed:D` accepts (no ECP5 has more than 156; larger values only mean "all").
const MAX_DSP_BUDGET: u32 = 4096;

/// How one PE's multipliers are built (a [`DspMapping`] may mix two kinds in one array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiplierKind {
    /// `*` between fabric registers.
    Inferred,
    /// ECP5 MULT18X18D with its own registers.
    Ecp5Dsp,
    /// Radix-4 Booth partial products and an adder tree in LUTs, between fabric registers.
    Lut,
}

impl MultiplierKind {
    /// Suffix of the PE module built with this kind of multiplier.
    pub fn module_suffix(self) -> &'static str {
        match self {
            MultiplierKind::Inferred => "",
            MultiplierKind::Ecp5Dsp => "_ecp5",
            MultiplierKind::Lut => "_lutmul",
        }
    }
}

impl DspMapping {
    /// The name used in flags, TOML files and manifests: `inferred`, `ecp5`, `ecp5-mixed:D`.
    pub fn name(self) -> String {
        match self {
            DspMapping::Inferred => "inferred".to_string(),
            DspMapping::Ecp5 => "ecp5".to_string(),
            DspMapping::Ecp5Mixed { dsps } => format!("ecp5-mixed:{dsps}"),
        }
    }

    /// Parses a [`DspMapping::name`]; `ecp5-mixed` alone means the DSP budget of the largest ECP5
    /// ([`ECP5_85K_DSPS`]). The error says what is allowed.
    pub fn parse(text: &str) -> Result<DspMapping, String> {
        let allowed = "allowed: inferred, ecp5, ecp5-mixed (= ecp5-mixed:156, the DSP blocks of an ECP5-85k) or \
                       ecp5-mixed:D with a DSP budget D in 0..=4096";
        match text {
            "inferred" => Ok(DspMapping::Inferred),
            "ecp5" => Ok(DspMapping::Ecp5),
            "ecp5-mixed" => Ok(DspMapping::Ecp5Mixed {
                dsps: ECP5_85K_DSPS,
            }),
            _ => match text.strip_prefix("ecp5-mixed:").map(str::parse::<u32>) {
                Some(Ok(dsps)) if dsps <= MAX_DSP_BUDGET => Ok(DspMapping::Ecp5Mixed { dsps }),
                _ => Err(format!("unknown multiplier mapping '{text}'; {allowed}")),
            },
        }
    }

    /// Suffix of the module names that contain the mapping ("" for the portable one).
    pub fn module_suffix(self) -> String {
        match self {
            DspMapping::Inferred => String::new(),
            DspMapping::Ecp5 => "_ecp5".to_string(),
            DspMapping::Ecp5Mixed { dsps } => format!("_ecp5m{dsps}"),
        }
    }

    /// Whether the design instantiates ECP5 MULT18X18D blocks (and needs their simulation model).
    pub fn uses_ecp5_dsp(self) -> bool {
        !matches!(self, DspMapping::Inferred)
    }
}

impl Serialize for DspMapping {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> serde::Deserialize<'de> for DspMapping {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DspMapping::parse(&text).map_err(serde::de::Error::custom)
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

    /// Name of the single-PE module with this kind of multiplier; encodes every parameter that changes its ports
    /// or arithmetic.
    pub fn pe_module_name_for(&self, kind: MultiplierKind) -> String {
        format!(
            "sta_pe_n{}m{}_a{}{}",
            self.n,
            self.m,
            self.acc_width,
            kind.module_suffix()
        )
    }

    /// Name of the PE module of a single-kind mapping (`inferred`, `ecp5`); with `ecp5-mixed` the first of
    /// [`ArrayShape::pe_kinds`] (the DSP PE, unless the budget covers no PE).
    pub fn pe_module_name(&self) -> String {
        self.pe_module_name_for(self.pe_kinds()[0])
    }

    /// PEs whose multipliers are MULT18X18D blocks (the first ones in row-major order): all of them with `ecp5`,
    /// ⌊D / N⌋ (at most all) with `ecp5-mixed:D`, none with `inferred`.
    pub fn dsp_pes(&self) -> usize {
        let pes = self.rows * self.cols;
        match self.dsp {
            DspMapping::Inferred => 0,
            DspMapping::Ecp5 => pes,
            DspMapping::Ecp5Mixed { dsps } => (dsps as usize / self.n).min(pes),
        }
    }

    /// The kinds of PE the array instantiates, DSP PEs first.
    pub fn pe_kinds(&self) -> Vec<MultiplierKind> {
        match self.dsp {
            DspMapping::Inferred => vec![MultiplierKind::Inferred],
            DspMapping::Ecp5 => vec![MultiplierKind::Ecp5Dsp],
            DspMapping::Ecp5Mixed { .. } => {
                let dsp = self.dsp_pes();
                let lut = self.rows * self.cols - dsp;
                [(dsp, MultiplierKind::Ecp5Dsp), (lut, MultiplierKind::Lut)]
                    .into_iter()
                    .filter(|(count, _)| *count > 0)
                    .map(|(_, kind)| kind)
                    .collect()
            }
        }
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

    /// Name of the array controller, which depends on the number of result rows it drains and on the depth of the
    /// PEs' adder tree (suffix `_t{levels}` when it has more than one level).
    pub fn ctrl_module_name(&self) -> String {
        match self.sum_levels() {
            1 => format!("sta_array_ctrl_r{}", self.rows),
            levels => format!("sta_array_ctrl_r{}_t{levels}", self.rows),
        }
    }

    /// Registered levels of the PE's adder tree over its N products ([`sum_levels`]).
    pub fn sum_levels(&self) -> usize {
        sum_levels(self.n)
    }

    /// Cycles from a beat's acceptance to its accumulation ([`accumulate_latency`]).
    pub fn accumulate_latency(&self) -> usize {
        accumulate_latency(self.n)
    }

    /// Cycles a GEMM of `tiles` tiles of `beats` beats each takes with no back-pressure, from the first accepted beat
    /// to the last result row (docs/pe-array.md "Cycles"): one beat per cycle, but a tile's last beat may only reach
    /// the accumulators R + 2 cycles after the previous tile's (its capture and the R-row drain), then the
    /// pipeline, the capture, the decision to shift, the last tile's R rows and the output register.
    pub fn gemm_cycles(&self, tiles: usize, beats: usize) -> u64 {
        if tiles == 0 {
            return 0;
        }
        let later_tiles = (tiles - 1) as u64 * beats.max(self.rows + 2) as u64;
        beats as u64 + later_tiles + (self.accumulate_latency() + 2 + self.rows) as u64
    }
}

/// Registered levels of a PE's binary adder tree over its `n` products: 1 for n ≤ 2 (one adder or none), ⌈log2 n⌉
/// above, so no stage adds more than two values.
pub fn sum_levels(n: usize) -> usize {
    n.max(2).next_power_of_two().trailing_zeros() as usize
}

/// Cycles from a beat's acceptance to its accumulation in a PE with `n` multipliers: operand, select, multiplier
/// input, product and fabric landing registers (a LUT multiplier's three stages stand in for the last three: the
/// same count for every multiplier kind), the adder tree's levels, then the accumulator (docs/pe-array.md "Timing").
pub fn accumulate_latency(n: usize) -> usize {
    5 + sum_levels(n) + 1
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
    fn adder_tree_depth_latency_and_cycles() {
        let levels: Vec<usize> = (1..=16).map(sum_levels).collect();
        assert_eq!(levels, [1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4]);
        assert_eq!((accumulate_latency(2), accumulate_latency(8)), (7, 9));
        let s = ArrayShape::new(2, 8, 4, 2, 32, 1024).unwrap();
        // B ≥ R + 2: one beat per cycle; then latency 7, capture, shift decision, 4 rows
        assert_eq!(s.gemm_cycles(3, 6), 18 + 13);
        // B < R + 2: every tile after the first waits for the previous tile's capture and drain
        assert_eq!(s.gemm_cycles(3, 2), 2 + 2 * 6 + 13);
        assert_eq!(s.gemm_cycles(0, 2), 0);
        assert_eq!(s.ctrl_module_name(), "sta_array_ctrl_r4");
        let deep = ArrayShape::new(8, 8, 4, 2, 32, 1024).unwrap();
        assert_eq!(deep.ctrl_module_name(), "sta_array_ctrl_r4_t3");
    }

    #[test]
    fn dsp_mapping_names_and_pe_split() {
        for text in ["inferred", "ecp5", "ecp5-mixed:0", "ecp5-mixed:156"] {
            assert_eq!(DspMapping::parse(text).unwrap().name(), text);
        }
        assert_eq!(
            DspMapping::parse("ecp5-mixed").unwrap(),
            DspMapping::Ecp5Mixed { dsps: 156 }
        );
        for bad in [
            "ecp5-mixed:",
            "ecp5-mixed:-1",
            "ecp5-mixed:4097",
            "ECP5",
            "ecp5-mixed:1x",
        ] {
            let err = DspMapping::parse(bad).unwrap_err();
            assert!(
                err.contains("allowed: inferred, ecp5, ecp5-mixed"),
                "{bad}: {err}"
            );
        }
        let s = ArrayShape::new(4, 8, 3, 3, 32, 1024)
            .unwrap()
            .with_dsp(DspMapping::Ecp5Mixed { dsps: 10 });
        assert_eq!(s.dsp_pes(), 2);
        assert_eq!(s.pe_kinds(), [MultiplierKind::Ecp5Dsp, MultiplierKind::Lut]);
        assert_eq!(s.array_module_name(), "sta_pe_array_n4m8_r3c3_a32_ecp5m10");
        assert_eq!(
            s.pe_module_name_for(MultiplierKind::Lut),
            "sta_pe_n4m8_a32_lutmul"
        );
        let all = s.with_dsp(DspMapping::Ecp5Mixed { dsps: 156 });
        assert_eq!(
            (all.dsp_pes(), all.pe_kinds()),
            (9, vec![MultiplierKind::Ecp5Dsp])
        );
        let none = s.with_dsp(DspMapping::Ecp5Mixed { dsps: 3 });
        assert_eq!(
            (none.dsp_pes(), none.pe_kinds()),
            (0, vec![MultiplierKind::Lut])
        );
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

//! The accelerator's LayerNorm unit (`hdl/templates/sta_layernorm.v`): L lanes (lane l = one token), rows of D
//! 24-bit residual values, three passes over the row in lock-step, bit-exact with the encoder's integer LayerNorm
//! (`sta_golden::encoder::ops::{norm_stats, normalise, affine}` with `NormMethod::Rsqrt`).
//!
//! Passes (the caller streams element i of every lane's row in one beat, i = 0 … D − 1, three times):
//! - pass 0: `S = Σ r_i`; after its last element the unit computes `μ = round_shift(S·MU, 32)` per lane;
//! - pass 1: `V = Σ (r_i − μ)²` (exact); after its last element the normaliser `(mult, shift)` per lane
//!   (`k = ⌊⌊log2 V⌋/2⌋`, `f = min(127, round_shift(V, 2k − 5))`, `mult = max(0, RSQRT(f))`, `shift = k + D_OUT − 15`);
//! - pass 2: `y_i = sat_8(round_shift(sat_16(round_shift((r_i − μ)·mult, shift))·g_i + c_i, in_shift))`, one output
//!   beat per input beat after a fixed [`LN_LATENCY`].
//!
//! The mean multiplier and the normaliser (leading-one detector, the f shifter and one RSQRT PWL unit,
//! [`crate::pwl_lut`]) are **time-shared** by the L lanes: they run once per row group, one lane per cycle, so the
//! unit holds `in_ready` low for [`LayerNormUnit::mean_bubble`] = L + 2 cycles after pass 0's last element and
//! [`LayerNormUnit::norm_bubble`] = L + 4 + PWL_LATENCY cycles after pass 1's last. Against 3·D streaming cycles per
//! row group that is L + 2 + L + 7 extra cycles (MiniLM, D = 384, L = 16: 41 of 1193, 3.4 %), and it saves per lane a
//! constant multiplier (S·MU, about 2,800 Yosys generic gates at D = 384; a plain shift when D is a power of two), a
//! V-wide leading-one detector and shifter and a PWL unit (about 1,400 gates: an 18 × 8 multiplier, 15 comparators),
//! against about 8,500 gates per lane for everything else (measured at L = 4, D = 32) — and on an FPGA the DSP blocks
//! of those multipliers. The per-lane datapath keeps one ZW × ZW multiplier shared by pass 1 (z²) and pass 2
//! (z·mult) and one 16 × 16 multiplier (n·g).

use askama::Template;
use sha2::{Digest, Sha256};
use sta_golden::encoder::ops::{mean_mult, MEAN_SHIFT, NORM_FRAC_BITS, RESIDUAL_BITS};
use sta_golden::numerics::round_shift;
use sta_golden::pwl::PwlTable;
use sta_golden::PwlError;

use crate::emit::{standard_header, GeneratedModule};
use crate::pwl_lut::{emit_pwl, PwlRtlError, PwlUnit, PWL_LATENCY};

/// Lanes L accepted by the generator.
pub const MAX_LANES: usize = 64;
/// Longest row D (the encoder's d_model limit; V < 2^62 relies on it).
pub const MAX_ROW_LEN: usize = 4096;
/// Cycles from a pass-2 input beat (accepted in cycle t) to its output beat (`out_valid` high in cycle t + 8).
pub const LN_LATENCY: u32 = 8;
/// Width of a gain g_i (signed).
pub const GAIN_BITS: u32 = 16;
/// Width of an offset c_i (signed).
pub const OFFSET_BITS: u32 = 40;
/// Width of `in_shift`.
pub const SHIFT_PORT_BITS: u32 = 6;
/// Width of n_i (signed, `sat_16`).
pub const NORM_BITS: u32 = 16;

#[derive(Debug, thiserror::Error)]
pub enum LayerNormRtlError {
    #[error("lanes = {0} is outside 1..={MAX_LANES}")]
    Lanes(usize),
    #[error("d = {0} (the row length) is outside 1..={MAX_ROW_LEN}")]
    RowLen(usize),
    #[error("RSQRT table: {0}")]
    Table(#[from] PwlError),
    #[error("RSQRT table: {0}")]
    Lut(#[from] PwlRtlError),
    #[error("template rendering failed for {module}: {source}")]
    Template {
        module: String,
        source: askama::Error,
    },
}

/// A validated LayerNorm configuration: L lanes, rows of D elements, the RSQRT table baked in.
#[derive(Debug, Clone)]
pub struct LayerNormUnit {
    lanes: usize,
    d: usize,
    table: PwlTable,
    rsqrt: PwlUnit,
}

/// Every width of the datapath, derived from D and the table (bits; "signed" where the value is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerNormWidths {
    /// S = Σ r_i, signed: holds D·[−2^23, 2^23 − 1].
    pub sum: u32,
    /// MU = round(2^32 / D) as a signed constant.
    pub mu: u32,
    /// μ, signed: the exact range of round_shift(S·MU, 32) over every legal S.
    pub mean: u32,
    /// z = r − μ, signed.
    pub z: u32,
    /// z² (unsigned).
    pub sq: u32,
    /// V = Σ z² (unsigned).
    pub v: u32,
    /// k = ⌊⌊log2 V⌋/2⌋ (unsigned).
    pub k: u32,
    /// The stored normaliser shift k + max(0, D_OUT − 15) (unsigned).
    pub shift: u32,
    /// mult = max(0, RSQRT(f)) (unsigned): the table's output width − 1.
    pub mult: u32,
    /// The shared multiplier's second operand (signed): max(z, table output width).
    pub mul_b: u32,
    /// z·mult, signed.
    pub zm: u32,
}

fn bits_for(v: u128) -> u32 {
    (128 - v.leading_zeros()).max(1)
}

/// The fewest signed bits holding every value of [min, max].
fn signed_bits(min: i128, max: i128) -> u32 {
    let need = |v: i128| {
        if v < 0 {
            bits_for(!v as u128) + 1
        } else {
            bits_for(v as u128) + 1
        }
    };
    need(min).max(need(max))
}

fn clog2(v: usize) -> u32 {
    if v <= 1 {
        0
    } else {
        usize::BITS - (v - 1).leading_zeros()
    }
}

impl LayerNormUnit {
    /// L ∈ 1..=64, D ∈ 1..=4096, a valid PWL table (`PwlTable::validate`) the INT8 PWL unit can build. Any
    /// D_OUT (the table's output_frac_bits) is supported: below 15 the normaliser's shift k + D_OUT − 15 can be
    /// negative, which the datapath handles with a constant pre-shift of 15 − D_OUT.
    pub fn new(lanes: usize, d: usize, rsqrt: PwlTable) -> Result<Self, LayerNormRtlError> {
        if !(1..=MAX_LANES).contains(&lanes) {
            return Err(LayerNormRtlError::Lanes(lanes));
        }
        if !(1..=MAX_ROW_LEN).contains(&d) {
            return Err(LayerNormRtlError::RowLen(d));
        }
        rsqrt.validate()?;
        let unit = PwlUnit::from_table("rsqrt", &rsqrt)?;
        Ok(LayerNormUnit {
            lanes,
            d,
            table: rsqrt,
            rsqrt: unit,
        })
    }

    pub fn lanes(&self) -> usize {
        self.lanes
    }
    /// D, the row length.
    pub fn d(&self) -> usize {
        self.d
    }
    pub fn table(&self) -> &PwlTable {
        &self.table
    }
    /// The RSQRT PWL unit the module instantiates (once, time-shared).
    pub fn rsqrt(&self) -> &PwlUnit {
        &self.rsqrt
    }

    /// Cycles from a pass-2 input beat to its output beat.
    pub fn latency(&self) -> u32 {
        LN_LATENCY
    }
    /// `in_ready` is low for exactly this many cycles after the cycle that accepts pass 0's last element (the mean
    /// multiplier visits the L lanes): L + 2.
    pub fn mean_bubble(&self) -> u32 {
        self.lanes as u32 + 2
    }
    /// `in_ready` is low for exactly this many cycles after the cycle that accepts pass 1's last element (the
    /// normaliser and the RSQRT unit visit the L lanes): L + 4 + PWL_LATENCY.
    pub fn norm_bubble(&self) -> u32 {
        self.lanes as u32 + 4 + PWL_LATENCY
    }

    /// The right shift of the normaliser beyond k: max(0, D_OUT − 15).
    fn shift_offset(&self) -> u32 {
        self.table
            .format
            .output_frac_bits
            .saturating_sub(NORM_FRAC_BITS)
    }
    /// The constant left pre-shift of z·mult that keeps the shift ≥ 0: max(0, 15 − D_OUT).
    fn pre_shift(&self) -> u32 {
        NORM_FRAC_BITS.saturating_sub(self.table.format.output_frac_bits)
    }

    /// MU = round(2^32 / D).
    pub fn mean_mult(&self) -> u64 {
        mean_mult(self.d)
    }

    pub fn widths(&self) -> LayerNormWidths {
        let d = self.d as i128;
        let (rmin, rmax) = (
            -(1i128 << (RESIDUAL_BITS - 1)),
            (1i128 << (RESIDUAL_BITS - 1)) - 1,
        );
        let (smin, smax) = (d * rmin, d * rmax);
        let mu = i128::from(self.mean_mult());
        let mean = |s: i128| round_shift(s * mu, MEAN_SHIFT as i32);
        let (mmin, mmax) = (mean(smin), mean(smax));
        let (zmin, zmax) = (rmin - mmax, rmax - mmin);
        let sq = (zmin * zmin).max(zmax * zmax) as u128;
        let v = bits_for(d as u128 * sq);
        let z = signed_bits(zmin, zmax);
        let ow = self.table.format.output_bits;
        // V ≥ 1 has its leading one at 0 … VW − 1, k = ⌊that / 2⌋ (VW ≥ 49: z² reaches 2^48 at every D)
        let kmax = (v - 1) / 2;
        LayerNormWidths {
            sum: signed_bits(smin, smax),
            mu: bits_for(mu as u128) + 1,
            mean: signed_bits(mmin, mmax),
            z,
            sq: bits_for(sq),
            v,
            k: bits_for(u128::from(v - 1)) - 1,
            shift: bits_for(u128::from(kmax + self.shift_offset())),
            mult: ow - 1,
            mul_b: z.max(ow),
            zm: z + ow - 1,
        }
    }

    /// `sta_layernorm_l<L>_d<D>_r<first 8 hex digits of the RSQRT unit's content hash>`.
    pub fn module_name(&self) -> String {
        format!(
            "sta_layernorm_l{}_d{}_r{}",
            self.lanes,
            self.d,
            &self.rsqrt.content_hash()[..8]
        )
    }

    /// Every parameter in one canonical line (header, content hash).
    pub fn parameter_line(&self) -> String {
        format!(
            "lanes={} d={} latency={} rsqrt={}:{}",
            self.lanes,
            self.d,
            LN_LATENCY,
            self.rsqrt.module_name(),
            self.rsqrt.content_hash()
        )
    }

    /// First 16 hex digits of the SHA-256 of [`Self::parameter_line`].
    pub fn content_hash(&self) -> String {
        let digest = Sha256::digest(self.parameter_line().as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// `{{n{x[msb]}}, x}` (sign extension from `from` to `to` bits), or `x` when the widths agree.
fn sext(signal: &str, from: u32, to: u32) -> String {
    if to == from {
        signal.to_string()
    } else {
        format!("{{ {{{}{{{signal}[{}]}}}}, {signal}}}", to - from, from - 1)
    }
}

/// `{{n{1'b0}}, x}` (zero extension from `from` to `to` bits), or `x` when the widths agree.
fn zext(signal: &str, from: u32, to: u32) -> String {
    if to == from {
        signal.to_string()
    } else {
        format!("{{ {{{}{{1'b0}}}}, {signal}}}", to - from)
    }
}

/// A sized Verilog literal `W'h…` (unsigned) or `W'sh…` (signed) holding `value` in two's complement.
fn literal(value: i128, bits: u32, signed: bool) -> String {
    let mask = if bits >= 128 { -1 } else { (1i128 << bits) - 1 };
    let digits = bits.div_ceil(4) as usize;
    let s = if signed { "s" } else { "" };
    format!("{bits}'{s}h{:0digits$x}", value & mask)
}

/// The one-hot write enable `valid << index` over L lanes.
fn one_hot(valid: &str, index: &str, lanes: usize) -> String {
    if lanes == 1 {
        valid.to_string()
    } else {
        format!("{} << {index}", zext(valid, 1, lanes as u32))
    }
}

#[derive(Template)]
#[template(path = "sta_layernorm.v", escape = "none")]
struct LayerNormTemplate<'a> {
    header: &'a str,
    name: &'a str,
    lanes: usize,
    d: usize,
    latency: u32,
    mean_bubble: u32,
    norm_bubble: u32,
    pwl_latency: u32,
    rsqrt_module: String,
    d_out: u32,
    w: LayerNormWidths,
    mu: u64,
    mu_literal: String,
    mean_half: String,
    mean_prod_bits: u32,
    pre_shift: u32,
    shift_offset: u32,
    round_bits: u32,
    lane_bits: u32,
    wait_bits: u32,
    last_lane: String,
    mean_bubble_c: String,
    norm_bubble_c: String,
    sum_init: String,
    r_to_sum: String,
    r_to_z: String,
    mean_to_z: String,
    z_to_b: String,
    mult_to_b: String,
    sq_to_v: String,
    zm_scaled: String,
    k_to_shift: String,
    shift_offset_c: String,
    mean_we: String,
    norm_we: String,
    rsqrt_out_bits: u32,
}

fn header(unit: &LayerNormUnit, name: &str) -> String {
    let w = unit.widths();
    standard_header(
        name,
        &[
            format!(
                "LayerNorm unit, config {}: {}",
                unit.content_hash(),
                unit.parameter_line()
            ),
            format!(
                "  widths: sum={} mean={} z={} v={} mult={} shift={}; MU = round(2^32/D) = {}; bubbles: {} cycles \
                 after pass 0, {} after pass 1",
                w.sum,
                w.mean,
                w.z,
                w.v,
                w.mult,
                w.shift,
                unit.mean_mult(),
                unit.mean_bubble(),
                unit.norm_bubble()
            ),
            "Regenerate: sta_hdl::accel::layernorm::emit_layernorm(&LayerNormUnit::new(lanes, d, rsqrt_table)) \
             (the top-level generator emits it with the accelerator)"
                .to_string(),
        ],
    )
}

/// Renders the top module only.
fn emit_top(unit: &LayerNormUnit) -> Result<GeneratedModule, LayerNormRtlError> {
    let name = unit.module_name();
    let header = header(unit, &name);
    let w = unit.widths();
    let lanes = unit.lanes;
    let lane_bits = clog2(lanes).max(1);
    let wait_bits = bits_for(u128::from(unit.norm_bubble()));
    let mean_prod_bits = w.sum + w.mu;
    let pre_shift = unit.pre_shift();
    let round_bits = w.zm + pre_shift + 1;
    let zm_scaled = format!("{{p3[ZMW-1:0], {}'b0}}", pre_shift + 1);
    let template = LayerNormTemplate {
        header: &header,
        name: &name,
        lanes,
        d: unit.d,
        latency: LN_LATENCY,
        mean_bubble: unit.mean_bubble(),
        norm_bubble: unit.norm_bubble(),
        pwl_latency: PWL_LATENCY,
        rsqrt_module: unit.rsqrt.module_name(),
        d_out: unit.table.format.output_frac_bits,
        w,
        mu: unit.mean_mult(),
        mu_literal: literal(i128::from(unit.mean_mult()), w.mu, true),
        mean_half: literal(1i128 << (MEAN_SHIFT - 1), mean_prod_bits, true),
        mean_prod_bits,
        pre_shift,
        shift_offset: unit.shift_offset(),
        round_bits,
        lane_bits,
        wait_bits,
        last_lane: literal((lanes - 1) as i128, lane_bits, false),
        mean_bubble_c: literal(i128::from(unit.mean_bubble()), wait_bits, false),
        norm_bubble_c: literal(i128::from(unit.norm_bubble()), wait_bits, false),
        sum_init: format!("{{{}{{1'b0}}}}", w.sum),
        r_to_sum: sext("r", RESIDUAL_BITS, w.sum),
        r_to_z: sext("r", RESIDUAL_BITS, w.z),
        mean_to_z: sext("mean", w.mean, w.z),
        z_to_b: sext("z2", w.z, w.mul_b),
        mult_to_b: zext("mult", w.mult, w.mul_b),
        sq_to_v: zext("p3[SQW-1:0]", w.sq, w.v),
        zm_scaled,
        k_to_shift: zext("n6_k", w.k, w.shift),
        shift_offset_c: literal(i128::from(unit.shift_offset()), w.shift, false),
        mean_we: one_hot("m2_valid", "m2_j", lanes),
        norm_we: one_hot("rs_valid", "n6_j", lanes),
        rsqrt_out_bits: unit.table.format.output_bits,
    };
    let mut text = template
        .render()
        .map_err(|source| LayerNormRtlError::Template {
            module: name.clone(),
            source,
        })?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(GeneratedModule { name, text })
}

/// Every module of the unit, leaves first: the RSQRT PWL unit, then the LayerNorm top.
pub fn emit_layernorm(unit: &LayerNormUnit) -> Result<Vec<GeneratedModule>, LayerNormRtlError> {
    Ok(vec![emit_pwl(&unit.rsqrt)?, emit_top(unit)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use sta_golden::encoder::program::default_rsqrt_table;

    fn unit(lanes: usize, d: usize) -> LayerNormUnit {
        LayerNormUnit::new(lanes, d, default_rsqrt_table()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn widths_hold_every_legal_row() {
        let w = unit(4, 32).widths();
        // S: 32 · 2^23 = 2^28 → 29 signed bits; μ stays in 24 bits; |z| < 2^24; V < 32 · 2^48
        assert_eq!((w.sum, w.mean, w.z, w.sq, w.v), (29, 24, 25, 48, 53));
        assert_eq!((w.k, w.shift, w.mult, w.mul_b, w.zm), (5, 5, 16, 25, 41));
        let w = unit(8, 384).widths();
        assert_eq!((w.sum, w.mu, w.v), (33, 25, 57));
        let w = unit(1, MAX_ROW_LEN).widths();
        assert_eq!((w.sum, w.v), (36, 60), "V < 2^62 at D = 4096");
        let w = unit(1, 1).widths();
        assert_eq!((w.sum, w.mu, w.mean), (24, 34, 24), "MU = 2^32 at D = 1");
        assert_eq!(unit(4, 32).mean_mult(), 1 << 27);
        assert_eq!(unit(8, 384).mean_mult(), 11_184_811);
    }

    #[test]
    fn bubbles_and_latency() {
        let u = unit(8, 384);
        assert_eq!((u.latency(), u.mean_bubble(), u.norm_bubble()), (8, 10, 15));
        assert_eq!(unit(1, 1).mean_bubble(), 3);
    }

    #[test]
    fn out_of_range_parameters_are_refused() {
        let t = default_rsqrt_table;
        assert!(matches!(
            LayerNormUnit::new(0, 32, t()),
            Err(LayerNormRtlError::Lanes(0))
        ));
        assert!(matches!(
            LayerNormUnit::new(MAX_LANES + 1, 32, t()),
            Err(LayerNormRtlError::Lanes(_))
        ));
        assert!(matches!(
            LayerNormUnit::new(4, 0, t()),
            Err(LayerNormRtlError::RowLen(0))
        ));
        assert!(matches!(
            LayerNormUnit::new(4, MAX_ROW_LEN + 1, t()),
            Err(LayerNormRtlError::RowLen(_))
        ));
        let mut bad = t();
        bad.slopes.pop();
        let err = LayerNormUnit::new(4, 32, bad).unwrap_err();
        assert!(matches!(err, LayerNormRtlError::Table(_)));
        assert!(err.to_string().starts_with("RSQRT table: "), "{err}");
        let mut wide = t();
        wide.slopes[0] = 1 << 20;
        assert!(
            LayerNormUnit::new(4, 32, wide).is_err(),
            "a slope beyond CW bits"
        );
    }

    #[test]
    fn names_identify_lanes_rows_and_table() {
        let u = unit(4, 32);
        let name = u.module_name();
        assert!(
            name.starts_with("sta_layernorm_l4_d32_r") && name.len() == 30,
            "{name}"
        );
        let mut other = default_rsqrt_table();
        other.intercepts[0] += 1;
        let v = LayerNormUnit::new(4, 32, other).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(v.module_name(), name, "another table, another name");
        assert_ne!(unit(4, 33).module_name(), name);
    }

    #[test]
    fn rendered_modules_are_complete() {
        let modules = emit_layernorm(&unit(3, 5)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(modules.len(), 2);
        assert_eq!(modules[0].name, "sta_pwl_rsqrt_k16_d5_c18f14_o17f15");
        let top = &modules[1];
        let t = &top.text;
        assert_eq!(t.matches("\nmodule ").count(), 1);
        assert!(t.contains("`default_nettype none") && t.contains("generated by sta "));
        assert!(!t.contains("{{ ") && !t.contains("{%"));
        assert!(t.contains(&format!("{} u_rsqrt", modules[0].name)));
        // MU = round(2^32 / 5) = 858993459 as a signed 31-bit constant; 2 lane-index bits; D_OUT = 15: no pre-shift
        assert!(
            t.contains("localparam signed [MUW-1:0] MU = 31'sh33333333;"),
            "{t}"
        );
        assert!(t.contains("localparam [JW-1:0] LAST_J = 2'h2;"));
        assert!(t.contains("{p3[ZMW-1:0], 1'b0}"));
        assert!(t.contains("assign mean_we = { {2{1'b0}}, m2_valid} << m2_j;"));
        let one = emit_layernorm(&unit(1, 1)).unwrap_or_else(|e| panic!("{e}"));
        assert!(one[1].text.contains("assign mean_we = m2_valid;"));
    }

    #[test]
    fn tables_with_d_out_below_15_get_a_pre_shift() {
        let mut t = default_rsqrt_table();
        t.format.output_frac_bits = 12;
        let u = LayerNormUnit::new(2, 8, t).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((u.pre_shift(), u.shift_offset()), (3, 0));
        let top = emit_top(&u).unwrap_or_else(|e| panic!("{e}"));
        assert!(top.text.contains("{p3[ZMW-1:0], 4'b0}"));
        let mut t = default_rsqrt_table();
        t.format.output_frac_bits = 17;
        let u = LayerNormUnit::new(2, 8, t).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((u.pre_shift(), u.shift_offset()), (0, 2));
    }
}

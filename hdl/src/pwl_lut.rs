//! The shift-based piecewise-linear (PWL) LUT approximator as Verilog: one module per approximator, its breakpoints
//! and coefficients baked in as ranged signed constants (`hdl/templates/sta_pwl.v`).
//!
//! The INT8 unit ([`PwlUnit::from_table`]) is the hardware of `sta_golden::pwl::PwlTable::eval`, bit for bit. The
//! same template also renders wider units ([`PwlUnit::widened`]: 16- or 32-bit inputs and coefficients) so the area
//! of the INT8 unit can be compared with a 32-bit one built by the same code; those have no golden model and are only
//! linted and synthesised.

use askama::Template;
use sha2::{Digest, Sha256};
use sta_golden::pwl::{PwlFormat, PwlTable};

use crate::emit::{GeneratedModule, GENERATOR};

/// Clock cycles from an input with `in_valid` to its output with `out_valid` (three register stages).
pub const PWL_LATENCY: u32 = 3;

/// Widest input and coefficient codes the generator accepts.
pub const MAX_CODE_BITS: u32 = 32;
/// Widest output code.
pub const MAX_OUTPUT_BITS: u32 = 64;
/// Most segments (an INT8 input has 256 codes; more segments cannot be told apart).
pub const MAX_ENTRIES: usize = 256;
/// Widest internal value (accumulator, rounding); keeps every constant inside an i128.
const MAX_INTERNAL_BITS: u32 = 120;

#[derive(Debug, thiserror::Error)]
pub enum PwlRtlError {
    #[error("function name {0:?} has no letter or digit to build a Verilog module name from")]
    FunctionName(String),
    #[error("{name} = {value} is outside {min}..={max}")]
    Width {
        name: &'static str,
        value: u32,
        min: u32,
        max: u32,
    },
    #[error("{what}: {got} values for {entries} segments, expected {expected}")]
    Count {
        what: &'static str,
        got: usize,
        entries: usize,
        expected: usize,
    },
    #[error("{entries} segments: must be 1..={MAX_ENTRIES}")]
    Entries { entries: usize },
    #[error("{what}[{index}] = {value} does not fit a signed {bits}-bit code")]
    Range {
        what: &'static str,
        index: usize,
        value: i64,
        bits: u32,
    },
    #[error("breakpoints are not sorted: breakpoints[{index}] = {value} is below breakpoints[{prev_index}] = {prev}", prev_index = .index - 1)]
    Unsorted { index: usize, value: i64, prev: i64 },
    #[error("fraction bits {name} = {value} exceed 64")]
    FracBits { name: &'static str, value: u32 },
    #[error(
        "internal width {bits} bits (accumulator and output shift) exceeds {MAX_INTERNAL_BITS}"
    )]
    Internal { bits: u32 },
    #[error("cannot widen to narrower codes: {name} {from} -> {to}")]
    Narrowing {
        name: &'static str,
        from: u32,
        to: u32,
    },
    #[error("template rendering failed for {module}: {source}")]
    Template {
        module: String,
        source: askama::Error,
    },
}

/// One approximator's hardware: the formats, the input width and the integer constants, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PwlUnit {
    function: String,
    in_bits: u32,
    format: PwlFormat,
    breakpoints: Vec<i64>,
    slopes: Vec<i64>,
    intercepts: Vec<i64>,
}

fn fits(value: i64, bits: u32) -> bool {
    let half = 1i128 << (bits - 1);
    (-half..half).contains(&i128::from(value))
}

/// `[a-z0-9_]` only: letters lowered, everything else `_`, runs of `_` collapsed, no `_` at either end.
fn identifier_part(function: &str) -> Result<String, PwlRtlError> {
    let mut out = String::new();
    for c in function.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        if !(c == '_' && (out.is_empty() || out.ends_with('_'))) {
            out.push(c);
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        return Err(PwlRtlError::FunctionName(function.to_string()));
    }
    Ok(out)
}

fn check_width(name: &'static str, value: u32, min: u32, max: u32) -> Result<(), PwlRtlError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(PwlRtlError::Width {
            name,
            value,
            min,
            max,
        })
    }
}

fn check_codes(what: &'static str, values: &[i64], bits: u32) -> Result<(), PwlRtlError> {
    match values.iter().position(|&v| !fits(v, bits)) {
        Some(index) => Err(PwlRtlError::Range {
            what,
            index,
            value: values[index],
            bits,
        }),
        None => Ok(()),
    }
}

impl PwlUnit {
    /// Validates everything the template relies on: widths, counts, code ranges, sorted breakpoints.
    pub fn new(
        function: &str,
        in_bits: u32,
        format: PwlFormat,
        breakpoints: Vec<i64>,
        slopes: Vec<i64>,
        intercepts: Vec<i64>,
    ) -> Result<Self, PwlRtlError> {
        let function = identifier_part(function)?;
        check_width("input bits", in_bits, 2, MAX_CODE_BITS)?;
        check_width("coeff_bits", format.coeff_bits, 2, MAX_CODE_BITS)?;
        check_width("output_bits", format.output_bits, 2, MAX_OUTPUT_BITS)?;
        for (name, value) in [
            ("input_frac_bits", format.input_frac_bits),
            ("coeff_frac_bits", format.coeff_frac_bits),
            ("output_frac_bits", format.output_frac_bits),
        ] {
            if value > 64 {
                return Err(PwlRtlError::FracBits { name, value });
            }
        }
        let entries = slopes.len();
        if !(1..=MAX_ENTRIES).contains(&entries) {
            return Err(PwlRtlError::Entries { entries });
        }
        for (what, got, expected) in [
            ("intercepts", intercepts.len(), entries),
            ("breakpoints", breakpoints.len(), entries - 1),
        ] {
            if got != expected {
                return Err(PwlRtlError::Count {
                    what,
                    got,
                    entries,
                    expected,
                });
            }
        }
        check_codes("breakpoints", &breakpoints, in_bits)?;
        check_codes("slopes", &slopes, format.coeff_bits)?;
        check_codes("intercepts", &intercepts, format.coeff_bits)?;
        if let Some(i) = (1..breakpoints.len()).find(|&i| breakpoints[i] < breakpoints[i - 1]) {
            return Err(PwlRtlError::Unsorted {
                index: i,
                value: breakpoints[i],
                prev: breakpoints[i - 1],
            });
        }
        let unit = PwlUnit {
            function,
            in_bits,
            format,
            breakpoints,
            slopes,
            intercepts,
        };
        let internal = unit.round_bits().max(unit.acc_bits() + 1);
        if internal > MAX_INTERNAL_BITS {
            return Err(PwlRtlError::Internal { bits: internal });
        }
        Ok(unit)
    }

    /// The INT8 unit of a golden-model table: `out_data` equals `table.eval(in_data)` for every code.
    pub fn from_table(function: &str, table: &PwlTable) -> Result<Self, PwlRtlError> {
        PwlUnit::new(
            function,
            8,
            table.format,
            table.breakpoints.iter().map(|&p| i64::from(p)).collect(),
            table.slopes.clone(),
            table.intercepts.clone(),
        )
    }

    /// The same approximator at wider codes, for area comparisons: inputs `in_bits` wide (D_IN grows with them),
    /// coefficients `coeff_bits` wide (FK grows with them), outputs `output_bits` wide (D_OUT grows with them).
    /// The added low-order bits are filled with a fixed pattern, as a table found at that precision would be: all-zero
    /// low bits would let synthesis shrink the comparators and flatter the wide unit. Breakpoints share one pattern so
    /// their order is kept.
    pub fn widened(
        &self,
        in_bits: u32,
        coeff_bits: u32,
        output_bits: u32,
    ) -> Result<PwlUnit, PwlRtlError> {
        let grow = |name, from: u32, to: u32| {
            to.checked_sub(from)
                .ok_or(PwlRtlError::Narrowing { name, from, to })
        };
        let di = grow("input bits", self.in_bits, in_bits)?;
        let dc = grow("coeff_bits", self.format.coeff_bits, coeff_bits)?;
        let dout = grow("output_bits", self.format.output_bits, output_bits)?;
        check_width("input bits", in_bits, 2, MAX_CODE_BITS)?;
        check_width("coeff_bits", coeff_bits, 2, MAX_CODE_BITS)?;
        let low = |seed: u64, bits: u32| -> i64 {
            // splitmix64 of the seed, cut to `bits` bits
            let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z & ((1u64 << bits) - 1)) as i64
        };
        let scale = |v: i64, bits: u32, fill: i64| (v << bits) | fill;
        let bp_fill = low(0, di);
        let breakpoints = self
            .breakpoints
            .iter()
            .map(|&p| scale(p, di, bp_fill))
            .collect();
        let slopes = (self.slopes.iter().enumerate())
            .map(|(i, &k)| scale(k, dc, low(1 + 2 * i as u64, dc)))
            .collect();
        let intercepts = (self.intercepts.iter().enumerate())
            .map(|(i, &b)| scale(b, dc, low(2 + 2 * i as u64, dc)))
            .collect();
        let format = PwlFormat {
            input_frac_bits: self.format.input_frac_bits + di,
            coeff_bits,
            coeff_frac_bits: self.format.coeff_frac_bits + dc,
            output_bits,
            output_frac_bits: self.format.output_frac_bits + dout,
        };
        PwlUnit::new(
            &self.function,
            in_bits,
            format,
            breakpoints,
            slopes,
            intercepts,
        )
    }

    pub fn function(&self) -> &str {
        &self.function
    }
    pub fn in_bits(&self) -> u32 {
        self.in_bits
    }
    pub fn format(&self) -> PwlFormat {
        self.format
    }
    pub fn entries(&self) -> usize {
        self.slopes.len()
    }
    pub fn breakpoints(&self) -> &[i64] {
        &self.breakpoints
    }
    pub fn slopes(&self) -> &[i64] {
        &self.slopes
    }
    pub fn intercepts(&self) -> &[i64] {
        &self.intercepts
    }

    /// `sta_pwl_<function>_k<K>_d<D_IN>_c<CW>f<FK>_o<OW>f<D_OUT>`, plus `_w<IN_W>` for inputs wider than INT8.
    pub fn module_name(&self) -> String {
        let f = &self.format;
        let mut name = format!(
            "sta_pwl_{}_k{}_d{}_c{}f{}_o{}f{}",
            self.function,
            self.entries(),
            f.input_frac_bits,
            f.coeff_bits,
            f.coeff_frac_bits,
            f.output_bits,
            f.output_frac_bits
        );
        if self.in_bits != 8 {
            name.push_str(&format!("_w{}", self.in_bits));
        }
        name
    }

    /// The right shift from the accumulator to the output scale, FK + D_IN − D_OUT (negative: a left shift).
    pub fn output_shift(&self) -> i64 {
        i64::from(self.format.coeff_frac_bits) + i64::from(self.format.input_frac_bits)
            - i64::from(self.format.output_frac_bits)
    }

    /// AW = max(CW + IN_W, CW + D_IN) + 1: k·q needs CW + IN_W bits, b·2^D_IN needs CW + D_IN, the sum one more.
    pub fn acc_bits(&self) -> u32 {
        let cw = self.format.coeff_bits;
        (cw + self.in_bits).max(cw + self.format.input_frac_bits) + 1
    }

    /// RW: the rounded value's width. Right shift s: the accumulator plus 2^(s−1) in max(AW, s) + 1 bits (the
    /// shift keeps that width); no shift: AW; left shift: AW + |s|.
    pub fn round_bits(&self) -> u32 {
        let aw = self.acc_bits();
        let s = self.output_shift();
        match s {
            0 => aw,
            s if s > 0 => aw.max(s.min(i64::from(MAX_INTERNAL_BITS)) as u32) + 1,
            s => aw.saturating_add(s.unsigned_abs().min(u64::from(MAX_INTERNAL_BITS)) as u32),
        }
    }

    /// Pipeline latency in cycles.
    pub fn latency(&self) -> u32 {
        PWL_LATENCY
    }

    /// All parameters in one canonical line (header, content hash).
    pub fn parameter_line(&self) -> String {
        let f = &self.format;
        let list = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        format!(
            "function={} entries={} in_bits={} input_frac_bits={} coeff_bits={} coeff_frac_bits={} output_bits={} \
             output_frac_bits={} breakpoints=[{}] slopes=[{}] intercepts=[{}]",
            self.function,
            self.entries(),
            self.in_bits,
            f.input_frac_bits,
            f.coeff_bits,
            f.coeff_frac_bits,
            f.output_bits,
            f.output_frac_bits,
            list(&self.breakpoints),
            list(&self.slopes),
            list(&self.intercepts)
        )
    }

    /// First 16 hex digits of the SHA-256 of [`Self::parameter_line`].
    pub fn content_hash(&self) -> String {
        let digest = Sha256::digest(self.parameter_line().as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// A sized signed Verilog literal, `W'sh…`, holding `value` in two's complement (`value` must fit; widths ≤ 127).
fn literal(value: i128, bits: u32, signed: bool) -> String {
    let mask = (1i128 << bits) - 1;
    let digits = bits.div_ceil(4) as usize;
    let s = if signed { "s" } else { "" };
    format!("{bits}'{s}h{:0digits$x}", value & mask)
}

/// `{{n{x[msb]}}, x}`: sign extension of `signal` from `from` to `to` bits without a width warning.
fn sign_extend(signal: &str, from: u32, to: u32) -> String {
    if to == from {
        signal.to_string()
    } else {
        format!("{{{{{}{{{signal}[{}]}}}}, {signal}}}", to - from, from - 1)
    }
}

struct Constant {
    name: String,
    literal: String,
    value: i64,
}

struct Select {
    bit: usize,
    slope: String,
    intercept: String,
}

enum Rounding {
    Right { shift: i64, half: String },
    None,
    Left { amount: u64 },
}

enum Saturation {
    Clamp {
        max_wide: String,
        min_wide: String,
        max_out: String,
        min_out: String,
    },
    Extend {
        expr: String,
    },
}

#[derive(Template)]
#[template(path = "sta_pwl.v", escape = "none")]
struct PwlTemplate<'a> {
    header: &'a str,
    name: &'a str,
    function: &'a str,
    latency: u32,
    in_bits: u32,
    coeff_bits: u32,
    output_bits: u32,
    entries: usize,
    d_in: u32,
    fk: u32,
    d_out: u32,
    acc_bits: u32,
    shift: i64,
    round_bits: u32,
    breakpoints: Vec<Constant>,
    slopes: Vec<Constant>,
    intercepts: Vec<Constant>,
    first_slope: String,
    first_intercept: String,
    selects: Vec<Select>,
    b_scaled_expr: String,
    prod_ext: String,
    b_ext: String,
    acc_to_round: String,
    rounding: Rounding,
    saturation: Saturation,
}

/// The header: generator, every parameter, the regeneration command. Breakpoints and coefficients go on their own
/// lines so long tables stay readable.
fn header(unit: &PwlUnit, name: &str) -> String {
    let rule = "// ".to_string() + &"-".repeat(110);
    let f = &unit.format;
    let wrap = |label: &str, values: &[i64]| -> String {
        let mut lines = Vec::new();
        let mut line = format!("//   {label}:");
        for v in values {
            let item = format!(" {v}");
            if line.len() + item.len() > 112 {
                lines.push(std::mem::replace(&mut line, "//     ".to_string()));
            }
            line.push_str(&item);
        }
        lines.push(line);
        lines.join("\n")
    };
    format!(
        "{rule}\n\
         // {name}: generated by {GENERATOR}, the STA RTL generator. Do not edit; regenerate instead.\n\
         // PWL approximator of {function}, table {hash}: entries={k} in_bits={in_bits} input_frac_bits={d_in} \
         coeff_bits={cw}\n\
         //   coeff_frac_bits={fk} output_bits={ow} output_frac_bits={d_out} output_shift={shift} \
         latency_cycles={latency}\n\
         {bp}\n{sl}\n{ic}\n\
         // Regenerate: sta lut rtl --params P.json --out DIR (P.json: the exported parameter file of this table)\n\
         {rule}",
        function = unit.function,
        hash = unit.content_hash(),
        k = unit.entries(),
        in_bits = unit.in_bits,
        d_in = f.input_frac_bits,
        cw = f.coeff_bits,
        fk = f.coeff_frac_bits,
        ow = f.output_bits,
        d_out = f.output_frac_bits,
        shift = unit.output_shift(),
        latency = unit.latency(),
        bp = wrap("breakpoints", &unit.breakpoints),
        sl = wrap("slopes", &unit.slopes),
        ic = wrap("intercepts", &unit.intercepts),
    )
}

fn constants(prefix: &str, values: &[i64], bits: u32) -> Vec<Constant> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| Constant {
            name: format!("{prefix}_{i}"),
            literal: literal(i128::from(v), bits, true),
            value: v,
        })
        .collect()
}

fn rounding(unit: &PwlUnit) -> (Rounding, String) {
    let (aw, rw, s) = (unit.acc_bits(), unit.round_bits(), unit.output_shift());
    match s {
        0 => (Rounding::None, "acc_reg".to_string()),
        s if s > 0 => {
            let half = literal(1i128 << (s - 1), rw, true);
            (
                Rounding::Right { shift: s, half },
                sign_extend("acc_reg", aw, rw),
            )
        }
        s => {
            let amount = s.unsigned_abs();
            (
                Rounding::Left { amount },
                format!("{{acc_reg, {{{amount}{{1'b0}}}}}}"),
            )
        }
    }
}

fn saturation(unit: &PwlUnit) -> Saturation {
    let (rw, ow) = (unit.round_bits(), unit.format.output_bits);
    if ow >= rw {
        return Saturation::Extend {
            expr: sign_extend("rounded", rw, ow),
        };
    }
    let max = (1i128 << (ow - 1)) - 1;
    let min = -(1i128 << (ow - 1));
    Saturation::Clamp {
        max_wide: literal(max, rw, true),
        min_wide: literal(min, rw, true),
        max_out: literal(max, ow, false),
        min_out: literal(min, ow, false),
    }
}

/// Renders the unit's module (`<module_name>.v`).
pub fn emit_pwl(unit: &PwlUnit) -> Result<GeneratedModule, PwlRtlError> {
    let name = unit.module_name();
    let header = header(unit, &name);
    let f = &unit.format;
    let (cw, in_bits, d_in) = (f.coeff_bits, unit.in_bits, f.input_frac_bits);
    let aw = unit.acc_bits();
    let breakpoints = constants("P", &unit.breakpoints, in_bits);
    let slopes = constants("K", &unit.slopes, cw);
    let intercepts = constants("B", &unit.intercepts, cw);
    let selects = (0..breakpoints.len())
        .map(|j| Select {
            bit: j,
            slope: slopes[j + 1].name.clone(),
            intercept: intercepts[j + 1].name.clone(),
        })
        .collect();
    let b_scaled_expr = if d_in == 0 {
        "b_reg".to_string()
    } else {
        format!("{{b_reg, {{{d_in}{{1'b0}}}}}}")
    };
    let (rounding, acc_to_round) = rounding(unit);
    let template = PwlTemplate {
        header: &header,
        name: &name,
        function: &unit.function,
        latency: unit.latency(),
        in_bits,
        coeff_bits: cw,
        output_bits: f.output_bits,
        entries: unit.entries(),
        d_in,
        fk: f.coeff_frac_bits,
        d_out: f.output_frac_bits,
        acc_bits: aw,
        shift: unit.output_shift(),
        round_bits: unit.round_bits(),
        first_slope: slopes[0].name.clone(),
        first_intercept: intercepts[0].name.clone(),
        breakpoints,
        slopes,
        intercepts,
        selects,
        b_scaled_expr,
        prod_ext: sign_extend("prod", cw + in_bits, aw),
        b_ext: sign_extend("b_scaled", cw + d_in, aw),
        acc_to_round,
        rounding,
        saturation: saturation(unit),
    };
    let mut text = template.render().map_err(|source| PwlRtlError::Template {
        module: name.clone(),
        source,
    })?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(GeneratedModule { name, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(d_in: u32, cw: u32, fk: u32, ow: u32, d_out: u32) -> PwlFormat {
        PwlFormat {
            input_frac_bits: d_in,
            coeff_bits: cw,
            coeff_frac_bits: fk,
            output_bits: ow,
            output_frac_bits: d_out,
        }
    }

    fn unit() -> PwlUnit {
        PwlUnit::new(
            "GELU",
            8,
            format(5, 8, 6, 8, 5),
            vec![-128, -3, 0, 127],
            vec![0, -5, 64, 127, -128],
            vec![0, 3, -7, 1, 100],
        )
        .unwrap()
    }

    #[test]
    fn literals_are_sized_two_complement() {
        assert_eq!(literal(-128, 8, true), "8'sh80");
        assert_eq!(literal(-5, 8, true), "8'shfb");
        assert_eq!(literal(127, 8, false), "8'h7f");
        assert_eq!(literal(1, 17, true), "17'sh00001");
        assert_eq!(literal(-1, 65, true), "65'sh1ffffffffffffffff");
        assert_eq!(sign_extend("x", 4, 4), "x");
        assert_eq!(sign_extend("x", 4, 6), "{{2{x[3]}}, x}");
    }

    #[test]
    fn names_are_identifiers_and_encode_the_format() {
        assert_eq!(unit().module_name(), "sta_pwl_gelu_k5_d5_c8f6_o8f5");
        assert_eq!(identifier_part("1/x").unwrap(), "1_x");
        assert_eq!(identifier_part("  Soft--Max ").unwrap(), "soft_max");
        assert!(identifier_part("//").is_err());
        let wide = unit().widened(32, 32, 32).unwrap();
        assert_eq!(wide.module_name(), "sta_pwl_gelu_k5_d29_c32f30_o32f29_w32");
    }

    #[test]
    fn widths_follow_the_contract() {
        let u = unit();
        assert_eq!(u.acc_bits(), 17, "CW + 9 for INT8 inputs");
        assert_eq!(u.output_shift(), 6);
        assert_eq!(u.round_bits(), 18);
        let w = u.widened(32, 32, 32).unwrap();
        assert_eq!(w.acc_bits(), 65);
    }

    #[test]
    fn widening_keeps_order_and_scale() {
        let u = unit();
        let w = u.widened(16, 16, 16).unwrap();
        for (a, b) in u.breakpoints().iter().zip(w.breakpoints()) {
            assert_eq!(b >> 8, *a);
        }
        assert!(w.breakpoints().windows(2).all(|p| p[0] <= p[1]));
        for (a, b) in u.slopes().iter().zip(w.slopes()) {
            assert_eq!(b >> 8, *a);
        }
        assert!(u.widened(4, 8, 8).is_err());
    }

    #[test]
    fn invalid_tables_are_refused() {
        let f = format(5, 8, 6, 8, 5);
        let bad = |bp: Vec<i64>, k: Vec<i64>, b: Vec<i64>| PwlUnit::new("f", 8, f, bp, k, b);
        assert!(matches!(
            bad(vec![3, 2], vec![0; 3], vec![0; 3]),
            Err(PwlRtlError::Unsorted { index: 1, .. })
        ));
        assert!(matches!(
            bad(vec![128], vec![0; 2], vec![0; 2]),
            Err(PwlRtlError::Range { .. })
        ));
        assert!(matches!(
            bad(vec![0], vec![0, 128], vec![0; 2]),
            Err(PwlRtlError::Range { .. })
        ));
        assert!(matches!(
            bad(vec![0], vec![0; 2], vec![0; 3]),
            Err(PwlRtlError::Count { .. })
        ));
        assert!(matches!(
            bad(vec![], vec![], vec![]),
            Err(PwlRtlError::Entries { .. })
        ));
        assert!(
            bad(vec![1, 1], vec![0; 3], vec![0; 3]).is_ok(),
            "ties are legal"
        );
        let msg = bad(vec![3, 2], vec![0; 3], vec![0; 3])
            .unwrap_err()
            .to_string();
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn rendered_module_has_ranged_signed_constants() {
        let m = emit_pwl(&unit()).unwrap();
        assert_eq!(m.name, "sta_pwl_gelu_k5_d5_c8f6_o8f5");
        assert!(m
            .text
            .contains("localparam signed [IN_W-1:0] P_0 = 8'sh80;  // -128"));
        assert!(m
            .text
            .contains("localparam signed [CW-1:0]   K_4 = 8'sh80;  // -128"));
        assert!(m.text.contains("`default_nettype none"));
        assert!(m.text.contains("generated by sta "));
        assert_eq!(m.text.matches("\nmodule ").count(), 1);
        assert!(!m.text.contains("{{ ") && !m.text.contains("{%"));
    }
}

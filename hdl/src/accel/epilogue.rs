//! The accelerator's epilogue (`hdl/templates/sta_epilogue.v`): one PE-array result beat (L accumulators of one
//! output channel) requantised in one pass with that channel's constants, in one of four modes (REQ8, GELU, RESID,
//! REQS). The golden model is `sta_golden::accel::epilogue_beat`; the RTL matches it bit for bit.
//!
//! GELU goes through ONE table-selectable PWL datapath per lane: the breakpoints, slopes and intercepts of every
//! distinct table are constant arrays indexed by the registered table number, followed by the compare / segment
//! select / multiply / add / round / saturate pipeline of `hdl/templates/sta_pwl.v`, sized for the widest table
//! ([`GeluDatapath`]). [`EpilogueUnit::new`] validates the parameters and the tables, builds the datapath's constants
//! and checks it against `PwlTable::eval` (and the outer `sat_8` of `ops::gelu`) for every table and every INT8 code,
//! so a table set the datapath cannot hold exactly is refused at generation. [`emit_epilogue`] renders the one module.
//! The tables are baked at generation: the accelerator uses [`default_gelu_tables`], one per GELU input scale
//! D_G = 2..=7.

use askama::Template;
use sha2::{Digest, Sha256};
use sta_golden::encoder::ops::{gelu, RESIDUAL_BITS};
use sta_golden::encoder::program::{default_gelu_table, GELU_FRAC_BITS};
use sta_golden::pwl::{signed_bits, PwlTable};

use crate::emit::{standard_header, GeneratedModule};
use crate::pwl_lut::{PwlRtlError, PwlUnit, PWL_LATENCY};

/// Cycles of the GELU datapath: the three stages of the PWL unit (segment select; multiply-add; round and saturate).
pub const GELU_LATENCY: u32 = PWL_LATENCY;
/// Cycles from a beat with `in_valid` to its result with `out_valid`, the same in every mode: stages 1–5 (sum,
/// product, shift, rounding, saturation), the GELU datapath, the mode select.
pub const EPILOGUE_LATENCY: u32 = 5 + GELU_LATENCY + 1;
/// Lanes L accepted (the PE array's columns).
pub const MAX_LANES: usize = 64;
/// Accumulator widths ACC_W accepted (the PE array's range).
pub const MIN_ACC_BITS: u32 = 17;
pub const MAX_ACC_BITS: u32 = 48;
/// REQS output widths SW accepted (the softmax unit's score widths).
pub const MIN_SCORE_BITS: u32 = 8;
pub const MAX_SCORE_BITS: u32 = 16;
/// Most GELU tables: `in_gsel` is 4 bits.
pub const MAX_TABLES: usize = 16;
/// Width of one output lane: the residual stream's (every other result is sign-extended to it).
pub const OUT_BITS: u32 = RESIDUAL_BITS;
/// Widest GELU accumulator the datapath is built with (its constants are rendered from i64 values).
pub const MAX_GELU_ACC_BITS: u32 = 64;

#[derive(Debug, thiserror::Error)]
pub enum EpilogueRtlError {
    #[error("lanes = {0} is outside 1..={MAX_LANES}")]
    Lanes(usize),
    #[error("acc_width = {0} is outside {MIN_ACC_BITS}..={MAX_ACC_BITS} (the PE array's accumulator widths)")]
    AccWidth(u32),
    #[error("score_bits = {0} is outside {MIN_SCORE_BITS}..={MAX_SCORE_BITS} (the softmax unit's score widths)")]
    ScoreBits(u32),
    #[error("{0} GELU tables: must be 1..={MAX_TABLES} (in_gsel is 4 bits)")]
    Tables(usize),
    #[error("GELU table {index}: {source}")]
    Table {
        index: usize,
        source: sta_golden::PwlError,
    },
    #[error("GELU table {index}: {source}")]
    Lut { index: usize, source: PwlRtlError },
    #[error(
        "GELU tables: the shared datapath's accumulator needs {bits} bits (slopes {slope_bits}, intercepts·2^D_IN \
         plus the rounding half {offset_bits}), more than {MAX_GELU_ACC_BITS}"
    )]
    GeluWidth {
        bits: u32,
        slope_bits: u32,
        offset_bits: u32,
    },
    #[error(
        "GELU table {index}: the shared datapath gives {got} for input code {code}, the table sat_8(eval) = {want}: \
         the datapath cannot hold this table set exactly"
    )]
    GeluMismatch {
        index: usize,
        code: i8,
        got: String,
        want: i64,
    },
    #[error("template rendering failed for {module}: {source}")]
    Template {
        module: String,
        source: askama::Error,
    },
}

/// One distinct GELU table as a row of the datapath's constant arrays, padded to the widest table's segment count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeluRow {
    /// K_max − 1 breakpoints (INT8 codes); a table with fewer segments is padded with 127 (reached by q = 127 only,
    /// which lies in the table's last segment).
    pub breakpoints: Vec<i64>,
    /// K_max slope codes; padding segments repeat the last one.
    pub slopes: Vec<i64>,
    /// K_max offsets b_i·2^D_IN + 2^(s−1) (s ≥ 1) or b_i·2^D_IN (s = 0): the intercept at the accumulator's scale
    /// with the rounding half of round_shift folded in; padding segments repeat the last one.
    pub offsets: Vec<i64>,
    /// The output shift s = FK + D_IN − D_OUT (≥ 0 for a valid table).
    pub shift: u32,
    /// min(OW, 8): sat_8(sat_OW(r)) = sat_min(OW,8)(r).
    pub limit_bits: u32,
}

/// The shared GELU datapath: y = sat_m(sat_8((k_i·q + c_i) >>> s)), one row of (p, k, c, s, m) per distinct table.
/// Widths: slopes KW bits, offsets CB bits, accumulator AW = max(KW + 8, CB) + 1 (exact), the shifted value AW bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeluDatapath {
    pub rows: Vec<GeluRow>,
    pub entries: usize,
    pub slope_bits: u32,
    pub offset_bits: u32,
    pub acc_bits: u32,
}

impl GeluDatapath {
    /// The rows of `tables` (valid tables, each distinct), padded to the most segments.
    fn new(tables: &[&PwlTable]) -> Result<Self, EpilogueRtlError> {
        let entries = tables.iter().map(|t| t.entries()).max().unwrap_or(1);
        let rows: Vec<GeluRow> = tables
            .iter()
            .map(|t| {
                let f = &t.format;
                let shift = t.output_shift().max(0) as u32;
                let half = if shift == 0 { 0 } else { 1i64 << (shift - 1) };
                let pad = |v: &[i64]| -> Vec<i64> {
                    let last = v.last().copied().unwrap_or(0);
                    let mut v = v.to_vec();
                    v.resize(entries, last);
                    v
                };
                let mut breakpoints: Vec<i64> =
                    t.breakpoints.iter().map(|&p| i64::from(p)).collect();
                breakpoints.resize(entries - 1, i64::from(i8::MAX));
                let offsets: Vec<i64> = t
                    .intercepts
                    .iter()
                    .map(|&b| (b << f.input_frac_bits) + half)
                    .collect();
                GeluRow {
                    breakpoints,
                    slopes: pad(&t.slopes),
                    offsets: pad(&offsets),
                    shift,
                    limit_bits: f.output_bits.min(8),
                }
            })
            .collect();
        let all = |field: fn(&GeluRow) -> &Vec<i64>| -> Vec<i64> {
            rows.iter().flat_map(|r| field(r).iter().copied()).collect()
        };
        let slope_bits = signed_bits(&all(|r| &r.slopes)).max(2);
        let offset_bits = signed_bits(&all(|r| &r.offsets)).max(2);
        let acc_bits = (slope_bits + 8).max(offset_bits) + 1;
        if acc_bits > MAX_GELU_ACC_BITS {
            return Err(EpilogueRtlError::GeluWidth {
                bits: acc_bits,
                slope_bits,
                offset_bits,
            });
        }
        Ok(GeluDatapath {
            rows,
            entries,
            slope_bits,
            offset_bits,
            acc_bits,
        })
    }

    /// The RTL's arithmetic for row `u` and code `q`, at the RTL's widths: `None` if a value leaves its width (the RTL
    /// would wrap).
    pub fn eval(&self, u: usize, q: i8) -> Option<i64> {
        let row = &self.rows[u];
        let q = i64::from(q);
        let i = row.breakpoints.iter().filter(|&&p| q >= p).count();
        let fits = |v: i128, bits: u32| {
            let half = 1i128 << (bits - 1);
            (-half..half).contains(&v)
        };
        let prod = i128::from(row.slopes[i]) * i128::from(q);
        let acc = prod + i128::from(row.offsets[i]);
        if !fits(prod, self.slope_bits + 8) || !fits(acc, self.acc_bits) {
            return None;
        }
        // the arithmetic shift keeps the sign: for s ≥ AW every bit is the sign
        let r = acc >> row.shift.min(127);
        let y8 = r.clamp(-128, 127);
        let m = 1i128 << (row.limit_bits - 1);
        Some(y8.clamp(-m, m - 1) as i64)
    }

    /// Bits of the output shift (the variable shifter's amount; at least 1).
    pub fn shift_bits(&self) -> u32 {
        let max = self.rows.iter().map(|r| r.shift).max().unwrap_or(0);
        (32 - max.leading_zeros()).max(1)
    }

    /// All rows shift by the same amount (a constant shift in the RTL).
    pub fn uniform_shift(&self) -> Option<u32> {
        let s = self.rows[0].shift;
        self.rows.iter().all(|r| r.shift == s).then_some(s)
    }

    /// Every row saturates to 8 bits (no per-table clamp after sat_8).
    pub fn plain_sat8(&self) -> bool {
        self.rows.iter().all(|r| r.limit_bits == 8)
    }
}

/// A validated epilogue configuration: L, ACC_W, SW and the GELU tables (`in_gsel` = index into them).
#[derive(Debug, Clone)]
pub struct EpilogueUnit {
    lanes: usize,
    acc_width: u32,
    score_bits: u32,
    tables: Vec<PwlTable>,
    /// One PWL unit per distinct table: the table's parameters (identical tables share a row of the datapath).
    luts: Vec<PwlUnit>,
    /// `lut_of[g]`: the index in `luts` (and the datapath's row) of table g.
    lut_of: Vec<usize>,
    gelu: GeluDatapath,
}

/// The encoder's GELU tables, `in_gsel` = D_G − 2 (D_G = 2..=7, [`GELU_FRAC_BITS`]): what the accelerator bakes in.
pub fn default_gelu_tables() -> Vec<PwlTable> {
    GELU_FRAC_BITS
        .map(|d| {
            default_gelu_table(d)
                .unwrap_or_else(|| unreachable!("the committed GELU table D_G = {d} is valid"))
        })
        .collect()
}

fn first_hex(text: &str, bytes: usize) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The distinct tables of `tables` (validated, each also buildable as an INT8 PWL unit, `gelu`), and the index of
/// each table among them.
fn table_units(tables: &[PwlTable]) -> Result<(Vec<PwlUnit>, Vec<usize>), EpilogueRtlError> {
    let mut luts: Vec<PwlUnit> = Vec::new();
    let mut lut_of = Vec::new();
    for (index, t) in tables.iter().enumerate() {
        t.validate()
            .map_err(|source| EpilogueRtlError::Table { index, source })?;
        let unit = PwlUnit::from_table("gelu", t)
            .map_err(|source| EpilogueRtlError::Lut { index, source })?;
        match luts.iter().position(|u| *u == unit) {
            Some(i) => lut_of.push(i),
            None => {
                lut_of.push(luts.len());
                luts.push(unit);
            }
        }
    }
    Ok((luts, lut_of))
}

impl EpilogueUnit {
    /// L ∈ 1..=64, ACC_W ∈ 17..=48, SW ∈ 8..=16, 1..=16 tables, each valid (`PwlTable::validate`) and buildable as an
    /// INT8 PWL unit; the shared GELU datapath must reproduce every table on every INT8 code.
    pub fn new(
        lanes: usize,
        acc_width: u32,
        score_bits: u32,
        tables: Vec<PwlTable>,
    ) -> Result<Self, EpilogueRtlError> {
        if !(1..=MAX_LANES).contains(&lanes) {
            return Err(EpilogueRtlError::Lanes(lanes));
        }
        if !(MIN_ACC_BITS..=MAX_ACC_BITS).contains(&acc_width) {
            return Err(EpilogueRtlError::AccWidth(acc_width));
        }
        if !(MIN_SCORE_BITS..=MAX_SCORE_BITS).contains(&score_bits) {
            return Err(EpilogueRtlError::ScoreBits(score_bits));
        }
        if !(1..=MAX_TABLES).contains(&tables.len()) {
            return Err(EpilogueRtlError::Tables(tables.len()));
        }
        let (luts, lut_of) = table_units(&tables)?;
        let first_of = |u: usize| lut_of.iter().position(|&l| l == u).unwrap_or(0);
        let distinct: Vec<&PwlTable> = (0..luts.len()).map(|u| &tables[first_of(u)]).collect();
        let datapath = GeluDatapath::new(&distinct)?;
        for (u, table) in distinct.iter().enumerate() {
            for code in i8::MIN..=i8::MAX {
                let want = i64::from(gelu(code, table));
                let got = datapath.eval(u, code);
                if got != Some(want) {
                    return Err(EpilogueRtlError::GeluMismatch {
                        index: first_of(u),
                        code,
                        got: got.map_or_else(
                            || "a value outside its width".to_string(),
                            |g| g.to_string(),
                        ),
                        want,
                    });
                }
            }
        }
        Ok(EpilogueUnit {
            lanes,
            acc_width,
            score_bits,
            tables,
            luts,
            lut_of,
            gelu: datapath,
        })
    }

    /// The accelerator's unit: [`default_gelu_tables`].
    pub fn with_default_tables(
        lanes: usize,
        acc_width: u32,
        score_bits: u32,
    ) -> Result<Self, EpilogueRtlError> {
        Self::new(lanes, acc_width, score_bits, default_gelu_tables())
    }

    pub fn lanes(&self) -> usize {
        self.lanes
    }
    pub fn acc_width(&self) -> u32 {
        self.acc_width
    }
    pub fn score_bits(&self) -> u32 {
        self.score_bits
    }
    /// The GELU tables, in `in_gsel` order.
    pub fn tables(&self) -> &[PwlTable] {
        &self.tables
    }
    /// The PWL unit (the parameters) of table `gsel` (`None` past the last table).
    pub fn lut(&self, gsel: usize) -> Option<&PwlUnit> {
        self.lut_of.get(gsel).map(|&i| &self.luts[i])
    }
    /// The distinct tables as PWL units, in the order of the datapath's rows (first use by `in_gsel`).
    pub fn luts(&self) -> &[PwlUnit] {
        &self.luts
    }
    /// The shared GELU datapath: its rows (one per distinct table) and widths.
    pub fn gelu_datapath(&self) -> &GeluDatapath {
        &self.gelu
    }
    /// The datapath row of `in_gsel` = `gsel` (`None` past the last table; the RTL reads row 0 there).
    pub fn gelu_row(&self, gsel: usize) -> Option<usize> {
        self.lut_of.get(gsel).copied()
    }

    /// Pipeline latency in cycles ([`EPILOGUE_LATENCY`]), the same in every mode.
    pub fn latency(&self) -> u32 {
        EPILOGUE_LATENCY
    }

    /// SUM_W: a + bias, exact: max(ACC_W, 32) + 1.
    pub fn sum_bits(&self) -> u32 {
        self.acc_width.max(32) + 1
    }
    /// PROD_W: the full product of the SUM_W-bit sum and the multiplier as a signed 16-bit operand.
    pub fn product_bits(&self) -> u32 {
        self.sum_bits() + 16
    }

    /// `sta_epilogue_l<L>_a<ACC_W>_s<SW>_g<tables>_<hash>`, hash = the first 8 hex digits of the SHA-256 of the
    /// table set ([`table_line`](Self::table_line)).
    pub fn module_name(&self) -> String {
        format!(
            "sta_epilogue_l{}_a{}_s{}_g{}_{}",
            self.lanes,
            self.acc_width,
            self.score_bits,
            self.tables.len(),
            first_hex(&self.table_line(), 4)
        )
    }

    /// The tables in `in_gsel` order, each as its PWL unit's parameter line (the input of the name's hash).
    pub fn table_line(&self) -> String {
        (0..self.tables.len())
            .filter_map(|g| self.lut(g))
            .map(|u| u.parameter_line())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Every parameter in one canonical line (header).
    pub fn parameter_line(&self) -> String {
        format!(
            "lanes={} acc_width={} score_bits={} tables={} latency_cycles={}",
            self.lanes,
            self.acc_width,
            self.score_bits,
            self.tables.len(),
            self.latency()
        )
    }
}

/// A sized Verilog literal, `W'h…` or `W'sh…`, holding `value` in two's complement (`value` must fit `bits` ≤ 64).
fn literal(value: i64, bits: u32, signed: bool) -> String {
    let mask = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let digits = bits.div_ceil(4) as usize;
    let s = if signed { "s" } else { "" };
    format!("{bits}'{s}h{:0digits$x}", (value as u64) & mask)
}

/// `{{n{x[msb]}}, x}`: sign extension of `signal` from `from` to `to` bits without a width warning.
fn sign_extend(signal: &str, from: u32, to: u32) -> String {
    if to == from {
        signal.to_string()
    } else {
        format!("{{{{{}{{{signal}[{}]}}}}, {signal}}}", to - from, from - 1)
    }
}

/// One constant of a row: `localparam signed [W-1:0] <name> = <literal>;  // <value>`.
struct Constant {
    name: String,
    literal: String,
    value: i64,
}

/// One row of the datapath as rendered: its constants and the packed-row concatenations (last element first).
struct Row {
    index: usize,
    /// `in_gsel` values that read it.
    gsels: String,
    /// The table's format, for the comment.
    format: String,
    /// Its literal in the row case: `U'd<index>` or `default`.
    label: String,
    breakpoints: Vec<Constant>,
    slopes: Vec<Constant>,
    offsets: Vec<Constant>,
    cat_p: String,
    cat_k: String,
    cat_c: String,
    shift: String,
    shift_value: u32,
    max: String,
    min: String,
    limit_bits: u32,
}

/// One `in_gsel` value and its row.
struct Select {
    gsel: usize,
    row: String,
}

/// One stage of the wait beside the GELU datapath.
struct Wait {
    stage: u32,
    prev: u32,
}

/// One compare of the segment select: ge[bit] picks segment bit + 1.
struct Segment {
    bit: usize,
    lo: usize,
}

#[derive(Template)]
#[template(path = "sta_epilogue.v", escape = "none")]
struct EpilogueTemplate<'a> {
    header: &'a str,
    name: &'a str,
    lanes: usize,
    acc_width: u32,
    score_bits: u32,
    tables: usize,
    latency: u32,
    gelu_latency: u32,
    sum_bits: u32,
    prod_bits: u32,
    // the GELU datapath
    rows: Vec<Row>,
    row_bits: u32,
    entries: usize,
    slope_bits: u32,
    offset_bits: u32,
    acc_bits: u32,
    shift_bits: u32,
    /// `Some(s)`: every row shifts by s.
    uniform_shift: Option<u32>,
    plain_sat8: bool,
    /// The row number travels to stage 7 (the shift or the clamp differ between rows).
    late_row: bool,
    selects: Vec<Select>,
    /// `in_gsel` values without a table exist: the decode needs a `default` arm.
    partial_select: bool,
    row_zero: String,
    segments: Vec<Segment>,
    prod_ext: String,
    offset_ext: String,
    waits: Vec<Wait>,
    /// The stage whose registers feed the mode select (the last wait stage).
    gelu_stage: u32,
    out_stage: u32,
}

fn header(unit: &EpilogueUnit, name: &str) -> String {
    let g = &unit.gelu;
    let mut lines = vec![
        format!(
            "Epilogue, tables {}: {}",
            first_hex(&unit.table_line(), 8),
            unit.parameter_line()
        ),
        format!(
            "GELU datapath: {} rows, {} segments, slopes {} bits, offsets {} bits, accumulator {} bits",
            g.rows.len(),
            g.entries,
            g.slope_bits,
            g.offset_bits,
            g.acc_bits
        ),
    ];
    for gsel in 0..unit.tables.len() {
        if let (Some(lut), Some(row)) = (unit.lut(gsel), unit.gelu_row(gsel)) {
            lines.push(format!(
                "  in_gsel = {gsel}: row {row}, {} (table {})",
                lut.module_name(),
                lut.content_hash()
            ));
        }
    }
    lines.push(
        "Regenerate: sta_hdl::accel::epilogue::emit_epilogue(EpilogueUnit::new(lanes, acc_width, score_bits, \
         tables)) with these parameters and tables"
            .to_string(),
    );
    standard_header(name, &lines)
}

fn constants(prefix: &str, values: &[i64], bits: u32) -> Vec<Constant> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| Constant {
            name: format!("{prefix}_{i}"),
            literal: literal(v, bits, true),
            value: v,
        })
        .collect()
}

/// `{c_{n-1}, …, c_0}`: element i at bits [i·W +: W] of the packed row.
fn concat(constants: &[Constant]) -> String {
    let names: Vec<&str> = constants.iter().rev().map(|c| c.name.as_str()).collect();
    format!("{{{}}}", names.join(", "))
}

/// Renders the epilogue module.
fn emit_top(unit: &EpilogueUnit) -> Result<GeneratedModule, EpilogueRtlError> {
    let name = unit.module_name();
    let header = header(unit, &name);
    let g = &unit.gelu;
    let row_count = g.rows.len();
    let row_bits = (usize::BITS - (row_count - 1).leading_zeros()).max(1);
    let shift_bits = g.shift_bits();
    let rows: Vec<Row> = (g.rows.iter().enumerate())
        .map(|(u, r)| {
            let gsels: Vec<String> = (unit.lut_of.iter().enumerate())
                .filter(|(_, &l)| l == u)
                .map(|(gsel, _)| gsel.to_string())
                .collect();
            let f = unit.luts[u].format();
            let breakpoints = constants(&format!("T{u}_P"), &r.breakpoints, 8);
            let slopes = constants(&format!("T{u}_K"), &r.slopes, g.slope_bits);
            let offsets = constants(&format!("T{u}_C"), &r.offsets, g.offset_bits);
            let m = 1i64 << (r.limit_bits - 1);
            Row {
                index: u,
                gsels: gsels.join(", "),
                format: format!(
                    "{} segments, D_IN {}, CW {}, FK {}, OW {}, D_OUT {}",
                    unit.luts[u].entries(),
                    f.input_frac_bits,
                    f.coeff_bits,
                    f.coeff_frac_bits,
                    f.output_bits,
                    f.output_frac_bits
                ),
                label: if u + 1 == row_count {
                    "default".to_string()
                } else {
                    format!("{row_bits}'d{u}")
                },
                cat_p: concat(&breakpoints),
                cat_k: concat(&slopes),
                cat_c: concat(&offsets),
                breakpoints,
                slopes,
                offsets,
                shift: literal(i64::from(r.shift), shift_bits, false),
                shift_value: r.shift,
                max: literal(m - 1, 8, true),
                min: literal(-m, 8, true),
                limit_bits: r.limit_bits,
            }
        })
        .collect();
    let selects = (unit.lut_of.iter().enumerate())
        .map(|(gsel, &u)| Select {
            gsel,
            row: format!("{row_bits}'d{u}"),
        })
        .collect();
    let segments = (0..g.entries - 1)
        .map(|bit| Segment { bit, lo: bit + 1 })
        .collect();
    // stage 5 holds sat_8(r); the GELU datapath takes it in the next cycle and answers GELU_LATENCY cycles later
    let first_wait = 6;
    let waits: Vec<Wait> = (first_wait..first_wait + GELU_LATENCY)
        .map(|stage| Wait {
            stage,
            prev: stage - 1,
        })
        .collect();
    let gelu_stage = first_wait + GELU_LATENCY - 1;
    let uniform_shift = g.uniform_shift();
    let plain_sat8 = g.plain_sat8();
    let template = EpilogueTemplate {
        header: &header,
        name: &name,
        lanes: unit.lanes,
        acc_width: unit.acc_width,
        score_bits: unit.score_bits,
        tables: unit.tables.len(),
        latency: unit.latency(),
        gelu_latency: GELU_LATENCY,
        sum_bits: unit.sum_bits(),
        prod_bits: unit.product_bits(),
        rows,
        row_bits,
        entries: g.entries,
        slope_bits: g.slope_bits,
        offset_bits: g.offset_bits,
        acc_bits: g.acc_bits,
        shift_bits,
        uniform_shift,
        plain_sat8,
        late_row: uniform_shift.is_none() || !plain_sat8,
        selects,
        partial_select: unit.tables.len() < MAX_TABLES,
        row_zero: format!("{row_bits}'d0"),
        segments,
        prod_ext: sign_extend("g_prod", g.slope_bits + 8, g.acc_bits),
        offset_ext: sign_extend("s6_c", g.offset_bits, g.acc_bits),
        waits,
        gelu_stage,
        out_stage: gelu_stage + 1,
    };
    debug_assert_eq!(gelu_stage + 1, EPILOGUE_LATENCY);
    let mut text = template
        .render()
        .map_err(|source| EpilogueRtlError::Template {
            module: name.clone(),
            source,
        })?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(GeneratedModule { name, text })
}

/// Every module of the unit: the epilogue alone (the GELU datapath is part of it).
pub fn emit_epilogue(unit: &EpilogueUnit) -> Result<Vec<GeneratedModule>, EpilogueRtlError> {
    Ok(vec![emit_top(unit)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use sta_golden::pwl::PwlFormat;

    fn unit(lanes: usize, acc: u32, sw: u32) -> EpilogueUnit {
        EpilogueUnit::with_default_tables(lanes, acc, sw).unwrap_or_else(|e| panic!("{e}"))
    }

    fn format(d_in: u32, cw: u32, fk: u32, ow: u32, d_out: u32) -> PwlFormat {
        PwlFormat {
            input_frac_bits: d_in,
            coeff_bits: cw,
            coeff_frac_bits: fk,
            output_bits: ow,
            output_frac_bits: d_out,
        }
    }

    /// Tables that differ in everything the datapath is sized by: D_IN, CW, FK, OW, D_OUT, K, shift 0.
    fn mixed_tables() -> Vec<PwlTable> {
        let d = default_gelu_tables();
        vec![
            d[0].clone(),
            PwlTable {
                format: format(3, 12, 4, 12, 3),
                breakpoints: vec![-100, -20, 0, 30, 90],
                slopes: vec![-2048, 300, -7, 2047, 16, -900],
                intercepts: vec![2047, -2048, 5, -300, 1000, 40],
            },
            PwlTable {
                format: format(4, 8, 6, 5, 2),
                breakpoints: vec![-64, 0, 64],
                slopes: vec![-128, 64, 127, -3],
                intercepts: vec![100, -7, -128, 127],
            },
            PwlTable {
                // shift 0: no rounding half; 32-bit coefficients, D_IN 15
                format: format(15, 32, 0, 32, 15),
                breakpoints: vec![-128, -1, 127],
                slopes: vec![i64::from(i32::MIN), -1, 1, i64::from(i32::MAX)],
                intercepts: vec![i64::from(i32::MAX), 0, -5, i64::from(i32::MIN)],
            },
            PwlTable {
                // the largest shift: FK 24 + D_IN 15 − D_OUT 0 = 39
                format: format(15, 32, 24, 2, 0),
                breakpoints: vec![-3, 3, 3, 127, 127],
                slopes: vec![7, -7, 1 << 30, -(1 << 30), 0, 5],
                intercepts: vec![1 << 24, -(1 << 24), 3, -3, 1 << 30, -(1 << 31)],
            },
        ]
    }

    #[test]
    fn default_tables_are_the_six_encoder_tables() {
        let u = unit(4, 32, 16);
        assert_eq!(u.tables().len(), 6);
        assert_eq!(u.luts().len(), 6);
        for (g, d) in GELU_FRAC_BITS.enumerate() {
            let lut = u.lut(g).unwrap_or_else(|| panic!("table {g}"));
            assert_eq!(lut.format().input_frac_bits, d);
            assert!(lut.module_name().starts_with("sta_pwl_gelu_k16_d"));
            assert_eq!(u.gelu_row(g), Some(g));
        }
        assert_eq!(u.latency(), 9);
        assert_eq!((u.sum_bits(), u.product_bits()), (33, 49));
        assert_eq!(unit(2, 48, 8).product_bits(), 65);
        assert_eq!(unit(2, 17, 8).sum_bits(), 33);
        let g = u.gelu_datapath();
        assert_eq!((g.rows.len(), g.entries), (6, 16));
        assert_eq!(
            g.uniform_shift(),
            Some(8),
            "FK 8, D_IN = D_OUT in every table"
        );
        assert!(g.plain_sat8());
        assert!(g.slope_bits <= 12);
        assert_eq!(g.acc_bits, (g.slope_bits + 8).max(g.offset_bits) + 1);
    }

    #[test]
    fn the_shared_datapath_equals_every_table_on_every_code() {
        for tables in [default_gelu_tables(), mixed_tables()] {
            let u = EpilogueUnit::new(2, 32, 16, tables.clone()).unwrap_or_else(|e| panic!("{e}"));
            let g = u.gelu_datapath();
            for (gsel, t) in tables.iter().enumerate() {
                let row = u.gelu_row(gsel).unwrap_or_else(|| panic!("row of {gsel}"));
                for q in i8::MIN..=i8::MAX {
                    assert_eq!(
                        g.eval(row, q),
                        Some(i64::from(gelu(q, t))),
                        "table {gsel} q {q}"
                    );
                }
            }
        }
        let u = EpilogueUnit::new(2, 32, 16, mixed_tables()).unwrap_or_else(|e| panic!("{e}"));
        let g = u.gelu_datapath();
        assert_eq!(g.entries, 16, "padded to the default table's 16 segments");
        assert_eq!(g.rows[2].breakpoints[3..], [127; 12]);
        assert_eq!(g.rows[2].slopes[3..], [-3; 13]);
        assert_eq!(g.rows[3].shift, 0);
        assert_eq!(g.rows[4].shift, 39);
        assert_eq!(g.rows[2].limit_bits, 5);
        assert_eq!(g.uniform_shift(), None);
        assert!(!g.plain_sat8());
        assert_eq!(g.slope_bits, 32);
        assert_eq!(g.shift_bits(), 6);
    }

    #[test]
    fn names_encode_the_parameters_and_the_table_set() {
        let u = unit(16, 32, 16);
        let name = u.module_name();
        assert!(name.starts_with("sta_epilogue_l16_a32_s16_g6_"), "{name}");
        assert_eq!(name.len(), "sta_epilogue_l16_a32_s16_g6_".len() + 8);
        let mut tables = default_gelu_tables();
        tables.swap(0, 1);
        let swapped = EpilogueUnit::new(16, 32, 16, tables).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(swapped.module_name(), name, "gsel order is part of the set");
        assert_eq!(unit(16, 32, 16).module_name(), name, "reproducible");
    }

    #[test]
    fn bad_parameters_are_refused_with_clear_messages() {
        let t = default_gelu_tables;
        let err = |r: Result<EpilogueUnit, EpilogueRtlError>| r.err().map(|e| e.to_string());
        assert_eq!(
            err(EpilogueUnit::new(0, 32, 16, t())).as_deref(),
            Some("lanes = 0 is outside 1..=64")
        );
        assert!(matches!(
            EpilogueUnit::new(65, 32, 16, t()),
            Err(EpilogueRtlError::Lanes(65))
        ));
        for acc in [16, 49] {
            assert!(matches!(
                EpilogueUnit::new(4, acc, 16, t()),
                Err(EpilogueRtlError::AccWidth(a)) if a == acc
            ));
        }
        for sw in [7, 17] {
            assert!(matches!(
                EpilogueUnit::new(4, 32, sw, t()),
                Err(EpilogueRtlError::ScoreBits(s)) if s == sw
            ));
        }
        assert!(matches!(
            EpilogueUnit::new(4, 32, 16, vec![]),
            Err(EpilogueRtlError::Tables(0))
        ));
        let seventeen: Vec<PwlTable> = (0..17).map(|i| t()[i % 6].clone()).collect();
        assert!(matches!(
            EpilogueUnit::new(4, 32, 16, seventeen),
            Err(EpilogueRtlError::Tables(17))
        ));
        let mut bad = t();
        bad[2].breakpoints.reverse();
        let e = err(EpilogueUnit::new(4, 32, 16, bad)).unwrap_or_default();
        assert!(e.starts_with("GELU table 2: breakpoints["), "{e}");
    }

    #[test]
    fn identical_tables_share_a_row() {
        let d = default_gelu_tables();
        let mut other = d[2].clone();
        other.intercepts[0] += 1;
        let u = EpilogueUnit::new(
            2,
            32,
            16,
            vec![d[2].clone(), d[3].clone(), d[2].clone(), other],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u.luts().len(), 3);
        let rows: Vec<Option<usize>> = (0..5).map(|g| u.gelu_row(g)).collect();
        assert_eq!(rows, [Some(0), Some(1), Some(0), Some(2), None]);
        let modules = emit_epilogue(&u).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(modules.len(), 1);
        let top = &modules[0].text;
        assert!(top.contains("        4'd2: in_row = 2'd0;"), "{top}");
        assert!(top.contains("        4'd3: in_row = 2'd2;"));
        assert!(top.contains("        default: in_row = 2'd0;"));
        assert!(top.contains("// row 0 (in_gsel 0, 2): 16 segments, D_IN 4,"));
        assert_eq!(
            top.matches("\n        default: begin\n").count(),
            1,
            "one row case"
        );
    }

    #[test]
    fn rendered_module_is_complete() {
        let u = unit(3, 40, 12);
        let modules = emit_epilogue(&u).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(modules.len(), 1);
        let top = &modules[0];
        assert_eq!(top.name, u.module_name());
        let t = &top.text;
        assert_eq!(t.matches("\nmodule ").count(), 1);
        assert!(t.contains("`default_nettype none") && t.contains("generated by sta "));
        assert!(!t.contains("{{ ") && !t.contains("{%"));
        for needle in [
            "parameter L = 3,",
            "parameter ACC_W = 40,",
            "parameter SW = 12\n",
            "localparam SUM_W = 41;",
            "localparam PROD_W = 57;",
            "localparam GK = 16;",
            "localparam G_SHIFT = 8;",
            "reg [OUT_W-1:0] s9_out;",
            "wire signed [GKW+7:0] g_prod = s6_k * s6_q;",
            "    assign ge[14] = q8 >= row_p14;",
            "        default: in_row = 3'd0;",
        ] {
            assert!(t.contains(needle), "{needle:?} missing");
        }
        assert!(!t.contains("g_shift") && !t.contains("g_max") && !t.contains("s7_row"));
        // every constant is a sized literal
        for line in t.lines().filter(|l| l.starts_with("localparam signed")) {
            assert!(line.contains("'sh"), "{line}");
        }
    }

    #[test]
    fn mixed_tables_render_the_variable_shift_and_clamp() {
        let u = EpilogueUnit::new(2, 32, 16, mixed_tables()).unwrap_or_else(|e| panic!("{e}"));
        let t = emit_epilogue(&u).unwrap_or_else(|e| panic!("{e}"))[0]
            .text
            .clone();
        for needle in [
            "reg [5:0] g_shift;",
            "        3'd3: g_shift = 6'h00;",
            "        default: g_shift = 6'h27;",
            "            g_max = 8'sh0f;",
            "            g_min = 8'shf0;",
            "wire signed [GAW-1:0] g_r = s7_acc >>> g_shift;",
            "reg [GRW-1:0]      s6_row, s7_row;",
            "localparam signed [7:0]     T2_P_14 = 8'sh7f;  // 127",
        ] {
            assert!(t.contains(needle), "{needle:?} missing");
        }
        assert!(!t.contains("G_SHIFT"));
    }

    #[test]
    fn one_table_needs_no_row_number() {
        let u = EpilogueUnit::new(1, 32, 16, vec![default_gelu_tables()[3].clone()])
            .unwrap_or_else(|e| panic!("{e}"));
        let t = emit_epilogue(&u).unwrap_or_else(|e| panic!("{e}"))[0]
            .text
            .clone();
        assert!(t.contains("localparam GRW = 1;"));
        assert!(
            t.contains("    case (s5_row)\n        default: begin"),
            "{t}"
        );
    }

    #[test]
    fn literals_are_sized_two_complement() {
        assert_eq!(literal(-128, 8, true), "8'sh80");
        assert_eq!(literal(127, 8, true), "8'sh7f");
        assert_eq!(literal(-1, 12, true), "12'shfff");
        assert_eq!(literal(39, 6, false), "6'h27");
        assert_eq!(literal(i64::MIN, 64, true), "64'sh8000000000000000");
        assert_eq!(sign_extend("x", 4, 6), "{{2{x[3]}}, x}");
    }
}

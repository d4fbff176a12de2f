//! The accelerator's epilogue (`hdl/templates/sta_epilogue.v`): one PE-array result beat (L accumulators of one
//! output channel) requantised in one pass with that channel's constants, in one of four modes (REQ8, GELU, RESID,
//! REQS). The golden model is `sta_golden::accel::epilogue_beat`; the RTL matches it bit for bit.
//!
//! [`EpilogueUnit::new`] validates the parameters and the GELU tables; [`emit_epilogue`] renders the PWL modules of
//! the tables (one per distinct table, [`crate::pwl_lut`]) and the epilogue itself, leaves first. The tables are
//! baked at generation: the accelerator uses [`default_gelu_tables`], one per GELU input scale D_G = 2..=7.

use askama::Template;
use sha2::{Digest, Sha256};
use sta_golden::encoder::ops::RESIDUAL_BITS;
use sta_golden::encoder::program::{default_gelu_table, GELU_FRAC_BITS};
use sta_golden::pwl::PwlTable;

use crate::emit::{standard_header, GeneratedModule};
use crate::pwl_lut::{emit_pwl, PwlRtlError, PwlUnit, PWL_LATENCY};

/// Cycles from a beat with `in_valid` to its result with `out_valid`, the same in every mode: stages 1–5 (sum,
/// product, shift, rounding, saturation), the PWL units, the GELU select.
pub const EPILOGUE_LATENCY: u32 = 5 + PWL_LATENCY + 1;
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
    #[error("GELU tables {first} and {second} differ but would share the module name {name}")]
    NameClash {
        first: usize,
        second: usize,
        name: String,
    },
    #[error("template rendering failed for {module}: {source}")]
    Template {
        module: String,
        source: askama::Error,
    },
}

/// A validated epilogue configuration: L, ACC_W, SW and the GELU tables (`in_gsel` = index into them).
#[derive(Debug, Clone)]
pub struct EpilogueUnit {
    lanes: usize,
    acc_width: u32,
    score_bits: u32,
    tables: Vec<PwlTable>,
    /// One PWL unit per distinct table (identical tables share a module and its instances).
    luts: Vec<PwlUnit>,
    /// `lut_of[g]`: the index in `luts` of table g.
    lut_of: Vec<usize>,
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

/// The PWL units of `tables`: one per distinct table, named `gelu` (as `sta lut rtl` names a GELU table) unless two
/// different tables have the same format, and so the same module name: those are told apart by their content hash.
fn table_units(tables: &[PwlTable]) -> Result<(Vec<PwlUnit>, Vec<usize>), EpilogueRtlError> {
    let plain: Vec<PwlUnit> = tables
        .iter()
        .enumerate()
        .map(|(index, t)| {
            t.validate()
                .map_err(|source| EpilogueRtlError::Table { index, source })?;
            PwlUnit::from_table("gelu", t).map_err(|source| EpilogueRtlError::Lut { index, source })
        })
        .collect::<Result<_, _>>()?;
    let mut luts: Vec<PwlUnit> = Vec::new();
    let mut lut_of = Vec::new();
    for (index, unit) in plain.iter().enumerate() {
        let clash = plain
            .iter()
            .any(|u| u.module_name() == unit.module_name() && u != unit);
        let unit = if clash {
            let function = format!("gelu_{}", &unit.content_hash()[..8]);
            PwlUnit::from_table(&function, &tables[index])
                .map_err(|source| EpilogueRtlError::Lut { index, source })?
        } else {
            unit.clone()
        };
        match luts.iter().position(|u| *u == unit) {
            Some(i) => lut_of.push(i),
            None => {
                if let Some(i) = luts
                    .iter()
                    .position(|u| u.module_name() == unit.module_name())
                {
                    // a hash collision of two different tables: refuse rather than emit two modules of one name
                    let first = lut_of.iter().position(|&l| l == i).unwrap_or(i);
                    return Err(EpilogueRtlError::NameClash {
                        first,
                        second: index,
                        name: unit.module_name(),
                    });
                }
                lut_of.push(luts.len());
                luts.push(unit);
            }
        }
    }
    Ok((luts, lut_of))
}

impl EpilogueUnit {
    /// L ∈ 1..=64, ACC_W ∈ 17..=48, SW ∈ 8..=16, 1..=16 tables, each valid (`PwlTable::validate`) and buildable as an
    /// INT8 PWL unit.
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
        Ok(EpilogueUnit {
            lanes,
            acc_width,
            score_bits,
            tables,
            luts,
            lut_of,
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
    /// The PWL unit that computes table `gsel` (`None` past the last table).
    pub fn lut(&self, gsel: usize) -> Option<&PwlUnit> {
        self.lut_of.get(gsel).map(|&i| &self.luts[i])
    }
    /// The distinct PWL units, in the order [`emit_epilogue`] emits them.
    pub fn luts(&self) -> &[PwlUnit] {
        &self.luts
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

/// One distinct GELU table inside a lane: its PWL instance and its output saturated to 8 bits.
struct LutInstance {
    index: usize,
    module: String,
    out_bits: u32,
    /// `wire [7:0] g<i> = …;`: sat_8 of the unit's OW-bit output (the golden `gelu`'s outer `sat_8`).
    sat8: String,
}

/// One `in_gsel` value: the distinct table it reads.
struct Select {
    gsel: usize,
    lut: usize,
}

/// One stage of the wait beside the PWL units.
struct Wait {
    stage: u32,
    prev: u32,
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
    pwl_latency: u32,
    sum_bits: u32,
    prod_bits: u32,
    luts: Vec<LutInstance>,
    selects: Vec<Select>,
    /// `in_gsel` values without a table exist: the select needs a `default` arm.
    partial_select: bool,
    waits: Vec<Wait>,
    /// The stage whose registers feed the GELU select (the last wait stage).
    gelu_stage: u32,
    out_stage: u32,
    unused_valids: String,
}

/// `sat_8` of the signed `bits`-wide net `x`, as an 8-bit expression: the bits above bit 6 all equal the sign (the
/// value fits) or the result is the end of the range on the sign's side.
fn sat8_expr(x: &str, bits: u32) -> String {
    match bits {
        8 => x.to_string(),
        b if b < 8 => format!("{{ {{{}{{{x}[{}]}}}}, {x}}}", 8 - b, b - 1),
        b => format!(
            "({x}[{m}:7] == {{{n}{{{x}[{m}]}}}}) ? {x}[7:0] : {{{x}[{m}], {{7{{~{x}[{m}]}}}}}}",
            m = b - 1,
            n = b - 7
        ),
    }
}

fn header(unit: &EpilogueUnit, name: &str) -> String {
    let mut lines = vec![format!(
        "Epilogue, tables {}: {}",
        first_hex(&unit.table_line(), 8),
        unit.parameter_line()
    )];
    for g in 0..unit.tables.len() {
        if let Some(lut) = unit.lut(g) {
            lines.push(format!(
                "  in_gsel = {g}: {} (table {})",
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

/// Renders the epilogue module only.
fn emit_top(unit: &EpilogueUnit) -> Result<GeneratedModule, EpilogueRtlError> {
    let name = unit.module_name();
    let header = header(unit, &name);
    let luts: Vec<LutInstance> = unit
        .luts
        .iter()
        .enumerate()
        .map(|(index, lut)| {
            let out_bits = lut.format().output_bits;
            LutInstance {
                index,
                module: lut.module_name(),
                out_bits,
                sat8: format!(
                    "wire [7:0] g{index} = {};",
                    sat8_expr(&format!("g{index}_out"), out_bits)
                ),
            }
        })
        .collect();
    let selects = (unit.lut_of.iter().enumerate())
        .map(|(gsel, &lut)| Select { gsel, lut })
        .collect();
    // stage 5 holds sat_8(r); the PWL units take it in the next cycle and answer PWL_LATENCY cycles after that
    let first_wait = 6;
    let waits: Vec<Wait> = (first_wait..first_wait + PWL_LATENCY)
        .map(|stage| Wait {
            stage,
            prev: stage - 1,
        })
        .collect();
    let gelu_stage = first_wait + PWL_LATENCY - 1;
    let unused_valids = (0..luts.len())
        .map(|i| format!("g{i}_valid"))
        .collect::<Vec<_>>()
        .join(", ");
    let template = EpilogueTemplate {
        header: &header,
        name: &name,
        lanes: unit.lanes,
        acc_width: unit.acc_width,
        score_bits: unit.score_bits,
        tables: unit.tables.len(),
        latency: unit.latency(),
        pwl_latency: PWL_LATENCY,
        sum_bits: unit.sum_bits(),
        prod_bits: unit.product_bits(),
        luts,
        selects,
        partial_select: unit.tables.len() < MAX_TABLES,
        waits,
        gelu_stage,
        out_stage: gelu_stage + 1,
        unused_valids,
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

/// Every module of the unit, leaves first: the distinct PWL units (in order of first use by `in_gsel`), then the
/// epilogue.
pub fn emit_epilogue(unit: &EpilogueUnit) -> Result<Vec<GeneratedModule>, EpilogueRtlError> {
    let mut modules = (unit.luts.iter().enumerate())
        .map(|(index, lut)| emit_pwl(lut).map_err(|source| EpilogueRtlError::Lut { index, source }))
        .collect::<Result<Vec<_>, _>>()?;
    modules.push(emit_top(unit)?);
    Ok(modules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(lanes: usize, acc: u32, sw: u32) -> EpilogueUnit {
        EpilogueUnit::with_default_tables(lanes, acc, sw).unwrap_or_else(|e| panic!("{e}"))
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
        }
        assert_eq!(u.latency(), 9);
        assert_eq!((u.sum_bits(), u.product_bits()), (33, 49));
        assert_eq!(unit(2, 48, 8).product_bits(), 65);
        assert_eq!(unit(2, 17, 8).sum_bits(), 33);
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
    fn identical_tables_share_a_module_and_same_format_tables_are_told_apart() {
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
        let names: Vec<String> = (0..4)
            .map(|g| u.lut(g).map(PwlUnit::module_name).unwrap_or_default())
            .collect();
        assert_eq!(names[0], names[2]);
        assert_ne!(names[0], names[3]);
        assert!(names[0].starts_with("sta_pwl_gelu_") && names[0].contains("_k16_d4_"));
        assert_eq!(
            names[1], "sta_pwl_gelu_k16_d5_c12f8_o8f5",
            "no clash: plain name"
        );
        let modules = emit_epilogue(&u).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(modules.len(), 4);
        let top = &modules[3].text;
        assert_eq!(top.matches("\n        .clk(clk),").count(), 3);
        assert!(top.contains("4'd2: g_sel = g0;"), "{top}");
        assert!(top.contains("default: g_sel = g0;"));
    }

    #[test]
    fn saturation_expressions_follow_the_output_width() {
        assert_eq!(sat8_expr("x", 8), "x");
        assert_eq!(sat8_expr("x", 5), "{ {3{x[4]}}, x}");
        assert_eq!(
            sat8_expr("x", 12),
            "(x[11:7] == {5{x[11]}}) ? x[7:0] : {x[11], {7{~x[11]}}}"
        );
    }

    #[test]
    fn rendered_module_is_complete() {
        let u = unit(3, 40, 12);
        let modules = emit_epilogue(&u).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(modules.len(), 7);
        let top = &modules[6];
        assert_eq!(top.name, u.module_name());
        let t = &top.text;
        assert_eq!(t.matches("\nmodule ").count(), 1);
        assert!(t.contains("`default_nettype none") && t.contains("generated by sta "));
        assert!(!t.contains("{{ ") && !t.contains("{%"));
        for m in &modules[..6] {
            assert!(t.contains(&format!("    {} u_gelu", m.name)), "{}", m.name);
        }
        for needle in [
            "parameter L = 3,",
            "parameter ACC_W = 40,",
            "parameter SW = 12\n",
            "localparam SUM_W = 41;",
            "localparam PROD_W = 57;",
            "reg [OUT_W-1:0] s9_out;",
        ] {
            assert!(t.contains(needle), "{needle:?} missing");
        }
        assert!(
            t.contains("default: g_sel = g0;"),
            "in_gsel 6..15 need a default arm"
        );
    }
}

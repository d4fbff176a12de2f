//! The scalable softmax unit (`hdl/templates/sta_softmax.v`, docs/softmax.md "Hardware"): P lanes, rows of
//! 1…L_MAX signed SW-bit scores (INT8 by default), OB-bit probabilities out, an EXP and a 1/x PWL unit
//! ([`crate::pwl_lut`]) with the tables of the numeric contract.
//!
//! [`SoftmaxUnit::with_widths`] (or [`SoftmaxUnit::new`] for SW = OB = 8) validates the parameters and derives every
//! width; [`emit_softmax`] renders the top module plus the two LUT modules (leaves first, the order of `filelist.f`).
//! With SW = OB = 8 the top is the INT8 unit exactly as before the widths became parameters (same text, same name).

use askama::Template;
use sha2::{Digest, Sha256};
use sta_golden::pwl::PwlTable;
use sta_golden::softmax::{check_widths, SoftmaxError, DEFAULT_OUTPUT_BITS, DEFAULT_SCORE_BITS};

use crate::emit::{GeneratedModule, GENERATOR};
use crate::pwl_lut::{emit_pwl, PwlUnit, PWL_LATENCY};

/// Lanes P accepted by the generator.
pub const MAX_LANES: usize = 64;
/// Longest row L_MAX accepted (the sum stays below 2^23 with 8-bit EXP outputs; memory is NB·L_MAX bytes).
pub const MAX_ROW_LEN: usize = 65536;
/// Extra e-ring words beyond 2·DEPTH: cover the beats B issues while a row's last beats go through EXP, the sum and
/// the 1/x step (15–17 cycles) before C can start reading it.
pub const E_RING_EXTRA: usize = 32;
/// Output FIFO entries (a beat holds one from its issue in phase C until it leaves: 6 cycles at full rate).
pub const OUT_FIFO: usize = 8;

/// Register stages of the max tree over P lanes: one compare-and-select level per stage, ⌈log2 P⌉.
pub fn max_tree_stages(lanes: usize) -> u32 {
    clog2(lanes as u64)
}

/// Register stages of the sum tree over P lanes: two adder levels per stage, ⌈⌈log2 P⌉/2⌉.
pub fn sum_tree_stages(lanes: usize) -> u32 {
    clog2(lanes as u64).div_ceil(2)
}

/// Cycles the pipelining for Fmax adds to a row's latency (docs/softmax.md "Cycles"): A's input register and max
/// tree (1 + KM), B's RAM-output and c_j registers, the e_j register, the sum tree and the leading-one register
/// (4 + KS), and C's RAM-output, product and shift registers (3).
pub fn pipeline_latency(lanes: usize) -> u32 {
    8 + max_tree_stages(lanes) + sum_tree_stages(lanes)
}

#[derive(Debug, thiserror::Error)]
pub enum SoftmaxRtlError {
    #[error("lanes = {0} is outside 1..={MAX_LANES}")]
    Lanes(usize),
    #[error("max-len = {0} is outside 1..={MAX_ROW_LEN}")]
    MaxLen(usize),
    /// SW, D_S or OB outside its range (`sta_golden::softmax::check_widths`).
    #[error("{0}")]
    Widths(#[from] SoftmaxError),
    #[error("EXP table: output_bits = {0} must be 2..=16")]
    ExpOutput(u32),
    #[error(
        "1/x table: input_frac_bits = {0} must be at most 5 (f <= 2^(D_R+1) must fit an INT8 code)"
    )]
    ReciInput(u32),
    #[error("1/x table: output_bits = {0} must be 2..=16")]
    ReciOutput(u32),
    #[error("{0}")]
    Lut(#[from] crate::pwl_lut::PwlRtlError),
    #[error("template rendering failed for {module}: {source}")]
    Template {
        module: String,
        source: askama::Error,
    },
}

/// A validated softmax configuration with its derived widths.
#[derive(Debug, Clone)]
pub struct SoftmaxUnit {
    pub lanes: usize,
    pub max_len: usize,
    /// SW: signed score width.
    pub score_bits: u32,
    pub score_frac_bits: u32,
    /// OB: unsigned probability width (scale 2^−OB).
    pub output_bits: u32,
    pub exp: PwlUnit,
    pub reci: PwlUnit,
}

fn bits_for(v: u64) -> u32 {
    (64 - v.leading_zeros()).max(1)
}

fn clog2(v: u64) -> u32 {
    if v <= 1 {
        0
    } else {
        64 - (v - 1).leading_zeros()
    }
}

impl SoftmaxUnit {
    /// INT8 scores and 8-bit outputs: [`with_widths`](Self::with_widths) with SW = OB = 8.
    pub fn new(
        lanes: usize,
        max_len: usize,
        score_frac_bits: u32,
        exp: &PwlTable,
        reci: &PwlTable,
    ) -> Result<Self, SoftmaxRtlError> {
        Self::with_widths(
            lanes,
            max_len,
            DEFAULT_SCORE_BITS,
            score_frac_bits,
            DEFAULT_OUTPUT_BITS,
            exp,
            reci,
        )
    }

    /// P ∈ 1..=64, L_MAX ∈ 1..=65536, SW ∈ 8..=16, D_S ∈ 0..=SW − 1, OB ∈ {7, 8}, tables the datapath can take.
    pub fn with_widths(
        lanes: usize,
        max_len: usize,
        score_bits: u32,
        score_frac_bits: u32,
        output_bits: u32,
        exp: &PwlTable,
        reci: &PwlTable,
    ) -> Result<Self, SoftmaxRtlError> {
        if !(1..=MAX_LANES).contains(&lanes) {
            return Err(SoftmaxRtlError::Lanes(lanes));
        }
        if !(1..=MAX_ROW_LEN).contains(&max_len) {
            return Err(SoftmaxRtlError::MaxLen(max_len));
        }
        check_widths(score_bits, score_frac_bits, output_bits)?;
        if !(2..=16).contains(&exp.format.output_bits) {
            return Err(SoftmaxRtlError::ExpOutput(exp.format.output_bits));
        }
        if reci.format.input_frac_bits > 5 {
            return Err(SoftmaxRtlError::ReciInput(reci.format.input_frac_bits));
        }
        if !(2..=16).contains(&reci.format.output_bits) {
            return Err(SoftmaxRtlError::ReciOutput(reci.format.output_bits));
        }
        Ok(SoftmaxUnit {
            lanes,
            max_len,
            score_bits,
            score_frac_bits,
            output_bits,
            exp: PwlUnit::from_table("exp", exp)?,
            reci: PwlUnit::from_table("reci", reci)?,
        })
    }

    /// Words per row buffer, ⌈L_MAX / P⌉.
    pub fn depth(&self) -> usize {
        self.max_len.div_ceil(self.lanes)
    }
    /// e_j bits (unsigned).
    pub fn e_bits(&self) -> u32 {
        self.exp.format().output_bits - 1
    }
    /// Sum bits: holds DEPTH·P·(2^EW − 1), at least EW + 1.
    pub fn sum_bits(&self) -> u32 {
        let emax = (1u64 << self.e_bits()) - 1;
        bits_for((self.depth() * self.lanes) as u64 * emax).max(self.e_bits() + 1)
    }
    /// True when SW or OB differs from 8: the module declares SCORE_W and OUT_W and its name says so.
    pub fn is_widened(&self) -> bool {
        (self.score_bits, self.output_bits) != (DEFAULT_SCORE_BITS, DEFAULT_OUTPUT_BITS)
    }
    /// `sta_softmax_p<P>_l<L_MAX>_s<D_S>`, then `_sw<SW>` when SW ≠ 8 and `_o<OB>` when OB ≠ 8.
    pub fn module_name(&self) -> String {
        let mut name = format!(
            "sta_softmax_p{}_l{}_s{}",
            self.lanes, self.max_len, self.score_frac_bits
        );
        if self.score_bits != DEFAULT_SCORE_BITS {
            name += &format!("_sw{}", self.score_bits);
        }
        if self.output_bits != DEFAULT_OUTPUT_BITS {
            name += &format!("_o{}", self.output_bits);
        }
        name
    }
    /// `f(SW, OB)`, or nothing for SW = OB = 8.
    fn if_widened(&self, f: impl Fn(u32, u32) -> String) -> String {
        if self.is_widened() {
            f(self.score_bits, self.output_bits)
        } else {
            String::new()
        }
    }
    /// The `sta softmax generate` flags of the widths: empty for SW = OB = 8.
    pub fn width_flags(&self) -> String {
        self.if_widened(|sw, ob| format!(" --score-bits {sw} --output-bits {ob}"))
    }
    /// Score ring words, 2·DEPTH + KA: a row reaches the A → B queue KA = 1 + KM cycles after its last beat
    /// (input register, max tree), and its first words stay that much longer.
    pub fn score_words(&self) -> usize {
        2 * self.depth() + self.score_extra()
    }
    /// KA, the score ring's words beyond 2·DEPTH.
    pub fn score_extra(&self) -> usize {
        1 + max_tree_stages(self.lanes) as usize
    }
    /// e ring words, 2·DEPTH + [`E_RING_EXTRA`].
    pub fn e_words(&self) -> usize {
        2 * self.depth() + E_RING_EXTRA
    }
    /// Buffer memory in bits: score ring · P · SW + e ring · P · EW.
    pub fn buffer_bits(&self) -> usize {
        self.lanes
            * (self.score_words() * self.score_bits as usize
                + self.e_words() * self.e_bits() as usize)
    }
    /// Every parameter (hashed into [`content_hash`](Self::content_hash)); the widths only when not 8, so the INT8
    /// unit keeps its hash.
    pub fn parameter_line(&self) -> String {
        format!(
            "lanes={} max_len={} score_frac_bits={} e_ring_extra={E_RING_EXTRA} exp={}:{} reci={}:{}{}",
            self.lanes,
            self.max_len,
            self.score_frac_bits,
            self.exp.module_name(),
            self.exp.content_hash(),
            self.reci.module_name(),
            self.reci.content_hash(),
            self.width_params()
        )
    }
    /// ` score_bits=SW output_bits=OB`, or nothing for SW = OB = 8.
    fn width_params(&self) -> String {
        self.if_widened(|sw, ob| format!(" score_bits={sw} output_bits={ob}"))
    }
    pub fn content_hash(&self) -> String {
        let digest = Sha256::digest(self.parameter_line().as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

#[derive(Template)]
#[template(path = "sta_softmax.v", escape = "none")]
struct SoftmaxTemplate<'a> {
    header: &'a str,
    name: &'a str,
    lanes: usize,
    max_len: usize,
    score_frac_bits: u32,
    depth: usize,
    addr_bits: u32,
    beat_count_bits: u32,
    score_words: usize,
    score_addr_bits: u32,
    score_count_bits: u32,
    e_words: usize,
    e_extra: usize,
    e_addr_bits: u32,
    e_count_bits: u32,
    depth_c: String,
    ms_last: String,
    ms_c: String,
    me_last: String,
    me_c: String,
    e_bits: u32,
    exp_out_bits: u32,
    sum_bits: u32,
    lead_bits: u32,
    reci_in_frac: u32,
    f_bits: u32,
    reci_out_bits: u32,
    r_bits: u32,
    out_t0: u32,
    out_k0: u32,
    prod_bits: u32,
    yshift_bits: u32,
    c_bits: u32,
    c_min: String,
    y_max: String,
    c_expr: String,
    f_to_byte: String,
    t_expr: String,
    u_expr: String,
    exp_module: String,
    reci_module: String,
    score_desc: String,
    score_lane_desc: String,
    out_lane_desc: String,
    score_w: &'a str,
    score_msb: &'a str,
    out_w: &'a str,
    out_msb: &'a str,
    out_bits: u32,
    extra_params: String,
    extra_localparams: &'a str,
    check_cond: String,
    check_names: &'a str,
    check_values: String,
    s_min: &'a str,
    d_bits_desc: &'a str,
    y_max_dec: u32,
    y_zero: String,
    y_top: String,
    max_tree: String,
    sum_tree: String,
    max_stages: u32,
    sum_stages: u32,
    score_extra: usize,
}

fn header(unit: &SoftmaxUnit, name: &str) -> String {
    let rule = "// ".to_string() + &"-".repeat(110);
    format!(
        "{rule}\n\
         // {name}: generated by {GENERATOR}, the STA RTL generator. Do not edit; regenerate instead.\n\
         // Softmax unit, config {hash}: lanes={p} max_len={l} score_frac_bits={ds} depth={depth}{widths}\n\
         //   exp={exp} (table {eh}) reci={reci} (table {rh})\n\
         // Regenerate: sta softmax generate --lanes {p} --max-len {l} --input-frac-bits {ds}{flags} --out DIR \
         (plus --exp-params/--reci-params for tables other than the defaults)\n\
         {rule}",
        hash = unit.content_hash(),
        widths = unit.width_params(),
        flags = unit.width_flags(),
        p = unit.lanes,
        l = unit.max_len,
        ds = unit.score_frac_bits,
        depth = unit.depth(),
        exp = unit.exp.module_name(),
        eh = unit.exp.content_hash(),
        reci = unit.reci.module_name(),
        rh = unit.reci.content_hash(),
    )
}

fn zext(signal: &str, from: u32, to: u32) -> String {
    if from == to {
        signal.to_string()
    } else {
        format!("{{ {{{}{{1'b0}}}}, {signal}}}", to - from)
    }
}

/// Verilog of a pipelined reduction tree: `leaves` (expressions of `w` bits, `signed` or not) combined pairwise by
/// `op`, a register after every `per_stage`-th level and after the last one, with the `valid` bit and the
/// `side` vector (`side_w` bits) delayed alongside. It drives the wires `out.0` (valid), `out.1` (side) and `out.2`
/// (the result), which the template declares.
#[allow(clippy::too_many_arguments)]
fn reduce_tree(
    tag: &str,
    leaves: &[String],
    w: &str,
    signed: bool,
    op: &dyn Fn(&str, &str) -> String,
    per_stage: u32,
    (valid, side, side_w): (&str, &str, &str),
    out: (&str, &str, &str),
) -> String {
    let sg = if signed { "signed " } else { "" };
    let mut v = String::new();
    let mut cur: Vec<String> = Vec::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let name = format!("{tag}0_{i}");
        v += &format!("wire {sg}[{w}-1:0] {name} = {leaf};\n");
        cur.push(name);
    }
    let levels = clog2(leaves.len() as u64);
    let (mut valid_s, mut side_s) = (valid.to_string(), side.to_string());
    for l in 1..=levels {
        let registered = l % per_stage == 0 || l == levels;
        let mut next = Vec::new();
        let mut body = String::new();
        for (j, pair) in cur.chunks(2).enumerate() {
            let name = format!("{tag}{l}_{j}");
            let expr = match pair {
                [a, b] => op(a, b),
                [a] => a.clone(),
                _ => unreachable!("chunks of 2"),
            };
            if registered {
                v += &format!("reg  {sg}[{w}-1:0] {name};\n");
                body += &format!("    {name} <= {expr};\n");
            } else {
                v += &format!("wire {sg}[{w}-1:0] {name} = {expr};\n");
            }
            next.push(name);
        }
        if registered {
            let (nv, ns) = (format!("{tag}{l}_valid"), format!("{tag}{l}_side"));
            v += &format!(
                "reg  {nv};\nreg  [{side_w}-1:0] {ns};\n\
                 always @(posedge clk) begin\n{body}    {ns} <= {side_s};\n    \
                 if (rst) begin\n        {nv} <= 1'b0;\n    end else begin\n        {nv} <= {valid_s};\n    \
                 end\nend\n"
            );
            (valid_s, side_s) = (nv, ns);
        }
        cur = next;
    }
    v += &format!(
        "assign {} = {valid_s};\nassign {} = {side_s};\nassign {} = {};",
        out.0, out.1, out.2, cur[0]
    );
    v
}

/// Renders the top module only.
fn emit_top(unit: &SoftmaxUnit) -> Result<GeneratedModule, SoftmaxRtlError> {
    let name = unit.module_name();
    let header = header(unit, &name);
    let depth = unit.depth();
    let addr_bits = clog2(depth as u64).max(1);
    let acw = bits_for(depth as u64);
    let (ms, me) = (unit.score_words(), unit.e_words());
    let (saw, scw) = (clog2(ms as u64).max(1), bits_for(ms as u64));
    let (eaw, ecw) = (clog2(me as u64).max(1), bits_for(me as u64));
    let ew = unit.e_bits();
    let sw = unit.sum_bits();
    let lw = bits_for(u64::from(sw - 1));
    let d_r = unit.reci.format().input_frac_bits;
    let fw = d_r + 2;
    let owr = unit.reci.format().output_bits;
    let rw = owr - 1;
    let d_or = unit.reci.format().output_frac_bits;
    let ob = unit.output_bits;
    let k0 = ob.saturating_sub(d_or);
    let t0 = d_or.saturating_sub(ob);
    let raw_pw = ew + rw + k0;
    let pw = raw_pw.max(ob);
    let ysw = bits_for(u64::from(sw - 1 + t0)).max(lw);
    // d = s − m has SW + 1 bits
    let dw = unit.score_bits + 1;
    let s = i64::from(unit.score_frac_bits) - i64::from(unit.exp.format().input_frac_bits);
    let (c_bits, c_expr) = if s > 0 {
        let cw = (s as u32).max(dw) + 1;
        let half = 1i64 << (s - 1);
        (
            cw,
            format!(
                "    wire signed [CSW-1:0] d_wide = {{ {{{}{{d[{}]}}}}, d}};\n    \
                 wire signed [CSW-1:0] c_round = (d_wide + {cw}'sd{half}) >>> {s};",
                cw - dw,
                dw - 1
            ),
        )
    } else if s == 0 {
        (dw, "    wire signed [CSW-1:0] c_round = d;".to_string())
    } else {
        let k = (-s) as u32;
        (
            dw + k,
            format!("    wire signed [CSW-1:0] c_round = {{d, {{{k}{{1'b0}}}}}};"),
        )
    };
    let widened = unit.is_widened();
    let (score_bits, y_max_dec) = (unit.score_bits, (1u32 << ob) - 1);
    let pick = |default: &'static str, wide: &'static str| if widened { wide } else { default };
    let (mut check_cond, mut check_values) = (
        format!(
            "P != {} || L_MAX != {} || D_S != {}",
            unit.lanes, unit.max_len, unit.score_frac_bits
        ),
        format!("{}, {}, {}", unit.lanes, unit.max_len, unit.score_frac_bits),
    );
    let mut extra_params = String::new();
    if widened {
        check_cond += &format!(" || SCORE_W != {score_bits} || OUT_W != {ob}");
        check_values += &format!(", {score_bits}, {ob}");
        extra_params = format!(
            ",\n    // Score width SCORE_W (scores are signed SCORE_W-bit codes)\n    parameter SCORE_W = {score_bits},\n    \
             // Output width OUT_W (probabilities are unsigned OUT_W-bit codes, scale 2^-OUT_W)\n    \
             parameter OUT_W = {ob}"
        );
    }
    let prod_shifted = if k0 > 0 {
        format!("{{prod, {{{k0}{{1'b0}}}}}}")
    } else {
        "prod".to_string()
    };
    let u_expr = if pw > raw_pw {
        format!("{{ {{{}{{1'b0}}}}, {prod_shifted}}}", pw - raw_pw)
    } else {
        prod_shifted
    };
    let t_expr = if t0 > 0 {
        format!("{} + {ysw}'d{t0}", zext("n1_lead", lw, ysw))
    } else {
        zext("n1_lead", lw, ysw)
    };
    let score_w = if widened { "SCORE_W" } else { "8" };
    let max_leaves: Vec<String> = (0..unit.lanes)
        .map(|i| format!("a1_leaf[{i}*{score_w} +: {score_w}]"))
        .collect();
    let max_tree = reduce_tree(
        "amx",
        &max_leaves,
        score_w,
        true,
        &|a, b| format!("({a} > {b}) ? {a} : {b}"),
        1,
        ("a1_valid", "a1_side", "AXW"),
        ("at_valid", "at_side", "at_max"),
    );
    let sum_leaves: Vec<String> = (0..unit.lanes)
        .map(|i| zext(&format!("b7_e[{i}*EW +: EW]"), ew, sw))
        .collect();
    let sum_tree = reduce_tree(
        "bsm",
        &sum_leaves,
        "SW",
        false,
        &|a, b| format!("{a} + {b}"),
        2,
        ("b7_valid", "b7_side", "SXW"),
        ("bt_valid", "bt_side", "bt_sum"),
    );
    let template = SoftmaxTemplate {
        header: &header,
        name: &name,
        lanes: unit.lanes,
        max_len: unit.max_len,
        score_frac_bits: unit.score_frac_bits,
        depth,
        addr_bits,
        beat_count_bits: acw,
        score_words: ms,
        score_addr_bits: saw,
        score_count_bits: scw,
        e_words: me,
        e_extra: E_RING_EXTRA,
        e_addr_bits: eaw,
        e_count_bits: ecw,
        depth_c: format!("{acw}'d{depth}"),
        ms_last: format!("{saw}'d{}", ms - 1),
        ms_c: format!("{scw}'d{ms}"),
        me_last: format!("{eaw}'d{}", me - 1),
        me_c: format!("{ecw}'d{me}"),
        e_bits: ew,
        exp_out_bits: ew + 1,
        sum_bits: sw,
        lead_bits: lw,
        reci_in_frac: d_r,
        f_bits: fw,
        reci_out_bits: owr,
        r_bits: rw,
        out_t0: t0,
        out_k0: k0,
        prod_bits: pw,
        yshift_bits: ysw,
        c_bits,
        c_min: format!("-{c_bits}'sd128"),
        y_max: format!("{}'d{y_max_dec}", pw + 1),
        c_expr,
        f_to_byte: zext("n2_f", fw, 8),
        t_expr,
        u_expr,
        exp_module: unit.exp.module_name(),
        reci_module: unit.reci.module_name(),
        score_desc: if score_bits == 8 {
            "INT8 scores".to_string()
        } else {
            format!("signed {score_bits}-bit scores")
        },
        score_lane_desc: pick("INT8", "SCORE_W-bit").to_string(),
        out_lane_desc: pick("8-bit", "OUT_W-bit").to_string(),
        score_w: pick("8", "SCORE_W"),
        score_msb: pick("7", "SCORE_W-1"),
        out_w: pick("8", "OUT_W"),
        out_msb: pick("7", "OUT_W-1"),
        out_bits: ob,
        extra_params,
        extra_localparams: pick(
            "",
            "localparam signed [SCORE_W-1:0] S_MIN = {1'b1, {(SCORE_W-1){1'b0}}};  // -2^(SCORE_W-1)\n",
        ),
        check_cond,
        check_names: pick("P, L_MAX, D_S", "P, L_MAX, D_S, SCORE_W, OUT_W"),
        check_values,
        s_min: pick("-8'sd128", "S_MIN"),
        d_bits_desc: pick("9 bits", "SCORE_W + 1 bits"),
        y_max_dec,
        y_zero: format!("{ob}'d0"),
        y_top: format!("{ob}'d{y_max_dec}"),
        max_tree,
        sum_tree,
        max_stages: max_tree_stages(unit.lanes),
        sum_stages: sum_tree_stages(unit.lanes),
        score_extra: unit.score_extra(),
    };
    let mut text = template
        .render()
        .map_err(|source| SoftmaxRtlError::Template {
            module: name.clone(),
            source,
        })?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(GeneratedModule { name, text })
}

/// Every module of the unit, leaves first: the EXP unit, the 1/x unit, the top.
pub fn emit_softmax(unit: &SoftmaxUnit) -> Result<Vec<GeneratedModule>, SoftmaxRtlError> {
    Ok(vec![
        emit_pwl(&unit.exp)?,
        emit_pwl(&unit.reci)?,
        emit_top(unit)?,
    ])
}

/// The LUT latency the template's pipelines assume.
pub const LUT_LATENCY: u32 = PWL_LATENCY;

#[cfg(test)]
mod tests {
    use super::*;
    use sta_golden::pwl::PwlFormat;

    fn table(d_in: u32, ow: u32, d_out: u32) -> PwlTable {
        PwlTable {
            format: PwlFormat {
                input_frac_bits: d_in,
                coeff_bits: 8,
                coeff_frac_bits: 6,
                output_bits: ow,
                output_frac_bits: d_out,
            },
            breakpoints: vec![-64],
            slopes: vec![0, 16],
            intercepts: vec![1, 64],
        }
    }

    #[test]
    fn widths_follow_the_parameters() {
        let u = SoftmaxUnit::new(4, 64, 4, &table(4, 8, 7), &table(5, 10, 8))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u.depth(), 16);
        assert_eq!(u.e_bits(), 7);
        // 64 elements of at most 127: 8128 < 2^13
        assert_eq!(u.sum_bits(), 13);
        assert_eq!((u.score_words(), u.e_words()), (35, 64));
        assert_eq!(u.buffer_bits(), 4 * (35 * 8 + 64 * 7));
        assert_eq!(u.module_name(), "sta_softmax_p4_l64_s4");
        let odd = SoftmaxUnit::new(3, 10, 4, &table(4, 8, 7), &table(5, 10, 8))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(odd.depth(), 4);
        assert_eq!(odd.sum_bits(), 11, "12 lanes x 127 = 1524");
    }

    #[test]
    fn out_of_range_parameters_are_refused() {
        let (e, r) = (table(4, 8, 7), table(5, 10, 8));
        assert!(matches!(
            SoftmaxUnit::new(0, 8, 4, &e, &r),
            Err(SoftmaxRtlError::Lanes(0))
        ));
        assert!(matches!(
            SoftmaxUnit::new(65, 8, 4, &e, &r),
            Err(SoftmaxRtlError::Lanes(65))
        ));
        assert!(matches!(
            SoftmaxUnit::new(4, 0, 4, &e, &r),
            Err(SoftmaxRtlError::MaxLen(0))
        ));
        assert!(matches!(
            SoftmaxUnit::new(4, MAX_ROW_LEN + 1, 4, &e, &r),
            Err(SoftmaxRtlError::MaxLen(_))
        ));
        assert!(matches!(
            SoftmaxUnit::new(4, 8, 4, &e, &table(6, 10, 8)),
            Err(SoftmaxRtlError::ReciInput(6))
        ));
        assert!(matches!(
            SoftmaxUnit::new(4, 8, 4, &table(4, 17, 7), &r),
            Err(SoftmaxRtlError::ExpOutput(17))
        ));
    }

    #[test]
    fn widths_name_declare_and_size_the_wide_unit() {
        let (e, r) = (table(4, 8, 7), table(5, 10, 8));
        let u = SoftmaxUnit::with_widths(4, 64, 16, 8, 7, &e, &r).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u.module_name(), "sta_softmax_p4_l64_s8_sw16_o7");
        assert_eq!(u.buffer_bits(), 4 * (35 * 16 + 64 * 7));
        assert!(u.parameter_line().ends_with(" score_bits=16 output_bits=7"));
        let int8 = SoftmaxUnit::new(4, 64, 4, &e, &r).unwrap_or_else(|e| panic!("{e}"));
        assert!(!int8.is_widened() && int8.width_flags().is_empty());
        assert!(!int8.parameter_line().contains("score_bits"));
        let top = emit_top(&u).unwrap_or_else(|e| panic!("{e}"));
        let t = &top.text;
        for needle in [
            "parameter SCORE_W = 16,",
            "parameter OUT_W = 7\n",
            "input  wire [P*SCORE_W-1:0]   s_tdata,",
            "output wire [P*OUT_W-1:0]   m_tdata,",
            "SCORE_W != 16 || OUT_W != 7",
            "wire signed [SCORE_W:0] d = ",
            // D_S − D_E = 4: d (17 bits) is widened to 18 before the rounding shift
            "wire signed [CSW-1:0] d_wide = { {1{d[16]}}, d};",
            "(d_wide + 18'sd8) >>> 4;",
            "localparam [PW:0] Y_MAX = 17'd127;",
            "? 7'd127 : v[OUT_W-1:0];",
            "--score-bits 16 --output-bits 7",
        ] {
            assert!(t.contains(needle), "{needle:?} missing");
        }
        assert!(!t.contains("-8'sd128 : a_max") && !t.contains("P*8-1"));
        // OB = 7 with D_OR = 8: the product is shifted right by E + 1
        assert!(t.contains("(T0 = 1)"));
        let twelve =
            SoftmaxUnit::with_widths(1, 8, 12, 2, 8, &e, &r).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(twelve.module_name(), "sta_softmax_p1_l8_s2_sw12");
        let t = emit_top(&twelve).unwrap_or_else(|e| panic!("{e}")).text;
        assert!(t.contains("c_round = {d, {2{1'b0}}};") && t.contains("localparam CSW = 15;"));
    }

    #[test]
    fn out_of_range_widths_are_refused() {
        let (e, r) = (table(4, 8, 7), table(5, 10, 8));
        let make = |sw, ds, ob| SoftmaxUnit::with_widths(4, 8, sw, ds, ob, &e, &r).map(|_| ());
        for (sw, ds, ob) in [(7, 4, 8), (17, 4, 8), (8, 4, 6), (8, 4, 9), (12, 12, 8)] {
            assert!(matches!(make(sw, ds, ob), Err(SoftmaxRtlError::Widths(_))));
        }
        let err = make(12, 12, 8).unwrap_err().to_string();
        assert_eq!(
            err,
            "score_frac_bits = 12 is outside 0..=11: D_S must be below the score width SW = 12"
        );
        assert!(make(16, 15, 7).is_ok());
    }

    #[test]
    fn rendered_modules_are_complete() {
        let u = SoftmaxUnit::new(3, 10, 2, &table(4, 8, 7), &table(5, 10, 8))
            .unwrap_or_else(|e| panic!("{e}"));
        let modules = emit_softmax(&u).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(modules.len(), 3);
        let top = &modules[2];
        assert_eq!(top.name, "sta_softmax_p3_l10_s2");
        assert_eq!(top.text.matches("\nmodule ").count(), 1);
        assert!(top.text.contains("`default_nettype none"));
        assert!(!top.text.contains("{{ ") && !top.text.contains("{%"));
        // D_S = 2 < D_E = 4: the EXP input is a left shift by 2
        assert!(
            top.text.contains("c_round = {d, {2{1'b0}}};"),
            "{}",
            top.text
        );
        assert!(top.text.contains(&format!("{} u_exp", modules[0].name)));
        assert!(top.text.contains(&format!("{} u_reci", modules[1].name)));
    }
}

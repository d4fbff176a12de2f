//! The whole accelerator (`hdl/templates/sta_top*.v`, docs/accelerator.md): the top `config.top_name()` and its
//! own modules (record receiver and sender, decoder, GEMM, attention, LayerNorm and store engines, the buffer RAMs),
//! around the PE array ([`crate::emit`]), the softmax unit ([`crate::softmax`]), the epilogue
//! ([`super::epilogue`]) and the LayerNorm unit ([`super::layernorm`]).
//!
//! [`TopLayout`] derives every width, depth and record size from an [`AccelConfig`]; [`emit_top`] renders every
//! module of the design, leaves first, one module per file, each with the standard header.

use askama::Template;
use sha2::{Digest, Sha256};
use sta_golden::encoder::program::default_rsqrt_table;
use sta_golden::pe_array::ArrayShape;
use sta_golden::softmax::encoder_softmax_numerics;
use sta_golden::top::config::{AccelConfig, ACC_BITS, SCORE_BITS};

use super::epilogue::{emit_epilogue, EpilogueRtlError, EpilogueUnit};
use super::layernorm::{emit_layernorm, LayerNormRtlError, LayerNormUnit};
use crate::array_ctrl::PERF_COUNTER_BITS;
use crate::emit::{
    emit_pe_array, render, standard_header, EmitError, GeneratedDesign, GeneratedModule,
};
use crate::softmax::{emit_softmax, SoftmaxRtlError, SoftmaxUnit};

/// Bits of the STATUS record (`sta_golden::top::isa`): [7:0] error code, [31:16] instructions, eight 56-bit
/// counters from bit 64, the last 64 bits 0 (spare).
pub use sta_golden::top::isa::{STATUS_BITS, STATUS_COUNTER_BITS};
/// Bits of an instruction, PARAM and NORM record.
pub const INSTR_BITS: usize = 64;
/// Bits of an RDATA record (one Resid value, sign-extended).
pub const RDATA_BITS: usize = 32;
/// The smallest global address width: every 13-bit instruction field fits it with a bit to spare, so the
/// engines zero-extend fields without special cases.
const MIN_ADDR_BITS: usize = 14;

/// Error codes of the STATUS record.
pub const ERR_OPCODE: u8 = 1;
pub const ERR_COMBINATION: u8 = 2;
pub const ERR_RANGE: u8 = 3;
pub const ERR_TILE: u8 = 4;
pub const ERR_RESERVED: u8 = 5;

#[derive(Debug, thiserror::Error)]
pub enum TopError {
    #[error("{0}")]
    Config(#[from] sta_golden::top::config::AccelConfigError),
    #[error("PE array: {0}")]
    Array(String),
    #[error("PE array: {0}")]
    Emit(#[from] EmitError),
    #[error("softmax unit: {0}")]
    Softmax(#[from] SoftmaxRtlError),
    #[error("epilogue: {0}")]
    Epilogue(#[from] EpilogueRtlError),
    #[error("LayerNorm unit: {0}")]
    LayerNorm(#[from] LayerNormRtlError),
    #[error("two different modules are both named {0}")]
    NameClash(String),
}

fn clog2(v: usize) -> usize {
    if v <= 1 {
        0
    } else {
        (usize::BITS - (v - 1).leading_zeros()) as usize
    }
}

fn log2_exact(v: usize) -> usize {
    debug_assert!(v.is_power_of_two());
    v.trailing_zeros() as usize
}

/// Every number the templates need, derived once from a validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopLayout {
    /// B, log2 B.
    pub b: usize,
    pub lb: usize,
    /// N, log2 N (N is a power of two).
    pub n: usize,
    pub lnn: usize,
    /// M, log2 M.
    pub m: usize,
    pub iw: usize,
    /// P, log2 P.
    pub p: usize,
    pub lp: usize,
    pub tmax: usize,
    /// T_MAX / B: token tiles on chip.
    pub tt: usize,
    pub d: usize,
    pub h: usize,
    pub f: usize,
    pub dh: usize,
    /// W, the stream word width.
    pub w: usize,
    /// Words of M bytes per token of a D-wide / the F-wide buffer.
    pub gd: usize,
    pub gf: usize,
    pub gdw: usize,
    /// The engines' address width (every buffer's address fits it).
    pub aw: usize,
    /// Depth and address width of each RAM (depths at least 2).
    pub dep_x: usize,
    pub dep_f: usize,
    pub dep_v: usize,
    pub dep_r: usize,
    pub dep_sc: usize,
    pub dep_pr: usize,
    pub dep_tile: usize,
    pub dep_norm: usize,
    pub aw_x: usize,
    pub aw_f: usize,
    pub aw_v: usize,
    pub aw_r: usize,
    pub aw_sc: usize,
    pub aw_pr: usize,
    pub aw_tile: usize,
    pub aw_norm: usize,
    /// Bits of a WBEAT record (= a weight tile word).
    pub wb: usize,
    /// Beats of the deepest tile, and the width of a beat counter.
    pub max_beats: usize,
    pub bcw: usize,
    /// Widths of the slice counters: N-byte slices of an M-byte word, of a B-byte V word, N-lane slices of a P-lane
    /// probability word, P-lane slices of a B-lane score word (each at least 1 bit).
    pub subw: usize,
    pub subvw: usize,
    pub subpw: usize,
    pub fsubw: usize,
    /// Width of the channel-tile counter of attention (DH / B tiles).
    pub ctw: usize,
    /// Receiver: record buffer bits, word counter width, words of each input record.
    pub rx_bits: usize,
    pub rx_cw: usize,
    pub words_instr: usize,
    pub words_x: usize,
    pub words_param: usize,
    pub words_wbeat: usize,
    pub words_norm: usize,
    /// Sender: record buffer bits, word counter width, words of each output record.
    pub tx_bits: usize,
    pub tx_cw: usize,
    pub words_vdata: usize,
    pub words_rdata: usize,
    pub words_status: usize,
    pub status_bits: usize,
    /// Bits of a write description (see [`META_FIELDS`]).
    pub mw: usize,
}

/// The fields of a write description, LSB first: (name, offset) for the fixed ones; then the byte select (log2 M
/// bits), the bank enables (B bits) and the address (the engines' address width).
const META_FIXED: [(&str, usize); 8] = [
    ("M_EVG", 0),
    ("M_EVS", 1),
    ("M_EVC", 2),
    ("M_HALF", 3),
    ("M_DST", 4),
    ("M_SKIP", 7),
    ("M_RES", 10),
    ("M_TGT", 11),
];
/// The write targets of a description.
const TARGETS: [(&str, u32); 4] = [
    ("TGT_INT8", 1),
    ("TGT_V", 2),
    ("TGT_RESID", 3),
    ("TGT_SCORE", 4),
];

impl TopLayout {
    pub fn new(c: &AccelConfig) -> Result<TopLayout, TopError> {
        c.validate()?;
        let (b, n, m, p) = (c.array, c.n, c.m, c.lanes);
        let (d, h, f) = (c.dims.d_model, c.dims.heads, c.dims.ffn);
        let tmax = c.max_tokens;
        let tt = tmax / b;
        let dh = d / h;
        let w = c.word_bits as usize;
        let iw = log2_exact(m);
        let (gd, gf) = (d / m, f / m);
        let dep = |v: usize| v.max(2);
        let (dep_x, dep_f, dep_v, dep_r) =
            (dep(tt * gd), dep(tt * gf), dep(d / b * tt), dep(tt * d));
        let (dep_sc, dep_pr, dep_norm) = (dep(tmax), dep(tmax / p), dep(d));
        let max_beats = c.max_tile_beats();
        let dep_tile = dep(max_beats);
        let aw = [dep_x, dep_f, dep_v, dep_r]
            .iter()
            .map(|&v| clog2(v))
            .max()
            .unwrap_or(1)
            .max(MIN_ADDR_BITS);
        let wb = c.weight_beat_bits();
        let words = |bits: usize| bits.div_ceil(w);
        let rx_words = [INSTR_BITS, 8 * m, wb]
            .iter()
            .map(|&v| words(v))
            .max()
            .unwrap_or(1);
        let status_bits = STATUS_BITS;
        let tx_words = [status_bits, 8 * m, 8 * b, RDATA_BITS]
            .iter()
            .map(|&v| words(v))
            .max()
            .unwrap_or(1);
        let at_least_one = |v: usize| clog2(v).max(1);
        Ok(TopLayout {
            b,
            lb: log2_exact(b),
            n,
            lnn: log2_exact(n),
            m,
            iw,
            p,
            lp: log2_exact(p),
            tmax,
            tt,
            d,
            h,
            f,
            dh,
            w,
            gd,
            gf,
            gdw: at_least_one(gd),
            aw,
            dep_x,
            dep_f,
            dep_v,
            dep_r,
            dep_sc,
            dep_pr,
            dep_tile,
            dep_norm,
            aw_x: clog2(dep_x),
            aw_f: clog2(dep_f),
            aw_v: clog2(dep_v),
            aw_r: clog2(dep_r),
            aw_sc: clog2(dep_sc),
            aw_pr: clog2(dep_pr),
            aw_tile: clog2(dep_tile),
            aw_norm: clog2(dep_norm),
            wb,
            max_beats,
            bcw: clog2(max_beats + 1).max(1),
            subw: at_least_one(m / n),
            subvw: at_least_one(b / n),
            subpw: at_least_one(p / n),
            fsubw: at_least_one(b / p),
            ctw: at_least_one(dh / b),
            rx_bits: rx_words * w,
            rx_cw: clog2(rx_words + 1).max(1),
            words_instr: words(INSTR_BITS),
            words_x: words(8 * m),
            words_param: words(INSTR_BITS),
            words_wbeat: words(wb),
            words_norm: words(INSTR_BITS),
            tx_bits: tx_words * w,
            tx_cw: clog2(tx_words + 1).max(1),
            words_vdata: words(8 * b),
            words_rdata: words(RDATA_BITS),
            words_status: words(status_bits),
            status_bits,
            mw: 14 + iw + b + aw,
        })
    }

    /// Bits of every RAM of the design (the block RAM an FPGA needs): six token-banked INT8 buffers, V, Resid, the
    /// score rows, the probability banks, the two weight-tile halves, the channel parameters and the two norm banks
    /// (the softmax unit's own rings not included).
    pub fn memory_bits(&self) -> usize {
        let b = self.b;
        5 * b * self.dep_x * 8 * self.m
            + b * self.dep_f * 8 * self.m
            + b * self.dep_v * 8 * b
            + b * self.dep_r * 24
            + self.dep_sc * 16 * b
            + b * self.dep_pr * 7 * self.p
            + 2 * self.dep_tile * self.wb
            + 2 * b * 62
            + 2 * self.dep_norm * 56
    }

    /// `localparam`s of the write-description fields and targets named in `names`.
    fn meta_params(&self, names: &[&str]) -> String {
        let mut fields: Vec<(String, usize)> = META_FIXED
            .iter()
            .map(|&(n, o)| (n.to_string(), o))
            .collect();
        fields.push(("M_BYTE".into(), 14));
        fields.push(("M_BANK".into(), 14 + self.iw));
        fields.push(("M_ADDR".into(), 14 + self.iw + self.b));
        let mut text =
            String::from("// the write description of a result beat (docs: the top's header)\n");
        for (name, offset) in fields.iter().filter(|(n, _)| names.contains(&n.as_str())) {
            text += &format!("localparam {name} = {offset};\n");
        }
        for (name, code) in TARGETS.iter().filter(|(n, _)| names.contains(n)) {
            text += &format!("localparam [2:0] {name} = 3'd{code};\n");
        }
        text
    }
}

/// The names of the modules of one configuration.
#[derive(Debug, Clone)]
struct Names {
    top: String,
    rx: String,
    tx: String,
    decoder: String,
    gemm: String,
    attn: String,
    ln: String,
    store: String,
}

impl Names {
    fn new(c: &AccelConfig, l: &TopLayout) -> Names {
        let top = c.top_name();
        let suffix = top.trim_start_matches("sta_top_").to_string();
        let rx_words = l.rx_bits / l.w;
        let tx_words = l.tx_bits / l.w;
        Names {
            rx: format!("sta_top_rx_w{}_k{rx_words}", l.w),
            tx: format!("sta_top_tx_w{}_k{tx_words}", l.w),
            decoder: format!("sta_top_decoder_{suffix}"),
            gemm: format!("sta_top_gemm_{suffix}"),
            attn: format!("sta_top_attn_{suffix}"),
            ln: format!("sta_top_ln_{suffix}"),
            store: format!("sta_top_store_{suffix}"),
            top,
        }
    }
}

/// The canonical parameter line of a configuration (headers, hash).
pub fn parameter_line(c: &AccelConfig) -> String {
    let d = c.dims;
    format!(
        "n={} m={} array={} lanes={} max_tokens={} d_model={} heads={} ffn={} word_bits={}",
        c.n, c.m, c.array, c.lanes, c.max_tokens, d.d_model, d.heads, d.ffn, c.word_bits
    )
}

/// First 16 hex digits of the SHA-256 of [`parameter_line`].
pub fn config_hash(c: &AccelConfig) -> String {
    let digest = Sha256::digest(parameter_line(c).as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// How to regenerate a configuration.
pub fn regenerate_command(c: &AccelConfig) -> String {
    let d = c.dims;
    format!(
        "sta accel generate --n-m {}:{} --rows {} --cols {} --lanes {} --max-tokens {} --d-model {} --heads {} \
         --ffn {} --word-bits {} --out DIR",
        c.n, c.m, c.array, c.array, c.lanes, c.max_tokens, d.d_model, d.heads, d.ffn, c.word_bits
    )
}

fn header(module: &str, c: &AccelConfig) -> String {
    standard_header(
        module,
        &[
            format!(
                "Accelerator {}, configuration {}: {}",
                c.top_name(),
                config_hash(c),
                parameter_line(c)
            ),
            format!("Regenerate: {}", regenerate_command(c)),
        ],
    )
}

/// One RAM shape.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RamShape {
    width: usize,
    depth: usize,
    byte_enables: bool,
}

impl RamShape {
    fn name(&self) -> String {
        format!(
            "sta_top_ram_w{}_d{}{}",
            self.width,
            self.depth,
            if self.byte_enables { "_be" } else { "" }
        )
    }
}

#[derive(Template)]
#[template(path = "sta_top_ram.v", escape = "none")]
struct RamTemplate<'a> {
    header: &'a str,
    name: &'a str,
    width: usize,
    depth: usize,
    aw: usize,
    byte_enables: bool,
}

#[derive(Template)]
#[template(path = "sta_top_rx.v", escape = "none")]
struct RxTemplate<'a> {
    header: &'a str,
    name: &'a str,
    w: usize,
    k: usize,
    cw: usize,
}

#[derive(Template)]
#[template(path = "sta_top_tx.v", escape = "none")]
struct TxTemplate<'a> {
    header: &'a str,
    name: &'a str,
    w: usize,
    k: usize,
    cw: usize,
}

#[derive(Template)]
#[template(path = "sta_top_decoder.v", escape = "none")]
struct DecoderTemplate<'a> {
    header: &'a str,
    name: &'a str,
    l: &'a TopLayout,
    /// (case label, 16 hex digits) of each opcode's reserved-bit mask, the default last.
    reserved: Vec<(String, String)>,
    /// The `_unused` wire of the record bits above every field the decoder reads (or nothing).
    unused_rec: String,
}

#[derive(Template)]
#[template(path = "sta_top_gemm.v", escape = "none")]
struct GemmTemplate<'a> {
    header: &'a str,
    name: &'a str,
    l: &'a TopLayout,
    meta_params: String,
}

#[derive(Template)]
#[template(path = "sta_top_attn.v", escape = "none")]
struct AttnTemplate<'a> {
    header: &'a str,
    name: &'a str,
    l: &'a TopLayout,
    meta_params: String,
    keep_logic: String,
}

#[derive(Template)]
#[template(path = "sta_top_ln.v", escape = "none")]
struct LnTemplate<'a> {
    header: &'a str,
    name: &'a str,
    l: &'a TopLayout,
    ln_module: &'a str,
}

#[derive(Template)]
#[template(path = "sta_top_store.v", escape = "none")]
struct StoreTemplate<'a> {
    header: &'a str,
    name: &'a str,
    l: &'a TopLayout,
    x_rec: String,
    v_rec: String,
    r_rec: String,
}

/// One buffer of the top, for the template.
struct BufView {
    name: &'static str,
    id: u8,
    desc: String,
    ram: String,
    aw: usize,
    /// Read by a GEMM as the residual skip.
    skip: bool,
    /// Read by the attention engine (`q`, `k`) or not (empty).
    attn: &'static str,
    /// Written by LOAD_X.
    loader: bool,
}

#[derive(Template)]
#[template(path = "sta_top.v", escape = "none")]
struct TopTemplate<'a> {
    header: &'a str,
    name: &'a str,
    l: &'a TopLayout,
    meta_params: String,
    rx_name: &'a str,
    tx_name: &'a str,
    decoder_name: &'a str,
    gemm_name: &'a str,
    attn_name: &'a str,
    ln_name: &'a str,
    store_name: &'a str,
    array_name: &'a str,
    softmax_name: &'a str,
    epilogue_name: &'a str,
    latency: usize,
    perf_msb: usize,
    buffers: Vec<BufView>,
    int8_bufs: Vec<BufView>,
    v_buf: BufView,
    r_buf: BufView,
    score_ram: String,
    prob_ram: String,
    tile_ram: String,
    par_ram: String,
    norm_ram: String,
    status_padded: String,
}

/// (opcode, Verilog name, the bit ranges (msb, lsb) of its fields, opcode [3:0] included).
type OpFields = (u8, &'static str, &'static [(u32, u32)]);

/// The fields of every opcode.
fn instruction_fields() -> [OpFields; 9] {
    [
        (1, "OP_LOAD_X", &[(3, 0), (20, 8)]),
        (2, "OP_LOAD_W", &[(3, 0), (4, 4), (5, 5), (20, 8)]),
        (
            3,
            "OP_GEMM",
            &[
                (3, 0),
                (4, 4),
                (5, 5),
                (10, 8),
                (14, 12),
                (18, 16),
                (21, 20),
                (34, 22),
                (47, 35),
            ],
        ),
        (4, "OP_LN", &[(3, 0), (4, 4), (10, 8), (16, 11), (29, 17)]),
        (5, "OP_LOAD_NORM", &[(3, 0), (4, 4)]),
        (
            6,
            "OP_SET_ATTN",
            &[(3, 0), (22, 8), (28, 23), (43, 29), (49, 44)],
        ),
        (7, "OP_ATTN", &[(3, 0), (15, 8), (28, 16), (41, 29)]),
        (8, "OP_STORE", &[(3, 0), (10, 8), (23, 11)]),
        (9, "OP_END", &[(3, 0)]),
    ]
}

/// The mask of the bits of opcode `op`'s instruction that are no field (they must be 0).
pub fn reserved_mask(op: u8) -> u64 {
    let fields = instruction_fields()
        .iter()
        .find(|(code, _, _)| *code == op)
        .map(|(_, _, f)| *f)
        .unwrap_or(&[(3, 0)]);
    let used = fields.iter().fold(0u64, |acc, &(msb, lsb)| {
        acc | ((u64::MAX >> (63 - msb)) & (u64::MAX << lsb))
    });
    !used
}

fn hex64(v: u64) -> String {
    format!(
        "{:04x}_{:04x}_{:04x}_{:04x}",
        v >> 48,
        (v >> 32) & 0xffff,
        (v >> 16) & 0xffff,
        v & 0xffff
    )
}

/// Every module of the accelerator, leaves first (the order of `filelist.f`); the top is `config.top_name()`.
pub fn emit_top(config: &AccelConfig) -> Result<GeneratedDesign, TopError> {
    let l = TopLayout::new(config)?;
    let names = Names::new(config, &l);
    let shape = ArrayShape::new(
        config.n,
        config.m,
        config.array,
        config.array,
        ACC_BITS,
        ArrayShape::DEFAULT_MAX_K,
    )
    .map_err(|e| TopError::Array(e.to_string()))?;
    let numerics = encoder_softmax_numerics();
    let softmax = SoftmaxUnit::with_widths(
        config.lanes,
        config.max_tokens,
        numerics.score_bits,
        numerics.score_frac_bits,
        numerics.output_bits,
        &numerics.exp,
        &numerics.reci,
    )?;
    let epilogue = EpilogueUnit::with_default_tables(config.array, ACC_BITS, SCORE_BITS)?;
    let layernorm = LayerNormUnit::new(config.array, config.dims.d_model, default_rsqrt_table())?;

    let mut modules: Vec<GeneratedModule> = Vec::new();
    let mut add = |module: GeneratedModule| -> Result<(), TopError> {
        match modules.iter().find(|m| m.name == module.name) {
            Some(existing) if existing.text == module.text => Ok(()),
            Some(_) => Err(TopError::NameClash(module.name)),
            None => {
                modules.push(module);
                Ok(())
            }
        }
    };
    let array = emit_pe_array(&shape)?;
    for m in array.modules {
        add(m)?;
    }
    for m in emit_softmax(&softmax)? {
        add(m)?;
    }
    for m in emit_epilogue(&epilogue)? {
        add(m)?;
    }
    for m in emit_layernorm(&layernorm)? {
        add(m)?;
    }

    // the RAMs
    let ram = |width: usize, depth: usize, byte_enables: bool| RamShape {
        width,
        depth,
        byte_enables,
    };
    let int8_d = ram(8 * l.m, l.dep_x, true);
    let int8_f = ram(8 * l.m, l.dep_f, true);
    let v_ram = ram(8 * l.b, l.dep_v, false);
    let r_ram = ram(24, l.dep_r, false);
    let score_ram = ram(16 * l.b, l.dep_sc, false);
    let prob_ram = ram(7 * l.p, l.dep_pr, false);
    let tile_ram = ram(l.wb, l.dep_tile, false);
    let par_ram = ram(62, 2 * l.b, false);
    let norm_ram = ram(56, l.dep_norm, false);
    for shape in [
        &int8_d, &int8_f, &v_ram, &r_ram, &score_ram, &prob_ram, &tile_ram, &par_ram, &norm_ram,
    ] {
        let name = shape.name();
        let header = header(&name, config);
        add(render(
            &name,
            &RamTemplate {
                header: &header,
                name: &name,
                width: shape.width,
                depth: shape.depth,
                aw: clog2(shape.depth),
                byte_enables: shape.byte_enables,
            },
        )?)?;
    }

    let rx_k = l.rx_bits / l.w;
    let tx_k = l.tx_bits / l.w;
    let h = header(&names.rx, config);
    add(render(
        &names.rx,
        &RxTemplate {
            header: &h,
            name: &names.rx,
            w: l.w,
            k: rx_k,
            cw: l.rx_cw,
        },
    )?)?;
    let h = header(&names.tx, config);
    add(render(
        &names.tx,
        &TxTemplate {
            header: &h,
            name: &names.tx,
            w: l.w,
            k: tx_k,
            cw: l.tx_cw,
        },
    )?)?;

    let mut reserved: Vec<(String, String)> = instruction_fields()
        .iter()
        .map(|(op, label, _)| (format!("{label}:"), hex64(reserved_mask(*op))))
        .collect();
    reserved.push(("default:".into(), hex64(reserved_mask(0))));
    let h = header(&names.decoder, config);
    add(render(
        &names.decoder,
        &DecoderTemplate {
            header: &h,
            name: &names.decoder,
            l: &l,
            reserved,
            unused_rec: {
                let used = l.wb.max(INSTR_BITS);
                if l.rx_bits > used {
                    format!(
                        "// unused: record bits above the widest record the decoder reads (left from earlier records)\n\
                         wire _unused = &{{1'b0, rec_data[{}:{used}]}};\n",
                        l.rx_bits - 1
                    )
                } else {
                    String::new()
                }
            },
        },
    )?)?;

    let h = header(&names.gemm, config);
    add(render(
        &names.gemm,
        &GemmTemplate {
            header: &h,
            name: &names.gemm,
            l: &l,
            meta_params: l.meta_params(&[
                "M_EVG",
                "M_HALF",
                "M_DST",
                "M_SKIP",
                "M_RES",
                "TGT_INT8",
                "TGT_V",
                "TGT_RESID",
            ]),
        },
    )?)?;

    let keep_logic = if l.p == 1 {
        "wire [0:0]  keep_last = 1'b1;                // P = 1: every beat is one score".to_string()
    } else {
        format!(
            "// the last softmax beat's lanes: keys < len, i.e. lanes 0 ... (len - 1) mod P\n\
             wire [{pm}:0]  keep_last = {{{p}{{1'b1}}}} >> (~len_m1[{lpm}:0]);",
            pm = l.p - 1,
            p = l.p,
            lpm = l.lp - 1
        )
    };
    let h = header(&names.attn, config);
    add(render(
        &names.attn,
        &AttnTemplate {
            header: &h,
            name: &names.attn,
            l: &l,
            meta_params: l.meta_params(&["M_EVS", "M_EVC", "TGT_INT8", "TGT_SCORE"]),
            keep_logic,
        },
    )?)?;

    let ln_module = layernorm.module_name();
    let h = header(&names.ln, config);
    add(render(
        &names.ln,
        &LnTemplate {
            header: &h,
            name: &names.ln,
            l: &l,
            ln_module: &ln_module,
        },
    )?)?;

    let pad = |bits: usize, expr: &str| -> String {
        if bits >= l.tx_bits {
            expr.to_string()
        } else {
            format!("{{ {{{}{{1'b0}}}}, {expr}}}", l.tx_bits - bits)
        }
    };
    let h = header(&names.store, config);
    add(render(
        &names.store,
        &StoreTemplate {
            header: &h,
            name: &names.store,
            l: &l,
            x_rec: pad(8 * l.m, "x_word"),
            v_rec: pad(8 * l.b, "v_word"),
            r_rec: pad(RDATA_BITS, "{ {8{r_word[23]}}, r_word}"),
        },
    )?)?;

    let buf = |name: &'static str, id: u8, shape: &RamShape, what: String| BufView {
        name,
        id,
        desc: format!(
            "{name} (id {id}): {what}, {} x {}",
            shape.depth,
            shape.name()
        ),
        ram: shape.name(),
        aw: clog2(shape.depth),
        skip: matches!(id, 0 | 1 | 2 | 4 | 6),
        attn: match id {
            1 => "q",
            2 => "k",
            _ => "",
        },
        loader: id == 0,
    };
    let token_banked = |width: &str| {
        format!("token-banked, bank t mod B, word (t/B)*({width}/M) + c/M, byte c mod M")
    };
    let int8_bufs = vec![
        buf("x", 0, &int8_d, token_banked("D")),
        buf("q", 1, &int8_d, token_banked("D")),
        buf("k", 2, &int8_d, token_banked("D")),
        buf("ctx", 4, &int8_d, token_banked("D")),
        buf("h1", 6, &int8_d, token_banked("D")),
        buf("ffn", 7, &int8_f, token_banked("F")),
    ];
    let v_buf = buf(
        "v",
        3,
        &v_ram,
        "transposed, bank c mod B, word (c/B)*(T_MAX/B) + t/B, byte t mod B".into(),
    );
    let r_buf = buf(
        "resid",
        5,
        &r_ram,
        "token-banked, bank t mod B, word (t/B)*D + c, 24 bits".into(),
    );
    let mut buffers: Vec<BufView> = Vec::new();
    for b in int8_bufs.iter().chain([&v_buf, &r_buf]) {
        buffers.push(BufView {
            name: b.name,
            id: b.id,
            desc: b.desc.clone(),
            ram: b.ram.clone(),
            aw: b.aw,
            skip: b.skip,
            attn: b.attn,
            loader: b.loader,
        });
    }
    for (what, shape) in [
        (
            "score rows: word r*(T_MAX/B) + key tile, B x 16 bits",
            &score_ram,
        ),
        (
            "probabilities: B banks (query row), word = one softmax beat of P x 7 bits",
            &prob_ram,
        ),
        ("weight tile halves: 2 RAMs, word = one WBEAT", &tile_ram),
        ("channel parameters: {half, row}, 62 bits", &par_ram),
        (
            "norm banks: 2 RAMs, word = channel's {offset, gain}",
            &norm_ram,
        ),
    ] {
        buffers.push(BufView {
            name: "",
            id: 0,
            desc: format!("{what}: {} x {}", shape.depth, shape.name()),
            ram: shape.name(),
            aw: 0,
            skip: false,
            attn: "",
            loader: false,
        });
    }
    let status_padded = if l.tx_bits > l.status_bits {
        format!(
            "{{ {{{}{{1'b0}}}}, status_data}}",
            l.tx_bits - l.status_bits
        )
    } else {
        "status_data".into()
    };
    let h = header(&names.top, config);
    let top = TopTemplate {
        header: &h,
        name: &names.top,
        l: &l,
        meta_params: l.meta_params(&[
            "M_TGT",
            "M_DST",
            "M_ADDR",
            "M_BYTE",
            "M_BANK",
            "TGT_INT8",
            "TGT_V",
            "TGT_RESID",
            "TGT_SCORE",
        ]),
        rx_name: &names.rx,
        tx_name: &names.tx,
        decoder_name: &names.decoder,
        gemm_name: &names.gemm,
        attn_name: &names.attn,
        ln_name: &names.ln,
        store_name: &names.store,
        array_name: &shape.array_module_name(),
        softmax_name: &softmax.module_name(),
        epilogue_name: &epilogue.module_name(),
        latency: epilogue.latency() as usize,
        perf_msb: PERF_COUNTER_BITS - 1,
        buffers,
        int8_bufs,
        v_buf,
        r_buf,
        score_ram: score_ram.name(),
        prob_ram: prob_ram.name(),
        tile_ram: tile_ram.name(),
        par_ram: par_ram.name(),
        norm_ram: norm_ram.name(),
        status_padded,
    };
    add(render(&names.top, &top)?)?;
    Ok(GeneratedDesign {
        top: names.top,
        modules,
        sim_models: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sta_golden::encoder::program::EncoderDims;

    fn dims(d_model: usize, heads: usize, ffn: usize) -> EncoderDims {
        EncoderDims {
            d_model,
            heads,
            ffn,
            layers: 1,
        }
    }

    fn tiny() -> AccelConfig {
        AccelConfig::new((2, 8), 4, 4, 16, dims(32, 2, 64), 32).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `STA_DUMP_TOP=DIR cargo test -p sta-hdl --lib dump_top -- --ignored`: the tiny design's files, `filelist.f`
    /// and `top.txt` in DIR (for looking at the Verilog, Yosys or Verilator by hand).
    #[test]
    #[ignore]
    fn dump_top() {
        let dir = std::env::var("STA_DUMP_TOP").unwrap_or_else(|_| "/tmp/sta_top".into());
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let design = emit_top(&tiny()).unwrap_or_else(|e| panic!("{e}"));
        let mut list = String::new();
        for m in &design.modules {
            let path = format!("{dir}/{}.v", m.name);
            std::fs::write(&path, &m.text).unwrap_or_else(|e| panic!("{e}"));
            list += &format!("{path}\n");
        }
        std::fs::write(format!("{dir}/filelist.f"), list).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(format!("{dir}/top.txt"), &design.top).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn layout_of_the_tiny_configuration() {
        let l = TopLayout::new(&tiny()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (l.b, l.lb, l.n, l.lnn, l.m, l.iw, l.p, l.lp),
            (4, 2, 2, 1, 8, 3, 4, 2)
        );
        assert_eq!((l.tt, l.gd, l.gf, l.dh), (4, 4, 8, 16));
        // X: 4 token tiles x 4 words, Ffn x 8, V: 8 channel blocks x 4, Resid: 4 x 32
        assert_eq!((l.dep_x, l.dep_f, l.dep_v, l.dep_r), (16, 32, 32, 128));
        assert_eq!(
            (l.dep_sc, l.dep_pr, l.dep_tile, l.dep_norm),
            (16, 4, 32, 32)
        );
        assert_eq!(l.aw, 14, "at least 14 bits");
        assert_eq!(l.wb, 4 * 2 * 11);
        // records at W = 32: INSTR 2 words, XDATA 2, WBEAT 3; STATUS 18
        assert_eq!(
            (l.words_instr, l.words_x, l.words_wbeat, l.words_status),
            (2, 2, 3, 18)
        );
        assert_eq!((l.rx_bits, l.tx_bits), (96, 576));
        assert_eq!(l.mw, 14 + 3 + 4 + 14);
        // 5 x 4 x 16 x 64 + 4 x 32 x 64 + 4 x 32 x 32 + 4 x 128 x 24 + 16 x 64 + 4 x 4 x 28 + 2 x 32 x 88 + 8 x 62
        // + 2 x 32 x 56
        assert_eq!(
            l.memory_bits(),
            20480 + 8192 + 4096 + 12288 + 1024 + 448 + 5632 + 496 + 3584
        );
    }

    #[test]
    fn reserved_masks_leave_exactly_the_fields() {
        assert_eq!(reserved_mask(9), !0xf);
        assert_eq!(reserved_mask(1), !(0xf | (0x1fff << 8)));
        assert_eq!(reserved_mask(5), !0x1f);
        // GEMM: bits 6, 7, 11, 15, 19 and 48 … 63 are free
        let gemm = reserved_mask(3);
        for bit in [6, 7, 11, 15, 19, 48, 63] {
            assert_ne!(gemm & (1 << bit), 0, "bit {bit}");
        }
        for bit in [0, 4, 5, 8, 12, 16, 20, 22, 35, 47] {
            assert_eq!(gemm & (1 << bit), 0, "bit {bit}");
        }
        assert_eq!(reserved_mask(0), reserved_mask(12));
    }

    #[test]
    fn emission_is_complete_unique_and_reproducible() {
        let config = tiny();
        let a = emit_top(&config).unwrap_or_else(|e| panic!("{e}"));
        let b = emit_top(&config).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b, "byte-for-byte reproducible");
        assert_eq!(a.top, config.top_name());
        assert_eq!(
            a.modules.last().map(|m| m.name.as_str()),
            Some(a.top.as_str()),
            "top last"
        );
        let mut names: Vec<&str> = a.modules.iter().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), a.modules.len(), "one module per name");
        for m in &a.modules {
            assert_eq!(m.text.matches("\nmodule ").count(), 1, "{}", m.name);
            assert!(m.text.contains(&format!("module {}", m.name)), "{}", m.name);
            assert!(m.text.contains("`default_nettype none"), "{}", m.name);
            assert!(
                !m.text.contains("{{ ") && !m.text.contains("{%"),
                "{}: template residue",
                m.name
            );
        }
        let top = &a.modules[a.modules.len() - 1].text;
        for port in [
            "s_in_tdata",
            "s_in_tready",
            "m_out_tlast",
            "m_out_tready",
            "err",
            "busy",
        ] {
            assert!(top.contains(port), "{port}");
        }
        // every own module carries the configuration line
        let line = parameter_line(&config);
        for m in a.modules.iter().filter(|m| m.name.starts_with("sta_top")) {
            assert!(m.text.contains(&line), "{}", m.name);
        }
    }

    #[test]
    fn module_names_encode_the_configuration() {
        let c = AccelConfig::new((2, 8), 16, 16, 128, dims(384, 12, 1536), 64)
            .unwrap_or_else(|e| panic!("{e}"));
        let design = emit_top(&c).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = design.modules.iter().map(|m| m.name.as_str()).collect();
        for name in [
            "sta_top_decoder_n2m8_b16_p16_t128_d384h12f1536_w64",
            "sta_top_gemm_n2m8_b16_p16_t128_d384h12f1536_w64",
            "sta_top_attn_n2m8_b16_p16_t128_d384h12f1536_w64",
            "sta_top_ln_n2m8_b16_p16_t128_d384h12f1536_w64",
            "sta_top_store_n2m8_b16_p16_t128_d384h12f1536_w64",
            "sta_pe_array_n2m8_r16c16_a32",
            "sta_softmax_p16_l128_s8_sw16_o7",
            // weight tile halves: 768 dense beats of 16 x 2 x 11 bits
            "sta_top_ram_w352_d768",
            "sta_top_n2m8_b16_p16_t128_d384h12f1536_w64",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
    }
}

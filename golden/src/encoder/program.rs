//! The program format: what `sta compile` writes and the accelerator (and [`super::run`]) executes.
//!
//! A program is an ordered op list over named on-chip buffers plus the integer parameters of every op. It is plain
//! data (serde JSON, `program.json` in a program directory; docs/program-format.md); the INT8 weights travel beside
//! it in the compressed-model files. [`Program::validate`] checks every length, width and range the interpreter and
//! the hardware rely on, so a validated program cannot make either of them fail or overflow.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::numerics::Requant;
use crate::pwl::{PwlParamsFile, PwlTable};
use crate::softmax::{SoftmaxError, SoftmaxNumerics};

/// Version of the program format; bumped on any incompatible change.
pub const PROGRAM_FORMAT_VERSION: u32 = 1;
/// Largest model width, FFN width and head count a program may declare (bounds every accumulator and buffer).
pub const MAX_DIM: usize = 4096;
/// Largest residual shift RS.
pub const MAX_RESIDUAL_SHIFT: u32 = 24;

/// A program that the interpreter and the hardware cannot run. One line naming what is wrong and what is allowed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ProgramError {
    #[error(
        "program format version {found} is not supported: this build reads version {supported}"
    )]
    Version { found: u32, supported: u32 },
    #[error("dims: {0}")]
    Dims(String),
    #[error("layer {layer} {what}: {message}")]
    Param {
        layer: usize,
        what: String,
        message: String,
    },
    #[error("op {index} ({op}): {message}")]
    Op {
        index: usize,
        op: String,
        message: String,
    },
    #[error("softmax: {0}")]
    Softmax(#[from] SoftmaxError),
    #[error("{0}")]
    Table(String),
}

/// The six linear layers of an encoder layer, in execution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearKind {
    Q,
    K,
    V,
    AttnOut,
    FfnIn,
    FfnOut,
}

impl LinearKind {
    pub const ALL: [LinearKind; 6] = [
        LinearKind::Q,
        LinearKind::K,
        LinearKind::V,
        LinearKind::AttnOut,
        LinearKind::FfnIn,
        LinearKind::FfnOut,
    ];

    /// Short name used in reports and file names.
    pub fn name(self) -> &'static str {
        match self {
            LinearKind::Q => "q",
            LinearKind::K => "k",
            LinearKind::V => "v",
            LinearKind::AttnOut => "attn_out",
            LinearKind::FfnIn => "ffn_in",
            LinearKind::FfnOut => "ffn_out",
        }
    }

    /// The conventional (Hugging Face BERT) tensor-name stem inside `encoder.layer.<l>.` (append `.weight`/`.bias`).
    pub fn tensor_stem(self) -> &'static str {
        match self {
            LinearKind::Q => "attention.self.query",
            LinearKind::K => "attention.self.key",
            LinearKind::V => "attention.self.value",
            LinearKind::AttnOut => "attention.output.dense",
            LinearKind::FfnIn => "intermediate.dense",
            LinearKind::FfnOut => "output.dense",
        }
    }

    /// Position in [`LinearKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// (outputs, inputs) of this layer's weight for the given dims.
    pub fn shape(self, dims: &EncoderDims) -> (usize, usize) {
        match self {
            LinearKind::FfnIn => (dims.ffn, dims.d_model),
            LinearKind::FfnOut => (dims.d_model, dims.ffn),
            _ => (dims.d_model, dims.d_model),
        }
    }
}

/// The encoder's dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderDims {
    pub d_model: usize,
    pub heads: usize,
    pub ffn: usize,
    pub layers: usize,
}

impl EncoderDims {
    pub fn head_dim(&self) -> usize {
        self.d_model / self.heads.max(1)
    }

    fn validate(&self) -> Result<(), ProgramError> {
        let bad = |m: String| Err(ProgramError::Dims(m));
        for (name, v) in [
            ("d_model", self.d_model),
            ("heads", self.heads),
            ("ffn", self.ffn),
            ("layers", self.layers),
        ] {
            if !(1..=MAX_DIM).contains(&v) {
                return bad(format!("{name} = {v} is outside 1..={MAX_DIM}"));
            }
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return bad(format!(
                "d_model = {} is not a multiple of heads = {}",
                self.d_model, self.heads
            ));
        }
        Ok(())
    }
}

/// The weights' sparsity: dense, or N:M along the reduction dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Sparsity {
    Dense,
    Nm { n: usize, m: usize },
}

impl std::fmt::Display for Sparsity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sparsity::Dense => write!(f, "dense"),
            Sparsity::Nm { n, m } => write!(f, "{n}:{m}"),
        }
    }
}

/// A dyadic scale: real factor = mult · 2^−shift, mult < 2^15, shift ≤ 47 (numerics.md's requantisation constants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub mult: u32,
    pub shift: u32,
}

impl Scale {
    /// The closest dyadic scale to a real factor: the largest shift ≤ 47 that keeps mult = round(real·2^shift)
    /// below 2^15 (so mult ∈ [2^14, 2^15) whenever the factor allows it). None for a factor that is not finite and
    /// positive or too large for mult < 2^15 at shift 0.
    pub fn from_real(real: f64) -> Option<Scale> {
        if !real.is_finite() || real <= 0.0 {
            return None;
        }
        (0..=Requant::MAX_SHIFT).rev().find_map(|shift| {
            let mult = (real * 2f64.powi(shift as i32)).round();
            (mult <= f64::from(Requant::MAX_MULT)).then_some(Scale {
                mult: mult as u32,
                shift,
            })
        })
    }

    /// mult · 2^−shift.
    pub fn value(&self) -> f64 {
        f64::from(self.mult) * 2f64.powi(-(self.shift as i32))
    }

    fn check(&self) -> Result<(), String> {
        Requant::new(self.mult, self.shift)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The on-chip buffers. Widths: `Resid` holds RW-bit residual values, `Ffn` is tokens × ffn, the rest tokens ×
/// d_model INT8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Buffer {
    /// The layer input / output (the host writes the embeddings here; the last LayerNorm leaves the result here).
    X,
    Q,
    K,
    V,
    Ctx,
    Resid,
    H1,
    Ffn,
}

impl Buffer {
    /// Columns per token.
    pub fn width(self, dims: &EncoderDims) -> usize {
        match self {
            Buffer::Ffn => dims.ffn,
            _ => dims.d_model,
        }
    }

    pub fn is_int8(self) -> bool {
        self != Buffer::Resid
    }
}

/// What happens to a linear layer's accumulators before they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Epilogue {
    /// y = sat_8(round_shift((acc + bias)·mult_o, shift_o)).
    Requant,
    /// Requant, then the layer's GELU table.
    Gelu,
    /// r = sat_RW((skip << RS) + round_shift((acc + bias)·mult_o, shift_o)) into `Resid`.
    Residual { skip: Buffer },
}

/// Which of the layer's two LayerNorms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormKind {
    Attn,
    Ffn,
}

/// One instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// dst = epilogue(src · Wᵀ) with the layer's `kind` weights (sparse×dense on the array).
    Linear {
        layer: usize,
        kind: LinearKind,
        src: Buffer,
        dst: Buffer,
        epilogue: Epilogue,
    },
    /// Per sentence and head: scores = requant_SW(Q·Kᵀ), A = softmax(scores), dst = requant_8(A·V) (dense×dense).
    Attention {
        layer: usize,
        q: Buffer,
        k: Buffer,
        v: Buffer,
        dst: Buffer,
    },
    /// dst = LayerNorm(src) (src is the residual buffer).
    LayerNorm {
        layer: usize,
        norm: NormKind,
        src: Buffer,
        dst: Buffer,
    },
}

impl Op {
    pub fn layer(&self) -> usize {
        match *self {
            Op::Linear { layer, .. }
            | Op::Attention { layer, .. }
            | Op::LayerNorm { layer, .. } => layer,
        }
    }

    /// A short description for messages and reports ("L0 linear q", "L3 attention", "L5 layer_norm ffn").
    pub fn describe(&self) -> String {
        match self {
            Op::Linear { layer, kind, .. } => format!("L{layer} linear {}", kind.name()),
            Op::Attention { layer, .. } => format!("L{layer} attention"),
            Op::LayerNorm { layer, norm, .. } => format!(
                "L{layer} layer_norm {}",
                match norm {
                    NormKind::Attn => "attn",
                    NormKind::Ffn => "ffn",
                }
            ),
        }
    }

    /// The standard op list of a post-LayerNorm BERT encoder layer (9 ops).
    pub fn encoder_layer(layer: usize) -> [Op; 9] {
        let linear = |kind, src, dst, epilogue| Op::Linear {
            layer,
            kind,
            src,
            dst,
            epilogue,
        };
        let norm = |norm, dst| Op::LayerNorm {
            layer,
            norm,
            src: Buffer::Resid,
            dst,
        };
        [
            linear(LinearKind::Q, Buffer::X, Buffer::Q, Epilogue::Requant),
            linear(LinearKind::K, Buffer::X, Buffer::K, Epilogue::Requant),
            linear(LinearKind::V, Buffer::X, Buffer::V, Epilogue::Requant),
            Op::Attention {
                layer,
                q: Buffer::Q,
                k: Buffer::K,
                v: Buffer::V,
                dst: Buffer::Ctx,
            },
            linear(
                LinearKind::AttnOut,
                Buffer::Ctx,
                Buffer::Resid,
                Epilogue::Residual { skip: Buffer::X },
            ),
            norm(NormKind::Attn, Buffer::H1),
            linear(LinearKind::FfnIn, Buffer::H1, Buffer::Ffn, Epilogue::Gelu),
            linear(
                LinearKind::FfnOut,
                Buffer::Ffn,
                Buffer::Resid,
                Epilogue::Residual { skip: Buffer::H1 },
            ),
            norm(NormKind::Ffn, Buffer::X),
        ]
    }
}

/// Integer parameters of one linear layer (one entry per output channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearParams {
    /// INT32 bias at the accumulator's scale (s_in · s_w[o]), added before requantisation.
    pub bias: Vec<i32>,
    /// Per-channel requantisation multipliers (< 2^15).
    pub mult: Vec<u32>,
    /// Per-channel right shifts (≤ 47).
    pub shift: Vec<u32>,
    /// Residual epilogue only (empty otherwise): per channel, the left shift that lifts the skip input's INT8 code to
    /// the residual scale (the skip activation has a per-channel power-of-two scale 2^e_c, the residual stream
    /// 2^−R, so the shift is e_c + R ≥ 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub residual_shift: Vec<u32>,
}

impl LinearParams {
    pub fn scale(&self, channel: usize) -> Scale {
        Scale {
            mult: self.mult[channel],
            shift: self.shift[channel],
        }
    }
}

/// Integer parameters of the attention op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentionParams {
    /// Q·Kᵀ accumulator → SW-bit score at D_S fraction bits (1/√d_head folded in).
    pub score: Scale,
    /// A·V accumulator (A at 2^−OB) → INT8 context.
    pub context: Scale,
}

/// How LayerNorm finds 1/‖z‖: an exact integer square root and reciprocal, or the RSQRT PWL table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormMethod {
    Exact,
    Rsqrt,
}

/// Integer parameters of one LayerNorm: y_i = sat_8(round_shift(n_i·gain_i + offset_i, shift)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormParams {
    /// Signed 16-bit gains (γ_i·√d folded with the output scale).
    pub gain: Vec<i32>,
    /// Offsets (β_i at the output scale · 2^shift), signed 40-bit.
    pub offset: Vec<i64>,
    pub shift: u32,
}

/// Everything one encoder layer needs besides its weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerParams {
    /// Indexed by [`LinearKind::index`]: q, k, v, attn_out, ffn_in, ffn_out.
    pub linear: Vec<LinearParams>,
    pub attention: AttentionParams,
    pub norm_attn: NormParams,
    pub norm_ffn: NormParams,
    /// The GELU tables this layer uses, each INT8 in and out at its own scale 2^−D_G.
    pub gelu: Vec<PwlTable>,
    /// Per FFN channel: which of `gelu` applies (each channel's FFN-in output has its own power-of-two scale, the
    /// finest that covers its calibrated range; the FFN-out weights carry the inverse factors).
    pub gelu_select: Vec<u8>,
}

impl LayerParams {
    pub fn linear(&self, kind: LinearKind) -> &LinearParams {
        &self.linear[kind.index()]
    }

    pub fn norm(&self, kind: NormKind) -> &NormParams {
        match kind {
            NormKind::Attn => &self.norm_attn,
            NormKind::Ffn => &self.norm_ffn,
        }
    }
}

/// The softmax unit's configuration (docs/softmax.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftmaxSpec {
    /// SW: signed width of the score codes.
    pub score_bits: u32,
    /// D_S: fraction bits of the score codes.
    pub score_frac_bits: u32,
    /// OB: probability output bits (7: non-negative INT8 at 2^−7, the A operand of A·V).
    pub output_bits: u32,
    pub exp: PwlTable,
    pub reci: PwlTable,
}

impl SoftmaxSpec {
    /// The validated datapath.
    pub fn numerics(&self) -> Result<SoftmaxNumerics, SoftmaxError> {
        SoftmaxNumerics::with_widths(
            self.score_bits,
            self.score_frac_bits,
            self.output_bits,
            self.exp.clone(),
            self.reci.clone(),
        )
    }

    /// The spec of a softmax datapath.
    pub fn from_numerics(n: &SoftmaxNumerics) -> SoftmaxSpec {
        SoftmaxSpec {
            score_bits: n.score_bits,
            score_frac_bits: n.score_frac_bits,
            output_bits: n.output_bits,
            exp: n.exp.clone(),
            reci: n.reci.clone(),
        }
    }
}

/// The host's side of the contract: how embeddings become INT8 and the result becomes real again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostParams {
    /// Per channel (d_model): x_code = sat_8(round_half_away(x / input_scales[c])) for the LayerNorm-ed input
    /// embeddings.
    pub input_scales: Vec<f32>,
    /// Per layer, per channel: the real value of a layer output code is code · layer_scales[l][c] (the last layer's
    /// is the encoder's result, which the host dequantises, mean-pools and normalises).
    pub layer_scales: Vec<Vec<f32>>,
}

impl HostParams {
    /// The per-channel scales of the final hidden state.
    pub fn output_scales(&self) -> &[f32] {
        self.layer_scales.last().map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A compiled encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    pub format_version: u32,
    pub dims: EncoderDims,
    pub sparsity: Sparsity,
    pub host: HostParams,
    pub softmax: SoftmaxSpec,
    pub norm_method: NormMethod,
    /// The RSQRT table when `norm_method` is `rsqrt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsqrt: Option<PwlTable>,
    pub layers: Vec<LayerParams>,
    pub ops: Vec<Op>,
}

impl Program {
    /// The standard op list for `layers` encoder layers.
    pub fn standard_ops(layers: usize) -> Vec<Op> {
        (0..layers).flat_map(Op::encoder_layer).collect()
    }

    /// Parses and validates `program.json`.
    pub fn from_json(json: &str) -> Result<Program, ProgramError> {
        let program: Program = serde_json::from_str(json)
            .map_err(|e| ProgramError::Table(format!("program.json: {e}")))?;
        program.validate()?;
        Ok(program)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks everything the interpreter and the hardware rely on.
    pub fn validate(&self) -> Result<(), ProgramError> {
        if self.format_version != PROGRAM_FORMAT_VERSION {
            return Err(ProgramError::Version {
                found: self.format_version,
                supported: PROGRAM_FORMAT_VERSION,
            });
        }
        self.dims.validate()?;
        self.check_sparsity()?;
        self.check_host()?;
        self.softmax.numerics()?;
        if self.softmax.output_bits != 7 {
            return Err(ProgramError::Table(format!(
                "softmax output_bits = {} is not allowed: A·V multiplies the probabilities as signed INT8, so they \
                 must be 7-bit codes (output_bits = 7)",
                self.softmax.output_bits
            )));
        }
        if self.norm_method == NormMethod::Rsqrt {
            let table = self.rsqrt.as_ref().ok_or_else(|| {
                ProgramError::Table(
                    "norm_method is rsqrt but the program has no rsqrt table".into(),
                )
            })?;
            table
                .validate()
                .map_err(|e| ProgramError::Table(format!("rsqrt table: {e}")))?;
        }
        if self.layers.len() != self.dims.layers {
            return Err(ProgramError::Dims(format!(
                "{} layer parameter sets for layers = {}",
                self.layers.len(),
                self.dims.layers
            )));
        }
        for (l, layer) in self.layers.iter().enumerate() {
            self.check_layer(l, layer)?;
        }
        for (index, op) in self.ops.iter().enumerate() {
            self.check_op(index, op)?;
        }
        Ok(())
    }

    fn check_sparsity(&self) -> Result<(), ProgramError> {
        if let Sparsity::Nm { n, m } = self.sparsity {
            crate::nm::NmPattern::new(n, m).map_err(|e| ProgramError::Dims(e.to_string()))?;
            for kind in LinearKind::ALL {
                let (_, k) = kind.shape(&self.dims);
                if !k.is_multiple_of(m) {
                    return Err(ProgramError::Dims(format!(
                        "{} has {k} inputs, not a multiple of M = {m}",
                        kind.name()
                    )));
                }
            }
        }
        Ok(())
    }

    fn check_host(&self) -> Result<(), ProgramError> {
        if self.host.layer_scales.len() != self.dims.layers {
            return Err(ProgramError::Dims(format!(
                "host has {} layer scales for layers = {}",
                self.host.layer_scales.len(),
                self.dims.layers
            )));
        }
        let d = self.dims.d_model;
        if self.host.input_scales.len() != d || self.host.layer_scales.iter().any(|s| s.len() != d)
        {
            return Err(ProgramError::Dims(format!(
                "host scales must have d_model = {d} entries per vector"
            )));
        }
        let scales = self
            .host
            .input_scales
            .iter()
            .map(|&v| ("input_scales", v))
            .chain(
                self.host
                    .layer_scales
                    .iter()
                    .flatten()
                    .map(|&v| ("layer_scales", v)),
            );
        for (name, v) in scales {
            if !(v.is_finite() && v > 0.0) {
                return Err(ProgramError::Dims(format!(
                    "host {name} = {v} must be finite and positive"
                )));
            }
        }
        Ok(())
    }

    fn check_layer(&self, l: usize, layer: &LayerParams) -> Result<(), ProgramError> {
        let param = |what: &str, message: String| ProgramError::Param {
            layer: l,
            what: what.to_string(),
            message,
        };
        if layer.linear.len() != LinearKind::ALL.len() {
            return Err(param(
                "linear",
                format!("{} parameter sets, expected 6", layer.linear.len()),
            ));
        }
        for kind in LinearKind::ALL {
            let p = layer.linear(kind);
            let (outputs, _) = kind.shape(&self.dims);
            for (field, len) in [
                ("bias", p.bias.len()),
                ("mult", p.mult.len()),
                ("shift", p.shift.len()),
            ] {
                if len != outputs {
                    return Err(param(
                        kind.name(),
                        format!("{field} has {len} entries, expected {outputs}"),
                    ));
                }
            }
            for c in 0..outputs {
                p.scale(c)
                    .check()
                    .map_err(|e| param(kind.name(), format!("channel {c}: {e}")))?;
            }
            let residual = matches!(kind, LinearKind::AttnOut | LinearKind::FfnOut);
            let expected = if residual { outputs } else { 0 };
            if p.residual_shift.len() != expected {
                return Err(param(
                    kind.name(),
                    format!(
                        "residual_shift has {} entries, expected {expected}",
                        p.residual_shift.len()
                    ),
                ));
            }
            if let Some(s) = p.residual_shift.iter().find(|&&s| s > MAX_RESIDUAL_SHIFT) {
                return Err(param(
                    kind.name(),
                    format!("residual_shift {s} is outside 0..={MAX_RESIDUAL_SHIFT}"),
                ));
            }
        }
        for (what, s) in [
            ("attention score", layer.attention.score),
            ("attention context", layer.attention.context),
        ] {
            s.check().map_err(|e| param(what, e))?;
        }
        for (what, norm) in [
            ("norm_attn", &layer.norm_attn),
            ("norm_ffn", &layer.norm_ffn),
        ] {
            check_norm(norm, self.dims.d_model).map_err(|e| param(what, e))?;
        }
        check_gelu(layer, self.dims.ffn).map_err(|e| param("gelu", e))
    }

    fn check_op(&self, index: usize, op: &Op) -> Result<(), ProgramError> {
        let fail = |message: String| ProgramError::Op {
            index,
            op: op.describe(),
            message,
        };
        if op.layer() >= self.dims.layers {
            return Err(fail(format!(
                "layer {} does not exist (layers = {})",
                op.layer(),
                self.dims.layers
            )));
        }
        let d = &self.dims;
        match *op {
            Op::Linear {
                kind,
                src,
                dst,
                epilogue,
                ..
            } => {
                let (outputs, inputs) = kind.shape(d);
                if !src.is_int8() || src.width(d) != inputs {
                    return Err(fail(format!(
                        "source {src:?} must be an INT8 buffer of width {inputs}"
                    )));
                }
                let residual = matches!(epilogue, Epilogue::Residual { .. });
                if dst.width(d) != outputs || (dst == Buffer::Resid) != residual {
                    return Err(fail(format!(
                        "destination {dst:?} does not fit {outputs} outputs with a {epilogue:?} epilogue"
                    )));
                }
                if let Epilogue::Residual { skip } = epilogue {
                    if !skip.is_int8() || skip.width(d) != outputs {
                        return Err(fail(format!(
                            "skip buffer {skip:?} must be INT8 of width {outputs}"
                        )));
                    }
                }
                if src == dst {
                    return Err(fail("source and destination are the same buffer".into()));
                }
            }
            Op::Attention { q, k, v, dst, .. } => {
                for b in [q, k, v, dst] {
                    if !b.is_int8() || b.width(d) != d.d_model {
                        return Err(fail(format!("buffer {b:?} must be INT8 of width d_model")));
                    }
                }
                if [q, k, v].contains(&dst) {
                    return Err(fail("the destination overwrites an operand".into()));
                }
            }
            Op::LayerNorm { src, dst, .. } => {
                if src != Buffer::Resid || !dst.is_int8() || dst.width(d) != d.d_model {
                    return Err(fail(format!(
                        "reads {src:?} and writes {dst:?}: LayerNorm reads resid and writes an INT8 buffer of width d_model"
                    )));
                }
            }
        }
        Ok(())
    }
}

fn check_gelu(layer: &LayerParams, ffn: usize) -> Result<(), String> {
    if layer.gelu.is_empty() || layer.gelu.len() > 16 {
        return Err(format!("{} tables: a layer has 1..=16", layer.gelu.len()));
    }
    for (i, table) in layer.gelu.iter().enumerate() {
        table.validate().map_err(|e| format!("table {i}: {e}"))?;
        if table.format.output_bits > 8 {
            return Err(format!(
                "table {i} output_bits = {} must be at most 8 (the FFN-out GEMM takes INT8)",
                table.format.output_bits
            ));
        }
    }
    if layer.gelu_select.len() != ffn {
        return Err(format!(
            "gelu_select has {} entries, expected ffn = {ffn}",
            layer.gelu_select.len()
        ));
    }
    match layer
        .gelu_select
        .iter()
        .position(|&t| usize::from(t) >= layer.gelu.len())
    {
        Some(c) => Err(format!(
            "channel {c} selects table {} of {}",
            layer.gelu_select[c],
            layer.gelu.len()
        )),
        None => Ok(()),
    }
}

fn check_norm(norm: &NormParams, d_model: usize) -> Result<(), String> {
    if norm.gain.len() != d_model || norm.offset.len() != d_model {
        return Err(format!(
            "{} gains and {} offsets for d_model = {d_model}",
            norm.gain.len(),
            norm.offset.len()
        ));
    }
    if let Some(g) = norm.gain.iter().find(|g| !(-32768..=32767).contains(*g)) {
        return Err(format!("gain {g} does not fit 16 signed bits"));
    }
    if let Some(c) = norm.offset.iter().find(|c| c.unsigned_abs() >= 1 << 39) {
        return Err(format!("offset {c} does not fit 40 signed bits"));
    }
    if norm.shift > 47 {
        return Err(format!("shift = {} is outside 0..=47", norm.shift));
    }
    Ok(())
}

/// The encoder's softmax configuration ([`crate::softmax::encoder_softmax_numerics`]: 16-bit scores at D_S = 8,
/// 7-bit probabilities, 12-bit EXP and 1/x tables).
pub fn default_softmax_spec() -> SoftmaxSpec {
    SoftmaxSpec::from_numerics(&crate::softmax::encoder_softmax_numerics())
}

/// The GELU tables of the encoder, one per input scale D_G ∈ 2..=7 (16 entries, INT8 in and out at 2^−D_G on
/// [−2^(7−D_G), 2^(7−D_G))), from `sta lut search --function gelu --entries 16 --range=-H,H --input-frac-bits D
/// --output-frac-bits D --output-bits 8 --coeff-bits 12 --coeff-frac-bits 8 --seed 1`.
const GELU_TABLES: [&str; 6] = [
    include_str!("../../data/encoder_gelu16_d2.json"),
    include_str!("../../data/encoder_gelu16_d3.json"),
    include_str!("../../data/encoder_gelu16_d4.json"),
    include_str!("../../data/encoder_gelu16_d5.json"),
    include_str!("../../data/encoder_gelu16_d6.json"),
    include_str!("../../data/encoder_gelu16_d7.json"),
];
/// Input scales with a committed GELU table.
pub const GELU_FRAC_BITS: std::ops::RangeInclusive<u32> = 2..=7;

/// The committed GELU table for input scale `frac_bits` (None outside [`GELU_FRAC_BITS`]).
pub fn default_gelu_table(frac_bits: u32) -> Option<PwlTable> {
    let json = GELU_TABLES.get(frac_bits.checked_sub(*GELU_FRAC_BITS.start())? as usize)?;
    PwlParamsFile::from_json(json).and_then(|f| f.table()).ok()
}

/// The committed RSQRT table of the LUT LayerNorm path: 16 entries on [1, 4) at D_R = 5, 17-bit output at 2^−15
/// (`sta lut search --function rsqrt --entries 16 --range=1,4 --input-frac-bits 5 --output-bits 17
/// --output-frac-bits 15 --coeff-bits 18 --coeff-frac-bits 14 --seed 1`).
pub fn default_rsqrt_table() -> PwlTable {
    PwlParamsFile::from_json(include_str!("../../data/encoder_rsqrt16.json"))
        .and_then(|f| f.table())
        .unwrap_or_else(|e| unreachable!("the committed RSQRT table is valid: {e}"))
}

//! Calibration and INT8 quantisation: turns a float encoder (dense or N:M-pruned) and the activations it produced on
//! calibration sentences into an integer [`Program`] plus INT8 weights — the integer-only model of
//! docs/numerics.md "Integer-only encoder".
//!
//! Every activation tensor gets one static scale from calibration (its largest magnitude over the calibration
//! set maps to 127); weights get per-output-channel scales. Every real factor between two scales becomes a dyadic
//! [`Scale`] (mult < 2^15, shift ≤ 47), biases become INT32 at their accumulator's scale, LayerNorm's γ and β become
//! 16-bit gains and wide offsets. Power-of-two choices (the GELU input scale, the residual shift) are made here too.

use sta_golden::encoder::ops::{NORM_FRAC_BITS, RESIDUAL_BITS};
use sta_golden::encoder::program::MAX_RESIDUAL_SHIFT;
use sta_golden::encoder::program::{default_gelu_table, default_rsqrt_table, GELU_FRAC_BITS};
use sta_golden::encoder::{
    AttentionParams, EncoderDims, EncoderWeights, HostParams, LayerParams, LinearParams,
    NormMethod, NormParams, Program, Scale, SoftmaxSpec, Sparsity, PROGRAM_FORMAT_VERSION,
};
use sta_golden::Matrix;

use crate::error::{CompileError, Result};
use crate::float_forward::{LayerTrace, Trace};
use crate::model::{BertModel, Dense, LayerNormParams, Linear};
use crate::weights::quantize_linear;

/// The largest magnitude of every activation tensor over the calibration set (real units).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Calibration {
    /// Layer-0 input (the LayerNorm-ed embeddings), per channel.
    pub input: Vec<f32>,
    pub layers: Vec<LayerRanges>,
}

/// Largest magnitudes inside one layer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LayerRanges {
    pub q: f32,
    pub k: f32,
    pub v: f32,
    pub ctx: f32,
    /// Residual sum before the first LayerNorm (input + attention output).
    pub resid_attn: f32,
    /// Per channel: the first LayerNorm's output.
    pub h1: Vec<f32>,
    pub ffn_pre: f32,
    /// Per FFN channel: the largest magnitude of the GELU input.
    pub ffn_pre_channels: Vec<f32>,
    /// Residual sum before the second LayerNorm (h1 + FFN output).
    pub resid_ffn: f32,
    /// Per channel: the layer output (the second LayerNorm's).
    pub output: Vec<f32>,
}

fn absmax(d: &Dense) -> f32 {
    d.data.iter().fold(0f32, |m, &v| m.max(v.abs()))
}

fn column_absmax(d: &Dense) -> Vec<f32> {
    let mut m = vec![0f32; d.cols];
    for r in 0..d.rows {
        for (a, &v) in m.iter_mut().zip(d.row(r)) {
            *a = a.max(v.abs());
        }
    }
    m
}

fn merge_columns(a: &mut Vec<f32>, b: &[f32]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0.0);
    }
    for (x, &y) in a.iter_mut().zip(b) {
        *x = x.max(y);
    }
}

fn absmax_sum(a: &Dense, b: &Dense) -> f32 {
    a.data
        .iter()
        .zip(&b.data)
        .fold(0f32, |m, (&x, &y)| m.max((x + y).abs()))
}

impl Calibration {
    /// The ranges of one traced batch.
    pub fn from_trace(trace: &Trace) -> Calibration {
        Calibration {
            input: column_absmax(&trace.embeddings),
            layers: trace.layers.iter().map(LayerRanges::from_trace).collect(),
        }
    }

    /// Widens the ranges to cover another batch.
    pub fn merge(&mut self, other: &Calibration) {
        merge_columns(&mut self.input, &other.input);
        if self.layers.len() < other.layers.len() {
            self.layers
                .resize(other.layers.len(), LayerRanges::default());
        }
        for (a, b) in self.layers.iter_mut().zip(&other.layers) {
            a.merge(b);
        }
    }
}

impl LayerRanges {
    fn from_trace(t: &LayerTrace) -> LayerRanges {
        LayerRanges {
            q: absmax(&t.q),
            k: absmax(&t.k),
            v: absmax(&t.v),
            ctx: absmax(&t.ctx),
            resid_attn: absmax_sum(&t.input, &t.attn_out),
            h1: column_absmax(&t.h1),
            ffn_pre: absmax(&t.ffn_pre),
            ffn_pre_channels: column_absmax(&t.ffn_pre),
            resid_ffn: absmax_sum(&t.h1, &t.ffn_out),
            output: column_absmax(&t.output),
        }
    }

    fn merge(&mut self, o: &LayerRanges) {
        let fields = [
            (&mut self.q, o.q),
            (&mut self.k, o.k),
            (&mut self.v, o.v),
            (&mut self.ctx, o.ctx),
            (&mut self.resid_attn, o.resid_attn),
            (&mut self.ffn_pre, o.ffn_pre),
            (&mut self.resid_ffn, o.resid_ffn),
        ];
        for (a, b) in fields {
            *a = a.max(b);
        }
        merge_columns(&mut self.ffn_pre_channels, &o.ffn_pre_channels);
        merge_columns(&mut self.h1, &o.h1);
        merge_columns(&mut self.output, &o.output);
    }
}

/// Choices of the integer model that calibration does not make.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantOptions {
    pub norm_method: NormMethod,
    pub softmax: SoftmaxSpec,
}

/// A compiled integer model: the program and its INT8 weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub program: Program,
    pub weights: EncoderWeights,
    /// The float model whose per-output-channel INT8 quantisation ([`crate::weights::quantize_linear`]) gives
    /// `weights`: the source model with the per-channel power-of-two activation scales folded into the weight
    /// columns (and everything else unchanged). The program directory stores it compressed.
    pub folded: BertModel,
}

/// The scale of an INT8 tensor whose largest magnitude is `range` (a zero tensor gets scale 1).
fn int8_scale(range: f32) -> f64 {
    if range > 0.0 && range.is_finite() {
        f64::from(range) / 127.0
    } else {
        1.0
    }
}

fn dyadic(real: f64, what: &str) -> Result<Scale> {
    Scale::from_real(real).ok_or_else(|| {
        CompileError::Input(format!(
            "{what}: the factor {real:e} has no dyadic form mult·2^-shift with mult < 2^15, shift ≤ 47"
        ))
    })
}

/// Compiles `model` (its weights already N:M-legal when `sparsity` says so) with static scales from `calib`.
pub fn compile(
    model: &BertModel,
    sparsity: Sparsity,
    calib: &Calibration,
    options: &QuantOptions,
) -> Result<Compiled> {
    let dims = EncoderDims {
        d_model: model.dims.d_model,
        heads: model.dims.heads,
        ffn: model.dims.ffn,
        layers: model.dims.layers,
    };
    if calib.layers.len() != dims.layers {
        return Err(CompileError::Input(format!(
            "calibration covers {} layers, the model has {}",
            calib.layers.len(),
            dims.layers
        )));
    }
    let mut layers = Vec::with_capacity(dims.layers);
    let mut weights = Vec::with_capacity(dims.layers);
    let mut layer_scales = Vec::with_capacity(dims.layers);
    let mut folded = model.clone();
    let mut e_x = channel_exponents(&calib.input, dims.d_model);
    let input_scales = pow2_scales(&e_x);
    for (l, (layer, ranges)) in model.layers.iter().zip(&calib.layers).enumerate() {
        let ctx = LayerContext {
            layer: l,
            dims,
            options,
            ranges,
            e_x: &e_x,
        };
        let compiled = ctx.compile_layer(layer)?;
        folded.layers[l] = compiled.folded;
        layers.push(compiled.params);
        weights.push(compiled.weights);
        layer_scales.push(pow2_scales(&compiled.output_exponents));
        e_x = compiled.output_exponents;
    }
    let program = Program {
        format_version: PROGRAM_FORMAT_VERSION,
        dims,
        sparsity,
        host: HostParams {
            input_scales,
            layer_scales,
        },
        softmax: options.softmax.clone(),
        norm_method: options.norm_method,
        rsqrt: (options.norm_method == NormMethod::Rsqrt).then(default_rsqrt_table),
        layers,
        ops: Program::standard_ops(dims.layers),
    };
    program
        .validate()
        .map_err(|e| CompileError::Input(format!("compiled program is invalid: {e}")))?;
    Ok(Compiled {
        program,
        weights: EncoderWeights { layers: weights },
        folded,
    })
}

/// One compiled encoder layer.
struct CompiledLayer {
    params: LayerParams,
    weights: Vec<Matrix<i8>>,
    /// Per-channel exponents of the layer output (the next layer's input scale 2^e).
    output_exponents: Vec<i32>,
    /// The float layer with the activation factors folded into its weight columns.
    folded: crate::model::EncoderLayer,
}

struct LayerContext<'a> {
    layer: usize,
    dims: EncoderDims,
    options: &'a QuantOptions,
    ranges: &'a LayerRanges,
    /// Per-channel exponents of the layer input X (scale 2^e).
    e_x: &'a [i32],
}

/// An INT8-quantised linear layer with its per-channel weight scales.
struct QLinear {
    weight: Matrix<i8>,
    scales: Vec<f64>,
    bias: Vec<f32>,
}

impl QLinear {
    fn new(linear: &Linear) -> QLinear {
        let q = quantize_linear(&linear.weight);
        QLinear {
            weight: q.weight,
            scales: q.scales.iter().map(|&s| f64::from(s)).collect(),
            bias: linear.bias.clone(),
        }
    }

    /// Per-channel params: acc (at s_in·s_w[o]) + bias → output at `s_out`.
    fn params(&self, s_in: f64, s_out: f64, what: &str) -> Result<LinearParams> {
        self.params_per_channel(s_in, &vec![s_out; self.scales.len()], what)
    }

    /// Per-channel params with a per-channel output scale.
    fn params_per_channel(&self, s_in: f64, s_out: &[f64], what: &str) -> Result<LinearParams> {
        let mut p = LinearParams {
            bias: Vec::with_capacity(self.scales.len()),
            mult: Vec::with_capacity(self.scales.len()),
            shift: Vec::with_capacity(self.scales.len()),
            residual_shift: Vec::new(),
        };
        for (o, ((&s_w, &b), &s_out)) in self.scales.iter().zip(&self.bias).zip(s_out).enumerate() {
            let acc_scale = s_in * s_w;
            let bias = (f64::from(b) / acc_scale).round();
            if bias.abs() >= f64::from(i32::MAX) {
                return Err(CompileError::Input(format!(
                    "{what} channel {o}: bias {b} is {bias:e} accumulator units, beyond INT32"
                )));
            }
            let scale = dyadic(acc_scale / s_out, &format!("{what} channel {o}"))?;
            p.bias.push(bias as i32);
            p.mult.push(scale.mult);
            p.shift.push(scale.shift);
        }
        Ok(p)
    }
}

impl LayerContext<'_> {
    fn what(&self, name: &str) -> String {
        format!("layer {} {name}", self.layer)
    }

    fn compile_layer(&self, layer: &crate::model::EncoderLayer) -> Result<CompiledLayer> {
        let r = self.ranges;
        let d = self.dims.d_model;
        let e_h1 = channel_exponents(&r.h1, d);
        let e_out = channel_exponents(&r.output, d);
        let (s_q, s_k, s_v) = (int8_scale(r.q), int8_scale(r.k), int8_scale(r.v));
        let s_ctx = int8_scale(r.ctx);
        let spec = &self.options.softmax;
        let dh = self.dims.head_dim() as f64;

        // X and H1 codes have per-channel power-of-two scales: their consumers' weight columns carry the factors,
        // so every GEMM below sees input scale 1.
        let x_factors = pow2_factors(self.e_x);
        let h1_factors = pow2_factors(&e_h1);
        let gelu = GeluChoice::new(&r.ffn_pre_channels, self.dims.ffn)?;
        let s_gelu: Vec<f64> = gelu
            .frac_bits
            .iter()
            .map(|&d| 2f64.powi(-(d as i32)))
            .collect();
        // The GELU output of channel j is a code at 2^−D_G[j]: its factors go into the FFN-out weight columns.
        let folded = crate::model::EncoderLayer {
            q: fold_columns(&layer.q, &x_factors),
            k: fold_columns(&layer.k, &x_factors),
            v: fold_columns(&layer.v, &x_factors),
            ffn_in: fold_columns(&layer.ffn_in, &h1_factors),
            ffn_out: fold_columns(&layer.ffn_out, &s_gelu),
            ..layer.clone()
        };
        let q_lin = QLinear::new(&folded.q);
        let k_lin = QLinear::new(&folded.k);
        let v_lin = QLinear::new(&folded.v);
        let q = q_lin.params(1.0, s_q, &self.what("q"))?;
        let k = k_lin.params(1.0, s_k, &self.what("k"))?;
        let v = v_lin.params(1.0, s_v, &self.what("v"))?;
        let attention = AttentionParams {
            score: dyadic(
                s_q * s_k / dh.sqrt() * 2f64.powi(spec.score_frac_bits as i32),
                &self.what("score scale"),
            )?,
            context: dyadic(
                2f64.powi(-(spec.output_bits as i32)) * s_v / s_ctx,
                &self.what("context scale"),
            )?,
        };
        let o_lin = QLinear::new(&folded.attn_out);
        let attn_out = self.residual_params(&o_lin, s_ctx, r.resid_attn, self.e_x, "attn_out")?;
        let norm_attn = norm_params(&layer.ln_attn, &pow2_factors(&e_h1));

        let gelu = GeluChoice::new(&r.ffn_pre_channels, self.dims.ffn)?;
        let s_gelu: Vec<f64> = gelu
            .frac_bits
            .iter()
            .map(|&d| 2f64.powi(-(d as i32)))
            .collect();
        let fi_lin = QLinear::new(&fold_columns(&layer.ffn_in, &h1_factors));
        let ffn_in = fi_lin.params_per_channel(1.0, &s_gelu, &self.what("ffn_in"))?;
        // The GELU output of channel j is a code at 2^−D_G[j]: fold those factors into the FFN-out weight columns.
        let fo_lin = QLinear::new(&fold_columns(&layer.ffn_out, &s_gelu));
        let ffn_out = self.residual_params(&fo_lin, 1.0, r.resid_ffn, &e_h1, "ffn_out")?;
        let norm_ffn = norm_params(&layer.ln_ffn, &pow2_factors(&e_out));
        let params = LayerParams {
            linear: vec![q, k, v, attn_out, ffn_in, ffn_out],
            attention,
            norm_attn,
            norm_ffn,
            gelu: gelu.tables,
            gelu_select: gelu.select,
        };
        let weights = [q_lin, k_lin, v_lin, o_lin, fi_lin, fo_lin]
            .into_iter()
            .map(|q| q.weight)
            .collect();
        Ok(CompiledLayer {
            params,
            weights,
            output_exponents: e_out,
            folded,
        })
    }

    /// A residual epilogue: the branch (accumulator at s_in·s_w[o]) requantised to the residual stream's scale
    /// 2^−R, the skip code of channel c (scale 2^e_skip[c]) shifted left by e_skip[c] + R.
    fn residual_params(
        &self,
        lin: &QLinear,
        s_in: f64,
        range: f32,
        e_skip: &[i32],
        name: &str,
    ) -> Result<LinearParams> {
        let frac = residual_frac_bits(range);
        let mut p = lin.params(s_in, 2f64.powi(-frac), &self.what(name))?;
        p.residual_shift = e_skip
            .iter()
            .map(|&e| {
                u32::try_from(e + frac).ok().filter(|&s| s <= MAX_RESIDUAL_SHIFT).ok_or_else(|| {
                    CompileError::Input(format!(
                        "{}: a skip channel at scale 2^{e} needs a residual shift of {} (allowed 0..={MAX_RESIDUAL_SHIFT})",
                        self.what(name),
                        e + frac
                    ))
                })
            })
            .collect::<Result<_>>()?;
        Ok(p)
    }
}

/// Per-channel exponents of an INT8 activation with a power-of-two scale per channel: e = ⌈log2(max/127)⌉ (the
/// finest scale that does not saturate on calibration data), clamped to [−12, 12]; channels never seen (max 0)
/// get the finest.
fn channel_exponents(channel_max: &[f32], channels: usize) -> Vec<i32> {
    (0..channels)
        .map(|c| {
            let max = f64::from(channel_max.get(c).copied().unwrap_or(0.0));
            if max > 0.0 && max.is_finite() {
                ((max / 127.0).log2().ceil() as i32).clamp(-CHANNEL_EXP_LIMIT, CHANNEL_EXP_LIMIT)
            } else {
                -CHANNEL_EXP_LIMIT
            }
        })
        .collect()
}

/// Bound of the per-channel exponents.
const CHANNEL_EXP_LIMIT: i32 = 12;

fn pow2_factors(e: &[i32]) -> Vec<f64> {
    e.iter().map(|&e| 2f64.powi(e)).collect()
}

fn pow2_scales(e: &[i32]) -> Vec<f32> {
    e.iter().map(|&e| 2f32.powi(e)).collect()
}

/// R, the residual stream's fraction bits (scale 2^−R): the largest R ≤ 24 that keeps the calibrated residual sum
/// (largest magnitude `range`, real) within half the RW-bit range, so larger inputs have 2× headroom.
fn residual_frac_bits(range: f32) -> i32 {
    let limit = f64::from(1u32 << (RESIDUAL_BITS - 2));
    (0..=24)
        .rev()
        .find(|&r| f64::from(range) * 2f64.powi(r) <= limit)
        .unwrap_or(0)
}

/// The per-channel GELU scales of one layer and the tables they select.
struct GeluChoice {
    frac_bits: Vec<u32>,
    tables: Vec<sta_golden::pwl::PwlTable>,
    select: Vec<u8>,
}

impl GeluChoice {
    fn new(channel_ranges: &[f32], ffn: usize) -> Result<GeluChoice> {
        let frac_bits: Vec<u32> = (0..ffn)
            .map(|c| gelu_frac_bits(channel_ranges.get(c).copied().unwrap_or(0.0)))
            .collect();
        let mut used: Vec<u32> = frac_bits.clone();
        used.sort_unstable();
        used.dedup();
        let tables = used
            .iter()
            .map(|&d| {
                default_gelu_table(d).ok_or_else(|| {
                    CompileError::Input(format!("no GELU table for input scale 2^-{d}"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let select = frac_bits
            .iter()
            .map(|d| used.iter().position(|u| u == d).unwrap_or(0) as u8)
            .collect();
        Ok(GeluChoice {
            frac_bits,
            tables,
            select,
        })
    }
}

/// `linear` with weight column j multiplied by `factors[j]` (the bias is unchanged).
fn fold_columns(linear: &Linear, factors: &[f64]) -> Linear {
    let mut folded = linear.clone();
    for r in 0..folded.weight.rows {
        for (w, &f) in folded.weight.row_mut(r).iter_mut().zip(factors) {
            *w = (f64::from(*w) * f) as f32;
        }
    }
    folded
}

/// The GELU input scale 2^−D_G: the finest committed scale whose range ±2^(7−D_G) covers the calibrated input.
fn gelu_frac_bits(range: f32) -> u32 {
    GELU_FRAC_BITS
        .rev()
        .find(|&d| f64::from(range) <= 2f64.powi(7 - d as i32))
        .unwrap_or(*GELU_FRAC_BITS.start())
}

/// LayerNorm's integer gains and offsets for output scales `s_out[c]`: y = sat_8(round_shift(n·g + c, shift)) with
/// n = z/‖z‖·2^15, so g = γ·√d / s_out · 2^(shift−15) and c = β / s_out · 2^shift; `shift` is the largest that keeps
/// every |g| < 2^15 and every |c| < 2^39.
fn norm_params(ln: &LayerNormParams, s_out: &[f64]) -> NormParams {
    let sqrt_d = (ln.gamma.len() as f64).sqrt();
    let g_real: Vec<f64> = ln
        .gamma
        .iter()
        .zip(s_out)
        .map(|(&g, &s)| f64::from(g) * sqrt_d / s)
        .collect();
    let c_real: Vec<f64> = ln
        .beta
        .iter()
        .zip(s_out)
        .map(|(&b, &s)| f64::from(b) / s)
        .collect();
    let g_max = g_real.iter().fold(0f64, |m, v| m.max(v.abs()));
    let c_max = c_real.iter().fold(0f64, |m, v| m.max(v.abs()));
    let shift = (0..=47u32)
        .rev()
        .find(|&s| {
            g_max * 2f64.powi(s as i32 - NORM_FRAC_BITS as i32) < 32767.0
                && c_max * 2f64.powi(s as i32) < 2f64.powi(39)
        })
        .unwrap_or(0);
    NormParams {
        gain: g_real
            .iter()
            .map(|g| (g * 2f64.powi(shift as i32 - NORM_FRAC_BITS as i32)).round() as i32)
            .collect(),
        offset: c_real
            .iter()
            .map(|c| (c * 2f64.powi(shift as i32)).round() as i64)
            .collect(),
        shift,
    }
}

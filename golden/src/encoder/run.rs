//! The interpreter: runs a validated [`Program`] over INT8 token activations, op by op, on the same buffers the
//! accelerator has on chip. Sentences of a batch are concatenated row-wise; attention stays inside each sentence.

use thiserror::Error;

use super::ops::{self, affine, norm_stats, normalise, requant, residual};
use super::program::{Buffer, Epilogue, LayerParams, NormKind, Op, Program, ProgramError};
use crate::softmax::SoftmaxNumerics;
use crate::Matrix;

/// Inputs the interpreter refuses.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RunError {
    #[error(transparent)]
    Program(#[from] ProgramError),
    #[error("weights: {0}")]
    Weights(String),
    #[error("tokens: {0}")]
    Tokens(String),
}

/// The INT8 weights of every linear layer: `layers[l][kind.index()]` is `outputs × inputs` (dense; N:M weights
/// are decompressed with their zeros, which gives the same sums as the compressed sparse product).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderWeights {
    pub layers: Vec<Vec<Matrix<i8>>>,
}

/// A batch of sentences: `x` is tokens × d_model INT8 (row-major), `lengths` the tokens of each sentence in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub x: Vec<i8>,
    pub lengths: Vec<usize>,
}

impl Tokens {
    pub fn count(&self) -> usize {
        self.lengths.iter().sum()
    }
}

/// The INT8 output of every layer (tokens × d_model each); the last one is the encoder's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerOutputs {
    pub layers: Vec<Vec<i8>>,
}

impl LayerOutputs {
    pub fn last(&self) -> &[i8] {
        self.layers.last().map(Vec::as_slice).unwrap_or(&[])
    }
}

/// The on-chip buffers of the accelerator, as the interpreter holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buffers {
    pub tokens: usize,
    pub x: Vec<i8>,
    pub q: Vec<i8>,
    pub k: Vec<i8>,
    pub v: Vec<i8>,
    pub ctx: Vec<i8>,
    pub h1: Vec<i8>,
    pub ffn: Vec<i8>,
    /// The residual stream, RW-bit values.
    pub resid: Vec<i32>,
}

impl Buffers {
    fn new(tokens: usize, x: Vec<i8>, d_model: usize, ffn: usize) -> Self {
        let int8 = || vec![0i8; tokens * d_model];
        Buffers {
            tokens,
            x,
            q: int8(),
            k: int8(),
            v: int8(),
            ctx: int8(),
            h1: int8(),
            ffn: vec![0; tokens * ffn],
            resid: vec![0; tokens * d_model],
        }
    }

    /// An INT8 buffer (Resid is not one: validated programs never ask for it here).
    pub fn int8(&self, b: Buffer) -> &[i8] {
        match b {
            Buffer::X => &self.x,
            Buffer::Q => &self.q,
            Buffer::K => &self.k,
            Buffer::V => &self.v,
            Buffer::Ctx => &self.ctx,
            Buffer::H1 => &self.h1,
            Buffer::Ffn | Buffer::Resid => &self.ffn,
        }
    }

    fn int8_mut(&mut self, b: Buffer) -> &mut Vec<i8> {
        match b {
            Buffer::X => &mut self.x,
            Buffer::Q => &mut self.q,
            Buffer::K => &mut self.k,
            Buffer::V => &mut self.v,
            Buffer::Ctx => &mut self.ctx,
            Buffer::H1 => &mut self.h1,
            Buffer::Ffn | Buffer::Resid => &mut self.ffn,
        }
    }
}

/// Runs the program and returns every layer's output.
pub fn run(
    program: &Program,
    weights: &EncoderWeights,
    tokens: &Tokens,
) -> Result<LayerOutputs, RunError> {
    let mut outputs = LayerOutputs { layers: Vec::new() };
    run_observed(program, weights, tokens, |_, op, buffers| {
        if let Op::LayerNorm {
            norm: NormKind::Ffn,
            dst,
            ..
        } = op
        {
            outputs.layers.push(buffers.int8(*dst).to_vec());
        }
    })?;
    Ok(outputs)
}

/// Runs the program, calling `observe(op_index, op, buffers)` after every op (per-op comparisons, traces).
pub fn run_observed(
    program: &Program,
    weights: &EncoderWeights,
    tokens: &Tokens,
    mut observe: impl FnMut(usize, &Op, &Buffers),
) -> Result<(), RunError> {
    program.validate()?;
    check_weights(program, weights)?;
    check_tokens(program, tokens)?;
    let softmax = program.softmax.numerics().map_err(ProgramError::from)?;
    let d = program.dims;
    let mut buffers = Buffers::new(tokens.count(), tokens.x.clone(), d.d_model, d.ffn);
    for (index, op) in program.ops.iter().enumerate() {
        let layer = &program.layers[op.layer()];
        match *op {
            Op::Linear {
                layer: l,
                kind,
                src,
                dst,
                epilogue,
            } => {
                let w = &weights.layers[l][kind.index()];
                let acc = ops::gemm_i8(buffers.int8(src), w.data(), w.cols());
                let params = layer.linear(kind);
                match epilogue {
                    Epilogue::Requant | Epilogue::Gelu => {
                        let gelu = (epilogue == Epilogue::Gelu).then_some(layer);
                        let out = requant_rows(&acc, params, w.rows(), gelu);
                        *buffers.int8_mut(dst) = out;
                    }
                    Epilogue::Residual { skip } => {
                        let skip = buffers.int8(skip);
                        buffers.resid = acc
                            .iter()
                            .enumerate()
                            .map(|(i, &a)| {
                                let c = i % w.rows();
                                residual(
                                    i64::from(a),
                                    params.bias[c],
                                    params.scale(c),
                                    skip[i],
                                    params.residual_shift[c],
                                )
                            })
                            .collect();
                    }
                }
            }
            Op::Attention { q, k, v, dst, .. } => {
                let ctx = attention(
                    program,
                    layer,
                    &softmax,
                    [buffers.int8(q), buffers.int8(k), buffers.int8(v)],
                    &tokens.lengths,
                );
                *buffers.int8_mut(dst) = ctx;
            }
            Op::LayerNorm {
                norm, src: _, dst, ..
            } => {
                let out = layer_norm(program, layer.norm(norm), &buffers.resid, d.d_model);
                *buffers.int8_mut(dst) = out;
            }
        }
        observe(index, op, &buffers);
    }
    Ok(())
}

/// Requant (and GELU) epilogue over a tokens × outputs accumulator block.
fn requant_rows(
    acc: &[i32],
    params: &super::program::LinearParams,
    outputs: usize,
    gelu: Option<&LayerParams>,
) -> Vec<i8> {
    acc.iter()
        .enumerate()
        .map(|(i, &a)| {
            let c = i % outputs;
            let q = requant(i64::from(a) + i64::from(params.bias[c]), params.scale(c), 8) as i8;
            match gelu {
                Some(layer) => ops::gelu(q, &layer.gelu[usize::from(layer.gelu_select[c])]),
                None => q,
            }
        })
        .collect()
}

/// One LayerNorm over every token of the residual buffer.
fn layer_norm(
    program: &Program,
    params: &super::program::NormParams,
    resid: &[i32],
    d_model: usize,
) -> Vec<i8> {
    let mut out = Vec::with_capacity(resid.len());
    for row in resid.chunks_exact(d_model) {
        let stats = norm_stats(row, program.norm_method, program.rsqrt.as_ref());
        out.extend(row.iter().enumerate().map(|(i, &r)| {
            affine(
                normalise(r, &stats),
                params.gain[i],
                params.offset[i],
                params.shift,
            )
        }));
    }
    out
}

/// Multi-head attention per sentence: scores = sat_SW(round_shift(Q·Kᵀ·mult, shift)), A = softmax (OB-bit codes),
/// ctx = sat_8(round_shift(A·V·mult, shift)).
fn attention<'a>(
    program: &Program,
    layer: &LayerParams,
    softmax: &SoftmaxNumerics,
    [q, k, v]: [&'a [i8]; 3],
    lengths: &[usize],
) -> Vec<i8> {
    let d = program.dims.d_model;
    let dh = program.dims.head_dim();
    let score_bits = program.softmax.score_bits;
    let mut ctx = vec![0i8; q.len()];
    let mut start = 0;
    for &len in lengths {
        for h in 0..program.dims.heads {
            let row = |buf: &'a [i8], t: usize| -> &'a [i8] {
                let at = (start + t) * d + h * dh;
                &buf[at..at + dh]
            };
            for i in 0..len {
                let scores: Vec<i64> = (0..len)
                    .map(|j| {
                        let acc = ops::dot_i8(row(q, i), row(k, j));
                        requant(i64::from(acc), layer.attention.score, score_bits)
                    })
                    .collect();
                let probs = softmax_probs(softmax, &scores);
                for c in 0..dh {
                    let acc: i64 = (0..len)
                        .map(|j| i64::from(probs[j]) * i64::from(row(v, j)[c]))
                        .sum();
                    ctx[(start + i) * d + h * dh + c] =
                        requant(acc, layer.attention.context, 8) as i8;
                }
            }
        }
        start += len;
    }
    ctx
}

/// The softmax unit on one row of SW-bit scores, giving OB-bit probability codes (OB = 7 in the encoder, so every
/// code is a non-negative INT8; validation guarantees OB ≤ 8 and the cast below is then exact for OB = 7).
fn softmax_probs(softmax: &SoftmaxNumerics, scores: &[i64]) -> Vec<i8> {
    softmax
        .softmax_row(scores)
        .into_iter()
        .map(|y| y.min(127) as i8)
        .collect()
}

fn check_weights(program: &Program, weights: &EncoderWeights) -> Result<(), RunError> {
    if weights.layers.len() != program.dims.layers {
        return Err(RunError::Weights(format!(
            "{} layers of weights for a {}-layer program",
            weights.layers.len(),
            program.dims.layers
        )));
    }
    for (l, layer) in weights.layers.iter().enumerate() {
        for kind in super::program::LinearKind::ALL {
            let (outputs, inputs) = kind.shape(&program.dims);
            let w = layer.get(kind.index()).ok_or_else(|| {
                RunError::Weights(format!("layer {l} has no {} weights", kind.name()))
            })?;
            if (w.rows(), w.cols()) != (outputs, inputs) {
                return Err(RunError::Weights(format!(
                    "layer {l} {} is {}×{}, expected {outputs}×{inputs}",
                    kind.name(),
                    w.rows(),
                    w.cols()
                )));
            }
        }
    }
    Ok(())
}

fn check_tokens(program: &Program, tokens: &Tokens) -> Result<(), RunError> {
    if tokens.lengths.is_empty() || tokens.lengths.contains(&0) {
        return Err(RunError::Tokens(
            "every batch needs at least one sentence and every sentence at least one token".into(),
        ));
    }
    let expected = tokens.count() * program.dims.d_model;
    if tokens.x.len() != expected {
        return Err(RunError::Tokens(format!(
            "{} input codes for {} tokens × d_model {} = {expected}",
            tokens.x.len(),
            tokens.count(),
            program.dims.d_model
        )));
    }
    Ok(())
}

/// The host's input quantisation of tokens × d values: sat_8(round_half_away_from_zero(x / scales[c])), c the
/// channel (column).
pub fn quantize_input(x: &[f32], scales: &[f32]) -> Vec<i8> {
    x.iter()
        .zip(scales.iter().cycle())
        .map(|(&v, &s)| (f64::from(v) / f64::from(s)).round().clamp(-128.0, 127.0) as i8)
        .collect()
}

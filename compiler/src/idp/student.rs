//! A trainable BERT encoder in candle: the encoder layers of a [`BertModel`] as `candle_core::Var`s, an N:M mask per
//! linear weight (with a reserve for the inherited entries it prunes), and a differentiable forward pass over a packed
//! batch.
//!
//! candle-transformers' `BertModel` cannot be used for training here: its LayerNorm and softmax are candle custom ops
//! without a backward pass, and its weights cannot be masked between optimiser steps. This forward is written with
//! differentiable candle ops only (matmul, erf GELU, softmax and LayerNorm spelled out), and is checked against the
//! float reference (`idp_mechanics` test). The embeddings are not trained: the host computes them (and the
//! accelerator never sees them), so the encoder's input is a constant per sentence.
//!
//! A batch is packed: the sentences' tokens are concatenated into one `[tokens][d]` matrix, so every linear layer runs
//! as one matrix product over all tokens of the batch and no padding is computed; attention runs sentence by sentence
//! on row ranges of that matrix (a block-diagonal mask over the whole batch would cost (Σ len)² instead of
//! Σ len², 16× more at 16 sentences per batch); sentence embeddings are a pooling-matrix product.

use candle_core::{DType, Device, Tensor, Var, D};

use crate::error::{CompileError, Result};
use crate::model::{BertDims, BertModel, Dense, EncoderLayer, LayerNormParams, Linear, LinearKind};
use crate::prune::NmMask;

/// One layer's weights as tensors for a forward pass: the student's effective (masked) weights or the teacher's.
#[derive(Debug, Clone)]
pub struct LayerTensors {
    /// `(weight [out][in], bias [out])` in [`LinearKind::ALL`] order.
    pub linears: Vec<(Tensor, Tensor)>,
    /// `(gamma, beta)` of the attention block's LayerNorm.
    pub ln_attn: (Tensor, Tensor),
    /// `(gamma, beta)` of the FFN block's LayerNorm.
    pub ln_ffn: (Tensor, Tensor),
}

impl LayerTensors {
    /// A layer of `model` as constant tensors.
    pub fn constant(layer: &EncoderLayer, device: &Device) -> Result<LayerTensors> {
        let linear = |l: &Linear| -> Result<(Tensor, Tensor)> {
            Ok((
                Tensor::from_slice(&l.weight.data, (l.weight.rows, l.weight.cols), device)?,
                Tensor::from_slice(&l.bias, l.bias.len(), device)?,
            ))
        };
        let ln = |p: &LayerNormParams| -> Result<(Tensor, Tensor)> {
            Ok((
                Tensor::from_slice(&p.gamma, p.gamma.len(), device)?,
                Tensor::from_slice(&p.beta, p.beta.len(), device)?,
            ))
        };
        Ok(LayerTensors {
            linears: LinearKind::ALL
                .iter()
                .map(|&k| linear(layer.linear(k)))
                .collect::<Result<_>>()?,
            ln_attn: ln(&layer.ln_attn)?,
            ln_ffn: ln(&layer.ln_ffn)?,
        })
    }
}

/// The inputs of one layer's four distinct linear inputs, for activation statistics: the layer input (Q, K, V), the
/// head contexts (attention output), the attention block's output (FFN in) and the GELU output (FFN out).
#[derive(Debug, Clone)]
pub struct LinearInputs {
    pub qkv: Tensor,
    pub attn_out: Tensor,
    pub ffn_in: Tensor,
    pub ffn_out: Tensor,
}

impl LinearInputs {
    /// The input of `kind`.
    pub fn get(&self, kind: LinearKind) -> &Tensor {
        match kind {
            LinearKind::Q | LinearKind::K | LinearKind::V => &self.qkv,
            LinearKind::AttnOut => &self.attn_out,
            LinearKind::FfnIn => &self.ffn_in,
            LinearKind::FfnOut => &self.ffn_out,
        }
    }
}

/// A forward pass's per-layer outputs (`[tokens][d]`, one per layer) and, if asked for, every layer's linear inputs.
#[derive(Debug)]
pub struct EncoderPass {
    pub outputs: Vec<Tensor>,
    pub inputs: Vec<LinearInputs>,
}

/// A packed batch's structure: which rows belong to which sentence.
#[derive(Debug, Clone)]
pub struct Packing {
    /// `(first row, tokens)` of every sentence.
    pub sentences: Vec<(usize, usize)>,
    /// `[sentences][tokens]`: 1/len on a sentence's own tokens (mean pooling as a matrix product).
    pub pooling: Tensor,
}

impl Packing {
    pub fn new(lengths: &[usize], device: &Device) -> Result<Packing> {
        let total: usize = lengths.iter().sum();
        let mut pool = vec![0f32; lengths.len() * total];
        let mut sentences = Vec::with_capacity(lengths.len());
        let mut start = 0;
        for (s, &len) in lengths.iter().enumerate() {
            pool[s * total + start..s * total + start + len].fill(1.0 / len as f32);
            sentences.push((start, len));
            start += len;
        }
        Ok(Packing {
            sentences,
            pooling: Tensor::from_vec(pool, (lengths.len(), total), device)?,
        })
    }
}

/// `x·Wᵀ + b` for `x` `[tokens][in]`.
fn linear(x: &Tensor, (w, b): &(Tensor, Tensor)) -> Result<Tensor> {
    Ok(x.matmul(&w.t()?)?.broadcast_add(b)?)
}

/// LayerNorm over the last dimension with the biased variance (as PyTorch), from differentiable ops.
fn layer_norm(x: &Tensor, (gamma, beta): &(Tensor, Tensor), eps: f64) -> Result<Tensor> {
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    Ok(normed.broadcast_mul(gamma)?.broadcast_add(beta)?)
}

/// Softmax over the last dimension; the row maximum is a constant (it cancels out of the value and the gradient).
fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?)
}

/// One post-LayerNorm BERT layer over a packed batch; returns the output and the linear inputs.
fn layer_forward(
    w: &LayerTensors,
    x: &Tensor,
    packing: &Packing,
    dims: &BertDims,
    eps: f64,
) -> Result<(Tensor, LinearInputs)> {
    let (tokens, d) = x.dims2()?;
    let (heads, dh) = (dims.heads, dims.head_dim());
    // [tokens][d] → [heads][tokens][dh]
    let split = |t: Tensor| -> Result<Tensor> {
        Ok(t.reshape((tokens, heads, dh))?
            .transpose(0, 1)?
            .contiguous()?)
    };
    let q = split(linear(x, &w.linears[LinearKind::Q.index()])?)?;
    let k = split(linear(x, &w.linears[LinearKind::K.index()])?)?;
    let v = split(linear(x, &w.linears[LinearKind::V.index()])?)?;
    let scale = 1.0 / (dh as f64).sqrt();
    let per_sentence = packing
        .sentences
        .iter()
        .map(|&(start, len)| {
            let rows = |t: &Tensor| t.narrow(1, start, len);
            let scores = (rows(&q)?.matmul(&rows(&k)?.t()?)? * scale)?;
            Ok(softmax_last(&scores)?.matmul(&rows(&v)?)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let ctx = Tensor::cat(&per_sentence, 1)?
        .transpose(0, 1)?
        .contiguous()?
        .reshape((tokens, d))?;
    let attn = linear(&ctx, &w.linears[LinearKind::AttnOut.index()])?;
    let h1 = layer_norm(&(attn + x)?, &w.ln_attn, eps)?;
    let gelu = linear(&h1, &w.linears[LinearKind::FfnIn.index()])?.gelu_erf()?;
    let ffn = linear(&gelu, &w.linears[LinearKind::FfnOut.index()])?;
    let out = layer_norm(&(ffn + &h1)?, &w.ln_ffn, eps)?;
    let inputs = LinearInputs {
        qkv: x.clone(),
        attn_out: ctx,
        ffn_in: h1,
        ffn_out: gelu,
    };
    Ok((out, inputs))
}

/// The encoder over a packed batch `x` (`[tokens][d]`, the embedding output).
pub fn encoder_forward(
    layers: &[LayerTensors],
    x: &Tensor,
    packing: &Packing,
    dims: &BertDims,
    eps: f64,
) -> Result<EncoderPass> {
    let mut outputs = Vec::with_capacity(layers.len());
    let mut inputs = Vec::with_capacity(layers.len());
    let mut h = x.clone();
    for w in layers {
        let (out, ins) = layer_forward(w, &h, packing, dims, eps)?;
        inputs.push(ins);
        outputs.push(out.clone());
        h = out;
    }
    Ok(EncoderPass { outputs, inputs })
}

/// Mean-pooled, L2-normalised sentence embeddings `[sentences][d]` of a packed last hidden state.
pub fn sentence_embeddings(last: &Tensor, packing: &Packing) -> Result<Tensor> {
    let mean = packing.pooling.matmul(last)?;
    let norm = mean.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.maximum(1e-12)?;
    Ok(mean.broadcast_div(&norm)?)
}

/// One trainable linear layer: the weight, the bias, the masks, and the reserve.
///
/// The weight is exactly zero outside the current mask, its gradient is masked to it, and the mask is applied again
/// after every optimiser step. The entries of the allowed (inherited) set that the current mask prunes keep their last
/// value in the reserve, outside the model: they take no part in the forward pass and are not trained, but a later
/// selection inside the allowed set can bring one back with that value (and prune another into the reserve).
#[derive(Debug)]
pub struct MaskedLinear {
    pub weight: Var,
    pub bias: Var,
    /// The entries this level may use (the inherited mask).
    pub allowed: NmMask,
    /// The current N:M mask (inside `allowed`): the weight is zero outside it.
    pub current: NmMask,
    /// Values of the allowed entries that the current mask prunes (zero elsewhere), `[out][in]`.
    reserve: Tensor,
    current_t: Tensor,
}

/// `t ⊙ mask` with pruned entries +0.0 (a negative value times 0 is −0.0; adding 0 makes it +0.0), so that saved
/// weights are bit-for-bit zero outside the mask.
fn masked(t: &Tensor, mask: &Tensor) -> Result<Tensor> {
    Ok(t.mul(mask)?.affine(1.0, 0.0)?)
}

fn mask_tensor(mask: &NmMask, device: &Device) -> Result<Tensor> {
    let values: Vec<f32> = mask.keep.iter().map(|&k| f32::from(u8::from(k))).collect();
    Ok(Tensor::from_vec(values, (mask.out, mask.in_), device)?)
}

impl MaskedLinear {
    fn new(linear: &Linear, m: usize, device: &Device) -> Result<MaskedLinear> {
        let (out, in_) = (linear.weight.rows, linear.weight.cols);
        let dense = NmMask::dense(out, in_, m);
        Ok(MaskedLinear {
            weight: Var::from_slice(&linear.weight.data, (out, in_), device)?,
            bias: Var::from_slice(&linear.bias, out, device)?,
            reserve: Tensor::zeros((out, in_), DType::F32, device)?,
            current_t: mask_tensor(&dense, device)?,
            allowed: dense.clone(),
            current: dense,
        })
    }

    /// Sets the allowed set and makes it the current mask too: the weight is zeroed outside it, the reserve emptied.
    pub fn set_allowed(&mut self, allowed: NmMask) -> Result<()> {
        self.current_t = mask_tensor(&allowed, self.weight.device())?;
        self.allowed = allowed.clone();
        self.current = allowed;
        self.reserve = self.reserve.zeros_like()?;
        self.apply_mask()
    }

    /// The weight with the reserve's values filled in: every allowed entry's latest value.
    pub fn latent(&self) -> Result<Tensor> {
        Ok((self.weight.as_tensor() + &self.reserve)?)
    }

    /// Makes `current` (inside the allowed set) the mask: allowed entries it prunes go to the reserve with their
    /// latest value, entries it keeps come back from it. Returns the fraction of weights that changed state.
    pub fn set_current(&mut self, current: NmMask) -> Result<f64> {
        if !current.is_subset_of(&self.allowed) {
            return Err(CompileError::Input(
                "the new mask is not inside the inherited mask".to_string(),
            ));
        }
        let changed = current
            .keep
            .iter()
            .zip(&self.current.keep)
            .filter(|(a, b)| a != b)
            .count();
        let latent = self.latent()?;
        let current_t = mask_tensor(&current, self.weight.device())?;
        let kept = masked(&latent, &current_t)?;
        self.reserve = (&latent - &kept)?;
        self.weight.set(&kept)?;
        self.current_t = current_t;
        self.current = current;
        Ok(changed as f64 / self.current.keep.len().max(1) as f64)
    }

    /// The weight the forward pass uses: the (trained) weight plus `fade` times the reserve's values. The reserve is a
    /// constant, so the gradient reaches the weight alone (and is masked to the current mask).
    pub fn forward_weight(&self, fade: f64) -> Result<Tensor> {
        let w = self.weight.as_tensor();
        if fade == 0.0 || self.current == self.allowed {
            return Ok(w.clone());
        }
        Ok((w + (&self.reserve * fade)?)?)
    }

    /// Makes the current mask final: it becomes the allowed set and the reserve is dropped.
    pub fn freeze(&mut self) -> Result<()> {
        self.set_allowed(self.current.clone())
    }

    /// Sets every weight outside the current mask to exactly zero (after an optimiser step, whose moments may still
    /// hold an entry that the mask pruned since).
    pub fn apply_mask(&self) -> Result<()> {
        self.weight
            .set(&masked(self.weight.as_tensor(), &self.current_t)?)?;
        Ok(())
    }

    /// Replaces the weight's gradient by the gradient masked to the current mask.
    pub fn mask_gradient(&self, grads: &mut candle_core::backprop::GradStore) -> Result<()> {
        let w = self.weight.as_tensor();
        if let Some(g) = grads.remove(w) {
            grads.insert(w, g.mul(&self.current_t)?);
        }
        Ok(())
    }

    /// The weight as a matrix (zero outside the current mask).
    pub fn masked_weight(&self) -> Result<Dense> {
        let w = self.weight.as_tensor();
        let (rows, cols) = w.dims2()?;
        Ok(Dense {
            rows,
            cols,
            data: w.flatten_all()?.to_vec1()?,
        })
    }
}

/// The trainable part of one encoder layer.
#[derive(Debug)]
pub struct StudentLayer {
    /// In [`LinearKind::ALL`] order.
    pub linears: Vec<MaskedLinear>,
    pub ln_attn: (Var, Var),
    pub ln_ffn: (Var, Var),
}

/// The student: a copy of a model whose encoder layers are trainable and whose linear weights are N:M masked.
#[derive(Debug)]
pub struct Student {
    /// The model the student was built from (its embeddings and dimensions are used as they are).
    base: BertModel,
    pub m: usize,
    eps: f64,
    pub layers: Vec<StudentLayer>,
    device: Device,
    /// The share of the reserve's values the forward pass still uses (1 at the start of an IDP level, fading to 0):
    /// the weights a new level prunes fade out instead of vanishing at once.
    fade: f64,
}

/// Checks that a model can be trained with N:M masks for this M: one LayerNorm eps, M dividing every linear layer's
/// input width. Returns the eps.
pub fn check_trainable(model: &BertModel, m: usize) -> Result<f64> {
    model.check_shapes().map_err(CompileError::Input)?;
    let eps = model.layer_norm_eps().ok_or_else(|| {
        CompileError::Input("training needs one LayerNorm eps for the whole model".to_string())
    })?;
    let (d, f) = (model.dims.d_model, model.dims.ffn);
    if m == 0 || !d.is_multiple_of(m) || !f.is_multiple_of(m) {
        return Err(CompileError::Input(format!(
            "M = {m} does not divide the linear layers' input widths ({d} and {f})"
        )));
    }
    Ok(eps)
}

impl Student {
    /// The student of `model` with every mask dense (M = `m`, which must divide every linear's input width).
    pub fn new(model: &BertModel, m: usize) -> Result<Student> {
        let eps = check_trainable(model, m)?;
        let device = Device::Cpu;
        let ln = |p: &LayerNormParams| -> Result<(Var, Var)> {
            Ok((
                Var::from_slice(&p.gamma, p.gamma.len(), &device)?,
                Var::from_slice(&p.beta, p.beta.len(), &device)?,
            ))
        };
        let layers = model
            .layers
            .iter()
            .map(|l| {
                Ok(StudentLayer {
                    linears: LinearKind::ALL
                        .iter()
                        .map(|&k| MaskedLinear::new(l.linear(k), m, &device))
                        .collect::<Result<_>>()?,
                    ln_attn: ln(&l.ln_attn)?,
                    ln_ffn: ln(&l.ln_ffn)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Student {
            base: model.clone(),
            m,
            eps,
            layers,
            device,
            fade: 0.0,
        })
    }

    pub fn dims(&self) -> &BertDims {
        &self.base.dims
    }

    pub fn eps(&self) -> f64 {
        self.eps
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Every trainable variable (the optimiser's parameters).
    pub fn vars(&self) -> Vec<Var> {
        let mut out = Vec::new();
        for l in &self.layers {
            for lin in &l.linears {
                out.push(lin.weight.clone());
                out.push(lin.bias.clone());
            }
            for (g, b) in [&l.ln_attn, &l.ln_ffn] {
                out.push(g.clone());
                out.push(b.clone());
            }
        }
        out
    }

    /// Every masked linear with its (layer, kind).
    pub fn linears(&self) -> impl Iterator<Item = (usize, LinearKind, &MaskedLinear)> {
        self.layers.iter().enumerate().flat_map(|(l, layer)| {
            LinearKind::ALL
                .iter()
                .zip(&layer.linears)
                .map(move |(&k, lin)| (l, k, lin))
        })
    }

    pub fn linears_mut(&mut self) -> impl Iterator<Item = (usize, LinearKind, &mut MaskedLinear)> {
        self.layers.iter_mut().enumerate().flat_map(|(l, layer)| {
            LinearKind::ALL
                .iter()
                .zip(layer.linears.iter_mut())
                .map(move |(&k, lin)| (l, k, lin))
        })
    }

    /// The weights for a forward pass.
    pub fn tensors(&self) -> Result<Vec<LayerTensors>> {
        self.layers
            .iter()
            .map(|l| {
                Ok(LayerTensors {
                    linears: l
                        .linears
                        .iter()
                        .map(|lin| {
                            Ok((lin.forward_weight(self.fade)?, lin.bias.as_tensor().clone()))
                        })
                        .collect::<Result<_>>()?,
                    ln_attn: (
                        l.ln_attn.0.as_tensor().clone(),
                        l.ln_attn.1.as_tensor().clone(),
                    ),
                    ln_ffn: (
                        l.ln_ffn.0.as_tensor().clone(),
                        l.ln_ffn.1.as_tensor().clone(),
                    ),
                })
            })
            .collect()
    }

    /// The student's forward pass over a packed batch.
    pub fn forward(&self, x: &Tensor, packing: &Packing) -> Result<EncoderPass> {
        encoder_forward(&self.tensors()?, x, packing, self.dims(), self.eps)
    }

    /// Sets the share (0 ..= 1) of the reserve's values that the forward pass uses.
    pub fn set_fade(&mut self, fade: f64) {
        self.fade = fade.clamp(0.0, 1.0);
    }

    /// Masks every linear weight's gradient to its current mask.
    pub fn mask_gradients(&self, grads: &mut candle_core::backprop::GradStore) -> Result<()> {
        self.linears()
            .try_for_each(|(_, _, lin)| lin.mask_gradient(grads))
    }

    /// Zeroes every linear weight outside its current mask (after an optimiser step).
    pub fn apply_masks(&self) -> Result<()> {
        self.linears().try_for_each(|(_, _, lin)| lin.apply_mask())
    }

    /// The student as a plain model: the base's embeddings, the trained LayerNorms and biases, and the linear
    /// weights in value (exactly zero outside the current masks).
    pub fn to_model(&self) -> Result<BertModel> {
        let mut model = self.base.clone();
        let vec1 = |v: &Var| -> Result<Vec<f32>> { Ok(v.as_tensor().to_vec1()?) };
        for (layer, s) in model.layers.iter_mut().zip(&self.layers) {
            for (&kind, lin) in LinearKind::ALL.iter().zip(&s.linears) {
                let target = layer.linear_mut(kind);
                target.weight = lin.masked_weight()?;
                target.bias = vec1(&lin.bias)?;
            }
            layer.ln_attn.gamma = vec1(&s.ln_attn.0)?;
            layer.ln_attn.beta = vec1(&s.ln_attn.1)?;
            layer.ln_ffn.gamma = vec1(&s.ln_ffn.0)?;
            layer.ln_ffn.beta = vec1(&s.ln_ffn.1)?;
        }
        Ok(model)
    }

    /// The current mask of every linear, layer by layer in [`LinearKind::ALL`] order.
    pub fn current_masks(&self) -> Vec<NmMask> {
        self.linears().map(|(_, _, l)| l.current.clone()).collect()
    }
}

/// A `[rows][cols]` f32 tensor of a matrix.
pub fn dense_tensor(x: &Dense, device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_slice(&x.data, (x.rows, x.cols), device)?)
}

/// A tensor of f32 zeros (convenience for accumulators).
pub fn zeros(len: usize, device: &Device) -> Result<Tensor> {
    Ok(Tensor::zeros(len, DType::F32, device)?)
}

//! The traced float forward pass: post-LayerNorm BERT in f32 with exact (erf) GELU, every intermediate kept.
//!
//! A batch is the sentences' tokens concatenated row-wise (no padding): row r of every activation matrix is one
//! token, sentence s owning rows `offset_s .. offset_s + len_s`. The linear layers and LayerNorms work on all rows
//! at once; attention is block-diagonal (each sentence attends only to itself). This is the layout the integer
//! encoder (`sta_golden::encoder`) and the accelerator use, so calibration reads its ranges from here.
//!
//! Matrix products go through candle-core (f32, CPU); LayerNorm, the embedding lookup and the pooling are plain
//! Rust with f64 accumulation. [`embed_input`] and [`mean_pool_normalize`] are the host's share of an accelerated
//! run (before and after the encoder) and are shared with the integer path.

use candle_core::{Device, Tensor};

use crate::error::{CompileError, Result};
use crate::float_ref::{synthetic_tokens, TimingStats};
use crate::model::{BertDims, BertModel, Dense, LayerNormParams, Linear};

/// What a traced run keeps besides the per-layer activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceOptions {
    /// Keep every sentence's attention scores and probabilities (memory: heads · len² per sentence and layer).
    pub keep_attention: bool,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            keep_attention: true,
        }
    }
}

/// One layer's activations over a batch (rows = total tokens).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LayerTrace {
    /// The layer's input (the previous layer's output, or the embeddings).
    pub input: Dense,
    pub q: Dense,
    pub k: Dense,
    pub v: Dense,
    /// Attention context (probabilities · V, heads side by side), before the output projection.
    pub ctx: Dense,
    /// ctx·Woᵀ + b, before the residual.
    pub attn_out: Dense,
    /// LayerNorm(input + attn_out).
    pub h1: Dense,
    /// h1·W1ᵀ + b1, before GELU.
    pub ffn_pre: Dense,
    pub gelu: Dense,
    /// gelu·W2ᵀ + b2, before the residual.
    pub ffn_out: Dense,
    /// LayerNorm(h1 + ffn_out): the layer's output.
    pub output: Dense,
    /// `scores[s][h]`: sentence s, head h, the real Q·Kᵀ/√d_head (len × len). Empty without `keep_attention`.
    pub scores: Vec<Vec<Dense>>,
    /// `probs[s][h]`: softmax of `scores[s][h]` over each row. Empty without `keep_attention`.
    pub probs: Vec<Vec<Dense>>,
}

/// A traced batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trace {
    pub sentence_lengths: Vec<usize>,
    /// The layer-0 input: LayerNorm(word + position + token type 0).
    pub embeddings: Dense,
    pub layers: Vec<LayerTrace>,
}

impl Trace {
    /// The last layer's output (the embeddings if the model has no layers).
    pub fn last_hidden(&self) -> &Dense {
        self.layers.last().map_or(&self.embeddings, |l| &l.output)
    }

    /// The sentence embeddings (mean pooling over each sentence's tokens, then L2 normalisation).
    pub fn sentence_embeddings(&self) -> Vec<Vec<f32>> {
        mean_pool_normalize(self.last_hidden(), &self.sentence_lengths)
    }
}

/// Checks a batch: at least one sentence, each of 1 ..= max_positions tokens, every id inside the vocabulary.
pub fn check_tokens(dims: &BertDims, sentences: &[Vec<u32>]) -> Result<()> {
    if sentences.is_empty() {
        return Err(CompileError::Input("no sentences in the batch".to_string()));
    }
    for (i, s) in sentences.iter().enumerate() {
        if s.is_empty() || s.len() > dims.max_positions {
            return Err(CompileError::Input(format!(
                "sentence {}: {} tokens, outside 1..={} (the model's positions)",
                i + 1,
                s.len(),
                dims.max_positions
            )));
        }
        if let Some(&id) = s.iter().find(|&&id| id as usize >= dims.vocab) {
            return Err(CompileError::Input(format!(
                "sentence {}: token id {id} is outside the vocabulary of {}",
                i + 1,
                dims.vocab
            )));
        }
    }
    Ok(())
}

/// LayerNorm of every row in place (f64 mean and variance, biased variance as PyTorch).
fn layer_norm_rows(x: &mut Dense, ln: &LayerNormParams) {
    let n = x.cols as f64;
    for r in 0..x.rows {
        let row = x.row_mut(r);
        let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = row
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let inv = 1.0 / (var + ln.eps).sqrt();
        for ((v, &g), &b) in row.iter_mut().zip(&ln.gamma).zip(&ln.beta) {
            *v = ((f64::from(*v) - mean) * inv * f64::from(g) + f64::from(b)) as f32;
        }
    }
}

/// The host's input to the encoder: LayerNorm(word[id] + position[t] + token_type[0]) for every token of every
/// sentence (t restarts at 0 for each sentence), rows concatenated.
pub fn embed_input(model: &BertModel, sentences: &[Vec<u32>]) -> Result<Dense> {
    check_tokens(&model.dims, sentences)?;
    let e = &model.embeddings;
    let d = model.dims.d_model;
    let total = sentences.iter().map(Vec::len).sum();
    let mut x = Dense::zeros(total, d);
    let mut r = 0;
    for s in sentences {
        for (t, &id) in s.iter().enumerate() {
            let (w, p, ty) = (
                e.word.row(id as usize),
                e.position.row(t),
                e.token_type.row(0),
            );
            for (j, v) in x.row_mut(r).iter_mut().enumerate() {
                *v = w[j] + p[j] + ty[j];
            }
            r += 1;
        }
    }
    layer_norm_rows(&mut x, &e.ln);
    Ok(x)
}

/// Sentence embeddings from a last hidden state: the mean of each sentence's rows (all its tokens, [CLS] and [SEP]
/// included, as sentence-transformers' mean pooling with an all-ones attention mask), L2-normalised as
/// `x / max(‖x‖, 1e-12)` (torch.nn.functional.normalize). Panics if the lengths do not add up to `hidden.rows`.
pub fn mean_pool_normalize(hidden: &Dense, sentence_lengths: &[usize]) -> Vec<Vec<f32>> {
    assert_eq!(
        sentence_lengths.iter().sum::<usize>(),
        hidden.rows,
        "sentence lengths do not cover the hidden state's rows"
    );
    let mut start = 0;
    sentence_lengths
        .iter()
        .map(|&len| {
            let mut mean = vec![0f64; hidden.cols];
            for r in start..start + len {
                for (m, &v) in mean.iter_mut().zip(hidden.row(r)) {
                    *m += f64::from(v);
                }
            }
            start += len;
            let n = len.max(1) as f64;
            mean.iter_mut().for_each(|m| *m /= n);
            let norm = mean.iter().map(|m| m * m).sum::<f64>().sqrt().max(1e-12);
            mean.iter().map(|m| (m / norm) as f32).collect()
        })
        .collect()
}

/// A linear layer on the device: Wᵀ stored contiguous `[in][out]`, bias `[1][out]`.
struct DeviceLinear {
    weight_t: Tensor,
    bias: Tensor,
}

impl DeviceLinear {
    fn new(l: &Linear, device: &Device) -> Result<Self> {
        let w = Tensor::from_slice(&l.weight.data, (l.weight.rows, l.weight.cols), device)?;
        Ok(DeviceLinear {
            weight_t: w.t()?.contiguous()?,
            bias: Tensor::from_slice(&l.bias, (1, l.bias.len()), device)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.weight_t)?.broadcast_add(&self.bias)?)
    }
}

struct DeviceLayer {
    q: DeviceLinear,
    k: DeviceLinear,
    v: DeviceLinear,
    attn_out: DeviceLinear,
    ffn_in: DeviceLinear,
    ffn_out: DeviceLinear,
}

fn to_dense(t: &Tensor) -> Result<Dense> {
    let (rows, cols) = t.dims2()?;
    Ok(Dense {
        rows,
        cols,
        data: t.flatten_all()?.to_vec1::<f32>()?,
    })
}

fn from_dense(d: &Dense, device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_slice(&d.data, (d.rows, d.cols), device)?)
}

/// `a + b` element-wise (same shape).
fn add(a: &Dense, b: &Dense) -> Dense {
    Dense {
        rows: a.rows,
        cols: a.cols,
        data: a.data.iter().zip(&b.data).map(|(x, y)| x + y).collect(),
    }
}

/// `[heads][len][len]` as one Dense per head.
fn per_head(t: &Tensor) -> Result<Vec<Dense>> {
    let heads = t.dim(0)?;
    (0..heads).map(|h| to_dense(&t.get(h)?)).collect()
}

/// What a run keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Every intermediate; attention matrices if the flag is set.
    Trace { attention: bool },
    /// Only each layer's output (the other `LayerTrace` fields stay empty).
    Outputs,
}

/// A model's weights on the candle device, ready for repeated traced runs (building it copies the encoder's weights
/// once; [`forward_traced`] builds one per call).
pub struct FloatForward<'m> {
    model: &'m BertModel,
    device: Device,
    layers: Vec<DeviceLayer>,
}

impl<'m> FloatForward<'m> {
    pub fn new(model: &'m BertModel) -> Result<Self> {
        model.check_shapes().map_err(CompileError::Input)?;
        let device = Device::Cpu;
        let layers = model
            .layers
            .iter()
            .map(|l| {
                Ok(DeviceLayer {
                    q: DeviceLinear::new(&l.q, &device)?,
                    k: DeviceLinear::new(&l.k, &device)?,
                    v: DeviceLinear::new(&l.v, &device)?,
                    attn_out: DeviceLinear::new(&l.attn_out, &device)?,
                    ffn_in: DeviceLinear::new(&l.ffn_in, &device)?,
                    ffn_out: DeviceLinear::new(&l.ffn_out, &device)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(FloatForward {
            model,
            device,
            layers,
        })
    }

    /// The traced forward pass of a batch.
    pub fn trace(&self, sentences: &[Vec<u32>], options: TraceOptions) -> Result<Trace> {
        self.run(
            sentences,
            Keep::Trace {
                attention: options.keep_attention,
            },
        )
    }

    /// The last hidden state only (every row), without keeping intermediates.
    pub fn last_hidden(&self, sentences: &[Vec<u32>]) -> Result<Dense> {
        let mut trace = self.run(sentences, Keep::Outputs)?;
        Ok(match trace.layers.pop() {
            Some(l) => l.output,
            None => trace.embeddings,
        })
    }

    /// Sentence embeddings (mean pooling + L2 normalisation of the last hidden state).
    pub fn embed(&self, sentences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let hidden = self.last_hidden(sentences)?;
        let lengths: Vec<usize> = sentences.iter().map(Vec::len).collect();
        Ok(mean_pool_normalize(&hidden, &lengths))
    }

    fn run(&self, sentences: &[Vec<u32>], keep: Keep) -> Result<Trace> {
        let embeddings = embed_input(self.model, sentences)?;
        let lengths: Vec<usize> = sentences.iter().map(Vec::len).collect();
        let mut layers = Vec::with_capacity(self.layers.len());
        let mut input = embeddings.clone();
        for (params, dev) in self.model.layers.iter().zip(&self.layers) {
            let t = self.layer(dev, params, input, &lengths, keep)?;
            input = t.output.clone();
            layers.push(t);
        }
        Ok(Trace {
            sentence_lengths: lengths,
            embeddings,
            layers,
        })
    }

    /// One encoder layer over the batch.
    fn layer(
        &self,
        dev: &DeviceLayer,
        params: &crate::model::EncoderLayer,
        input: Dense,
        lengths: &[usize],
        keep: Keep,
    ) -> Result<LayerTrace> {
        let dims = &self.model.dims;
        let (heads, dh) = (dims.heads, dims.head_dim());
        let x = from_dense(&input, &self.device)?;
        let (q, k, v) = (dev.q.forward(&x)?, dev.k.forward(&x)?, dev.v.forward(&x)?);
        let keep_attention = matches!(keep, Keep::Trace { attention: true });
        let (mut scores, mut probs) = (Vec::new(), Vec::new());
        let mut ctx_parts = Vec::with_capacity(lengths.len());
        let mut offset = 0;
        // [len][d] → [heads][len][dh]
        let split = |t: &Tensor, len: usize| -> candle_core::Result<Tensor> {
            t.reshape((len, heads, dh))?.transpose(0, 1)?.contiguous()
        };
        let scale = 1.0 / (dh as f64).sqrt();
        for &len in lengths {
            let (qs, ks, vs) = (
                split(&q.narrow(0, offset, len)?, len)?,
                split(&k.narrow(0, offset, len)?, len)?,
                split(&v.narrow(0, offset, len)?, len)?,
            );
            let s = (qs.matmul(&ks.t()?)? * scale)?;
            let p = candle_nn::ops::softmax_last_dim(&s)?;
            let c = p.matmul(&vs)?.transpose(0, 1)?.reshape((len, heads * dh))?;
            if keep_attention {
                scores.push(per_head(&s)?);
                probs.push(per_head(&p)?);
            }
            ctx_parts.push(c);
            offset += len;
        }
        let ctx = Tensor::cat(&ctx_parts, 0)?;
        let attn_out = to_dense(&dev.attn_out.forward(&ctx)?)?;
        let mut h1 = add(&input, &attn_out);
        layer_norm_rows(&mut h1, &params.ln_attn);
        let ffn_pre = dev.ffn_in.forward(&from_dense(&h1, &self.device)?)?;
        let gelu = ffn_pre.gelu_erf()?;
        let ffn_out = to_dense(&dev.ffn_out.forward(&gelu)?)?;
        let mut output = add(&h1, &ffn_out);
        layer_norm_rows(&mut output, &params.ln_ffn);
        Ok(match keep {
            Keep::Outputs => LayerTrace {
                output,
                ..LayerTrace::default()
            },
            Keep::Trace { .. } => LayerTrace {
                input,
                q: to_dense(&q)?,
                k: to_dense(&k)?,
                v: to_dense(&v)?,
                ctx: to_dense(&ctx)?,
                attn_out,
                h1,
                ffn_pre: to_dense(&ffn_pre)?,
                gelu: to_dense(&gelu)?,
                ffn_out,
                output,
                scores,
                probs,
            },
        })
    }
}

/// The traced forward pass of a batch of tokenised sentences (`[CLS] … [SEP]` each), attention kept.
pub fn forward_traced(model: &BertModel, sentences: &[Vec<u32>]) -> Result<Trace> {
    FloatForward::new(model)?.trace(sentences, TraceOptions::default())
}

/// [`forward_traced`] with options.
pub fn forward_traced_with(
    model: &BertModel,
    sentences: &[Vec<u32>],
    options: TraceOptions,
) -> Result<Trace> {
    FloatForward::new(model)?.trace(sentences, options)
}

/// Wall time per sentence of the traced forward pass on one synthetic sentence of exactly `tokens_per_sentence`
/// tokens (batch 1, attention kept; weights moved to the device once, outside the timing; one untimed warm-up).
pub fn time_forward_traced(
    model: &BertModel,
    tokens_per_sentence: usize,
    repeats: usize,
) -> Result<TimingStats> {
    let f = FloatForward::new(model)?;
    let batch = [synthetic_tokens(&model.dims, tokens_per_sentence)?];
    TimingStats::measure(tokens_per_sentence, repeats, || {
        f.trace(&batch, TraceOptions::default()).map(drop)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::float_ref::FloatReference;

    fn tiny() -> BertModel {
        BertModel::tiny_random(BertModel::TINY_DIMS, 3)
    }

    fn batch() -> Vec<Vec<u32>> {
        vec![
            vec![2, 17, 45, 9, 3],
            vec![2, 88, 3],
            (0..40).map(|i| (i * 13 + 5) % 100).collect(),
        ]
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
    }

    #[test]
    fn traced_layers_match_candle_layer_by_layer_on_the_tiny_model() {
        let model = tiny();
        let trace = forward_traced(&model, &batch()).unwrap();
        let reference = FloatReference::new(&model).unwrap();
        let mut offset = 0;
        for s in batch() {
            let rows = offset * 32..(offset + s.len()) * 32;
            let states = reference.hidden_states(&s, 2).unwrap();
            assert!(max_abs_diff(&trace.embeddings.data[rows.clone()], &states[0].data) < 1e-5);
            for (l, layer) in trace.layers.iter().enumerate() {
                let d = max_abs_diff(&layer.output.data[rows.clone()], &states[l + 1].data);
                assert!(d < 1e-4, "layer {l}: {d}");
            }
            offset += s.len();
        }
        let ours = trace.sentence_embeddings();
        let theirs = reference.embed(&batch()).unwrap();
        for (a, b) in ours.iter().zip(&theirs) {
            let cos: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            assert!(cos > 0.99999 && max_abs_diff(a, b) < 1e-4, "cos {cos}");
        }
    }

    #[test]
    fn trace_is_consistent_with_its_own_definitions() {
        let model = tiny();
        let sentences = batch();
        let trace = forward_traced(&model, &sentences).unwrap();
        assert_eq!(trace.sentence_lengths, [5, 3, 40]);
        assert_eq!(trace.layers.len(), 2);
        let l0 = &trace.layers[0];
        assert_eq!(l0.input, trace.embeddings);
        assert_eq!(trace.layers[1].input, l0.output);
        assert_eq!((l0.ffn_pre.rows, l0.ffn_pre.cols), (48, 64));
        // Attention is block-diagonal: one scores matrix per sentence and head, rows of probs sum to 1.
        assert_eq!(l0.scores.len(), 3);
        assert_eq!(l0.scores[2].len(), 2);
        assert_eq!((l0.scores[2][1].rows, l0.scores[2][1].cols), (40, 40));
        for p in l0.probs.iter().flatten() {
            for r in 0..p.rows {
                assert!((p.row(r).iter().sum::<f32>() - 1.0).abs() < 1e-5);
            }
        }
        // A score is q_i · k_j / √d_head of the sentence's own rows (sentence 1 starts at row 5; head 1 = cols 16..32).
        let (i, j) = (2, 1);
        let q = &l0.q.row(5 + i)[16..32];
        let k = &l0.k.row(5 + j)[16..32];
        let s: f32 = q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() / 4.0;
        assert!((l0.scores[1][1].row(i)[j] - s).abs() < 1e-5);
        // GELU is the exact erf form.
        let x = l0.ffn_pre.data[7];
        let g = 0.5 * f64::from(x) * (1.0 + erf(f64::from(x) / std::f64::consts::SQRT_2));
        assert!((f64::from(l0.gelu.data[7]) - g).abs() < 1e-6);
        // Without attention, the same activations and no matrices.
        let lean = forward_traced_with(
            &model,
            &sentences,
            TraceOptions {
                keep_attention: false,
            },
        )
        .unwrap();
        assert!(lean.layers[0].scores.is_empty() && lean.layers[0].probs.is_empty());
        assert_eq!(lean.layers[1].output, trace.layers[1].output);
        // Sentences are independent: a batch gives the rows of the sentences run alone.
        let alone = forward_traced(&model, &sentences[1..2]).unwrap();
        let d = max_abs_diff(
            &alone.last_hidden().data,
            &trace.last_hidden().data[5 * 32..8 * 32],
        );
        assert!(d < 1e-5, "{d}");
        let f = FloatForward::new(&model).unwrap();
        assert_eq!(f.last_hidden(&sentences).unwrap(), *trace.last_hidden());
        assert_eq!(f.embed(&sentences).unwrap(), trace.sentence_embeddings());
    }

    /// erf by its Maclaurin series (|x| small in this test) — independent of candle's implementation.
    fn erf(x: f64) -> f64 {
        if x.abs() > 3.0 {
            return x.signum();
        }
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn pooling_is_the_normalised_mean_per_sentence() {
        let hidden = Dense {
            rows: 3,
            cols: 2,
            data: vec![1.0, 0.0, 2.0, 4.0, 0.0, -2.0],
        };
        let e = mean_pool_normalize(&hidden, &[2, 1]);
        assert_eq!(e, [vec![0.6, 0.8], vec![0.0, -1.0]]);
        let zero = mean_pool_normalize(&Dense::zeros(1, 2), &[1]);
        assert_eq!(zero, [vec![0.0, 0.0]]);
    }

    #[test]
    fn bad_batches_are_refused() {
        let model = tiny();
        let e = |s: &[Vec<u32>]| embed_input(&model, s).unwrap_err().to_string();
        assert!(e(&[]).contains("no sentences"));
        assert!(e(&[vec![2, 3], vec![]]).contains("sentence 2: 0 tokens, outside 1..=64"));
        assert!(e(&[vec![1; 65]]).contains("65 tokens"));
        assert!(e(&[vec![2, 100, 3]]).contains("token id 100 is outside the vocabulary of 100"));
        let embedded = embed_input(&model, &[vec![2, 3]]).unwrap();
        let row = embedded.row(1);
        let mean = row.iter().sum::<f32>() / 32.0;
        assert!(mean.abs() < 0.1);
    }

    #[test]
    fn timing_runs_on_the_tiny_model() {
        let model = tiny();
        let t = time_forward_traced(&model, 16, 3).unwrap();
        assert_eq!(t.samples.len(), 3);
        assert!(t.min() <= t.median() && t.median() <= t.max());
        assert!(crate::float_ref::time_float_reference(&model, 64, 2).is_ok());
        assert!(crate::float_ref::time_float_reference(&model, 65, 2).is_err());
    }
}

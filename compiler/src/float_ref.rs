//! The float reference: candle-transformers' BERT (`candle_transformers::models::bert`) built from a [`BertModel`]
//! in memory (so a pruned or otherwise modified model runs as well as the original), CPU, f32.
//!
//! [`FloatReference::embed`] is the sentence-transformers embedding of all-MiniLM-L6-v2: the last hidden state,
//! mean-pooled over the attention mask, L2-normalised. Sentences run one at a time (batch 1, no padding), so the
//! attention mask is all ones and the pooling is the plain mean over the sentence's tokens, [CLS] and [SEP]
//! included — exactly what sentence-transformers computes for a sentence on its own (padding in a batch changes
//! nothing there either, as padded keys are masked and padded rows excluded from the mean).
//!
//! Per-layer outputs ([`FloatReference::hidden_states`]): candle's `BertLayer::forward` is private, but
//! `BertEncoder` (with a public `layers` vector) and its `forward` are public, so each layer runs as a one-layer
//! encoder; the embedding output comes from a zero-layer `BertModel`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::bert;

use crate::error::{CompileError, Result};
use crate::float_forward::check_tokens;
use crate::model::{BertDims, BertModel, Dense};

/// The candle configuration of a model (erf GELU, absolute positions, the model's single LayerNorm eps).
pub fn candle_config(model: &BertModel) -> Result<bert::Config> {
    let eps = model.layer_norm_eps().ok_or_else(|| {
        CompileError::Input(
            "the float reference needs one LayerNorm eps for the whole model".to_string(),
        )
    })?;
    let d = &model.dims;
    Ok(bert::Config {
        vocab_size: d.vocab,
        hidden_size: d.d_model,
        num_hidden_layers: d.layers,
        num_attention_heads: d.heads,
        intermediate_size: d.ffn,
        hidden_act: bert::HiddenAct::Gelu,
        hidden_dropout_prob: 0.0,
        max_position_embeddings: d.max_positions,
        type_vocab_size: d.type_vocab,
        initializer_range: 0.02,
        layer_norm_eps: eps,
        pad_token_id: 0,
        position_embedding_type: bert::PositionEmbeddingType::Absolute,
        use_cache: false,
        classifier_dropout: None,
        model_type: Some("bert".to_string()),
    })
}

/// candle-transformers' BERT built from a [`BertModel`].
pub struct FloatReference {
    dims: BertDims,
    device: Device,
    model: bert::BertModel,
    /// The same weights with no encoder layers: its output is the embedding LayerNorm's.
    embeddings_only: bert::BertModel,
    /// One single-layer encoder per layer.
    single_layers: Vec<bert::BertEncoder>,
}

impl FloatReference {
    pub fn new(model: &BertModel) -> Result<FloatReference> {
        model.check_shapes().map_err(CompileError::Input)?;
        let device = Device::Cpu;
        let tensors = model
            .named_tensors()
            .into_iter()
            .map(|(name, shape, data)| Ok((name, Tensor::from_slice(data, shape, &device)?)))
            .collect::<Result<HashMap<String, Tensor>>>()?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let mut config = candle_config(model)?;
        let full = bert::BertModel::load(vb.clone(), &config)?;
        let encoder = bert::BertEncoder::load(vb.pp("encoder"), &config)?;
        config.num_hidden_layers = 0;
        let embeddings_only = bert::BertModel::load(vb, &config)?;
        let single_layers = encoder
            .layers
            .iter()
            .map(|layer| {
                let mut one = encoder.clone();
                one.layers = vec![layer.clone()];
                one
            })
            .collect();
        Ok(FloatReference {
            dims: model.dims,
            device,
            model: full,
            embeddings_only,
            single_layers,
        })
    }

    fn inputs(&self, tokens: &[u32]) -> Result<(Tensor, Tensor)> {
        let ids = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let types = ids.zeros_like()?;
        Ok((ids, types))
    }

    /// The sentence embedding of every sentence (token ids `[CLS] … [SEP]`), computed one sentence at a time.
    pub fn embed(&self, sentences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        check_tokens(&self.dims, sentences)?;
        sentences
            .iter()
            .map(|s| {
                let (ids, types) = self.inputs(s)?;
                let hidden = self.model.forward(&ids, &types, None)?; // [1][len][d]
                let mean = hidden.mean(1)?; // [1][d]
                let norm = mean.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.maximum(1e-12)?;
                Ok(mean.broadcast_div(&norm)?.squeeze(0)?.to_vec1::<f32>()?)
            })
            .collect()
    }

    /// The last hidden state of one sentence (`len × d`).
    pub fn last_hidden(&self, tokens: &[u32]) -> Result<Dense> {
        check_tokens(&self.dims, &[tokens.to_vec()])?;
        let (ids, types) = self.inputs(tokens)?;
        to_dense(&self.model.forward(&ids, &types, None)?)
    }

    /// Hidden states of one sentence in Hugging Face's `output_hidden_states` order: entry 0 is the embedding
    /// output (layer 0's input), entry l (1 ..= `layers`) the output of layer l. Each layer runs as candle's own
    /// `BertLayer` on the previous entry.
    pub fn hidden_states(&self, tokens: &[u32], layers: usize) -> Result<Vec<Dense>> {
        check_tokens(&self.dims, &[tokens.to_vec()])?;
        if layers > self.dims.layers {
            return Err(CompileError::Input(format!(
                "{layers} layers asked for, the model has {}",
                self.dims.layers
            )));
        }
        let (ids, types) = self.inputs(tokens)?;
        let mut h = self.embeddings_only.forward(&ids, &types, None)?;
        let mask = Tensor::zeros((1, 1, 1, tokens.len()), DType::F32, &self.device)?;
        let mut out = vec![to_dense(&h)?];
        for encoder in &self.single_layers[..layers] {
            h = encoder.forward(&h, &mask)?;
            out.push(to_dense(&h)?);
        }
        Ok(out)
    }
}

/// `[1][len][d]` as a `len × d` matrix.
fn to_dense(t: &Tensor) -> Result<Dense> {
    let (_, rows, cols) = t.dims3()?;
    Ok(Dense {
        rows,
        cols,
        data: t.flatten_all()?.to_vec1::<f32>()?,
    })
}

/// A synthetic sentence of exactly `len` tokens for timing: `[CLS]`(101) … `[SEP]`(102) with ordinary word ids in
/// between when the vocabulary is BERT's, otherwise ids spread over the vocabulary.
pub fn synthetic_tokens(dims: &BertDims, len: usize) -> Result<Vec<u32>> {
    if len == 0 || len > dims.max_positions {
        return Err(CompileError::Input(format!(
            "{len} tokens per sentence is outside 1..={}",
            dims.max_positions
        )));
    }
    let vocab = dims.vocab as u64;
    let mut ids: Vec<u32> = (0..len as u64)
        .map(|i| ((1000 + 7919 * i) % vocab) as u32)
        .collect();
    if vocab > 1000 && len >= 2 {
        ids[0] = 101;
        ids[len - 1] = 102;
    }
    Ok(ids)
}

/// Wall times of repeated runs, per sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct TimingStats {
    pub tokens_per_sentence: usize,
    /// One entry per timed run, sorted ascending.
    pub samples: Vec<Duration>,
}

impl TimingStats {
    pub fn new(tokens_per_sentence: usize, mut samples: Vec<Duration>) -> Self {
        samples.sort();
        TimingStats {
            tokens_per_sentence,
            samples,
        }
    }

    /// Runs `run` once untimed (warm-up), then `repeats` (at least 1) timed times.
    pub fn measure(
        tokens_per_sentence: usize,
        repeats: usize,
        mut run: impl FnMut() -> Result<()>,
    ) -> Result<TimingStats> {
        run()?;
        let mut samples = Vec::with_capacity(repeats.max(1));
        for _ in 0..repeats.max(1) {
            let start = Instant::now();
            run()?;
            samples.push(start.elapsed());
        }
        Ok(TimingStats::new(tokens_per_sentence, samples))
    }

    pub fn min(&self) -> Duration {
        self.samples.first().copied().unwrap_or_default()
    }

    pub fn median(&self) -> Duration {
        self.samples
            .get(self.samples.len() / 2)
            .copied()
            .unwrap_or_default()
    }

    pub fn max(&self) -> Duration {
        self.samples.last().copied().unwrap_or_default()
    }

    pub fn mean(&self) -> Duration {
        let n = self.samples.len().max(1) as u32;
        self.samples.iter().sum::<Duration>() / n
    }
}

impl std::fmt::Display for TimingStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "{} tokens: median {:.2} ms, min {:.2} ms, mean {:.2} ms, max {:.2} ms ({} runs)",
            self.tokens_per_sentence,
            ms(self.median()),
            ms(self.min()),
            ms(self.mean()),
            ms(self.max()),
            self.samples.len()
        )
    }
}

/// Wall time per sentence of the float reference ([`FloatReference::embed`], batch 1) on one synthetic sentence of
/// exactly `tokens_per_sentence` tokens: the model is built once outside the timing, one untimed warm-up run, then
/// `repeats` timed runs. Threads: candle's CPU matmul uses `RAYON_NUM_THREADS` (default: every core).
pub fn time_float_reference(
    model: &BertModel,
    tokens_per_sentence: usize,
    repeats: usize,
) -> Result<TimingStats> {
    let reference = FloatReference::new(model)?;
    let batch = [synthetic_tokens(&model.dims, tokens_per_sentence)?];
    TimingStats::measure(tokens_per_sentence, repeats, || {
        reference.embed(&batch).map(drop)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_unit_vectors_and_layers_chain_to_the_last_hidden_state() {
        let model = BertModel::tiny_random(BertModel::TINY_DIMS, 11);
        let r = FloatReference::new(&model).unwrap();
        let tokens = vec![2, 50, 51, 52, 3];
        let states = r.hidden_states(&tokens, 2).unwrap();
        assert_eq!(states.len(), 3);
        assert_eq!((states[2].rows, states[2].cols), (5, 32));
        let last = r.last_hidden(&tokens).unwrap();
        let d = states[2]
            .data
            .iter()
            .zip(&last.data)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(d < 1e-6, "{d}");
        let e = r.embed(&[tokens.clone(), vec![2, 3]]).unwrap();
        for v in &e {
            let n: f32 = v.iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-5);
        }
        assert!(r.hidden_states(&tokens, 3).is_err());
        assert!(r.embed(&[vec![2, 100]]).is_err());
    }

    #[test]
    fn synthetic_sentences_have_the_requested_length() {
        let ids = synthetic_tokens(&BertDims::MINILM_L6, 16).unwrap();
        assert_eq!((ids.len(), ids[0], ids[15]), (16, 101, 102));
        assert!(ids.iter().all(|&i| (i as usize) < 30522));
        let tiny = synthetic_tokens(&BertModel::TINY_DIMS, 64).unwrap();
        assert!(tiny.iter().all(|&i| i < 100));
        assert!(synthetic_tokens(&BertModel::TINY_DIMS, 0).is_err());
    }
}

//! The distillation data: the training sentences with the teacher's hidden states and sentence embeddings computed
//! once (the teacher, the dense model, never changes, so every level of the chain reuses them), packed batches,
//! and the distillation loss.

use candle_core::{Device, Tensor, D};

use super::student::{encoder_forward, sentence_embeddings, EncoderPass, LayerTensors, Packing};
use crate::error::{CompileError, Result};
use crate::float_forward::{check_tokens, embed_input};
use crate::model::BertModel;

/// Sentences per teacher forward pass while building the cache.
const TEACHER_CHUNK: usize = 32;

/// The training sentences and the teacher's outputs on them.
#[derive(Debug)]
pub struct TrainingData {
    sentences: Vec<Vec<u32>>,
    /// First token row of every sentence in the packed tensors.
    row_start: Vec<u32>,
    /// Entry 0: the embedding output (the encoder's input, the same for teacher and student, as the embeddings are
    /// not trained); entry l ≥ 1: the teacher's layer-l output. Each `[all tokens][d]`.
    hidden: Vec<Tensor>,
    /// The teacher's sentence embeddings `[sentences][d]` (mean-pooled, L2-normalised).
    embeddings: Tensor,
    /// Mean square of the teacher's layer-l output (l = 1 ..= layers), which scales that layer's MSE term.
    mean_square: Vec<f64>,
}

/// One packed batch: the encoder input, the sentence structure and the teacher's targets.
#[derive(Debug)]
pub struct Batch {
    pub x: Tensor,
    pub packing: Packing,
    /// The teacher's output of every layer, `[tokens][d]`.
    pub hidden: Vec<Tensor>,
    /// The teacher's sentence embeddings `[sentences][d]`.
    pub embeddings: Tensor,
    pub tokens: usize,
}

impl TrainingData {
    /// Runs the teacher over every sentence (in chunks) and keeps its outputs. `on_chunk(done, total)` reports
    /// progress in sentences.
    pub fn new(
        teacher: &BertModel,
        sentences: Vec<Vec<u32>>,
        on_chunk: &mut dyn FnMut(usize, usize),
    ) -> Result<TrainingData> {
        if sentences.is_empty() {
            return Err(CompileError::Input(
                "no training sentences: the training text is empty".to_string(),
            ));
        }
        check_tokens(&teacher.dims, &sentences)?;
        let device = Device::Cpu;
        let eps = teacher.layer_norm_eps().ok_or_else(|| {
            CompileError::Input("training needs one LayerNorm eps for the whole model".to_string())
        })?;
        let weights = teacher
            .layers
            .iter()
            .map(|l| LayerTensors::constant(l, &device))
            .collect::<Result<Vec<_>>>()?;
        let layers = teacher.dims.layers;
        let mut parts: Vec<Vec<Tensor>> = vec![Vec::new(); layers + 1];
        let mut embeddings = Vec::new();
        let mut done = 0;
        for chunk in sentences.chunks(TEACHER_CHUNK) {
            let x = embed_input(teacher, chunk)?;
            let x = Tensor::from_vec(x.data, (x.rows, x.cols), &device)?;
            let lengths: Vec<usize> = chunk.iter().map(Vec::len).collect();
            let packing = Packing::new(&lengths, &device)?;
            let pass = encoder_forward(&weights, &x, &packing, &teacher.dims, eps)?;
            if let Some(last) = pass.outputs.last() {
                embeddings.push(sentence_embeddings(last, &packing)?);
            }
            parts[0].push(x);
            for (l, out) in pass.outputs.into_iter().enumerate() {
                parts[l + 1].push(out);
            }
            done += chunk.len();
            on_chunk(done, sentences.len());
        }
        let hidden = parts
            .iter()
            .map(|p| Ok(Tensor::cat(p, 0)?))
            .collect::<Result<Vec<_>>>()?;
        let mean_square = hidden[1..]
            .iter()
            .map(|h| Ok(f64::from(h.sqr()?.mean_all()?.to_scalar::<f32>()?).max(1e-12)))
            .collect::<Result<Vec<_>>>()?;
        let mut row_start = Vec::with_capacity(sentences.len());
        let mut row = 0u32;
        for s in &sentences {
            row_start.push(row);
            row += s.len() as u32;
        }
        Ok(TrainingData {
            sentences,
            row_start,
            hidden,
            embeddings: Tensor::cat(&embeddings, 0)?,
            mean_square,
        })
    }

    pub fn len(&self) -> usize {
        self.sentences.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sentences.is_empty()
    }

    /// Tokens of sentence `i`.
    pub fn sentence_len(&self, i: usize) -> usize {
        self.sentences[i].len()
    }

    /// Tokens of all sentences.
    pub fn tokens(&self) -> usize {
        self.sentences.iter().map(Vec::len).sum()
    }

    /// The packed batch of the sentences `indices`.
    pub fn batch(&self, indices: &[usize]) -> Result<Batch> {
        let device = self.embeddings.device();
        let lengths: Vec<usize> = indices.iter().map(|&i| self.sentences[i].len()).collect();
        let rows: Vec<u32> = indices
            .iter()
            .flat_map(|&i| {
                let start = self.row_start[i];
                start..start + self.sentences[i].len() as u32
            })
            .collect();
        let tokens = rows.len();
        let rows = Tensor::from_vec(rows, tokens, device)?;
        let sentences = Tensor::from_vec(
            indices.iter().map(|&i| i as u32).collect::<Vec<_>>(),
            indices.len(),
            device,
        )?;
        let mut hidden = self
            .hidden
            .iter()
            .map(|h| Ok(h.index_select(&rows, 0)?))
            .collect::<Result<Vec<_>>>()?;
        let x = hidden.remove(0);
        Ok(Batch {
            x,
            packing: Packing::new(&lengths, device)?,
            hidden,
            embeddings: self.embeddings.index_select(&sentences, 0)?,
            tokens,
        })
    }
}

/// The distillation loss of a student pass on a batch: mean over sentences of 1 − cos(student embedding, teacher
/// embedding), plus `hidden_weight` times the mean over layers of the layer outputs' MSE, each divided by the mean
/// square of the teacher's output of that layer (so every layer weighs alike whatever its scale).
pub fn distillation_loss(
    pass: &EncoderPass,
    batch: &Batch,
    data: &TrainingData,
    hidden_weight: f64,
) -> Result<Tensor> {
    let last = pass
        .outputs
        .last()
        .ok_or_else(|| CompileError::Input("the model has no encoder layers".to_string()))?;
    let student = sentence_embeddings(last, &batch.packing)?;
    let cosine = (student
        .mul(&batch.embeddings)?
        .sum(D::Minus1)?
        .affine(-1.0, 1.0)?)
    .mean_all()?;
    let mut hidden = Tensor::zeros((), candle_core::DType::F32, batch.x.device())?;
    for ((s, t), ms) in pass
        .outputs
        .iter()
        .zip(&batch.hidden)
        .zip(&data.mean_square)
    {
        let mse = (s - t)?.sqr()?.mean_all()?;
        hidden = (hidden + (mse * (hidden_weight / (ms * pass.outputs.len() as f64)))?)?;
    }
    Ok((cosine + hidden)?)
}

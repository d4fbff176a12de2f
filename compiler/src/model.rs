//! A BERT-style encoder's weights in plain f32, with the dimensions they imply.
//!
//! Tensor names and layouts are Hugging Face's `BertModel` ones (what all-MiniLM-L6-v2's `model.safetensors` holds):
//! a linear layer's weight is `[out][in]` row-major, `y = x·Wᵀ + b`.

use serde::{Deserialize, Serialize};

/// A row-major f32 matrix.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dense {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Dense {
    /// A zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Dense {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Row `r` (panics if out of range: callers index with validated shapes).
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    pub fn row_mut(&mut self, r: usize) -> &mut [f32] {
        &mut self.data[r * self.cols..(r + 1) * self.cols]
    }
}

/// One linear layer: `weight` is `[out][in]`, `bias` has `out` entries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Linear {
    pub weight: Dense,
    pub bias: Vec<f32>,
}

impl Linear {
    pub fn out_features(&self) -> usize {
        self.weight.rows
    }

    pub fn in_features(&self) -> usize {
        self.weight.cols
    }
}

/// LayerNorm: `y = (x − mean) / sqrt(var + eps) · gamma + beta` over the last dimension.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LayerNormParams {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub eps: f64,
}

pub use sta_golden::encoder::LinearKind;

/// One encoder layer (post-LayerNorm BERT): attention, add & norm, FFN with GELU, add & norm.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EncoderLayer {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub attn_out: Linear,
    pub ln_attn: LayerNormParams,
    pub ffn_in: Linear,
    pub ffn_out: Linear,
    pub ln_ffn: LayerNormParams,
}

impl EncoderLayer {
    pub fn linear(&self, kind: LinearKind) -> &Linear {
        match kind {
            LinearKind::Q => &self.q,
            LinearKind::K => &self.k,
            LinearKind::V => &self.v,
            LinearKind::AttnOut => &self.attn_out,
            LinearKind::FfnIn => &self.ffn_in,
            LinearKind::FfnOut => &self.ffn_out,
        }
    }

    pub fn linear_mut(&mut self, kind: LinearKind) -> &mut Linear {
        match kind {
            LinearKind::Q => &mut self.q,
            LinearKind::K => &mut self.k,
            LinearKind::V => &mut self.v,
            LinearKind::AttnOut => &mut self.attn_out,
            LinearKind::FfnIn => &mut self.ffn_in,
            LinearKind::FfnOut => &mut self.ffn_out,
        }
    }
}

/// The embedding tables and their LayerNorm (computed on the host: the accelerator receives INT8 embeddings).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Embeddings {
    /// `[vocab][d_model]`.
    pub word: Dense,
    /// `[max_positions][d_model]`.
    pub position: Dense,
    /// `[type_vocab][d_model]`.
    pub token_type: Dense,
    pub ln: LayerNormParams,
}

/// The dimensions of a BERT-style encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BertDims {
    pub d_model: usize,
    pub heads: usize,
    pub ffn: usize,
    pub layers: usize,
    pub vocab: usize,
    pub max_positions: usize,
    pub type_vocab: usize,
}

impl BertDims {
    /// all-MiniLM-L6-v2.
    pub const MINILM_L6: BertDims = BertDims {
        d_model: 384,
        heads: 12,
        ffn: 1536,
        layers: 6,
        vocab: 30522,
        max_positions: 512,
        type_vocab: 2,
    };

    pub fn head_dim(&self) -> usize {
        self.d_model / self.heads
    }
}

/// A whole encoder in f32.
#[derive(Debug, Clone, PartialEq)]
pub struct BertModel {
    pub dims: BertDims,
    pub embeddings: Embeddings,
    pub layers: Vec<EncoderLayer>,
}

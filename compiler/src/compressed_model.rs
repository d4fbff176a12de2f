//! The canonical whole-model compressed format: a directory (docs/compressed-format.md, "Whole model").
//!
//! - every encoder linear layer's INT8 weight (per-output-channel scales, [`crate::weights`]): one STANM v1 file
//!   (`<tensor name>.stanm`, golden's [`Compressed::to_bytes`]) per matrix when the model is N:M, or one I8 tensor
//!   each in `linear_int8.safetensors` when it is dense;
//! - `dense.safetensors`: every f32 tensor (weight scales, biases, LayerNorm gamma/beta, embedding tables);
//! - `index.json`: format version, dims, sparsity, LayerNorm epsilons, and every file and tensor with its byte size
//!   and SHA-256.
//!
//! Writing is deterministic (equal models give identical bytes); reading validates every file against the index.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sta_golden::nm::{compress, decompress, Compressed, NmPattern};
use sta_golden::Matrix;

use crate::error::{CompileError, Result};
use crate::model::{
    BertDims, BertModel, Dense, Embeddings, EncoderLayer, LayerNormParams, Linear, LinearKind,
};
use crate::weights::{quantize_linear, QuantLinear};

/// Version of the whole-model format (index.json `version`).
pub const FORMAT_VERSION: u32 = 1;
/// index.json `format`.
pub const FORMAT_NAME: &str = "sta-compressed-model";
pub const INDEX_FILE: &str = "index.json";
pub const DENSE_FILE: &str = "dense.safetensors";
pub const DENSE_LINEAR_FILE: &str = "linear_int8.safetensors";

/// One linear layer's INT8 weight: dense, or in the canonical N:M compressed form.
#[derive(Debug, Clone, PartialEq)]
pub enum LinearWeight {
    Dense(Matrix<i8>),
    Sparse(Compressed),
}

impl LinearWeight {
    /// The dense `[out][in]` INT8 matrix.
    pub fn to_matrix(&self) -> Matrix<i8> {
        match self {
            LinearWeight::Dense(m) => m.clone(),
            LinearWeight::Sparse(c) => decompress(c),
        }
    }

    /// (out, in).
    pub fn shape(&self) -> (usize, usize) {
        match self {
            LinearWeight::Dense(m) => (m.rows(), m.cols()),
            LinearWeight::Sparse(c) => (c.rows(), c.cols()),
        }
    }
}

/// A quantised linear layer: real weight = code · `scales[out]`, plus the f32 bias.
#[derive(Debug, Clone, PartialEq)]
pub struct CompressedLinear {
    pub weight: LinearWeight,
    pub scales: Vec<f32>,
    pub bias: Vec<f32>,
}

/// One encoder layer: the six linears in [`LinearKind::ALL`] order and the two LayerNorms.
#[derive(Debug, Clone, PartialEq)]
pub struct CompressedLayer {
    pub linears: [CompressedLinear; 6],
    pub ln_attn: LayerNormParams,
    pub ln_ffn: LayerNormParams,
}

impl CompressedLayer {
    pub fn linear(&self, kind: LinearKind) -> &CompressedLinear {
        &self.linears[kind_index(kind)]
    }
}

fn kind_index(kind: LinearKind) -> usize {
    LinearKind::ALL.iter().position(|&k| k == kind).unwrap_or(0)
}

/// A whole encoder with INT8 linear weights (N:M compressed or dense) and f32 everything else.
#[derive(Debug, Clone, PartialEq)]
pub struct CompressedModel {
    pub dims: BertDims,
    /// `None`: dense INT8 linears.
    pub pattern: Option<NmPattern>,
    pub embeddings: Embeddings,
    pub layers: Vec<CompressedLayer>,
}

/// (out, in) of `kind` in a model of `dims`.
pub fn linear_shape(dims: &BertDims, kind: LinearKind) -> (usize, usize) {
    match kind {
        LinearKind::FfnIn => (dims.ffn, dims.d_model),
        LinearKind::FfnOut => (dims.d_model, dims.ffn),
        _ => (dims.d_model, dims.d_model),
    }
}

impl CompressedModel {
    /// Quantises every linear weight per output channel and, with a pattern, compresses it. Refuses a model whose
    /// shapes disagree with its dims or (with a pattern) whose float weights are not N:M-legal, naming the first
    /// offending layer, linear, row and group.
    pub fn from_model(model: &BertModel, pattern: Option<NmPattern>) -> Result<CompressedModel> {
        check_shapes(model)?;
        let mut layers = Vec::with_capacity(model.layers.len());
        for (l, layer) in model.layers.iter().enumerate() {
            let linears =
                LinearKind::ALL.map(|kind| compress_linear(layer.linear(kind), pattern, l, kind));
            let [q, k, v, o, fi, fo] = linears;
            layers.push(CompressedLayer {
                linears: [q?, k?, v?, o?, fi?, fo?],
                ln_attn: layer.ln_attn.clone(),
                ln_ffn: layer.ln_ffn.clone(),
            });
        }
        Ok(CompressedModel {
            dims: model.dims,
            pattern,
            embeddings: model.embeddings.clone(),
            layers,
        })
    }

    /// The f32 model: every linear weight dequantised (code · scale), everything else as stored.
    pub fn to_model(&self) -> BertModel {
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                let lin = |kind| {
                    let c = layer.linear(kind);
                    Linear {
                        weight: QuantLinear {
                            weight: c.weight.to_matrix(),
                            scales: c.scales.clone(),
                        }
                        .dequantize(),
                        bias: c.bias.clone(),
                    }
                };
                EncoderLayer {
                    q: lin(LinearKind::Q),
                    k: lin(LinearKind::K),
                    v: lin(LinearKind::V),
                    attn_out: lin(LinearKind::AttnOut),
                    ln_attn: layer.ln_attn.clone(),
                    ffn_in: lin(LinearKind::FfnIn),
                    ffn_out: lin(LinearKind::FfnOut),
                    ln_ffn: layer.ln_ffn.clone(),
                }
            })
            .collect();
        BertModel {
            dims: self.dims,
            embeddings: self.embeddings.clone(),
            layers,
        }
    }

    /// Writes the directory (created if missing; files of the format are overwritten, others left alone).
    pub fn write_dir(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
        let (files, index) = self.serialise()?;
        for (name, bytes) in &files {
            write_file(&dir.join(name), bytes)?;
        }
        write_file(&dir.join(INDEX_FILE), &index)
    }

    /// Reads and validates a directory written by [`CompressedModel::write_dir`]: index.json (format, version,
    /// fields), every listed file (present, byte size, SHA-256), every tensor (present exactly once, dtype, shape,
    /// byte size, SHA-256) and every STANM file (a valid v1 file whose pattern and shape agree with index.json).
    pub fn read_dir(dir: &Path) -> Result<CompressedModel> {
        let index_path = dir.join(INDEX_FILE);
        let text = fs::read(&index_path).map_err(|source| io(&index_path, source))?;
        let index: Index =
            serde_json::from_slice(&text).map_err(|e| model_err(&index_path, e.to_string()))?;
        let bad_index = |message: String| model_err(&index_path, message);
        if index.format != FORMAT_NAME || index.version != FORMAT_VERSION {
            return Err(bad_index(format!(
                "format {:?} version {} is not supported: this build reads {FORMAT_NAME:?} version {FORMAT_VERSION}",
                index.format, index.version
            )));
        }
        let pattern = parse_sparsity(&index.sparsity).map_err(bad_index)?;
        let dims = index.dims;
        let eps = &index.layer_norm_eps;
        if eps.attention.len() != dims.layers || eps.output.len() != dims.layers {
            return Err(bad_index(format!(
                "layer_norm_eps lists {} attention and {} output epsilons for {} layers",
                eps.attention.len(),
                eps.output.len(),
                dims.layers
            )));
        }
        let mut files = BTreeMap::new();
        for entry in &index.files {
            check_file_name(&entry.file).map_err(&bad_index)?;
            let path = dir.join(&entry.file);
            let bytes = fs::read(&path).map_err(|source| io(&path, source))?;
            check_bytes(&bytes, entry.bytes, &entry.sha256).map_err(|e| model_err(&path, e))?;
            if files.insert(entry.file.clone(), bytes).is_some() {
                return Err(bad_index(format!("file {} is listed twice", entry.file)));
            }
        }
        let mut reader = TensorReader::new(dir, &index, &files)?;
        let embeddings = Embeddings {
            word: reader.table("word_embeddings", dims.vocab, dims.d_model)?,
            position: reader.table("position_embeddings", dims.max_positions, dims.d_model)?,
            token_type: reader.table("token_type_embeddings", dims.type_vocab, dims.d_model)?,
            ln: reader.layer_norm("embeddings", dims.d_model, eps.embeddings)?,
        };
        let mut layers = Vec::with_capacity(dims.layers);
        for l in 0..dims.layers {
            let p = format!("encoder.layer.{l}");
            let mut linear = |kind: LinearKind| -> Result<CompressedLinear> {
                let (out, k) = linear_shape(&dims, kind);
                let stem = format!("{p}.{}", kind.tensor_stem());
                Ok(CompressedLinear {
                    weight: reader.linear_weight(&format!("{stem}.weight"), out, k, pattern)?,
                    scales: reader.f32(&format!("{stem}.weight_scale"), &[out])?,
                    bias: reader.f32(&format!("{stem}.bias"), &[out])?,
                })
            };
            let linears = [
                linear(LinearKind::Q)?,
                linear(LinearKind::K)?,
                linear(LinearKind::V)?,
                linear(LinearKind::AttnOut)?,
                linear(LinearKind::FfnIn)?,
                linear(LinearKind::FfnOut)?,
            ];
            layers.push(CompressedLayer {
                linears,
                ln_attn: reader.layer_norm(
                    &format!("{p}.attention.output"),
                    dims.d_model,
                    eps.attention[l],
                )?,
                ln_ffn: reader.layer_norm(&format!("{p}.output"), dims.d_model, eps.output[l])?,
            });
        }
        reader.finish()?;
        Ok(CompressedModel {
            dims,
            pattern,
            embeddings,
            layers,
        })
    }

    /// The file contents (name → bytes, index.json excluded) and index.json itself.
    fn serialise(&self) -> Result<(FileSet, Vec<u8>)> {
        let mut files = BTreeMap::new();
        let mut tensors = Vec::new();
        let mut dense = Vec::new();
        let mut dense_linear = Vec::new();
        let e = &self.embeddings;
        for (name, t) in [
            ("word_embeddings", &e.word),
            ("position_embeddings", &e.position),
            ("token_type_embeddings", &e.token_type),
        ] {
            dense.push(f32_tensor(
                format!("embeddings.{name}.weight"),
                vec![t.rows, t.cols],
                &t.data,
            ));
        }
        push_ln(&mut dense, "embeddings", &e.ln);
        for (l, layer) in self.layers.iter().enumerate() {
            let p = format!("encoder.layer.{l}");
            for kind in LinearKind::ALL {
                let c = layer.linear(kind);
                let stem = format!("{p}.{}", kind.tensor_stem());
                let (out, k) = c.weight.shape();
                match &c.weight {
                    LinearWeight::Sparse(s) => {
                        let bytes = s.to_bytes();
                        let file = format!("{stem}.weight.stanm");
                        tensors.push(TensorEntry::of(
                            format!("{stem}.weight"),
                            &file,
                            "STANM",
                            vec![out, k],
                            &bytes,
                        ));
                        files.insert(file, bytes);
                    }
                    LinearWeight::Dense(m) => {
                        let bytes = m.data().iter().map(|&v| v as u8).collect();
                        dense_linear.push((
                            format!("{stem}.weight"),
                            Dtype::I8,
                            vec![out, k],
                            bytes,
                        ));
                    }
                }
                dense.push(f32_tensor(
                    format!("{stem}.weight_scale"),
                    vec![out],
                    &c.scales,
                ));
                dense.push(f32_tensor(format!("{stem}.bias"), vec![out], &c.bias));
            }
            push_ln(&mut dense, &format!("{p}.attention.output"), &layer.ln_attn);
            push_ln(&mut dense, &format!("{p}.output"), &layer.ln_ffn);
        }
        for (file, list) in [(DENSE_LINEAR_FILE, dense_linear), (DENSE_FILE, dense)] {
            if list.is_empty() {
                continue;
            }
            for (name, dtype, shape, bytes) in &list {
                tensors.push(TensorEntry::of(
                    name.clone(),
                    file,
                    dtype_name(*dtype),
                    shape.clone(),
                    bytes,
                ));
            }
            let views = list
                .iter()
                .map(|(name, dtype, shape, bytes)| {
                    safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                        .map(|v| (name.clone(), v))
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| CompileError::Input(format!("{file}: {e}")))?;
            let bytes = safetensors::serialize(views, None)
                .map_err(|e| CompileError::Input(format!("{file}: {e}")))?;
            files.insert(file.to_string(), bytes);
        }
        let index = Index {
            format: FORMAT_NAME.to_string(),
            version: FORMAT_VERSION,
            dims: self.dims,
            sparsity: self.pattern.map_or("dense".to_string(), |p| p.to_string()),
            layer_norm_eps: LayerNormEps {
                embeddings: e.ln.eps,
                attention: self.layers.iter().map(|l| l.ln_attn.eps).collect(),
                output: self.layers.iter().map(|l| l.ln_ffn.eps).collect(),
            },
            files: files
                .iter()
                .map(|(file, bytes)| FileEntry {
                    file: file.clone(),
                    bytes: bytes.len() as u64,
                    sha256: sha256_hex(bytes),
                })
                .collect(),
            tensors,
        };
        let mut json =
            serde_json::to_vec_pretty(&index).map_err(|e| CompileError::Input(e.to_string()))?;
        json.push(b'\n');
        Ok((files, json))
    }
}

/// File name → content.
type FileSet = BTreeMap<String, Vec<u8>>;

/// A (name, dtype, shape, little-endian bytes) tensor waiting for a safetensors file.
type PendingTensor = (String, Dtype, Vec<usize>, Vec<u8>);

fn f32_tensor(name: String, shape: Vec<usize>, data: &[f32]) -> PendingTensor {
    (
        name,
        Dtype::F32,
        shape,
        data.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

fn push_ln(list: &mut Vec<PendingTensor>, prefix: &str, ln: &LayerNormParams) {
    list.push(f32_tensor(
        format!("{prefix}.LayerNorm.weight"),
        vec![ln.gamma.len()],
        &ln.gamma,
    ));
    list.push(f32_tensor(
        format!("{prefix}.LayerNorm.bias"),
        vec![ln.beta.len()],
        &ln.beta,
    ));
}

fn dtype_name(d: Dtype) -> &'static str {
    if d == Dtype::I8 {
        "I8"
    } else {
        "F32"
    }
}

fn compress_linear(
    linear: &Linear,
    pattern: Option<NmPattern>,
    layer: usize,
    kind: LinearKind,
) -> Result<CompressedLinear> {
    let w = &linear.weight;
    if let Some(p) = pattern {
        check_legal(w, p)
            .map_err(|msg| CompileError::Input(format!("layer {layer} {}: {msg}", kind.name())))?;
    }
    let q = quantize_linear(w);
    let weight = match pattern {
        None => LinearWeight::Dense(q.weight),
        Some(p) => LinearWeight::Sparse(
            compress(&q.weight, p)
                .map_err(|e| CompileError::Input(format!("layer {layer} {}: {e}", kind.name())))?,
        ),
    };
    Ok(CompressedLinear {
        weight,
        scales: q.scales,
        bias: linear.bias.clone(),
    })
}

/// The float weight is N:M-legal: in a multiple of M, no group with more than N non-zeros (first violation named).
pub(crate) fn check_legal(w: &Dense, p: NmPattern) -> std::result::Result<(), String> {
    if !w.cols.is_multiple_of(p.m()) {
        return Err(format!(
            "in_features = {} is not a multiple of M = {}",
            w.cols,
            p.m()
        ));
    }
    for r in 0..w.rows {
        for (g, group) in w.row(r).chunks(p.m()).enumerate() {
            let count = group.iter().filter(|&&v| v != 0.0).count();
            if count > p.n() {
                return Err(format!(
                    "row {r} group {g} (columns {}..{}) has {count} non-zeros, more than N = {} of {p}: \
                     prune the model first",
                    g * p.m(),
                    (g + 1) * p.m(),
                    p.n()
                ));
            }
        }
    }
    Ok(())
}

/// Every tensor shape agrees with the dims (one line naming the first that does not).
fn check_shapes(model: &BertModel) -> Result<()> {
    let dims = &model.dims;
    let d = dims.d_model;
    let bad = |what: String, found: String, expected: String| {
        Err(CompileError::Input(format!(
            "{what} is {found}, the dims imply {expected}"
        )))
    };
    if model.layers.len() != dims.layers {
        return bad(
            "the layer count".into(),
            model.layers.len().to_string(),
            dims.layers.to_string(),
        );
    }
    let e = &model.embeddings;
    for (name, t, rows) in [
        ("word", &e.word, dims.vocab),
        ("position", &e.position, dims.max_positions),
        ("token_type", &e.token_type, dims.type_vocab),
    ] {
        if (t.rows, t.cols, t.data.len()) != (rows, d, rows * d) {
            return bad(
                format!("embeddings.{name}"),
                shape_text(t),
                format!("{rows}x{d}"),
            );
        }
    }
    let check_ln = |what: String, ln: &LayerNormParams| {
        if ln.gamma.len() != d || ln.beta.len() != d {
            return bad(
                what,
                format!("{}/{} long", ln.gamma.len(), ln.beta.len()),
                format!("{d}"),
            );
        }
        Ok(())
    };
    check_ln("embeddings LayerNorm".into(), &e.ln)?;
    for (l, layer) in model.layers.iter().enumerate() {
        for kind in LinearKind::ALL {
            let (out, k) = linear_shape(dims, kind);
            let lin = layer.linear(kind);
            let w = &lin.weight;
            if (w.rows, w.cols, w.data.len(), lin.bias.len()) != (out, k, out * k, out) {
                return bad(
                    format!("layer {l} {} weight/bias", kind.name()),
                    format!("{}/{}", shape_text(w), lin.bias.len()),
                    format!("{out}x{k}/{out}"),
                );
            }
        }
        check_ln(format!("layer {l} attention LayerNorm"), &layer.ln_attn)?;
        check_ln(format!("layer {l} output LayerNorm"), &layer.ln_ffn)?;
    }
    Ok(())
}

fn shape_text(t: &Dense) -> String {
    format!("{}x{} ({} values)", t.rows, t.cols, t.data.len())
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Index {
    format: String,
    version: u32,
    dims: BertDims,
    /// "dense" or "N:M".
    sparsity: String,
    layer_norm_eps: LayerNormEps,
    files: Vec<FileEntry>,
    tensors: Vec<TensorEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerNormEps {
    embeddings: f64,
    attention: Vec<f64>,
    output: Vec<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    file: String,
    bytes: u64,
    sha256: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TensorEntry {
    name: String,
    file: String,
    /// "F32", "I8" (safetensors) or "STANM" (a whole STANM file).
    dtype: String,
    shape: Vec<usize>,
    /// Bytes of the tensor's data (of the whole file for STANM).
    bytes: u64,
    sha256: String,
}

impl TensorEntry {
    fn of(name: String, file: &str, dtype: &str, shape: Vec<usize>, bytes: &[u8]) -> Self {
        TensorEntry {
            name,
            file: file.to_string(),
            dtype: dtype.to_string(),
            shape,
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        }
    }
}

fn parse_sparsity(s: &str) -> std::result::Result<Option<NmPattern>, String> {
    if s == "dense" {
        return Ok(None);
    }
    let parsed = s
        .split_once(':')
        .and_then(|(n, m)| Some((n.parse().ok()?, m.parse().ok()?)));
    let (n, m) =
        parsed.ok_or_else(|| format!("sparsity {s:?} is neither \"dense\" nor \"N:M\""))?;
    NmPattern::new(n, m)
        .map(Some)
        .map_err(|e| format!("sparsity {s:?}: {e}"))
}

/// A plain file name: no directories, no leading dot.
fn check_file_name(name: &str) -> std::result::Result<(), String> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain {
        Ok(())
    } else {
        Err(format!("file name {name:?} is not a plain file name"))
    }
}

/// Looks tensors up by name in index.json and in the files, checking everything, and remembers what was used.
struct TensorReader<'a> {
    dir: &'a Path,
    entries: BTreeMap<&'a str, &'a TensorEntry>,
    files: &'a FileSet,
    safetensors: BTreeMap<&'a str, SafeTensors<'a>>,
    used: BTreeSet<String>,
}

impl<'a> TensorReader<'a> {
    fn new(dir: &'a Path, index: &'a Index, files: &'a FileSet) -> Result<Self> {
        let index_path = dir.join(INDEX_FILE);
        let mut entries = BTreeMap::new();
        for t in &index.tensors {
            if !files.contains_key(&t.file) {
                return Err(model_err(
                    &index_path,
                    format!(
                        "tensor {} is in file {}, which the files list does not hold",
                        t.name, t.file
                    ),
                ));
            }
            if entries.insert(t.name.as_str(), t).is_some() {
                return Err(model_err(
                    &index_path,
                    format!("tensor {} is listed twice", t.name),
                ));
            }
        }
        let mut safetensors = BTreeMap::new();
        for (name, bytes) in files {
            if name.ends_with(".safetensors") {
                let st = SafeTensors::deserialize(bytes)
                    .map_err(|e| model_err(&dir.join(name), e.to_string()))?;
                safetensors.insert(name.as_str(), st);
            }
        }
        Ok(TensorReader {
            dir,
            entries,
            files,
            safetensors,
            used: BTreeSet::new(),
        })
    }

    fn entry(&mut self, name: &str, dtype: &str, shape: &[usize]) -> Result<&'a TensorEntry> {
        let index_path = self.dir.join(INDEX_FILE);
        let entry = *self
            .entries
            .get(name)
            .ok_or_else(|| model_err(&index_path, format!("tensor {name} is missing")))?;
        if entry.dtype != dtype || entry.shape != shape {
            return Err(model_err(
                &index_path,
                format!(
                    "tensor {name} is {} {:?}, the dims and sparsity imply {dtype} {shape:?}",
                    entry.dtype, entry.shape
                ),
            ));
        }
        self.used.insert(name.to_string());
        Ok(entry)
    }

    /// The raw little-endian data of a safetensors tensor, checked against its index entry.
    fn safetensors_data(&mut self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<&'a [u8]> {
        let entry = self.entry(name, dtype_name(dtype), shape)?;
        let path = self.dir.join(&entry.file);
        let st = self.safetensors.get(entry.file.as_str()).ok_or_else(|| {
            model_err(
                &path,
                format!("holds tensor {name} but is not a safetensors file"),
            )
        })?;
        let view = st
            .tensor(name)
            .map_err(|e| model_err(&path, format!("tensor {name}: {e}")))?;
        if view.dtype() != dtype || view.shape() != shape {
            return Err(model_err(
                &path,
                format!(
                    "tensor {name} is {:?} {:?}, index.json says {dtype:?} {shape:?}",
                    view.dtype(),
                    view.shape()
                ),
            ));
        }
        check_bytes(view.data(), entry.bytes, &entry.sha256)
            .map_err(|e| model_err(&path, format!("tensor {name} {e}")))?;
        Ok(view.data())
    }

    fn f32(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let data = self.safetensors_data(name, Dtype::F32, shape)?;
        Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn table(&mut self, name: &str, rows: usize, d: usize) -> Result<Dense> {
        Ok(Dense {
            rows,
            cols: d,
            data: self.f32(&format!("embeddings.{name}.weight"), &[rows, d])?,
        })
    }

    fn layer_norm(&mut self, prefix: &str, d: usize, eps: f64) -> Result<LayerNormParams> {
        Ok(LayerNormParams {
            gamma: self.f32(&format!("{prefix}.LayerNorm.weight"), &[d])?,
            beta: self.f32(&format!("{prefix}.LayerNorm.bias"), &[d])?,
            eps,
        })
    }

    fn linear_weight(
        &mut self,
        name: &str,
        out: usize,
        k: usize,
        pattern: Option<NmPattern>,
    ) -> Result<LinearWeight> {
        let Some(p) = pattern else {
            let data = self.safetensors_data(name, Dtype::I8, &[out, k])?;
            let m = Matrix::new(out, k, data.iter().map(|&b| b as i8).collect())
                .map_err(|e| CompileError::Input(format!("tensor {name}: {e}")))?;
            return Ok(LinearWeight::Dense(m));
        };
        let entry = self.entry(name, "STANM", &[out, k])?;
        let path = self.dir.join(&entry.file);
        let bytes = &self.files[&entry.file];
        let c = Compressed::from_bytes(bytes).map_err(|e| model_err(&path, e.to_string()))?;
        if (c.pattern(), c.rows(), c.cols()) != (p, out, k) {
            return Err(model_err(
                &path,
                format!(
                    "STANM header says {} {}x{}, index.json says {p} {out}x{k}",
                    c.pattern(),
                    c.rows(),
                    c.cols()
                ),
            ));
        }
        Ok(LinearWeight::Sparse(c))
    }

    /// Every tensor of index.json was used, and the safetensors files hold nothing else.
    fn finish(&self) -> Result<()> {
        let index_path = self.dir.join(INDEX_FILE);
        if let Some(extra) = self.entries.keys().find(|n| !self.used.contains(**n)) {
            return Err(model_err(
                &index_path,
                format!("tensor {extra} does not belong to the model"),
            ));
        }
        for (file, st) in &self.safetensors {
            if let Some(extra) = st.names().into_iter().find(|n| !self.used.contains(*n)) {
                return Err(model_err(
                    &self.dir.join(file),
                    format!("holds tensor {extra}, which index.json does not list"),
                ));
            }
        }
        let mut referenced: BTreeSet<&str> =
            self.entries.values().map(|e| e.file.as_str()).collect();
        referenced.insert(INDEX_FILE);
        if let Some(extra) = self.files.keys().find(|f| !referenced.contains(f.as_str())) {
            return Err(model_err(
                &index_path,
                format!("file {extra} holds no tensor of the model"),
            ));
        }
        Ok(())
    }
}

fn check_bytes(bytes: &[u8], size: u64, sha: &str) -> std::result::Result<(), String> {
    if bytes.len() as u64 != size {
        return Err(format!("is {} bytes, index.json says {size}", bytes.len()));
    }
    let found = sha256_hex(bytes);
    if found != sha {
        return Err(format!("SHA-256 is {found}, index.json says {sha}"));
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(|source| io(path, source))
}

fn io(path: &Path, source: std::io::Error) -> CompileError {
    CompileError::Io {
        path: PathBuf::from(path),
        source,
    }
}

fn model_err(path: &Path, message: String) -> CompileError {
    CompileError::Model {
        path: PathBuf::from(path),
        message,
    }
}

/// Storage of one format of a model, in bytes of payload: STANM and safetensors headers and index.json are not
/// counted (for all-MiniLM-L6-v2 they add 54 kB dense and 62 kB N:M). Ratios are "× smaller than": reference bytes /
/// these bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageRow {
    /// "fp32 dense", "int8 dense" or "N:M".
    pub format: String,
    /// Encoder linear weights: the stored values (f32, INT8 codes, or the N INT8 slots per group).
    pub linear_values: u64,
    /// Encoder linear weights: the packed log2(M)-bit in-group indices (0 for dense).
    pub linear_indices: u64,
    /// Encoder linear weights: the f32 per-output-channel scales (0 for FP32).
    pub linear_scales: u64,
    pub linear_total: u64,
    pub linear_vs_fp32: f64,
    pub linear_vs_int8: f64,
    /// The f32 tensors of the encoder layers: biases and LayerNorm gamma/beta.
    pub encoder_dense: u64,
    /// The f32 embedding tables and their LayerNorm.
    pub embeddings: u64,
    /// linear_total + encoder_dense + embeddings.
    pub model_total: u64,
    pub model_vs_fp32: f64,
    pub model_vs_int8: f64,
}

/// The storage of `model` as FP32 dense, then one row per entry of `patterns` (`None`: INT8 dense; `Some(p)`: INT8
/// N:M in the STANM form). Only shapes matter, so the model need not be pruned.
pub fn storage_table(model: &BertModel, patterns: &[Option<NmPattern>]) -> Vec<StorageRow> {
    let shapes: Vec<(u64, u64)> = model
        .layers
        .iter()
        .flat_map(|l| {
            LinearKind::ALL.map(|k| {
                (
                    l.linear(k).weight.rows as u64,
                    l.linear(k).weight.cols as u64,
                )
            })
        })
        .collect();
    let ln_bytes = |ln: &LayerNormParams| 4 * (ln.gamma.len() + ln.beta.len()) as u64;
    let encoder_dense: u64 = model
        .layers
        .iter()
        .map(|l| {
            let biases: u64 = LinearKind::ALL
                .iter()
                .map(|&k| 4 * l.linear(k).bias.len() as u64)
                .sum();
            biases + ln_bytes(&l.ln_attn) + ln_bytes(&l.ln_ffn)
        })
        .sum();
    let e = &model.embeddings;
    let embeddings = 4
        * (e.word.data.len() + e.position.data.len() + e.token_type.data.len()) as u64
        + ln_bytes(&e.ln);
    let params: u64 = shapes.iter().map(|(o, k)| o * k).sum();
    let outs: u64 = shapes.iter().map(|(o, _)| o).sum();
    let (fp32, int8) = ((4 * params, 0, 0), (params, 0, 4 * outs));
    let totals = |(v, i, s): (u64, u64, u64)| v + i + s;
    let (fp32_lin, int8_lin) = (totals(fp32), totals(int8));
    let rest = encoder_dense + embeddings;
    let row = |format: String, parts: (u64, u64, u64)| {
        let lin = totals(parts);
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        StorageRow {
            format,
            linear_values: parts.0,
            linear_indices: parts.1,
            linear_scales: parts.2,
            linear_total: lin,
            linear_vs_fp32: ratio(fp32_lin, lin),
            linear_vs_int8: ratio(int8_lin, lin),
            encoder_dense,
            embeddings,
            model_total: lin + rest,
            model_vs_fp32: ratio(fp32_lin + rest, lin + rest),
            model_vs_int8: ratio(int8_lin + rest, lin + rest),
        }
    };
    let mut rows = vec![row("fp32 dense".into(), fp32)];
    for p in patterns {
        rows.push(match p {
            None => row("int8 dense".into(), int8),
            Some(p) => {
                let (mut values, mut indices) = (0, 0);
                for &(o, k) in &shapes {
                    let stats =
                        sta_golden::nm::StorageStats::new(*p, o as usize, (k as usize) / p.m());
                    values += stats.value_bits / 8;
                    indices += stats.index_bits.div_ceil(8);
                }
                row(p.to_string(), (values, indices, 4 * outs))
            }
        });
    }
    rows
}

/// The rows as a Markdown table (bytes, and the ratios with two decimals).
pub fn storage_markdown(rows: &[StorageRow]) -> String {
    let mut s = String::from(
        "| format | linear values | indices | scales | linear total | ×FP32 | ×INT8 | encoder f32 | embeddings | \
         model total | ×FP32 | ×INT8 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {} | {} | {} | {:.2} | {:.2} |\n",
            r.format,
            r.linear_values,
            r.linear_indices,
            r.linear_scales,
            r.linear_total,
            r.linear_vs_fp32,
            r.linear_vs_int8,
            r.encoder_dense,
            r.embeddings,
            r.model_total,
            r.model_vs_fp32,
            r.model_vs_int8
        ));
    }
    s
}

//! The compile flow as plain functions that the `sta` commands compose: calibration statistics of the dense model,
//! the sparsity-inheritance chain, static activation ranges of the candidate, INT8 compilation, and the accuracy of
//! a candidate (float and integer) against the dense float model on the evaluation sentences.
//!
//! Sentences are processed in batches of [`BATCH`] so that memory stays flat whatever the number of sentences.

use serde::{Deserialize, Serialize};
use sta_golden::encoder::{NormMethod, SoftmaxSpec, Sparsity};
use sta_golden::nm::NmPattern;

use crate::compressed_model::check_legal;
use crate::engine::{dequantize, run_integer};
use crate::error::Result;
use crate::float_forward::{forward_traced_with, mean_pool_normalize, Trace, TraceOptions};
use crate::metrics::{cosine, Agreement};
use crate::model::{BertModel, Dense, LinearKind};
use crate::prune::{prune_model_chain, CalibStats, LayerCalib, Progress, PruneMethod};
use crate::quantize::{compile, Calibration, Compiled, QuantOptions};

/// Sentences per traced batch.
pub const BATCH: usize = 32;

/// Traces here never need the attention matrices.
const NO_ATTENTION: TraceOptions = TraceOptions {
    keep_attention: false,
};

fn traces<'a>(
    model: &'a BertModel,
    sentences: &'a [Vec<u32>],
) -> impl Iterator<Item = Result<Trace>> + 'a {
    sentences
        .chunks(BATCH)
        .map(move |batch| forward_traced_with(model, batch, NO_ATTENTION))
}

/// Per-layer statistics of every linear layer's input (wanda norms, refit Gram matrices) from `model`'s activations.
pub fn layer_stats(model: &BertModel, sentences: &[Vec<u32>]) -> Result<Vec<LayerCalib>> {
    let (d, f) = (model.dims.d_model, model.dims.ffn);
    let mut stats: Vec<LayerCalib> = (0..model.dims.layers)
        .map(|_| LayerCalib {
            qkv: CalibStats::empty(d),
            attn_out: CalibStats::empty(d),
            ffn_in: CalibStats::empty(d),
            ffn_out: CalibStats::empty(f),
        })
        .collect();
    for trace in traces(model, sentences) {
        let trace = trace?;
        for (s, t) in stats.iter_mut().zip(&trace.layers) {
            s.qkv.add_activations(&t.input)?;
            s.attn_out.add_activations(&t.ctx)?;
            s.ffn_in.add_activations(&t.h1)?;
            s.ffn_out.add_activations(&t.gelu)?;
        }
    }
    Ok(stats)
}

/// The sparsity-inheritance chain of `model` for M = `m` down to `target_n` (levels m−1 … target_n, in that order).
pub fn sparsity_chain(
    model: &BertModel,
    m: usize,
    target_n: usize,
    method: PruneMethod,
    calibration: &[Vec<u32>],
    progress: Option<Progress<'_>>,
) -> Result<Vec<(usize, BertModel)>> {
    let stats = if method.needs_stats() {
        Some(layer_stats(model, calibration)?)
    } else {
        None
    };
    prune_model_chain(model, m, target_n, method, stats.as_deref(), progress)
}

/// The static activation ranges of `model` on the calibration sentences.
pub fn calibrate(model: &BertModel, sentences: &[Vec<u32>]) -> Result<Calibration> {
    let mut calib = Calibration::default();
    for trace in traces(model, sentences) {
        calib.merge(&Calibration::from_trace(&trace?));
    }
    Ok(calib)
}

/// Compiles a (pruned) float model: calibrates it on `calibration` and quantises it.
pub fn compile_candidate(
    model: &BertModel,
    pattern: Option<NmPattern>,
    calibration: &[Vec<u32>],
    options: &QuantOptions,
) -> Result<Compiled> {
    let calib = calibrate(model, calibration)?;
    let sparsity = match pattern {
        Some(p) => Sparsity::Nm { n: p.n(), m: p.m() },
        None => Sparsity::Dense,
    };
    compile(model, sparsity, &calib, options)
}

/// The reference a candidate is measured against: the dense float model's embeddings and layer outputs.
#[derive(Debug, Clone)]
pub struct Reference {
    pub sentences: Vec<Vec<u32>>,
    pub embeddings: Vec<Vec<f32>>,
    /// Per batch, per layer: the dense model's layer outputs.
    layer_outputs: Vec<Vec<Dense>>,
}

impl Reference {
    pub fn new(dense: &BertModel, sentences: &[Vec<u32>]) -> Result<Reference> {
        let mut embeddings = Vec::with_capacity(sentences.len());
        let mut layer_outputs = Vec::new();
        for trace in traces(dense, sentences) {
            let trace = trace?;
            let last = trace.layers.last().map(|t| &t.output);
            if let Some(out) = last {
                embeddings.extend(mean_pool_normalize(out, &trace.sentence_lengths));
            }
            layer_outputs.push(trace.layers.into_iter().map(|t| t.output).collect());
        }
        Ok(Reference {
            sentences: sentences.to_vec(),
            embeddings,
            layer_outputs,
        })
    }
}

/// How close one candidate is to the dense float model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateAccuracy {
    /// The float candidate (pruned weights, float arithmetic).
    pub float: Agreement,
    /// Mean cosine per layer output (over tokens) of the float candidate.
    pub float_layer_cosine: Vec<f64>,
    /// The integer-only program.
    pub integer: Option<Agreement>,
    pub integer_layer_cosine: Option<Vec<f64>>,
}

/// Mean over tokens of cos(candidate row, reference row).
fn mean_row_cosine(reference: &Dense, candidate: &Dense) -> (f64, usize) {
    let rows = reference.rows.min(candidate.rows);
    let sum = (0..rows)
        .map(|r| cosine(reference.row(r), candidate.row(r)))
        .sum::<f64>();
    (sum, rows)
}

fn finish(sums: &[(f64, usize)]) -> Vec<f64> {
    sums.iter().map(|&(s, n)| s / n.max(1) as f64).collect()
}

/// Measures a float candidate and (optionally) its compiled integer program against `reference`.
pub fn evaluate(
    reference: &Reference,
    candidate: &BertModel,
    compiled: Option<&Compiled>,
) -> Result<CandidateAccuracy> {
    let layers = candidate.dims.layers;
    let mut float_sums = vec![(0f64, 0usize); layers];
    let mut int_sums = vec![(0f64, 0usize); layers];
    let mut float_emb = Vec::with_capacity(reference.sentences.len());
    let mut int_emb = Vec::with_capacity(reference.sentences.len());
    for (batch, ref_layers) in reference
        .sentences
        .chunks(BATCH)
        .zip(&reference.layer_outputs)
    {
        let trace = forward_traced_with(candidate, batch, NO_ATTENTION)?;
        for (l, t) in trace.layers.iter().enumerate() {
            let (s, n) = mean_row_cosine(&ref_layers[l], &t.output);
            float_sums[l].0 += s;
            float_sums[l].1 += n;
        }
        if let Some(out) = trace.layers.last().map(|t| &t.output) {
            float_emb.extend(mean_pool_normalize(out, &trace.sentence_lengths));
        }
        if let Some(c) = compiled {
            let run = run_integer(candidate, c, batch)?;
            for (l, codes) in run.layers.layers.iter().enumerate() {
                let hidden = dequantize(codes, &c.program.host.layer_scales[l]);
                let (s, n) = mean_row_cosine(&ref_layers[l], &hidden);
                int_sums[l].0 += s;
                int_sums[l].1 += n;
            }
            int_emb.extend(run.embeddings);
        }
    }
    Ok(CandidateAccuracy {
        float: Agreement::measure(&reference.embeddings, &float_emb),
        float_layer_cosine: finish(&float_sums),
        integer: compiled.map(|_| Agreement::measure(&reference.embeddings, &int_emb)),
        integer_layer_cosine: compiled.map(|_| finish(&int_sums)),
    })
}

/// The default integer choices: LayerNorm's 1/‖z‖ through the RSQRT table (measured as accurate as the exact
/// integer square root and reciprocal on MiniLM, docs/numerics.md, and cheaper in hardware) and the encoder's
/// softmax configuration.
pub fn default_quant_options() -> QuantOptions {
    QuantOptions {
        norm_method: NormMethod::Rsqrt,
        softmax: default_softmax_spec(),
    }
}

/// The encoder's softmax configuration (docs/softmax.md "Encoder default").
pub fn default_softmax_spec() -> SoftmaxSpec {
    sta_golden::encoder::program::default_softmax_spec()
}

/// One `sta compile`: prune (for N:M), calibrate, quantise, and measure on the evaluation sentences.
pub struct CompileRequest<'a> {
    /// The dense float model.
    pub model: &'a BertModel,
    /// None: a dense INT8 program.
    pub pattern: Option<NmPattern>,
    pub method: PruneMethod,
    pub calibration: &'a [Vec<u32>],
    pub evaluation: &'a [Vec<u32>],
    pub options: QuantOptions,
}

/// What `sta compile` produced.
pub struct CompileResult {
    /// The float model at the requested sparsity (the dense model for dense programs).
    pub pruned: BertModel,
    pub compiled: Compiled,
    pub accuracy: CandidateAccuracy,
}

/// Whether every encoder linear weight keeps at most n non-zeros in every group of m along its input dimension:
/// such a model (a level of `sta idp`, already trained at this sparsity) is compiled as it is, because pruning it
/// again would only re-fit weights its training chose.
pub fn is_nm_sparse(model: &BertModel, pattern: NmPattern) -> bool {
    model.layers.iter().all(|layer| {
        LinearKind::ALL
            .iter()
            .all(|&kind| check_legal(&layer.linear(kind).weight, pattern).is_ok())
    })
}

/// Runs one compile request; `stage` is told what is happening ("pruning", "calibrating", …).
pub fn compile_program(req: &CompileRequest<'_>, stage: &dyn Fn(&str)) -> Result<CompileResult> {
    let pruned = match req.pattern {
        None => req.model.clone(),
        Some(p) if is_nm_sparse(req.model, p) => {
            stage(&format!(
                "pruning: none, every linear weight is already {}:{} (an `sta idp` level or a pruned checkpoint)",
                p.n(),
                p.m()
            ));
            req.model.clone()
        }
        Some(p) => {
            stage(&format!(
                "pruning: {} chain {}:{} → {}:{}",
                req.method.name(),
                p.m() - 1,
                p.m(),
                p.n(),
                p.m()
            ));
            let chain = if p.n() == p.m() {
                Vec::new()
            } else {
                sparsity_chain(req.model, p.m(), p.n(), req.method, req.calibration, None)?
            };
            chain
                .into_iter()
                .last()
                .map(|(_, m)| m)
                .unwrap_or_else(|| req.model.clone())
        }
    };
    stage("calibrating and quantising");
    let compiled = compile_candidate(&pruned, req.pattern, req.calibration, &req.options)?;
    stage("measuring on the evaluation sentences");
    let reference = Reference::new(req.model, req.evaluation)?;
    let accuracy = evaluate(&reference, &pruned, Some(&compiled))?;
    Ok(CompileResult {
        pruned,
        compiled,
        accuracy,
    })
}

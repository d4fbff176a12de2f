//! The sparsity-inheritance chain: from a dense linear layer, the N:M candidates (M−1):M, (M−2):M, …, target:M, each
//! level's kept set a subset of the previous level's, so one stored mask chain serves every sparsity level.
//!
//! Three training-free methods choose the masks (and, for `refit`, the weights):
//! - **magnitude**: keep the n largest |w| of every group (ties to the lower index, the rule of
//!   [`sta_golden::nm::prune_nm`]);
//! - **wanda** (Sun et al. 2023): keep the n largest |w_oj|·‖X_j‖₂, X the calibration activations of the layer's input;
//! - **refit** (SparseGPT-style, Frantar & Alistarh 2023): choose the mask by a saliency ([`RefitMask`]) and update the
//!   kept weights of every row to reduce the output error ‖X·w_dense − X·w‖² on the calibration activations.
//!
//! Level n is always selected inside level n+1, from the scores of level n+1's weights (for refit: its refitted
//! weights). Weights outside a mask are exactly 0.0. Magnitude and wanda never change a kept weight.
//!
//! ## The refit
//! With H = XᵀX (f64, [`CalibStats`]) and the dampened H_λ = H + λI, λ = 0.01·mean(diag H), factorised once per layer
//! input as H_λ = LᵀL (L lower triangular), the loss of a row change δ = w − w_dense is ‖Lδ‖² (dampened) and
//! z = Lδ has z_j depending only on δ_0..δ_j. Sweeping the columns left to right, SparseGPT's sequential OBS update
//! with a fixed mask ends with δ_j = −w_dense,j on pruned columns and z_j = 0 on kept ones: a triangular solve,
//! δ_j = −(L_j,0..j · δ_0..j)/L_jj for kept j. That is exactly the column sweep of SparseGPT (which zeroes a pruned
//! weight and moves its error onto the not yet swept weights with the rows of the Cholesky factor of H_λ⁻¹), written
//! with the factor of H_λ instead, so no inverse is formed. Every level is refitted from the dense weights.
//!
//! The sweep is a greedy approximation of the least-squares optimum on the mask, so it is guarded: for every row
//! the calibration error (undampened H) of the refit is compared with that of simply masking the previous level's
//! weights, and the lower one is kept ([`PrunedLevel::masked_rows`] counts the rows where masking won). The refit of
//! a row therefore never has a higher calibration error than masking (up to f64 rounding).

use std::fmt;
use std::str::FromStr;

use candle_core::{Device, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{CompileError, Result};
use crate::model::{BertModel, Dense, EncoderLayer, Linear, LinearKind};

/// How the chain chooses its masks (and weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PruneMethod {
    Magnitude,
    Wanda,
    Refit,
}

impl PruneMethod {
    pub const ALL: [PruneMethod; 3] = [
        PruneMethod::Magnitude,
        PruneMethod::Wanda,
        PruneMethod::Refit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PruneMethod::Magnitude => "magnitude",
            PruneMethod::Wanda => "wanda",
            PruneMethod::Refit => "refit",
        }
    }

    /// Wanda and refit need calibration statistics of every layer's input.
    pub fn needs_stats(self) -> bool {
        self != PruneMethod::Magnitude
    }
}

impl fmt::Display for PruneMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PruneMethod {
    type Err = CompileError;

    fn from_str(s: &str) -> Result<Self> {
        PruneMethod::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                CompileError::Input(format!(
                    "unknown pruning method {s:?}: expected magnitude, wanda or refit"
                ))
            })
    }
}

/// The saliency that chooses a refit level's mask inside the previous level's, from the previous level's (refitted)
/// weights w. Measured on all-MiniLM-L6-v2 (M = 8, 2,004 calibration tokens, 2,006 held-out tokens; table in
/// docs/compressed-format.md): `Wanda` has the lowest error at 2:8 and 1:8 (calibration 0.0741 and 0.1631 relative
/// output error against 0.0751 and 0.1695 for `ObsSequential`, 0.0803 and 0.1845 for `ObsDiag`; held-out alike) and
/// is within 1.5% of `ObsSequential` from 7:8 to 3:8; `ObsDiag` is the worst at every level. `Wanda` is the default
/// (it also needs no inverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefitMask {
    /// Optimal Brain Surgeon: w_j² / [H_λ⁻¹]_jj.
    ObsDiag,
    /// SparseGPT's sequential saliency w_j² / [U_jj]² with H_λ⁻¹ = UᵀU (here w_j²·L_jj²).
    ObsSequential,
    /// Wanda's |w_j|·‖X_j‖₂.
    #[default]
    Wanda,
}

impl RefitMask {
    pub const ALL: [RefitMask; 3] = [
        RefitMask::ObsDiag,
        RefitMask::ObsSequential,
        RefitMask::Wanda,
    ];
}

/// Calibration statistics of one linear layer's input, from activations X [tokens × in]: the Gram matrix XᵀX in
/// f64 (refit) and the per-feature L2 norms ‖X_j‖₂ = sqrt((XᵀX)_jj) (wanda).
#[derive(Debug, Clone, PartialEq)]
pub struct CalibStats {
    in_features: usize,
    tokens: usize,
    /// `[in][in]` row-major, symmetric.
    gram: Vec<f64>,
    norms: Vec<f64>,
}

impl CalibStats {
    /// Statistics of no tokens yet (add some with [`CalibStats::add_activations`]).
    pub fn empty(in_features: usize) -> Self {
        CalibStats {
            in_features,
            tokens: 0,
            gram: vec![0.0; in_features * in_features],
            norms: vec![0.0; in_features],
        }
    }

    /// Statistics of the activations `x` (one row per token, one column per input feature).
    pub fn from_activations(x: &Dense) -> Result<Self> {
        let mut stats = CalibStats::empty(x.cols);
        stats.add_activations(x)?;
        Ok(stats)
    }

    /// Adds more tokens (e.g. the next calibration batch); `x` must have `in_features` columns.
    pub fn add_activations(&mut self, x: &Dense) -> Result<()> {
        let k = self.in_features;
        if x.cols != k || x.data.len() != x.rows * x.cols {
            return Err(CompileError::Input(format!(
                "calibration activations are {}x{} ({} values), the statistics have {k} features",
                x.rows,
                x.cols,
                x.data.len()
            )));
        }
        if k > 0 && x.rows > 0 {
            // XᵀX in f64: the f32 products are exact, the sums f64 (candle's GEMM).
            let x64: Vec<f64> = x.data.iter().map(|&v| f64::from(v)).collect();
            let t = Tensor::from_vec(x64, (x.rows, k), &Device::Cpu)?;
            let g: Vec<f64> = t.t()?.matmul(&t)?.flatten_all()?.to_vec1()?;
            for (a, b) in self.gram.iter_mut().zip(g) {
                *a += b;
            }
            // Exactly symmetric, whatever the GEMM's summation order.
            for i in 0..k {
                for j in 0..i {
                    let v = 0.5 * (self.gram[i * k + j] + self.gram[j * k + i]);
                    self.gram[i * k + j] = v;
                    self.gram[j * k + i] = v;
                }
            }
            self.norms = (0..k).map(|j| self.gram[j * k + j].sqrt()).collect();
        }
        self.tokens += x.rows;
        Ok(())
    }

    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Number of activation rows folded in.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// XᵀX, `[in][in]` row-major.
    pub fn gram(&self) -> &[f64] {
        &self.gram
    }

    /// ‖X_j‖₂ for every input feature j.
    pub fn norms(&self) -> &[f64] {
        &self.norms
    }

    /// The calibration error of replacing the weight row `reference` by `row`: ‖X·reference − X·row‖² =
    /// (reference − row)ᵀ XᵀX (reference − row), in f64. Rows must have `in_features` entries.
    pub fn row_error(&self, reference: &[f32], row: &[f32]) -> f64 {
        let d: Vec<f64> = reference
            .iter()
            .zip(row)
            .map(|(&a, &b)| f64::from(a) - f64::from(b))
            .collect();
        quadratic_form(&self.gram, &d)
    }

    /// [`CalibStats::row_error`] summed over all rows of two `[out][in]` matrices (rows in parallel).
    pub fn matrix_error(&self, reference: &Dense, w: &Dense) -> f64 {
        (0..reference.rows.min(w.rows))
            .into_par_iter()
            .map(|r| self.row_error(reference.row(r), w.row(r)))
            .sum()
    }
}

/// The calibration statistics of one encoder layer: one per distinct linear input. Q, K and V read the same input
/// (the layer's input hidden state), so they share `qkv` and its Hessian factorisation.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerCalib {
    /// Input of Q, K and V: the layer input `[tokens][d_model]`.
    pub qkv: CalibStats,
    /// Input of the attention output projection: the concatenated head contexts `[tokens][d_model]`.
    pub attn_out: CalibStats,
    /// Input of the first FFN linear: the attention block's LayerNorm output `[tokens][d_model]`.
    pub ffn_in: CalibStats,
    /// Input of the second FFN linear: the GELU output `[tokens][ffn]`.
    pub ffn_out: CalibStats,
}

impl LayerCalib {
    /// The statistics of `kind`'s input.
    pub fn get(&self, kind: LinearKind) -> &CalibStats {
        match kind {
            LinearKind::Q | LinearKind::K | LinearKind::V => &self.qkv,
            LinearKind::AttnOut => &self.attn_out,
            LinearKind::FfnIn => &self.ffn_in,
            LinearKind::FfnOut => &self.ffn_out,
        }
    }

    /// The four distinct inputs in the order qkv, attn_out, ffn_in, ffn_out.
    fn inputs(&self) -> [&CalibStats; 4] {
        [&self.qkv, &self.attn_out, &self.ffn_in, &self.ffn_out]
    }
}

/// Index of `kind`'s input in [`LayerCalib::inputs`] (qkv, attn_out, ffn_in, ffn_out).
pub(crate) fn input_index(kind: LinearKind) -> usize {
    match kind {
        LinearKind::Q | LinearKind::K | LinearKind::V => 0,
        LinearKind::AttnOut => 1,
        LinearKind::FfnIn => 2,
        LinearKind::FfnOut => 3,
    }
}

/// An N:M mask over an `[out][in]` weight matrix, row-major like the weight: `keep[o·in + j]` says whether w_oj may
/// be non-zero. A level-n mask of the chain keeps exactly n entries of every group of m.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NmMask {
    pub n: usize,
    pub m: usize,
    pub out: usize,
    pub in_: usize,
    pub keep: Vec<bool>,
}

impl NmMask {
    /// The dense level N = M: everything kept.
    pub fn dense(out: usize, in_: usize, m: usize) -> Self {
        NmMask {
            n: m,
            m,
            out,
            in_,
            keep: vec![true; out * in_],
        }
    }

    /// Whether the shape is consistent, M supported, 1 ≤ n ≤ m, in a multiple of m, and no group keeps more than n.
    pub fn is_legal(&self) -> bool {
        let shape_ok = sta_golden::nm::NmPattern::new(self.n, self.m).is_ok()
            && self.in_.is_multiple_of(self.m)
            && self.keep.len() == self.out * self.in_;
        shape_ok
            && self
                .keep
                .chunks(self.m)
                .all(|g| g.iter().filter(|&&k| k).count() <= self.n)
    }

    /// Whether every entry kept here is kept by `other` too (same shape and m required).
    pub fn is_subset_of(&self, other: &NmMask) -> bool {
        (self.out, self.in_, self.m) == (other.out, other.in_, other.m)
            && self.keep.len() == other.keep.len()
            && self.keep.iter().zip(&other.keep).all(|(&a, &b)| !a || b)
    }

    pub fn kept(&self, row: usize, col: usize) -> bool {
        self.keep[row * self.in_ + col]
    }

    /// Zeroes (to exactly 0.0) every weight outside the mask.
    pub fn apply(&self, w: &mut Dense) -> Result<()> {
        if (w.rows, w.cols) != (self.out, self.in_) || w.data.len() != self.keep.len() {
            return Err(CompileError::Input(format!(
                "mask is {}x{}, the weight {}x{}",
                self.out, self.in_, w.rows, w.cols
            )));
        }
        for (v, &k) in w.data.iter_mut().zip(&self.keep) {
            if !k {
                *v = 0.0;
            }
        }
        Ok(())
    }
}

/// One level of the chain: the n:m mask and the weight (zero outside the mask).
#[derive(Debug, Clone, PartialEq)]
pub struct PrunedLevel {
    pub n: usize,
    pub mask: NmMask,
    pub weight: Dense,
    /// Refit only: the rows whose refit had a higher calibration error than masking the previous level's weights,
    /// so the masked weights were kept instead (always 0 for magnitude and wanda).
    pub masked_rows: usize,
    /// Refit only: Σ over rows of ‖X·w_dense − X·w‖² on the calibration activations (as tracked by the refit, f64).
    pub calib_error: Option<f64>,
}

/// The chain of one linear layer: levels n = m−1, m−2, …, `target_n` in that order (the dense level N = M is the
/// input itself and is not returned). Refit selects its masks with [`RefitMask::default`].
///
/// Errors (one line, [`CompileError::Input`]): m not in {2, 4, 8, 16} or not dividing in_features, target_n not in
/// 1..m, wanda or refit without statistics, statistics of another width, no calibration tokens, non-finite weights.
pub fn prune_chain(
    linear: &Linear,
    m: usize,
    target_n: usize,
    method: PruneMethod,
    stats: Option<&CalibStats>,
) -> Result<Vec<PrunedLevel>> {
    prune_chain_with(linear, m, target_n, method, stats, RefitMask::default())
}

/// [`prune_chain`] with an explicit mask saliency for refit (ignored by magnitude and wanda).
pub fn prune_chain_with(
    linear: &Linear,
    m: usize,
    target_n: usize,
    method: PruneMethod,
    stats: Option<&CalibStats>,
    refit_mask: RefitMask,
) -> Result<Vec<PrunedLevel>> {
    let w = &linear.weight;
    check_chain(w, m, target_n, method, stats)?;
    let factor = match (method, stats) {
        (PruneMethod::Refit, Some(s)) => Some(Factor::new(s, refit_mask == RefitMask::ObsDiag)?),
        _ => None,
    };
    chain(
        w,
        m,
        target_n,
        method,
        stats,
        factor.as_ref(),
        refit_mask,
        &|_| {},
    )
}

/// Called as `progress(n, layer, kind)` when level n of one linear layer is done (from worker threads).
pub type Progress<'a> = &'a (dyn Fn(usize, usize, LinearKind) + Sync);

/// The chain of a whole model: for n = m−1 down to `target_n`, the model with every linear layer of every encoder
/// layer (Q, K, V, AttnOut, FfnIn, FfnOut) pruned to n:m; biases, LayerNorms and embeddings are copied. `stats` (one
/// [`LayerCalib`] per encoder layer, from the dense model's activations) is required by wanda and refit; each layer
/// input's Hessian is factorised once and shared by the linears that read it.
pub fn prune_model_chain(
    model: &BertModel,
    m: usize,
    target_n: usize,
    method: PruneMethod,
    stats: Option<&[LayerCalib]>,
    progress: Option<Progress<'_>>,
) -> Result<Vec<(usize, BertModel)>> {
    if let Some(s) = stats {
        if s.len() != model.layers.len() {
            return Err(CompileError::Input(format!(
                "calibration statistics cover {} layers, the model has {}",
                s.len(),
                model.layers.len()
            )));
        }
    }
    let stats = if method.needs_stats() { stats } else { None };
    for (l, layer) in model.layers.iter().enumerate() {
        for kind in LinearKind::ALL {
            let s = stats.map(|s| s[l].get(kind));
            check_chain(&layer.linear(kind).weight, m, target_n, method, s)
                .map_err(|e| in_layer(l, kind, e))?;
        }
    }
    // Every level gets its own copy of everything but the linear weights, which come from the chains.
    let skeleton = BertModel {
        dims: model.dims,
        embeddings: model.embeddings.clone(),
        layers: model.layers.iter().map(without_linear_weights).collect(),
    };
    let mut levels: Vec<(usize, BertModel)> =
        (target_n..m).rev().map(|n| (n, skeleton.clone())).collect();
    drop(skeleton);
    for (l, layer) in model.layers.iter().enumerate() {
        let calib = stats.map(|s| &s[l]);
        let factors: Vec<Option<Factor>> = match calib {
            Some(c) if method == PruneMethod::Refit => c
                .inputs()
                .into_par_iter()
                .map(|s| Factor::new(s, RefitMask::default() == RefitMask::ObsDiag).map(Some))
                .collect::<Result<_>>()
                .map_err(|e| CompileError::Input(format!("layer {l}: {e}")))?,
            _ => vec![None, None, None, None],
        };
        let chains: Vec<(LinearKind, Vec<PrunedLevel>)> = LinearKind::ALL
            .into_par_iter()
            .map(|kind| {
                let on_level = |n: usize| {
                    if let Some(p) = progress {
                        p(n, l, kind)
                    }
                };
                let levels = chain(
                    &layer.linear(kind).weight,
                    m,
                    target_n,
                    method,
                    calib.map(|c| c.get(kind)),
                    factors[input_index(kind)].as_ref(),
                    RefitMask::default(),
                    &on_level,
                );
                levels
                    .map(|levels| (kind, levels))
                    .map_err(|e| in_layer(l, kind, e))
            })
            .collect::<Result<_>>()?;
        for (kind, chain) in chains {
            for ((_, level_model), level) in levels.iter_mut().zip(chain) {
                level_model.layers[l].linear_mut(kind).weight = level.weight;
            }
        }
    }
    Ok(levels)
}

/// A copy of `layer` with empty linear weights (biases and LayerNorms kept).
fn without_linear_weights(layer: &EncoderLayer) -> EncoderLayer {
    let bias_only = |l: &Linear| Linear {
        weight: Dense::default(),
        bias: l.bias.clone(),
    };
    EncoderLayer {
        q: bias_only(&layer.q),
        k: bias_only(&layer.k),
        v: bias_only(&layer.v),
        attn_out: bias_only(&layer.attn_out),
        ln_attn: layer.ln_attn.clone(),
        ffn_in: bias_only(&layer.ffn_in),
        ffn_out: bias_only(&layer.ffn_out),
        ln_ffn: layer.ln_ffn.clone(),
    }
}

fn in_layer(layer: usize, kind: LinearKind, e: CompileError) -> CompileError {
    match e {
        CompileError::Input(msg) => {
            CompileError::Input(format!("layer {layer} {}: {msg}", kind.name()))
        }
        other => other,
    }
}

/// Every parameter check of a chain, one line each.
fn check_chain(
    w: &Dense,
    m: usize,
    target_n: usize,
    method: PruneMethod,
    stats: Option<&CalibStats>,
) -> Result<()> {
    let input = |msg: String| Err(CompileError::Input(msg));
    if !sta_golden::nm::NmPattern::SUPPORTED_M.contains(&m) {
        return input(format!("M = {m} is not supported: M must be 2, 4, 8 or 16"));
    }
    if !w.cols.is_multiple_of(m) {
        return input(format!(
            "in_features = {} is not a multiple of M = {m} (N:M groups run along the input dimension)",
            w.cols
        ));
    }
    if target_n == 0 || target_n >= m {
        return input(format!(
            "target N = {target_n} is out of range for M = {m}: N must be in 1..{m} (1 to {})",
            m - 1
        ));
    }
    if w.data.len() != w.rows * w.cols {
        return input(format!(
            "weight holds {} values, not {}x{}",
            w.data.len(),
            w.rows,
            w.cols
        ));
    }
    if let Some(i) = w.data.iter().position(|v| !v.is_finite()) {
        return input(format!(
            "weight [{}][{}] = {} is not finite",
            i / w.cols,
            i % w.cols,
            w.data[i]
        ));
    }
    if method.needs_stats() {
        let Some(s) = stats else {
            return input(format!(
                "pruning method {method} needs calibration statistics of the layer input (none given); \
                 magnitude needs none"
            ));
        };
        if s.in_features() != w.cols {
            return input(format!(
                "calibration statistics have {} features, the layer has in_features = {}",
                s.in_features(),
                w.cols
            ));
        }
        if s.tokens() == 0 {
            return input("calibration statistics hold no tokens".to_string());
        }
    }
    Ok(())
}

/// The chain on validated input (`factor` present exactly for refit).
#[allow(clippy::too_many_arguments)]
fn chain(
    w: &Dense,
    m: usize,
    target_n: usize,
    method: PruneMethod,
    stats: Option<&CalibStats>,
    factor: Option<&Factor>,
    refit_mask: RefitMask,
    on_level: &(dyn Fn(usize) + Sync),
) -> Result<Vec<PrunedLevel>> {
    let refit = match (method, factor) {
        (PruneMethod::Refit, Some(f)) => Some(f),
        _ => None,
    };
    // Without a refit the kept weights are the dense ones, so the scores never change.
    let fixed_scores = match refit {
        None => Some(scores(w, method, stats, None, refit_mask)),
        Some(_) => None,
    };
    let mut levels: Vec<PrunedLevel> = Vec::with_capacity(m - target_n);
    for n in (target_n..m).rev() {
        let dense_mask;
        let (prev_mask, prev_weight) = match levels.last() {
            Some(level) => (&level.mask, &level.weight),
            None => {
                dense_mask = NmMask::dense(w.rows, w.cols, m);
                (&dense_mask, w)
            }
        };
        let level = match (refit, &fixed_scores) {
            (Some(f), _) => {
                let s = scores(prev_weight, method, stats, Some(f), refit_mask);
                refit_level(w, prev_weight, select(prev_mask, &s, n), f)?
            }
            (None, Some(s)) => {
                let mask = select(prev_mask, s, n);
                let mut weight = w.clone();
                mask.apply(&mut weight)?;
                PrunedLevel {
                    n,
                    mask,
                    weight,
                    masked_rows: 0,
                    calib_error: None,
                }
            }
            (None, None) => unreachable!("scores are fixed without a refit"),
        };
        on_level(n);
        levels.push(level);
    }
    Ok(levels)
}

/// Per-weight scores of `w` (higher = keep); f64 so that products of f32 values are exact.
fn scores(
    w: &Dense,
    method: PruneMethod,
    stats: Option<&CalibStats>,
    factor: Option<&Factor>,
    refit_mask: RefitMask,
) -> Vec<f64> {
    let k = w.cols.max(1);
    let per_col = |f: &(dyn Fn(f64, usize) -> f64 + Sync)| -> Vec<f64> {
        w.data
            .par_iter()
            .enumerate()
            .map(|(i, &v)| f(f64::from(v), i % k))
            .collect()
    };
    let norms = stats.map(CalibStats::norms).unwrap_or(&[]);
    match (method, factor) {
        (PruneMethod::Magnitude, _) => per_col(&|v, _| v.abs()),
        (PruneMethod::Refit, Some(f)) => match (refit_mask, &f.hinv_diag) {
            (RefitMask::ObsDiag, Some(d)) => per_col(&|v, j| v * v / d[j]),
            (RefitMask::ObsSequential, _) | (RefitMask::ObsDiag, None) => {
                per_col(&|v, j| v * v * f.l[j * f.k + j] * f.l[j * f.k + j])
            }
            (RefitMask::Wanda, _) => per_col(&|v, j| v.abs() * norms[j]),
        },
        _ => per_col(&|v, j| v.abs() * norms[j]),
    }
}

/// The level-n mask inside `prev`: in every group, the n highest scores among the entries `prev` keeps, ties to the
/// lower index.
pub(crate) fn select(prev: &NmMask, scores: &[f64], n: usize) -> NmMask {
    let m = prev.m;
    let mut keep = vec![false; prev.keep.len()];
    keep.par_chunks_mut(m * 1024)
        .zip(prev.keep.par_chunks(m * 1024))
        .zip(scores.par_chunks(m * 1024))
        .for_each(|((keep, prev), scores)| {
            let mut order: Vec<usize> = Vec::with_capacity(m);
            for ((kg, pg), sg) in keep.chunks_mut(m).zip(prev.chunks(m)).zip(scores.chunks(m)) {
                order.clear();
                order.extend((0..m).filter(|&j| pg[j]));
                order.sort_by(|&a, &b| sg[b].total_cmp(&sg[a]).then(a.cmp(&b)));
                for &j in order.iter().take(n) {
                    kg[j] = true;
                }
            }
        });
    NmMask {
        n,
        keep,
        ..prev.clone()
    }
}

/// One refit level. Two candidates per row, solved in one pass: the refit (pruned entries to 0, kept entries solved
/// from the dense weights) and `prev_weight` masked; the one with the lower calibration error is kept.
fn refit_level(
    dense: &Dense,
    prev_weight: &Dense,
    mask: NmMask,
    f: &Factor,
) -> Result<PrunedLevel> {
    let (out, k) = (dense.rows, dense.cols);
    let size = out * k;
    // Rows 0..out: the refit (free = kept entries). Rows out..2·out: the masked previous level (nothing free).
    let mut delta = vec![0.0f64; 2 * size];
    let mut free = vec![false; 2 * size];
    let (refit_delta, masked_delta) = delta.split_at_mut(size);
    for i in 0..size {
        let wd = f64::from(dense.data[i]);
        if mask.keep[i] {
            free[i] = true;
            masked_delta[i] = f64::from(prev_weight.data[i]) - wd;
        } else {
            refit_delta[i] = -wd;
            masked_delta[i] = -wd;
        }
    }
    let errs = f.solve_rows(&mut delta, &free)?;
    let mut weight = Dense::zeros(out, k);
    let mut masked_rows = 0;
    let mut calib_error = 0.0;
    for r in 0..out {
        let row = r * k..(r + 1) * k;
        let (refit_err, mask_err) = (errs[r], errs[out + r]);
        let o = &mut weight.data[row.clone()];
        if refit_err <= mask_err {
            for (((o, &d), &wd), &kp) in o
                .iter_mut()
                .zip(&delta[row.clone()])
                .zip(&dense.data[row.clone()])
                .zip(&mask.keep[row])
            {
                *o = if kp { (f64::from(wd) + d) as f32 } else { 0.0 };
            }
            calib_error += refit_err.max(0.0);
        } else {
            for ((o, &p), &kp) in o
                .iter_mut()
                .zip(&prev_weight.data[row.clone()])
                .zip(&mask.keep[row])
            {
                *o = if kp { p } else { 0.0 };
            }
            calib_error += mask_err.max(0.0);
            masked_rows += 1;
        }
    }
    Ok(PrunedLevel {
        n: mask.n,
        mask,
        weight,
        masked_rows,
        calib_error: Some(calib_error),
    })
}

/// Columns per block of the refit solve and of the Cholesky factorisation: within a block the work is sequential
/// dots, across blocks it is one GEMM.
const BLOCK: usize = 128;

/// The dampened Hessian of one layer input, factorised: H + λI = LᵀL with L lower triangular (row-major), λ =
/// 0.01·mean(diag H) (1.0 when H is zero), its column-block panels for the solve, and optionally diag((H + λI)⁻¹)
/// for the OBS saliency.
struct Factor {
    k: usize,
    lambda: f64,
    l: Vec<f64>,
    /// For column block b (columns j0..j1), L[j1..k][j0..j1] transposed: a (j1 − j0) × (k − j1) tensor; `None` for the
    /// last block.
    panels: Vec<Option<Tensor>>,
    hinv_diag: Option<Vec<f64>>,
}

impl Factor {
    fn new(stats: &CalibStats, with_inverse_diag: bool) -> Result<Self> {
        let k = stats.in_features;
        let h = &stats.gram;
        let mean_diag = (0..k).map(|j| h[j * k + j]).sum::<f64>() / k.max(1) as f64;
        let lambda = if mean_diag > 0.0 {
            0.01 * mean_diag
        } else {
            1.0
        };
        // A = J(H + λI)J (J reverses the order); A = L̃L̃ᵀ; then H + λI = LᵀL with L_ij = L̃_(k−1−j)(k−1−i).
        let mut a = vec![0.0f64; k * k];
        for i in 0..k {
            for j in 0..=i {
                let (ri, rj) = (k - 1 - i, k - 1 - j);
                a[i * k + j] = h[ri * k + rj] + if i == j { lambda } else { 0.0 };
            }
        }
        if let Err(pivot) = cholesky_lower(&mut a, k)? {
            return Err(CompileError::Input(format!(
                "the calibration Gram matrix ({k} features, λ = {lambda:e}) is not positive definite at feature {}: \
                 are the activations finite?",
                k - 1 - pivot
            )));
        }
        let hinv_diag = with_inverse_diag.then(|| {
            // diag(A⁻¹)_c = ‖L̃⁻¹ e_c‖², and diag((H + λI)⁻¹)_j = diag(A⁻¹)_(k−1−j).
            let col_norms: Vec<f64> = (0..k)
                .into_par_iter()
                .map(|c| inverse_column_norm(&a, k, c))
                .collect();
            col_norms.into_iter().rev().collect()
        });
        let mut l = vec![0.0f64; k * k];
        for i in 0..k {
            for j in 0..=i {
                l[i * k + j] = a[(k - 1 - j) * k + (k - 1 - i)];
            }
        }
        let mut panels = Vec::new();
        for j0 in (0..k).step_by(BLOCK) {
            let j1 = (j0 + BLOCK).min(k);
            panels.push(if j1 < k {
                let t: Vec<f64> = (j0..j1)
                    .flat_map(|c| (j1..k).map(move |r| (r, c)))
                    .map(|(r, c)| l[r * k + c])
                    .collect();
                Some(Tensor::from_vec(t, (j1 - j0, k - j1), &Device::Cpu)?)
            } else {
                None
            });
        }
        Ok(Factor {
            k,
            lambda,
            l,
            panels,
            hinv_diag,
        })
    }

    /// Solves rows δ (row-major, `k` columns) in place: entries marked `free` are chosen so that (Lδ)_j = 0 there
    /// (SparseGPT's sweep), the others are given. Returns each row's undampened calibration error
    /// δᵀHδ = ‖Lδ‖² − λ‖δ‖².
    fn solve_rows(&self, delta: &mut [f64], free: &[bool]) -> Result<Vec<f64>> {
        let k = self.k;
        let rows = delta.len() / k.max(1);
        // s[r][j]: Σ over the finished blocks of L_ji·δ_ri.
        let mut s = vec![0.0f64; delta.len()];
        let mut zsq = vec![0.0f64; rows];
        for (panel, j0) in self.panels.iter().zip((0..k).step_by(BLOCK)) {
            let j1 = (j0 + BLOCK).min(k);
            delta
                .par_chunks_mut(k)
                .zip(s.par_chunks(k))
                .zip(free.par_chunks(k))
                .zip(zsq.par_iter_mut())
                .for_each(|(((d, s), free), zsq)| {
                    for j in j0..j1 {
                        let lrow = &self.l[j * k..j * k + j + 1];
                        let partial = s[j] + dot(&lrow[j0..j], &d[j0..j]);
                        if free[j] {
                            d[j] = -partial / lrow[j];
                        } else {
                            let z = partial + lrow[j] * d[j];
                            *zsq += z * z;
                        }
                    }
                });
            if let Some(panel) = panel {
                let block: Vec<f64> = delta
                    .chunks(k)
                    .flat_map(|d| d[j0..j1].iter().copied())
                    .collect();
                let update: Vec<f64> = Tensor::from_vec(block, (rows, j1 - j0), &Device::Cpu)?
                    .matmul(panel)?
                    .flatten_all()?
                    .to_vec1()?;
                s.par_chunks_mut(k)
                    .zip(update.par_chunks(k - j1))
                    .for_each(|(s, u)| axpy(&mut s[j1..], 1.0, u));
            }
        }
        Ok(delta
            .chunks(k.max(1))
            .zip(zsq)
            .map(|(d, z)| z - self.lambda * dot(d, d))
            .collect())
    }
}

/// ‖L̃⁻¹ e_c‖² for the lower-triangular `l` (`k`×`k` row-major): forward substitution from row c.
fn inverse_column_norm(l: &[f64], k: usize, c: usize) -> f64 {
    let mut y = vec![0.0f64; k - c];
    let mut norm = 0.0;
    for i in c..k {
        let row = &l[i * k + c..i * k + i];
        let rhs = if i == c { 1.0 } else { 0.0 };
        let v = (rhs - dot(row, &y[..i - c])) / l[i * k + i];
        y[i - c] = v;
        norm += v * v;
    }
    norm
}

/// In-place lower Cholesky factorisation A = L̃L̃ᵀ of the symmetric positive-definite `k`×`k` row-major `a` (only its
/// lower triangle is read; L̃ replaces it, the strict upper triangle becomes scratch). Right-looking and blocked:
/// the trailing update of every block is one GEMM. Inner Err(i): the pivot of row i was not positive (or not
/// finite).
fn cholesky_lower(a: &mut [f64], k: usize) -> Result<std::result::Result<(), usize>> {
    let mut k0 = 0;
    while k0 < k {
        let k1 = (k0 + BLOCK).min(k);
        let b = k1 - k0;
        for i in k0..k1 {
            for j in k0..=i {
                let s = a[i * k + j] - dot(&a[i * k + k0..i * k + j], &a[j * k + k0..j * k + j]);
                if i == j {
                    if !(s > 0.0 && s.is_finite()) {
                        return Ok(Err(i));
                    }
                    a[i * k + i] = s.sqrt();
                } else {
                    a[i * k + j] = s / a[j * k + j];
                }
            }
        }
        if k1 == k {
            break;
        }
        let diag: Vec<f64> = (k0..k1)
            .flat_map(|i| a[i * k + k0..i * k + k1].iter().copied())
            .collect();
        a[k1 * k..].par_chunks_mut(k).for_each(|row| {
            for j in 0..b {
                let s = row[k0 + j] - dot(&row[k0..k0 + j], &diag[j * b..j * b + j]);
                row[k0 + j] = s / diag[j * b + j];
            }
        });
        let panel: Vec<f64> = a[k1 * k..]
            .chunks(k)
            .flat_map(|row| row[k0..k1].iter().copied())
            .collect();
        let p = Tensor::from_vec(panel, (k - k1, b), &Device::Cpu)?;
        let update: Vec<f64> = p.matmul(&p.t()?)?.flatten_all()?.to_vec1()?;
        let rest = k - k1;
        a[k1 * k..]
            .par_chunks_mut(k)
            .zip(update.par_chunks(rest))
            .enumerate()
            .for_each(|(ii, (row, u))| axpy(&mut row[k1..=k1 + ii], -1.0, &u[..=ii]));
        k0 = k1;
    }
    Ok(Ok(()))
}

/// xᵀGx for the symmetric `k`×`k` row-major `g`.
fn quadratic_form(g: &[f64], x: &[f64]) -> f64 {
    let k = x.len();
    x.iter()
        .enumerate()
        .filter(|(_, &xi)| xi != 0.0)
        .map(|(i, &xi)| xi * dot(&g[i * k..(i + 1) * k], x))
        .sum()
}

/// Σ a_i·b_i with eight independent partial sums (so the compiler can vectorise it).
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// y += a·x.
#[inline]
fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random_dense(rows: usize, cols: usize, seed: u64) -> Dense {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Dense {
            rows,
            cols,
            data: (0..rows * cols)
                .map(|_| rng.gen_range(-1.0f32..1.0))
                .collect(),
        }
    }

    fn stats_of(x: &Dense) -> CalibStats {
        CalibStats::from_activations(x).expect("valid activations")
    }

    #[test]
    fn cholesky_reconstructs_the_matrix() {
        for k in [1, 5, 64, 65, 130] {
            let x = random_dense(3 * k + 7, k, k as u64);
            let stats = stats_of(&x);
            let f = Factor::new(&stats, true).expect("positive definite");
            // LᵀL = H + λI.
            for i in 0..k {
                for j in 0..k {
                    let v: f64 = (0..k).map(|r| f.l[r * k + i] * f.l[r * k + j]).sum();
                    let h = stats.gram[i * k + j] + if i == j { f.lambda } else { 0.0 };
                    assert!(
                        (v - h).abs() <= 1e-9 * h.abs().max(1.0),
                        "k {k} ({i},{j}): {v} vs {h}"
                    );
                }
            }
            // The diagonal of the inverse, from two triangular solves of LᵀL y = e_j.
            let d = f.hinv_diag.as_ref().expect("computed");
            for (j, &dj) in d.iter().enumerate() {
                let mut u = vec![0.0; k];
                for r in (0..k).rev() {
                    let s: f64 = (r + 1..k).map(|c| f.l[c * k + r] * u[c]).sum();
                    u[r] = (if r == j { 1.0 } else { 0.0 } - s) / f.l[r * k + r];
                }
                let mut y = vec![0.0; k];
                for r in 0..k {
                    let s: f64 = (0..r).map(|c| f.l[r * k + c] * y[c]).sum();
                    y[r] = (u[r] - s) / f.l[r * k + r];
                }
                assert!(
                    (y[j] - dj).abs() <= 1e-9 * dj.abs(),
                    "k {k} diag {j}: {} vs {dj}",
                    y[j]
                );
            }
        }
    }

    #[test]
    fn gram_matches_the_definition_and_accumulates() {
        let x = random_dense(150, 7, 1);
        let s = stats_of(&x);
        for i in 0..7 {
            for j in 0..7 {
                let v: f64 = (0..150)
                    .map(|t| f64::from(x.data[t * 7 + i]) * f64::from(x.data[t * 7 + j]))
                    .sum();
                assert!((s.gram()[i * 7 + j] - v).abs() < 1e-9);
            }
            assert!((s.norms()[i] - s.gram()[i * 7 + i].sqrt()).abs() < 1e-12);
        }
        let mut a = stats_of(&Dense {
            rows: 100,
            cols: 7,
            data: x.data[..700].to_vec(),
        });
        a.add_activations(&Dense {
            rows: 50,
            cols: 7,
            data: x.data[700..].to_vec(),
        })
        .expect("same width");
        assert_eq!(a.tokens(), 150);
        for (u, v) in a.gram().iter().zip(s.gram()) {
            assert!((u - v).abs() < 1e-9);
        }
        assert!(a.add_activations(&Dense::zeros(1, 6)).is_err());
    }

    #[test]
    fn solve_rows_is_the_sweep_and_its_error_the_direct_error() {
        // k = 150 spans three blocks.
        let (out, k) = (5, 150);
        let stats = stats_of(&random_dense(400, k, 3));
        let f = Factor::new(&stats, false).expect("pd");
        let w = random_dense(out, k, 4);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let free: Vec<bool> = (0..out * k).map(|_| rng.gen_bool(0.5)).collect();
        let mut delta: Vec<f64> = w
            .data
            .iter()
            .zip(&free)
            .map(|(&v, &fr)| if fr { 0.0 } else { -f64::from(v) })
            .collect();
        let errs = f.solve_rows(&mut delta, &free).expect("solves");
        for r in 0..out {
            let d = &delta[r * k..(r + 1) * k];
            // (Lδ)_j = 0 on the free entries, δ unchanged on the others.
            for j in 0..k {
                let z: f64 = (0..=j).map(|i| f.l[j * k + i] * d[i]).sum();
                if free[r * k + j] {
                    assert!(z.abs() < 1e-9 * f.l[j * k + j], "row {r} col {j}: z = {z}");
                } else {
                    assert_eq!(d[j], -f64::from(w.data[r * k + j]));
                }
            }
            let row: Vec<f32> = w
                .row(r)
                .iter()
                .zip(d)
                .map(|(&v, &d)| (f64::from(v) + d) as f32)
                .collect();
            let direct = stats.row_error(w.row(r), &row);
            assert!(
                (direct - errs[r]).abs() <= 1e-6 * direct.max(1e-3),
                "{direct} vs {}",
                errs[r]
            );
        }
    }

    #[test]
    fn method_names_parse() {
        for m in PruneMethod::ALL {
            assert_eq!(m.name().parse::<PruneMethod>().expect("known"), m);
            assert_eq!(
                serde_json::to_string(&m).expect("json"),
                format!("\"{}\"", m.name())
            );
        }
        let err = "sparsegpt"
            .parse::<PruneMethod>()
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("magnitude, wanda or refit") && !err.contains('\n'));
    }
}

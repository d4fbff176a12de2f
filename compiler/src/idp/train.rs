//! Fine-tuning one N:M level by distillation, with the mask allowed to change inside the inherited set.
//!
//! The schedule of a level of S steps with mask selections every K steps (K > 0 and S ≥ 2K):
//! 1. **Select**: from activation statistics of the student as it starts the level (a forward pass over the first
//!    `stats_batches` batches), every group keeps the n entries of the allowed (inherited) set with the highest
//!    |w|·‖x_j‖ (Wanda's saliency). The allowed entries it prunes go to the reserve with their value.
//! 2. **Dynamic phase**, steps 0 … F−1 (F = the last multiple of K with F ≤ S − K): training with the weights exactly
//!    zero outside the mask (gradients masked, mask applied again after every AdamW step). At steps K, 2K, …, F the
//!    mask is selected again inside the allowed set from the trained weights, the reserve's values and the
//!    activation norms gathered since the last selection: a kept weight that lost importance goes to the reserve
//!    and the reserve entry of its group that now scores higher comes back with its value.
//! 3. **Frozen phase**, steps F … S−1: the mask chosen at step F is final; at the end of the level the reserve is
//!    dropped and the mask becomes the next level's allowed set.
//!
//! Reserve entries are not trained while pruned: a straight-through gradient (training them as if they were kept)
//! lets them drift while they have no effect on the loss, and bringing them back then jolts the model (measured on
//! MiniLM, docs/idp.md). With K = 0 (or S < 2K) the first mask is final (a static mask). The learning rate warms up
//! linearly over `warmup` steps, then follows a cosine from its peak (`lr` scaled by the level's sparsity / 0.5) to 0
//! at step S; one AdamW runs
//! through the level. Batches are drawn from a shuffle of the training sentences seeded by (seed, M, n), reshuffled
//! every epoch, so a level's training depends only on its starting weights and its allowed masks: resuming gives the
//! same result.

use std::time::Instant;

use candle_core::Tensor;
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::data::{distillation_loss, TrainingData};
use super::student::{LinearInputs, Student};
use crate::error::{CompileError, Result};
use crate::model::LinearKind;
use crate::prune::{input_index, select, NmMask};

/// The hyper-parameters of a level's fine-tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Sentences per step.
    pub batch: usize,
    /// Peak learning rate (AdamW, no weight decay) of a level at 50 % sparsity; a level of sparsity s = 1 − n/M
    /// peaks at `lr · s / 0.5` (measured on MiniLM: 3e-4 damages a 7:8 level that 1e-4 improves, while 4:8 trained
    /// from dense does better at 3e-4 than at 1e-4; docs/idp.md).
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup: usize,
    /// Steps between mask selections (0: the level's first mask is final).
    pub update_every: usize,
    /// Weight of the hidden-state MSE term against the embedding cosine term.
    pub hidden_weight: f64,
    /// Batches of the statistics pass that selects a level's first mask.
    pub stats_batches: usize,
    /// IDP levels: the share of a level's steps over which the weights the level prunes fade out (0: they vanish at
    /// the first step).
    #[serde(default)]
    pub fade: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch: 16,
            lr: 2e-4,
            warmup: 20,
            update_every: 100,
            hidden_weight: 1.0,
            stats_batches: 8,
            fade: 0.0,
            seed: 0,
        }
    }
}

/// What a level's training reports while it runs.
#[derive(Debug, Clone, Copy)]
pub enum TrainEvent {
    /// Step `step` (0-based) of `steps` is done with this loss.
    Step {
        step: usize,
        steps: usize,
        loss: f64,
    },
    /// The mask was selected again before step `step`; `changed` is the fraction of weights that changed state.
    MaskUpdate { step: usize, changed: f64 },
}

/// One mask selection during a level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MaskUpdate {
    pub step: usize,
    /// Fraction of all masked weights whose kept/pruned state changed.
    pub changed: f64,
}

/// What a level's training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelTraining {
    pub steps: usize,
    /// The loss of every step.
    pub losses: Vec<f32>,
    pub mask_updates: Vec<MaskUpdate>,
    /// The step from which the mask was frozen.
    pub frozen_from: usize,
    /// Tokens of all training batches.
    pub tokens: usize,
    pub seconds: f64,
}

/// The order in which a level draws its sentences.
struct BatchOrder {
    rng: ChaCha8Rng,
    order: Vec<usize>,
    next: usize,
    batch: usize,
}

impl BatchOrder {
    fn new(sentences: usize, batch: usize, seed: u64, m: usize, n: usize) -> BatchOrder {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(((m as u64) << 32) | n as u64);
        BatchOrder {
            rng,
            order: (0..sentences).collect(),
            next: sentences, // shuffle before the first batch
            batch: batch.min(sentences).max(1),
        }
    }

    fn next_batch(&mut self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.batch);
        while out.len() < self.batch {
            if self.next == self.order.len() {
                self.order.shuffle(&mut self.rng);
                self.next = 0;
            }
            out.push(self.order[self.next]);
            self.next += 1;
        }
        out
    }
}

/// Σ over tokens of x_j² for every linear input of every layer (gathered without gradients).
struct ActivationNorms {
    /// Per layer: qkv, attn_out, ffn_in, ffn_out.
    sums: Vec<[Option<Tensor>; 4]>,
}

impl ActivationNorms {
    fn new(layers: usize) -> ActivationNorms {
        ActivationNorms {
            sums: (0..layers).map(|_| [None, None, None, None]).collect(),
        }
    }

    fn add(&mut self, inputs: &[LinearInputs]) -> Result<()> {
        for (sums, ins) in self.sums.iter_mut().zip(inputs) {
            for (slot, x) in [&ins.qkv, &ins.attn_out, &ins.ffn_in, &ins.ffn_out]
                .into_iter()
                .enumerate()
            {
                let s = x.detach().sqr()?.sum(0)?;
                sums[slot] = Some(match sums[slot].take() {
                    Some(acc) => (acc + s)?,
                    None => s,
                });
            }
        }
        Ok(())
    }

    /// ‖X_j‖₂ of `kind`'s input in `layer`.
    fn norms(&self, layer: usize, kind: LinearKind) -> Result<Vec<f64>> {
        let sum = self.sums[layer][input_index(kind)]
            .as_ref()
            .ok_or_else(|| CompileError::Input("no activation statistics gathered".to_string()))?;
        Ok(sum
            .to_vec1::<f32>()?
            .into_iter()
            .map(|v| f64::from(v).sqrt())
            .collect())
    }
}

/// Selects every linear's mask inside its allowed set: the n entries of each group with the highest |w|·‖x_j‖.
/// Returns the fraction of weights whose state changed.
fn select_masks(student: &mut Student, norms: &ActivationNorms, n: usize) -> Result<f64> {
    let (mut changed, mut total) = (0f64, 0f64);
    for (l, kind, lin) in student.linears_mut() {
        let norm = norms.norms(l, kind)?;
        let w: Vec<f32> = lin.latent()?.flatten_all()?.to_vec1()?;
        let k = norm.len();
        let scores: Vec<f64> = w
            .iter()
            .enumerate()
            .map(|(i, &v)| f64::from(v).abs() * norm[i % k])
            .collect();
        let mask: NmMask = select(&lin.allowed, &scores, n);
        let size = mask.keep.len() as f64;
        changed += lin.set_current(mask)? * size;
        total += size;
    }
    Ok(changed / total.max(1.0))
}

/// The peak learning rate of a level at `sparsity` (1 − n/M): `cfg.lr` scaled by sparsity / 0.5.
pub fn level_lr(cfg: &TrainConfig, sparsity: f64) -> f64 {
    cfg.lr * sparsity / 0.5
}

/// The learning rate of `step` for a level peaking at `peak`: linear warm-up, then a cosine from the peak down to 0
/// at `steps` (the last steps average out the gradient noise instead of adding to it).
pub fn learning_rate(cfg: &TrainConfig, peak: f64, step: usize, steps: usize) -> f64 {
    let warmup = cfg.warmup.min(steps);
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = (steps - warmup).max(1) as f64;
    let t = (step - warmup) as f64 / span;
    peak * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

/// The share of the reserve's values in the forward pass at `step`: a cosine from 1 at step 0 to 0 at
/// `fraction · steps`, 0 after.
pub fn fade_share(step: usize, steps: usize, fraction: f64) -> f64 {
    let span = fraction * steps as f64;
    if span < 1.0 || step as f64 >= span {
        0.0
    } else {
        0.5 * (1.0 + (std::f64::consts::PI * step as f64 / span).cos())
    }
}

/// The first step of the frozen phase (see the module documentation).
pub fn frozen_from(steps: usize, update_every: usize) -> usize {
    if update_every == 0 || steps < 2 * update_every {
        0
    } else {
        update_every * ((steps - update_every) / update_every)
    }
}

fn optimizer(student: &Student, lr: f64) -> Result<AdamW> {
    let params = ParamsAdamW {
        lr,
        weight_decay: 0.0,
        ..ParamsAdamW::default()
    };
    Ok(AdamW::new(student.vars(), params)?)
}

/// One optimiser step on one batch (activation norms of the step's linear inputs added to `norms`); returns the loss.
fn train_step(
    student: &Student,
    opt: &mut AdamW,
    data: &TrainingData,
    indices: &[usize],
    hidden_weight: f64,
    norms: &mut ActivationNorms,
) -> Result<f64> {
    let batch = data.batch(indices)?;
    let pass = student.forward(&batch.x, &batch.packing)?;
    norms.add(&pass.inputs)?;
    let loss = distillation_loss(&pass, &batch, data, hidden_weight)?;
    let value = f64::from(loss.to_scalar::<f32>()?);
    if !value.is_finite() {
        return Err(CompileError::Input(format!(
            "the training loss is {value}: lower the learning rate"
        )));
    }
    let mut grads = loss.backward()?;
    student.mask_gradients(&mut grads)?;
    opt.step(&grads)?;
    student.apply_masks()?;
    Ok(value)
}

/// `steps` optimiser steps on the one batch `indices` at a constant learning rate, masks as they are; returns the
/// loss before each step (tests and timing).
pub fn train_fixed_batch(
    student: &Student,
    data: &TrainingData,
    indices: &[usize],
    steps: usize,
    cfg: &TrainConfig,
) -> Result<Vec<f64>> {
    let mut opt = optimizer(student, cfg.lr)?;
    let mut norms = ActivationNorms::new(student.layers.len());
    (0..steps)
        .map(|_| {
            train_step(
                student,
                &mut opt,
                data,
                indices,
                cfg.hidden_weight,
                &mut norms,
            )
        })
        .collect()
}

/// Fine-tunes `student` at level n:M (M = `student.m`) for `steps` steps with masks inside each linear's allowed
/// set (set by the caller: the previous level's masks, or dense). On return every linear is frozen: its weight is
/// exactly zero outside its final mask, which is also its allowed set (the next level inherits it).
pub fn train_level(
    student: &mut Student,
    data: &TrainingData,
    n: usize,
    steps: usize,
    cfg: &TrainConfig,
    fade: bool,
    on_event: &mut dyn FnMut(TrainEvent),
) -> Result<LevelTraining> {
    let start = Instant::now();
    let mut order = BatchOrder::new(data.len(), cfg.batch, cfg.seed, student.m, n);
    // The statistics pass looks at the level's first batches without consuming them.
    let mut stats_order = BatchOrder::new(data.len(), cfg.batch, cfg.seed, student.m, n);
    let mut norms = ActivationNorms::new(student.layers.len());
    for _ in 0..cfg.stats_batches.max(1) {
        let batch = data.batch(&stats_order.next_batch())?;
        let tensors: Vec<_> = student
            .tensors()?
            .into_iter()
            .map(|mut t| {
                t.linears.iter_mut().for_each(|(w, b)| {
                    *w = w.detach();
                    *b = b.detach();
                });
                t
            })
            .collect();
        let pass = super::student::encoder_forward(
            &tensors,
            &batch.x,
            &batch.packing,
            student.dims(),
            student.eps(),
        )?;
        norms.add(&pass.inputs)?;
    }
    select_masks(student, &norms, n)?;
    let frozen = frozen_from(steps, cfg.update_every);
    if frozen == 0 {
        freeze(student)?;
    }
    let peak = level_lr(cfg, 1.0 - n as f64 / student.m as f64);
    let mut opt = optimizer(student, peak)?;
    let mut window = ActivationNorms::new(student.layers.len());
    let mut report = LevelTraining {
        steps,
        losses: Vec::with_capacity(steps),
        mask_updates: Vec::new(),
        frozen_from: frozen,
        tokens: 0,
        seconds: 0.0,
    };
    for step in 0..steps {
        if step > 0 && frozen > 0 && step <= frozen && step % cfg.update_every == 0 {
            let changed = select_masks(student, &window, n)?;
            window = ActivationNorms::new(student.layers.len());
            report.mask_updates.push(MaskUpdate { step, changed });
            on_event(TrainEvent::MaskUpdate { step, changed });
        }
        opt.set_learning_rate(learning_rate(cfg, peak, step, steps));
        student.set_fade(if fade {
            fade_share(step, steps, cfg.fade)
        } else {
            0.0
        });
        let indices = order.next_batch();
        report.tokens += indices.iter().map(|&i| data.sentence_len(i)).sum::<usize>();
        let loss = train_step(
            student,
            &mut opt,
            data,
            &indices,
            cfg.hidden_weight,
            &mut window,
        )?;
        report.losses.push(loss as f32);
        on_event(TrainEvent::Step { step, steps, loss });
    }
    student.set_fade(0.0);
    freeze(student)?;
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

fn freeze(student: &mut Student) -> Result<()> {
    student.linears_mut().try_for_each(|(_, _, l)| l.freeze())
}

/// The loss of the student on a batch without training (for tests and reports).
pub fn batch_loss(
    student: &Student,
    data: &TrainingData,
    indices: &[usize],
    hidden_weight: f64,
) -> Result<f64> {
    let batch = data.batch(indices)?;
    let pass = student.forward(&batch.x, &batch.packing)?;
    let loss = distillation_loss(&pass, &batch, data, hidden_weight)?;
    Ok(f64::from(loss.detach().to_scalar::<f32>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_warms_up_then_decays_to_zero() {
        let cfg = TrainConfig {
            warmup: 10,
            lr: 1e-3,
            ..TrainConfig::default()
        };
        assert!((learning_rate(&cfg, 1e-3, 0, 100) - 1e-4).abs() < 1e-12);
        assert!((learning_rate(&cfg, 1e-3, 9, 100) - 1e-3).abs() < 1e-12);
        assert!((learning_rate(&cfg, 1e-3, 10, 100) - 1e-3).abs() < 1e-12);
        assert!((learning_rate(&cfg, 1e-3, 55, 100) - 5e-4).abs() < 1e-9);
        assert!(learning_rate(&cfg, 1e-3, 99, 100) < 1e-6);
        // 7:8 at a quarter of the 4:8 rate, 2:8 at 1.5 times.
        assert!((level_lr(&cfg, 0.125) - 2.5e-4).abs() < 1e-12);
        assert!((level_lr(&cfg, 0.75) - 1.5e-3).abs() < 1e-12);
    }

    #[test]
    fn pruned_weights_fade_from_one_to_zero_over_the_share() {
        assert_eq!(fade_share(0, 100, 0.5), 1.0);
        assert!((fade_share(25, 100, 0.5) - 0.5).abs() < 1e-12);
        assert_eq!(fade_share(50, 100, 0.5), 0.0);
        assert_eq!(fade_share(99, 100, 0.5), 0.0);
        assert_eq!(fade_share(0, 100, 0.0), 0.0);
    }
}

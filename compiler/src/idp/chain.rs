//! The IDP chain and its checkpoint directory.
//!
//! ```text
//! CKPT/run.json                      what the run is (model hash, M, schedule, steps, training settings, text hash)
//! CKPT/level-<N>of<M>/model.safetensors  the level's model (Hugging Face BertModel names, as the input model)
//! CKPT/level-<N>of<M>/config.json, tokenizer.json   so that `sta compile --model CKPT/level-<N>of<M>` reads it
//! CKPT/level-<N>of<M>/masks.safetensors  the level's N:M masks (U8 0/1, named like the weights): the next level's
//!                                        inherited set
//! CKPT/level-<N>of<M>/metrics.json   training (steps, seconds, loss curve, mask updates) and accuracy
//! ```
//!
//! **IDP** trains the levels (M−1):M, (M−2):M, …, target:M in order, each starting from the previous level's
//! weights with its masks as the allowed set. **One-shot** (the baseline with the same budget) prunes the dense
//! model straight to target:M (masks selected inside the dense set) and trains it for (M − target) × the steps of
//! one level. A level directory is written into a working directory inside CKPT and renamed into place when
//! complete, so an interrupted run leaves only finished levels; a resumed run continues after the last one.

use std::fs;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sta_golden::nm::NmPattern;

use super::data::TrainingData;
use super::student::Student;
use super::train::{train_level, LevelTraining, MaskUpdate, TrainConfig, TrainEvent};
use crate::error::{CompileError, Result};
use crate::model::BertModel;
use crate::pipeline::{compile_candidate, evaluate, CandidateAccuracy, Reference};
use crate::prune::NmMask;
use crate::quantize::QuantOptions;

pub const RUN_FILE: &str = "run.json";
pub const METRICS_FILE: &str = "metrics.json";
pub const MASKS_FILE: &str = "masks.safetensors";

/// How the levels are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// Inherited dynamic pruning: every level from M−1 down, each inside the previous one, each fine-tuned.
    Idp,
    /// One-shot pruning straight to the target level, fine-tuned with the whole chain's budget.
    OneShot,
}

impl Schedule {
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Idp => "idp",
            Schedule::OneShot => "one-shot",
        }
    }
}

/// Where the training text came from and a hash of its token ids (a resumed run must train on the same text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextInfo {
    pub sources: Vec<String>,
    pub sentences: usize,
    pub tokens: usize,
    pub sha256: String,
}

impl TextInfo {
    pub fn new(sources: Vec<String>, sentences: &[Vec<u32>]) -> TextInfo {
        let mut h = Sha256::new();
        for s in sentences {
            h.update((s.len() as u32).to_le_bytes());
            for id in s {
                h.update(id.to_le_bytes());
            }
        }
        TextInfo {
            sources,
            sentences: sentences.len(),
            tokens: sentences.iter().map(Vec::len).sum(),
            sha256: format!("{:x}", h.finalize()),
        }
    }
}

/// `run.json`: everything that decides a run's results. A resumed run must agree on all of it but `generator`
/// and `model` (the path may move; the hash may not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub generator: String,
    /// The dense model's directory, as given.
    pub model: String,
    /// SHA-256 of its model.safetensors.
    pub model_sha256: String,
    pub m: usize,
    pub schedule: Schedule,
    /// One-shot only: the level it prunes to (an IDP chain may be extended to lower levels when resumed).
    pub one_shot_target: Option<usize>,
    pub steps_per_level: usize,
    pub train: TrainConfig,
    pub text: TextInfo,
}

impl RunSpec {
    /// Why a run directory's spec does not describe this run (None: it does).
    fn mismatch(&self, found: &RunSpec) -> Option<String> {
        if found.model_sha256 != self.model_sha256 {
            return Some(format!(
                "a different model (model.safetensors SHA-256 {}…, this model's is {}…)",
                short(&found.model_sha256),
                short(&self.model_sha256)
            ));
        }
        if found.m != self.m {
            return Some(format!("M = {}, not {}", found.m, self.m));
        }
        if found.schedule != self.schedule || found.one_shot_target != self.one_shot_target {
            return Some(format!(
                "another schedule ({}{})",
                found.schedule.name(),
                found
                    .one_shot_target
                    .map_or(String::new(), |n| format!(" to {n}:{}", found.m))
            ));
        }
        if found.steps_per_level != self.steps_per_level {
            return Some(format!(
                "{} steps per level, not {}",
                found.steps_per_level, self.steps_per_level
            ));
        }
        if found.train != self.train {
            return Some(format!("other training settings ({:?})", found.train));
        }
        if found.text.sha256 != self.text.sha256 {
            return Some(format!(
                "another training text ({} sentences from {})",
                found.text.sentences,
                found.text.sources.join(", ")
            ));
        }
        None
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CompileError + '_ {
    move |source| CompileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory name of level n:m.
pub fn level_dir_name(n: usize, m: usize) -> String {
    format!("level-{n}of{m}")
}

/// The loss over a level, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossSummary {
    /// Mean of the first 10 steps (or fewer).
    pub first: f64,
    /// Mean of the last 10 % of the steps (at least one).
    pub last: f64,
    /// (step, mean loss of the steps since the previous point), about 50 points.
    pub curve: Vec<(usize, f64)>,
}

impl LossSummary {
    pub fn new(losses: &[f32]) -> LossSummary {
        let mean = |s: &[f32]| s.iter().map(|&v| f64::from(v)).sum::<f64>() / s.len().max(1) as f64;
        let tail = (losses.len() / 10).max(1).min(losses.len());
        let every = losses.len().div_ceil(50).max(1);
        LossSummary {
            first: mean(&losses[..losses.len().min(10)]),
            last: mean(&losses[losses.len() - tail..]),
            curve: losses
                .chunks(every)
                .enumerate()
                .map(|(i, c)| (i * every + c.len() - 1, mean(c)))
                .collect(),
        }
    }
}

/// `metrics.json` of one level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelMetrics {
    /// "N:M".
    pub level: String,
    pub n: usize,
    pub m: usize,
    /// 1 − N/M.
    pub sparsity: f64,
    pub schedule: Schedule,
    /// This level's training steps.
    pub steps: usize,
    /// Training steps from the dense model to this level (IDP: this level and every level before it).
    pub total_steps: usize,
    pub sentences_per_step: usize,
    /// Tokens of this level's training batches.
    pub tokens: usize,
    pub train_seconds: f64,
    /// Calibration, quantisation and the accuracy measurement.
    pub eval_seconds: f64,
    pub loss: LossSummary,
    pub mask_updates: Vec<MaskUpdate>,
    /// The step from which the mask was frozen.
    pub frozen_from: usize,
    /// Evaluation sentences (the built-in evaluation set's first ones).
    pub eval_sentences: usize,
    /// Float sparse model and (unless skipped) integer program against the dense float model.
    pub accuracy: CandidateAccuracy,
}

/// What the run needs besides the checkpoint directory.
pub struct RunInputs<'a> {
    /// The dense model (the teacher, and the start of the chain).
    pub teacher: &'a BertModel,
    /// Copied into every level directory.
    pub tokenizer_file: &'a Path,
    pub data: &'a TrainingData,
    /// The dense float model's outputs on the evaluation sentences.
    pub reference: &'a Reference,
    /// Calibration sentences for the integer program of every level (None: float evaluation only).
    pub calibration: Option<&'a [Vec<u32>]>,
    pub quant: QuantOptions,
}

/// Progress of a run.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// Level n:M was already finished (resumed run).
    Finished {
        n: usize,
    },
    /// Level n:M starts: the `index`-th (1-based) of `count` to train in this run, `steps` steps.
    LevelStart {
        n: usize,
        index: usize,
        count: usize,
        steps: usize,
    },
    Train {
        n: usize,
        event: TrainEvent,
    },
    /// Level n:M is trained; measuring it.
    Evaluating {
        n: usize,
    },
    LevelDone {
        metrics: &'a LevelMetrics,
    },
}

/// Opens (or creates) the checkpoint directory for `spec`, before any expensive work. A new directory gets
/// `run.json`; an existing one is refused unless `resume` (and its run.json matches `spec`) or `force` (it is
/// replaced). Stale working directories of an interrupted level are removed.
pub fn open_checkpoint(dir: &Path, spec: &RunSpec, resume: bool, force: bool) -> Result<()> {
    let exists = fs::symlink_metadata(dir).is_ok();
    if exists {
        let found = if resume {
            read_spec(dir)
        } else {
            Err(String::new())
        };
        match found {
            Ok(found) => match spec.mismatch(&found) {
                None => return remove_stale_work(dir),
                Some(why) if !force => {
                    return Err(CompileError::Input(format!(
                        "--out {} holds a run for {why}; pass --force to replace it",
                        dir.display()
                    )))
                }
                Some(_) => {}
            },
            Err(why) if !force => {
                return Err(CompileError::Input(if resume {
                    format!(
                        "--out {} holds no run to resume ({why}); pass --force to replace it",
                        dir.display()
                    )
                } else {
                    format!(
                        "--out {} already exists; pass --resume to continue its run or --force to replace it",
                        dir.display()
                    )
                }))
            }
            Err(_) => {}
        }
        remove_path(dir)?;
    }
    fs::create_dir_all(dir).map_err(|e| {
        CompileError::Input(format!(
            "--out {}: cannot create it: {e}; choose a writable place",
            dir.display()
        ))
    })?;
    let json =
        serde_json::to_string_pretty(spec).map_err(|e| CompileError::Input(e.to_string()))?;
    write_atomically(&dir.join(RUN_FILE), json.as_bytes())
}

fn remove_path(path: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(io(path))?;
    if meta.is_dir() {
        fs::remove_dir_all(path).map_err(io(path))
    } else {
        fs::remove_file(path).map_err(io(path))
    }
}

fn read_spec(dir: &Path) -> std::result::Result<RunSpec, String> {
    let path = dir.join(RUN_FILE);
    let text = fs::read_to_string(&path).map_err(|_| format!("no readable {RUN_FILE}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{RUN_FILE} is not an sta idp run: {e}"))
}

/// Removes working directories (`.level-*`) that an interrupted run left behind.
fn remove_stale_work(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        if entry.file_name().to_string_lossy().starts_with(".level-") {
            remove_path(&entry.path())?;
        }
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(io(parent))?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(io(path))?;
    tmp.persist(path).map_err(|e| CompileError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// The levels this run trains, in order, with their steps: IDP M−1 … target, one-shot target alone.
pub fn planned_levels(spec: &RunSpec, target: usize) -> Vec<(usize, usize)> {
    match spec.schedule {
        Schedule::Idp => (target..spec.m)
            .rev()
            .map(|n| (n, spec.steps_per_level))
            .collect(),
        Schedule::OneShot => vec![(target, spec.steps_per_level * (spec.m - target))],
    }
}

/// Whether level n's directory is complete (its metrics.json is written last).
fn finished(dir: &Path, n: usize, m: usize) -> bool {
    dir.join(level_dir_name(n, m)).join(METRICS_FILE).is_file()
}

/// Runs (or resumes) the chain in `dir` (opened with [`open_checkpoint`]) down to level `target`. At most
/// `max_levels` levels are trained in this call (None: all; tests use it to interrupt a run). Returns the metrics of
/// every level of the plan, finished before or now.
pub fn run_chain(
    dir: &Path,
    spec: &RunSpec,
    target: usize,
    inputs: &RunInputs<'_>,
    max_levels: Option<usize>,
    on_event: &mut dyn FnMut(RunEvent<'_>),
) -> Result<Vec<LevelMetrics>> {
    let m = spec.m;
    if !(1..m).contains(&target) {
        return Err(CompileError::Input(format!(
            "--target {target} is not allowed: use 1..={} for M = {m}",
            m - 1
        )));
    }
    let plan = planned_levels(spec, target);
    let done = plan
        .iter()
        .take_while(|(n, _)| finished(dir, *n, m))
        .count();
    let mut metrics = Vec::new();
    for &(n, _) in &plan[..done] {
        on_event(RunEvent::Finished { n });
        metrics.push(read_metrics(dir, n, m)?);
    }
    let todo = &plan[done..];
    if todo.is_empty() {
        return Ok(metrics);
    }
    let mut student = match done {
        0 => Student::new(inputs.teacher, m)?,
        _ => load_level(dir, plan[done - 1].0, m, inputs.teacher)?,
    };
    let mut total_steps: usize = plan[..done].iter().map(|(_, s)| s).sum();
    let count = todo.len().min(max_levels.unwrap_or(usize::MAX));
    for (index, &(n, steps)) in todo.iter().take(count).enumerate() {
        on_event(RunEvent::LevelStart {
            n,
            index: index + 1,
            count,
            steps,
        });
        // IDP levels fade out what they prune; the one-shot baseline prunes at once (else it would not be one-shot).
        let fade = spec.schedule == Schedule::Idp;
        let training = train_level(
            &mut student,
            inputs.data,
            n,
            steps,
            &spec.train,
            fade,
            &mut |event| on_event(RunEvent::Train { n, event }),
        )?;
        total_steps += steps;
        on_event(RunEvent::Evaluating { n });
        let level = finish_level(dir, spec, &student, n, training, total_steps, inputs)?;
        on_event(RunEvent::LevelDone { metrics: &level });
        metrics.push(level);
    }
    Ok(metrics)
}

fn read_metrics(dir: &Path, n: usize, m: usize) -> Result<LevelMetrics> {
    let path = dir.join(level_dir_name(n, m)).join(METRICS_FILE);
    let text = fs::read_to_string(&path).map_err(io(&path))?;
    serde_json::from_str(&text).map_err(|e| {
        CompileError::Input(format!(
            "{}: not a level's metrics ({e}); pass --force to start over",
            path.display()
        ))
    })
}

/// Measures the trained level and writes its directory.
fn finish_level(
    dir: &Path,
    spec: &RunSpec,
    student: &Student,
    n: usize,
    training: LevelTraining,
    total_steps: usize,
    inputs: &RunInputs<'_>,
) -> Result<LevelMetrics> {
    let start = Instant::now();
    let model = student.to_model()?;
    let pattern = NmPattern::new(n, spec.m).map_err(|e| CompileError::Input(e.to_string()))?;
    let compiled = match inputs.calibration {
        Some(calib) => Some(compile_candidate(
            &model,
            Some(pattern),
            calib,
            &inputs.quant,
        )?),
        None => None,
    };
    let accuracy = evaluate(inputs.reference, &model, compiled.as_ref())?;
    let metrics = LevelMetrics {
        level: format!("{n}:{}", spec.m),
        n,
        m: spec.m,
        sparsity: 1.0 - n as f64 / spec.m as f64,
        schedule: spec.schedule,
        steps: training.steps,
        total_steps,
        sentences_per_step: spec.train.batch,
        tokens: training.tokens,
        train_seconds: training.seconds,
        eval_seconds: start.elapsed().as_secs_f64(),
        loss: LossSummary::new(&training.losses),
        mask_updates: training.mask_updates,
        frozen_from: training.frozen_from,
        eval_sentences: inputs.reference.sentences.len(),
        accuracy,
    };
    write_level(
        dir,
        n,
        spec.m,
        &model,
        &student.current_masks(),
        inputs.tokenizer_file,
        &metrics,
    )?;
    Ok(metrics)
}

fn write_level(
    dir: &Path,
    n: usize,
    m: usize,
    model: &BertModel,
    masks: &[NmMask],
    tokenizer: &Path,
    metrics: &LevelMetrics,
) -> Result<()> {
    let work = tempfile::Builder::new()
        .prefix(".level-")
        .tempdir_in(dir)
        .map_err(io(dir))?;
    model.save(work.path())?;
    let tok = work.path().join("tokenizer.json");
    fs::copy(tokenizer, &tok).map_err(io(&tok))?;
    save_masks(&work.path().join(MASKS_FILE), model, masks)?;
    let json =
        serde_json::to_string_pretty(metrics).map_err(|e| CompileError::Input(e.to_string()))?;
    let path = work.path().join(METRICS_FILE);
    fs::write(&path, json + "\n").map_err(io(&path))?;
    let target = dir.join(level_dir_name(n, m));
    if fs::symlink_metadata(&target).is_ok() {
        remove_path(&target)?;
    }
    let work = work.keep();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&work, fs::Permissions::from_mode(0o755)).map_err(io(&work))?;
    }
    fs::rename(&work, &target).map_err(io(&target))
}

/// The names of the linear weights in [`Student::current_masks`] order.
fn mask_names(model: &BertModel) -> Vec<String> {
    model
        .named_tensors()
        .into_iter()
        .map(|(name, _, _)| name)
        .filter(|name| {
            name.starts_with("encoder.layer.")
                && name.ends_with(".weight")
                && !name.contains("LayerNorm")
        })
        .collect()
}

fn save_masks(path: &Path, model: &BertModel, masks: &[NmMask]) -> Result<()> {
    let names = mask_names(model);
    let bytes: Vec<Vec<u8>> = masks
        .iter()
        .map(|mask| mask.keep.iter().map(|&k| u8::from(k)).collect())
        .collect();
    let views = names
        .iter()
        .zip(masks.iter().zip(&bytes))
        .map(|(name, (mask, b))| {
            safetensors::tensor::TensorView::new(
                safetensors::Dtype::U8,
                vec![mask.out, mask.in_],
                b,
            )
            .map(|v| (name.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| CompileError::Input(e.to_string()))?;
    safetensors::serialize_to_file(views, None, path).map_err(|e| CompileError::Model {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Level n:M's student from its directory: its weights, with its masks as the allowed (inherited) sets. Checks that
/// the masks are n:M, of the weights' shapes, and that the weights are zero outside them.
fn load_level(dir: &Path, n: usize, m: usize, teacher: &BertModel) -> Result<Student> {
    let level = dir.join(level_dir_name(n, m));
    let bad = |path: &Path, message: String| CompileError::Model {
        path: path.to_path_buf(),
        message: format!("{message}; pass --force to start over"),
    };
    let model = BertModel::load(&level)?;
    if model.dims != teacher.dims {
        return Err(bad(
            &level,
            "the level's dimensions differ from the model's".to_string(),
        ));
    }
    let path = level.join(MASKS_FILE);
    let bytes = fs::read(&path).map_err(io(&path))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(&path, format!("not a safetensors file: {e}")))?;
    let mut student = Student::new(&model, m)?;
    for ((name, (_, _, lin)), weight) in
        mask_names(&model)
            .iter()
            .zip(student.linears_mut())
            .zip(model.layers.iter().flat_map(|l| {
                crate::model::LinearKind::ALL
                    .iter()
                    .map(move |&k| &l.linear(k).weight)
            }))
    {
        let view = st
            .tensor(name)
            .map_err(|_| bad(&path, format!("mask {name} is missing")))?;
        let (out, in_) = (weight.rows, weight.cols);
        if view.dtype() != safetensors::Dtype::U8 || view.shape() != [out, in_] {
            return Err(bad(&path, format!("mask {name} is not U8 [{out}, {in_}]")));
        }
        let mask = NmMask {
            n,
            m,
            out,
            in_,
            keep: view.data().iter().map(|&b| b != 0).collect(),
        };
        let outside = weight
            .data
            .iter()
            .zip(&mask.keep)
            .any(|(&w, &k)| !k && w != 0.0);
        if !mask.is_legal() || outside {
            return Err(bad(
                &path,
                format!("mask {name} is not a {n}:{m} mask of the level's weights"),
            ));
        }
        lin.set_allowed(mask)?;
    }
    Ok(student)
}

/// A finished or partial run read back: its spec and the metrics of every finished level, densest first.
pub fn read_run(dir: &Path) -> Result<(RunSpec, Vec<LevelMetrics>)> {
    let spec = read_spec(dir).map_err(|why| {
        CompileError::Input(format!("{} is not an sta idp run: {why}", dir.display()))
    })?;
    let metrics = (1..spec.m)
        .rev()
        .filter(|&n| finished(dir, n, spec.m))
        .map(|n| read_metrics(dir, n, spec.m))
        .collect::<Result<Vec<_>>>()?;
    Ok((spec, metrics))
}

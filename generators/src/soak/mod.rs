//! `sta soak --configs K --seed S [--max-size small|medium|large] [--out DIR [--keep] [--force]]`: the random
//! differential campaign (docs/reliability.md "Soak").
//!
//! Configuration `i` of seed `S` is drawn on its own random stream ([`draw`]): a random legal PE array through its
//! harness (`i mod 4 = 0`), a PWL LUT unit from a random legal parameter file (1, the function kinds in turn), a PE
//! array behind its narrow-stream wrapper (2), or a softmax unit (3), each with random operands, corner values,
//! valid gaps and back-pressure. Each is generated, simulated in Verilator and compared bit-exactly with the golden
//! model through the existing generators, harnesses and checks ([`check`]). A failure prints the seed, the
//! configuration and the one command that reruns it alone (`sta soak --seed S --only i --max-size X`); the summary
//! counts configurations, beats and values compared per kind. `--out DIR` writes `results.json` and keeps the design,
//! inputs and `case.json` of every failing configuration (of every configuration with `--keep`).
//!
//! Exit codes: 0 every configuration matched; 1 a mismatch (or a failed build or run of a generated design); 2 bad
//! flags, an existing `--out` without `--force`, or a missing Verilator.

pub mod check;
pub mod draw;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sta_hdl::emit::GENERATOR;

use crate::error::{io_context, Result, StaError};
use crate::gemm::cache_root;
use crate::output::{check_overwrite, install_dir, work_dir_beside, write_file_atomically};
use check::{keep_case, run_case, Compared};
use draw::{draw, Kind, MaxSize, KINDS};

/// Most configurations one campaign may draw.
pub const MAX_CONFIGS: u64 = 1_000_000;

#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// Random configurations to draw and check, 1..=1000000. Configuration i is a PE array (i mod 4 = 0), a LUT unit
    /// (1), a PE array behind its stream wrapper (2) or a softmax unit (3).
    #[arg(long, value_name = "K", required_unless_present = "only")]
    pub configs: Option<u64>,
    /// Seed of the campaign [default: drawn from the clock, and printed].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Run only these configurations of the seed's sequence (comma-separated indices): what a failure's reproduce
    /// command uses.
    #[arg(
        long,
        value_name = "I[,J...]",
        value_delimiter = ',',
        conflicts_with = "configs"
    )]
    pub only: Option<Vec<u64>>,
    /// Size caps of the drawn configurations (small: arrays up to 3x3, softmax up to 3 lanes and rows of 12;
    /// medium: 8x8, 8 lanes, 48; large: 16x16, 16 lanes, 200).
    #[arg(long, value_enum, default_value_t = MaxSize::Medium)]
    pub max_size: MaxSize,
    /// Write results.json here (a new directory), with the design, inputs and case.json of each failing
    /// configuration under configs/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Keep the design of every configuration in --out, not only of the failing ones.
    #[arg(long, requires = "out")]
    pub keep: bool,
    /// Replace an existing --out directory.
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Build cache for Verilator models [default: $STA_CACHE_DIR, else ~/.cache/sta].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
}

/// One configuration's entry in results.json.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub index: u64,
    pub kind: Kind,
    pub status: Status,
    pub description: String,
    pub beats: u64,
    pub values: u64,
    pub cycles: u64,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The one command that runs this configuration alone.
    pub reproduce: String,
    /// Where its design was kept (`--out`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
    /// A direct command on the kept files (`sta gemm …` for pe-array configurations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_command: Option<String>,
    /// The drawn parameters (null if the draw itself failed).
    pub config: serde_json::Value,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct KindSummary {
    pub configurations: u64,
    pub passed: u64,
    pub failed: u64,
    pub beats: u64,
    pub values: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub configurations: u64,
    pub passed: u64,
    pub failed: u64,
    /// Transactions compared bit-exactly: result beats, output beats, LUT outputs.
    pub beats: u64,
    /// Values compared bit-exactly: result lanes, stream words, LUT outputs, probabilities.
    pub values: u64,
    pub seconds: f64,
    pub by_kind: BTreeMap<&'static str, KindSummary>,
}

/// results.json.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub generator: String,
    pub seed: u64,
    pub max_size: MaxSize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configs_requested: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<u64>>,
    pub verilator: String,
    pub summary: Summary,
    pub configs: Vec<Record>,
}

/// The command that reruns configuration `index` alone.
pub fn reproduce_command(seed: u64, index: u64, size: MaxSize) -> String {
    format!(
        "sta soak --seed {seed} --only {index} --max-size {}",
        size.name()
    )
}

fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()) ^ d.as_secs())
        .unwrap_or(1)
        % 1_000_000_000
}

/// The configurations to run: `--only` (deduplicated, in order) or 0..K.
fn indices(args: &SoakArgs) -> Result<Vec<u64>> {
    match (&args.only, args.configs) {
        (Some(only), _) => {
            let mut seen = std::collections::HashSet::new();
            let list: Vec<u64> = only.iter().copied().filter(|i| seen.insert(*i)).collect();
            if list.is_empty() || list.len() as u64 > MAX_CONFIGS {
                return Err(StaError::Usage(format!(
                    "--only lists {} configurations: give 1..={MAX_CONFIGS} indices",
                    list.len()
                )));
            }
            Ok(list)
        }
        (None, Some(k)) if (1..=MAX_CONFIGS).contains(&k) => Ok((0..k).collect()),
        (None, Some(k)) => Err(StaError::Usage(format!(
            "--configs = {k} is outside 1..={MAX_CONFIGS}"
        ))),
        (None, None) => Err(StaError::Usage(
            "--configs K (or --only I) is required".into(),
        )),
    }
}

fn progress(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}, eta {eta}] {msg}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(500));
    bar
}

/// Draws, runs and (if asked) keeps configuration `index`.
fn one(
    seed: u64,
    index: u64,
    size: MaxSize,
    cache: &Path,
    bar: &ProgressBar,
    keep_in: Option<(&Path, &Path)>,
    keep_all: bool,
) -> Record {
    let start = Instant::now();
    let reproduce = reproduce_command(seed, index, size);
    let case = draw(seed, index, size);
    let (description, config) = match &case {
        Ok(c) => (
            c.describe(),
            serde_json::to_value(c).unwrap_or(serde_json::Value::Null),
        ),
        Err(_) => (String::new(), serde_json::Value::Null),
    };
    bar.set_message(format!("#{index} {} {description}", Kind::of(index).name()));
    let result = case.as_ref().map_err(|e| e.to_string()).and_then(|case| {
        let work = tempfile::Builder::new()
            .prefix("sta-soak-")
            .tempdir()
            .map_err(|e| format!("creating a temporary directory: {e}"))?;
        let run = || run_case(case, work.path(), cache);
        // `sta gemm`'s own spinner draws while its model builds: hide the bar meanwhile
        let outcome = if case.kind() == Kind::PeArray {
            bar.suspend(run)
        } else {
            run()
        };
        outcome.map_err(|e| e.to_string())
    });
    // one line per message, whatever a tool printed
    let result = result.map_err(|e| e.split_whitespace().collect::<Vec<_>>().join(" "));
    let (status, compared, message) = match result {
        Ok(c) => (Status::Pass, c, None),
        Err(e) => (Status::Fail, Compared::default(), Some(e)),
    };
    let mut record = Record {
        index,
        kind: Kind::of(index),
        status,
        description,
        beats: compared.beats,
        values: compared.values,
        cycles: compared.cycles,
        seconds: 0.0,
        message,
        reproduce,
        kept: None,
        direct_command: None,
        config,
    };
    if let (Some((staging, out)), Ok(case)) = (keep_in, &case) {
        if keep_all || status == Status::Fail {
            let name = format!("{index:06}-{}", record.kind.name());
            let relative = Path::new("configs").join(&name);
            let json = serde_json::to_value(&record).unwrap_or_default();
            match keep_case(case, &json, &staging.join(&relative)) {
                Ok(direct) => {
                    let kept = out.join(&relative);
                    record.kept = Some(kept.display().to_string());
                    // the command names the final directory, not the staging one
                    record.direct_command = direct.map(|d| {
                        d.replace(&staging.display().to_string(), &out.display().to_string())
                    });
                }
                Err(e) => {
                    let m = record.message.take().unwrap_or_default();
                    record.message = Some(format!("{m} (keeping its design failed: {e})"));
                }
            }
        }
    }
    record.seconds = start.elapsed().as_secs_f64();
    record
}

fn summarise(records: &[Record], seconds: f64) -> Summary {
    let mut by_kind: BTreeMap<&'static str, KindSummary> = KINDS
        .iter()
        .map(|k| (k.name(), KindSummary::default()))
        .collect();
    for r in records {
        let s = by_kind.entry(r.kind.name()).or_default();
        s.configurations += 1;
        match r.status {
            Status::Pass => s.passed += 1,
            Status::Fail => s.failed += 1,
        }
        s.beats += r.beats;
        s.values += r.values;
    }
    let sum = |f: fn(&KindSummary) -> u64| by_kind.values().map(f).sum();
    Summary {
        configurations: sum(|s| s.configurations),
        passed: sum(|s| s.passed),
        failed: sum(|s| s.failed),
        beats: sum(|s| s.beats),
        values: sum(|s| s.values),
        seconds,
        by_kind,
    }
}

fn print_summary(results: &Results) {
    let s = &results.summary;
    println!(
        "soak: seed {}, max size {}: {} configurations in {:.1} s, {} failed",
        results.seed,
        results.max_size.name(),
        s.configurations,
        s.seconds,
        s.failed
    );
    println!(
        "  {:<10} {:>8} {:>7} {:>7} {:>15} {:>16}",
        "kind", "configs", "passed", "failed", "beats compared", "values compared"
    );
    let row = |name: &str, k: &KindSummary| {
        println!(
            "  {:<10} {:>8} {:>7} {:>7} {:>15} {:>16}",
            name, k.configurations, k.passed, k.failed, k.beats, k.values
        )
    };
    for kind in KINDS {
        match s.by_kind.get(kind.name()) {
            Some(k) if k.configurations > 0 => row(kind.name(), k),
            _ => {}
        }
    }
    row(
        "total",
        &KindSummary {
            configurations: s.configurations,
            passed: s.passed,
            failed: s.failed,
            beats: s.beats,
            values: s.values,
        },
    );
    println!("  failures: {}", s.failed);
    for r in results.configs.iter().filter(|r| r.status == Status::Fail) {
        println!(
            "  FAIL #{} {}: {}\n    reproduce: {}",
            r.index,
            r.kind.name(),
            r.message.as_deref().unwrap_or(""),
            r.reproduce
        );
    }
}

/// `sta soak`.
pub fn run_soak(args: &SoakArgs) -> Result<()> {
    let list = indices(args)?;
    if let Some(out) = &args.out {
        check_overwrite(out, args.force)?;
    }
    let verilator = sta_testbenches::find_verilator().map_err(|e| StaError::Tool(e.to_string()))?;
    let seed = args.seed.unwrap_or_else(clock_seed);
    let size = args.max_size;
    let cache = cache_root(args.cache_dir.as_deref());
    std::fs::create_dir_all(&cache).map_err(io_context(format!(
        "creating the build cache {}",
        cache.display()
    )))?;
    let staging = match &args.out {
        Some(out) => Some(work_dir_beside(out, ".sta-soak-")?),
        None => None,
    };
    println!(
        "sta soak: seed {seed}{}, {} configurations, max size {} (kinds in turn: {})",
        if args.seed.is_none() {
            " (from the clock; pass --seed to repeat)"
        } else {
            ""
        },
        list.len(),
        size.name(),
        KINDS.map(Kind::name).join(", ")
    );
    let start = Instant::now();
    let bar = progress(list.len() as u64);
    let width = list.len().to_string().len();
    let mut records = Vec::with_capacity(list.len());
    for (n, &index) in list.iter().enumerate() {
        let keep_in = staging.as_deref().zip(args.out.as_deref());
        let record = one(seed, index, size, &cache, &bar, keep_in, args.keep);
        bar.suspend(|| {
            let verdict = match record.status {
                Status::Pass => format!("PASS {} beats, {} values", record.beats, record.values),
                Status::Fail => "FAIL".to_string(),
            };
            println!(
                "[{:>width$}/{}] #{} {}: {verdict} ({:.1} s); rerun: {}\n    {}",
                n + 1,
                list.len(),
                index,
                record.kind.name(),
                record.seconds,
                record.reproduce,
                record.description
            );
            if record.status == Status::Fail {
                println!(
                    "  {}\n  seed {seed}, configuration {index}: {}\n  reproduce: {}",
                    record.message.as_deref().unwrap_or(""),
                    record.config,
                    record.reproduce
                );
                if let Some(kept) = &record.kept {
                    println!("  kept in {kept}");
                }
                if let Some(direct) = &record.direct_command {
                    println!("  or directly: {direct}");
                }
            }
        });
        bar.inc(1);
        records.push(record);
    }
    bar.finish_and_clear();
    let summary = summarise(&records, start.elapsed().as_secs_f64());
    let results = Results {
        generator: GENERATOR.to_string(),
        seed,
        max_size: size,
        configs_requested: args.configs,
        only: args.only.clone(),
        verilator: verilator.identity(),
        summary,
        configs: records,
    };
    print_summary(&results);
    if let (Some(staging), Some(out)) = (staging, &args.out) {
        let json = serde_json::to_string_pretty(&results)
            .map_err(|e| StaError::Tool(format!("cannot serialise results.json: {e}")))?
            + "\n";
        write_file_atomically(&staging.join("results.json"), json.as_bytes(), false)?;
        install_dir(staging, out, args.force)?;
        println!("results in {}", out.join("results.json").display());
    }
    let failed: Vec<&Record> = results
        .configs
        .iter()
        .filter(|r| r.status == Status::Fail)
        .collect();
    match failed.first() {
        None => Ok(()),
        Some(first) => Err(StaError::Mismatch(format!(
            "{} of {} configurations failed (seed {seed}); first: #{} {}: {}; reproduce: {}",
            failed.len(),
            results.summary.configurations,
            first.index,
            first.kind.name(),
            first.message.as_deref().unwrap_or(""),
            first.reproduce
        ))),
    }
}

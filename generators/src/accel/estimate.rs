//! `sta estimate --design DIR --tokens T [--batch K] [--dense] [--stream-bytes-per-cycle B] [--freq MHZ]`: the
//! analytic cycle model of a generated accelerator (`sta_golden::top::cycles`) for K sentences of T tokens, with
//! the projected latency at a clock; `--against R.json …` replays the batches of `sta run` reports and prints the
//! model next to the measured cycles.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use sta_golden::top::cycles::{estimate, Estimate};
use sta_golden::top::lower::{plan_standard, Trace};
use sta_golden::top::AccelConfig;

use super::generate::read_design;
use crate::error::{Result, StaError};

/// The most encoder layers `--layers` takes (MiniLM has 6, BERT-large 24).
const MAX_LAYERS: usize = 1024;

#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// A design directory written by `sta accel generate`.
    #[arg(long, value_name = "DIR")]
    pub design: PathBuf,
    /// Tokens per sentence.
    #[arg(long, default_value_t = 16)]
    pub tokens: usize,
    /// Sentences in the batch (they share one pass over the weights).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// A dense program (dense×dense beats for the weights) instead of the design's N:M.
    #[arg(long)]
    pub dense: bool,
    /// Encoder layers (MiniLM: 6), 1..=1024.
    #[arg(long, default_value_t = 6)]
    pub layers: usize,
    /// Input bytes per cycle (default: the design's stream word, W/8); a wider external memory interface.
    #[arg(long)]
    pub stream_bytes_per_cycle: Option<f64>,
    /// Clock for the latency projection, in MHz.
    #[arg(long, default_value_t = 100.0)]
    pub freq: f64,
    /// Every layer's output leaves the chip (as `sta run` does, to compare them); default: the last layer only.
    #[arg(long)]
    pub every_layer: bool,
    /// `sta run` reports (JSON) to compare the model with, batch by batch.
    #[arg(long, value_name = "R.json", num_args = 1..)]
    pub against: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Comparison {
    report: String,
    tokens: Vec<usize>,
    sparsity: String,
    measured: u64,
    model: u64,
    error_percent: f64,
}

pub fn run_estimate(args: &EstimateArgs) -> Result<()> {
    let (_, config) = read_design(&args.design)?;
    if !(1..=MAX_LAYERS).contains(&args.layers) {
        return Err(StaError::Usage(format!(
            "--layers {} is outside 1..={MAX_LAYERS}",
            args.layers
        )));
    }
    if !args.against.is_empty() {
        return compare(args, &config);
    }
    if args.tokens == 0 || args.batch == 0 {
        return Err(StaError::Usage(
            "--tokens and --batch must be at least 1".into(),
        ));
    }
    // every sentence takes at least one multiple of the array size, so this bounds the batch before it is built
    let most = config.max_tokens / config.array;
    if args.batch > most {
        return Err(StaError::Usage(format!(
            "--batch {}: the design holds {} tokens, so at most {most} sentences (each padded to a multiple of {})",
            args.batch, config.max_tokens, config.array
        )));
    }
    if !(args.freq > 0.0 && args.freq.is_finite()) {
        return Err(StaError::Usage(format!(
            "--freq {} must be a positive number of MHz",
            args.freq
        )));
    }
    let words_per_cycle = match args.stream_bytes_per_cycle {
        None => 1.0,
        Some(b) if b > 0.0 && b.is_finite() => b * 8.0 / f64::from(config.word_bits),
        Some(b) => {
            return Err(StaError::Usage(format!(
                "--stream-bytes-per-cycle {b} must be a positive number"
            )))
        }
    };
    let trace = if args.every_layer {
        Trace::EveryLayer
    } else {
        Trace::LastLayer
    };
    let lengths = vec![args.tokens; args.batch];
    let plan = plan_standard(&config, &lengths, args.dense, args.layers, trace)
        .map_err(|e| StaError::Usage(format!("--tokens/--batch: {e}")))?;
    let e = estimate(&config, &plan, words_per_cycle);
    print_estimate(args, &config, &e, words_per_cycle);
    Ok(())
}

fn print_estimate(args: &EstimateArgs, c: &AccelConfig, e: &Estimate, words_per_cycle: f64) {
    let us = e.total_cycles as f64 / args.freq;
    println!(
        "{} sentence(s) of {} tokens, {} program on {} ({} layers), stream {:.1} bytes/cycle:",
        args.batch,
        args.tokens,
        if args.dense {
            "dense".to_string()
        } else {
            format!("{}:{}", c.n, c.m)
        },
        c.top_name(),
        args.layers,
        words_per_cycle * f64::from(c.word_bits) / 8.0
    );
    println!(
        "  total {} cycles = {:.3} ms at {} MHz ({:.3} ms per sentence)",
        e.total_cycles,
        us / 1e3,
        args.freq,
        us / 1e3 / args.batch as f64
    );
    let util = |beats: u64, cycles: u64| {
        if cycles == 0 {
            0.0
        } else {
            beats as f64 / cycles as f64
        }
    };
    println!(
        "  gemm {} cycles (utilisation {:.3}), attention {} ({:.3}), layer norm {}, store {}, waiting on the stream {}",
        e.gemm_cycles,
        util(e.gemm_beats, e.gemm_cycles),
        e.attn_cycles,
        util(e.attn_beats, e.attn_cycles),
        e.ln_cycles,
        e.store_cycles,
        e.waiting_on_stream
    );
    println!("  input {} words of {} bits", e.input_words, c.word_bits);
}

/// The model against `sta run` reports of this design.
fn compare(args: &EstimateArgs, config: &AccelConfig) -> Result<()> {
    let mut rows = Vec::new();
    for path in &args.against {
        let text = std::fs::read_to_string(path).map_err(|e| StaError::Io {
            context: format!("--against {}", path.display()),
            source: e,
        })?;
        let report: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            StaError::Usage(format!(
                "--against {}: not a `sta run` report ({e})",
                path.display()
            ))
        })?;
        let field = |name: &str| {
            report.get(name).ok_or_else(|| {
                StaError::Usage(format!(
                    "--against {}: no \"{name}\" (not a `sta run` report)",
                    path.display()
                ))
            })
        };
        let tokens: Vec<usize> = serde_json::from_value(field("tokens")?.clone())
            .map_err(|e| StaError::Usage(format!("--against {}: tokens: {e}", path.display())))?;
        let sparsity = field("sparsity")?.as_str().unwrap_or("").to_string();
        let measured = field("total_cycles")?.as_u64().unwrap_or(0);
        let dense = sparsity == "dense";
        let plan = plan_standard(config, &tokens, dense, args.layers, Trace::EveryLayer)
            .map_err(|e| StaError::Usage(format!("--against {}: {e}", path.display())))?;
        let model = estimate(config, &plan, 1.0).total_cycles;
        let error_percent = 100.0 * (model as f64 - measured as f64) / measured.max(1) as f64;
        println!(
            "{}: {:?} tokens, {sparsity}: measured {measured} cycles, model {model} ({error_percent:+.2} %)",
            path.display(),
            tokens
        );
        rows.push(Comparison {
            report: path.display().to_string(),
            tokens,
            sparsity,
            measured,
            model,
            error_percent,
        });
    }
    let worst = rows
        .iter()
        .map(|r| r.error_percent.abs())
        .fold(0.0, f64::max);
    println!("largest error {worst:.2} % over {} run(s)", rows.len());
    Ok(())
}

//! `sta run --design DIR --program PROG --text "…" [--text "…" …] [--out E.npy] [--report R.json]`: tokenises,
//! lowers the batch into the accelerator's input stream, simulates the generated design in Verilator, compares every
//! layer's output with the integer golden model bit for bit (exit 1 naming the first difference), writes the
//! embeddings and reports cycles, utilisation and accuracy.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use sta_compiler::engine::{dequantize, host_input};
use sta_compiler::float_forward::mean_pool_normalize;
use sta_compiler::float_ref::FloatReference;
use sta_compiler::metrics::cosine;
use sta_compiler::program_dir::{read_program_dir, LoadedProgram};
use sta_golden::encoder::{run_observed, Buffer, NormKind, Op, Tokens};
use sta_golden::top::isa::{error_name, Status};
use sta_golden::top::lower::{check_program, lower, Lowered, Trace};
use sta_golden::top::AccelConfig;

use super::generate::{read_design, AccelManifest};
use super::sim::{simulate, Drive, SimResult};
use crate::encoder::{compile_error, load_model};
use crate::error::{io_context, Result, StaError};
use crate::npy::encode_npy;
use crate::output::{check_overwrite, write_file_atomically};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A design directory written by `sta accel generate`.
    #[arg(long, value_name = "DIR")]
    pub design: PathBuf,
    /// A program directory written by `sta compile` (its N:M or dense, and the design's dimensions).
    #[arg(long, value_name = "PROG")]
    pub program: PathBuf,
    /// A sentence (repeat for a batch: the sentences share one pass over the weights).
    #[arg(long, required = true)]
    pub text: Vec<String>,
    /// The float model to measure the embeddings against (default: the one the program's manifest names).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Write the embeddings (float32 .npy, one row per text).
    #[arg(long, value_name = "E.npy")]
    pub out: Option<PathBuf>,
    /// Write the report (JSON).
    #[arg(long, value_name = "R.json")]
    pub report: Option<PathBuf>,
    /// Seed of the harness's random stream stalls.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Percent of cycles in which the harness withholds an input word and stalls the output (0..=90; the cycle
    /// figures then include the stalls). Default 0: the chip's own speed.
    #[arg(long, default_value_t = 0)]
    pub stall_percent: u32,
    /// Return and compare the output of every op, not only of every layer (slower: more words leave the chip; the
    /// cycle figures include them). A layer that differs is traced this way automatically.
    #[arg(long)]
    pub every_op: bool,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
}

/// Cycles and PE utilisation of one kind of work.
#[derive(Debug, Serialize)]
pub struct OpCycles {
    pub op: &'static str,
    /// Cycles the compute engine spent on it.
    pub cycles: u64,
    /// PE-array beats accepted during those cycles (utilisation = beats / cycles; 0 for work without the array).
    pub array_beats: u64,
    pub utilisation: f64,
}

/// The report of one run.
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub design: String,
    pub program: String,
    pub sparsity: String,
    pub texts: usize,
    pub tokens: Vec<usize>,
    /// Rows on chip (sentences padded to multiples of the array size).
    pub rows_on_chip: usize,
    pub bit_exact_layers: usize,
    /// STOREs compared bit for bit (one per layer, or one per op with --every-op).
    pub compared_results: usize,
    pub total_cycles: u64,
    pub ops: Vec<OpCycles>,
    /// Cycles the compute engine waited for the input stream (weights, embeddings).
    pub stalled_on_stream: u64,
    pub input_words: usize,
    pub output_words: usize,
    /// Seconds to build (or find in the cache) the Verilator model.
    pub build_seconds: f64,
    /// Seconds the simulation ran (the harness process: stimulus, model, results), and its speed.
    pub simulation_seconds: f64,
    pub simulated_cycles_per_second: f64,
    /// Per text: cosine of the accelerator's embedding against the float model (None without the float model).
    pub cosine_vs_float: Vec<Option<f64>>,
}

pub fn run_run(args: &RunArgs) -> Result<()> {
    for path in [&args.out, &args.report].into_iter().flatten() {
        check_overwrite(path, args.force)?;
    }
    let (manifest, config) = read_design(&args.design)?;
    let loaded = read_program_dir(&args.program).map_err(compile_error)?;
    check_program(&config, &loaded.program).map_err(|e| {
        StaError::Usage(format!(
            "--program {} cannot run on --design {}: {e}",
            args.program.display(),
            args.design.display()
        ))
    })?;
    let sentences = tokenize(&loaded, &args.text)?;
    let tokens =
        host_input(&loaded.host_model, &loaded.program, &sentences).map_err(compile_error)?;
    if args.stall_percent > 90 {
        return Err(StaError::Usage(format!(
            "--stall-percent {} is outside 0..=90",
            args.stall_percent
        )));
    }
    let drive = Drive {
        seed: args.seed,
        in_gap: args.stall_percent,
        out_stall: args.stall_percent,
    };
    let trace = if args.every_op {
        Trace::EveryOp
    } else {
        Trace::EveryLayer
    };
    let job = Job {
        args,
        manifest: &manifest,
        config: &config,
        loaded: &loaded,
        tokens: &tokens,
        drive,
    };
    let (lowered, sim) = job.simulate(trace)?;
    let compared = match job.compare(&lowered, &sim) {
        Ok(n) => n,
        // A layer differs: run again returning every op's output, to name the first op that differs.
        Err(StaError::Mismatch(first)) if trace == Trace::EveryLayer => {
            eprintln!(
                "{first}; running again with every op's output to find the first op that differs"
            );
            let (lowered, sim) = job.simulate(Trace::EveryOp)?;
            job.compare(&lowered, &sim)?;
            return Err(StaError::Mismatch(format!(
                "{first} (every op matched when traced one by one: the difference depends on the timing)"
            )));
        }
        Err(e) => return Err(e),
    };
    let layers = loaded.program.dims.layers;

    // The embeddings come from the chip's own last layer (equal to the golden model's, as just checked).
    let d = config.dims.d_model;
    let last = sim.stores.last().map(Vec::as_slice).unwrap_or(&[]);
    let chip: Vec<i8> = lowered
        .layout
        .rows()
        .flat_map(|row| last[row * d..row * d + d].iter().map(|&v| v as i8))
        .collect();
    let hidden = dequantize(&chip, loaded.program.host.output_scales());
    let embeddings = mean_pool_normalize(&hidden, &tokens.lengths);
    let cosines = float_cosines(args, &loaded, &sentences, &embeddings)?;
    let report = build_report(
        args,
        &config,
        &lowered,
        &sim,
        &tokens,
        (layers, compared),
        cosines,
    );
    print_report(&report);
    if let Some(out) = &args.out {
        write_embeddings(out, &embeddings, args.force)?;
    }
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report).expect("report serializes") + "\n";
        write_file_atomically(path, json.as_bytes(), args.force)?;
    }
    Ok(())
}

fn tokenize(loaded: &LoadedProgram, texts: &[String]) -> Result<Vec<Vec<u32>>> {
    let limit = loaded.host_model.dims.max_positions;
    texts
        .iter()
        .map(|t| loaded.tokenizer.encode_limited(t, limit))
        .collect::<std::result::Result<_, _>>()
        .map_err(compile_error)
}

/// One batch on one design: simulate it with a trace, compare what came back.
struct Job<'a> {
    args: &'a RunArgs,
    manifest: &'a AccelManifest,
    config: &'a AccelConfig,
    loaded: &'a LoadedProgram,
    tokens: &'a Tokens,
    drive: Drive,
}

impl Job<'_> {
    fn simulate(&self, trace: Trace) -> Result<(Lowered, SimResult)> {
        let p = &self.loaded.program;
        let lowered = lower(self.config, p, &self.loaded.weights, self.tokens, trace)
            .map_err(|e| StaError::Usage(format!("--text: {e}")))?;
        let sim = simulate(
            &self.args.design,
            self.manifest,
            self.config,
            &lowered,
            self.drive,
        )?;
        if sim.status.error != 0 {
            return Err(StaError::Mismatch(format!(
                "the accelerator stopped with error {} ({})",
                sim.status.error,
                error_name(sim.status.error)
            )));
        }
        Ok((lowered, sim))
    }

    /// Every STORE against the golden model on the real rows: the buffer after its op (every-op trace) or the
    /// layer's output. The first difference is an error (exit 1). Returns the number of STOREs compared.
    fn compare(&self, lowered: &Lowered, sim: &SimResult) -> Result<usize> {
        let p = &self.loaded.program;
        if sim.stores.len() != lowered.stores.len() {
            return Err(StaError::Mismatch(format!(
                "the accelerator returned {} results, the program asks for {}",
                sim.stores.len(),
                lowered.stores.len()
            )));
        }
        let mut after_op: Vec<Vec<i32>> = Vec::new();
        run_observed(p, &self.loaded.weights, self.tokens, |_, op, buffers| {
            let dst = match *op {
                Op::Linear { dst, .. } | Op::Attention { dst, .. } | Op::LayerNorm { dst, .. } => {
                    dst
                }
            };
            after_op.push(if dst == Buffer::Resid {
                buffers.resid.clone()
            } else {
                buffers.int8(dst).iter().map(|&v| i32::from(v)).collect()
            });
        })
        .map_err(|e| StaError::Tool(format!("golden model: {e}")))?;
        let layer_ends: Vec<usize> = p
            .ops
            .iter()
            .enumerate()
            .filter(|(_, op)| {
                matches!(
                    op,
                    Op::LayerNorm {
                        norm: NormKind::Ffn,
                        ..
                    }
                )
            })
            .map(|(i, _)| i)
            .collect();
        for (tag, store) in lowered.stores.iter().zip(&sim.stores) {
            let index = tag.op.unwrap_or_else(|| layer_ends[tag.layer]);
            let expected = &after_op[index];
            let width = expected.len() / self.tokens.count().max(1);
            for (i, row) in lowered.layout.rows().enumerate() {
                let (sentence, position) = locate(&self.tokens.lengths, i);
                for c in 0..width {
                    let (got, want) = (store[row * width + c], expected[i * width + c]);
                    if got != want {
                        let what = match tag.op {
                            Some(op) => format!("op {op} ({})", describe(&p.ops[op])),
                            None => format!("layer {} output", tag.layer),
                        };
                        return Err(StaError::Mismatch(format!(
                            "{what} differs from the golden model: text {sentence}, token {position}, channel {c}: expected {want}, got {got}"
                        )));
                    }
                }
            }
        }
        Ok(lowered.stores.len())
    }
}

/// "layer 2 linear ffn_in", "layer 0 attention", "layer 5 layer_norm ffn".
fn describe(op: &Op) -> String {
    match *op {
        Op::Linear { layer, kind, .. } => format!("layer {layer} linear {}", kind.name()),
        Op::Attention { layer, .. } => format!("layer {layer} attention"),
        Op::LayerNorm { layer, norm, .. } => {
            format!(
                "layer {layer} layer_norm {}",
                if norm == NormKind::Ffn { "ffn" } else { "attn" }
            )
        }
    }
}

/// (sentence, position in it) of the i-th token of the batch.
fn locate(lengths: &[usize], mut i: usize) -> (usize, usize) {
    for (s, &len) in lengths.iter().enumerate() {
        if i < len {
            return (s, i);
        }
        i -= len;
    }
    (lengths.len(), i)
}

fn float_cosines(
    args: &RunArgs,
    loaded: &LoadedProgram,
    sentences: &[Vec<u32>],
    embeddings: &[Vec<f32>],
) -> Result<Vec<Option<f64>>> {
    let dir = args.model.clone().or_else(|| {
        loaded
            .manifest
            .as_ref()
            .map(|m| PathBuf::from(&m.model))
            .filter(|d| d.join("model.safetensors").is_file())
    });
    let Some(dir) = dir else {
        return Ok(vec![None; embeddings.len()]);
    };
    let (model, _) = load_model(&dir)?;
    let float = FloatReference::new(&model).map_err(compile_error)?;
    let reference = float.embed(sentences).map_err(compile_error)?;
    Ok(reference
        .iter()
        .zip(embeddings)
        .map(|(f, e)| Some(cosine(f, e)))
        .collect())
}

fn build_report(
    args: &RunArgs,
    config: &AccelConfig,
    lowered: &Lowered,
    sim: &SimResult,
    tokens: &Tokens,
    (layers, compared): (usize, usize),
    cosine_vs_float: Vec<Option<f64>>,
) -> RunReport {
    let s: &Status = &sim.status;
    let op = |op, cycles: u64, beats: u64| OpCycles {
        op,
        cycles,
        array_beats: beats,
        utilisation: if cycles == 0 {
            0.0
        } else {
            beats as f64 / cycles as f64
        },
    };
    RunReport {
        design: args.design.display().to_string(),
        program: args.program.display().to_string(),
        sparsity: if lowered.instructions.iter().any(is_dense_gemm) {
            "dense".into()
        } else {
            format!("{}:{}", config.n, config.m)
        },
        texts: tokens.lengths.len(),
        tokens: tokens.lengths.clone(),
        rows_on_chip: lowered.layout.tokens,
        bit_exact_layers: layers,
        compared_results: compared,
        total_cycles: s.cycles,
        ops: vec![
            op("gemm", s.busy_gemm, s.beats_gemm),
            op("attention", s.busy_attn, s.beats_attn),
            op("layer_norm", s.busy_ln, 0),
            op("store", s.busy_store, 0),
        ],
        stalled_on_stream: s.idle_waiting,
        input_words: sim.input_words,
        output_words: sim.output_words,
        build_seconds: sim.build_seconds,
        simulation_seconds: sim.run_seconds,
        simulated_cycles_per_second: sim.cycles as f64 / sim.run_seconds.max(1e-9),
        cosine_vs_float,
    }
}

fn is_dense_gemm(i: &sta_golden::top::isa::Instr) -> bool {
    matches!(i, sta_golden::top::isa::Instr::Gemm { dense: true, .. })
}

fn print_report(r: &RunReport) {
    println!(
        "{} text(s), {:?} tokens ({} rows on chip), {} program: {} layers bit-exact with the golden model ({} results compared)",
        r.texts, r.tokens, r.rows_on_chip, r.sparsity, r.bit_exact_layers, r.compared_results
    );
    println!(
        "total {} cycles; stalled on the input stream {} cycles",
        r.total_cycles, r.stalled_on_stream
    );
    for op in &r.ops {
        println!(
            "  {:<10} {:>10} cycles  {:>10} array beats  utilisation {:.3}",
            op.op, op.cycles, op.array_beats, op.utilisation
        );
    }
    for (i, c) in r.cosine_vs_float.iter().enumerate() {
        match c {
            Some(c) => println!("  text {i}: cosine vs float model {c:.5}"),
            None => {
                println!("  text {i}: cosine vs float model n/a (no float model: pass --model DIR)")
            }
        }
    }
    println!(
        "model built (or cached) in {:.1} s; simulated in {:.1} s ({:.0} cycles/s)",
        r.build_seconds, r.simulation_seconds, r.simulated_cycles_per_second
    );
}

fn write_embeddings(out: &std::path::Path, embeddings: &[Vec<f32>], force: bool) -> Result<()> {
    let dim = embeddings.first().map_or(0, Vec::len) as u64;
    let flat: Vec<f32> = embeddings.concat();
    let bytes = encode_npy(&[embeddings.len() as u64, dim], &flat)
        .map_err(io_context("encoding the embeddings"))?;
    write_file_atomically(out, &bytes, force)
}

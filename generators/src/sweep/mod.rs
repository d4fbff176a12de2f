//! `sta sweep`: the N:M × array-size trade-off on one FPGA part. Every point is generated and taken through
//! `sta synth` (the same flow, out of context by default); the table and the pareto plot come out of the points'
//! results. Resumable: each finished point leaves `points/<id>/result.json`, which a rerun keeps (a design that does
//! not fit is a finished point too; a tool failure is not, and is retried). See docs/fpga.md, "Design-space sweep".
//!
//! Besides the in-process runner (`--jobs`), `--plan-only` writes the points as independent shell jobs for GNU
//! parallel or a Slurm job array, and `--collect` merges whatever has finished ([`plan`]).

pub mod plan;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use sta_golden::pe_array::{ArrayShape, DspMapping};

use crate::design::write_pe_array_io;
use crate::error::{io_context, usage, Result, StaError};
use crate::fpga::scripts::IoMode;
use crate::fpga::synth::FREQ_RANGE;
use crate::fpga::target::{find_target, Family, Target};
use crate::fpga::{run_synth, Silent, SynthRequest, SynthSummary};
use crate::output::write_file_atomically;

#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// Comma-separated N:M patterns, e.g. 1:8,2:8,4:8,8:8.
    #[arg(long = "n-m", value_delimiter = ',', value_parser = parse_nm, value_name = "N:M,...",
          required_unless_present = "collect")]
    pub n_m: Vec<(usize, usize)>,
    /// Comma-separated array sizes ROWSxCOLS, e.g. 4x4,8x8,16x16.
    #[arg(long, value_delimiter = ',', value_parser = parse_size, value_name = "RxC,...",
          required_unless_present = "collect")]
    pub sizes: Vec<(usize, usize)>,
    /// FPGA target (as for `sta synth`).
    #[arg(long, value_name = "T")]
    pub target: Option<String>,
    /// Clock target in MHz [default: the target's, as for `sta synth`].
    #[arg(long, value_name = "MHZ")]
    pub freq: Option<f64>,
    /// Multipliers: `auto` (ECP5 DSP primitives on ECP5 targets, inferred elsewhere), `inferred` or `ecp5`.
    #[arg(long, default_value = "auto", value_name = "auto|inferred|ecp5")]
    pub dsp: String,
    /// How each array meets the part: out of context (default: the array alone, no I/O) or the stream wrapper.
    #[arg(long, value_enum, default_value_t = IoMode::Ooc)]
    pub io: IoMode,
    /// Accumulator width of every point.
    #[arg(long, default_value_t = 32)]
    pub acc_width: u32,
    /// Points synthesised at once (each place-and-route of a large ECP5 design takes about 1 GB and one core).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// nextpnr's placement seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Sweep directory: created, or resumed when it holds a sweep with the same target, clock and mapping.
    #[arg(long, value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Write OUT/jobs.txt (one shell command per point: generate + synth into OUT/points/<id>/, for
    /// `parallel -j N < OUT/jobs.txt`, also across machines with --sshlogin) and OUT/slurm.sh (a Slurm job array
    /// running the same lines) instead of running the points; then `sta sweep --collect OUT`.
    #[arg(long, conflicts_with = "jobs")]
    pub plan_only: bool,
    /// Merge the finished points of the sweep directory DIR into its table and plot (any time, as often as wanted);
    /// unfinished points are listed.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["n_m", "sizes", "target", "out", "plan_only", "freq"])]
    pub collect: Option<PathBuf>,
}

impl SweepArgs {
    /// `--target` (checked present by [`run_sweep`] before use).
    fn target(&self) -> &str {
        self.target.as_deref().unwrap_or_default()
    }
    /// `--out` (checked present by [`run_sweep`] before use).
    fn out(&self) -> &Path {
        self.out.as_deref().unwrap_or(Path::new(""))
    }
}

fn parse_nm(text: &str) -> std::result::Result<(usize, usize), String> {
    let err = || format!("'{text}' is not an N:M pattern like 2:8");
    let (n, m) = text.trim().split_once(':').ok_or_else(err)?;
    Ok((n.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?))
}

fn parse_size(text: &str) -> std::result::Result<(usize, usize), String> {
    let err = || format!("'{text}' is not an array size like 8x8 (ROWSxCOLS)");
    let (r, c) = text.trim().split_once(['x', 'X']).ok_or_else(err)?;
    Ok((r.parse().map_err(|_| err())?, c.parse().map_err(|_| err())?))
}

/// What a sweep directory was made for; a rerun must ask for the same to resume it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SweepIdentity {
    target: String,
    freq_mhz: Option<f64>,
    dsp: String,
    io: String,
    acc_width: u32,
    seed: u64,
}

const IDENTITY_FILE: &str = "sweep.identity.json";

/// One row of the sweep table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    pub n: usize,
    pub m: usize,
    pub rows: usize,
    pub cols: usize,
    pub pes: usize,
    pub multipliers: usize,
    /// `ok`, `does-not-fit` or `failed`.
    pub status: String,
    pub luts: Option<u64>,
    pub ffs: Option<u64>,
    pub dsps: Option<u64>,
    pub brams: Option<u64>,
    pub fmax_mhz: Option<f64>,
    /// Peak dense-equivalent GOPS on sparse weights: 2·R·C·M·Fmax (every beat stands for M dense MACs per PE).
    pub gops_sparse: Option<f64>,
    /// Peak GOPS on dense weights: 2·R·C·N·Fmax.
    pub gops_dense: Option<f64>,
    pub gops_per_dsp: Option<f64>,
    pub gops_per_klut: Option<f64>,
    pub runtime_s: Option<f64>,
    /// What limits Fmax, or why the point has no numbers.
    pub note: String,
}

impl SweepRow {
    fn id(&self) -> String {
        point_id(self.n, self.m, self.rows, self.cols)
    }
}

fn point_id(n: usize, m: usize, rows: usize, cols: usize) -> String {
    format!("n{n}m{m}_r{rows}c{cols}")
}

/// `sta sweep`.
pub fn run_sweep(args: &SweepArgs) -> Result<()> {
    if let Some(dir) = &args.collect {
        return plan::collect(dir);
    }
    for (missing, flag) in [
        (args.target.is_none(), "--target"),
        (args.out.is_none(), "--out"),
    ] {
        if missing {
            return Err(StaError::Usage(format!(
                "{flag} is required (or give only --collect DIR to merge a sweep's finished points)"
            )));
        }
    }
    let target = find_target(args.target())?;
    let dsp = resolve_dsp(&args.dsp, target)?;
    if args.jobs == 0 || args.jobs > 16 {
        return Err(StaError::Usage(format!(
            "--jobs {} is out of range; use 1..=16 (each ECP5 place-and-route needs about 1 GB and one core)",
            args.jobs
        )));
    }
    if let Some(freq) = args.freq.filter(|f| !FREQ_RANGE.contains(f)) {
        return Err(StaError::Usage(format!(
            "--freq {freq} is out of range; allowed: 1 to 1000 (MHz)"
        )));
    }
    let shapes = shapes(args, dsp)?;
    let identity = SweepIdentity {
        target: args.target().to_string(),
        freq_mhz: args.freq,
        dsp: dsp.name(),
        io: format!("{:?}", args.io).to_lowercase(),
        acc_width: args.acc_width,
        seed: args.seed,
    };
    prepare_dir(args.out(), &identity)?;
    if args.plan_only {
        return plan::write_plan(args, target, &shapes);
    }

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let rows: Mutex<Vec<SweepRow>> = Mutex::new(Vec::new());
    let total = shapes.len();
    eprintln!(
        "sweep: {total} points on {} with {} job(s) into {}",
        args.target(),
        args.jobs,
        args.out().display()
    );
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.min(total) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(shape) = shapes.get(i) else { break };
                let row = run_point(args, target, shape);
                let k = done.fetch_add(1, Ordering::SeqCst) + 1;
                eprintln!("[{k}/{total}] {}", row_line(&row));
                rows.lock().expect("no worker panics").push(row);
            });
        }
    });
    let mut rows = rows.into_inner().expect("no worker panics");
    rows.sort_by_key(|r| (r.m, r.n, r.pes, r.rows));
    write_outputs(args.out(), args.target(), &rows)?;
    let failed = rows.iter().filter(|r| r.status == "failed").count();
    println!(
        "sweep of {total} points in {:.0} s: {} placed, {} do not fit, {failed} failed; table {}, plot {}",
        started.elapsed().as_secs_f64(),
        rows.iter().filter(|r| r.status == "ok").count(),
        rows.iter().filter(|r| r.status == "does-not-fit").count(),
        args.out().join("sweep.md").display(),
        args.out().join("pareto.svg").display()
    );
    if failed > 0 {
        return Err(StaError::Tool(format!(
            "{failed} point(s) failed (tool errors, see their lines above and points/<id>/synth.failed/); rerun the \
             same command to retry them: finished points are kept"
        )));
    }
    Ok(())
}

fn resolve_dsp(text: &str, target: &Target) -> Result<DspMapping> {
    match text {
        "auto" if target.family == Family::Ecp5 => Ok(DspMapping::Ecp5),
        "auto" => Ok(DspMapping::Inferred),
        "inferred" => Ok(DspMapping::Inferred),
        // ecp5-mixed without a budget: every MULT18X18D of the target
        "ecp5-mixed" if target.family == Family::Ecp5 => Ok(DspMapping::Ecp5Mixed {
            dsps: target.available("MULT18X18D").unwrap_or(0) as u32,
        }),
        other => match DspMapping::parse(other) {
            Ok(dsp) if target.family == Family::Ecp5 => Ok(dsp),
            Ok(_) => Err(StaError::Usage(format!(
                "--dsp {other} instantiates ECP5 DSP blocks, which {} does not have; use --dsp inferred",
                target.name
            ))),
            Err(_) => Err(StaError::Usage(format!(
                "unknown --dsp '{other}'; use auto, inferred, ecp5, ecp5-mixed (the target's DSP blocks, LUT \
                 multipliers beyond) or ecp5-mixed:D"
            ))),
        },
    }
}

fn shapes(args: &SweepArgs, dsp: DspMapping) -> Result<Vec<ArrayShape>> {
    let mut shapes = Vec::new();
    for &(n, m) in &args.n_m {
        for &(rows, cols) in &args.sizes {
            let shape = ArrayShape::new(
                n,
                m,
                rows,
                cols,
                args.acc_width,
                ArrayShape::DEFAULT_MAX_K.min(max_k_for(args.acc_width, m)),
            )
            .map_err(|e| usage(format!("point {n}:{m} {rows}x{cols}: {e}")))?;
            shapes.push(shape.with_dsp(dsp));
        }
    }
    Ok(shapes)
}

/// The largest multiple of `m` that an `acc_width`-bit accumulator holds (numerics.md overflow rule), so that narrow
/// accumulators can be swept too.
fn max_k_for(acc_width: u32, m: usize) -> usize {
    let limit = ((1u64 << (acc_width.min(48) - 1)) - 1) / 16384;
    let k = (limit as usize / m) * m;
    k.max(m)
}

/// Creates `out`, or checks that it holds a sweep made with the same identity (so its points can be reused).
fn prepare_dir(out: &Path, identity: &SweepIdentity) -> Result<()> {
    let file = out.join(IDENTITY_FILE);
    if out.exists() {
        let text = std::fs::read_to_string(&file).map_err(|_| {
            StaError::Usage(format!(
                "{} exists and is not a sweep directory (no {IDENTITY_FILE}); choose another --out",
                out.display()
            ))
        })?;
        let found: SweepIdentity = serde_json::from_str(&text)
            .map_err(|e| StaError::Usage(format!("{} is damaged: {e}", file.display())))?;
        if &found != identity {
            return Err(StaError::Usage(format!(
                "{} holds a sweep with other settings ({}); use another --out to sweep with these",
                out.display(),
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            )));
        }
        return Ok(());
    }
    std::fs::create_dir_all(out.join("points"))
        .map_err(io_context(format!("creating {}", out.display())))?;
    let json = serde_json::to_string_pretty(identity).expect("plain struct serializes") + "\n";
    write_file_atomically(&file, json.as_bytes(), false)
}

/// With `--dsp ecp5` every multiplier is one MULT18X18D, so R·C·N against the part's DSP blocks decides the fit
/// before any synthesis (Yosys alone takes minutes on an 8:8 16x16 array that could never fit).
fn dsp_overflow(target: &Target, shape: &ArrayShape) -> Option<String> {
    if shape.dsp != DspMapping::Ecp5 {
        return None;
    }
    let available = target.available("MULT18X18D")?;
    let needed = (shape.rows * shape.cols * shape.n) as u64;
    (needed > available).then(|| {
        format!(
            "{} {}: MULT18X18D {needed} needed of {available} (+{}, {} %): with --dsp ecp5 every multiplier is one \
             DSP block (R·C·N), decided without synthesis",
            crate::fpga::synth::DOES_NOT_FIT,
            target.name,
            needed - available,
            100 * needed / available
        )
    })
}

/// Generates and synthesises one point, or reads its earlier result.
fn run_point(args: &SweepArgs, target: &Target, shape: &ArrayShape) -> SweepRow {
    let dir = args
        .out()
        .join("points")
        .join(point_id(shape.n, shape.m, shape.rows, shape.cols));
    if let Some(row) = std::fs::read_to_string(dir.join(RESULT_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<SweepRow>(&t).ok())
    {
        return row;
    }
    let started = Instant::now();
    let outcome = match dsp_overflow(target, shape) {
        Some(message) => Err(StaError::Usage(message)),
        None => synthesise_point(args, shape, &dir),
    };
    let elapsed = started.elapsed().as_secs_f64();
    let row = match outcome {
        Ok(summary) => row_from_summary(shape, &summary),
        Err(e) if is_does_not_fit(&e) => blank_row(shape, "does-not-fit", e.to_string()),
        Err(e) => blank_row(shape, "failed", e.to_string()),
    };
    let row = SweepRow {
        runtime_s: Some(round(elapsed, 1)),
        ..row
    };
    if row.status != "failed" {
        if let Err(e) = record_point(&dir, &row) {
            eprintln!(
                "warning: cannot record {}: {e}",
                dir.join(RESULT_FILE).display()
            );
        }
    }
    row
}

/// A finished point's row, kept as `points/<id>/result.json` (what resumed runs and `--collect` read back).
const RESULT_FILE: &str = "result.json";

fn record_point(dir: &Path, row: &SweepRow) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_context(format!("creating {}", dir.display())))?;
    let json = serde_json::to_string_pretty(row).expect("plain struct serializes") + "\n";
    write_file_atomically(&dir.join(RESULT_FILE), json.as_bytes(), true)
}

fn synthesise_point(args: &SweepArgs, shape: &ArrayShape, dir: &Path) -> Result<SynthSummary> {
    let design = dir.join("design");
    // a design directory left by an interrupted run is regenerated: generation is deterministic and takes ms
    write_pe_array_io(shape, sta_hdl::stream_io::DEFAULT_WORD_BITS, &design, true)?;
    let mut request = SynthRequest::new(&design, args.target(), dir.join("synth"));
    request.freq_mhz = args.freq;
    request.io = args.io;
    request.seed = args.seed;
    request.bitstream = false;
    request.force = true;
    run_synth(&request, &Silent)
}

fn is_does_not_fit(e: &StaError) -> bool {
    e.to_string().starts_with(crate::fpga::synth::DOES_NOT_FIT)
}

fn blank_row(shape: &ArrayShape, status: &str, note: String) -> SweepRow {
    SweepRow {
        n: shape.n,
        m: shape.m,
        rows: shape.rows,
        cols: shape.cols,
        pes: shape.rows * shape.cols,
        multipliers: shape.rows * shape.cols * shape.n,
        status: status.to_string(),
        luts: None,
        ffs: None,
        dsps: None,
        brams: None,
        fmax_mhz: None,
        gops_sparse: None,
        gops_dense: None,
        gops_per_dsp: None,
        gops_per_klut: None,
        runtime_s: None,
        note: note.lines().next().unwrap_or_default().to_string(),
    }
}

fn used_by_role(summary: &SynthSummary, role: &str) -> Option<u64> {
    let matching: Vec<u64> = summary
        .resources
        .values()
        .filter(|r| r.role.as_deref() == Some(role))
        .map(|r| r.used)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

fn row_from_summary(shape: &ArrayShape, summary: &SynthSummary) -> SweepRow {
    let mut row = blank_row(shape, "ok", String::new());
    row.luts = used_by_role(summary, "lut");
    row.ffs = used_by_role(summary, "ff");
    row.dsps = used_by_role(summary, "dsp");
    row.brams = used_by_role(summary, "bram");
    row.fmax_mhz = summary.fmax_min_mhz.map(|f| round(f, 1));
    let pes = (shape.rows * shape.cols) as f64;
    if let Some(f) = summary.fmax_min_mhz {
        let sparse = 2.0 * pes * shape.m as f64 * f / 1000.0;
        row.gops_sparse = Some(round(sparse, 1));
        row.gops_dense = Some(round(2.0 * pes * shape.n as f64 * f / 1000.0, 1));
        row.gops_per_dsp = row
            .dsps
            .filter(|d| *d > 0)
            .map(|d| round(sparse / d as f64, 2));
        row.gops_per_klut = row
            .luts
            .filter(|l| *l > 0)
            .map(|l| round(sparse / (l as f64 / 1000.0), 2));
    }
    row.note = summary
        .critical_path
        .as_ref()
        .map(|p| p.limited_by.clone())
        .unwrap_or_default();
    row
}

fn opt<T: std::fmt::Display>(x: Option<T>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn row_line(r: &SweepRow) -> String {
    match r.status.as_str() {
        "ok" => format!(
            "{}:{} {}x{}: {} LUT, {} FF, {} DSP, {} MHz, {} GOPS sparse ({} s)",
            r.n,
            r.m,
            r.rows,
            r.cols,
            opt(r.luts),
            opt(r.ffs),
            opt(r.dsps),
            opt(r.fmax_mhz),
            opt(r.gops_sparse),
            opt(r.runtime_s)
        ),
        status => format!(
            "{}:{} {}x{}: {status}: {}",
            r.n, r.m, r.rows, r.cols, r.note
        ),
    }
}

const CSV_HEADER: &str =
    "n,m,rows,cols,pes,multipliers,status,luts,ffs,dsps,brams,fmax_mhz,gops_sparse,gops_dense,\
                          gops_per_dsp,gops_per_klut,runtime_s,note";

fn csv(rows: &[SweepRow]) -> String {
    let mut text = CSV_HEADER.replace(' ', "") + "\n";
    for r in rows {
        let _ = writeln!(
            text,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},\"{}\"",
            r.n,
            r.m,
            r.rows,
            r.cols,
            r.pes,
            r.multipliers,
            r.status,
            opt(r.luts),
            opt(r.ffs),
            opt(r.dsps),
            opt(r.brams),
            opt(r.fmax_mhz),
            opt(r.gops_sparse),
            opt(r.gops_dense),
            opt(r.gops_per_dsp),
            opt(r.gops_per_klut),
            opt(r.runtime_s),
            r.note.replace('"', "'")
        );
    }
    text
}

fn markdown(target: &str, rows: &[SweepRow]) -> String {
    let mut md = format!(
        "# Sweep on {target}\n\nPeak dense-equivalent GOPS = 2·R·C·M·Fmax (sparse weights) and 2·R·C·N·Fmax (dense \
         weights); per DSP and per kLUT use the sparse figure. Pareto-optimal points (no other point has more sparse \
         GOPS with fewer LUTs) are marked ★.\n\n\
         | N:M | array | PEs | LUT | FF | DSP | Fmax MHz | GOPS sparse | GOPS dense | GOPS/DSP | GOPS/kLUT | status |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    let front = pareto(rows);
    for r in rows {
        let star = if front.contains(&r.id()) { " ★" } else { "" };
        let status = match r.status.as_str() {
            "ok" => "placed".to_string(),
            _ => format!("{}: {}", r.status, short_note(&r.note)),
        };
        let _ = writeln!(
            md,
            "| {}:{} | {}×{}{star} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {status} |",
            r.n,
            r.m,
            r.rows,
            r.cols,
            r.pes,
            opt(r.luts),
            opt(r.ffs),
            opt(r.dsps),
            opt(r.fmax_mhz),
            opt(r.gops_sparse),
            opt(r.gops_dense),
            opt(r.gops_per_dsp),
            opt(r.gops_per_klut),
        );
    }
    md
}

/// The reason without the where-to-look tail (the full text stays in the CSV and JSON).
fn short_note(note: &str) -> &str {
    let note = note
        .strip_prefix(crate::fpga::synth::DOES_NOT_FIT)
        .unwrap_or(note);
    let end = [
        " (Yosys cell counts",
        "; partial results",
        ": with --dsp ecp5",
    ]
    .iter()
    .filter_map(|cut| note.find(cut))
    .min()
    .unwrap_or(note.len());
    note[..end].trim()
}

/// Ids of the placed points that no other placed point beats on both LUTs (fewer or equal) and sparse GOPS (more).
fn pareto(rows: &[SweepRow]) -> Vec<String> {
    let placed: Vec<(&SweepRow, f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((r, r.luts? as f64, r.gops_sparse?)))
        .collect();
    placed
        .iter()
        .filter(|(_, l, g)| {
            !placed
                .iter()
                .any(|(_, l2, g2)| l2 <= l && g2 >= g && (l2 < l || g2 > g))
        })
        .map(|(r, _, _)| r.id())
        .collect()
}

fn write_outputs(out: &Path, target: &str, rows: &[SweepRow]) -> Result<()> {
    let json = serde_json::to_string_pretty(rows).expect("plain structs serialize") + "\n";
    write_file_atomically(&out.join("sweep.json"), json.as_bytes(), true)?;
    write_file_atomically(&out.join("sweep.csv"), csv(rows).as_bytes(), true)?;
    write_file_atomically(
        &out.join("sweep.md"),
        markdown(target, rows).as_bytes(),
        true,
    )?;
    let svg = plot(target, rows)?;
    write_file_atomically(&out.join("pareto.svg"), svg.as_bytes(), true)
}

/// Sparse dense-equivalent GOPS against kLUT, one colour per N:M, the pareto front as a line.
fn plot(target: &str, rows: &[SweepRow]) -> Result<String> {
    let points: Vec<(&SweepRow, f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((r, r.luts? as f64 / 1000.0, r.gops_sparse?)))
        .collect();
    let x_max = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.15;
    let y_max = points.iter().map(|p| p.2).fold(1.0, f64::max) * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 600)).into_drawing_area();
        let draw_err =
            |e: &dyn std::fmt::Display| StaError::Tool(format!("cannot draw the plot: {e}"));
        root.fill(&WHITE).map_err(|e| draw_err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{target}: peak dense-equivalent GOPS (sparse) vs LUTs"),
                ("sans-serif", 20),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(|e| draw_err(&e))?;
        chart
            .configure_mesh()
            .x_desc("kLUT")
            .y_desc("GOPS (2·R·C·M·Fmax)")
            .draw()
            .map_err(|e| draw_err(&e))?;
        let mut patterns: Vec<(usize, usize)> = points.iter().map(|(r, _, _)| (r.n, r.m)).collect();
        patterns.sort();
        patterns.dedup();
        for (k, &(n, m)) in patterns.iter().enumerate() {
            let colour = Palette99::pick(k).to_rgba();
            let series: Vec<(f64, f64, String)> = points
                .iter()
                .filter(|(r, _, _)| (r.n, r.m) == (n, m))
                .map(|(r, x, y)| (*x, *y, format!("{}x{}", r.rows, r.cols)))
                .collect();
            chart
                .draw_series(series.iter().map(|(x, y, label)| {
                    EmptyElement::at((*x, *y))
                        + Circle::new((0, 0), 5, colour.filled())
                        + Text::new(label.clone(), (7, -12), ("sans-serif", 12))
                }))
                .map_err(|e| draw_err(&e))?
                .label(format!("{n}:{m}"))
                .legend(move |(x, y)| Circle::new((x, y), 5, colour.filled()));
        }
        let front = pareto(rows);
        let mut line: Vec<(f64, f64)> = points
            .iter()
            .filter(|(r, _, _)| front.contains(&r.id()))
            .map(|(_, x, y)| (*x, *y))
            .collect();
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(line, BLACK.stroke_width(1)))
            .map_err(|e| draw_err(&e))?
            .label("pareto front")
            .legend(|(x, y)| PathElement::new(vec![(x - 10, y), (x + 10, y)], BLACK));
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.9))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| draw_err(&e))?;
        root.present().map_err(|e| draw_err(&e))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: usize, m: usize, rc: usize, luts: u64, gops: f64) -> SweepRow {
        let mut r = blank_row(
            &ArrayShape::new(n, m, rc, rc, 32, 65536).unwrap(),
            "ok",
            String::new(),
        );
        r.luts = Some(luts);
        r.gops_sparse = Some(gops);
        r
    }

    #[test]
    fn flags_parse_and_bad_ones_say_what_is_expected() {
        assert_eq!(parse_nm("2:8"), Ok((2, 8)));
        assert_eq!(parse_size("16x8"), Ok((16, 8)));
        assert!(parse_nm("2-8").unwrap_err().contains("like 2:8"));
        assert!(parse_size("8").unwrap_err().contains("ROWSxCOLS"));
    }

    #[test]
    fn pareto_front_drops_dominated_points() {
        let rows = vec![
            row(2, 8, 4, 1000, 10.0),
            row(2, 8, 8, 4000, 40.0),
            row(4, 8, 4, 2000, 8.0), // more LUTs and fewer GOPS than 2:8 4x4
        ];
        let front = pareto(&rows);
        assert_eq!(
            front,
            vec!["n2m8_r4c4".to_string(), "n2m8_r8c8".to_string()]
        );
        let svg = plot("ecp5-85k", &rows).unwrap();
        assert!(svg.contains("<svg") && svg.contains("2:8"));
        assert!(csv(&rows).lines().count() == 4);
    }

    #[test]
    fn ecp5_dsp_overflow_is_decided_without_synthesis() {
        let target = find_target("ecp5-85k").unwrap();
        let fits = ArrayShape::new(2, 8, 6, 13, 32, 65536)
            .unwrap()
            .with_dsp(DspMapping::Ecp5);
        assert_eq!(
            dsp_overflow(target, &fits),
            None,
            "6x13x2 = 156 DSPs fit exactly"
        );
        let big = ArrayShape::new(2, 8, 8, 10, 32, 65536)
            .unwrap()
            .with_dsp(DspMapping::Ecp5);
        let message = dsp_overflow(target, &big).unwrap();
        assert!(message.contains("160 needed of 156 (+4"), "{message}");
        assert!(is_does_not_fit(&StaError::Usage(message)));
        let inferred = ArrayShape::new(2, 8, 8, 10, 32, 65536).unwrap();
        assert_eq!(
            dsp_overflow(target, &inferred),
            None,
            "inferred: Yosys decides"
        );
    }

    #[test]
    fn max_k_respects_the_accumulator() {
        assert_eq!(max_k_for(32, 8), 131064);
        assert!(max_k_for(20, 16) * 16384 < 1 << 19);
    }
}

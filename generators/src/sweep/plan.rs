//! `sta sweep --plan-only` and `sta sweep --collect`: a sweep as independent shell jobs that a cluster engine the user
//! already runs spreads over machines, and the merge of whatever has finished.
//!
//! The plan is written into the sweep directory: `jobs.txt` (one line per point still to do: `sta generate` then
//! `sta synth` into `points/<id>/`, absolute paths, its output in `points/<id>/job.log`), `slurm.sh` (a Slurm job
//! array whose task k runs line k), and `plan.json` (the points, so that `--collect` knows what is missing). A point
//! whose multipliers cannot fit the part's DSP blocks is decided when planning (as the in-process runner does) and
//! gets no job. `--collect` turns each finished point into the row the in-process runner would have written
//! (`points/<id>/result.json`, kept for later collects and resumed runs) and writes the same table and plot.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sta_golden::pe_array::{ArrayShape, DspMapping};

use super::{
    blank_row, dsp_overflow, point_id, record_point, round, row_from_summary, row_line,
    write_outputs, SweepArgs, SweepIdentity, SweepRow, IDENTITY_FILE, RESULT_FILE,
};
use crate::error::{io_context, usage, Result, StaError};
use crate::fpga::synth::{DOES_NOT_FIT, SUMMARY_JSON};
use crate::fpga::target::Target;
use crate::fpga::SynthSummary;
use crate::output::write_file_atomically;

pub const JOBS_FILE: &str = "jobs.txt";
pub const SLURM_FILE: &str = "slurm.sh";
pub const PLAN_FILE: &str = "plan.json";
/// Each job's standard output and error, in its point directory.
pub const JOB_LOG: &str = "job.log";

/// One point of a plan: enough to rebuild its [`ArrayShape`] when collecting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PlannedPoint {
    id: String,
    n: usize,
    m: usize,
    rows: usize,
    cols: usize,
    acc_width: u32,
    max_k: usize,
}

impl PlannedPoint {
    fn of(shape: &ArrayShape) -> PlannedPoint {
        PlannedPoint {
            id: point_id(shape.n, shape.m, shape.rows, shape.cols),
            n: shape.n,
            m: shape.m,
            rows: shape.rows,
            cols: shape.cols,
            acc_width: shape.acc_width,
            max_k: shape.max_k,
        }
    }

    fn shape(&self, dsp: DspMapping) -> Result<ArrayShape> {
        ArrayShape::new(
            self.n,
            self.m,
            self.rows,
            self.cols,
            self.acc_width,
            self.max_k,
        )
        .map(|s| s.with_dsp(dsp))
        .map_err(|e| usage(format!("{PLAN_FILE}: point {}: {e}", self.id)))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Plan {
    points: Vec<PlannedPoint>,
}

/// A path as one shell word.
fn quote(path: &Path) -> Result<String> {
    let text = path.to_str().ok_or_else(|| {
        usage(format!(
            "{} is not UTF-8: a job line cannot name it",
            path.display()
        ))
    })?;
    shlex::try_quote(text).map(|q| q.into_owned()).map_err(|_| {
        usage(format!(
            "{text:?} cannot be quoted for a shell (a NUL byte)"
        ))
    })
}

/// The shell command of one point: generate its design, synthesise it, everything into `dir`.
fn job_line(sta: &Path, args: &SweepArgs, shape: &ArrayShape, dir: &Path) -> Result<String> {
    let (sta, dir_q) = (quote(sta)?, quote(dir)?);
    let design = quote(&dir.join("design"))?;
    let synth = quote(&dir.join("synth"))?;
    let log = quote(&dir.join(JOB_LOG))?;
    let freq = args.freq.map_or(String::new(), |f| format!(" --freq {f}"));
    Ok(format!(
        "mkdir -p {dir_q} && {{ {sta} generate --n {n} --m {m} --rows {r} --cols {c} --acc-width {a} --max-k {k} \
         --dsp {dsp} --out {design} --force && {sta} synth --design {design} --target {t}{freq} --io {io} --seed {seed} \
         --no-bitstream --out {synth} --force; }} > {log} 2>&1",
        n = shape.n,
        m = shape.m,
        r = shape.rows,
        c = shape.cols,
        a = shape.acc_width,
        k = shape.max_k,
        dsp = shape.dsp.name(),
        t = args.target(),
        io = args.io.name(),
        seed = args.seed,
    ))
}

/// A Slurm job array over `jobs` lines of `jobs_file`: task k runs line k.
fn slurm_script(jobs_file: &Path, out: &Path, jobs: usize) -> Result<String> {
    let file = quote(jobs_file)?;
    let logs = quote(&out.join("slurm-%A_%a.out"))?;
    Ok(format!(
        "#!/usr/bin/env bash\n\
         # The points of an sta sweep as a Slurm job array: task k runs line k of {JOBS_FILE} (a generate + synth of\n\
         # one point into its own directory; one core, about 1 GB for a large ECP5 place-and-route). Submit with\n\
         # `sbatch {SLURM_FILE}`; afterwards (or meanwhile) `sta sweep --collect <this directory>`.\n\
         #SBATCH --job-name=sta-sweep\n\
         #SBATCH --array=1-{jobs}\n\
         #SBATCH --cpus-per-task=1\n\
         #SBATCH --mem=2G\n\
         #SBATCH --output={logs}\n\
         set -euo pipefail\n\
         line=$(sed -n \"${{SLURM_ARRAY_TASK_ID:?run as a Slurm array task}}p\" {file})\n\
         exec bash -c \"$line\"\n"
    ))
}

/// `sta sweep … --plan-only`: writes jobs.txt, slurm.sh and plan.json into the (prepared) sweep directory.
pub fn write_plan(args: &SweepArgs, target: &Target, shapes: &[ArrayShape]) -> Result<()> {
    let out = std::path::absolute(args.out())
        .map_err(io_context(format!("resolving {}", args.out().display())))?;
    let sta =
        std::env::current_exe().map_err(io_context("finding the sta executable".to_string()))?;
    let mut jobs = String::new();
    let mut decided = 0;
    for shape in shapes {
        let dir = out
            .join("points")
            .join(point_id(shape.n, shape.m, shape.rows, shape.cols));
        if dir.join(RESULT_FILE).is_file() {
            decided += 1;
            continue;
        }
        if let Some(message) = dsp_overflow(target, shape) {
            record_point(
                &dir,
                &SweepRow {
                    runtime_s: Some(0.0),
                    ..blank_row(shape, "does-not-fit", message)
                },
            )?;
            decided += 1;
            continue;
        }
        jobs += &job_line(&sta, args, shape, &dir)?;
        jobs.push('\n');
    }
    let count = jobs.lines().count();
    let plan = Plan {
        points: shapes.iter().map(PlannedPoint::of).collect(),
    };
    let json = serde_json::to_string_pretty(&plan).expect("plain structs serialize") + "\n";
    write_file_atomically(&out.join(PLAN_FILE), json.as_bytes(), true)?;
    write_file_atomically(&out.join(JOBS_FILE), jobs.as_bytes(), true)?;
    let slurm = slurm_script(&out.join(JOBS_FILE), &out, count.max(1))?;
    write_file_atomically(&out.join(SLURM_FILE), slurm.as_bytes(), true)?;
    println!(
        "sweep plan: {} points, {count} job(s) in {} ({decided} already decided: finished, or too many multipliers \
         for the DSP blocks)\n  run: parallel -j N < {}   (or across machines: parallel --sshlogin … ; Slurm: sbatch \
         {})\n  then: sta sweep --collect {}",
        shapes.len(),
        out.join(JOBS_FILE).display(),
        out.join(JOBS_FILE).display(),
        out.join(SLURM_FILE).display(),
        out.display()
    );
    Ok(())
}

/// What became of one point.
enum PointState {
    Done(Box<SweepRow>),
    Failed(String),
    Unfinished,
}

/// The last `error:` line a job wrote (sta's one-line errors), if any.
fn job_error(dir: &Path) -> Option<String> {
    let log = std::fs::read_to_string(dir.join(JOB_LOG)).ok()?;
    log.lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map(str::to_string)
}

fn point_state(dir: &Path, shape: Option<&ArrayShape>) -> Result<PointState> {
    if let Ok(text) = std::fs::read_to_string(dir.join(RESULT_FILE)) {
        let row = serde_json::from_str(&text).map_err(|e| {
            usage(format!(
                "{} is damaged: {e}",
                dir.join(RESULT_FILE).display()
            ))
        })?;
        return Ok(PointState::Done(Box::new(row)));
    }
    let Some(shape) = shape else {
        return Ok(PointState::Unfinished);
    };
    let summary_file = dir.join("synth").join(SUMMARY_JSON);
    if let Ok(text) = std::fs::read_to_string(&summary_file) {
        let summary: SynthSummary = serde_json::from_str(&text)
            .map_err(|e| usage(format!("{} is damaged: {e}", summary_file.display())))?;
        let row = SweepRow {
            runtime_s: Some(round(summary.runtime_s.total, 1)),
            ..row_from_summary(shape, &summary)
        };
        record_point(dir, &row)?;
        return Ok(PointState::Done(Box::new(row)));
    }
    Ok(match job_error(dir) {
        Some(e) if e.starts_with(DOES_NOT_FIT) => {
            let row = blank_row(shape, "does-not-fit", e);
            record_point(dir, &row)?;
            PointState::Done(Box::new(row))
        }
        Some(e) => PointState::Failed(e),
        None => PointState::Unfinished,
    })
}

/// The points of a sweep directory: its plan's, or (an in-process sweep) those with a point directory.
fn points(dir: &Path, dsp: DspMapping) -> Result<Vec<(String, Option<ArrayShape>)>> {
    if let Ok(text) = std::fs::read_to_string(dir.join(PLAN_FILE)) {
        let plan: Plan = serde_json::from_str(&text)
            .map_err(|e| usage(format!("{} is damaged: {e}", dir.join(PLAN_FILE).display())))?;
        return plan
            .points
            .iter()
            .map(|p| Ok((p.id.clone(), Some(p.shape(dsp)?))))
            .collect();
    }
    let listing = std::fs::read_dir(dir.join("points")).map_err(io_context(format!(
        "reading {}",
        dir.join("points").display()
    )))?;
    let mut ids: Vec<String> = listing
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    Ok(ids.into_iter().map(|id| (id, None)).collect())
}

/// `sta sweep --collect DIR`.
pub fn collect(dir: &Path) -> Result<()> {
    let identity_file = dir.join(IDENTITY_FILE);
    let text = std::fs::read_to_string(&identity_file).map_err(|_| {
        usage(format!(
            "{} is not a sweep directory (no {IDENTITY_FILE}); give the --out of an `sta sweep`",
            dir.display()
        ))
    })?;
    let identity: SweepIdentity = serde_json::from_str(&text)
        .map_err(|e| usage(format!("{} is damaged: {e}", identity_file.display())))?;
    let dsp = DspMapping::parse(&identity.dsp)
        .map_err(|e| usage(format!("{} is damaged: --dsp {e}", identity_file.display())))?;
    let mut rows = Vec::new();
    let (mut unfinished, mut failed) = (Vec::new(), Vec::new());
    let points = points(dir, dsp)?;
    for (id, shape) in &points {
        match point_state(&dir.join("points").join(id), shape.as_ref())? {
            PointState::Done(row) => rows.push(*row),
            PointState::Failed(e) => {
                if let Some(shape) = shape {
                    rows.push(blank_row(shape, "failed", e.clone()));
                }
                failed.push(format!("{id}: {e}"));
            }
            PointState::Unfinished => unfinished.push(id.clone()),
        }
    }
    rows.sort_by_key(|r| (r.m, r.n, r.pes, r.rows));
    write_outputs(dir, &identity.target, &rows)?;
    for r in &rows {
        eprintln!("{}", row_line(r));
    }
    let mut report = format!(
        "collected {} of {} points into {}: {} placed, {} do not fit, {} failed, {} unfinished",
        rows.len() - failed.len(),
        points.len(),
        dir.join("sweep.md").display(),
        rows.iter().filter(|r| r.status == "ok").count(),
        rows.iter().filter(|r| r.status == "does-not-fit").count(),
        failed.len(),
        unfinished.len()
    );
    if !unfinished.is_empty() {
        let _ = write!(report, "\n  unfinished: {}", unfinished.join(", "));
    }
    println!("{report}");
    if failed.is_empty() {
        Ok(())
    } else {
        Err(StaError::Tool(format!(
            "{} point(s) failed (their job.log in points/<id>/): {}; rerun their lines of {JOBS_FILE}, or plan again \
             (finished points are kept)",
            failed.len(),
            failed.join("; ")
        )))
    }
}

//! `sta sweep --plan-only` / `--collect` on a real engine (docs/fpga.md "Sweeps on a cluster"): a 4-point sweep plan
//! run by GNU parallel and collected gives the same table (and the same CSV but for the runtime column) as the
//! in-process runner on the same points; collecting is idempotent and lists unfinished points; the Slurm script runs
//! its array task's line; a point too large for the DSP blocks is decided when planning and gets no job.
//!
//! Needs GNU parallel (`apt-get install parallel`, installed by ./scripts/install-tools.sh) and the FPGA tools
//! (./scripts/install-fpga.sh). Tiny arrays on ECP5-25k keep it near a minute on 2 cores.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{s, sta};

const TARGET: &str = "ecp5-25k";

fn ok(out: &Output, what: &str) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstdout: {text}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The CSV without its runtime column (wall time differs between any two runs).
fn csv_without_runtime(path: &Path) -> Vec<Vec<String>> {
    let text = read(path);
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let runtime = header.iter().position(|h| *h == "runtime_s").unwrap();
    text.lines()
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| *i != runtime)
                .map(|(_, f)| f.to_string())
                .collect()
        })
        .collect()
}

fn sweep(points: &[&str], out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["sweep", "--n-m", points[0], "--sizes", points[1]];
    args.extend(["--target", TARGET, "--out", s(out)]);
    args.extend(extra);
    sta(&args)
}

fn require_parallel() {
    let found = Command::new("parallel")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "GNU parallel is missing: apt-get install parallel (./scripts/install-tools.sh installs it)"
    );
}

#[test]
fn a_plan_run_by_gnu_parallel_collects_into_the_in_process_table() {
    require_parallel();
    let root = tempfile::tempdir().unwrap();
    let (local, planned) = (root.path().join("local"), root.path().join("planned"));
    let points = ["1:2,2:4", "1x1,1x2"];

    ok(&sweep(&points, &local, &[]), "in-process sweep");

    let plan = ok(&sweep(&points, &planned, &["--plan-only"]), "plan");
    assert!(plan.contains("4 job(s)"), "{plan}");
    let jobs = read(&planned.join("jobs.txt"));
    assert_eq!(jobs.lines().count(), 4, "{jobs}");
    assert!(jobs
        .lines()
        .all(|l| l.contains(" generate ") && l.contains(" synth ")));
    assert!(
        !planned.join("sweep.md").exists(),
        "planning synthesises nothing"
    );

    let before = ok(
        &sta(&["sweep", "--collect", s(&planned)]),
        "collect, nothing run",
    );
    assert!(
        before.contains("4 unfinished") && before.contains("n1m2_r1c1"),
        "{before}"
    );

    let run = Command::new("parallel")
        .args(["-j", "2"])
        .stdin(std::fs::File::open(planned.join("jobs.txt")).unwrap())
        .output()
        .unwrap();
    ok(&run, "parallel -j 2 < jobs.txt");

    let after = ok(&sta(&["sweep", "--collect", s(&planned)]), "collect");
    assert!(
        after.contains("4 placed") && after.contains("0 unfinished"),
        "{after}"
    );
    assert_eq!(
        read(&local.join("sweep.md")),
        read(&planned.join("sweep.md")),
        "the same table as the in-process runner"
    );
    assert_eq!(
        csv_without_runtime(&local.join("sweep.csv")),
        csv_without_runtime(&planned.join("sweep.csv"))
    );
    let table = read(&planned.join("sweep.md"));
    assert!(table.matches("| placed |").count() == 4, "{table}");

    let again = ok(&sta(&["sweep", "--collect", s(&planned)]), "collect again");
    assert_eq!(after, again, "collecting is idempotent");
    assert_eq!(
        read(&local.join("sweep.md")),
        read(&planned.join("sweep.md"))
    );
}

#[test]
fn the_slurm_script_runs_its_task_and_oversized_points_get_no_job() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("plan");
    // 8:8 4x4 needs 128 MULT18X18D of the 25k part's 28: decided when planning
    let plan = ok(
        &sweep(&["1:2,8:8", "1x1,4x4"], &dir, &["--plan-only"]),
        "plan",
    );
    assert!(plan.contains("3 job(s)"), "{plan}");
    let jobs = read(&dir.join("jobs.txt"));
    assert!(!jobs.contains("n8m8_r4c4"), "{jobs}");
    let script = dir.join("slurm.sh");
    assert!(read(&script).contains("#SBATCH --array=1-3"));
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    ok(&syntax, "bash -n slurm.sh");
    let without_slurm = Command::new("bash").arg(&script).output().unwrap();
    assert!(
        !without_slurm.status.success(),
        "outside Slurm it refuses to guess a task"
    );

    // task 1 is the first line: 1:2 1x1
    let task = Command::new("bash")
        .arg(&script)
        .env("SLURM_ARRAY_TASK_ID", "1")
        .output()
        .unwrap();
    ok(&task, "slurm.sh task 1");
    let collected = ok(&sta(&["sweep", "--collect", s(&dir)]), "collect");
    assert!(
        collected.contains("1 placed") && collected.contains("1 do not fit"),
        "{collected}"
    );
    assert!(
        collected.contains("2 unfinished") && collected.contains("n1m2_r4c4"),
        "{collected}"
    );
    let table = read(&dir.join("sweep.md"));
    assert!(
        table.contains("does-not-fit: ecp5-25k: MULT18X18D 128 needed of 28"),
        "{table}"
    );
}

#[test]
fn collect_and_plan_refuse_bad_input() {
    let root = tempfile::tempdir().unwrap();
    let not_a_sweep = root.path().join("empty");
    std::fs::create_dir(&not_a_sweep).unwrap();
    let out = sta(&["sweep", "--collect", s(&not_a_sweep)]);
    common::assert_usage_error("collect: not a sweep", &out, &["not a sweep directory"]);
    let out = sta(&["sweep", "--collect", s(&not_a_sweep), "--target", TARGET]);
    common::assert_usage_error("collect with --target", &out, &["--collect", "--target"]);
    let out = sta(&[
        "sweep",
        "--n-m",
        "2:8",
        "--sizes",
        "2x2",
        "--out",
        s(&not_a_sweep),
    ]);
    common::assert_usage_error("no target", &out, &["--target is required"]);
    let out = sta(&[
        "sweep",
        "--n-m",
        "2:8",
        "--sizes",
        "2x2",
        "--target",
        TARGET,
        "--out",
        s(&root.path().join("p")),
        "--plan-only",
        "--jobs",
        "2",
    ]);
    common::assert_usage_error("plan with --jobs", &out, &["--plan-only", "--jobs"]);
}

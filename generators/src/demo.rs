//! `sta demo`: the README's main job on a default configuration. Generates a 2:8 16×16 array, makes random N:M
//! weights and activations, runs the GEMM through the Verilator simulation in sparse and in dense mode, and prints
//! both reports.

use std::path::{Path, PathBuf};

use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_golden::matrix::Matrix;
use sta_golden::nm::{prune_nm, NmPattern};
use sta_golden::pe_array::ArrayShape;

use crate::design::write_pe_array;
use crate::error::{usage, Result};
use crate::gemm::{simulate_gemm, GemmRun, Mode, SimArgs};
use crate::npy::{i8_matrix_to_npy, matrix_to_npy};
use crate::output::{check_overwrite, write_dir_atomically};

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Output directory for the design, the matrices and the reports.
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
    /// Seed of the random matrices.
    #[arg(long, default_value_t = 2024)]
    pub seed: u64,
}

/// Uniform random INT8 matrix over the whole range, −128 included.
pub fn random_i8(rows: usize, cols: usize, rng: &mut impl Rng) -> Matrix<i8> {
    let data = (0..rows * cols).map(|_| rng.gen::<i8>()).collect();
    Matrix::new(rows, cols, data).expect("length matches the shape")
}

pub fn run_demo(args: &DemoArgs) -> Result<()> {
    check_overwrite(&args.out, args.force)?;
    let shape = ArrayShape::new(2, 8, 16, 16, 32, ArrayShape::DEFAULT_MAX_K).map_err(usage)?;
    let (o, k, t) = (64, 256, 64);
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let pattern = NmPattern::new(shape.n, shape.m).map_err(usage)?;
    let w = prune_nm(&random_i8(o, k, &mut rng), pattern);
    let x = random_i8(k, t, &mut rng);
    println!(
        "demo: {} (N:M = {}:{}), Y[{o}x{t}] = W[{o}x{k}]·X[{k}x{t}], seed {}",
        shape.array_module_name(),
        shape.n,
        shape.m,
        args.seed
    );

    let staging =
        tempfile::tempdir().map_err(crate::error::io_context("creating a temporary directory"))?;
    write_pe_array(&shape, &staging.path().join("design"), false)?;
    let sparse = simulate_gemm(&shape, &w, &x, Mode::Sparse, false, &SimArgs::default())?;
    let dense = simulate_gemm(&shape, &w, &x, Mode::Dense, false, &SimArgs::default())?;
    for run in [&sparse, &dense] {
        println!();
        crate::gemm::print_summary(&run.report);
    }
    println!(
        "\nsparse/dense cycles: {:.3} (N/M = {:.3})",
        sparse.report.cycles as f64 / dense.report.cycles as f64,
        shape.n as f64 / shape.m as f64
    );
    write_outputs(
        &args.out,
        staging.path(),
        &shape,
        &w,
        &x,
        &sparse,
        &dense,
        args.force,
    )?;
    println!(
        "wrote the design, W.npy, X.npy, Y.npy and both reports to {}",
        args.out.display()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn write_outputs(
    out: &Path,
    staged: &Path,
    shape: &ArrayShape,
    w: &Matrix<i8>,
    x: &Matrix<i8>,
    sparse: &GemmRun,
    dense: &GemmRun,
    force: bool,
) -> Result<()> {
    let mut files = Vec::new();
    for entry in walk(&staged.join("design"))? {
        let relative = entry
            .strip_prefix(staged)
            .expect("walked below staged")
            .to_path_buf();
        let bytes = std::fs::read(&entry).map_err(crate::error::io_context(format!(
            "reading {}",
            entry.display()
        )))?;
        files.push((relative, bytes));
    }
    files.push((PathBuf::from("W.npy"), i8_matrix_to_npy(w)?));
    files.push((PathBuf::from("X.npy"), i8_matrix_to_npy(x)?));
    files.push((
        PathBuf::from("Y.npy"),
        matrix_to_npy(&sparse.y, shape.acc_width)?,
    ));
    files.push((
        PathBuf::from("report.sparse.json"),
        (serde_json::to_string_pretty(&sparse.report).expect("serializes") + "\n").into_bytes(),
    ));
    files.push((
        PathBuf::from("report.dense.json"),
        (serde_json::to_string_pretty(&dense.report).expect("serializes") + "\n").into_bytes(),
    ));
    write_dir_atomically(out, &files, force)
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(crate::error::io_context(format!(
        "listing {}",
        dir.display()
    )))?;
    for entry in entries {
        let path = entry
            .map_err(crate::error::io_context(format!(
                "listing {}",
                dir.display()
            )))?
            .path();
        if path.is_dir() {
            files.extend(walk(&path)?);
        } else {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

//! `sta lut compare`: the benchmark. For every reference file, import it and run our search for the same function,
//! K and formats, then print one table of both error measures and the search time (Markdown, for docs/lut.md).

use std::path::{Path, PathBuf};

use clap::Args;
use sta_golden::pwl::PwlParamsFile;

use super::formats::FormatArgs;
use super::import::import_reference;
use super::search::{params_file, progress_bar, search, SearchProblem, SettingsArgs};
use crate::error::{io_context, usage, Result};
use crate::output::write_file_atomically;

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Directory of reference GQA-LUT files (*.json), e.g. data/gqa-lut (the published parameters, vendored).
    #[arg(long, value_name = "DIR")]
    pub reference_dir: PathBuf,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Also write our parameter files here as <function>_<entries>.json.
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// Replace existing files under --save.
    #[arg(long)]
    pub force: bool,
}

/// One line of the table: the reference and our result for the same function, K and formats.
pub struct Comparison {
    pub reference: PwlParamsFile,
    pub ours: PwlParamsFile,
    pub seconds: f64,
}

pub fn run_compare(args: &CompareArgs) -> Result<()> {
    let files = reference_files(&args.reference_dir)?;
    println!("| function | entries | D_IN | float MSE ours | float MSE reference | hardware MSE ours | hardware MSE reference | search s |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut total = 0.0;
    for path in files {
        let row = compare_one(&path, &args.settings)?;
        total += row.seconds;
        print_row(&row);
        if let Some(dir) = &args.save {
            let name = format!("{}_{}.json", row.ours.function, row.ours.entries);
            write_file_atomically(&dir.join(name), row.ours.to_json().as_bytes(), args.force)?;
        }
    }
    println!(
        "\ntotal search time {total:.2} s (population {}, generations {}, seed {}, fitness {})",
        args.settings.population,
        args.settings.generations,
        args.settings.seed,
        args.settings.fitness.name()
    );
    Ok(())
}

/// The *.json files of a directory, sorted by name.
fn reference_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        usage(format!(
            "--reference-dir {}: cannot read it: {e}",
            dir.display()
        ))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(io_context(format!("listing {}", dir.display())))?
            .path();
        if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(usage(format!(
            "--reference-dir {}: no *.json reference files in it",
            dir.display()
        )));
    }
    Ok(files)
}

/// Imports one reference file at its function's default formats and searches the same problem.
pub fn compare_one(path: &Path, settings: &SettingsArgs) -> Result<Comparison> {
    let reference = import_reference(path, &FormatArgs::default())?;
    let resolved = FormatArgs::default().resolve(reference.function)?;
    let problem = SearchProblem::new(resolved, reference.entries)?;
    let outcome = search(&problem, settings, &progress_bar(settings.generations))?;
    let ours = params_file(&problem, settings, &outcome)?;
    Ok(Comparison {
        reference,
        ours,
        seconds: outcome.seconds,
    })
}

fn print_row(row: &Comparison) {
    let (o, r) = (&row.ours.mse, &row.reference.mse);
    println!(
        "| {} | {} | {} | {:.2e} | {:.2e} | {:.2e} | {:.2e} | {:.2} |",
        row.ours.function,
        row.ours.entries,
        row.ours.input_frac_bits,
        o.float,
        r.float,
        o.hardware,
        r.hardware,
        row.seconds
    );
}

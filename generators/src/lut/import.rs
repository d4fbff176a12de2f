//! `sta lut import`: a GQA-LUT reference file → our parameter file at one input scale, with both error measures.

use std::path::{Path, PathBuf};

use clap::Args;
use sta_golden::pwl::reference::parse_reference;
use sta_golden::pwl::{Provenance, PwlParamsFile};

use sta_golden::PwlError;

use super::formats::{read_text, FormatArgs};
use crate::error::{usage, Result, StaError};
use crate::output::{check_overwrite, write_file_atomically};

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// A reference GQA-LUT file (`{"<function>": {"<d>": {"breakpoints", "slopes", "intercepts"}}}`).
    #[arg(long, value_name = "FILE.json")]
    pub reference: PathBuf,
    /// Range and formats (D_IN picks the reference's decimal-bit key; default: the function's defaults).
    #[command(flatten)]
    pub formats: FormatArgs,
    /// Output parameter file (.json).
    #[arg(long, value_name = "P.json")]
    pub out: PathBuf,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

pub fn run_import(args: &ImportArgs) -> Result<()> {
    check_overwrite(&args.out, args.force)?;
    let file = import_reference(&args.reference, &args.formats)?;
    write_file_atomically(&args.out, file.to_json().as_bytes(), args.force)?;
    println!(
        "{}-{} ({}): float MSE {:.3e}, hardware MSE {:.3e} -> {}",
        file.function,
        file.entries,
        file.provenance.reference.as_deref().unwrap_or("?"),
        file.mse.float,
        file.mse.hardware,
        args.out.display()
    );
    Ok(())
}

/// Reads a reference file and converts it (see `sta_golden::pwl::reference` for the rounding rules).
pub fn import_reference(path: &Path, formats: &FormatArgs) -> Result<PwlParamsFile> {
    let text = read_text(path, "--reference")?;
    let named = |e: PwlError| StaError::Usage(format!("--reference {}: {e}", path.display()));
    // The function, and so its default D_IN, comes from the file itself: peek with the widest key first.
    let function = parse_reference(&text, u32::MAX).map_err(named)?.function;
    let resolved = formats.resolve(function)?;
    let set = parse_reference(&text, resolved.format.input_frac_bits).map_err(named)?;
    let table = set.to_table(resolved.format).map_err(named)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let provenance = Provenance::imported(
        format!("sta {}", env!("CARGO_PKG_VERSION")),
        format!("{name} key {}", set.decimal_bits),
    );
    PwlParamsFile::new(function, resolved.range, &table, provenance).map_err(usage)
}

//! `sta lut rtl --params P.json --out DIR [--force]`: the Verilog of one PWL approximator.
//!
//! Writes `DIR/<module>.v` (one module, the standard header, `default_nettype none`, breakpoints and coefficients as
//! ranged signed constants; `sta_hdl::pwl_lut`) and `DIR/<module>.json`, the manifest: module, latency, ports with
//! widths, function and every parameter. The directory appears complete or not at all; an existing one is replaced
//! only with `--force`. [`area`] measures the INT8 unit against a 32-bit unit built by the same code.

pub mod area;

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;
use sta_golden::pwl::PwlParamsFile;
use sta_hdl::emit::{GeneratedModule, GENERATOR};
use sta_hdl::pwl_lut::{emit_pwl, PwlUnit};

use crate::error::{io_context, Result, StaError};
use crate::output::{check_overwrite, write_dir_atomically};

#[derive(Debug, Args)]
pub struct RtlArgs {
    /// Parameter file of one approximator (from `sta lut search` or `sta lut import`).
    #[arg(long, value_name = "P.json")]
    pub params: PathBuf,
    /// Output directory (created; must not exist unless --force).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
}

/// One port of the unit, as listed in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortInfo {
    pub name: &'static str,
    pub direction: &'static str,
    pub width: u32,
    pub signed: bool,
    pub meaning: &'static str,
}

/// The manifest `<module>.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RtlManifest {
    pub module: String,
    pub file: String,
    pub generator: String,
    pub latency_cycles: u32,
    pub inputs_per_cycle: u32,
    pub reset: &'static str,
    pub ports: Vec<PortInfo>,
    pub function: String,
    pub entries: usize,
    pub range: [f64; 2],
    pub input_bits: u32,
    pub input_frac_bits: u32,
    pub coeff_bits: u32,
    pub coeff_frac_bits: u32,
    pub output_bits: u32,
    pub output_frac_bits: u32,
    pub output_shift: i64,
    pub accumulator_bits: u32,
    pub breakpoints: Vec<i64>,
    pub slopes: Vec<i64>,
    pub intercepts: Vec<i64>,
    /// First 16 hex digits of the SHA-256 of the unit's canonical parameter line (also in the Verilog header).
    pub content_hash: String,
}

/// The ports of a unit (docs/lut.md, "Hardware").
pub fn ports(unit: &PwlUnit) -> Vec<PortInfo> {
    let port = |name, direction, width, signed, meaning| PortInfo {
        name,
        direction,
        width,
        signed,
        meaning,
    };
    vec![
        port("clk", "input", 1, false, "clock, rising edge"),
        port(
            "rst",
            "input",
            1,
            false,
            "synchronous active-high reset of the valid pipeline",
        ),
        port(
            "in_valid",
            "input",
            1,
            false,
            "in_data holds an input this cycle",
        ),
        port(
            "in_data",
            "input",
            unit.in_bits(),
            true,
            "input code q, x = q * 2^-input_frac_bits",
        ),
        port(
            "out_valid",
            "output",
            1,
            false,
            "out_data holds the result of the input latency_cycles earlier",
        ),
        port(
            "out_data",
            "output",
            unit.format().output_bits,
            true,
            "output code, y = out * 2^-output_frac_bits",
        ),
    ]
}

/// The manifest of `unit`, generated from the parameter file with range `range`.
pub fn manifest(unit: &PwlUnit, range: [f64; 2]) -> RtlManifest {
    let f = unit.format();
    let module = unit.module_name();
    RtlManifest {
        file: format!("{module}.v"),
        module,
        generator: GENERATOR.to_string(),
        latency_cycles: unit.latency(),
        inputs_per_cycle: 1,
        reset: "rst: synchronous, active high, clears the valid pipeline only",
        ports: ports(unit),
        function: unit.function().to_string(),
        entries: unit.entries(),
        range,
        input_bits: unit.in_bits(),
        input_frac_bits: f.input_frac_bits,
        coeff_bits: f.coeff_bits,
        coeff_frac_bits: f.coeff_frac_bits,
        output_bits: f.output_bits,
        output_frac_bits: f.output_frac_bits,
        output_shift: unit.output_shift(),
        accumulator_bits: unit.acc_bits(),
        breakpoints: unit.breakpoints().to_vec(),
        slopes: unit.slopes().to_vec(),
        intercepts: unit.intercepts().to_vec(),
        content_hash: unit.content_hash(),
    }
}

/// Reads and validates a parameter file; every problem is one line naming the file.
pub fn read_params(path: &Path) -> Result<PwlParamsFile> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        StaError::Usage(format!("--params {}: cannot read it: {e}", path.display()))
    })?;
    PwlParamsFile::from_json(&text)
        .map_err(|e| StaError::Usage(format!("--params {}: {e}", path.display())))
}

/// The INT8 hardware unit of a (validated) parameter file.
pub fn unit_of(params: &PwlParamsFile) -> Result<PwlUnit> {
    let table = params.table().map_err(|e| StaError::Usage(e.to_string()))?;
    PwlUnit::from_table(params.function.name(), &table).map_err(|e| StaError::Usage(e.to_string()))
}

/// Files of an output directory: path relative to it, contents.
pub type DirFiles = Vec<(PathBuf, Vec<u8>)>;

/// The module and the two files (`<module>.v`, `<module>.json`) of a unit, paths relative to the output directory.
pub fn rtl_files(unit: &PwlUnit, range: [f64; 2]) -> Result<(GeneratedModule, DirFiles)> {
    let module = emit_pwl(unit).map_err(|e| StaError::Tool(e.to_string()))?;
    let mut json = serde_json::to_string_pretty(&manifest(unit, range))
        .map_err(|e| StaError::Tool(format!("cannot serialise the manifest: {e}")))?;
    json.push('\n');
    let files = vec![
        (
            PathBuf::from(format!("{}.v", module.name)),
            module.text.clone().into_bytes(),
        ),
        (
            PathBuf::from(format!("{}.json", module.name)),
            json.into_bytes(),
        ),
    ];
    Ok((module, files))
}

/// Writes a unit's files into the new directory `out`; returns the module and the path of its Verilog.
pub fn write_rtl(
    unit: &PwlUnit,
    range: [f64; 2],
    out: &Path,
    force: bool,
) -> Result<(GeneratedModule, PathBuf)> {
    let (module, files) = rtl_files(unit, range)?;
    write_dir_atomically(out, &files, force)?;
    let path = out.join(format!("{}.v", module.name));
    Ok((module, path))
}

/// `sta lut rtl`.
pub fn run_rtl(args: &RtlArgs) -> Result<()> {
    check_overwrite(&args.out, args.force)?;
    let params = read_params(&args.params)?;
    let unit = unit_of(&params)?;
    let (module, path) = write_rtl(&unit, params.range, &args.out, args.force)?;
    let bytes = std::fs::metadata(&path)
        .map_err(io_context(format!("reading {}", path.display())))?
        .len();
    println!(
        "generated {} ({} segments, latency {} cycles, {} bytes of Verilog) and {}.json in {}",
        module.name,
        unit.entries(),
        unit.latency(),
        bytes,
        module.name,
        args.out.display()
    );
    Ok(())
}

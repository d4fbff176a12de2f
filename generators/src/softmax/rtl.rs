//! `sta softmax generate --lanes P --max-len L --out DIR [--score-bits SW] [--output-bits OB] [--io-width W]
//! [--force]`: `DIR/rtl/<module>.v` for the top,
//! both LUT units and the narrow-stream wrapper `<top>_io<W>`, `DIR/filelist.f` (leaves first, the wrapper last),
//! `DIR/manifest.json` and the take-home testbench `DIR/tb/` (docs/stream-io.md). The LUT tables come from the
//! parameter files (defaults: `generators/data/softmax_exp8.json`, `softmax_reci8.json`).

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;
use sta_golden::softmax::{SoftmaxNumerics, DEFAULT_OUTPUT_BITS, DEFAULT_SCORE_BITS};
use sta_hdl::emit::{GeneratedModule, GENERATOR};
use sta_hdl::softmax::{emit_softmax, SoftmaxUnit};
use sta_hdl::stream_io::{
    emit_stream_io, softmax_io_spec, stream_io_module_name, DEFAULT_WORD_BITS,
};

use crate::design::{filelist_file, module_files, RTL_DIR};
use crate::error::{Result, StaError};
use crate::lut::rtl::{read_params, DirFiles};
use crate::output::{check_overwrite, write_dir_atomically};
use crate::stream_io::{softmax_testbench, IoArgs};

/// The default EXP table (docs/softmax.md "Numerics").
pub const DEFAULT_EXP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/softmax_exp8.json");
/// The default 1/x table.
pub const DEFAULT_RECI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/softmax_reci8.json");

/// Parameters shared by `generate` and `run`.
#[derive(Debug, Clone, Args)]
pub struct SoftmaxArgs {
    /// Lanes P: elements per cycle, 1..=64.
    #[arg(long)]
    pub lanes: usize,
    /// Longest row L_MAX, 1..=65536 (the buffers hold about 4 rows of this length).
    #[arg(long)]
    pub max_len: usize,
    /// Score fraction bits D_S (a score code s means s·2^-D_S), 0..=SW-1.
    #[arg(long, default_value_t = 4)]
    pub input_frac_bits: u32,
    /// Score width SW: scores are signed SW-bit codes, 8..=16.
    #[arg(long, default_value_t = DEFAULT_SCORE_BITS)]
    pub score_bits: u32,
    /// Output width OB: probabilities are unsigned OB-bit codes at scale 2^-OB, 8 or 7 (7: INT8 codes for A·V).
    #[arg(long, default_value_t = DEFAULT_OUTPUT_BITS)]
    pub output_bits: u32,
    /// EXP parameter file (default: generators/data/softmax_exp8.json).
    #[arg(long, value_name = "P.json")]
    pub exp_params: Option<PathBuf>,
    /// 1/x parameter file (default: generators/data/softmax_reci8.json).
    #[arg(long, value_name = "P.json")]
    pub reci_params: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub unit: SoftmaxArgs,
    #[command(flatten)]
    pub io: IoArgs,
    /// Output directory (created; must not exist unless --force).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
}

fn table(path: &Option<PathBuf>, default: &str) -> Result<sta_golden::pwl::PwlTable> {
    let path = path.clone().unwrap_or_else(|| PathBuf::from(default));
    let params = read_params(&path)?;
    params
        .table()
        .map_err(|e| StaError::Usage(format!("--params {}: {e}", path.display())))
}

impl SoftmaxArgs {
    /// The golden numerics and the hardware unit, both validated; every problem is one line.
    pub fn resolve(&self) -> Result<(SoftmaxNumerics, SoftmaxUnit)> {
        let exp = table(&self.exp_params, DEFAULT_EXP)?;
        let reci = table(&self.reci_params, DEFAULT_RECI)?;
        let unit = SoftmaxUnit::with_widths(
            self.lanes,
            self.max_len,
            self.score_bits,
            self.input_frac_bits,
            self.output_bits,
            &exp,
            &reci,
        )
        .map_err(|e| StaError::Usage(e.to_string()))?;
        let numerics = SoftmaxNumerics::with_widths(
            self.score_bits,
            self.input_frac_bits,
            self.output_bits,
            exp,
            reci,
        )
        .map_err(|e| StaError::Usage(e.to_string()))?;
        Ok((numerics, unit))
    }
}

#[derive(Debug, Serialize)]
struct Manifest {
    top: String,
    generator: &'static str,
    lanes: usize,
    max_len: usize,
    input_frac_bits: u32,
    score_bits: u32,
    output_bits: u32,
    buffer_depth_words: usize,
    score_ring_words: usize,
    e_ring_words: usize,
    buffer_bits: usize,
    sum_bits: u32,
    modules: Vec<String>,
    files: Vec<String>,
    content_hash: String,
    /// The narrow-stream wrapper around `top`: the top for an FPGA.
    fpga_top: String,
    io_word_bits: u32,
}

/// [`softmax_files_io`] with the default 8-bit wrapper.
pub fn softmax_files(unit: &SoftmaxUnit) -> Result<(Vec<GeneratedModule>, DirFiles)> {
    softmax_files_io(unit, DEFAULT_WORD_BITS)
}

/// The files of a generated unit with its `io_word_bits`-bit wrapper (the last module), paths relative to the output
/// directory, and its modules.
pub fn softmax_files_io(
    unit: &SoftmaxUnit,
    io_word_bits: u32,
) -> Result<(Vec<GeneratedModule>, DirFiles)> {
    let mut modules = emit_softmax(unit).map_err(|e| StaError::Tool(e.to_string()))?;
    let wrapper = emit_stream_io(&softmax_io_spec(unit, io_word_bits))
        .map_err(|e| StaError::Tool(e.to_string()))?;
    let fpga_top = wrapper.name.clone();
    modules.push(wrapper);
    let (rel, mut files) = module_files(RTL_DIR, &modules);
    files.push(filelist_file(&rel));
    files.extend(softmax_testbench(unit, &fpga_top, io_word_bits, &rel)?);
    let manifest = Manifest {
        top: unit.module_name(),
        generator: GENERATOR,
        lanes: unit.lanes,
        max_len: unit.max_len,
        input_frac_bits: unit.score_frac_bits,
        score_bits: unit.score_bits,
        output_bits: unit.output_bits,
        buffer_depth_words: unit.depth(),
        score_ring_words: unit.score_words(),
        e_ring_words: unit.e_words(),
        buffer_bits: unit.buffer_bits(),
        sum_bits: unit.sum_bits(),
        modules: modules.iter().map(|m| m.name.clone()).collect(),
        files: rel,
        content_hash: unit.content_hash(),
        fpga_top,
        io_word_bits,
    };
    let mut json = serde_json::to_string_pretty(&manifest)
        .map_err(|e| StaError::Tool(format!("cannot serialise the manifest: {e}")))?;
    json.push('\n');
    files.push((PathBuf::from("manifest.json"), json.into_bytes()));
    crate::fpga::add_project_files(&mut files)?;
    Ok((modules, files))
}

/// [`write_softmax_io`] with the default 8-bit wrapper.
pub fn write_softmax(unit: &SoftmaxUnit, out: &Path, force: bool) -> Result<Vec<PathBuf>> {
    write_softmax_io(unit, DEFAULT_WORD_BITS, out, force)
}

/// Writes the unit into the new directory `out`; returns the Verilog sources in dependency order (the wrapper last).
pub fn write_softmax_io(
    unit: &SoftmaxUnit,
    io_word_bits: u32,
    out: &Path,
    force: bool,
) -> Result<Vec<PathBuf>> {
    let (modules, files) = softmax_files_io(unit, io_word_bits)?;
    write_dir_atomically(out, &files, force)?;
    let (paths, _) = module_files(RTL_DIR, &modules);
    Ok(paths.iter().map(|p| out.join(p)).collect())
}

/// `sta softmax generate`.
pub fn run_generate(args: &GenerateArgs) -> Result<()> {
    let (_, unit) = args.unit.resolve()?;
    let io_word_bits = args.io.resolve(None)?;
    check_overwrite(&args.out, args.force)?;
    let sources = write_softmax_io(&unit, io_word_bits, &args.out, args.force)?;
    println!(
        "generated {} ({} modules, score ring {} x {} bits, e ring {} x {} bits; FPGA top {}) in {}",
        unit.module_name(),
        sources.len(),
        unit.score_words(),
        unit.lanes * unit.score_bits as usize,
        unit.e_words(),
        unit.lanes * unit.e_bits() as usize,
        stream_io_module_name(&unit.module_name(), io_word_bits),
        args.out.display()
    );
    Ok(())
}

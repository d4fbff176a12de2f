//! A generated design directory: `rtl/<module>.v` (one module per file, the narrow-stream wrapper `<top>_io<W>` last),
//! `filelist.f`, `config.resolved.toml`, `manifest.json` and the take-home testbench `tb/` (docs/stream-io.md). Used
//! by `sta generate` and, through the build cache, by `sta gemm`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sta_golden::pe_array::ArrayShape;
use sta_hdl::emit::{config_hash, emit_pe_array, GeneratedDesign, GeneratedModule, GENERATOR};
use sta_hdl::stream_io::{emit_stream_io, pe_array_io_spec, DEFAULT_WORD_BITS};

use crate::config::resolved_toml;
use crate::error::{Result, StaError};
use crate::output::write_dir_atomically;
use crate::stream_io::pe_array_testbench;

pub const RTL_DIR: &str = "rtl";
/// Simulation models of vendor primitives (`--dsp ecp5`): simulated with the RTL, never synthesised.
pub const SIM_DIR: &str = "sim";
pub const FILELIST: &str = "filelist.f";
pub const MANIFEST: &str = "manifest.json";
pub const RESOLVED_CONFIG: &str = "config.resolved.toml";

/// Machine-readable description of a generated directory.
#[derive(Debug, Serialize)]
pub struct Manifest {
    pub generator: String,
    pub kind: &'static str,
    pub top: String,
    pub config_hash: String,
    pub parameters: ArrayShape,
    /// Verilog files in dependency order, relative to the design directory.
    pub files: Vec<String>,
    /// Simulation models to compile before `files` when simulating (empty unless `--dsp ecp5`).
    pub sim_models: Vec<String>,
    /// The narrow-stream wrapper around `top`: the top for an FPGA.
    pub fpga_top: String,
    /// Its word width W.
    pub io_word_bits: u32,
}

/// Files of a design directory: (path relative to the directory, contents).
pub type DesignFiles = Vec<(PathBuf, Vec<u8>)>;

/// `<dir>/<module>.v` for each module, in order: the relative paths and the files.
pub fn module_files(dir: &str, modules: &[GeneratedModule]) -> (Vec<String>, DesignFiles) {
    let paths: Vec<String> = modules
        .iter()
        .map(|m| format!("{dir}/{}.v", m.name))
        .collect();
    let files = modules
        .iter()
        .zip(&paths)
        .map(|(module, path)| (PathBuf::from(path), module.text.clone().into_bytes()))
        .collect();
    (paths, files)
}

/// `filelist.f`: the synthesis sources, one relative path per line.
pub fn filelist_file(paths: &[String]) -> (PathBuf, Vec<u8>) {
    let text: String = paths.iter().map(|p| format!("{p}\n")).collect();
    (PathBuf::from(FILELIST), text.into_bytes())
}

/// [`pe_array_files_io`] with the default 8-bit wrapper.
pub fn pe_array_files(shape: &ArrayShape) -> Result<(GeneratedDesign, DesignFiles)> {
    pe_array_files_io(shape, DEFAULT_WORD_BITS)
}

/// Elaborates the PE array and its `io_word_bits`-bit wrapper (the last module of the design; `top` stays the array)
/// and lays out every file of the design directory.
pub fn pe_array_files_io(
    shape: &ArrayShape,
    io_word_bits: u32,
) -> Result<(GeneratedDesign, DesignFiles)> {
    let rtl_error =
        |e: &dyn std::fmt::Display| StaError::Tool(format!("RTL generation failed: {e}"));
    let mut design = emit_pe_array(shape).map_err(|e| rtl_error(&e))?;
    let wrapper =
        emit_stream_io(&pe_array_io_spec(shape, io_word_bits)).map_err(|e| rtl_error(&e))?;
    let fpga_top = wrapper.name.clone();
    design.modules.push(wrapper);
    let (rtl, mut files) = module_files(RTL_DIR, &design.modules);
    let (sim_models, model_files) = module_files(SIM_DIR, &design.sim_models);
    files.extend(model_files);
    files.push(filelist_file(&rtl));
    files.push((
        PathBuf::from(RESOLVED_CONFIG),
        resolved_toml(shape, io_word_bits).into_bytes(),
    ));
    let sim_sources: Vec<String> = sim_models.iter().chain(&rtl).cloned().collect();
    files.extend(pe_array_testbench(
        shape,
        &fpga_top,
        io_word_bits,
        &sim_sources,
    )?);
    let manifest = Manifest {
        generator: GENERATOR.to_string(),
        kind: "pe_array",
        top: design.top.clone(),
        config_hash: config_hash(shape),
        parameters: *shape,
        files: rtl,
        sim_models,
        fpga_top,
        io_word_bits,
    };
    let json = serde_json::to_string_pretty(&manifest).expect("manifest serializes") + "\n";
    files.push((PathBuf::from(MANIFEST), json.into_bytes()));
    crate::fpga::add_project_files(&mut files)?;
    Ok((design, files))
}

/// [`write_pe_array_io`] with the default 8-bit wrapper.
pub fn write_pe_array(
    shape: &ArrayShape,
    dir: &Path,
    force: bool,
) -> Result<(GeneratedDesign, Vec<PathBuf>)> {
    write_pe_array_io(shape, DEFAULT_WORD_BITS, dir, force)
}

/// Writes the design directory atomically and returns the Verilog sources to simulate, in dependency order: the
/// simulation models of vendor primitives (if any), then the modules (the wrapper last).
pub fn write_pe_array_io(
    shape: &ArrayShape,
    io_word_bits: u32,
    dir: &Path,
    force: bool,
) -> Result<(GeneratedDesign, Vec<PathBuf>)> {
    let (design, files) = pe_array_files_io(shape, io_word_bits)?;
    write_dir_atomically(dir, &files, force)?;
    let (models, _) = module_files(SIM_DIR, &design.sim_models);
    let (modules, _) = module_files(RTL_DIR, &design.modules);
    let sources = models.iter().chain(&modules).map(|p| dir.join(p)).collect();
    Ok((design, sources))
}

//! A generated design directory: `rtl/<module>.v` (one module per file), `filelist.f`, `config.resolved.toml` and
//! `manifest.json`. Used by `sta generate` and, through the build cache, by `sta gemm`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sta_golden::pe_array::ArrayShape;
use sta_hdl::emit::{config_hash, emit_pe_array, GeneratedDesign, GENERATOR};

use crate::config::resolved_toml;
use crate::error::{Result, StaError};
use crate::output::write_dir_atomically;

pub const RTL_DIR: &str = "rtl";
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
}

/// Files of a design directory: (path relative to the directory, contents).
pub type DesignFiles = Vec<(PathBuf, Vec<u8>)>;

/// Elaborates the PE array and lays out every file of its design directory.
pub fn pe_array_files(shape: &ArrayShape) -> Result<(GeneratedDesign, DesignFiles)> {
    let design =
        emit_pe_array(shape).map_err(|e| StaError::Tool(format!("RTL generation failed: {e}")))?;
    let rtl: Vec<String> = design
        .modules
        .iter()
        .map(|m| format!("{RTL_DIR}/{}.v", m.name))
        .collect();
    let mut files: DesignFiles = design
        .modules
        .iter()
        .zip(&rtl)
        .map(|(module, path)| (PathBuf::from(path), module.text.clone().into_bytes()))
        .collect();
    let filelist = rtl.iter().map(|p| format!("{p}\n")).collect::<String>();
    files.push((PathBuf::from(FILELIST), filelist.into_bytes()));
    files.push((
        PathBuf::from(RESOLVED_CONFIG),
        resolved_toml(shape).into_bytes(),
    ));
    let manifest = Manifest {
        generator: GENERATOR.to_string(),
        kind: "pe_array",
        top: design.top.clone(),
        config_hash: config_hash(shape),
        parameters: *shape,
        files: rtl,
    };
    let json = serde_json::to_string_pretty(&manifest).expect("manifest serializes") + "\n";
    files.push((PathBuf::from(MANIFEST), json.into_bytes()));
    Ok((design, files))
}

/// Writes the design directory atomically and returns the Verilog sources in dependency order.
pub fn write_pe_array(
    shape: &ArrayShape,
    dir: &Path,
    force: bool,
) -> Result<(GeneratedDesign, Vec<PathBuf>)> {
    let (design, files) = pe_array_files(shape)?;
    write_dir_atomically(dir, &files, force)?;
    let sources = design
        .modules
        .iter()
        .map(|m| dir.join(RTL_DIR).join(format!("{}.v", m.name)))
        .collect();
    Ok((design, sources))
}

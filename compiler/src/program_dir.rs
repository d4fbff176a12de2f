//! The program directory `sta compile` writes and `sta embed` / `sta run` read (docs/program-format.md):
//!
//! ```text
//! PROG/program.json    the op list and every integer parameter (sta_golden::encoder::Program)
//! PROG/weights/        the program's INT8 weights as a compressed model (docs/compressed-format.md "Whole model"):
//!                      N:M STANM files (dense INT8 for dense programs), plus the f32 parts the host needs
//!                      (embedding tables and their LayerNorm)
//! PROG/tokenizer.json  the model's tokenizer
//! PROG/manifest.json   what was compiled, how, and how accurate it is (informational)
//! ```
//!
//! Writing goes into a directory the caller provides (the CLI makes it a temporary directory and renames it into
//! place); reading validates every part and their agreement (dims, sparsity, weight shapes).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sta_golden::encoder::{EncoderWeights, NormMethod, Program, Sparsity};
use sta_golden::nm::NmPattern;

use crate::compressed_model::CompressedModel;
use crate::error::{CompileError, Result};
use crate::model::BertModel;
use crate::pipeline::CandidateAccuracy;
use crate::prune::PruneMethod;
use crate::quantize::Compiled;
use crate::tokenize::Tokenizer;

pub const PROGRAM_FILE: &str = "program.json";
pub const WEIGHTS_DIR: &str = "weights";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const MANIFEST_FILE: &str = "manifest.json";

/// Where a set of sentences came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceSet {
    /// "built-in calibration set", "built-in evaluation set" or a file path.
    pub source: String,
    pub sentences: usize,
    pub tokens: usize,
}

/// manifest.json: what was compiled and how well it does. Informational: nothing at run time reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub generator: String,
    /// The model directory compiled (as given).
    pub model: String,
    /// SHA-256 of its model.safetensors.
    pub model_sha256: String,
    /// "dense" or "N:M".
    pub sparsity: String,
    /// The pruning method (absent for dense programs).
    pub method: Option<PruneMethod>,
    pub norm_method: NormMethod,
    pub calibration: SentenceSet,
    pub evaluation: SentenceSet,
    /// The float sparse model and the integer program against the dense float model on the evaluation set.
    pub accuracy: CandidateAccuracy,
    /// Bytes of the weights directory (the program's compressed INT8 weights and the host's f32 tables).
    pub weights_bytes: u64,
    pub compile_seconds: f64,
}

/// A program directory, read and validated.
#[derive(Debug)]
pub struct LoadedProgram {
    pub dir: PathBuf,
    pub program: Program,
    pub weights: EncoderWeights,
    /// The folded float model (embedding tables and LayerNorm for the host; its linears are what `weights` quantise).
    pub host_model: BertModel,
    pub tokenizer: Tokenizer,
    pub manifest: Option<Manifest>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CompileError + '_ {
    move |source| CompileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The N:M pattern of a program's sparsity.
pub fn pattern_of(sparsity: Sparsity) -> Result<Option<NmPattern>> {
    match sparsity {
        Sparsity::Dense => Ok(None),
        Sparsity::Nm { n, m } => NmPattern::new(n, m)
            .map(Some)
            .map_err(|e| CompileError::Input(e.to_string())),
    }
}

/// Writes the program directory's files into `dir` (which must exist).
pub fn write_program_dir(
    dir: &Path,
    compiled: &Compiled,
    tokenizer: &Path,
    manifest: &Manifest,
) -> Result<()> {
    let pattern = pattern_of(compiled.program.sparsity)?;
    let weights = CompressedModel::from_model(&compiled.folded, pattern)?;
    weights.write_dir(&dir.join(WEIGHTS_DIR))?;
    let program_path = dir.join(PROGRAM_FILE);
    fs::write(&program_path, compiled.program.to_json()).map_err(io(&program_path))?;
    let tok_path = dir.join(TOKENIZER_FILE);
    fs::copy(tokenizer, &tok_path).map_err(io(&tok_path))?;
    let manifest_path = dir.join(MANIFEST_FILE);
    let json = serde_json::to_string_pretty(manifest).unwrap_or_default();
    fs::write(&manifest_path, json).map_err(io(&manifest_path))
}

/// Reads and validates a program directory.
pub fn read_program_dir(dir: &Path) -> Result<LoadedProgram> {
    let program_path = dir.join(PROGRAM_FILE);
    if !dir.is_dir() || !program_path.is_file() {
        return Err(CompileError::Input(format!(
            "{} is not a program directory: it has no {PROGRAM_FILE} (write one with `sta compile`)",
            dir.display()
        )));
    }
    let text = fs::read_to_string(&program_path).map_err(io(&program_path))?;
    let program = Program::from_json(&text).map_err(|e| CompileError::Model {
        path: program_path.clone(),
        message: e.to_string(),
    })?;
    let compressed = CompressedModel::read_dir(&dir.join(WEIGHTS_DIR))?;
    check_agreement(&program, &compressed, &program_path)?;
    let weights = EncoderWeights {
        layers: compressed
            .layers
            .iter()
            .map(|l| l.linears.iter().map(|c| c.weight.to_matrix()).collect())
            .collect(),
    };
    let tokenizer = Tokenizer::from_file(&dir.join(TOKENIZER_FILE))?;
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = fs::read(&manifest_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    Ok(LoadedProgram {
        dir: dir.to_path_buf(),
        program,
        weights,
        host_model: compressed.to_model(),
        tokenizer,
        manifest,
    })
}

fn check_agreement(program: &Program, weights: &CompressedModel, path: &Path) -> Result<()> {
    let d = &weights.dims;
    let p = &program.dims;
    let fail = |message: String| CompileError::Model {
        path: path.to_path_buf(),
        message,
    };
    if (d.d_model, d.heads, d.ffn, d.layers) != (p.d_model, p.heads, p.ffn, p.layers) {
        return Err(fail(format!(
            "dims {p:?} disagree with the weights' d_model {}, heads {}, ffn {}, layers {}",
            d.d_model, d.heads, d.ffn, d.layers
        )));
    }
    let expected = pattern_of(program.sparsity)?;
    if weights.pattern != expected {
        return Err(fail(format!(
            "sparsity {} disagrees with the weights ({})",
            program.sparsity,
            weights
                .pattern
                .map_or("dense".to_string(), |p| format!("{}:{}", p.n(), p.m()))
        )));
    }
    Ok(())
}

/// SHA-256 of a file, hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = fs::read(path).map_err(io(path))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Total bytes of the files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_bytes(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

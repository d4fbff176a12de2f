//! `sta embed`: run a compiled program on text through the golden integer encoder (or the float reference) and
//! print each sentence embedding's norm, its cosine against the float model and the time taken.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use sta_compiler::engine::run_program;
use sta_compiler::float_ref::FloatReference;
use sta_compiler::metrics::cosine;
use sta_compiler::program_dir::{read_program_dir, LoadedProgram};
use sta_compiler::BertModel;

use super::{compile_error, load_model};
use crate::error::{io_context, usage, Result};
use crate::npy::encode_npy;
use crate::output::write_file_atomically;

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Program directory written by `sta compile`.
    #[arg(long, value_name = "PROG")]
    pub program: PathBuf,
    /// A sentence to embed (repeat for several).
    #[arg(long, required = true)]
    pub text: Vec<String>,
    /// golden: the integer program (what the accelerator computes); float: the float reference (candle) of the
    /// model the program was compiled from.
    #[arg(long, default_value = "golden")]
    pub engine: String,
    /// The float model to compare with (default: the model directory recorded in the program's manifest).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Write the embeddings as float32 .npy ([384] for one text, [texts, 384] for several).
    #[arg(long, value_name = "E.npy")]
    pub out: Option<PathBuf>,
    /// Replace an existing --out file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Golden,
    Float,
}

fn parse_engine(text: &str) -> Result<Engine> {
    match text {
        "golden" => Ok(Engine::Golden),
        "float" => Ok(Engine::Float),
        _ => Err(usage(format!(
            "--engine {text:?} is not allowed: use golden or float"
        ))),
    }
}

/// The float model to compare against: --model, else the manifest's model directory if it still exists.
fn reference_model(args: &EmbedArgs, loaded: &LoadedProgram) -> Result<Option<BertModel>> {
    let dir = match (&args.model, &loaded.manifest) {
        (Some(dir), _) => Some(dir.clone()),
        (None, Some(m)) => {
            Some(PathBuf::from(&m.model)).filter(|d| d.join("model.safetensors").is_file())
        }
        (None, None) => None,
    };
    dir.map(|d| load_model(&d).map(|(m, _)| m)).transpose()
}

pub fn run_embed(args: &EmbedArgs) -> Result<()> {
    let engine = parse_engine(&args.engine)?;
    if let Some(out) = &args.out {
        crate::output::check_overwrite(out, args.force)?;
    }
    let loaded = read_program_dir(&args.program).map_err(compile_error)?;
    let limit = loaded.host_model.dims.max_positions;
    let sentences: Vec<Vec<u32>> = args
        .text
        .iter()
        .map(|t| loaded.tokenizer.encode_limited(t, limit))
        .collect::<std::result::Result<_, _>>()
        .map_err(compile_error)?;
    let reference = reference_model(args, &loaded)?;
    let float = reference
        .as_ref()
        .map(FloatReference::new)
        .transpose()
        .map_err(compile_error)?;
    if engine == Engine::Float && float.is_none() {
        return Err(usage(
            "--engine float needs the float model: pass --model DIR (the program's manifest names none that exists)",
        ));
    }
    let start = Instant::now();
    let embeddings = match (engine, &float) {
        (Engine::Float, Some(f)) => f.embed(&sentences).map_err(compile_error)?,
        _ => {
            run_program(
                &loaded.host_model,
                &loaded.program,
                &loaded.weights,
                &sentences,
            )
            .map_err(compile_error)?
            .embeddings
        }
    };
    let elapsed = start.elapsed().as_secs_f64();
    let float_embeddings = match &float {
        Some(f) => Some(f.embed(&sentences).map_err(compile_error)?),
        None => None,
    };
    for (i, (e, tokens)) in embeddings.iter().zip(&sentences).enumerate() {
        let norm = e.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
        let cos = float_embeddings
            .as_ref()
            .map_or("n/a (no float model)".to_string(), |f| {
                format!("{:.5}", cosine(&f[i], e))
            });
        println!(
            "text {i}: {} tokens, embedding norm {norm:.5}, cosine vs float model {cos}",
            tokens.len()
        );
    }
    println!(
        "{} engine ({} program {}): {:.1} ms for {} text(s)",
        args.engine,
        loaded.program.sparsity,
        loaded.dir.display(),
        elapsed * 1e3,
        sentences.len()
    );
    if let Some(out) = &args.out {
        let dim = embeddings.first().map_or(0, Vec::len) as u64;
        let shape: Vec<u64> = if embeddings.len() == 1 {
            vec![dim]
        } else {
            vec![embeddings.len() as u64, dim]
        };
        let flat: Vec<f32> = embeddings.concat();
        let bytes = encode_npy(&shape, &flat).map_err(io_context("encoding the embeddings"))?;
        write_file_atomically(out, &bytes, args.force)?;
    }
    Ok(())
}

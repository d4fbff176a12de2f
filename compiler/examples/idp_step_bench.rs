//! Time per IDP training step on all-MiniLM-L6-v2 (docs/idp.md "Time"): builds the teacher cache for the first
//! `SENTENCES` fine-tuning sentences, then times optimiser steps at batch 16 with the dense mask (no straight-through
//! term) and with a 4:8 straight-through mask, and one forward pass without gradients. Needs the model
//! (./scripts/install-minilm.sh or $STA_MINILM_DIR).
//!
//! Run: `cargo run --release -p sta-compiler --example idp_step_bench [STEPS]`.

use std::path::Path;
use std::time::Instant;

use sta_compiler::idp::data::TrainingData;
use sta_compiler::idp::student::Student;
use sta_compiler::idp::train::{train_fixed_batch, TrainConfig};
use sta_compiler::model::{find_model_dir, BertModel};
use sta_compiler::prune::NmMask;
use sta_compiler::text;
use sta_compiler::tokenize::Tokenizer;

const SENTENCES: usize = 256;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps: usize = std::env::args().nth(1).map_or(Ok(5), |s| s.parse())?;
    // Without the model this fails with the message that says how to install it.
    let dir = find_model_dir(Path::new("."))?;
    let model = BertModel::load(&dir)?;
    let tokenizer = Tokenizer::load(&dir)?;
    let sentences = tokenizer.encode_all(&text::fine_tuning()[..SENTENCES])?;
    let start = Instant::now();
    let data = TrainingData::new(&model, sentences, &mut |_, _| {})?;
    println!(
        "teacher cache: {} sentences, {} tokens in {:.2} s ({} threads)",
        data.len(),
        data.tokens(),
        start.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    let cfg = TrainConfig::default();
    let batch: Vec<usize> = (0..cfg.batch).collect();
    let tokens: usize = batch.iter().map(|&i| data.sentence_len(i)).sum();
    let mut student = Student::new(&model, 8)?;
    for (label, sparse) in [("dense mask", false), ("4:8 straight-through", true)] {
        if sparse {
            for (_, _, lin) in student.linears_mut() {
                let mut current = NmMask::dense(lin.allowed.out, lin.allowed.in_, 8);
                for g in current.keep.chunks_mut(8) {
                    g[4..].fill(false);
                }
                lin.set_current(current)?;
            }
        }
        train_fixed_batch(&student, &data, &batch, 1, &cfg)?; // warm-up
        let t = Instant::now();
        let losses = train_fixed_batch(&student, &data, &batch, steps, &cfg)?;
        let per = t.elapsed().as_secs_f64() / steps as f64;
        println!(
            "{label}: {per:.3} s per step of {} sentences ({tokens} tokens), {:.0} tokens/s; loss {:.4} -> {:.4}",
            cfg.batch,
            tokens as f64 / per,
            losses[0],
            losses[losses.len() - 1]
        );
    }
    Ok(())
}

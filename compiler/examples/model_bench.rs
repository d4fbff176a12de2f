//! `make bench` for the model side (docs/benchmarks.md "Model side"): the CPU baseline (float MiniLM per sentence
//! through candle, and the golden integer encoder), the time of the sparsity-inheritance chain for M = 8 on all six
//! layers per method, and the time of one compile. Needs all-MiniLM-L6-v2 (./scripts/install-minilm.sh).
//!
//! Run: `cargo run --release -p sta-compiler --example model_bench`.

use std::path::Path;
use std::time::Instant;

use sta_compiler::engine::run_integer;
use sta_compiler::float_ref::{synthetic_tokens, time_float_reference, TimingStats};
use sta_compiler::model::{find_model_dir, BertModel};
use sta_compiler::pipeline::{compile_candidate, default_quant_options, sparsity_chain};
use sta_compiler::prune::PruneMethod;
use sta_compiler::text;
use sta_compiler::tokenize::Tokenizer;

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match find_model_dir(Path::new(".")) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            return Ok(());
        }
    };
    let model = BertModel::load(&dir)?;
    let tokenizer = Tokenizer::load(&dir)?;
    let threads = rayon::current_num_threads();
    println!("model {} ({} threads)", dir.display(), threads);
    let calibration = tokenizer.encode_all(&text::calibration())?;

    println!("\n| tokens | float (candle) min / median ms | golden integer min / median ms |");
    println!("|---|---|---|");
    let dense = compile_candidate(&model, None, &calibration, &default_quant_options())?;
    for tokens in [16, 64, 128] {
        let float = time_float_reference(&model, tokens, 10)?;
        let sentence = vec![synthetic_tokens(&model.dims, tokens)?];
        let golden = TimingStats::measure(tokens, 5, || {
            run_integer(&model, &dense, &sentence).map(|_| ())
        })?;
        println!(
            "| {tokens} | {:.1} / {:.1} | {:.1} / {:.1} |",
            ms(float.min()),
            ms(float.median()),
            ms(golden.min()),
            ms(golden.median())
        );
    }

    println!("\n| method | chain 7:8 → 1:8, all 6 layers (s) |");
    println!("|---|---|");
    for method in PruneMethod::ALL {
        let start = Instant::now();
        let chain = sparsity_chain(&model, 8, 1, method, &calibration, None)?;
        println!(
            "| {} | {:.1} |",
            method.name(),
            start.elapsed().as_secs_f64()
        );
        assert_eq!(chain.len(), 7);
    }

    let start = Instant::now();
    compile_candidate(&model, None, &calibration, &default_quant_options())?;
    println!(
        "\ncalibrate + quantise (dense, {} calibration sentences): {:.1} s",
        calibration.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

//! Benchmark of the sparsity-inheritance chain and the compressed-model format on all-MiniLM-L6-v2:
//!
//! 1. `prune_model_chain` for M = 8 down to 1:8 with each method, calibration statistics from Gaussian activations
//!    (2,000 tokens per layer input) and from the model's own activations on text;
//! 2. the calibration error of every level for magnitude, wanda and the three refit mask saliencies, on the
//!    calibration text and on held-out text (which refit saliency is the default is decided here);
//! 3. the storage table and a write/read round trip of the compressed directory.
//!
//! Text activations come from `float_forward::forward_traced` on the committed calibration sentences (held out: the
//! evaluation sentences). Run: `cargo run --release -p sta-compiler --example prune_bench`.

use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sta_compiler::compressed_model::{storage_markdown, storage_table, CompressedModel};
use sta_compiler::float_forward::{forward_traced_with, TraceOptions};
use sta_compiler::model::find_model_dir;
use sta_compiler::prune::{
    prune_chain, prune_chain_with, prune_model_chain, CalibStats, LayerCalib, PruneMethod,
    RefitMask,
};
use sta_compiler::text;
use sta_compiler::tokenize::Tokenizer;
use sta_compiler::{BertModel, Dense, LinearKind};
use sta_golden::nm::NmPattern;

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const M: usize = 8;
/// Calibration tokens per layer input (and held-out tokens).
const TOKENS: usize = 2000;

fn main() -> AnyResult<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = find_model_dir(&root)?;
    let t = Instant::now();
    let model = BertModel::load(&dir)?;
    println!(
        "loaded {} in {:.2} s",
        dir.display(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let gaussian = gaussian_stats(&model, TOKENS);
    println!(
        "gaussian stats ({TOKENS} tokens per input): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    for method in PruneMethod::ALL {
        time_chain(&model, method, &gaussian, "gaussian")?;
    }

    let tokenizer = Tokenizer::load(&dir)?;
    let calib_sentences = sentences(&tokenizer, &text::calibration(), TOKENS)?;
    let held_sentences = sentences(&tokenizer, &text::evaluation(), TOKENS)?;
    let t = Instant::now();
    let calib = taps(&model, &calib_sentences)?;
    let held = taps(&model, &held_sentences)?;
    let count = |s: &[Vec<u32>]| s.iter().map(Vec::len).sum::<usize>();
    println!(
        "text activations: {} calibration tokens ({} sentences), {} held-out tokens ({} sentences), forward + stats \
         {:.2} s",
        count(&calib_sentences),
        calib_sentences.len(),
        count(&held_sentences),
        held_sentences.len(),
        t.elapsed().as_secs_f64()
    );
    for method in PruneMethod::ALL {
        time_chain(&model, method, &calib, "text")?;
    }
    compare_methods(&model, &calib, &held)?;
    storage(&model)?;
    Ok(())
}

fn time_chain(
    model: &BertModel,
    method: PruneMethod,
    stats: &[LayerCalib],
    source: &str,
) -> AnyResult<()> {
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let levels = prune_model_chain(model, M, 1, method, Some(stats), None)?;
    println!(
        "prune_model_chain M = {M} -> 1:{M} {method:>9} ({source} stats): {:.2} s wall, {:.2} s CPU, {} levels",
        t.elapsed().as_secs_f64(),
        cpu_seconds() - cpu,
        levels.len()
    );
    Ok(())
}

/// User + system CPU time of this process so far (Linux /proc; 0 elsewhere), to see through other load.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the parenthesised command name come state (field 3), …, utime (14) and stime (15), in clock ticks
    // (100 Hz).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// N(0, 1) activations of each layer input's width.
fn gaussian_stats(model: &BertModel, tokens: usize) -> Vec<LayerCalib> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (d, f) = (model.dims.d_model, model.dims.ffn);
    let mut stats = |k: usize| {
        let normal = rand_distr_normal(&mut rng, tokens * k);
        CalibStats::from_activations(&Dense {
            rows: tokens,
            cols: k,
            data: normal,
        })
        .expect("valid activations")
    };
    (0..model.layers.len())
        .map(|_| LayerCalib {
            qkv: stats(d),
            attn_out: stats(d),
            ffn_in: stats(d),
            ffn_out: stats(f),
        })
        .collect()
}

fn rand_distr_normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    use rand::Rng;
    (0..n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.gen::<f64>();
            let u2: f64 = rng.gen();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

/// Tokenised sentences from `sentences` until at least `tokens` tokens.
fn sentences(tokenizer: &Tokenizer, sentences: &[&str], tokens: usize) -> AnyResult<Vec<Vec<u32>>> {
    let mut out = Vec::new();
    let mut count = 0;
    for s in sentences {
        if count >= tokens {
            break;
        }
        let ids = tokenizer.encode(s)?;
        count += ids.len();
        out.push(ids);
    }
    Ok(out)
}

/// The dense model's float forward pass, the input of every linear layer folded into calibration statistics.
fn taps(model: &BertModel, sentences: &[Vec<u32>]) -> AnyResult<Vec<LayerCalib>> {
    let trace = forward_traced_with(
        model,
        sentences,
        TraceOptions {
            keep_attention: false,
        },
    )?;
    let mut out = Vec::with_capacity(trace.layers.len());
    for t in &trace.layers {
        out.push(LayerCalib {
            qkv: CalibStats::from_activations(&t.input)?,
            attn_out: CalibStats::from_activations(&t.ctx)?,
            ffn_in: CalibStats::from_activations(&t.h1)?,
            ffn_out: CalibStats::from_activations(&t.gelu)?,
        });
    }
    Ok(out)
}

/// Relative calibration error Σ‖X(W_dense − W)ᵀ‖² / Σ‖X W_denseᵀ‖² over all 36 linears, per level and method, on the
/// calibration text and on held-out text.
fn compare_methods(model: &BertModel, calib: &[LayerCalib], held: &[LayerCalib]) -> AnyResult<()> {
    let variants: Vec<(String, PruneMethod, RefitMask)> = vec![
        (
            "magnitude".into(),
            PruneMethod::Magnitude,
            RefitMask::default(),
        ),
        ("wanda".into(), PruneMethod::Wanda, RefitMask::default()),
        (
            "refit obs_diag".into(),
            PruneMethod::Refit,
            RefitMask::ObsDiag,
        ),
        (
            "refit obs_sequential".into(),
            PruneMethod::Refit,
            RefitMask::ObsSequential,
        ),
        ("refit wanda".into(), PruneMethod::Refit, RefitMask::Wanda),
    ];
    println!("\nrelative output error of the 36 linears (calibration / held-out), M = {M}:");
    print!("| method |");
    for n in (1..M).rev() {
        print!(" {n}:{M} |");
    }
    println!(
        " masked rows per level |\n|---|{}---|",
        "---:|".repeat(M - 1)
    );
    for (name, method, mask) in variants {
        let t = Instant::now();
        let mut err = vec![(0.0f64, 0.0f64); M - 1];
        let mut energy = (0.0f64, 0.0f64);
        let mut masked_rows = vec![0; M - 1];
        for (l, layer) in model.layers.iter().enumerate() {
            for kind in LinearKind::ALL {
                let lin = layer.linear(kind);
                let (sc, sh) = (calib[l].get(kind), held[l].get(kind));
                let levels = if method == PruneMethod::Refit {
                    prune_chain_with(lin, M, 1, method, Some(sc), mask)?
                } else {
                    prune_chain(lin, M, 1, method, Some(sc))?
                };
                let zero = Dense::zeros(lin.weight.rows, lin.weight.cols);
                energy.0 += sc.matrix_error(&lin.weight, &zero);
                energy.1 += sh.matrix_error(&lin.weight, &zero);
                for (i, level) in levels.iter().enumerate() {
                    err[i].0 += sc.matrix_error(&lin.weight, &level.weight);
                    err[i].1 += sh.matrix_error(&lin.weight, &level.weight);
                    masked_rows[i] += level.masked_rows;
                }
            }
        }
        print!("| {name} |");
        for (c, h) in &err {
            print!(" {:.4} / {:.4} |", c / energy.0, h / energy.1);
        }
        println!(" {masked_rows:?} | ({:.1} s)", t.elapsed().as_secs_f64());
    }
    Ok(())
}

fn storage(model: &BertModel) -> AnyResult<()> {
    let mut patterns: Vec<Option<NmPattern>> = vec![None];
    for n in (1..M).rev() {
        patterns.push(Some(NmPattern::new(n, M)?));
    }
    patterns.push(Some(NmPattern::new(2, 4)?));
    patterns.push(Some(NmPattern::new(4, 16)?));
    println!(
        "\nstorage, bytes:\n{}",
        storage_markdown(&storage_table(model, &patterns))
    );

    let tmp = tempfile::tempdir()?;
    let pruned = prune_model_chain(model, M, 2, PruneMethod::Magnitude, None, None)?;
    let two_eight = &pruned.last().ok_or("no level")?.1;
    for (name, m, pattern) in [
        ("dense", model, None),
        ("2-8", two_eight, Some(NmPattern::new(2, M)?)),
    ] {
        let dir = tmp.path().join(name);
        let t = Instant::now();
        let c = CompressedModel::from_model(m, pattern)?;
        c.write_dir(&dir)?;
        let written = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let back = CompressedModel::read_dir(&dir)?;
        let read = t.elapsed().as_secs_f64();
        let bytes: u64 = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        let files = std::fs::read_dir(&dir)?.count();
        println!(
            "{name}: {files} files, {bytes} bytes on disk, write {written:.2} s, read+validate {read:.2} s, \
             round trip {}",
            if back == c { "identical" } else { "DIFFERENT" }
        );
    }
    Ok(())
}

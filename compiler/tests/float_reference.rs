//! The float reference (candle-transformers' BERT) against the traced float forward pass, on all-MiniLM-L6-v2 when
//! it is installed (otherwise those tests print `SKIPPED: …` and pass) and on a tiny random model always.

use std::path::{Path, PathBuf};

use sta_compiler::float_forward::{
    forward_traced, forward_traced_with, time_forward_traced, FloatForward, TraceOptions,
};
use sta_compiler::float_ref::{time_float_reference, FloatReference};
use sta_compiler::model::find_model_dir;
use sta_compiler::text;
use sta_compiler::tokenize::{write_test_tokenizer, Tokenizer, MAX_TOKENS};
use sta_compiler::{BertDims, BertModel};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// MiniLM's directory, or None after printing why the calling test is skipped.
fn minilm(test: &str) -> Option<PathBuf> {
    match find_model_dir(&workspace_root()) {
        Ok(dir) => Some(dir),
        Err(why) => {
            println!("SKIPPED: {test}: {why}");
            None
        }
    }
}

/// The sentences of generators' softmax accuracy workload (generators/src/softmax/accuracy.rs `SENTENCES`).
const SENTENCES: [&str; 6] = [
    "The quick brown fox jumps over the lazy dog.",
    "Transformers compute attention by comparing every query with every key.",
    "A sparse tensor accelerator skips the zero weights of pruned matrices.",
    "She said that the weather in Paris would be sunny tomorrow, but it rained all day.",
    "Softmax turns a row of scores into probabilities that sum to one.",
    "In 1969, astronauts landed on the Moon and walked on its dusty surface for several hours, collecting rocks and \
     taking photographs while millions of people watched the grainy television pictures back on Earth, and the \
     mission became one of the most celebrated achievements of engineering in the twentieth century.",
];

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let n = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (n(a) * n(b))
}

/// The MiniLM test sentences: the six fixed ones and the first eight evaluation sentences.
fn minilm_batch(tok: &Tokenizer) -> Vec<Vec<u32>> {
    let texts: Vec<&str> = SENTENCES
        .iter()
        .copied()
        .chain(text::evaluation().into_iter().take(8))
        .collect();
    tok.encode_all(&texts).unwrap()
}

#[test]
fn minilm_float_forward_matches_candle_embeddings_and_every_layer() {
    let Some(dir) = minilm("minilm_float_forward_matches_candle_embeddings_and_every_layer") else {
        return;
    };
    let model = BertModel::load(&dir).unwrap();
    assert_eq!(model.dims, BertDims::MINILM_L6);
    let tok = Tokenizer::load(&dir).unwrap();
    let batch = minilm_batch(&tok);
    let reference = FloatReference::new(&model).unwrap();
    let trace = forward_traced(&model, &batch).unwrap();

    let ours = trace.sentence_embeddings();
    let theirs = reference.embed(&batch).unwrap();
    let (mut worst_cos, mut worst_abs) = (1f64, 0f32);
    for (a, b) in ours.iter().zip(&theirs) {
        worst_cos = worst_cos.min(cosine(a, b));
        worst_abs = worst_abs.max(max_abs_diff(a, b));
    }
    println!(
        "embeddings, {} sentences: min cosine {worst_cos:.9}, max |diff| {worst_abs:.3e}",
        batch.len()
    );
    assert!(worst_cos >= 0.99999 && worst_abs <= 1e-4);

    let mut per_layer = vec![0f32; model.dims.layers + 1];
    let mut offset = 0;
    for s in &batch {
        let d = model.dims.d_model;
        let rows = offset * d..(offset + s.len()) * d;
        let states = reference.hidden_states(s, model.dims.layers).unwrap();
        per_layer[0] = per_layer[0].max(max_abs_diff(
            &trace.embeddings.data[rows.clone()],
            &states[0].data,
        ));
        for (l, layer) in trace.layers.iter().enumerate() {
            let diff = max_abs_diff(&layer.output.data[rows.clone()], &states[l + 1].data);
            per_layer[l + 1] = per_layer[l + 1].max(diff);
        }
        offset += s.len();
    }
    let shown: Vec<String> = per_layer.iter().map(|d| format!("{d:.2e}")).collect();
    println!(
        "max |diff| vs candle per hidden state (embeddings, layers 1..6): {}",
        shown.join(", ")
    );
    for (l, d) in per_layer.iter().enumerate() {
        assert!(*d < 1e-4, "hidden state {l}: {d}");
    }
    // The chained single-layer encoders are candle's whole model.
    let last = reference.last_hidden(&batch[0]).unwrap();
    let states = reference.hidden_states(&batch[0], 6).unwrap();
    assert!(max_abs_diff(&last.data, &states[6].data) < 1e-5);
}

/// Layer-0 scores Q·Kᵀ/√32 in f64 from the model's f32 weights (generators' `MiniLmLayer0::scores`, rewritten):
/// `[head][query][key]`.
fn layer0_scores_f64(model: &BertModel, ids: &[u32]) -> Vec<Vec<Vec<f64>>> {
    let (d, heads, dh) = (model.dims.d_model, model.dims.heads, model.dims.head_dim());
    let e = &model.embeddings;
    let hidden: Vec<Vec<f64>> = ids
        .iter()
        .enumerate()
        .map(|(t, &id)| {
            let h: Vec<f64> = (0..d)
                .map(|j| {
                    f64::from(e.word.row(id as usize)[j])
                        + f64::from(e.position.row(t)[j])
                        + f64::from(e.token_type.row(0)[j])
                })
                .collect();
            let mean = h.iter().sum::<f64>() / d as f64;
            let var = h.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
            let inv = 1.0 / (var + e.ln.eps).sqrt();
            (0..d)
                .map(|j| (h[j] - mean) * inv * f64::from(e.ln.gamma[j]) + f64::from(e.ln.beta[j]))
                .collect()
        })
        .collect();
    let project = |l: &sta_compiler::Linear| -> Vec<Vec<f64>> {
        hidden
            .iter()
            .map(|x| {
                (0..d)
                    .map(|o| {
                        f64::from(l.bias[o])
                            + l.weight
                                .row(o)
                                .iter()
                                .zip(x)
                                .map(|(w, v)| f64::from(*w) * v)
                                .sum::<f64>()
                    })
                    .collect()
            })
            .collect()
    };
    let (q, k) = (project(&model.layers[0].q), project(&model.layers[0].k));
    let scale = 1.0 / (dh as f64).sqrt();
    (0..heads)
        .map(|h| {
            q.iter()
                .map(|qi| {
                    k.iter()
                        .map(|kj| {
                            (h * dh..(h + 1) * dh).map(|c| qi[c] * kj[c]).sum::<f64>() * scale
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

#[test]
fn minilm_layer0_scores_match_torch_and_the_f64_path() {
    let Some(dir) = minilm("minilm_layer0_scores_match_torch_and_the_f64_path") else {
        return;
    };
    let model = BertModel::load(&dir).unwrap();
    let tok = Tokenizer::load(&dir).unwrap();
    let ids = tok.encode(SENTENCES[0]).unwrap();
    // Pinned in generators/tests/softmax_accuracy.rs (transformers / torch).
    assert_eq!(
        ids,
        [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102]
    );
    let batch = tok.encode_all(&SENTENCES).unwrap();
    let trace = forward_traced(&model, &batch).unwrap();
    let scores = &trace.layers[0].scores;
    // Row r of generators' list is head r / 12, query r % 12 of the first sentence.
    let torch: [((usize, usize), [f64; 5]); 2] = [
        (
            (0, 0),
            [2.3307223, 0.7635264, 0.6949238, -0.5429278, -1.3480608],
        ),
        (
            (5, 3),
            [4.9025254, 3.9752359, 0.3480096, 1.9871411, 1.1622683],
        ),
    ];
    let mut vs_torch = 0f64;
    for ((h, i), values) in torch {
        for (got, want) in scores[0][h].row(i).iter().zip(values) {
            vs_torch = vs_torch.max((f64::from(*got) - want).abs());
        }
    }
    let mut vs_f64 = 0f64;
    let mut elements = 0;
    for (s, ids) in batch.iter().enumerate() {
        let exact = layer0_scores_f64(&model, ids);
        for (h, m) in scores[s].iter().enumerate() {
            for (i, row) in exact[h].iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    vs_f64 = vs_f64.max((f64::from(m.row(i)[j]) - v).abs());
                    elements += 1;
                }
            }
        }
    }
    println!("layer-0 scores: max |diff| vs torch (10 pinned) {vs_torch:.2e}, vs the f64 path ({elements} scores) {vs_f64:.2e}");
    assert!(vs_torch < 1e-4, "{vs_torch}");
    assert!(vs_f64 < 1e-4, "{vs_f64}");
}

#[test]
fn minilm_round_trips_through_save_and_tokenizes_the_committed_sentences() {
    let Some(dir) = minilm("minilm_round_trips_through_save_and_tokenizes_the_committed_sentences")
    else {
        return;
    };
    let model = BertModel::load(&dir).unwrap();
    let out = tempfile::tempdir().unwrap();
    model.save(out.path()).unwrap();
    assert_eq!(BertModel::load(out.path()).unwrap(), model);

    let tok = Tokenizer::load(&dir).unwrap();
    let all: Vec<&str> = [text::calibration(), text::evaluation(), text::training()].concat();
    for (name, set) in [
        ("calibration", text::calibration()),
        ("evaluation", text::evaluation()),
        ("training", text::training()),
        ("all", all),
    ] {
        let mut lengths: Vec<usize> = tok.encode_all(&set).unwrap().iter().map(Vec::len).collect();
        lengths.sort_unstable();
        println!(
            "{name}: {} sentences, tokens min {} median {} max {} (total {})",
            lengths.len(),
            lengths[0],
            lengths[lengths.len() / 2],
            lengths[lengths.len() - 1],
            lengths.iter().sum::<usize>()
        );
        assert!(lengths[lengths.len() - 1] <= 128);
    }
    let e = tok.encode(&"word ".repeat(600)).unwrap_err().to_string();
    assert!(
        e.contains("602 tokens") && e.contains(&format!("limit of {MAX_TOKENS}")),
        "{e}"
    );
}

#[test]
fn tiny_model_text_to_embeddings_agrees_with_candle() {
    let dir = tempfile::tempdir().unwrap();
    let words = [
        "the", "model", "reads", "a", "sentence", "and", "writes", "vector", ".",
    ];
    write_test_tokenizer(dir.path(), &words).unwrap();
    let model = BertModel::tiny_random(BertModel::TINY_DIMS, 5);
    model.save(dir.path()).unwrap();
    let model = BertModel::load(dir.path()).unwrap();
    let tok = Tokenizer::load(dir.path()).unwrap();
    let file = dir.path().join("sentences.txt");
    std::fs::write(
        &file,
        "The model reads a sentence.\nAnd writes a vector.\n\nThe the the.\n",
    )
    .unwrap();
    let batch = text::read_tokenized(&file, &tok, model.dims.max_positions).unwrap();
    assert_eq!(batch[0], [2, 4, 5, 6, 7, 8, 12, 3]);
    let ours = FloatForward::new(&model).unwrap().embed(&batch).unwrap();
    let theirs = FloatReference::new(&model).unwrap().embed(&batch).unwrap();
    for (a, b) in ours.iter().zip(&theirs) {
        assert!(cosine(a, b) >= 0.99999 && max_abs_diff(a, b) <= 1e-5);
    }
    let lean = forward_traced_with(
        &model,
        &batch,
        TraceOptions {
            keep_attention: false,
        },
    )
    .unwrap();
    assert_eq!(lean.sentence_embeddings(), ours);
}

#[test]
#[ignore = "CPU timings (cargo test --release -p sta-compiler --test float_reference -- --ignored --nocapture)"]
fn print_cpu_timings() {
    let Some(dir) = minilm("print_cpu_timings") else {
        return;
    };
    let model = BertModel::load(&dir).unwrap();
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset (all cores)".into());
    println!("RAYON_NUM_THREADS = {threads}, batch 1, ms per sentence");
    for len in [16, 64, 128] {
        println!(
            "candle float reference: {}",
            time_float_reference(&model, len, 20).unwrap()
        );
        println!(
            "forward_traced:         {}",
            time_forward_traced(&model, len, 20).unwrap()
        );
    }
}

//! The whole compile flow end to end on a tiny random BERT (always; CI-sized) and on MiniLM's first layer (when the
//! model is installed, otherwise `SKIPPED: …`): `compile_program` → `write_program_dir` → `read_program_dir` gives
//! back exactly the compiled program and weights, N:M programs hold N:M-legal weights only, the loaded program runs
//! to exactly the same integer results, and the integer model stays close to the float model it was compiled from.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_compiler::engine::{run_integer, run_program};
use sta_compiler::model::find_model_dir;
use sta_compiler::pipeline::{
    compile_program, default_quant_options, evaluate, is_nm_sparse, CompileRequest, CompileResult,
    Reference,
};
use sta_compiler::program_dir::{read_program_dir, write_program_dir, Manifest, SentenceSet};
use sta_compiler::prune::PruneMethod;
use sta_compiler::text;
use sta_compiler::tokenize::{write_test_tokenizer, Tokenizer};
use sta_compiler::BertModel;
use sta_golden::encoder::{NormMethod, Sparsity};
use sta_golden::nm::{check_nm, NmPattern};

/// The tiny test tokenizer's special ids (`write_test_tokenizer`): [CLS] 2, [SEP] 3, words from 4.
const CLS: u32 = 2;
const SEP: u32 = 3;

/// `count` random sentences of 2..16 tokens: [CLS], random ids in 4..vocab, [SEP].
fn random_sentences(rng: &mut ChaCha8Rng, count: usize, vocab: usize) -> Vec<Vec<u32>> {
    (0..count)
        .map(|_| {
            let len = rng.gen_range(2..16);
            let mut s = vec![CLS];
            s.extend((0..len - 2).map(|_| rng.gen_range(4..vocab as u32)));
            s.push(SEP);
            s
        })
        .collect()
}

fn manifest(result: &CompileResult, pattern: Option<NmPattern>, method: PruneMethod) -> Manifest {
    let set = |source: &str, n| SentenceSet {
        source: source.to_string(),
        sentences: n,
        tokens: 0,
    };
    Manifest {
        generator: "encoder_e2e test".to_string(),
        model: "tiny_random".to_string(),
        model_sha256: "0".repeat(64),
        sparsity: pattern.map_or("dense".into(), |p| format!("{}:{}", p.n(), p.m())),
        method: pattern.map(|_| method),
        norm_method: result.compiled.program.norm_method,
        calibration: set("random token ids", 0),
        evaluation: set("random token ids", 0),
        accuracy: result.accuracy.clone(),
        weights_bytes: 0,
        compile_seconds: 0.0,
    }
}

/// The manifest read back equals the written one; its floats may differ in the last bit (serde_json parses
/// floats without its `float_roundtrip` feature, e.g. 0.9998265361225604 came back as …603).
fn assert_same_manifest(read: &Manifest, written: &Manifest, label: &str) {
    let floats = |m: &Manifest| -> Vec<f64> {
        let a = &m.accuracy;
        let mut v = vec![
            a.float.mean_cosine,
            a.float.min_cosine,
            a.float.spearman,
            m.compile_seconds,
        ];
        v.extend(&a.float_layer_cosine);
        if let Some(i) = &a.integer {
            v.extend([i.mean_cosine, i.min_cosine, i.spearman]);
        }
        v.extend(a.integer_layer_cosine.iter().flatten());
        v
    };
    let (r, w) = (floats(read), floats(written));
    assert_eq!(r.len(), w.len(), "{label}: manifest");
    for (x, y) in r.iter().zip(&w) {
        assert!(
            (x - y).abs() <= 1e-12 * y.abs().max(1.0),
            "{label}: manifest {x} vs {y}"
        );
    }
    let mut same = read.clone();
    same.accuracy = written.accuracy.clone();
    same.compile_seconds = written.compile_seconds;
    assert_eq!(&same, written, "{label}: manifest");
}

/// Every file under `dir` (relative path, bytes), sorted.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

/// Measured on the tiny model (TINY_DIMS, seed 17, 24 calibration and 12 evaluation sentences of random ids), the
/// integer program against the float model of the same (pruned) weights: mean embedding cosine 0.99992–0.99993 and
/// minimum 0.99982–0.99988 for every case (dense rsqrt/exact, 2:4 magnitude/refit, 2:8 magnitude/refit/wanda),
/// per-layer output cosine 0.99977–0.99988. The bounds leave ~10× margin on 1 − cosine.
const TINY_MEAN_COSINE_MIN: f64 = 0.999;
const TINY_MIN_COSINE_MIN: f64 = 0.998;
const TINY_LAYER_COSINE_MIN: f64 = 0.998;

/// (N:M or dense, pruning method, LayerNorm method).
type Case = (Option<(usize, usize)>, PruneMethod, NormMethod);

#[test]
fn tiny_model_compiles_round_trips_and_runs_identically() {
    let dims = BertModel::TINY_DIMS;
    assert!(
        dims.d_model.is_multiple_of(8) && dims.ffn.is_multiple_of(8),
        "TINY_DIMS widths must allow M = 8"
    );
    let model = BertModel::tiny_random(dims, 17);
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let calibration = random_sentences(&mut rng, 24, dims.vocab);
    let evaluation = random_sentences(&mut rng, 12, dims.vocab);
    let root = tempfile::tempdir().unwrap();
    let tokenizer = write_test_tokenizer(root.path(), &["the", "cat", "sat"]).unwrap();

    let cases: [Case; 7] = [
        (None, PruneMethod::Magnitude, NormMethod::Rsqrt),
        (None, PruneMethod::Magnitude, NormMethod::Exact),
        (Some((2, 4)), PruneMethod::Magnitude, NormMethod::Rsqrt),
        (Some((2, 4)), PruneMethod::Refit, NormMethod::Rsqrt),
        (Some((2, 8)), PruneMethod::Magnitude, NormMethod::Rsqrt),
        (Some((2, 8)), PruneMethod::Refit, NormMethod::Rsqrt),
        (Some((2, 8)), PruneMethod::Wanda, NormMethod::Exact),
    ];
    let mut measured = Vec::new();
    for (nm, method, norm) in cases {
        let pattern = nm.map(|(n, m)| NmPattern::new(n, m).unwrap());
        let label = format!(
            "{} {} {norm:?}",
            nm.map_or("dense".into(), |(n, m)| format!("{n}:{m}")),
            method.name()
        );
        let mut options = default_quant_options();
        options.norm_method = norm;
        let request = CompileRequest {
            model: &model,
            pattern,
            method,
            calibration: &calibration,
            evaluation: &evaluation,
            options,
        };
        let result = compile_program(&request, &|_| {}).unwrap();
        let compiled = &result.compiled;
        let expected_sparsity = match pattern {
            None => Sparsity::Dense,
            Some(p) => Sparsity::Nm { n: p.n(), m: p.m() },
        };
        assert_eq!(compiled.program.sparsity, expected_sparsity, "{label}");
        assert_eq!(compiled.program.norm_method, norm, "{label}");

        let dir = root.path().join(label.replace([' ', ':'], "_"));
        std::fs::create_dir(&dir).unwrap();
        let manifest = manifest(&result, pattern, method);
        write_program_dir(&dir, compiled, &tokenizer, &manifest).unwrap();
        let loaded = read_program_dir(&dir).unwrap();

        // (a) the program and (b) the weights come back exactly.
        assert_eq!(loaded.program, compiled.program, "{label}: program");
        assert_eq!(loaded.weights, compiled.weights, "{label}: weights");
        assert_same_manifest(loaded.manifest.as_ref().unwrap(), &manifest, &label);
        assert_eq!(
            Tokenizer::load(&dir).unwrap().vocab_size(),
            Tokenizer::from_file(&tokenizer).unwrap().vocab_size()
        );

        // (c) every weight matrix of an N:M program is N:M-legal (and the float pruned model too).
        if let Some(p) = pattern {
            for (l, layer) in loaded.weights.layers.iter().enumerate() {
                for (i, w) in layer.iter().enumerate() {
                    check_nm(w, p).unwrap_or_else(|e| panic!("{label}: layer {l} linear {i}: {e}"));
                    let kept = w.data().iter().filter(|&&v| v != 0).count();
                    assert!(kept * p.m() <= w.data().len() * p.n(), "{label}");
                }
            }
            for layer in &result.pruned.layers {
                for kind in sta_compiler::LinearKind::ALL {
                    let w = &layer.linear(kind).weight;
                    for row in w.data.chunks(w.cols) {
                        for group in row.chunks(p.m()) {
                            let nz = group.iter().filter(|&&v| v != 0.0).count();
                            assert!(nz <= p.n(), "{label}: float {kind:?} group {group:?}");
                        }
                    }
                }
            }
        }

        // (d) the loaded program runs to exactly the compiled one's layer outputs and embeddings.
        let direct = run_integer(&result.pruned, compiled, &evaluation).unwrap();
        let reloaded = run_program(
            &loaded.host_model,
            &loaded.program,
            &loaded.weights,
            &evaluation,
        )
        .unwrap();
        assert_eq!(reloaded.tokens, direct.tokens, "{label}: host input");
        assert_eq!(reloaded.layers, direct.layers, "{label}: layer outputs");
        assert_eq!(
            reloaded.embeddings, direct.embeddings,
            "{label}: embeddings"
        );

        // Writing is deterministic: a second directory holds the same bytes.
        let again = root.path().join(format!("{}-again", dir.display()));
        std::fs::create_dir(&again).unwrap();
        write_program_dir(&again, compiled, &tokenizer, &manifest).unwrap();
        assert_eq!(files(&dir), files(&again), "{label}: files differ");

        // (e) the integer embeddings against the float model of the same (pruned) weights.
        let reference = Reference::new(&result.pruned, &evaluation).unwrap();
        let accuracy = evaluate(&reference, &result.pruned, Some(compiled)).unwrap();
        let integer = accuracy.integer.unwrap();
        assert_eq!(integer.sentences, evaluation.len());
        // The float candidate against itself is exact.
        assert!(accuracy.float.mean_cosine > 0.999_999, "{label}");
        let layers = accuracy.integer_layer_cosine.unwrap();
        measured.push(format!(
            "{label} {:.5} (min {:.5}, layers {layers:.5?})",
            integer.mean_cosine, integer.min_cosine
        ));
        assert!(
            integer.mean_cosine >= TINY_MEAN_COSINE_MIN
                && integer.min_cosine >= TINY_MIN_COSINE_MIN,
            "{label}: integer vs float embedding cosine mean {} min {}",
            integer.mean_cosine,
            integer.min_cosine
        );
        for (l, c) in layers.iter().enumerate() {
            assert!(
                *c >= TINY_LAYER_COSINE_MIN,
                "{label}: layer {l} output cosine {c}"
            );
        }
    }
    println!(
        "tiny model, integer vs float of the same weights, mean embedding cosine: {}",
        measured.join(", ")
    );
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Measured on MiniLM layer 0 (dense, rsqrt LayerNorm, built-in calibration sentences 1–32, evaluation sentences
/// 1–16) against the float 1-layer model: layer-output cosine (mean over tokens) 0.9989, embedding mean cosine
/// 0.9984 (min 0.9979). The bounds leave ~3× margin on 1 − cosine.
const MINILM_LAYER_COSINE_MIN: f64 = 0.995;
const MINILM_EMBEDDING_COSINE_MIN: f64 = 0.995;

#[test]
fn minilm_first_layer_compiles_dense_and_tracks_the_float_layer() {
    let test = "minilm_first_layer_compiles_dense_and_tracks_the_float_layer";
    let dir = match find_model_dir(&workspace_root()) {
        Ok(dir) => dir,
        Err(why) => {
            println!("SKIPPED: {test}: {why}");
            return;
        }
    };
    let mut model = BertModel::load(&dir).unwrap();
    model.layers.truncate(1);
    model.dims.layers = 1;
    let tok = Tokenizer::load(&dir).unwrap();
    let calibration = tok.encode_all(&text::calibration()[..32]).unwrap();
    let evaluation = tok.encode_all(&text::evaluation()[..16]).unwrap();
    let request = CompileRequest {
        model: &model,
        pattern: None,
        method: PruneMethod::Magnitude,
        calibration: &calibration,
        evaluation: &evaluation,
        options: default_quant_options(),
    };
    let result = compile_program(&request, &|_| {}).unwrap();
    assert_eq!(result.compiled.program.dims.layers, 1);
    // Dense: the candidate is the model itself, so the accuracy is against the float 1-layer model.
    assert_eq!(result.pruned, model);
    let acc = &result.accuracy;
    let layer = acc.integer_layer_cosine.as_ref().unwrap()[0];
    let embedding = acc.integer.as_ref().unwrap();
    println!(
        "MiniLM layer 0, dense INT8 vs float: layer-output cosine {layer:.4}, embedding mean cosine {:.4} (min \
         {:.4}, {} sentences)",
        embedding.mean_cosine, embedding.min_cosine, embedding.sentences
    );
    assert!(
        layer >= MINILM_LAYER_COSINE_MIN,
        "layer-output cosine {layer}"
    );
    assert!(
        embedding.mean_cosine >= MINILM_EMBEDDING_COSINE_MIN,
        "embedding mean cosine {}",
        embedding.mean_cosine
    );
    assert!((acc.float.mean_cosine - 1.0).abs() < 1e-6);
}

/// A model that already meets the pattern (as an `sta idp` level does) is compiled as it is, without the pruning
/// chain (47 s on MiniLM, and a refit that could only move weights its training chose); a sparser pattern is still
/// pruned.
#[test]
fn an_already_sparse_model_is_compiled_without_pruning_again() {
    let dims = BertModel::TINY_DIMS;
    let dense = BertModel::tiny_random(dims, 23);
    let mut rng = ChaCha8Rng::seed_from_u64(24);
    let calibration = random_sentences(&mut rng, 16, dims.vocab);
    let evaluation = random_sentences(&mut rng, 6, dims.vocab);
    let compile = |model: &BertModel, n: usize, m: usize, method: PruneMethod| {
        let request = CompileRequest {
            model,
            pattern: Some(NmPattern::new(n, m).unwrap()),
            method,
            calibration: &calibration,
            evaluation: &evaluation,
            options: default_quant_options(),
        };
        let stages = std::cell::RefCell::new(Vec::new());
        let result =
            compile_program(&request, &|s| stages.borrow_mut().push(s.to_string())).unwrap();
        let pruning = stages
            .into_inner()
            .into_iter()
            .find(|s| s.starts_with("pruning"))
            .unwrap();
        (result.pruned, pruning)
    };
    let (two_of_eight, stage) = compile(&dense, 2, 8, PruneMethod::Magnitude);
    assert!(stage.contains("chain 7:8 → 2:8"), "{stage}");
    let p28 = NmPattern::new(2, 8).unwrap();
    assert!(!is_nm_sparse(&dense, p28));
    assert!(is_nm_sparse(&two_of_eight, p28));
    assert!(is_nm_sparse(&two_of_eight, NmPattern::new(4, 8).unwrap()));
    assert!(!is_nm_sparse(&two_of_eight, NmPattern::new(1, 8).unwrap()));

    let (again, stage) = compile(&two_of_eight, 2, 8, PruneMethod::Refit);
    assert!(stage.starts_with("pruning: none"), "{stage}");
    assert_eq!(again, two_of_eight);
    let (one_of_eight, stage) = compile(&two_of_eight, 1, 8, PruneMethod::Magnitude);
    assert!(stage.contains("chain 7:8 → 1:8"), "{stage}");
    assert_ne!(one_of_eight, two_of_eight);
    assert!(is_nm_sparse(&one_of_eight, NmPattern::new(1, 8).unwrap()));
}

//! The whole-model compressed directory (compiler/src/compressed_model.rs): round trips, validation, the refusal of
//! illegal models, and the model-level pruning chain that feeds it.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};
use sta_compiler::compressed_model::{
    storage_table, CompressedModel, LinearWeight, DENSE_FILE, DENSE_LINEAR_FILE,
};
use sta_compiler::prune::{prune_model_chain, CalibStats, LayerCalib, PruneMethod};
use sta_compiler::weights::quantize_linear;
use sta_compiler::{BertModel, CompileError, Dense, LinearKind};
use sta_golden::nm::NmPattern;

fn tiny(seed: u64) -> BertModel {
    BertModel::tiny_random(BertModel::TINY_DIMS, seed)
}

fn pattern(n: usize, m: usize) -> NmPattern {
    NmPattern::new(n, m).expect("legal pattern")
}

/// The tiny model pruned to 2:8 by magnitude.
fn pruned_2_8() -> BertModel {
    let levels =
        prune_model_chain(&tiny(1), 8, 2, PruneMethod::Magnitude, None, None).expect("prunes");
    levels.into_iter().last().expect("levels").1
}

/// Every file of a directory, by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .expect("readable")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, fs::read(&path).expect("file"))
        })
        .collect();
    out.sort();
    out
}

fn input_error(result: Result<CompressedModel, CompileError>) -> String {
    match result {
        Err(CompileError::Input(msg)) => msg,
        other => panic!("expected an input error, got {other:?}"),
    }
}

fn read_error(dir: &Path) -> String {
    let e = CompressedModel::read_dir(dir).expect_err("invalid directory");
    let text = e.to_string();
    assert!(!text.contains('\n'), "{text}");
    text
}

#[test]
fn sparse_and_dense_round_trips_are_exact() {
    for (model, p) in [(pruned_2_8(), Some(pattern(2, 8))), (tiny(2), None)] {
        let c = CompressedModel::from_model(&model, p).expect("legal");
        let tmp = tempfile::tempdir().expect("tempdir");
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        c.write_dir(&a).expect("writes");
        let back = CompressedModel::read_dir(&a).expect("reads");
        assert_eq!(back, c);
        back.write_dir(&b).expect("writes again");
        assert_eq!(files(&a), files(&b), "rewritten bytes differ ({p:?})");

        // to_model is the quantise-dequantise of the input.
        let mut expected = model.clone();
        for layer in &mut expected.layers {
            for kind in LinearKind::ALL {
                let lin = layer.linear_mut(kind);
                lin.weight = quantize_linear(&lin.weight).dequantize();
            }
        }
        assert_eq!(back.to_model(), expected);

        let names: Vec<String> = files(&a).into_iter().map(|(n, _)| n).collect();
        assert!(
            names.contains(&DENSE_FILE.to_string()) && names.contains(&"index.json".to_string())
        );
        match p {
            Some(_) => {
                assert_eq!(names.len(), 2 + 6 * model.layers.len());
                assert!(
                    names.contains(&"encoder.layer.1.intermediate.dense.weight.stanm".to_string())
                );
                assert!(matches!(
                    c.layers[0].linear(LinearKind::Q).weight,
                    LinearWeight::Sparse(_)
                ));
            }
            None => assert_eq!(names, vec![DENSE_FILE, "index.json", DENSE_LINEAR_FILE]),
        }
    }
}

#[test]
fn from_model_refuses_illegal_models() {
    let msg = input_error(CompressedModel::from_model(&tiny(3), Some(pattern(2, 8))));
    assert!(
        msg.starts_with("layer 0 q: row 0 group 0 (columns 0..8) has "),
        "{msg}"
    );
    assert!(
        msg.contains("more than N = 2 of 2:8") && !msg.contains('\n'),
        "{msg}"
    );
    // A 2:8 model is 4:8-legal but not 1:8-legal.
    assert!(CompressedModel::from_model(&pruned_2_8(), Some(pattern(4, 8))).is_ok());
    assert!(input_error(CompressedModel::from_model(
        &pruned_2_8(),
        Some(pattern(1, 8))
    ))
    .contains("more than N = 1"));
    // M must divide every input width (d = 32, ffn = 64: M = 16 does, and the dims checks catch bad shapes).
    let mut bad = tiny(4);
    bad.layers[1].ffn_out.bias.pop();
    assert!(input_error(CompressedModel::from_model(&bad, None)).contains("layer 1"));
}

/// Rewrites index.json through `edit`.
fn edit_index(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).expect("index")).expect("json");
    edit(&mut index);
    fs::write(&path, serde_json::to_vec_pretty(&index).expect("json")).expect("write");
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Sets the size and hash of `file` in both lists of index.json to its current content.
fn rehash(dir: &Path, file: &str) {
    let bytes = fs::read(dir.join(file)).expect("file");
    edit_index(dir, |index| {
        for list in ["files", "tensors"] {
            for entry in index[list].as_array_mut().expect("list") {
                if entry["file"] == file {
                    entry["bytes"] = bytes.len().into();
                    entry["sha256"] = sha256_hex(&bytes).into();
                }
            }
        }
    });
}

#[test]
fn read_dir_validates_everything() {
    let c = CompressedModel::from_model(&pruned_2_8(), Some(pattern(2, 8))).expect("legal");
    let tmp = tempfile::tempdir().expect("tempdir");
    let fresh = |name: &str| {
        let dir = tmp.path().join(name);
        c.write_dir(&dir).expect("writes");
        dir
    };
    let q = "encoder.layer.0.attention.self.query.weight.stanm";

    let dir = fresh("missing");
    fs::remove_file(dir.join(q)).expect("remove");
    let msg = read_error(&dir);
    assert!(msg.contains(q) && msg.contains("No such file"), "{msg}");

    let dir = fresh("size");
    let mut bytes = fs::read(dir.join(DENSE_FILE)).expect("file");
    bytes.push(0);
    fs::write(dir.join(DENSE_FILE), &bytes).expect("write");
    let msg = read_error(&dir);
    assert!(
        msg.contains(DENSE_FILE) && msg.contains("index.json says"),
        "{msg}"
    );

    let dir = fresh("sha");
    let mut bytes = fs::read(dir.join(q)).expect("file");
    let last = bytes.len() - 20;
    bytes[last] ^= 1;
    fs::write(dir.join(q), &bytes).expect("write");
    assert!(read_error(&dir).contains("SHA-256"));

    // A valid STANM file of another shape under Q's name, with size and hash updated: the header disagrees.
    let dir = fresh("header");
    fs::copy(
        dir.join("encoder.layer.0.intermediate.dense.weight.stanm"),
        dir.join(q),
    )
    .expect("copy");
    rehash(&dir, q);
    let msg = read_error(&dir);
    assert!(
        msg.contains("STANM header says 2:8 64x32, index.json says 2:8 32x32"),
        "{msg}"
    );

    // A STANM file of another pattern.
    let dir = fresh("pattern");
    let other = CompressedModel::from_model(&pruned_2_8(), Some(pattern(4, 8))).expect("legal");
    let other_dir = tmp.path().join("other");
    other.write_dir(&other_dir).expect("writes");
    fs::copy(other_dir.join(q), dir.join(q)).expect("copy");
    rehash(&dir, q);
    assert!(read_error(&dir).contains("STANM header says 4:8 32x32, index.json says 2:8 32x32"));

    // A corrupt STANM file with a matching hash is still refused by the STANM reader.
    let dir = fresh("stanm");
    fs::write(dir.join(q), b"STANM\0\x02\0\0\0\0\0").expect("write");
    rehash(&dir, q);
    assert!(read_error(&dir).contains("format version = 2 is not supported"));

    let dir = fresh("version");
    edit_index(&dir, |i| i["version"] = 2.into());
    assert!(read_error(&dir).contains("version 2 is not supported"));

    let dir = fresh("unknown field");
    edit_index(&dir, |i| i["extra"] = 1.into());
    assert!(read_error(&dir).contains("unknown field"));

    let dir = fresh("dims");
    edit_index(&dir, |i| i["dims"]["ffn"] = 128.into());
    assert!(read_error(&dir).contains("the dims and sparsity imply"));

    let dir = fresh("sparsity");
    edit_index(&dir, |i| i["sparsity"] = "2:7".into());
    assert!(read_error(&dir).contains("sparsity \"2:7\""));

    let dir = fresh("path");
    edit_index(&dir, |i| {
        i["files"][0]["file"] = "../dense.safetensors".into()
    });
    assert!(read_error(&dir).contains("not a plain file name"));

    let dir = fresh("missing tensor");
    edit_index(&dir, |i| {
        let tensors = i["tensors"].as_array_mut().expect("list");
        tensors.retain(|t| t["name"] != "encoder.layer.1.output.LayerNorm.bias");
    });
    assert!(read_error(&dir).contains("tensor encoder.layer.1.output.LayerNorm.bias is missing"));

    let dir = fresh("index");
    fs::remove_file(dir.join("index.json")).expect("remove");
    assert!(read_error(&dir).contains("index.json"));
}

#[test]
fn prune_model_chain_prunes_every_linear_and_copies_the_rest() {
    let model = tiny(5);
    let x = |k: usize, seed: u64| {
        let m = BertModel::tiny_random(BertModel::TINY_DIMS, seed);
        // Any deterministic activations of the right width will do.
        let data: Vec<f32> = m
            .embeddings
            .word
            .data
            .iter()
            .cycle()
            .take(50 * k)
            .copied()
            .collect();
        CalibStats::from_activations(&Dense {
            rows: 50,
            cols: k,
            data,
        })
        .expect("stats")
    };
    let (d, f) = (model.dims.d_model, model.dims.ffn);
    let stats: Vec<LayerCalib> = (0..model.dims.layers as u64)
        .map(|l| LayerCalib {
            qkv: x(d, 10 + l),
            attn_out: x(d, 20 + l),
            ffn_in: x(d, 30 + l),
            ffn_out: x(f, 40 + l),
        })
        .collect();
    for method in PruneMethod::ALL {
        let calls = AtomicUsize::new(0);
        let progress = |_n: usize, _layer: usize, _kind: LinearKind| {
            calls.fetch_add(1, Ordering::Relaxed);
        };
        let levels =
            prune_model_chain(&model, 4, 1, method, Some(&stats), Some(&progress)).expect("prunes");
        assert_eq!(
            levels.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec![3, 2, 1]
        );
        assert_eq!(calls.load(Ordering::Relaxed), 3 * 6 * model.dims.layers);
        for (n, level) in &levels {
            assert_eq!(level.embeddings, model.embeddings);
            for (a, b) in level.layers.iter().zip(&model.layers) {
                assert_eq!((&a.ln_attn, &a.ln_ffn), (&b.ln_attn, &b.ln_ffn));
                for kind in LinearKind::ALL {
                    assert_eq!(a.linear(kind).bias, b.linear(kind).bias);
                    let w = &a.linear(kind).weight;
                    assert_eq!(
                        (w.rows, w.cols),
                        (b.linear(kind).weight.rows, b.linear(kind).weight.cols)
                    );
                    assert!(w
                        .data
                        .chunks(4)
                        .all(|g| g.iter().filter(|&&v| v != 0.0).count() <= *n));
                }
            }
            assert!(CompressedModel::from_model(level, Some(pattern(*n, 4))).is_ok());
        }
    }
    let msg = prune_model_chain(&model, 4, 1, PruneMethod::Wanda, Some(&stats[..1]), None)
        .expect_err("one layer");
    assert!(msg.to_string().contains("cover 1 layers, the model has 2"));
    let mut narrow = stats.clone();
    narrow[1].ffn_out = x(d, 50);
    let msg = prune_model_chain(&model, 4, 1, PruneMethod::Refit, Some(&narrow), None)
        .expect_err("width");
    assert!(
        msg.to_string()
            .starts_with("layer 1 ffn_out: calibration statistics have 32 features"),
        "{msg}"
    );
}

#[test]
fn storage_table_adds_up() {
    let model = tiny(6);
    let rows = storage_table(&model, &[None, Some(pattern(2, 8)), Some(pattern(2, 4))]);
    assert_eq!(
        rows.iter().map(|r| r.format.as_str()).collect::<Vec<_>>(),
        vec!["fp32 dense", "int8 dense", "2:8", "2:4"]
    );
    let params: u64 = 2 * (4 * 32 * 32 + 2 * 32 * 64);
    let outs: u64 = 2 * (4 * 32 + 64 + 32);
    assert_eq!(rows[0].linear_total, 4 * params);
    assert_eq!(
        (rows[1].linear_values, rows[1].linear_scales),
        (params, 4 * outs)
    );
    // 2:8: a quarter of the values, 3-bit indices.
    assert_eq!(rows[2].linear_values, params / 4);
    assert_eq!(rows[2].linear_indices, params / 4 * 3 / 8);
    for r in &rows {
        assert_eq!(
            r.linear_total,
            r.linear_values + r.linear_indices + r.linear_scales
        );
        assert_eq!(
            r.model_total,
            r.linear_total + r.encoder_dense + r.embeddings
        );
        assert!(
            (r.linear_vs_fp32 - rows[0].linear_total as f64 / r.linear_total as f64).abs() < 1e-12
        );
    }
    // The byte counts match the STANM payloads write_dir stores: values, then ⌈slots · 3 / 8⌉ index bytes.
    let c = CompressedModel::from_model(&pruned_2_8(), Some(pattern(2, 8))).expect("legal");
    let (mut values, mut indices) = (0, 0);
    for layer in &c.layers {
        for kind in LinearKind::ALL {
            if let LinearWeight::Sparse(s) = &layer.linear(kind).weight {
                values += s.values().len() as u64;
                indices += (s.values().len() as u64 * 3).div_ceil(8);
            }
        }
    }
    assert_eq!(
        (values, indices),
        (rows[2].linear_values, rows[2].linear_indices)
    );
}

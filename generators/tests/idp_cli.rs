//! `sta idp` from the outside on a tiny random BERT: the chain writes one complete directory per level (model,
//! config, tokenizer, masks, metrics), `sta compile --model CKPT/level-2of4 --n-m 2:4` reads a level unchanged, a run
//! extended with --resume equals a straight run byte for byte, and the one-shot baseline writes only its target.

mod common;

use std::path::Path;
use std::process::Output;

use common::{ok, s, sta};
use sta_compiler::tokenize::write_test_tokenizer;
use sta_compiler::BertModel;

const WORDS: [&str; 24] = [
    "the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "table", "and", "but", "small",
    "large", "red", "blue", "bird", "tree", "house", "river", "near", "is", "old", ".",
];

const TEXT: &str = "The cat sat on the mat.
A small dog ran under the table.
The red bird is near a blue tree.
The old house is near the river.
A large cat and a small dog.
The bird sat on the old table.
A blue house is near the red tree.
The dog ran on the mat and the cat sat.
";

fn fixture() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let model = root.path().join("model");
    std::fs::create_dir(&model).unwrap();
    BertModel::tiny_random(BertModel::TINY_DIMS, 41)
        .save(&model)
        .unwrap();
    write_test_tokenizer(&model, &WORDS).unwrap();
    std::fs::write(root.path().join("train.txt"), TEXT).unwrap();
    root
}

/// `sta idp` on the fixture's model and text, M = 4, 4 steps per level.
fn idp(root: &Path, out: &str, extra: &[&str]) -> Output {
    let (model, text, out) = (root.join("model"), root.join("train.txt"), root.join(out));
    let mut args = vec![
        "idp",
        "--model",
        s(&model),
        "--m",
        "4",
        "--steps-per-level",
        "4",
        "--update-every",
        "2",
        "--batch",
        "4",
        "--text",
        s(&text),
        "--eval-sentences",
        "6",
        "--calib",
        s(&text),
        "--out",
        s(&out),
    ];
    args.extend(extra);
    sta(&args)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn chain_levels_compile_and_a_resumed_chain_equals_a_straight_one() {
    let root = fixture();
    let r = root.path();
    let stdout = ok(&idp(r, "ckpt", &["--target", "2"]));
    assert!(
        stdout.contains("| 3:4 | idp |") && stdout.contains("| 2:4 | idp |"),
        "{stdout}"
    );
    for level in ["level-3of4", "level-2of4"] {
        for file in [
            "model.safetensors",
            "config.json",
            "tokenizer.json",
            "masks.safetensors",
            "metrics.json",
        ] {
            assert!(
                r.join("ckpt").join(level).join(file).is_file(),
                "{level}/{file}"
            );
        }
    }
    assert!(r.join("ckpt/run.json").is_file());
    let metrics: serde_json::Value =
        serde_json::from_slice(&read(&r.join("ckpt/level-2of4/metrics.json"))).unwrap();
    assert_eq!(metrics["total_steps"], 8);
    assert!(metrics["accuracy"]["integer"]["spearman"].is_f64());

    // sta compile reads a level as it is.
    let calib = r.join("train.txt");
    let level = r.join("ckpt/level-2of4");
    let prog = r.join("prog");
    ok(&sta(&[
        "compile",
        "--model",
        s(&level),
        "--n-m",
        "2:4",
        "--calib",
        s(&calib),
        "--eval-sentences",
        "4",
        "--out",
        s(&prog),
    ]));
    assert!(prog.join("program.json").is_file());

    // The same chain in two invocations (the second resumed and extended) gives the same bytes.
    ok(&idp(r, "two", &["--target", "3", "--no-integer"]));
    let resumed = ok(&idp(
        r,
        "two",
        &["--target", "2", "--no-integer", "--resume"],
    ));
    assert!(resumed.contains("| 3:4 |"), "{resumed}");
    for file in ["model.safetensors", "masks.safetensors"] {
        assert_eq!(
            read(&r.join("ckpt/level-2of4").join(file)),
            read(&r.join("two/level-2of4").join(file)),
            "{file}"
        );
    }
    // Without --resume or --force an existing run is kept.
    let out = idp(r, "two", &["--target", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
}

#[test]
fn one_shot_writes_only_its_target_with_the_chain_budget() {
    let root = fixture();
    let r = root.path();
    ok(&idp(
        r,
        "one",
        &["--target", "2", "--schedule", "one-shot", "--no-integer"],
    ));
    assert!(!r.join("one/level-3of4").exists());
    let metrics: serde_json::Value =
        serde_json::from_slice(&read(&r.join("one/level-2of4/metrics.json"))).unwrap();
    assert_eq!(metrics["steps"], 8);
    assert_eq!(metrics["schedule"], "one-shot");
    assert!(metrics["accuracy"]["integer"].is_null());
}

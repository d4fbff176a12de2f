//! `sta compile` and `sta embed` from the outside on a tiny random BERT written to a temporary directory: both
//! sparsities compile to a complete program directory, `sta embed` writes float32 embeddings of the right shape
//! (exactly what the library computes), and every bad input gets exit code 2, one line on stderr naming the flag or
//! file and what is allowed, and leaves nothing behind (an existing output untouched).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{assert_usage_error, ok, s, sta};
use sta_compiler::engine::run_program;
use sta_compiler::program_dir::read_program_dir;
use sta_compiler::tokenize::write_test_tokenizer;
use sta_compiler::BertModel;
use sta_golden::encoder::{Program, Sparsity};

/// The tiny tokenizer's words (ids 4…); everything else becomes [UNK]. 4 + 40 ids fit the tiny vocabulary of 100.
const WORDS: [&str; 40] = [
    "the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "table", "and", "but", "small",
    "large", "red", "blue", "quickly", "slowly", "sees", "finds", "bird", "tree", "house", "river",
    "near", "over", "is", "was", "very", "old", "new", "this", "that", "one", "two", "three", "it",
    "sleeps", ".", ",",
];

/// Calibration sentences made of the tokenizer's words.
const CALIBRATION: &str = "The cat sat on the mat.
A small dog ran under the table.
The red bird sees a blue tree.
This house is very old, but that one is new.
Two cats and three dogs sleep near the river.
The large dog quickly finds the small cat.
A bird was over the house and the tree.
It sleeps slowly on the red mat.
One blue bird and one red bird.
The old dog ran near the new house.
That cat sees this dog, and it ran.
The river is very large and very old.
";

/// Names in `dir` that a failed or finished command may have left behind (working directories, temporary files).
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n.contains("tmp"))
        .collect()
}

/// A temporary root with a tiny model directory (`model/`) and a calibration file (`calib.txt`).
struct Fixture {
    root: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let f = Fixture { root };
        f.write_model(&f.model(), 23);
        std::fs::write(f.calib(), CALIBRATION).unwrap();
        f
    }

    fn write_model(&self, dir: &Path, seed: u64) {
        std::fs::create_dir_all(dir).unwrap();
        BertModel::tiny_random(BertModel::TINY_DIMS, seed)
            .save(dir)
            .unwrap();
        write_test_tokenizer(dir, &WORDS).unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    fn model(&self) -> PathBuf {
        self.path("model")
    }

    fn calib(&self) -> PathBuf {
        self.path("calib.txt")
    }

    /// `sta compile` of `model` at `n_m` into `out`, with the fixture's calibration file and 4 evaluation sentences
    /// unless `extra` gives --calib or --eval-sentences itself.
    fn compile(&self, model: &Path, n_m: &str, out: &Path, extra: &[&str]) -> Output {
        let calib = self.calib();
        let mut args = vec![
            "compile",
            "--model",
            s(model),
            "--n-m",
            n_m,
            "--out",
            s(out),
        ];
        if !extra.contains(&"--calib") {
            args.extend(["--calib", s(&calib)]);
        }
        if !extra.contains(&"--eval-sentences") {
            args.extend(["--eval-sentences", "4"]);
        }
        args.extend(extra);
        sta(&args)
    }
}

/// A float32 .npy file: (shape, values).
fn read_f32_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(bytes.as_slice()).unwrap();
    assert_eq!(npy.dtype().descr(), "'<f4'", "dtype of {}", path.display());
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

#[test]
fn compile_dense_and_2_8_then_embed() {
    let f = Fixture::new();
    let d = BertModel::TINY_DIMS.d_model as u64;
    for (i, (n_m, extra, sparsity)) in [
        ("dense", &[][..], Sparsity::Dense),
        (
            "2:8",
            &["--method", "magnitude"][..],
            Sparsity::Nm { n: 2, m: 8 },
        ),
        ("2:8", &["--norm", "exact"][..], Sparsity::Nm { n: 2, m: 8 }),
    ]
    .into_iter()
    .enumerate()
    {
        let prog = f.path(&format!("prog-{i}"));
        let stdout = ok(&f.compile(&f.model(), n_m, &prog, extra));
        assert!(
            stdout.contains(&format!("wrote {}", prog.display())),
            "{stdout}"
        );
        assert!(
            stdout.contains("integer program    vs float dense: mean cosine"),
            "{stdout}"
        );
        for file in ["program.json", "tokenizer.json", "manifest.json"] {
            assert!(prog.join(file).is_file(), "{n_m}: {file} missing");
        }
        let weights = prog.join("weights");
        assert!(weights.is_dir() && std::fs::read_dir(&weights).unwrap().count() > 0);
        let program =
            Program::from_json(&std::fs::read_to_string(prog.join("program.json")).unwrap())
                .unwrap();
        assert_eq!(program.sparsity, sparsity);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(prog.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["sparsity"], n_m);
        assert_eq!(manifest["calibration"]["sentences"], 12);
        assert_eq!(manifest["evaluation"]["sentences"], 4);
        let method = manifest["method"].clone();
        match n_m {
            "dense" => assert!(method.is_null()),
            _ if extra.contains(&"magnitude") => assert_eq!(method, "magnitude"),
            _ => assert_eq!(method, "refit"),
        }
        let norm = if extra.contains(&"exact") {
            "exact"
        } else {
            "rsqrt"
        };
        assert_eq!(manifest["norm_method"], norm);

        // One text: shape [d]; the embedding is exactly what the library computes from the program directory.
        let one = f.path(&format!("prog-{i}-one.npy"));
        let text = "The cat sat on the mat.";
        let stdout = ok(&sta(&[
            "embed",
            "--program",
            s(&prog),
            "--text",
            text,
            "--out",
            s(&one),
        ]));
        assert!(stdout.contains("text 0: 9 tokens"), "{stdout}");
        let (shape, values) = read_f32_npy(&one);
        assert_eq!(shape, [d]);
        let loaded = read_program_dir(&prog).unwrap();
        let ids = loaded.tokenizer.encode(text).unwrap();
        let lib =
            run_program(&loaded.host_model, &loaded.program, &loaded.weights, &[ids]).unwrap();
        assert_eq!(values, lib.embeddings[0]);
        let norm = values
            .iter()
            .map(|v| f64::from(*v).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");

        // Two texts: shape [2, d]; --model prints a cosine against the float model.
        let two = f.path(&format!("prog-{i}-two.npy"));
        let stdout = ok(&sta(&[
            "embed",
            "--program",
            s(&prog),
            "--text",
            text,
            "--text",
            "A small dog ran under the table.",
            "--model",
            s(&f.model()),
            "--out",
            s(&two),
        ]));
        let (shape, values) = read_f32_npy(&two);
        assert_eq!(shape, [2, d]);
        assert_eq!(values.len(), 2 * d as usize);
        let cosines: Vec<f64> = stdout
            .lines()
            .filter_map(|l| l.split("cosine vs float model ").nth(1))
            .map(|c| c.trim().parse().unwrap())
            .collect();
        assert_eq!(cosines.len(), 2, "{stdout}");
        assert!(cosines.iter().all(|&c| c > 0.99), "{stdout}");
        assert!(stdout.contains("golden engine"), "{stdout}");
    }
    assert!(
        leftovers(f.root.path()).is_empty(),
        "{:?}",
        leftovers(f.root.path())
    );
}

#[test]
fn embed_float_engine_and_a_program_whose_model_is_gone() {
    let f = Fixture::new();
    // A model directory that disappears after compiling: embed has no float model to compare with.
    let gone = f.path("gone-model");
    f.write_model(&gone, 29);
    let prog = f.path("prog");
    ok(&f.compile(&gone, "2:4", &prog, &["--method", "wanda"]));
    std::fs::remove_dir_all(&gone).unwrap();
    let stdout = ok(&sta(&["embed", "--program", s(&prog), "--text", "the dog"]));
    assert!(
        stdout.contains("cosine vs float model n/a (no float model)"),
        "{stdout}"
    );
    let out = sta(&[
        "embed",
        "--program",
        s(&prog),
        "--text",
        "the dog",
        "--engine",
        "float",
    ]);
    assert_usage_error(
        "float engine without a model",
        &out,
        &["--engine float", "--model"],
    );

    // The float engine with the model given: the float reference itself, so its cosine against the float model is 1.
    let model = f.path("model-29");
    f.write_model(&model, 29);
    let e = f.path("float.npy");
    let stdout = ok(&sta(&[
        "embed",
        "--program",
        s(&prog),
        "--text",
        "the dog",
        "--engine",
        "float",
        "--model",
        s(&model),
        "--out",
        s(&e),
    ]));
    assert!(stdout.contains("cosine vs float model 1.00000"), "{stdout}");
    assert!(stdout.contains("float engine"), "{stdout}");
    assert_eq!(read_f32_npy(&e).0, [BertModel::TINY_DIMS.d_model as u64]);
}

/// Rewrites `dir/model.safetensors` with tensor `name` given `shape` (same number of values).
fn reshape_tensor(dir: &Path, name: &str, shape: &[usize]) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = st
        .iter()
        .map(|(n, v)| {
            let shape = if n == name {
                shape.to_vec()
            } else {
                v.shape().to_vec()
            };
            (n.to_string(), v.dtype(), shape, v.data().to_vec())
        })
        .collect();
    assert!(tensors.iter().any(|t| t.0 == name), "no tensor {name}");
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, dtype, shape, data)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// (case, model dir, --n-m, extra args, needles of the error).
type CompileCase<'a> = (&'a str, &'a Path, &'a str, Vec<&'a str>, Vec<&'a str>);
/// (case, --program, extra args, needles of the error).
type EmbedCase<'a> = (&'a str, &'a Path, Vec<&'a str>, Vec<&'a str>);

#[test]
fn compile_refuses_bad_input_and_writes_nothing() {
    let f = Fixture::new();
    let misshaped = f.path("misshaped");
    f.write_model(&misshaped, 31);
    reshape_tensor(
        &misshaped,
        "encoder.layer.1.intermediate.dense.weight",
        &[32, 64],
    );
    let no_weights = f.path("no-weights");
    f.write_model(&no_weights, 32);
    std::fs::remove_file(no_weights.join("model.safetensors")).unwrap();
    let empty = f.path("empty.txt");
    std::fs::write(&empty, "\n  \n").unwrap();
    let not_utf8 = f.path("latin1.txt");
    std::fs::write(&not_utf8, b"The cat sat.\nThe caf\xe9 is old.\n").unwrap();
    let long = f.path("long.txt");
    std::fs::write(&long, format!("The cat sat.\n{}\n", "cat ".repeat(70))).unwrap();

    let absent = f.path("absent");
    let absent_calib = f.path("absent.txt");
    let model = f.model();
    let cases: Vec<CompileCase<'_>> = vec![
        (
            "n-m 3:5",
            &model,
            "3:5",
            vec![],
            vec!["--n-m \"3:5\"", "M in {2, 4, 8, 16}", "dense"],
        ),
        (
            "n-m 9:8",
            &model,
            "9:8",
            vec![],
            vec!["--n-m \"9:8\"", "1 ≤ N ≤ M"],
        ),
        (
            "n-m 0:8",
            &model,
            "0:8",
            vec![],
            vec!["--n-m \"0:8\"", "1 ≤ N ≤ M"],
        ),
        ("n-m x", &model, "x", vec![], vec!["--n-m \"x\"", "dense"]),
        (
            "unknown method",
            &model,
            "2:8",
            vec!["--method", "sparsegpt"],
            vec!["--method \"sparsegpt\"", "magnitude, wanda or refit"],
        ),
        (
            "unknown norm",
            &model,
            "dense",
            vec!["--norm", "layer"],
            vec!["--norm \"layer\"", "rsqrt or exact"],
        ),
        (
            "eval-sentences 0",
            &model,
            "dense",
            vec!["--eval-sentences", "0"],
            vec!["--eval-sentences 0", "1..=512"],
        ),
        (
            "eval-sentences 513",
            &model,
            "dense",
            vec!["--eval-sentences", "513"],
            vec!["--eval-sentences 513", "1..=512"],
        ),
        (
            "misshaped tensor",
            &misshaped,
            "dense",
            vec![],
            vec![
                "model.safetensors",
                "encoder.layer.1.intermediate.dense.weight",
                "[32, 64]",
                "expected [64, 32]",
            ],
        ),
        (
            "no model.safetensors",
            &no_weights,
            "dense",
            vec![],
            vec!["no-weights/model.safetensors", "no such file"],
        ),
        (
            "no model directory",
            &absent,
            "dense",
            vec![],
            vec!["absent/config.json", "no such file"],
        ),
        (
            "missing calibration file",
            &model,
            "dense",
            vec!["--calib", s(&absent_calib)],
            vec!["--calib", "absent.txt", "cannot read"],
        ),
        (
            "calibration file that is a directory",
            &model,
            "dense",
            vec!["--calib", s(&model)],
            vec!["--calib", "cannot read"],
        ),
        (
            "empty calibration file",
            &model,
            "dense",
            vec!["--calib", s(&empty)],
            vec!["empty.txt", "no sentences", "one sentence per line"],
        ),
        (
            "non-UTF-8 calibration file",
            &model,
            "dense",
            vec!["--calib", s(&not_utf8)],
            vec!["latin1.txt:2", "not UTF-8"],
        ),
        (
            "calibration line beyond the token limit",
            &model,
            "2:8",
            vec!["--calib", s(&long)],
            vec!["long.txt:2", "72 tokens", "limit of 64"],
        ),
    ];
    for (i, (case, model, n_m, extra, needles)) in cases.iter().enumerate() {
        let out_dir = f.path(&format!("out-{i}"));
        let out = f.compile(model, n_m, &out_dir, extra);
        assert_usage_error(case, &out, needles);
        assert!(
            !out_dir.exists(),
            "{case}: {} was created",
            out_dir.display()
        );
        assert!(
            leftovers(f.root.path()).is_empty(),
            "{case}: {:?}",
            leftovers(f.root.path())
        );
    }

    // An existing output is refused without --force and left as it was; --force replaces it.
    let existing = f.path("existing");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("mine.txt"), "precious").unwrap();
    let out = f.compile(&f.model(), "dense", &existing, &[]);
    assert_usage_error(
        "existing --out",
        &out,
        &["existing", "already exists", "--force"],
    );
    assert_eq!(
        std::fs::read_to_string(existing.join("mine.txt")).unwrap(),
        "precious"
    );
    assert_eq!(std::fs::read_dir(&existing).unwrap().count(), 1);
    ok(&f.compile(&f.model(), "dense", &existing, &["--force"]));
    assert!(existing.join("program.json").is_file() && !existing.join("mine.txt").exists());
    assert!(
        leftovers(f.root.path()).is_empty(),
        "{:?}",
        leftovers(f.root.path())
    );
}

#[test]
fn embed_refuses_bad_input_and_writes_nothing() {
    let f = Fixture::new();
    let prog = f.path("prog");
    ok(&f.compile(&f.model(), "dense", &prog, &[]));

    // A program whose program.json was edited to be invalid: a requantisation multiplier of 40000.
    let edited = f.path("edited");
    std::fs::create_dir(&edited).unwrap();
    for entry in std::fs::read_dir(&prog).unwrap() {
        let entry = entry.unwrap();
        let to = edited.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir(&to).unwrap();
            for w in std::fs::read_dir(entry.path()).unwrap() {
                let w = w.unwrap();
                std::fs::copy(w.path(), to.join(w.file_name())).unwrap();
            }
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    let json_path = edited.join("program.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    json["layers"][1]["linear"][0]["mult"][3] = 40000.into();
    std::fs::write(&json_path, json.to_string()).unwrap();

    let empty_dir = f.path("empty-dir");
    std::fs::create_dir(&empty_dir).unwrap();
    let long_text = "cat ".repeat(70);
    let model = f.model();
    let calib = f.calib();
    let cases: Vec<EmbedCase<'_>> = vec![
        (
            "a model directory, not a program",
            &model,
            vec!["--text", "the cat"],
            vec!["model", "not a program directory", "sta compile"],
        ),
        (
            "an empty directory",
            &empty_dir,
            vec!["--text", "the cat"],
            vec!["empty-dir", "not a program directory"],
        ),
        (
            "a file, not a directory",
            &calib,
            vec!["--text", "the cat"],
            vec!["calib.txt", "not a program directory"],
        ),
        (
            "invalid program.json",
            &edited,
            vec!["--text", "the cat"],
            vec![
                "program.json",
                "layer 1 q",
                "channel 3",
                "mult = 40000",
                "2^15",
            ],
        ),
        (
            "unknown engine",
            &prog,
            vec!["--text", "the cat", "--engine", "bogus"],
            vec!["--engine \"bogus\"", "golden or float"],
        ),
        (
            "text beyond the limit",
            &prog,
            vec!["--text", &long_text],
            vec!["72 tokens", "limit of 64"],
        ),
        ("empty text", &prog, vec!["--text", " "], vec!["empty text"]),
    ];
    for (i, (case, program, extra, needles)) in cases.iter().enumerate() {
        let out_file = f.path(&format!("e-{i}.npy"));
        let mut args = vec!["embed", "--program", s(program), "--out", s(&out_file)];
        args.extend(extra);
        assert_usage_error(case, &sta(&args), needles);
        assert!(
            !out_file.exists(),
            "{case}: {} was created",
            out_file.display()
        );
        assert!(
            leftovers(f.root.path()).is_empty(),
            "{case}: {:?}",
            leftovers(f.root.path())
        );
    }

    // An existing --out is refused without --force and left as it was; --force replaces it.
    let existing = f.path("existing.npy");
    std::fs::write(&existing, "precious").unwrap();
    let args = [
        "embed",
        "--program",
        s(&prog),
        "--text",
        "the cat",
        "--out",
        s(&existing),
    ];
    assert_usage_error(
        "existing --out",
        &sta(&args),
        &["existing.npy", "already exists", "--force"],
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "precious");
    let mut forced = args.to_vec();
    forced.push("--force");
    ok(&sta(&forced));
    assert_eq!(
        read_f32_npy(&existing).0,
        [BertModel::TINY_DIMS.d_model as u64]
    );
    assert!(
        leftovers(f.root.path()).is_empty(),
        "{:?}",
        leftovers(f.root.path())
    );
}

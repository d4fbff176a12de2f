//! The Verilator build cache under concurrency (issue 11): several `sta gemm` and `sta softmax run` processes started
//! at once, each group needing the same new model, with one fresh cache directory, must all succeed with the right
//! result; exactly one process per model builds it (the others wait for it and use it), and the cache ends with
//! exactly one entry per model (no half-built entry, no leftover build directory, lock or failure log).

mod common;

use std::path::Path;
use std::process::Child;

use common::{s, sta_command};
use sta_generators::npy::encode_npy;

/// Processes started at once.
const PROCESSES: usize = 3;

/// W [2, 4] (1:2: one non-zero per group of 2) and X [4, 3]; the extreme values included.
const W: [i8; 8] = [-128, 0, 0, 127, 0, 5, -7, 0];
const X: [i8; 12] = [-128, 127, 1, 127, -128, 2, 3, -1, 0, -128, 127, 4];

fn expected() -> Vec<i32> {
    let mut y = Vec::new();
    for o in 0..2 {
        for t in 0..3 {
            let sum: i64 = (0..4)
                .map(|k| i64::from(W[o * 4 + k]) * i64::from(X[k * 3 + t]))
                .sum();
            y.push(sum as i32);
        }
    }
    y
}

fn read_i32(path: &Path) -> (Vec<u64>, Vec<i32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<i32>().unwrap())
}

fn spawn(args: &[&str]) -> Child {
    sta_command()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sta starts")
}

fn gemm(root: &Path, cache: &Path, i: usize) -> Child {
    let out = root.join(format!("y{i}.npy"));
    let report = root.join(format!("r{i}.json"));
    let (w, x) = (root.join("w.npy"), root.join("x.npy"));
    spawn(&[
        "gemm",
        "--n",
        "1",
        "--m",
        "2",
        "--rows",
        "1",
        "--cols",
        "1",
        "--weights",
        s(&w),
        "--activations",
        s(&x),
        "--out",
        s(&out),
        "--report",
        s(&report),
        "--cache-dir",
        s(cache),
    ])
}

fn softmax(root: &Path, cache: &Path, i: usize) -> Child {
    let out = root.join(format!("p{i}.npy"));
    let report = root.join(format!("q{i}.json"));
    let scores = root.join("s.npy");
    spawn(&[
        "softmax",
        "run",
        "--lanes",
        "1",
        "--max-len",
        "4",
        "--scores",
        s(&scores),
        "--out",
        s(&out),
        "--report",
        s(&report),
        "--cache-dir",
        s(cache),
    ])
}

/// Waits for `child` (process `name`), which must succeed; returns whether its report says it built the model.
fn finish(child: Child, name: &str, report: &Path) -> bool {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name}: exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    report["verilator_build_cached"] == false
}

#[test]
fn concurrent_runs_building_the_same_new_model_share_one_cache_entry() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("w.npy"), encode_npy(&[2, 4], &W).unwrap()).unwrap();
    std::fs::write(root.join("x.npy"), encode_npy(&[4, 3], &X).unwrap()).unwrap();
    let scores: [i8; 8] = [-128, 127, 0, 5, 16, 16, -3, 64];
    std::fs::write(root.join("s.npy"), encode_npy(&[2, 4], &scores).unwrap()).unwrap();
    // a fresh cache, so both models are new to every process; all processes start before any finishes
    let cache = root.join("cache");
    let gemms: Vec<Child> = (0..PROCESSES).map(|i| gemm(root, &cache, i)).collect();
    let softmaxes: Vec<Child> = (0..PROCESSES).map(|i| softmax(root, &cache, i)).collect();
    let mut gemm_builds = 0;
    for (i, child) in gemms.into_iter().enumerate() {
        gemm_builds += usize::from(finish(
            child,
            &format!("gemm {i}"),
            &root.join(format!("r{i}.json")),
        ));
        let (shape, y) = read_i32(&root.join(format!("y{i}.npy")));
        assert_eq!((shape, y), (vec![2, 3], expected()), "gemm {i}");
    }
    let mut softmax_builds = 0;
    let mut outputs = Vec::new();
    for (i, child) in softmaxes.into_iter().enumerate() {
        let report = root.join(format!("q{i}.json"));
        softmax_builds += usize::from(finish(child, &format!("softmax {i}"), &report));
        outputs.push(std::fs::read(root.join(format!("p{i}.npy"))).unwrap());
    }
    // each run checked its output against the golden model; all of them got the same
    assert!(outputs.iter().all(|o| *o == outputs[0]));
    eprintln!(
        "{PROCESSES} concurrent sta gemm runs: {gemm_builds} built the model; {PROCESSES} sta softmax run: \
         {softmax_builds} built theirs"
    );
    assert_eq!((gemm_builds, softmax_builds), (1, 1), "one build per model");
    let mut entries: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries.len(),
        2,
        "one entry per model, nothing else: {entries:?}"
    );
    for entry in &entries {
        assert_eq!(entry.len(), 64, "a content hash: {entries:?}");
        assert!(
            cache.join(entry).join("sim").is_file(),
            "{entry} holds a model"
        );
    }
}

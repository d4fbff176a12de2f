//! Shared helpers of the end-to-end tests: configurations, random and corner-case matrices.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_golden::matrix::Matrix;
use sta_golden::nm::{prune_nm, NmPattern};
use sta_golden::pe_array::ArrayShape;

/// The verification sweep: every M, N from 1 to M (maximum N included), square, non-square and 1×1 arrays.
pub const SWEEP: &[(usize, usize, usize, usize)] = &[
    // (n, m, rows, cols)
    (1, 4, 3, 5),
    (2, 4, 4, 4),
    (2, 8, 1, 1),
    (4, 8, 2, 7),
    (1, 16, 2, 2),
    (8, 16, 3, 2),
    (3, 8, 5, 3),
    (2, 2, 1, 3),
    (16, 16, 2, 1),
];

pub fn shape(n: usize, m: usize, rows: usize, cols: usize) -> ArrayShape {
    ArrayShape::new(n, m, rows, cols, 32, ArrayShape::DEFAULT_MAX_K)
        .expect("sweep configurations are legal")
}

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn random_i8(rows: usize, cols: usize, rng: &mut impl Rng) -> Matrix<i8> {
    Matrix::from_fn(rows, cols, |_, _| rng.gen::<i8>())
}

/// Random N:M weights in which some groups are all zero and some have fewer than N non-zeros.
pub fn random_nm(rows: usize, k: usize, n: usize, m: usize, rng: &mut impl Rng) -> Matrix<i8> {
    let pattern = NmPattern::new(n, m).expect("legal pattern");
    let mut w = prune_nm(&random_i8(rows, k, rng), pattern);
    for r in 0..rows {
        for g in 0..k / m {
            match rng.gen_range(0..6) {
                0 => (0..m).for_each(|j| w.set(r, g * m + j, 0).expect("in range")),
                1 => {
                    let j = rng.gen_range(0..m);
                    w.set(r, g * m + j, 0).expect("in range");
                }
                _ => {}
            }
        }
    }
    w
}

/// Extreme operands: every kept weight −128 or 127 against activations of −128 and 127 (the largest products).
pub fn corner_nm(rows: usize, k: usize, n: usize, m: usize) -> (Matrix<i8>, Matrix<i8>) {
    let w = Matrix::from_fn(rows, k, |r, c| {
        let slot = c % m;
        if slot >= n {
            0
        } else if (r + slot).is_multiple_of(2) {
            -128
        } else {
            127
        }
    });
    let x = Matrix::from_fn(k, 3, |r, c| if (r + c) % 3 == 0 { 127 } else { -128 });
    (w, x)
}

/// `STA_TEST_FULL=1` (`make test-full`): the slow RTL tests run their exhaustive set (every configuration, the larger
/// netlists and lint configurations). Without it (`make test`, CI) they run the default set: every mode and engine,
/// the corner values, gaps, stalls and resets, lint and Yosys checks, on the smallest configurations.
pub fn full() -> bool {
    std::env::var_os("STA_TEST_FULL").is_some_and(|v| v == "1")
}

/// For a test that only the full set runs: prints that it is skipped and returns true unless STA_TEST_FULL=1.
pub fn skip_unless_full(what: &str) -> bool {
    if full() {
        return false;
    }
    eprintln!("SKIPPED in the default set: {what}; run with STA_TEST_FULL=1 (make test-full)");
    true
}

/// The `sta` binary under test.
pub fn sta_command() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_sta"))
}

/// Runs `sta args…` and returns its output.
pub fn sta(args: &[&str]) -> std::process::Output {
    sta_command().args(args).output().expect("sta runs")
}

/// Asserts that a command succeeded (showing its output if not) and returns its stdout.
pub fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A path as the `&str` argument of a command.
pub fn s(p: &std::path::Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// What is wrong with a refusal, if anything: exit code 2, exactly one line on stderr that starts with "error: ",
/// no panic or backtrace, and every needle in it.
pub fn usage_error_problem(out: &std::process::Output, needles: &[&str]) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problem = if out.status.code() != Some(2) {
        format!("exit code {:?}, not 2", out.status.code())
    } else if stderr.trim_end().lines().count() != 1 {
        "not exactly one line on stderr".to_string()
    } else if !stderr.starts_with("error: ") {
        "stderr does not start with \"error: \"".to_string()
    } else if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        "panic text on stderr".to_string()
    } else if let Some(n) = needles.iter().find(|n| !stderr.contains(**n)) {
        format!("{n:?} missing")
    } else {
        return None;
    };
    Some(format!("{problem}; stderr: {stderr:?}"))
}

/// Asserts exit code 2 and a single "error: " line (no panic text) holding every `needle`.
pub fn assert_usage_error(case: &str, out: &std::process::Output, needles: &[&str]) {
    if let Some(problem) = usage_error_problem(out, needles) {
        panic!("{case}: {problem}");
    }
}

//! The softmax unit end to end (docs/softmax.md, "Verification"): generated RTL lint-clean (`verilator -Wall`) and
//! Yosys-clean (`synth` + `check -assert`); Verilator against the golden model `SoftmaxNumerics::softmax_row` on
//! every output for P = 1, 4 and an odd P = 3 with L_MAX = 10 (random rows, length 1, length L_MAX, lengths not a
//! multiple of P, all-equal scores, one dominant score, the full −128…127 spread), without and with random valid
//! gaps and ready stalls; full throughput (⌈len/P⌉ cycles per row) without stalls; a Yosys netlist simulation; the
//! CLI's one-line errors.
//!
//! `cargo test --release -p sta-generators --test softmax_rtl`

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_generators::softmax::rtl::{write_softmax, SoftmaxArgs};
use sta_generators::softmax::run::simulate;
use sta_generators::yosys::{synth_check, write_netlist};
use sta_testbenches::{build_softmax, BuildOptions, SimError, SoftmaxStalls};

fn cache_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("sta-softmax-cache")
}

fn args(lanes: usize, max_len: usize) -> SoftmaxArgs {
    SoftmaxArgs {
        lanes,
        max_len,
        input_frac_bits: 4,
        exp_params: None,
        reci_params: None,
    }
}

/// The verification rows for a unit of `max_len`: corner rows plus random rows of random lengths.
fn rows(lanes: usize, max_len: usize, seed: u64) -> Vec<Vec<i8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let random =
        |len: usize, rng: &mut ChaCha8Rng| (0..len).map(|_| rng.gen::<i8>()).collect::<Vec<i8>>();
    let mut out = vec![
        vec![5],
        vec![-128],
        vec![127],
        random(max_len, &mut rng),
        vec![-128; max_len],
        vec![127; max_len],
        vec![17; max_len.min(lanes + 1)],
    ];
    // one dominant score
    let mut dominant = vec![-128i8; max_len];
    dominant[max_len / 2] = 127;
    out.push(dominant);
    let mut close = vec![0i8; max_len];
    close[0] = 40;
    out.push(close);
    // the full spread −128…127, in rows of at most max_len
    let spread: Vec<i8> = (i8::MIN..=i8::MAX).collect();
    for chunk in spread.chunks(max_len) {
        let mut c = chunk.to_vec();
        if c.len() > 1 {
            let last = c.len() - 1;
            c.swap(0, last);
        }
        out.push(c);
    }
    if max_len >= 2 {
        out.push(vec![-128, 127]);
    }
    // lengths around multiples of P
    for len in [
        lanes.saturating_sub(1),
        lanes,
        lanes + 1,
        2 * lanes + 1,
        max_len - 1,
    ] {
        if (1..=max_len).contains(&len) {
            out.push(random(len, &mut rng));
        }
    }
    for _ in 0..30 {
        let len = rng.gen_range(1..=max_len);
        out.push(random(len, &mut rng));
    }
    out
}

fn check_against_golden(lanes: usize, max_len: usize, stalls: SoftmaxStalls, seed: u64) {
    let a = args(lanes, max_len);
    let rows = rows(lanes, max_len, seed);
    let (numerics, _) = a.resolve().unwrap_or_else(|e| panic!("{e}"));
    let (y, report) = simulate(&a, &rows, stalls, seed, Some(&cache_root()))
        .unwrap_or_else(|e| panic!("P={lanes} L={max_len} {stalls:?}: {e}"));
    for (row, got) in rows.iter().zip(&y) {
        assert_eq!(got, &numerics.softmax_row(row), "row {row:?}");
    }
    assert_eq!(report.mismatches, 0);
}

fn lint_and_synth(lanes: usize, max_len: usize) {
    lint_and_synth_args(&args(lanes, max_len));
}

fn lint_and_synth_args(a: &SoftmaxArgs) {
    let (_, unit) = a.resolve().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("design");
    let sources = write_softmax(&unit, &out, false).unwrap_or_else(|e| panic!("{e}"));
    let top = unit.module_name();
    match sta_testbenches::lint(&sources, &top) {
        Ok(_) => {}
        Err(SimError::Lint(report)) => panic!("{top}: lint:\n{}", report.output),
        Err(e) => panic!("{top}: {e}"),
    }
    synth_check(&sources, &top, dir.path()).unwrap_or_else(|e| panic!("{top}: yosys: {e}"));
}

#[test]
fn generated_units_are_lint_and_yosys_clean() {
    for (lanes, max_len) in [(1, 1), (1, 40), (4, 64), (3, 10), (16, 100)] {
        lint_and_synth(lanes, max_len);
    }
}

#[test]
fn one_lane_matches_the_golden_model() {
    check_against_golden(1, 40, SoftmaxStalls::default(), 1);
    check_against_golden(
        1,
        40,
        SoftmaxStalls {
            in_gap: 30,
            out_stall: 40,
        },
        2,
    );
}

#[test]
fn four_lanes_match_the_golden_model() {
    check_against_golden(4, 256, SoftmaxStalls::default(), 3);
    check_against_golden(
        4,
        256,
        SoftmaxStalls {
            in_gap: 40,
            out_stall: 30,
        },
        4,
    );
}

#[test]
fn odd_lanes_and_length_match_the_golden_model() {
    check_against_golden(3, 10, SoftmaxStalls::default(), 5);
    check_against_golden(
        3,
        10,
        SoftmaxStalls {
            in_gap: 50,
            out_stall: 50,
        },
        6,
    );
}

/// The other committed tables: 16 entries, and 12-bit EXP and 1/x outputs (wider e_j, S, e·r), at another D_S.
#[test]
fn other_tables_match_the_golden_model() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    for (exp, reci, ds) in [
        ("softmax_exp16.json", "softmax_reci16.json", 3),
        ("softmax_exp8_w12.json", "softmax_reci8_w12.json", 5),
    ] {
        let a = SoftmaxArgs {
            input_frac_bits: ds,
            exp_params: Some(data.join(exp)),
            reci_params: Some(data.join(reci)),
            ..args(4, 40)
        };
        let rows = rows(4, 40, 11);
        let (numerics, _) = a.resolve().unwrap_or_else(|e| panic!("{e}"));
        let stalls = SoftmaxStalls {
            in_gap: 20,
            out_stall: 20,
        };
        let (y, _) = simulate(&a, &rows, stalls, 11, Some(&cache_root()))
            .unwrap_or_else(|e| panic!("{exp}: {e}"));
        for (row, got) in rows.iter().zip(&y) {
            assert_eq!(got, &numerics.softmax_row(row), "{exp}: row {row:?}");
        }
        lint_and_synth_args(&a);
    }
}

/// Without stalls a stream of equal rows takes exactly ⌈len/P⌉ cycles per row: the phases overlap across rows.
#[test]
fn stream_of_rows_keeps_the_lanes_busy() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (lanes, max_len, len) in [
        (4usize, 256usize, 13usize),
        (4, 256, 256),
        (4, 256, 1),
        (1, 40, 40),
        (1, 40, 3),
    ] {
        let rows: Vec<Vec<i8>> = (0..24)
            .map(|_| (0..len).map(|_| rng.gen()).collect())
            .collect();
        let (_, report) = simulate(
            &args(lanes, max_len),
            &rows,
            SoftmaxStalls::default(),
            1,
            Some(&cache_root()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let beats = len.div_ceil(lanes) as f64;
        assert_eq!(
            report.cycles_per_row,
            Some(beats),
            "P={lanes} len={len}: {report:?}"
        );
    }
}

#[test]
fn yosys_netlist_matches_the_golden_model() {
    let a = args(3, 10);
    let (numerics, unit) = a.resolve().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sources =
        write_softmax(&unit, &dir.path().join("design"), false).unwrap_or_else(|e| panic!("{e}"));
    let top = unit.module_name();
    let netlist = write_netlist(&sources, &top, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let sim = build_softmax(&[netlist], &top, 3, &cache_root(), &BuildOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let rows = rows(3, 10, 8);
    let outcome = sim
        .run(
            &rows,
            SoftmaxStalls {
                in_gap: 20,
                out_stall: 20,
            },
            8,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    for (row, got) in rows.iter().zip(&outcome.rows) {
        assert_eq!(got.y, numerics.softmax_row(row), "row {row:?}");
    }
}

fn sta(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sta"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("sta runs: {e}"))
}

fn npy(path: &Path, descr: &str, shape: &str, data: &[u8]) {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{e}"));
}

fn assert_refused(out: &std::process::Output, needle: &str, written: &Path) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    assert!(!written.exists(), "nothing written");
}

#[test]
fn cli_refuses_bad_parameters_and_inputs() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = |name: &str| dir.path().join(name);
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let out_dir = p("gen");
    for (lanes, max_len, needle) in [
        ("0", "8", "lanes"),
        ("65", "8", "lanes"),
        ("4", "0", "max-len"),
    ] {
        let o = sta(&[
            "softmax",
            "generate",
            "--lanes",
            lanes,
            "--max-len",
            max_len,
            "--out",
            &s(&out_dir),
        ]);
        assert_refused(&o, needle, &out_dir);
    }
    let o = sta(&[
        "softmax",
        "generate",
        "--lanes",
        "4",
        "--max-len",
        "8",
        "--exp-params",
        &s(&p("missing.json")),
        "--out",
        &s(&out_dir),
    ]);
    assert_refused(&o, "missing.json", &out_dir);

    npy(
        &p("ok.npy"),
        "|i1",
        "(2, 5)",
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    npy(&p("long.npy"), "|i1", "(1, 9)", &[0; 9]);
    npy(&p("f32.npy"), "<f4", "(1, 2)", &[0; 8]);
    npy(&p("flat.npy"), "|i1", "(4,)", &[0; 4]);
    let y = p("y.npy");
    let run = |scores: &Path, lanes: &str| {
        sta(&[
            "softmax",
            "run",
            "--lanes",
            lanes,
            "--max-len",
            "8",
            "--scores",
            &s(scores),
            "--input-frac-bits",
            "4",
            "--out",
            &s(&y),
        ])
    };
    assert_refused(&run(&p("long.npy"), "4"), "max-len", &y);
    assert_refused(&run(&p("f32.npy"), "4"), "dtype", &y);
    assert_refused(&run(&p("flat.npy"), "4"), "2-D", &y);
    assert_refused(&run(&p("missing.npy"), "4"), "missing.npy", &y);
    assert_refused(&run(&p("ok.npy"), "0"), "lanes", &y);
    let o = sta(&[
        "softmax",
        "run",
        "--lanes",
        "4",
        "--max-len",
        "8",
        "--scores",
        &s(&p("ok.npy")),
        "--input-frac-bits",
        "9",
        "--out",
        &s(&y),
    ]);
    assert_refused(&o, "frac", &y);
}

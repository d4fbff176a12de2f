//! The softmax unit end to end (docs/softmax.md, "Verification"): generated RTL lint-clean (`verilator -Wall`) and
//! Yosys-clean (`synth` + `check -assert`); Verilator against the golden model `SoftmaxNumerics::softmax_row` on
//! every output for P = 1, 4 and an odd P = 3 with L_MAX = 10 (random rows, length 1, length L_MAX, lengths not a
//! multiple of P, all-equal scores, one dominant score, the full score spread), without and with random valid
//! gaps and ready stalls, for INT8 scores and for wide scores (SW = 12, 16) with 7- and 8-bit outputs; full
//! throughput (⌈len/P⌉ cycles per row) without stalls; Yosys netlist simulations (INT8 and SW = 16); the CLI's
//! one-line errors and its int16 `.npy` input.
//!
//! `cargo test --release -p sta-generators --test softmax_rtl`

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_generators::softmax::rtl::{write_softmax, SoftmaxArgs};
use sta_generators::softmax::run::simulate;
use sta_generators::stream_io::random_score;
use sta_generators::yosys::{synth_check, write_netlist};
use sta_testbenches::{build_softmax, BuildOptions, SimError, SoftmaxPorts, SoftmaxStalls};

fn cache_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("sta-softmax-cache")
}

fn args(lanes: usize, max_len: usize) -> SoftmaxArgs {
    SoftmaxArgs {
        lanes,
        max_len,
        input_frac_bits: 4,
        score_bits: 8,
        output_bits: 8,
        exp_params: None,
        reci_params: None,
    }
}

/// The encoder's tables (`golden/data`, docs/softmax.md "Encoder default").
fn encoder_table(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../golden/data")
        .join(name)
}

/// SW-bit scores at D_S with OB-bit outputs and the encoder's 12-bit tables.
fn wide_args(lanes: usize, max_len: usize, sw: u32, ds: u32, ob: u32) -> SoftmaxArgs {
    SoftmaxArgs {
        input_frac_bits: ds,
        score_bits: sw,
        output_bits: ob,
        exp_params: Some(encoder_table("softmax_exp16_w12.json")),
        reci_params: Some(encoder_table("softmax_reci8_w12.json")),
        ..args(lanes, max_len)
    }
}

/// The verification rows for a unit of `max_len` and `sw`-bit scores: corner rows plus random rows of random lengths.
/// At SW = 8 they are the INT8 rows; wider units also get rows in narrow bands (so that the differences stay inside
/// the EXP range) and near-ties below the EXP input step.
fn rows(lanes: usize, max_len: usize, sw: u32, seed: u64) -> Vec<Vec<i32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (lo, hi) = (-(1i32 << (sw - 1)), (1i32 << (sw - 1)) - 1);
    let random = |len: usize, rng: &mut ChaCha8Rng| {
        // SW > 8: a random band of 2^(SW − k) codes, k ∈ 0..SW − 4
        let shift = if sw > 8 { rng.gen_range(0..sw - 4) } else { 0 };
        (0..len)
            .map(|_| random_score(rng, sw) >> shift)
            .collect::<Vec<i32>>()
    };
    let mut out = vec![
        vec![5],
        vec![lo],
        vec![hi],
        random(max_len, &mut rng),
        vec![lo; max_len],
        vec![hi; max_len],
        vec![17; max_len.min(lanes + 1)],
    ];
    // one dominant score
    let mut dominant = vec![lo; max_len];
    dominant[max_len / 2] = hi;
    out.push(dominant);
    let mut close = vec![0; max_len];
    close[0] = 40 << (sw - 8);
    out.push(close);
    // the full spread lo…hi (every code at SW = 8, 256 evenly spaced codes above), in rows of at most max_len
    let spread: Vec<i32> = (0..256).map(|i| lo + (i * (hi - lo)) / 255).collect();
    for chunk in spread.chunks(max_len) {
        let mut c = chunk.to_vec();
        if c.len() > 1 {
            let last = c.len() - 1;
            c.swap(0, last);
        }
        out.push(c);
    }
    if max_len >= 2 {
        out.push(vec![lo, hi]);
    }
    if sw > 8 && max_len >= 4 {
        let t = hi / 3;
        out.push(vec![t, t + 1, t - 1, t]);
        out.push(vec![hi, hi - 1, lo + 1, lo]);
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
    check_args_against_golden(&args(lanes, max_len), stalls, seed);
}

fn check_args_against_golden(a: &SoftmaxArgs, stalls: SoftmaxStalls, seed: u64) {
    let rows = rows(a.lanes, a.max_len, a.score_bits, seed);
    let (numerics, unit) = a.resolve().unwrap_or_else(|e| panic!("{e}"));
    let what = format!("{} {stalls:?}", unit.module_name());
    let (y, report) = simulate(a, &rows, stalls, seed, Some(&cache_root()))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    for (row, got) in rows.iter().zip(&y) {
        assert_eq!(got, &numerics.softmax_row(row), "{what}: row {row:?}");
        assert!(got.iter().all(|&v| v <= numerics.output_max()), "{what}");
    }
    assert_eq!(report.mismatches, 0);
    assert_eq!(
        (report.score_bits, report.output_bits),
        (a.score_bits, a.output_bits)
    );
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

/// Wide scores and 7-bit outputs: D_S above D_E (rounding right shift), equal to it, and below it (left shift).
const WIDE_CONFIGS: [(usize, usize, u32, u32, u32); 4] = [
    (4, 64, 16, 8, 7),
    (3, 10, 16, 2, 8),
    (1, 40, 12, 11, 7),
    (2, 9, 9, 4, 7),
];

#[test]
fn wide_units_are_lint_and_yosys_clean() {
    for (lanes, max_len, sw, ds, ob) in WIDE_CONFIGS {
        lint_and_synth_args(&wide_args(lanes, max_len, sw, ds, ob));
    }
    // the 8-bit tables with SW = 16 / OB = 7
    lint_and_synth_args(&SoftmaxArgs {
        score_bits: 16,
        output_bits: 7,
        input_frac_bits: 8,
        ..args(4, 64)
    });
}

/// SW = 16 and OB = 7 (and the other wide configurations) bit-exact against the golden model, without and with
/// random input gaps and output stalls.
#[test]
fn wide_scores_and_seven_bit_outputs_match_the_golden_model() {
    let stalls = SoftmaxStalls {
        in_gap: 40,
        out_stall: 40,
    };
    for (i, (lanes, max_len, sw, ds, ob)) in WIDE_CONFIGS.into_iter().enumerate() {
        let a = wide_args(lanes, max_len, sw, ds, ob);
        check_args_against_golden(&a, stalls, 20 + i as u64);
        if i == 0 {
            check_args_against_golden(&a, SoftmaxStalls::default(), 30);
        }
    }
    // SW = 16 with the default 8-bit tables, OB = 7
    check_args_against_golden(
        &SoftmaxArgs {
            score_bits: 16,
            output_bits: 7,
            input_frac_bits: 6,
            ..args(4, 40)
        },
        stalls,
        31,
    );
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
        (
            data.join("softmax_exp16.json"),
            data.join("softmax_reci16.json"),
            3,
        ),
        (
            data.join("softmax_exp8_w12.json"),
            encoder_table("softmax_reci8_w12.json"),
            5,
        ),
    ] {
        let exp_name = exp.display().to_string();
        let a = SoftmaxArgs {
            input_frac_bits: ds,
            exp_params: Some(exp),
            reci_params: Some(reci),
            ..args(4, 40)
        };
        let rows = rows(4, 40, 8, 11);
        let (numerics, _) = a.resolve().unwrap_or_else(|e| panic!("{e}"));
        let stalls = SoftmaxStalls {
            in_gap: 20,
            out_stall: 20,
        };
        let (y, _) = simulate(&a, &rows, stalls, 11, Some(&cache_root()))
            .unwrap_or_else(|e| panic!("{exp_name}: {e}"));
        for (row, got) in rows.iter().zip(&y) {
            assert_eq!(got, &numerics.softmax_row(row), "{exp_name}: row {row:?}");
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

/// The Yosys netlist of `a` simulated by the same harness, with stalls.
fn netlist_matches_the_golden_model(a: &SoftmaxArgs, seed: u64) {
    let (numerics, unit) = a.resolve().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sources =
        write_softmax(&unit, &dir.path().join("design"), false).unwrap_or_else(|e| panic!("{e}"));
    let top = unit.module_name();
    let netlist = write_netlist(&sources, &top, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let ports = SoftmaxPorts {
        lanes: unit.lanes,
        score_bits: unit.score_bits,
        output_bits: unit.output_bits,
    };
    let sim = build_softmax(
        &[netlist],
        &top,
        ports,
        &cache_root(),
        &BuildOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rows = rows(a.lanes, a.max_len, a.score_bits, seed);
    let outcome = sim
        .run(
            &rows,
            SoftmaxStalls {
                in_gap: 20,
                out_stall: 20,
            },
            seed,
        )
        .unwrap_or_else(|e| panic!("{top}: {e}"));
    for (row, got) in rows.iter().zip(&outcome.rows) {
        assert_eq!(got.y, numerics.softmax_row(row), "{top}: row {row:?}");
    }
}

#[test]
fn yosys_netlist_matches_the_golden_model() {
    netlist_matches_the_golden_model(&args(3, 10), 8);
}

#[test]
fn yosys_netlist_of_a_sw16_ob7_unit_matches_the_golden_model() {
    netlist_matches_the_golden_model(&wide_args(3, 10, 16, 8, 7), 9);
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

/// `--score-bits` / `--output-bits`: out-of-range values are one line and exit 2 on every subcommand; `run` takes
/// int16 scores at SW > 8 (refusing them at SW = 8 and refusing codes outside SW bits) and writes OB-bit outputs
/// equal to the golden model's.
#[test]
fn cli_widths_and_int16_scores() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = |name: &str| dir.path().join(name);
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let out_dir = p("gen");
    let unit = ["--lanes", "4", "--max-len", "8"];
    for (flags, needle) in [
        (["--score-bits", "17"], "score_bits = 17 is outside 8..=16"),
        (["--score-bits", "7"], "score_bits = 7 is outside 8..=16"),
        (["--output-bits", "6"], "output_bits = 6 is outside 7..=8"),
        (["--output-bits", "9"], "output_bits = 9 is outside 7..=8"),
        (
            ["--input-frac-bits", "8"],
            "score_frac_bits = 8 is outside 0..=7",
        ),
    ] {
        let o = sta(&[
            &["softmax", "generate"][..],
            &unit,
            &flags,
            &["--out", &s(&out_dir)],
        ]
        .concat());
        assert_refused(&o, needle, &out_dir);
    }
    let o = sta(&[&["softmax", "accuracy", "--rows", "1", "--score-bits", "20"][..]].concat());
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("score_bits = 20"));

    // int16 scores: little-endian two's complement
    let i16_bytes = |v: &[i16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let scores: Vec<i16> = vec![-32768, 32767, 1000, 1001, -5, 0, 2560, 2559, 7, -7];
    npy(&p("s16.npy"), "<i2", "(2, 5)", &i16_bytes(&scores));
    npy(&p("s12_bad.npy"), "<i2", "(1, 2)", &i16_bytes(&[0, 2048]));
    npy(&p("f32.npy"), "<f4", "(1, 2)", &[0; 8]);
    let y = p("y.npy");
    let run = |scores: &Path, widths: &[&str]| {
        sta(&[
            &[
                "softmax",
                "run",
                "--lanes",
                "4",
                "--max-len",
                "8",
                "--scores",
                &s(scores),
            ][..],
            widths,
            &["--out", &s(&y), "--cache-dir", &s(&cache_root())],
        ]
        .concat())
    };
    assert_refused(&run(&p("s16.npy"), &[]), "int16", &y);
    assert_refused(
        &run(&p("s12_bad.npy"), &["--score-bits", "12"]),
        "[0, 1] = 2048 is outside -2048..=2047",
        &y,
    );
    assert_refused(
        &run(&p("f32.npy"), &["--score-bits", "16"]),
        "int8 ('|i1') or int16 ('<i2')",
        &y,
    );
    let wide = [
        "--score-bits",
        "16",
        "--output-bits",
        "7",
        "--input-frac-bits",
        "8",
    ];
    let o = run(&p("s16.npy"), &wide);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&y).unwrap_or_else(|e| panic!("{e}"));
    let got = &bytes[bytes.len() - 10..];
    let mut a = args(4, 8);
    (a.score_bits, a.output_bits, a.input_frac_bits) = (16, 7, 8);
    let (numerics, _) = a.resolve().unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<u8> = scores
        .chunks(5)
        .flat_map(|r| numerics.softmax_row(r))
        .collect();
    assert_eq!(got, &want[..]);
    assert!(want.iter().all(|&v| v <= 127) && want[1] == 127);
}

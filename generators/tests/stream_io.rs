//! The narrow-stream I/O wrapper end to end (docs/stream-io.md): the wrappers of PE arrays and of the softmax unit
//! simulated in Verilator and compared word for word with the golden model's packing of the golden outputs, with and
//! without random input gaps and output back-pressure; the throughput (one word per cycle each way); `err` following
//! `err_last`; `verilator --lint-only -Wall` and Yosys `synth` + `check -assert` on the wrappers; the take-home
//! simulation `make -f tb/sim.mk sim` in generated directories; the `--io-width` option.
//!
//! `cargo test --release -p sta-generators --test stream_io`

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_generators::design::write_pe_array_io;
use sta_generators::softmax::rtl::{write_softmax_io, SoftmaxArgs};
use sta_generators::stream_io::{
    pe_array_workload, random_score, softmax_numerics, softmax_rows, softmax_workload, WordWorkload,
};
use sta_generators::yosys::synth_check;
use sta_golden::pe_array::{ActBeat, ArrayShape, WeightBeat};
use sta_golden::stream_io::layouts::{pe_array_input_beat, pe_array_input_fields};
use sta_golden::stream_io::WordFormat;
use sta_hdl::stream_io::stream_io_module_name;
use sta_testbenches::{
    build_stream_io, BuildOptions, SimError, StreamIoOutcome, StreamIoRun, StreamIoSimBuild,
};

fn cache_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("sta-stream-io-cache")
}

fn shape(n: usize, m: usize, rows: usize, cols: usize) -> ArrayShape {
    ArrayShape::new(n, m, rows, cols, 32, ArrayShape::DEFAULT_MAX_K)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn softmax_args(lanes: usize, max_len: usize) -> SoftmaxArgs {
    softmax_wide_args(lanes, max_len, 8, 8)
}

/// SW-bit scores (D_S = SW / 2) and OB-bit outputs.
fn softmax_wide_args(
    lanes: usize,
    max_len: usize,
    score_bits: u32,
    output_bits: u32,
) -> SoftmaxArgs {
    SoftmaxArgs {
        lanes,
        max_len,
        input_frac_bits: if score_bits == 8 { 4 } else { score_bits / 2 },
        score_bits,
        output_bits,
        exp_params: None,
        reci_params: None,
    }
}

/// A generated design directory (kept alive with its temporary parent) and its wrapper.
struct Design {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    sources: Vec<PathBuf>,
    wrapper: String,
    word_bits: u32,
}

fn pe_design(s: &ArrayShape, word_bits: u32) -> Design {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("design");
    let (design, sources) =
        write_pe_array_io(s, word_bits, &dir, false).unwrap_or_else(|e| panic!("{e}"));
    Design {
        _tmp: tmp,
        dir,
        sources,
        wrapper: stream_io_module_name(&design.top, word_bits),
        word_bits,
    }
}

fn softmax_design(a: &SoftmaxArgs, word_bits: u32) -> Design {
    let (_, unit) = a.resolve().unwrap_or_else(|e| panic!("{e}"));
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("design");
    let sources = write_softmax_io(&unit, word_bits, &dir, false).unwrap_or_else(|e| panic!("{e}"));
    Design {
        _tmp: tmp,
        dir,
        sources,
        wrapper: stream_io_module_name(&unit.module_name(), word_bits),
        word_bits,
    }
}

impl Design {
    fn build(&self) -> StreamIoSimBuild {
        match build_stream_io(
            &self.sources,
            &self.wrapper,
            self.word_bits,
            &cache_root(),
            &BuildOptions::default(),
        ) {
            Ok(b) => b,
            Err(SimError::BuildFailed { tail, .. }) => panic!("verilator build failed:\n{tail}"),
            Err(e) => panic!("{e}"),
        }
    }

    fn lint_and_synth(&self) {
        match sta_testbenches::lint(&self.sources, &self.wrapper) {
            Ok(report) => assert!(report.is_clean(), "{}", report.output),
            Err(SimError::Lint(report)) => panic!("{}: lint:\n{}", self.wrapper, report.output),
            Err(e) => panic!("{}: {e}", self.wrapper),
        }
        synth_check(&self.sources, &self.wrapper, &self.dir)
            .unwrap_or_else(|e| panic!("{}: yosys: {e}", self.wrapper));
    }
}

/// Runs the workload and compares every word (and its m_tlast) with the golden words; nothing extra may arrive.
fn run_and_compare(
    sim: &StreamIoSimBuild,
    w: &WordWorkload,
    run: &StreamIoRun,
    what: &str,
) -> StreamIoOutcome {
    let outcome = sim
        .run(&w.input, w.expected.len(), run)
        .unwrap_or_else(|e| panic!("{what} {run:?}: {e}"));
    let per_beat = w.expected.len() / w.out_beats.max(1);
    if let Some(i) = (0..w.expected.len()).find(|&i| outcome.words.get(i) != Some(&w.expected[i])) {
        panic!(
            "{what} {run:?}: word {i} (output beat {}, word {} of {per_beat}): RTL {:?}, golden {:?}",
            i / per_beat,
            i % per_beat,
            outcome.words.get(i),
            w.expected[i]
        );
    }
    assert_eq!(
        outcome.words.len(),
        w.expected.len(),
        "{what} {run:?}: extra output words"
    );
    assert!(!outcome.err, "{what} {run:?}: err went high");
    outcome
}

/// Without gaps or stalls the host's words are taken one per cycle: every input word in consecutive cycles.
fn assert_input_back_to_back(outcome: &StreamIoOutcome, w: &WordWorkload, what: &str) {
    assert_eq!(
        outcome.last_in - outcome.first_in + 1,
        w.input.len() as u64,
        "{what}: {} input words took cycles {}..={}",
        w.input.len(),
        outcome.first_in,
        outcome.last_in
    );
}

const STALLS: StreamIoRun = StreamIoRun {
    seed: 5,
    in_gap: 30,
    out_stall: 40,
};

/// (n, m, rows, cols, W): the three wrappers of the contract. 2:8 2×3 at W = 8 has K_IN = 30, K_OUT = 13; 4:8 3×2
/// at W = 32 has K_IN = 9, K_OUT = 3; 1:4 1×1 at W = 16 has K_IN = K_OUT = 3.
const PE_CONFIGS: [(usize, usize, usize, usize, u32); 3] =
    [(2, 8, 2, 3, 8), (4, 8, 3, 2, 32), (1, 4, 1, 1, 16)];

#[test]
fn pe_array_wrappers_match_the_golden_model() {
    for (i, &(n, m, rows, cols, w)) in PE_CONFIGS.iter().enumerate() {
        let s = shape(n, m, rows, cols);
        let design = pe_design(&s, w);
        let sim = design.build();
        // 2 × 2 output tiles sparse, then 2 × 2 dense: K = 3 groups, corners −128/127, an all-zero group per row
        let workload =
            pe_array_workload(&s, w, (2, 2), 11 + i as u64).unwrap_or_else(|e| panic!("{e}"));
        let what = format!("{n}:{m} {rows}x{cols} W={w}");
        let free = run_and_compare(&sim, &workload, &StreamIoRun::default(), &what);
        assert_input_back_to_back(&free, &workload, &what);
        // the R rows of a tile leave back to back, one beat per K_OUT cycles
        let k_out = (workload.expected.len() / workload.out_beats) as u64;
        for (t, tile) in free.beat_ends.chunks(rows).enumerate() {
            for pair in tile.windows(2) {
                assert_eq!(pair[1] - pair[0], k_out, "{what}: tile {t} rows {tile:?}");
            }
        }
        run_and_compare(&sim, &workload, &STALLS, &what);
        run_and_compare(
            &sim,
            &workload,
            &StreamIoRun {
                seed: 6,
                in_gap: 70,
                out_stall: 80,
            },
            &what,
        );
    }
}

/// (P, L_MAX, SW, OB, W). INT8: P = 4 at W = 8: 37 bits, 5 words each way; P = 1 at W = 16 and 32: one word each way
/// (the K = 1 paths). SW = 16, OB = 7: P = 4 at W = 8: 69 bits in (9 words), 33 bits out (5 words); P = 1 at W = 16:
/// 18 bits in (2 words), 9 bits out (1 word); SW = 12, OB = 8, P = 3 at W = 32: 40 bits in (2 words), 28 out (1).
const SOFTMAX_CONFIGS: [(usize, usize, u32, u32, u32); 6] = [
    (4, 64, 8, 8, 8),
    (1, 40, 8, 8, 16),
    (1, 40, 8, 8, 32),
    (4, 64, 16, 7, 8),
    (1, 40, 16, 7, 16),
    (3, 10, 12, 8, 32),
];

#[test]
fn softmax_wrappers_match_the_golden_model() {
    for (lanes, max_len, sw, ob, w) in SOFTMAX_CONFIGS {
        let a = softmax_wide_args(lanes, max_len, sw, ob);
        let (numerics, unit) = a.resolve().unwrap_or_else(|e| panic!("{e}"));
        let design = softmax_design(&a, w);
        let sim = design.build();
        let mut rows = softmax_rows(lanes, max_len, sw, 3);
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        rows.extend((0..12).map(|_| {
            let len = rng.gen_range(1..=max_len);
            (0..len)
                .map(|_| random_score(&mut rng, sw))
                .collect::<Vec<i32>>()
        }));
        rows.push(vec![(1 << (sw - 1)) - 1; max_len]);
        rows.push(vec![-(1 << (sw - 1)); max_len]);
        let workload =
            softmax_workload(&numerics, lanes, &rows, w).unwrap_or_else(|e| panic!("{e}"));
        let what = format!("{} W={w}", unit.module_name());
        run_and_compare(&sim, &workload, &STALLS, &what);
        let free = run_and_compare(&sim, &workload, &StreamIoRun::default(), &what);
        assert_input_back_to_back(&free, &workload, &what);
    }
}

/// A stream of equal beats through the softmax unit (one output beat per input beat): with no gaps or stalls the
/// wrapper takes one beat per max(K_IN, K_OUT) cycles, so the deserializer and the serializer never lose a cycle
/// between beats.
#[test]
fn throughput_is_one_beat_per_k_words() {
    for (lanes, max_len, w, k) in [
        (4usize, 64usize, 8u32, 5u64),
        (1, 40, 16, 1),
        (4, 64, 32, 2),
    ] {
        let a = softmax_args(lanes, max_len);
        let (numerics, _) = a.resolve().unwrap_or_else(|e| panic!("{e}"));
        let design = softmax_design(&a, w);
        let sim = design.build();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let rows: Vec<Vec<i8>> = (0..40)
            .map(|_| (0..lanes).map(|_| rng.gen::<i8>()).collect())
            .collect();
        let workload =
            softmax_workload(&numerics, lanes, &rows, w).unwrap_or_else(|e| panic!("{e}"));
        let what = format!("P={lanes} W={w}");
        let outcome = run_and_compare(&sim, &workload, &StreamIoRun::default(), &what);
        assert_eq!(
            outcome.cycles_per_beat(),
            Some(k as f64),
            "{what}: {:?}",
            outcome.beat_ends
        );
        assert_input_back_to_back(&outcome, &workload, &what);
        eprintln!(
            "{what}: {} beats, {} cycles, {:.2} cycles per output beat (K = {k})",
            outcome.beat_ends.len(),
            outcome.cycles,
            outcome.cycles_per_beat().unwrap_or_default()
        );
    }
}

/// `err` is the array's sticky `err_last`: low on a good stream, high after a beat whose s_w_tlast and s_a_tlast
/// differ (the wrapper carries both flags as separate payload bits).
#[test]
fn err_follows_a_tlast_mismatch() {
    let s = shape(1, 4, 1, 1);
    let design = pe_design(&s, 16);
    let sim = design.build();
    let format = WordFormat::new(16, pe_array_input_fields(&s)).unwrap_or_else(|e| panic!("{e}"));
    let beat = |w_last: bool, a_last: bool| {
        let w = WeightBeat {
            values: vec![3],
            indices: vec![1],
            dense: false,
            last: w_last,
        };
        let a = ActBeat {
            values: vec![1, 2, 3, 4],
            last: a_last,
        };
        pe_array_input_beat(&s, &w, &a)
    };
    // the array ends a tile on s_w_tlast: each stream below returns one result row (3 words of 16 bits)
    for (beats, err) in [
        (vec![beat(false, false), beat(true, true)], false),
        (vec![beat(false, false), beat(true, false)], true),
        (vec![beat(false, true), beat(true, true)], true),
    ] {
        let words = format.pack(&beats).unwrap_or_else(|e| panic!("{e}"));
        let outcome = sim
            .run(&words, 3, &StreamIoRun::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome.err, err, "beats {beats:?}");
        assert_eq!(outcome.words.len(), 3);
        // two beats of 3·2 = 6 in one tile: 12 in the first 32 bits, m_y_tlast at bit 32
        assert_eq!(outcome.words, vec![(12, false), (0, false), (1, true)]);
    }
}

#[test]
fn wrappers_are_lint_and_yosys_clean() {
    for &(n, m, rows, cols, w) in PE_CONFIGS
        .iter()
        .chain(&[(1, 4, 1, 1, 32), (2, 8, 4, 4, 8)])
    {
        pe_design(&shape(n, m, rows, cols), w).lint_and_synth();
    }
    for (lanes, max_len, w) in [(4, 64, 8), (1, 40, 16), (3, 10, 32)] {
        softmax_design(&softmax_args(lanes, max_len), w).lint_and_synth();
    }
    for (lanes, max_len, sw, ob, w) in [(4, 64, 16, 7, 8), (3, 10, 12, 8, 32)] {
        softmax_design(&softmax_wide_args(lanes, max_len, sw, ob), w).lint_and_synth();
    }
}

/// `make` in a design directory, with the Verilator the project's own builds use (`find_verilator`).
fn make_sim(dir: &Path, args: &[&str]) -> Output {
    let verilator = sta_testbenches::find_verilator().unwrap_or_else(|e| panic!("{e}"));
    Command::new("make")
        .args(args)
        .arg(format!("VERILATOR={}", verilator.path.display()))
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("make runs: {e}"))
}

fn stdout(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `make -f tb/sim.mk sim` passes in a generated directory (PE array and softmax), also when included from a
/// Makefile there (whose default goal it leaves alone), and fails when expected.hex is corrupted.
#[test]
fn take_home_sim_passes_and_catches_a_corrupted_expectation() {
    let pe = pe_design(&shape(2, 8, 2, 3), 8);
    let sm = softmax_design(&softmax_args(4, 64), 16);
    let wide = softmax_design(&softmax_wide_args(4, 64, 16, 7), 8);
    for d in [&pe, &sm, &wide] {
        let ok = make_sim(&d.dir, &["-f", "tb/sim.mk", "sim"]);
        let text = stdout(&ok);
        assert!(ok.status.success(), "{}: {text}", d.wrapper);
        assert!(text.contains(&format!("PASS: {}", d.wrapper)), "{text}");
    }
    let makefile = pe.dir.join("Makefile");
    std::fs::write(
        &makefile,
        "all:\n\t@echo project default\ninclude tb/sim.mk\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let default = make_sim(&pe.dir, &[]);
    assert!(
        stdout(&default).contains("project default"),
        "{}",
        stdout(&default)
    );
    let included = make_sim(
        &pe.dir,
        &["sim", "SIM_SEED=3", "SIM_IN_GAP=60", "SIM_OUT_STALL=60"],
    );
    assert!(
        included.status.success() && stdout(&included).contains("PASS"),
        "{}",
        stdout(&included)
    );

    let expected = pe.dir.join("tb/expected.hex");
    let good = std::fs::read_to_string(&expected).unwrap_or_else(|e| panic!("{e}"));
    // flip the m_tlast flag of the first word, then one bit of a data word
    let bad_last = good.replacen(" 0\n", " 1\n", 1);
    let bad_data = good
        .lines()
        .enumerate()
        .map(|(i, l)| match i {
            7 => format!(
                "{:02x}{}",
                u8::from_str_radix(&l[..2], 16).unwrap_or(0) ^ 0x10,
                &l[2..]
            ),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    for bad in [bad_last, bad_data] {
        assert_ne!(bad, good);
        std::fs::write(&expected, bad).unwrap_or_else(|e| panic!("{e}"));
        let fail = make_sim(&pe.dir, &["-f", "tb/sim.mk", "sim"]);
        assert!(!fail.status.success(), "{}", stdout(&fail));
        assert!(stdout(&fail).contains("FAIL"), "{}", stdout(&fail));
    }
    std::fs::write(&expected, good).unwrap_or_else(|e| panic!("{e}"));
    let clean = make_sim(&pe.dir, &["-f", "tb/sim.mk", "sim-clean"]);
    assert!(clean.status.success() && !pe.dir.join("tb/obj_dir").exists());
}

fn sta(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sta"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("sta runs: {e}"))
}

/// `--io-width`: 8, 16, 32 accepted, anything else one line and exit 2 with nothing written; the manifest names the
/// wrapper, filelist.f ends with it, and config.resolved.toml carries the width so `--config` reproduces it.
#[test]
fn io_width_option_manifest_and_filelist() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = |name: &str| tmp.path().join(name).to_string_lossy().into_owned();
    let array = ["--n", "2", "--m", "8", "--rows", "2", "--cols", "3"];
    for (cmd, extra) in [
        (vec!["generate"], array.to_vec()),
        (
            vec!["softmax", "generate"],
            vec!["--lanes", "4", "--max-len", "16"],
        ),
    ] {
        for bad in ["12", "0", "64"] {
            let out = p("refused");
            let o = sta(&[
                cmd.clone(),
                extra.clone(),
                vec!["--io-width", bad, "--out", &out],
            ]
            .concat());
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{err}");
            assert!(
                err.contains(&format!("--io-width = {bad} is not supported"))
                    && err.contains("8, 16 or 32"),
                "{err}"
            );
            assert!(!Path::new(&out).exists());
        }
    }
    let out = p("pe32");
    let o = sta(&[
        &["generate"][..],
        &array,
        &["--io-width", "32", "--out", &out],
    ]
    .concat());
    assert!(o.status.success(), "{}", stdout(&o));
    let dir = Path::new(&out);
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let wrapper = "sta_pe_array_n2m8_r2c3_a32_io32";
    assert_eq!(manifest["fpga_top"], wrapper);
    assert_eq!(manifest["io_word_bits"], 32);
    assert_eq!(manifest["top"], "sta_pe_array_n2m8_r2c3_a32");
    let filelist = std::fs::read_to_string(dir.join("filelist.f")).unwrap_or_default();
    assert!(
        filelist.trim_end().ends_with(&format!("rtl/{wrapper}.v")),
        "{filelist}"
    );
    let again = p("again");
    let config = dir.join("config.resolved.toml");
    let o = sta(&[
        "generate",
        "--config",
        &config.to_string_lossy(),
        "--out",
        &again,
    ]);
    assert!(o.status.success(), "{}", stdout(&o));
    let file = format!("rtl/{wrapper}.v");
    assert_eq!(
        std::fs::read(dir.join(&file)).ok(),
        std::fs::read(Path::new(&again).join(&file)).ok(),
        "--config reproduces the wrapper"
    );
    for name in ["tb/stimulus.hex", "tb/expected.hex", "tb/sim.mk"] {
        assert_eq!(
            std::fs::read(dir.join(name)).ok(),
            std::fs::read(Path::new(&again).join(name)).ok(),
            "{name} reproducible"
        );
    }

    let sm = p("sm");
    let o = sta(&[
        "softmax",
        "generate",
        "--lanes",
        "4",
        "--max-len",
        "16",
        "--out",
        &sm,
    ]);
    assert!(o.status.success(), "{}", stdout(&o));
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&sm).join("manifest.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(manifest["fpga_top"], "sta_softmax_p4_l16_s4_io8");
    assert_eq!(manifest["io_word_bits"], 8);
    let filelist = std::fs::read_to_string(Path::new(&sm).join("filelist.f")).unwrap_or_default();
    assert!(
        filelist
            .trim_end()
            .ends_with("rtl/sta_softmax_p4_l16_s4_io8.v"),
        "{filelist}"
    );
    let numerics = softmax_numerics(
        &softmax_args(4, 16)
            .resolve()
            .unwrap_or_else(|e| panic!("{e}"))
            .1,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        Some(numerics),
        softmax_args(4, 16).resolve().ok().map(|(n, _)| n),
        "the unit's tables give back the golden numerics"
    );
}

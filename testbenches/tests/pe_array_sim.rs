//! The generated PE array (sta-hdl) simulated through the harness and compared beat for beat with the golden stream
//! model (`sta_golden::pe_array::run_array`), under random input gaps and output stalls. Needs Verilator; builds are
//! cached under the cargo target directory, so only the first run pays for them.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_golden::pe_array::{run_array, ActBeat, ArrayShape, ResultBeat, WeightBeat};
use sta_testbenches::{build, BuildOptions, RunOptions, SimBuild, SimError, SimOutcome};

/// (seed, in_gap, out_stall): no stalls, input gaps only, output stalls only, both heavy.
const STALL_MIXES: [(u64, f64, f64); 4] =
    [(1, 0.0, 0.0), (2, 0.4, 0.0), (3, 0.0, 0.6), (4, 0.7, 0.8)];

struct Stimulus {
    weights: Vec<WeightBeat>,
    acts: Vec<ActBeat>,
    expected: Vec<ResultBeat>,
}

/// Built as a literal rather than through `ArrayShape::new`, whose overflow rule forbids the narrow accumulators
/// these tests use on purpose: with 17–20 bits, random INT8 tiles wrap, which checks the RTL wraps like the model.
fn shape(n: usize, m: usize, rows: usize, cols: usize, acc_width: u32) -> ArrayShape {
    ArrayShape {
        n,
        m,
        rows,
        cols,
        acc_width,
        max_k: m,
        dsp: Default::default(),
    }
}

fn cache_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("sta-testbenches-cache")
}

/// Writes the generated modules (leaves first) and builds them with the harness.
fn build_design(shape: &ArrayShape, dir: &Path, options: &BuildOptions) -> SimBuild {
    let design = sta_hdl::emit::emit_pe_array(shape).expect("emit the PE array");
    let sources: Vec<PathBuf> = design
        .modules
        .iter()
        .map(|m| {
            let path = dir.join(format!("{}.v", m.name));
            std::fs::write(&path, &m.text).expect("write module");
            path
        })
        .collect();
    match build(&sources, shape, &cache_root(), options) {
        Ok(b) => b,
        Err(SimError::BuildFailed { tail, .. }) => panic!("verilator build failed:\n{tail}"),
        Err(e) => panic!("{e}"),
    }
}

/// Tiles of 1..=5 beats, each tile dense or sparse; indices are random even on dense beats, which must ignore them.
fn stimulus(shape: &ArrayShape, tiles: usize, seed: u64) -> Stimulus {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut weights, mut acts) = (Vec::new(), Vec::new());
    for _ in 0..tiles {
        let (beats, dense) = (rng.gen_range(1..=5), rng.gen_bool(0.3));
        for b in 0..beats {
            let last = b + 1 == beats;
            let lanes = shape.rows * shape.n;
            let values = (0..lanes).map(|_| rng.gen()).collect();
            let indices = (0..lanes)
                .map(|_| rng.gen_range(0..shape.m as u8))
                .collect();
            weights.push(WeightBeat {
                values,
                indices,
                dense,
                last,
            });
            acts.push(ActBeat {
                values: (0..shape.cols * shape.m).map(|_| rng.gen()).collect(),
                last,
            });
        }
    }
    let expected = run_array(shape, &weights, &acts).expect("golden model");
    Stimulus {
        weights,
        acts,
        expected,
    }
}

fn run(sim: &SimBuild, st: &Stimulus, opts: &RunOptions) -> SimOutcome {
    sim.run(&st.weights, &st.acts, st.expected.len(), opts)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn check_shape_under_stalls(shape: ArrayShape) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = build_design(&shape, dir.path(), &BuildOptions::default());
    let st = stimulus(&shape, 40, 11);
    for (seed, in_gap, out_stall) in STALL_MIXES {
        let opts = RunOptions {
            seed,
            in_gap,
            out_stall,
            ..RunOptions::default()
        };
        let out = run(&sim, &st, &opts);
        let first_bad = out
            .results
            .iter()
            .zip(&st.expected)
            .position(|(got, want)| got != want);
        assert_eq!(
            first_bad, None,
            "{shape:?} seed {seed}: first mismatching result beat"
        );
        assert_eq!(
            out.results.len(),
            st.expected.len(),
            "{shape:?} seed {seed}: result beat count"
        );
        assert!(!out.err_last);
        assert_eq!(
            out.perf_busy,
            st.weights.len() as u64,
            "perf_busy counts accepted beats"
        );
        assert_eq!(
            out.perf_cycles, out.cycles,
            "perf_cycles counts cycles since reset"
        );
        assert!(out.perf_stall < out.cycles);
    }
}

#[test]
fn sparse_2_of_4_array_matches_golden_model() {
    let legal = ArrayShape::new(2, 4, 3, 2, 32, ArrayShape::DEFAULT_MAX_K).expect("legal shape");
    check_shape_under_stalls(legal);
}

#[test]
fn wide_4_of_8_array_with_narrow_accumulator_matches_golden_model() {
    check_shape_under_stalls(shape(4, 8, 2, 4, 20));
}

#[test]
fn mismatched_tlast_sets_err_last_and_missing_results_time_out() {
    let shape = shape(1, 2, 2, 2, 17);
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = build_design(&shape, dir.path(), &BuildOptions::default());
    let st = stimulus(&shape, 6, 5);
    let mut acts = st.acts.clone();
    acts[0].last = !acts[0].last;
    let out = sim.run(
        &st.weights,
        &acts,
        st.expected.len(),
        &RunOptions::default(),
    );
    assert!(out.is_ok_and(|o| o.err_last), "err_last must be raised");
    let opts = RunOptions {
        max_cycles: 2_000,
        ..RunOptions::default()
    };
    let timeout = sim.run(&st.weights, &st.acts, st.expected.len() + 1, &opts);
    assert!(
        matches!(
            timeout,
            Err(SimError::Timeout {
                max_cycles: 2_000,
                ..
            })
        ),
        "{timeout:?}"
    );
}

#[test]
fn traced_build_writes_a_vcd() {
    let shape = shape(1, 2, 2, 2, 17);
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = build_design(
        &shape,
        dir.path(),
        &BuildOptions {
            trace: true,
            ..BuildOptions::default()
        },
    );
    let st = stimulus(&shape, 3, 6);
    let vcd = dir.path().join("run.vcd");
    let opts = RunOptions {
        vcd: Some(vcd.clone()),
        out_stall: 0.3,
        ..RunOptions::default()
    };
    assert_eq!(run(&sim, &st, &opts).results, st.expected);
    let text = std::fs::read_to_string(&vcd).expect("read the VCD");
    assert!(text.contains("m_y_tvalid") && text.contains("$enddefinitions"));
}

#[test]
fn second_build_is_a_cache_hit() {
    let shape = shape(1, 2, 2, 2, 17);
    let dir = tempfile::tempdir().expect("temp dir");
    let first = build_design(&shape, dir.path(), &BuildOptions::default());
    let second = build_design(&shape, dir.path(), &BuildOptions::default());
    assert!(
        second.model.cache_hit
            && second.model.key == first.model.key
            && second.model.binary.is_file()
    );
}

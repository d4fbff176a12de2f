//! Running one drawn configuration through the existing generators, harnesses and checks, and keeping its design.
//!
//! - pe-array: [`simulate_gemm`] (`sta gemm`): every result beat against the golden array.
//! - pe-stream: [`write_pe_array_io`] + [`build_stream_io`] on [`pe_array_workload`]: every output word.
//! - lut: the parameter file written and read back ([`read_params`], `sta lut rtl`'s path), [`write_rtl`],
//!   [`build_pwl`] on [`exhaustive_stimulus`]: every output against [`PwlTable::eval`](sta_golden::pwl::PwlTable).
//! - softmax: [`crate::softmax::run::simulate`] (`sta softmax run`), or [`write_softmax_io`] + [`build_stream_io`]
//!   on [`softmax_workload`]: every output value or word.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sta_golden::pwl::PwlTable;
use sta_hdl::stream_io::{stream_io_module_name, DEFAULT_WORD_BITS};
use sta_testbenches::stream_io::{output_text, words_text};
use sta_testbenches::{
    build_pwl, build_stream_io, exhaustive_stimulus, expected_indices, input_codes, BuildOptions,
    PwlPorts, PwlSimBuild, SimError, SoftmaxStalls, StreamIoRun,
};

use super::draw::{Case, LutCase, PeArrayCase, PeStreamCase, SoftmaxCase};
use crate::design::write_pe_array_io;
use crate::error::{io_context, Result, StaError};
use crate::gemm::{simulate_gemm, Mode, SimArgs};
use crate::lut::rtl::{read_params, unit_of, write_rtl};
use crate::npy::i8_matrix_to_npy;
use crate::softmax::rtl::{write_softmax_io, SoftmaxArgs};
use crate::stream_io::{pe_array_workload, softmax_numerics, softmax_workload, WordWorkload};

/// What a passing configuration compared.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Compared {
    /// Transactions compared: result beats (pe-array), output beats (pe-stream, softmax), outputs (lut).
    pub beats: u64,
    /// Values compared: result lanes, words, LUT outputs, probabilities.
    pub values: u64,
    /// Clock cycles simulated.
    pub cycles: u64,
}

/// A simulation failure: the hardware misbehaved (protocol, hang, lost words) — a mismatch — or the tool did.
fn sim_error(what: &str) -> impl Fn(SimError) -> StaError + '_ {
    move |e| match e {
        SimError::Protocol { .. } | SimError::Timeout { .. } | SimError::InputsLeft { .. } => {
            StaError::Mismatch(format!("{what}: the simulated hardware failed: {e}"))
        }
        other => StaError::Tool(format!("{what}: {other}")),
    }
}

/// Runs `case`, with its work files in `work` and Verilator models cached in `cache`.
pub fn run_case(case: &Case, work: &Path, cache: &Path) -> Result<Compared> {
    match case {
        Case::PeArray(c) => pe_array(c, cache),
        Case::PeStream(c) => pe_stream(c, work, cache),
        Case::Lut(c) => lut(c, work, cache),
        Case::Softmax(c) => softmax(c, work, cache),
    }
}

fn pe_array(c: &PeArrayCase, cache: &Path) -> Result<Compared> {
    let mut total = Compared::default();
    for (i, g) in c.gemms.iter().enumerate() {
        let sim = SimArgs {
            in_gap: g.in_gap,
            out_stall: g.out_stall,
            seed: g.sim_seed,
            cache_dir: Some(cache.to_path_buf()),
        };
        let run = simulate_gemm(&c.shape, &g.w, &g.x, g.mode, g.prune, &sim)
            .map_err(|e| in_run(e, &format!("GEMM {i}")))?;
        if !run.report.bit_exact {
            return Err(StaError::Mismatch(format!("GEMM {i}: not bit-exact")));
        }
        let beats = run.report.result_beats_compared as u64;
        total.add(Compared {
            beats,
            values: beats * c.shape.cols as u64,
            cycles: run.report.cycles,
        });
    }
    Ok(total)
}

/// Prefixes an error with the run it happened in, keeping its kind.
fn in_run(e: StaError, what: &str) -> StaError {
    match e {
        StaError::Mismatch(m) => StaError::Mismatch(format!("{what}: {m}")),
        StaError::Usage(m) => StaError::Usage(format!("{what}: {m}")),
        StaError::Tool(m) => StaError::Tool(format!("{what}: {m}")),
        other => other,
    }
}

impl Compared {
    fn add(&mut self, other: Compared) {
        self.beats += other.beats;
        self.values += other.values;
        self.cycles += other.cycles;
    }
}

/// Every word and its m_tlast equal to the golden words, nothing extra, `err` low.
fn compare_words(
    expected: &WordWorkload,
    words: &[(u64, bool)],
    err: bool,
    what: &str,
) -> Result<()> {
    let want = &expected.expected;
    let per_beat = want.len() / expected.out_beats.max(1);
    if let Some(i) = (0..want.len()).find(|&i| words.get(i) != Some(&want[i])) {
        return Err(StaError::Mismatch(format!(
            "{what}: output word {i} (beat {}, word {} of {per_beat}): hardware {:?}, golden {:?}",
            i / per_beat.max(1),
            i % per_beat.max(1),
            words.get(i),
            want[i]
        )));
    }
    if words.len() != want.len() {
        return Err(StaError::Mismatch(format!(
            "{what}: {} output words, golden {}",
            words.len(),
            want.len()
        )));
    }
    if err {
        return Err(StaError::Mismatch(format!("{what}: err went high")));
    }
    Ok(())
}

fn run_wrapper(
    sources: &[PathBuf],
    what: &str,
    wrapper: &str,
    word_bits: u32,
    workload: &WordWorkload,
    run: StreamIoRun,
    cache: &Path,
) -> Result<Compared> {
    let sim = build_stream_io(sources, wrapper, word_bits, cache, &BuildOptions::default())
        .map_err(|e| StaError::Tool(format!("{wrapper}: {e}")))?;
    let outcome = sim
        .run(&workload.input, workload.expected.len(), &run)
        .map_err(sim_error(what))?;
    compare_words(workload, &outcome.words, outcome.err, what)?;
    Ok(Compared {
        beats: workload.out_beats as u64,
        values: workload.expected.len() as u64,
        cycles: outcome.cycles,
    })
}

fn pe_stream(c: &PeStreamCase, work: &Path, cache: &Path) -> Result<Compared> {
    let (design, sources) = write_pe_array_io(&c.shape, c.io_width, &work.join("design"), false)?;
    let wrapper = stream_io_module_name(&design.top, c.io_width);
    let mut total = Compared::default();
    for (i, w) in c.workloads.iter().enumerate() {
        let workload = pe_array_workload(&c.shape, c.io_width, w.tiles, w.workload_seed)?;
        let run = StreamIoRun {
            seed: w.sim_seed,
            in_gap: w.in_gap,
            out_stall: w.out_stall,
        };
        let what = format!("{wrapper} workload {i}");
        total.add(run_wrapper(
            &sources, &what, &wrapper, c.io_width, &workload, run, cache,
        )?);
    }
    Ok(total)
}

fn lut(c: &LutCase, work: &Path, cache: &Path) -> Result<Compared> {
    // through the file, as `sta lut rtl` reads it
    let path = work.join("params.json");
    std::fs::write(&path, c.params.to_json())
        .map_err(io_context(format!("writing {}", path.display())))?;
    let params = read_params(&path)?;
    let table = params.table().map_err(|e| StaError::Usage(e.to_string()))?;
    let unit = unit_of(&params)?;
    let (module, source) = write_rtl(&unit, params.range, &work.join("rtl"), false)?;
    let ports = PwlPorts {
        module: module.name.clone(),
        output_bits: unit.format().output_bits,
        latency: unit.latency(),
    };
    let sim = build_pwl(&[source], &ports, cache, &BuildOptions::default())
        .map_err(|e| StaError::Tool(format!("{}: {e}", module.name)))?;
    let mut total = Compared::default();
    for seed in c.stimulus_seeds {
        total.add(pwl_run(&sim, &table, seed)?);
    }
    Ok(total)
}

/// The exhaustive stimulus with `seed` (gaps, and the junk on idle cycles), every output against the golden model.
fn pwl_run(sim: &PwlSimBuild, table: &PwlTable, seed: u64) -> Result<Compared> {
    let module = &sim.ports.module;
    let steps = exhaustive_stimulus(seed);
    let codes: Vec<i8> = input_codes(&steps);
    let outcome = sim.run(&steps, seed, None).map_err(sim_error(module))?;
    let order: Vec<usize> = outcome.outputs.iter().map(|&(i, _)| i).collect();
    if order != expected_indices(&steps, sim.ports.latency) {
        return Err(StaError::Mismatch(format!(
            "{module}: the outputs are not the expected inputs in order"
        )));
    }
    let bad: Vec<String> = outcome
        .outputs
        .iter()
        .filter_map(|&(i, got)| {
            let q = codes[i];
            let want = table.eval(q);
            (got != want).then(|| format!("q = {q}: hardware {got}, golden {want}"))
        })
        .collect();
    if let Some(first) = bad.first() {
        return Err(StaError::Mismatch(format!(
            "{module}: {} of {} outputs differ from the golden model (stimulus seed {seed}), first: {first}",
            bad.len(),
            outcome.outputs.len()
        )));
    }
    let n = outcome.outputs.len() as u64;
    Ok(Compared {
        beats: n,
        values: n,
        cycles: outcome.cycles,
    })
}

/// The unit's parameters, its table files written into `dir`.
fn softmax_args(c: &SoftmaxCase, dir: &Path) -> Result<SoftmaxArgs> {
    std::fs::create_dir_all(dir).map_err(io_context(format!("creating {}", dir.display())))?;
    let (exp, reci) = (dir.join("exp.json"), dir.join("reci.json"));
    for (path, file) in [(&exp, &c.exp), (&reci, &c.reci)] {
        std::fs::write(path, file.to_json())
            .map_err(io_context(format!("writing {}", path.display())))?;
    }
    Ok(SoftmaxArgs {
        lanes: c.lanes,
        max_len: c.max_len,
        input_frac_bits: c.input_frac_bits,
        score_bits: c.score_bits,
        output_bits: c.output_bits,
        exp_params: Some(exp),
        reci_params: Some(reci),
    })
}

fn softmax(c: &SoftmaxCase, work: &Path, cache: &Path) -> Result<Compared> {
    let args = softmax_args(c, &work.join("tables"))?;
    let beats: u64 = c
        .rows
        .iter()
        .map(|r| r.len().div_ceil(c.lanes) as u64)
        .sum();
    let values: u64 = c.rows.iter().map(|r| r.len() as u64).sum();
    match c.io_width {
        None => {
            let stalls = SoftmaxStalls {
                in_gap: c.in_gap,
                out_stall: c.out_stall,
            };
            let (_, report) =
                crate::softmax::run::simulate(&args, &c.rows, stalls, c.sim_seed, Some(cache))?;
            if report.mismatches != 0 {
                return Err(StaError::Mismatch(format!(
                    "{}: {} outputs differ from the golden model",
                    report.module, report.mismatches
                )));
            }
            Ok(Compared {
                beats,
                values,
                cycles: report.cycles,
            })
        }
        Some(word_bits) => {
            let (_, unit) = args.resolve()?;
            let numerics = softmax_numerics(&unit)?;
            let sources = write_softmax_io(&unit, word_bits, &work.join("design"), false)?;
            let wrapper = stream_io_module_name(&unit.module_name(), word_bits);
            let workload = softmax_workload(&numerics, unit.lanes, &c.rows, word_bits)?;
            let run = StreamIoRun {
                seed: c.sim_seed,
                in_gap: c.in_gap,
                out_stall: c.out_stall,
            };
            run_wrapper(
                &sources, &wrapper, &wrapper, word_bits, &workload, run, cache,
            )
        }
    }
}

/// Writes `case`'s design, inputs and a `case.json` into the new directory `dir`; returns the direct command that
/// reruns it outside the campaign, when there is one (`sta gemm` for pe-array configurations).
pub fn keep_case(case: &Case, record: &serde_json::Value, dir: &Path) -> Result<Option<String>> {
    std::fs::create_dir_all(dir).map_err(io_context(format!("creating {}", dir.display())))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(io_context(format!("writing {}", path.display())))
    };
    let design = dir.join("design");
    let mut direct = None;
    match case {
        Case::PeArray(c) => {
            write_pe_array_io(&c.shape, DEFAULT_WORD_BITS, &design, false)?;
            let mut commands = Vec::new();
            for (i, g) in c.gemms.iter().enumerate() {
                write(&format!("w{i}.npy"), &i8_matrix_to_npy(&g.w)?)?;
                write(&format!("x{i}.npy"), &i8_matrix_to_npy(&g.x)?)?;
                let p = |name: &str| dir.join(name).display().to_string();
                commands.push(format!(
                    "sta gemm --config {} --weights {} --activations {} --out {}{} --in-gap {} --out-stall {} \
                     --seed {} --force",
                    p("design/config.resolved.toml"),
                    p(&format!("w{i}.npy")),
                    p(&format!("x{i}.npy")),
                    p(&format!("y{i}.npy")),
                    match (g.mode, g.prune) {
                        (Mode::Dense, _) => " --dense",
                        (Mode::Sparse, true) => " --prune",
                        (Mode::Sparse, false) => "",
                    },
                    g.in_gap,
                    g.out_stall,
                    g.sim_seed
                ));
            }
            direct = Some(commands.join(" && "));
        }
        Case::PeStream(c) => {
            write_pe_array_io(&c.shape, c.io_width, &design, false)?;
            for (i, w) in c.workloads.iter().enumerate() {
                let workload = pe_array_workload(&c.shape, c.io_width, w.tiles, w.workload_seed)?;
                write(
                    &format!("stimulus{i}.hex"),
                    words_text(&workload.input, c.io_width).as_bytes(),
                )?;
                write(
                    &format!("expected{i}.hex"),
                    output_text(&workload.expected, c.io_width).as_bytes(),
                )?;
            }
        }
        Case::Lut(c) => {
            write("params.json", c.params.to_json().as_bytes())?;
            let unit = unit_of(&c.params)?;
            write_rtl(&unit, c.params.range, &design, false)?;
        }
        Case::Softmax(c) => {
            let args = softmax_args(c, dir)?;
            let (_, unit) = args.resolve()?;
            write_softmax_io(
                &unit,
                c.io_width.unwrap_or(DEFAULT_WORD_BITS),
                &design,
                false,
            )?;
            let rows = serde_json::to_string(&c.rows).unwrap_or_default() + "\n";
            write("rows.json", rows.as_bytes())?;
        }
    }
    let mut record = record.clone();
    if let (Some(direct), Some(map)) = (&direct, record.as_object_mut()) {
        map.insert("direct_command".into(), direct.clone().into());
    }
    let json = serde_json::to_string_pretty(&record).unwrap_or_default() + "\n";
    write("case.json", json.as_bytes())?;
    Ok(direct)
}

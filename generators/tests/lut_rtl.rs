//! The PWL LUT approximator RTL (`sta lut rtl`, `sta_hdl::pwl_lut`) against the golden model
//! (`sta_golden::pwl::PwlTable::eval`): every function at two input scales and hand-made corner tables, all 256 input
//! codes through Verilator with idle gaps and a reset; `verilator --lint-only -Wall`; Yosys `synth` + `check -assert`;
//! a unit with negative breakpoints simulated as a Yosys gate-level netlist; the CLI's refusals.

use std::path::{Path, PathBuf};
use std::process::Command;

use sta_generators::error::StaError;
use sta_generators::lut::rtl::{run_rtl, unit_of, RtlArgs};
use sta_generators::yosys::{synth_check, write_netlist};
use sta_golden::functions::Function;
use sta_golden::pwl::{Provenance, PwlFormat, PwlParamsFile, PwlRange, PwlTable, Source};
use sta_hdl::pwl_lut::{emit_pwl, PwlUnit};
use sta_testbenches::{
    build_pwl, exhaustive_stimulus, expected_indices, input_codes, BuildOptions, PwlPorts, SimError,
};

fn cache_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("sta-lut-cache")
}

/// A plain chord fit with K segments of equal width over `range` at input scale `d_in`, quantized to `format`
/// (clamped into CW bits). Not a good approximator, but a legal one with the function's shape, its format and its
/// range: the RTL must match whatever table it is given.
fn chord_table(function: Function, range: (f64, f64), format: PwlFormat, k: usize) -> PwlTable {
    let (lo, hi) = range;
    let scale = 2f64.powi(format.input_frac_bits as i32);
    let breakpoints: Vec<i8> = (1..k)
        .map(|j| {
            let x = lo + (hi - lo) * j as f64 / k as f64;
            (x * scale).round().clamp(-128.0, 127.0) as i8
        })
        .collect();
    let (min, max) = format.coeff_limits();
    let fk = 2f64.powi(format.coeff_frac_bits as i32);
    let q = |v: f64| ((v * fk).round() as i64).clamp(min, max);
    let (mut slopes, mut intercepts) = (Vec::new(), Vec::new());
    for j in 0..k {
        let x0 = lo + (hi - lo) * j as f64 / k as f64;
        let x1 = lo + (hi - lo) * (j + 1) as f64 / k as f64;
        let (y0, y1) = (function.eval(x0), function.eval(x1 - 1e-9));
        let slope = (y1 - y0) / (x1 - x0);
        slopes.push(q(slope));
        intercepts.push(q(y0 - slope * x0));
    }
    PwlTable {
        format,
        breakpoints,
        slopes,
        intercepts,
    }
}

/// A chord-fit parameter file of `function` at input scale `default D_IN − coarser`, built in-process: for the tests
/// that need a legal file, not a good one (the simulations use `sta lut search` results).
fn params_file(function: Function, coarser: u32) -> PwlParamsFile {
    let mut format = function.default_format();
    format.input_frac_bits -= coarser;
    let (lo, hi) = function.default_range();
    let table = chord_table(function, (lo, hi), format, 8);
    let provenance = Provenance {
        generator: "lut_rtl test".into(),
        source: Source::Search,
        seed: None,
        population: None,
        generations: None,
        fitness: None,
        search_seconds: None,
        reference: None,
    };
    let range = PwlRange::new(lo, hi).unwrap_or_else(|e| panic!("{function}: {e}"));
    PwlParamsFile::new(function, range, &table, provenance)
        .unwrap_or_else(|e| panic!("{function} d_in {}: {e}", format.input_frac_bits))
}

fn format(d_in: u32, cw: u32, fk: u32, ow: u32, d_out: u32) -> PwlFormat {
    PwlFormat {
        input_frac_bits: d_in,
        coeff_bits: cw,
        coeff_frac_bits: fk,
        output_bits: ow,
        output_frac_bits: d_out,
    }
}

/// Tables that go around the parameter-file rules on purpose, for the datapath's corners.
fn corner_tables() -> Vec<(&'static str, PwlTable)> {
    vec![
        (
            // −128/127 breakpoints, a tie, extreme coefficients, shift 0, heavy saturation both ways
            "edges",
            PwlTable {
                format: format(0, 8, 0, 8, 0),
                breakpoints: vec![-128, -127, -1, -1, 0, 126, 127],
                slopes: vec![5, -128, 127, 9, -1, 127, -128, 3],
                intercepts: vec![-7, 127, -128, 0, 100, -128, 127, -1],
            },
        ),
        (
            // negative output shift (left shift by 3), wide output, negative breakpoints only
            "leftshift",
            PwlTable {
                format: format(2, 8, 2, 16, 7),
                breakpoints: vec![-100, -50, -7],
                slopes: vec![-128, 77, -3, 127],
                intercepts: vec![127, -128, 55, -90],
            },
        ),
        (
            // large right shift (17), 12-bit coefficients, 4-bit output: mostly saturated, rounding ties at ±½
            "narrowout",
            PwlTable {
                format: format(7, 12, 10, 4, 0),
                breakpoints: vec![-64, -1, 0, 1, 64],
                slopes: vec![2047, -2048, 1024, -1024, 2047, -2048],
                intercepts: vec![-2048, 2047, 0, 1, -1, 512],
            },
        ),
        (
            // one segment (no comparators), output wide enough that nothing saturates
            "single",
            PwlTable {
                format: format(0, 8, 6, 24, 0),
                breakpoints: vec![],
                slopes: vec![-128],
                intercepts: vec![127],
            },
        ),
    ]
}

/// Runs the exhaustive stimulus through `sources` (RTL or netlist) and compares every output with `table.eval`.
fn simulate_against_golden(
    unit: &PwlUnit,
    table: &PwlTable,
    sources: &[PathBuf],
    seed: u64,
) -> Result<(), String> {
    let ports = PwlPorts {
        module: unit.module_name(),
        output_bits: unit.format().output_bits,
        latency: unit.latency(),
    };
    let sim = match build_pwl(sources, &ports, &cache_root(), &BuildOptions::default()) {
        Ok(sim) => sim,
        Err(SimError::BuildFailed { tail, .. }) => return Err(format!("build failed:\n{tail}")),
        Err(e) => return Err(e.to_string()),
    };
    let steps = exhaustive_stimulus(seed);
    let codes: Vec<i8> = input_codes(&steps);
    let outcome = sim.run(&steps, seed, None).map_err(|e| e.to_string())?;
    let got: Vec<usize> = outcome.outputs.iter().map(|&(i, _)| i).collect();
    if got != expected_indices(&steps, unit.latency()) {
        return Err("the outputs are not the expected inputs in order".into());
    }
    let mut mismatches = Vec::new();
    for &(i, value) in &outcome.outputs {
        let q = codes[i];
        let want = table.eval(q);
        if value != want {
            mismatches.push(format!("q = {q}: rtl {value}, golden {want}"));
        }
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} outputs differ, first: {}",
            mismatches.len(),
            outcome.outputs.len(),
            mismatches[..mismatches.len().min(5)].join("; ")
        ))
    }
}

/// Writes `unit`'s module into `dir`; returns its path.
fn write_unit(unit: &PwlUnit, dir: &Path) -> PathBuf {
    let module = emit_pwl(unit).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join(format!("{}.v", module.name));
    std::fs::write(&path, &module.text).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn lint_clean(source: &Path, top: &str) {
    match sta_testbenches::lint(&[source.to_path_buf()], top) {
        Ok(report) => assert!(report.is_clean(), "{top}: {:#?}", report.warnings),
        Err(SimError::Lint(report)) => panic!("{top}: lint:\n{}", report.output),
        Err(e) => panic!("{top}: {e}"),
    }
}

/// A parameter file found by `sta lut search` (the other half of the LUT flow; a fraction of a second each).
fn searched(function: Function, entries: usize, d_in: u32, dir: &Path) -> PathBuf {
    let path = dir.join(format!("{function}_k{entries}_d{d_in}.json"));
    let out = sta(&[
        "lut",
        "search",
        "--function",
        function.name(),
        "--entries",
        &entries.to_string(),
        "--input-frac-bits",
        &d_in.to_string(),
        "--out",
        &path.to_string_lossy(),
    ]);
    assert!(
        out.status.success(),
        "sta lut search {function} K={entries} D_IN={d_in}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// Every function at input scale `default D_IN − coarser`, searched by `sta lut search` and generated through the
/// CLI path (`run_rtl` on the parameter file): manifest, lint, Yosys check, and all 256 codes in Verilator against
/// the golden model. `extra` adds (function, K) pairs at the same scale.
fn functions_at_scale(coarser: u32, extra: &[(Function, usize)]) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    let cases = Function::ALL
        .iter()
        .map(|&f| (f, 8))
        .chain(extra.iter().copied());
    for (function, entries) in cases {
        let d_in = function.default_format().input_frac_bits - coarser;
        let json = searched(function, entries, d_in, dir.path());
        let params = PwlParamsFile::from_json(&std::fs::read_to_string(&json).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{function}: {e}"));
        let table = params.table().unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join(format!("{function}_k{entries}_d{d_in}"));
        run_rtl(&RtlArgs {
            params: json,
            out: out.clone(),
            force: false,
        })
        .unwrap_or_else(|e| panic!("{function}: {e}"));
        let unit = unit_of(&params).unwrap_or_else(|e| panic!("{e}"));
        let name = unit.module_name();
        let source = out.join(format!("{name}.v"));
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("{name}.json"))).unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("{function}: manifest: {e}"));
        assert_eq!(manifest["module"], name.as_str());
        assert_eq!(manifest["latency_cycles"], 3);
        assert_eq!(manifest["function"], function.name());
        assert_eq!(manifest["ports"][3]["name"], "in_data");
        assert_eq!(manifest["ports"][3]["width"], 8);
        assert_eq!(manifest["ports"][5]["width"], params.output_bits);
        lint_clean(&source, &name);
        synth_check(std::slice::from_ref(&source), &name, dir.path())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Err(e) = simulate_against_golden(&unit, &table, &[source], 11 + u64::from(coarser)) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_function_at_its_default_scale_matches_the_golden_model() {
    functions_at_scale(0, &[(Function::Gelu, 32)]);
}

#[test]
fn every_function_one_bit_coarser_matches_the_golden_model() {
    functions_at_scale(1, &[]);
}

#[test]
fn corner_tables_match_the_golden_model() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    for (name, table) in corner_tables() {
        let unit = PwlUnit::from_table(name, &table).unwrap_or_else(|e| panic!("{name}: {e}"));
        let source = write_unit(&unit, dir.path());
        lint_clean(&source, &unit.module_name());
        synth_check(
            std::slice::from_ref(&source),
            &unit.module_name(),
            dir.path(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Err(e) = simulate_against_golden(&unit, &table, &[source], 5) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The corner table has breakpoints −128, −127, −1, −1: a netlist that read them as unsigned (Yosys and unranged
/// `localparam signed`, rust-hdl trap 2) would disagree with the golden model on half the codes.
#[test]
fn yosys_netlist_with_negative_breakpoints_matches_the_golden_model() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, table) in corner_tables()
        .into_iter()
        .filter(|(n, _)| *n == "edges" || *n == "leftshift")
    {
        let unit = PwlUnit::from_table(name, &table).unwrap_or_else(|e| panic!("{e}"));
        let source = write_unit(&unit, dir.path());
        let netlist = write_netlist(&[source], &unit.module_name(), dir.path())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        simulate_against_golden(&unit, &table, &[netlist], 9)
            .unwrap_or_else(|e| panic!("{name} netlist: {e}"));
    }
}

/// The safety net is not blind: the same unit with its breakpoints emitted the way rust-hdl emits signed constants
/// (no range, unsigned literal: `localparam signed P_0 = 8'h9c;`) passes in Verilator as RTL, which reads −100, while
/// Yosys reads +156, and the netlist simulation catches it. (An unranged `8'sh9c` is read as −100 by both.)
#[test]
fn netlist_simulation_catches_unranged_signed_constants() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (name, table) = corner_tables().swap_remove(1);
    assert_eq!(name, "leftshift");
    let unit = PwlUnit::from_table("mutant", &table).unwrap_or_else(|e| panic!("{e}"));
    let text = emit_pwl(&unit).unwrap_or_else(|e| panic!("{e}")).text;
    let mutant: String = text
        .lines()
        .map(|l| match l.strip_prefix("localparam signed [IN_W-1:0] ") {
            Some(rest) => format!("localparam signed {}\n", rest.replace("'sh", "'h")),
            None => format!("{l}\n"),
        })
        .collect();
    assert!(
        mutant.contains("localparam signed P_0 = 8'h9c;"),
        "{mutant}"
    );
    let source = dir.path().join(format!("{}.v", unit.module_name()));
    std::fs::write(&source, mutant).unwrap_or_else(|e| panic!("{e}"));
    simulate_against_golden(&unit, &table, std::slice::from_ref(&source), 3)
        .unwrap_or_else(|e| panic!("Verilator reads the unranged constants as signed: {e}"));
    let netlist =
        write_netlist(&[source], &unit.module_name(), dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let err = simulate_against_golden(&unit, &table, &[netlist], 3)
        .expect_err("the netlist of the mutant must disagree with the golden model");
    assert!(err.contains("outputs differ"), "{err}");
}

/// The wide units of the area comparison: same template, lint- and Yosys-clean (no golden model beyond INT8).
#[test]
fn wide_units_are_lint_and_yosys_clean() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut units = vec![];
    for function in [Function::Gelu, Function::Exp, Function::Reci] {
        let unit = unit_of(&params_file(function, 0)).unwrap_or_else(|e| panic!("{e}"));
        units.push(unit.widened(16, 16, 16).unwrap_or_else(|e| panic!("{e}")));
        units.push(unit.widened(32, 32, 32).unwrap_or_else(|e| panic!("{e}")));
    }
    for (name, table) in corner_tables() {
        let unit = PwlUnit::from_table(name, &table).unwrap_or_else(|e| panic!("{e}"));
        units.push(unit.widened(32, 32, 32).unwrap_or_else(|e| panic!("{e}")));
    }
    for unit in units {
        let source = write_unit(&unit, dir.path());
        lint_clean(&source, &unit.module_name());
        synth_check(&[source], &unit.module_name(), dir.path())
            .unwrap_or_else(|e| panic!("{}: {e}", unit.module_name()));
    }
}

#[test]
fn module_has_header_one_module_and_ranged_signed_constants() {
    let params = params_file(Function::Gelu, 0);
    let unit = unit_of(&params).unwrap_or_else(|e| panic!("{e}"));
    let module = emit_pwl(&unit).unwrap_or_else(|e| panic!("{e}"));
    let text = &module.text;
    assert_eq!(module.name, "sta_pwl_gelu_k8_d5_c8f6_o8f5");
    assert_eq!(text.matches("\nmodule ").count(), 1);
    assert!(text.contains(&format!("\nmodule {} #", module.name)));
    assert!(text.contains("`default_nettype none") && text.contains("`resetall"));
    assert!(text.contains("generated by sta ") && text.contains("Do not edit"));
    assert!(text.contains("entries=8 in_bits=8 input_frac_bits=5 coeff_bits=8"));
    for line in text.lines().filter(|l| l.starts_with("localparam signed")) {
        assert!(line.contains("signed ["), "unranged: {line}");
        assert!(line.contains("'sh"), "unsized or unsigned literal: {line}");
    }
    assert_eq!(
        emit_pwl(&unit).map(|m| m.text).ok().as_ref(),
        Some(text),
        "reproducible"
    );
}

// ---- the CLI's refusals: one line, exit code 2, nothing written ----

fn sta(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sta"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("sta runs: {e}"))
}

fn assert_refused(out: &std::process::Output, needle: &str, dir: &Path) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    assert!(!dir.exists(), "nothing written");
}

#[test]
fn cli_refuses_bad_parameter_files_and_existing_output() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = |name: &str| dir.path().join(name);
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let good = params_file(Function::Gelu, 0);
    std::fs::write(p("good.json"), good.to_json()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(p("garbage.json"), "{ not json").unwrap_or_else(|e| panic!("{e}"));
    let mut unsorted: serde_json::Value =
        serde_json::from_str(&good.to_json()).unwrap_or_else(|e| panic!("{e}"));
    unsorted["breakpoints"][2] = serde_json::json!(-120);
    std::fs::write(p("unsorted.json"), unsorted.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let out = p("out");
    for (file, needle) in [
        ("garbage.json", "garbage.json"),
        ("unsorted.json", "unsorted.json"),
        ("missing.json", "missing.json"),
    ] {
        let run = sta(&["lut", "rtl", "--params", &s(&p(file)), "--out", &s(&out)]);
        assert_refused(&run, needle, &out);
    }
    // the library call says the same with the same exit code
    let err = run_rtl(&RtlArgs {
        params: p("unsorted.json"),
        out: out.clone(),
        force: false,
    })
    .err();
    assert!(matches!(&err, Some(StaError::Usage(m)) if m.contains("unsorted.json")));
    assert_eq!(err.map(|e| e.exit_code()), Some(2));

    let ok = sta(&[
        "lut",
        "rtl",
        "--params",
        &s(&p("good.json")),
        "--out",
        &s(&out),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let listing = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let name = "sta_pwl_gelu_k8_d5_c8f6_o8f5";
    assert_eq!(
        listing(&out),
        vec![format!("{name}.json"), format!("{name}.v")]
    );
    let before = std::fs::read(out.join(format!("{name}.v"))).unwrap_or_default();
    let again = sta(&[
        "lut",
        "rtl",
        "--params",
        &s(&p("good.json")),
        "--out",
        &s(&out),
    ]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--force") && stderr.trim_end().lines().count() == 1,
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(out.join(format!("{name}.v"))).unwrap_or_default(),
        before
    );
    let forced = sta(&[
        "lut",
        "rtl",
        "--params",
        &s(&p("good.json")),
        "--out",
        &s(&out),
        "--force",
    ]);
    assert!(forced.status.success());
    assert_eq!(
        listing(dir.path())
            .iter()
            .filter(|n| n.starts_with(".sta-"))
            .count(),
        0,
        "no leftovers"
    );
}

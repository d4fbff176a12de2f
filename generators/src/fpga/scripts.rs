//! The scripts and command lines of the flow, rendered from `generators/templates/fpga/`. `sta synth` and a
//! generated project's Makefile use the same text: the Yosys script `<target>.ys`, the board constraints, and
//! nextpnr's and the packers' arguments (built here once, written into the Makefile's per-target variables).
//! Every path is relative to the project root (the output directory for `sta synth`), because YoWASP tools cannot
//! see `/tmp` by absolute path.

use askama::Template;
use serde::{Deserialize, Serialize};
use sta_hdl::emit::GENERATOR;

use super::boards::{Board, Pin};
use super::target::{Family, Target};
use crate::error::{Result, StaError};

/// How the synthesised top meets the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum IoMode {
    /// The narrow-stream wrapper when the design has one, else `direct` when the top's ports fit the package, else
    /// `ooc`.
    Auto,
    /// Synthesise the wrapper (`fpga_top` of the manifest): a few dozen pins.
    Stream,
    /// The design top's ports on package pins.
    Direct,
    /// Out of context: nextpnr places the design top without I/O buffers (ECP5 only; no bitstream).
    Ooc,
}

impl IoMode {
    pub fn name(self) -> &'static str {
        match self {
            IoMode::Auto => "auto",
            IoMode::Stream => "stream",
            IoMode::Direct => "direct",
            IoMode::Ooc => "ooc",
        }
    }
}

/// Where `make` and `sta synth` put a target's outputs, relative to the project root.
pub fn build_dir(target: &Target) -> String {
    format!("build/{}", target.name)
}

/// Path of the Yosys script inside a generated project.
pub fn project_script(target: &Target) -> String {
    format!("fpga/{}.ys", target.name)
}

pub(super) fn render(template: &impl Template, what: &str) -> Result<String> {
    // askama drops the template file's final newline; every file we write ends with one.
    template
        .render()
        .map(|text| text + "\n")
        .map_err(|e| StaError::Tool(format!("rendering {what} failed: {e}")))
}

#[derive(Template)]
#[template(path = "fpga/synth.ys", escape = "none")]
struct SynthScript<'a> {
    generator: &'a str,
    target: &'a str,
    part: String,
    top: &'a str,
    files: &'a [String],
    synth_command: &'a str,
    /// Blackbox models of the family's vendor primitives, read before `hierarchy -check` so that a design which
    /// instantiates them (`sta generate --dsp ecp5`: MULT18X18D) passes the check; empty when there are none.
    vendor_cells: &'a str,
    build: String,
}

/// The Yosys script: read `files` in order, synthesise `top` for `target`, write statistics and the netlist.
pub fn yosys_script(target: &Target, top: &str, files: &[String]) -> Result<String> {
    render(
        &SynthScript {
            generator: GENERATOR,
            target: target.name,
            part: target.part(),
            top,
            files,
            synth_command: target.synth_command,
            vendor_cells: match target.family {
                Family::Ecp5 => "+/ecp5/cells_bb.v",
                _ => "",
            },
            build: build_dir(target),
        },
        "the Yosys script",
    )
}

/// nextpnr's device, package, I/O and constraints arguments.
pub fn device_args(target: &Target, io: IoMode, board: Option<&Board>) -> Vec<String> {
    let mut args = vec![
        target.nextpnr_device.to_string(),
        "--package".to_string(),
        target.package.to_string(),
    ];
    if io == IoMode::Ooc {
        args.push("--out-of-context".to_string());
    }
    if let Some(board) = board {
        args.push(
            match target.family {
                Family::Ice40 => "--pcf",
                _ => "--lpf",
            }
            .to_string(),
        );
        args.push(board.constraints.to_string());
    }
    args
}

/// The placed design nextpnr writes for the packer (none out of context).
pub fn placed_file(target: &Target, io: IoMode, top: &str) -> Option<String> {
    let build = build_dir(target);
    match (target.family, io) {
        (Family::Generic, _) | (_, IoMode::Ooc) => None,
        (Family::Ecp5, _) => Some(format!("{build}/{top}.config")),
        (Family::Ice40, _) => Some(format!("{build}/{top}.asc")),
    }
}

/// nextpnr's output arguments besides the report: the placed design for the packer.
pub fn output_args(target: &Target, io: IoMode, top: &str) -> Vec<String> {
    match placed_file(target, io, top) {
        Some(file) if target.family == Family::Ecp5 => vec!["--textcfg".into(), file],
        Some(file) => vec!["--asc".into(), file],
        None => Vec::new(),
    }
}

/// The whole nextpnr command line (after the executable), as the Makefile's `pnr` target spells it.
pub fn nextpnr_args(
    target: &Target,
    io: IoMode,
    board: Option<&Board>,
    top: &str,
    freq_mhz: f64,
    seed: u64,
) -> Vec<String> {
    let build = build_dir(target);
    let mut args = device_args(target, io, board);
    args.extend([
        "--json".to_string(),
        format!("{build}/synth.json"),
        "--freq".to_string(),
        freq_mhz.to_string(),
        "--seed".to_string(),
        seed.to_string(),
        "--timing-allow-fail".to_string(),
        "--report".to_string(),
        format!("{build}/report.json"),
    ]);
    args.extend(output_args(target, io, top));
    args
}

/// The bitstream file and the packer's arguments (ecppack `--compress`, icepack), when the placement has I/O.
pub fn pack_args(target: &Target, io: IoMode, top: &str) -> Option<(String, Vec<String>)> {
    let placed = placed_file(target, io, top)?;
    let build = build_dir(target);
    match target.family {
        Family::Ecp5 => {
            let bit = format!("{build}/{top}.bit");
            Some((bit.clone(), vec!["--compress".into(), placed, bit]))
        }
        Family::Ice40 => {
            let bin = format!("{build}/{top}.bin");
            Some((bin.clone(), vec![placed, bin]))
        }
        Family::Generic => None,
    }
}

/// One row of a constraints file.
struct PinRow {
    port: &'static str,
    site: &'static str,
    board_net: &'static str,
    port_padded: String,
    site_padded: String,
    lpf_attributes: &'static str,
}

fn pin_rows(board: &Board) -> Vec<PinRow> {
    board
        .pins
        .iter()
        .map(|p: &Pin| PinRow {
            port: p.port,
            site: p.site,
            board_net: p.board_net,
            port_padded: format!("{:<14}", p.port),
            site_padded: format!("{:<6}", p.site),
            lpf_attributes: match (p.port, p.input) {
                ("clk", _) => "IO_TYPE=LVCMOS33 PULLMODE=NONE",
                (_, true) => "IO_TYPE=LVCMOS33 PULLMODE=DOWN",
                (_, false) => "IO_TYPE=LVCMOS33 DRIVE=4",
            },
        })
        .collect()
}

/// What both constraints templates show.
struct BoardData<'a> {
    generator: &'a str,
    board: &'a str,
    word_bits: u32,
    top: &'a str,
    freq_note: String,
    pins: Vec<PinRow>,
    freq: String,
}

#[derive(Template)]
#[template(path = "fpga/ulx3s.lpf", escape = "none")]
struct LpfFile<'a> {
    b: BoardData<'a>,
}

#[derive(Template)]
#[template(path = "fpga/icebreaker.pcf", escape = "none")]
struct PcfFile<'a> {
    b: BoardData<'a>,
}

/// The board's constraints for wrapper `top`, with the clock constrained to `freq_mhz`: a generated project uses
/// the board oscillator, `sta synth` its `--freq` (so Fmax is measured against the same target in every I/O mode).
pub fn constraints_file(board: &Board, top: &str, freq_mhz: f64) -> Result<String> {
    let freq_note = if freq_mhz == board.clock_mhz {
        format!(
            "clk is constrained to the board oscillator, {} MHz.",
            board.clock_mhz
        )
    } else {
        format!(
            "clk is constrained to {freq_mhz} MHz, the clock target of `sta synth --freq` (the board oscillator runs at {} MHz).",
            board.clock_mhz
        )
    };
    let b = BoardData {
        generator: GENERATOR,
        board: board.name,
        word_bits: board.word_bits,
        top,
        freq_note,
        pins: pin_rows(board),
        freq: freq_mhz.to_string(),
    };
    if board.constraints.ends_with(".pcf") {
        render(&PcfFile { b }, board.constraints)
    } else {
        render(&LpfFile { b }, board.constraints)
    }
}

/// A command line for the report and the Makefile: arguments joined by spaces (none of ours needs quoting).
pub fn join(args: &[String]) -> String {
    args.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::boards::{ICEBREAKER, ULX3S};
    use crate::fpga::target::find_target;

    #[test]
    fn yosys_script_reads_in_order_and_writes_into_the_build_dir() {
        let t = find_target("ice40-up5k").unwrap();
        let files = vec!["rtl/a.v".to_string(), "rtl/top.v".to_string()];
        let s = yosys_script(t, "top", &files).unwrap();
        let a = s.find("read_verilog -sv rtl/a.v").unwrap();
        assert!(a < s.find("read_verilog -sv rtl/top.v").unwrap());
        assert!(s.contains("synth_ice40 -dsp -top top\n"));
        assert!(s.contains("delete t:$scopeinfo\n"));
        assert!(s.contains("tee -q -o build/ice40-up5k/stat.json stat -json\n"));
        assert!(s.ends_with("write_json build/ice40-up5k/synth.json\n"));
    }

    #[test]
    fn nextpnr_and_packer_arguments_per_io_mode() {
        let t = find_target("ecp5-25k").unwrap();
        let ooc = nextpnr_args(t, IoMode::Ooc, None, "t", 125.0, 1);
        assert!(ooc.contains(&"--out-of-context".to_string()));
        assert!(!ooc.contains(&"--textcfg".to_string()));
        assert!(pack_args(t, IoMode::Ooc, "t").is_none());
        let stream = nextpnr_args(t, IoMode::Stream, Some(&ULX3S), "t", 125.0, 7);
        assert_eq!(
            &stream[..5],
            [
                "--25k",
                "--package",
                "CABGA381",
                "--lpf",
                "constraints/ulx3s.lpf"
            ]
        );
        assert!(join(&stream).contains("--seed 7 --timing-allow-fail --report build/ecp5-25k/report.json --textcfg build/ecp5-25k/t.config"));
        let (bit, args) = pack_args(t, IoMode::Stream, "t").unwrap();
        assert_eq!(bit, "build/ecp5-25k/t.bit");
        assert_eq!(args[0], "--compress");
        let up5k = find_target("ice40-up5k").unwrap();
        assert!(
            join(&nextpnr_args(up5k, IoMode::Direct, None, "t", 50.0, 1))
                .contains("--asc build/ice40-up5k/t.asc")
        );
    }

    #[test]
    fn constraints_cover_every_pin_and_the_clock() {
        let lpf = constraints_file(&ULX3S, "w_io8", 25.0).unwrap();
        assert_eq!(lpf.matches("LOCATE COMP").count(), 24);
        assert!(lpf.contains("LOCATE COMP \"clk\" SITE \"G2\";"));
        assert!(lpf.contains("FREQUENCY PORT \"clk\" 25 MHZ;"));
        assert!(lpf.contains("board oscillator, 25 MHz"));
        let pcf = constraints_file(&ICEBREAKER, "w_io8", 50.0).unwrap();
        assert_eq!(pcf.matches("set_io ").count(), 24);
        assert!(pcf.contains("set_io clk 35\n"));
        assert!(pcf.contains("set_frequency clk 50\n"));
    }
}

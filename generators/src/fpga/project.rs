//! The FPGA project files of a generated design directory: `Makefile` (lint, sim, synth, pnr, bitstream, clean),
//! `fpga/<target>.ys` for every target (the scripts `sta synth` runs), `constraints/ulx3s.lpf` and
//! `constraints/icebreaker.pcf` for the 8-bit stream wrapper, and a FuseSoC CAPI2 `<top>.core`.

use std::path::{Path, PathBuf};

use askama::Template;
use sta_hdl::emit::GENERATOR;

use super::boards::{Board, ICEBREAKER, ULX3S};
use super::design_dir::{checksums_file, DesignInfo, CHECKSUMS};
use super::scripts::{
    constraints_file, device_args, join, output_args, pack_args, project_script, render,
    yosys_script, IoMode,
};
use super::target::{find_target, Family, Target, TARGETS};
use super::tools::PINNED_PACKAGES;
use crate::error::Result;

/// Files to add to a design directory: path relative to it, contents.
pub type ProjectFiles = Vec<(PathBuf, Vec<u8>)>;

/// The target `make` uses when none is given.
pub const DEFAULT_TARGET: &str = "ecp5-85k";
/// The Verilator harness of the stream wrapper, written into `tb/` by the design generators.
pub const TB_HARNESS: &str = "tb/stream_io_tb.cpp";

/// What the project does on one target: synthesise the wrapper onto the board pins, or the design top alone.
struct Plan {
    io: IoMode,
    board: Option<Board>,
}

fn plan(design: &DesignInfo, target: &Target) -> Plan {
    let board = target
        .board
        .filter(|b| design.fpga_top.is_some() && design.io_word_bits.unwrap_or(8) == b.word_bits);
    let io = match (target.family, &design.fpga_top) {
        (_, Some(_)) => IoMode::Stream,
        (Family::Ice40, None) => IoMode::Direct,
        _ => IoMode::Ooc,
    };
    Plan { io, board }
}

/// The module the flow synthesises: the wrapper when there is one.
fn fpga_top(design: &DesignInfo) -> &str {
    design.fpga_top.as_deref().unwrap_or(&design.top)
}

struct TbFile {
    path: String,
    header: bool,
}

struct MakeTarget {
    name: &'static str,
    part: String,
    io_note: String,
    family: &'static str,
    freq: String,
    pnr: String,
    pnr_out: String,
    bitstream: String,
    no_bitstream: String,
}

fn make_target(design: &DesignInfo, target: &'static Target) -> MakeTarget {
    let top = fpga_top(design);
    let Plan { io, board } = plan(design, target);
    let generic = target.family == Family::Generic;
    let io_note = match (&board, io) {
        _ if generic => "Yosys generic cells only: no place and route".to_string(),
        (Some(b), _) => format!("stream wrapper on the {} pins ({})", b.name, b.constraints),
        (None, IoMode::Stream) => "stream wrapper, pins placed by nextpnr".to_string(),
        (None, IoMode::Ooc) => "no wrapper: placed out of context, no bitstream".to_string(),
        (None, _) => "no wrapper: the design's ports placed by nextpnr".to_string(),
    };
    let freq = board
        .map(|b| b.clock_mhz)
        .unwrap_or(target.family.default_freq_mhz());
    MakeTarget {
        name: target.name,
        part: target.part(),
        io_note,
        family: target.family.name(),
        freq: freq.to_string(),
        pnr: if generic {
            String::new()
        } else {
            join(&device_args(target, io, board.as_ref()))
        },
        pnr_out: join(&output_args(target, io, top)),
        bitstream: pack_args(target, io, top)
            .map(|(b, _)| b)
            .unwrap_or_default(),
        no_bitstream: if generic {
            "generic synthesis has no place and route".to_string()
        } else {
            "out-of-context placement has no I/O buffers".to_string()
        },
    }
}

#[derive(Template)]
#[template(path = "fpga/Makefile", escape = "none")]
struct Makefile<'a> {
    generator: &'a str,
    top: &'a str,
    fpga_top: &'a str,
    sources: String,
    /// Simulation models to compile before the sources when linting (vendor primitives).
    sim_models: String,
    target_names: String,
    default_target: &'a str,
    pins: String,
    targets: Vec<MakeTarget>,
}

#[derive(Template)]
#[template(path = "fpga/design.core", escape = "none")]
struct CoreFile<'a> {
    generator: &'a str,
    top: &'a str,
    fpga_top: &'a str,
    vlnv: String,
    export_name: String,
    description: String,
    files: &'a [String],
    sim_models: &'a [String],
    tb_files: Vec<TbFile>,
    expected_words: Option<usize>,
    sim_options: &'a str,
    has_ulx3s: bool,
    has_icebreaker: bool,
    synth_part: String,
    synth_description: String,
    ecp5_pnr: bool,
    ecp5_nextpnr_options: String,
    ice40_nextpnr_options: String,
}

fn render_bytes(template: &impl Template, what: &str) -> Result<Vec<u8>> {
    render(template, what).map(String::into_bytes)
}

/// FuseSoC's VLNV name of the design's core.
pub fn core_name(design: &DesignInfo) -> String {
    format!("sta:generated:{}:{}", design.top, env!("CARGO_PKG_VERSION"))
}

/// The harness files; before a generator writes its harness, the name it will have.
fn tb_files(design: &DesignInfo) -> Vec<TbFile> {
    let sources = if design.tb_sources.is_empty() {
        vec![TB_HARNESS.to_string()]
    } else {
        design.tb_sources.clone()
    };
    sources
        .into_iter()
        .map(|path| TbFile {
            header: path.ends_with(".h"),
            path,
        })
        .collect()
}

fn core_file(design: &DesignInfo) -> Result<Vec<u8>> {
    let top = fpga_top(design);
    let ecp5 = find_target(DEFAULT_TARGET)?;
    let up5k = find_target("ice40-up5k")?;
    let ulx3s = plan(design, ecp5).board.is_some();
    let icebreaker = plan(design, up5k).board.is_some();
    let options = |t: &Target| {
        device_args(t, IoMode::Direct, None)
            .into_iter()
            .chain(["--timing-allow-fail".to_string()])
            .collect::<Vec<_>>()
            .join(", ")
    };
    render_bytes(
        &CoreFile {
            generator: GENERATOR,
            top: &design.top,
            fpga_top: top,
            vlnv: core_name(design),
            export_name: core_name(design).replace(':', "_"),
            description: format!(
                "{} {} generated by {GENERATOR}",
                design.kind.title(),
                design.top
            ),
            files: &design.files,
            sim_models: &design.sim_models,
            tb_files: tb_files(design),
            expected_words: design.tb_expected_words,
            sim_options: "--x-assign unique, --x-initial unique, -Wno-fatal",
            has_ulx3s: ulx3s,
            has_icebreaker: icebreaker,
            synth_part: ecp5.part(),
            synth_description: if ulx3s {
                format!("Yosys + nextpnr + ecppack for the ULX3S ({})", ecp5.part())
            } else {
                format!(
                    "Yosys synthesis for {} (no wrapper: no pins to place)",
                    ecp5.part()
                )
            },
            ecp5_pnr: ulx3s,
            ecp5_nextpnr_options: options(ecp5),
            ice40_nextpnr_options: options(up5k),
        },
        "the FuseSoC core",
    )
}

/// Every FPGA project file of `design` (a PE array or softmax directory), paths relative to it.
pub fn project_files(design: &DesignInfo) -> Result<ProjectFiles> {
    let top = fpga_top(design);
    let mut files: ProjectFiles = Vec::new();
    for target in TARGETS {
        files.push((
            PathBuf::from(project_script(target)),
            yosys_script(target, top, &design.files)?.into_bytes(),
        ));
    }
    for board in [ULX3S, ICEBREAKER] {
        if design.fpga_top.is_some() && design.io_word_bits.unwrap_or(8) == board.word_bits {
            files.push((
                PathBuf::from(board.constraints),
                constraints_file(&board, top, board.clock_mhz)?.into_bytes(),
            ));
        }
    }
    let pins = PINNED_PACKAGES
        .iter()
        .map(|(p, v)| format!("{p}=={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    let makefile = Makefile {
        generator: GENERATOR,
        top: &design.top,
        fpga_top: top,
        sources: design.files.join(" "),
        sim_models: design.sim_models.join(" "),
        target_names: TARGETS.iter().map(|t| t.name).collect::<Vec<_>>().join(" "),
        default_target: DEFAULT_TARGET,
        pins,
        targets: TARGETS.iter().map(|t| make_target(design, t)).collect(),
    };
    files.push((
        PathBuf::from("Makefile"),
        render_bytes(&makefile, "the Makefile")?,
    ));
    files.push((
        PathBuf::from(format!("{}.core", design.top)),
        core_file(design)?,
    ));
    Ok(files)
}

/// Adds the project files to the files of a design directory about to be written (they need its `manifest.json`
/// and `filelist.f`): the one call a design generator makes.
pub fn add_project_files(files: &mut ProjectFiles) -> Result<()> {
    let design = DesignInfo::from_files(files)?;
    let extra = project_files(&design)?;
    files.extend(extra);
    files.retain(|(p, _)| p != Path::new(CHECKSUMS));
    let sums = checksums_file(files);
    files.push(sums);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::design_dir::DesignKind;

    fn design(wrapper: bool) -> DesignInfo {
        DesignInfo {
            dir: PathBuf::new(),
            kind: DesignKind::PeArray,
            top: "arr".into(),
            files: if wrapper {
                vec![
                    "rtl/pe.v".into(),
                    "rtl/arr.v".into(),
                    "rtl/arr_io8.v".into(),
                ]
            } else {
                vec!["rtl/pe.v".into(), "rtl/arr.v".into()]
            },
            sim_models: Vec::new(),
            fpga_top: wrapper.then(|| "arr_io8".to_string()),
            io_word_bits: wrapper.then_some(8),
            tb_sources: if wrapper {
                vec!["tb/stream_io_tb.cpp".into(), "tb/sta_tb.h".into()]
            } else {
                Vec::new()
            },
            tb_expected_words: wrapper.then_some(18),
        }
    }

    fn text(files: &ProjectFiles, name: &str) -> String {
        let (_, bytes) = files
            .iter()
            .find(|(p, _)| p == &PathBuf::from(name))
            .unwrap_or_else(|| panic!("{name} missing"));
        String::from_utf8(bytes.clone()).unwrap()
    }

    #[test]
    fn wrapped_design_gets_boards_scripts_makefile_and_core() {
        let files = project_files(&design(true)).unwrap();
        let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
        for name in [
            "Makefile",
            "arr.core",
            "constraints/ulx3s.lpf",
            "constraints/icebreaker.pcf",
            "fpga/ecp5-85k.ys",
            "fpga/generic.ys",
        ] {
            assert!(names.contains(&name.to_string()), "{name} in {names:?}");
        }
        let mk = text(&files, "Makefile");
        assert!(
            mk.contains("ecp5-85k.PNR := --85k --package CABGA381 --lpf constraints/ulx3s.lpf\n")
        );
        assert!(mk.contains(
            "ice40-up5k.PNR := --up5k --package sg48 --pcf constraints/icebreaker.pcf\n"
        ));
        assert!(mk.contains("ecp5-85k.BITSTREAM := build/ecp5-85k/arr_io8.bit\n"));
        assert!(mk.contains("ice40-hx8k.PNR := --hx8k --package ct256\n"));
        let core = text(&files, "arr.core");
        assert!(core.starts_with("CAPI=2:\n"));
        assert!(core.contains("      - rtl/arr_io8.v\n"));
        assert!(core.contains("synth_icebreaker:"));
        assert!(text(&files, "fpga/ice40-up5k.ys").contains("synth_ice40 -dsp -top arr_io8\n"));
    }

    #[test]
    fn project_files_join_the_files_a_generator_writes() {
        let shape = sta_golden::pe_array::ArrayShape::new(2, 4, 1, 2, 32, 65536).unwrap();
        let (design, mut files) = crate::design::pe_array_files(&shape).unwrap();
        let before = files.len();
        add_project_files(&mut files).unwrap();
        // the project files, and SHA256SUMS replaced by one that covers them too
        assert_eq!(files.len(), before + TARGETS.len() + 4);
        assert!(text(&files, CHECKSUMS).contains("  Makefile\n"));
        let core = text(&files, &format!("{}.core", design.top));
        assert!(core.contains("      - tb/stimulus.hex: {file_type: user}\n"));
        assert!(core.contains("    parameters: [stim, expect, results, summary]\n"));
        let mk = text(&files, "Makefile");
        assert!(mk.contains(&format!("FPGA_TOP := {}_io8\n", design.top)));
    }

    #[test]
    fn design_without_wrapper_is_placed_out_of_context_and_has_no_board_files() {
        let files = project_files(&design(false)).unwrap();
        assert!(!files.iter().any(|(p, _)| p.starts_with("constraints")));
        let mk = text(&files, "Makefile");
        assert!(mk.contains("ecp5-25k.PNR := --25k --package CABGA381 --out-of-context\n"));
        assert!(mk.contains("ecp5-25k.BITSTREAM := \n"));
        let core = text(&files, "arr.core");
        assert!(core.contains("pnr: none"));
        assert!(!core.contains("synth_icebreaker"));
    }
}

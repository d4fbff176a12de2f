//! `sta synth`: Yosys, a fit check, nextpnr and the bitstream packer on a generated design, into a new output
//! directory that appears complete or not at all. A failed run leaves its logs in `<OUT>.failed/` (with
//! `FAILED.txt`) and nowhere else.
//!
//! Output layout (every path relative to OUT, the tools' working directory):
//! `rtl/` the sources read, `scripts/<target>.ys`, `constraints/` (board pins, when used), `build/<target>/`
//! (`stat.json`, `synth.json` the netlist, `report.json` nextpnr's report, the placed design), `logs/<tool>.log`,
//! `reports/summary.json`, `reports/summary.md`, `reports/nextpnr-report.json`, and `<top>.bit` / `<top>.bin`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sta_hdl::emit::GENERATOR;

use super::boards::Board;
use super::design_dir::DesignInfo;
use super::fit::{demands, overshoots};
use super::report::{
    clock_name, critical_path, read_nextpnr_report, read_port_bits, read_stat,
    resources_from_cells, resources_from_nextpnr, PinUse, Runtime, SynthStat, SynthSummary,
};
use super::run::{make_dir, run_tool, Progress, StepError, StepResult};
use super::scripts::{build_dir, constraints_file, nextpnr_args, pack_args, yosys_script, IoMode};
use super::target::{find_target, Family, Target};
use super::tools::{find_tools, tool_info, unpinned_note, Tool, ToolInfo, ToolKind};
use crate::error::{io_context, Result, StaError};
use crate::output::{check_overwrite, install_dir, work_dir_beside};

/// Everything `sta synth` needs; the sweep builds these directly.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthRequest {
    /// A generated design directory.
    pub design: PathBuf,
    /// A target name (see [`super::target::TARGETS`]).
    pub target: String,
    /// Clock target in MHz; `None` = the family's default.
    pub freq_mhz: Option<f64>,
    pub io: IoMode,
    /// nextpnr's placement seed.
    pub seed: u64,
    /// Pack a bitstream where the placement allows one.
    pub bitstream: bool,
    pub out: PathBuf,
    pub force: bool,
}

impl SynthRequest {
    /// A request with the defaults of the command line.
    pub fn new(design: impl Into<PathBuf>, target: &str, out: impl Into<PathBuf>) -> Self {
        SynthRequest {
            design: design.into(),
            target: target.to_string(),
            freq_mhz: None,
            io: IoMode::Auto,
            seed: 1,
            bitstream: true,
            out: out.into(),
            force: false,
        }
    }
}

pub const SUMMARY_JSON: &str = "reports/summary.json";
pub const SUMMARY_MD: &str = "reports/summary.md";
/// The marker of a failed run's log directory; an older `<OUT>.failed` is replaced only when it has one.
pub const FAILED_MARKER: &str = "FAILED.txt";

/// How every does-not-fit error starts (a sweep records such a point as a result, not a failure).
pub const DOES_NOT_FIT: &str = "the design does not fit";

/// Legal `--freq` values, MHz.
pub const FREQ_RANGE: std::ops::RangeInclusive<f64> = 1.0..=1000.0;

/// The I/O decision: the module to synthesise, the mode (undecided for `auto` without a wrapper until the port
/// count is known) and why.
struct IoPlan {
    top: String,
    mode: Option<IoMode>,
    reason: String,
}

fn plan_io(target: &Target, design: &DesignInfo, io: IoMode) -> Result<IoPlan> {
    let wrapper = || {
        design.fpga_top.clone().ok_or_else(|| {
            StaError::Usage(format!(
                "--io stream: {} has no narrow-stream wrapper (no \"fpga_top\" in its manifest.json); regenerate \
                 it with a current `sta`, or use --io direct or --io ooc",
                design.dir.display()
            ))
        })
    };
    let plan = |top: String, mode, reason: &str| IoPlan {
        top,
        mode,
        reason: reason.to_string(),
    };
    Ok(match io {
        IoMode::Stream => plan(wrapper()?, Some(IoMode::Stream), "requested with --io stream"),
        IoMode::Direct => plan(design.top.clone(), Some(IoMode::Direct), "requested with --io direct"),
        IoMode::Ooc if target.family == Family::Ice40 => {
            return Err(StaError::Usage(format!(
                "--io ooc: nextpnr-ice40 has no out-of-context mode ({} is an iCE40 target); use --io stream or \
                 --io direct, or an ECP5 target",
                target.name
            )))
        }
        IoMode::Ooc => plan(design.top.clone(), Some(IoMode::Ooc), "requested with --io ooc"),
        IoMode::Auto => match &design.fpga_top {
            Some(w) => plan(
                w.clone(),
                Some(IoMode::Stream),
                &format!(
                    "the design has a narrow-stream wrapper ({w}, {}-bit streams) that fits a real package",
                    design.io_word_bits.unwrap_or(8)
                ),
            ),
            None if target.family == Family::Generic => plan(
                design.top.clone(),
                Some(IoMode::Ooc),
                "generic synthesis has no I/O and no place and route",
            ),
            None => plan(design.top.clone(), None, ""),
        },
    })
}

/// `auto` without a wrapper: direct when the ports fit the package, else out of context where nextpnr can.
fn decide_auto(target: &Target, port_bits: u64) -> (IoMode, String) {
    let pins = target.package_pins;
    let package = format!("{} {}", target.device, target.package);
    if port_bits <= pins {
        (
            IoMode::Direct,
            format!("no wrapper in the design; its {port_bits} port bits fit the {pins} user I/O of {package}"),
        )
    } else if target.family.has_out_of_context() {
        (
            IoMode::Ooc,
            format!(
                "no wrapper in the design and its {port_bits} port bits exceed the {pins} user I/O of {package}: \
                 placed out of context (no I/O buffers)"
            ),
        )
    } else {
        (
            IoMode::Direct,
            format!(
                "no wrapper in the design, its {port_bits} port bits exceed the {pins} user I/O of {package}, and \
                 nextpnr-ice40 has no out-of-context mode"
            ),
        )
    }
}

/// Validates the request, finds the tools and runs the flow; the output directory appears only on success.
pub fn run_synth(req: &SynthRequest, progress: &dyn Progress) -> Result<SynthSummary> {
    let start = Instant::now();
    let target = find_target(&req.target)?;
    let freq = req.freq_mhz.unwrap_or(target.family.default_freq_mhz());
    if !FREQ_RANGE.contains(&freq) || !freq.is_finite() {
        return Err(StaError::Usage(format!(
            "--freq {freq} is out of range; allowed: 1 to 1000 (MHz)"
        )));
    }
    let design = DesignInfo::load(&req.design)?;
    if req.out.canonicalize().ok() == req.design.canonicalize().ok() {
        return Err(StaError::Usage(format!(
            "--out {} is the design directory; give the output its own directory",
            req.out.display()
        )));
    }
    let io = plan_io(target, &design, req.io)?;
    let sources = design.work_paths()?;
    check_overwrite(&req.out, req.force)?;
    let packs = req.bitstream && io.mode != Some(IoMode::Ooc);
    let tools = find_tools(&ToolKind::needed(target.family, packs))?;
    let infos: Vec<ToolInfo> = tools.iter().map(tool_info).collect();
    let work = work_dir_beside(&req.out, ".sta-synth-")?;
    let flow = Flow {
        req,
        target,
        freq,
        design: &design,
        sources: &sources,
        tools: &tools,
        infos: &infos,
        work: &work,
        progress,
        start,
    };
    match flow.run(io) {
        Ok(summary) => {
            install_dir(work, &req.out, req.force)?;
            Ok(summary)
        }
        Err(failure) => Err(keep_failed(work, &req.out, failure)),
    }
}

struct Flow<'a> {
    req: &'a SynthRequest,
    target: &'static Target,
    freq: f64,
    design: &'a DesignInfo,
    /// Where each design file goes in the work directory (`rtl/<name>.v`).
    sources: &'a [String],
    tools: &'a [Tool],
    infos: &'a [ToolInfo],
    work: &'a Path,
    progress: &'a dyn Progress,
    start: Instant,
}

impl Flow<'_> {
    fn tool(&self, kind: ToolKind) -> &Tool {
        self.tools
            .iter()
            .find(|t| t.kind == kind)
            .expect("tools were found for the family")
    }

    fn write(&self, relative: &str, contents: &[u8]) -> Result<()> {
        let path = self.work.join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(io_context(format!("creating {}", dir.display())))?;
        }
        std::fs::write(&path, contents).map_err(io_context(format!("writing {}", path.display())))
    }

    fn run(&self, io: IoPlan) -> StepResult<SynthSummary> {
        let target = self.target;
        let build = build_dir(target);
        for dir in ["logs", "reports", build.as_str()] {
            make_dir(self.work, dir)?;
        }
        // The sources, flat under rtl/, and the script that reads them.
        for (from, to) in self.design.files.iter().zip(self.sources) {
            let bytes = std::fs::read(self.design.dir.join(from)).map_err(io_context(format!(
                "reading {}",
                self.design.dir.join(from).display()
            )))?;
            self.write(to, &bytes)?;
        }
        let script = format!("scripts/{}.ys", target.name);
        self.write(
            &script,
            yosys_script(target, &io.top, self.sources)?.as_bytes(),
        )?;

        let yosys = self.tool(ToolKind::Yosys);
        let synth_s = run_tool(
            yosys,
            &["-s".to_string(), script.clone()],
            self.work,
            "logs/yosys.log",
            "synth",
            &format!(
                "{} {} -top {}",
                yosys.kind.name(),
                target.synth_command,
                io.top
            ),
            self.progress,
        )?;
        let stat = read_stat(&self.work.join(format!("{build}/stat.json")), &io.top)?;
        let (mode, io_reason) = match io.mode {
            Some(mode) => (mode, io.reason.clone()),
            None => decide_auto(target, stat.port_bits),
        };
        let on_pins =
            matches!(mode, IoMode::Stream | IoMode::Direct) && target.family != Family::Generic;
        self.check_fit(&stat, on_pins.then_some(stat.port_bits), mode)?;

        let mut files = BTreeMap::from([
            ("yosys_script".to_string(), script),
            ("yosys_stat".to_string(), format!("{build}/stat.json")),
            ("netlist".to_string(), format!("{build}/synth.json")),
            ("yosys_log".to_string(), "logs/yosys.log".to_string()),
        ]);
        let mut summary = SynthSummary {
            generator: GENERATOR.to_string(),
            target: target.name.to_string(),
            family: target.family,
            device: (!target.device.is_empty()).then(|| target.device.to_string()),
            package: (!target.package.is_empty()).then(|| target.package.to_string()),
            design_dir: self.req.design.display().to_string(),
            design_kind: self.design.kind.name().to_string(),
            design_top: self.design.top.clone(),
            top: io.top.clone(),
            io_mode: mode.name().to_string(),
            io_reason,
            io_pins: on_pins.then_some(PinUse {
                used: stat.port_bits,
                available: target.package_pins,
            }),
            pin_constraints: "none: out of context, no I/O".to_string(),
            board: None,
            resources: resources_from_cells(&stat.cells),
            synth_cells: stat.cells.clone(),
            fmax_mhz: BTreeMap::new(),
            constraint_mhz: None,
            fmax_min_mhz: None,
            timing_met: None,
            critical_path: None,
            tools: self.infos.to_vec(),
            runtime_s: Runtime {
                synth: round1(synth_s),
                ..Runtime::default()
            },
            bitstream: None,
            bitstream_note: String::new(),
            seed: self.req.seed,
            files: BTreeMap::new(),
            notes: self
                .tools
                .iter()
                .zip(self.infos)
                .filter_map(|(t, i)| unpinned_note(i, t.kind))
                .collect(),
        };
        if target.family == Family::Generic {
            summary.pin_constraints = "none: generic synthesis has no I/O".to_string();
            summary.bitstream_note =
                "generic synthesis is Yosys only: no place and route, no bitstream".into();
        } else {
            self.place_and_route(&mut summary, mode, &mut files)?;
        }
        summary.files = files;
        summary.runtime_s.total = round1(self.start.elapsed().as_secs_f64());
        let json = serde_json::to_string_pretty(&summary).expect("the summary serializes") + "\n";
        self.write(SUMMARY_JSON, json.as_bytes())?;
        self.write(SUMMARY_MD, summary.markdown(target).as_bytes())?;
        Ok(summary)
    }

    fn check_fit(&self, stat: &SynthStat, pins: Option<u64>, mode: IoMode) -> StepResult<()> {
        let over = overshoots(&demands(self.target, &stat.cells, pins));
        if over.is_empty() {
            return Ok(());
        }
        let hint = if mode == IoMode::Direct && self.design.fpga_top.is_none() && pins.is_some() {
            "; a design with a narrow-stream wrapper (--io stream) needs about 24 pins"
        } else {
            ""
        };
        Err(StepError {
            error: StaError::Usage(format!(
                "{DOES_NOT_FIT} {} ({}): {} (Yosys cell counts before place and route; pick a larger \
                 target or a smaller design{hint})",
                self.target.name,
                self.target.part(),
                over.join("; ")
            )),
            log: Some("logs/yosys.log".to_string()),
        })
    }

    /// The board's pin map, when the wrapper's ports are exactly the ones it constrains.
    fn board_for(&self, mode: IoMode) -> StepResult<(Option<Board>, String)> {
        let Some(board) = self.target.board else {
            return Ok((
                None,
                format!(
                    "automatic: nextpnr placed the pins ({} has no board pin map)",
                    self.target.name
                ),
            ));
        };
        if mode != IoMode::Stream {
            return Ok((None, format!("automatic: nextpnr placed the pins (the {} pin map is for the 8-bit stream wrapper)", board.name)));
        }
        let ports = read_port_bits(
            &self
                .work
                .join(format!("{}/synth.json", build_dir(self.target))),
            &self.design.fpga_top.clone().unwrap_or_default(),
        )?;
        if !board.matches_ports(&ports) {
            return Ok((None, format!(
                "automatic: nextpnr placed the pins (the wrapper's {} port bits are not the {} pin map's 8-bit stream ports)",
                ports.len(),
                board.name
            )));
        }
        Ok((
            Some(board),
            format!(
                "{} ({} pin map, clk constrained to {} MHz)",
                board.constraints, board.name, self.freq
            ),
        ))
    }

    fn place_and_route(
        &self,
        summary: &mut SynthSummary,
        mode: IoMode,
        files: &mut BTreeMap<String, String>,
    ) -> StepResult<()> {
        let target = self.target;
        let build = build_dir(target);
        let (board, pin_note) = if mode == IoMode::Ooc {
            (None, "none: out of context, no I/O buffers".to_string())
        } else {
            self.board_for(mode)?
        };
        if let Some(board) = &board {
            self.write(
                board.constraints,
                constraints_file(board, &summary.top, self.freq)?.as_bytes(),
            )?;
            files.insert("constraints".into(), board.constraints.to_string());
            summary.board = Some(board.name.to_string());
        }
        summary.pin_constraints = pin_note;
        let nextpnr = self.tool(match target.family {
            Family::Ice40 => ToolKind::NextpnrIce40,
            _ => ToolKind::NextpnrEcp5,
        });
        let args = nextpnr_args(
            target,
            mode,
            board.as_ref(),
            &summary.top,
            self.freq,
            self.req.seed,
        );
        files.insert(
            "nextpnr_args".into(),
            format!("{} {}", nextpnr.kind.name(), args.join(" ")),
        );
        let pnr_s = run_tool(
            nextpnr,
            &args,
            self.work,
            "logs/nextpnr.log",
            "pnr",
            &format!(
                "{} {} {} at {} MHz",
                nextpnr.kind.name(),
                target.part(),
                summary.top,
                self.freq
            ),
            self.progress,
        )?;
        summary.runtime_s.pnr = Some(round1(pnr_s));
        files.insert("nextpnr_log".into(), "logs/nextpnr.log".into());
        let report_path = format!("{build}/report.json");
        let report = read_nextpnr_report(&self.work.join(&report_path))?;
        std::fs::copy(
            self.work.join(&report_path),
            self.work.join("reports/nextpnr-report.json"),
        )
        .map_err(io_context("copying nextpnr's report"))?;
        files.insert(
            "nextpnr_report".into(),
            "reports/nextpnr-report.json".into(),
        );
        summary.resources = resources_from_nextpnr(target.family, &report);
        // Every generated design (and its wrapper) is clocked by `clk`.
        let ports = vec!["clk".to_string()];
        summary.fmax_mhz = report
            .fmax
            .iter()
            .map(|(net, f)| (clock_name(net, &ports), round2(f.achieved)))
            .collect();
        summary.fmax_min_mhz = report
            .fmax
            .values()
            .map(|f| round2(f.achieved))
            .min_by(f64::total_cmp);
        summary.constraint_mhz = report
            .fmax
            .values()
            .map(|f| f.constraint)
            .min_by(f64::total_cmp)
            .or(Some(self.freq));
        summary.timing_met = Some(report.fmax.values().all(|f| f.achieved >= f.constraint));
        summary.critical_path = critical_path(&report);
        if target.family == Family::Ecp5 && mode != IoMode::Ooc {
            summary.notes.push(format!(
                "nextpnr's TRELLIS_IO count is the die's I/O sites; the {} package bonds {} user I/O (io_pins)",
                target.package, target.package_pins
            ));
        }
        self.bitstream(summary, mode, board.as_ref(), files)
    }

    fn bitstream(
        &self,
        summary: &mut SynthSummary,
        mode: IoMode,
        board: Option<&Board>,
        files: &mut BTreeMap<String, String>,
    ) -> StepResult<()> {
        let Some((packed, args)) = pack_args(self.target, mode, &summary.top) else {
            summary.bitstream_note =
                "out-of-context placement has no I/O buffers: no bitstream".into();
            return Ok(());
        };
        if !self.req.bitstream {
            summary.bitstream_note = "not packed (--no-bitstream)".into();
            return Ok(());
        }
        let packer = self.tool(match self.target.family {
            Family::Ice40 => ToolKind::Icepack,
            _ => ToolKind::Ecppack,
        });
        let log = format!("logs/{}.log", packer.kind.name());
        let pack_s = run_tool(
            packer,
            &args,
            self.work,
            &log,
            "bitstream",
            &format!("{} {}", packer.kind.name(), summary.top),
            self.progress,
        )?;
        summary.runtime_s.bitstream = Some(round1(pack_s));
        let name = Path::new(&packed)
            .file_name()
            .expect("the bitstream has a file name")
            .to_string_lossy()
            .to_string();
        std::fs::rename(self.work.join(&packed), self.work.join(&name))
            .map_err(io_context(format!("moving {packed}")))?;
        files.insert("packer_log".into(), log);
        summary.bitstream = Some(name);
        summary.bitstream_note = match board {
            Some(b) => format!("for the {} ({}): pins from {}", b.name, self.target.part(), b.constraints),
            None => format!(
                "pins placed by nextpnr, not matched to any board: it configures an {} but its I/O land on arbitrary pins",
                self.target.part()
            ),
        };
        Ok(())
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Moves a failed run's work directory to `<OUT>.failed/` with a `FAILED.txt`, and returns the error with where
/// the logs are. An existing `<OUT>.failed` is replaced only when it carries the marker; otherwise the work
/// directory keeps its own name.
fn keep_failed(work: PathBuf, out: &Path, failure: StepError) -> StaError {
    let StepError { error, log } = failure;
    let marker = format!(
        "sta synth failed; this directory holds its partial results and logs, not a usable output.\n\n{error}\n"
    );
    let _ = std::fs::write(work.join(FAILED_MARKER), marker);
    let failed = PathBuf::from(format!("{}.failed", out.display()));
    let replaceable = !failed.exists()
        || (failed.join(FAILED_MARKER).is_file() && std::fs::remove_dir_all(&failed).is_ok());
    let kept = if replaceable && std::fs::rename(&work, &failed).is_ok() {
        failed
    } else {
        work
    };
    let log_note = log
        .map(|l| format!("; log: {}", kept.join(l).display()))
        .unwrap_or_default();
    let separator = |m: &str| if m.contains('\n') { "\n" } else { "; " };
    let suffix = |m: &str| {
        format!(
            "{}partial results kept in {} ({FAILED_MARKER} says what failed{log_note})",
            separator(m),
            kept.display()
        )
    };
    match error {
        StaError::Usage(m) => StaError::Usage(m.clone() + &suffix(&m)),
        StaError::Tool(m) => StaError::Tool(m.clone() + &suffix(&m)),
        StaError::Mismatch(m) => StaError::Mismatch(m.clone() + &suffix(&m)),
        StaError::Io { context, source } => StaError::Io {
            context: context.clone() + &suffix(&context),
            source,
        },
    }
}

//! The FPGA flow: `sta synth` (Yosys, a fit check, nextpnr, the bitstream packer, a JSON and Markdown report) and
//! the FPGA project files of a generated design (Makefile, Yosys scripts, board constraints, FuseSoC core).
//! See docs/fpga.md.
//!
//! - [`target`]: the parts, their resources and package pins; [`boards`]: the ULX3S and iCEBreaker pin maps.
//! - [`tools`]: finding Yosys/nextpnr/ecppack/icepack (env override, project venv, PATH) and their versions.
//! - [`design_dir`]: reading any generated design directory.
//! - [`scripts`]: the Yosys script, nextpnr and packer arguments, constraints, from `templates/fpga/`.
//! - [`run`]: running a tool step with its log and progress; [`fit`]: the pre-place-and-route fit check.
//! - [`report`]: the tools' JSON reports and [`SynthSummary`]; [`synth`]: the flow; [`project`]: project files.

pub mod boards;
pub mod design_dir;
pub mod fit;
pub mod project;
pub mod report;
pub mod run;
pub mod scripts;
pub mod synth;
pub mod target;
pub mod tools;

use std::path::PathBuf;

use clap::Args;

pub use design_dir::DesignInfo;
pub use project::{add_project_files, project_files};
pub use report::SynthSummary;
pub use run::{Progress, Silent, Spinner};
pub use scripts::IoMode;
pub use synth::{run_synth, SynthRequest};

use crate::error::Result;

#[derive(Debug, Clone, Args)]
pub struct SynthArgs {
    /// A generated design directory (`sta generate`, `sta softmax generate` or `sta lut rtl`).
    #[arg(long, value_name = "DIR")]
    pub design: PathBuf,
    /// ecp5-25k, ecp5-45k, ecp5-85k (LFE5U CABGA381, ULX3S), ice40-up5k (SG48, iCEBreaker), ice40-hx8k (CT256) or
    /// generic (Yosys only).
    #[arg(long, value_name = "T")]
    pub target: String,
    /// Clock target in MHz, 1 to 1000 [default: 125 on ECP5, 50 on iCE40].
    #[arg(long, value_name = "MHZ")]
    pub freq: Option<f64>,
    /// How the top meets the package: the narrow-stream wrapper, the design's own ports, or out of context.
    #[arg(long, value_enum, default_value_t = IoMode::Auto)]
    pub io: IoMode,
    /// nextpnr's placement seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Skip the bitstream (ecppack / icepack).
    #[arg(long)]
    pub no_bitstream: bool,
    /// Output directory (created; must not exist unless --force).
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
}

impl SynthArgs {
    pub fn request(&self) -> SynthRequest {
        SynthRequest {
            design: self.design.clone(),
            target: self.target.clone(),
            freq_mhz: self.freq,
            io: self.io,
            seed: self.seed,
            bitstream: !self.no_bitstream,
            out: self.out.clone(),
            force: self.force,
        }
    }
}

/// `sta synth`: runs the flow with a spinner and prints what it found.
pub fn run_synth_command(args: &SynthArgs) -> Result<()> {
    let summary = run_synth(&args.request(), &Spinner::default())?;
    println!("{}", summary.one_paragraph(&args.out));
    Ok(())
}

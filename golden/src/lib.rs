//! The golden model: the single, plain-Rust definition of every piece of arithmetic the STA hardware performs.
//!
//! No HDL types live here: only `i8`/`i32`/`i64` with explicit widths, wrapping and saturation spelled out
//! (the contract is the project's `docs/numerics.md`). The RTL generators, the Verilator harnesses, the CLI and the
//! reports all call into this crate.

pub mod accel;
pub mod encoder;
mod error;
pub mod functions;
pub mod gemm;
pub mod matrix;
pub mod nm;
pub mod numerics;
pub mod pe_array;
pub mod pwl;
pub mod softmax;
pub mod stream_io;
pub mod top;

pub use error::{FormatError, NmError, ParamError, PwlError, ShapeError, StreamError};
pub use matrix::Matrix;
pub use softmax::{SoftmaxError, SoftmaxNumerics, SoftmaxTrace};

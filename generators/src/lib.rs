//! The `sta` tool: configuration, design generation, GEMM runs through the simulated hardware, N:M compression.
//!
//! Data flows one way: [`config`] validates parameters into typed values → `sta_golden` defines the arithmetic →
//! `sta_hdl` elaborates the Verilog → [`design`] writes it out → `sta_testbenches` simulates it → [`gemm`] compares
//! and reports.

pub mod accel;
pub mod bench;
pub mod commands;
pub mod config;
pub mod demo;
pub mod design;
pub mod encoder;
pub mod error;
pub mod fpga;
pub mod gemm;
pub mod lut;
pub mod npy;
pub mod output;
pub mod soak;
pub mod softmax;
pub mod stream_io;
pub mod sweep;
pub mod yosys;

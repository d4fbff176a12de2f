//! The integer-only transformer encoder: every operation the STA accelerator executes for one BERT-style encoder
//! layer, as an integer contract (docs/numerics.md "Integer-only encoder"), and an interpreter that runs a compiled
//! [`Program`] over INT8 token activations.
//!
//! The accelerator and this interpreter execute the same op list ([`Op`]) over the same named on-chip buffers
//! ([`Buffer`]); everything the model needs beyond the INT8 weights is an integer parameter of the program
//! (requantisation multipliers and shifts, INT32 biases, LayerNorm gains, LUT tables). The host only quantises the
//! input embeddings ([`HostParams::input_scale`]) and dequantises, pools and normalises the final hidden state.
//!
//! Submodules: [`ops`] (the integer primitives: GEMM, requantisation, residual add, LayerNorm, GELU, attention),
//! [`program`] (the program format and its validation), [`run`] (the interpreter).

pub mod ops;
pub mod program;
pub mod run;

pub use program::{
    AttentionParams, Buffer, EncoderDims, Epilogue, HostParams, LayerParams, LinearKind,
    LinearParams, NormKind, NormMethod, NormParams, Op, Program, ProgramError, Scale, SoftmaxSpec,
    Sparsity, PROGRAM_FORMAT_VERSION,
};
pub use run::{
    quantize_input, run, run_observed, Buffers, EncoderWeights, LayerOutputs, RunError, Tokens,
};

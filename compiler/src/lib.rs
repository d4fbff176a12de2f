//! The model side of STA: everything between a trained transformer and the integer program the accelerator runs.
//!
//! Data flows one way:
//! ```text
//!  model.safetensors + tokenizer.json ──► model (BertModel, f32)          model.rs, tokenize.rs
//!        │                                   │
//!        │                  float reference (candle) ──► embeddings       float_ref.rs
//!        │                  tapped float forward ──► per-layer activations float_forward.rs
//!        ▼                                   ▼
//!  sparsity-inheritance chain (magnitude | wanda | refit) ──► N:M masks, refitted weights   prune.rs
//!        ▼
//!  calibration + INT8 quantisation ──► sta_golden::encoder::Program (integer op list)        quantize.rs
//!        ▼
//!  compressed program directory (weights in the STANM format, program.json, manifest.json)  program_dir.rs
//! ```
//! Integer arithmetic lives in `sta-golden` (the single definition the hardware is checked against); this crate only
//! chooses the integer parameters. Nothing here knows about HDL or simulators.

pub mod compressed_model;
pub mod engine;
pub mod error;
pub mod float_forward;
pub mod float_ref;
pub mod idp;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod program_dir;
pub mod prune;
pub mod quantize;
pub mod text;
pub mod tokenize;
pub mod weights;

pub use error::CompileError;
pub use model::{BertDims, BertModel, Dense, EncoderLayer, LayerNormParams, Linear, LinearKind};

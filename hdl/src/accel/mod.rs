//! The datapath units of the whole accelerator (`sta_top`, docs/accelerator.md).

pub mod epilogue;
pub mod layernorm;
pub mod top;

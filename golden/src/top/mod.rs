//! The golden side of the whole accelerator (`sta_top`, docs/accelerator.md): its configuration, the record and
//! instruction formats of its word streams, and the lowering of a program directory's contents into the one input
//! stream the chip consumes.

pub mod config;
pub mod cycles;
pub mod isa;
pub mod lower;
pub mod machine;

pub use config::{AccelConfig, AccelConfigError};

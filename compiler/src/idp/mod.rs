//! Inherited dynamic pruning (IDP): the N:M chain of the sparsity-inheritance mechanism with every level fine-tuned
//! by distillation from the dense model, on CPU with candle (autograd, AdamW).
//!
//! - [`student`]: a trainable BERT encoder (candle `Var`s) with an N:M mask per linear weight;
//! - [`data`]: the training sentences with the teacher's outputs, packed batches, the distillation loss;
//! - [`train`]: one level's fine-tuning with the mask re-selected inside the inherited set (the schedule is there);
//! - [`chain`]: the chain of levels (IDP, or the one-shot baseline), its checkpoint directory and resumption.

pub mod chain;
pub mod data;
pub mod student;
pub mod train;

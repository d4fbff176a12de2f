//! Running a compiled integer model on sentences, the way the host and the accelerator split the work: the host
//! looks up and normalises the embeddings in float and quantises them to INT8; the integer encoder (the golden
//! interpreter here, the generated accelerator in `sta run`) computes every layer; the host dequantises the last
//! layer, mean-pools it over each sentence's tokens and L2-normalises it (sentence-transformers' definition).

use sta_golden::encoder::{quantize_input, run, EncoderWeights, LayerOutputs, Program, Tokens};

use crate::error::{CompileError, Result};
use crate::float_forward::{embed_input, mean_pool_normalize};
use crate::model::{BertModel, Dense};
use crate::quantize::Compiled;

/// The host's INT8 input for a batch of tokenised sentences (`model` supplies the embedding tables).
pub fn host_input(model: &BertModel, program: &Program, sentences: &[Vec<u32>]) -> Result<Tokens> {
    let embeddings = embed_input(model, sentences)?;
    Ok(Tokens {
        x: quantize_input(&embeddings.data, &program.host.input_scales),
        lengths: sentences.iter().map(Vec::len).collect(),
    })
}

/// An INT8 layer output (tokens × channels, per-channel scales) as real numbers.
pub fn dequantize(codes: &[i8], scales: &[f32]) -> Dense {
    let cols = scales.len().max(1);
    Dense {
        rows: codes.len() / cols,
        cols,
        data: codes
            .iter()
            .zip(scales.iter().cycle())
            .map(|(&c, &s)| f32::from(c) * s)
            .collect(),
    }
}

/// The integer model's result on a batch: every layer's INT8 output and the sentence embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegerRun {
    pub tokens: Tokens,
    pub layers: LayerOutputs,
    pub embeddings: Vec<Vec<f32>>,
}

/// Runs the golden integer encoder of a compiled model on `sentences` (token ids, [CLS] … [SEP]).
pub fn run_integer(
    model: &BertModel,
    compiled: &Compiled,
    sentences: &[Vec<u32>],
) -> Result<IntegerRun> {
    run_program(model, &compiled.program, &compiled.weights, sentences)
}

/// Runs the golden integer encoder: the host input from `model`'s embedding tables, `program` on `weights`, the
/// host pooling.
pub fn run_program(
    model: &BertModel,
    program: &Program,
    weights: &EncoderWeights,
    sentences: &[Vec<u32>],
) -> Result<IntegerRun> {
    let tokens = host_input(model, program, sentences)?;
    let layers = run(program, weights, &tokens)
        .map_err(|e| CompileError::Input(format!("integer encoder: {e}")))?;
    let hidden = dequantize(layers.last(), program.host.output_scales());
    let embeddings = mean_pool_normalize(&hidden, &tokens.lengths);
    Ok(IntegerRun {
        tokens,
        layers,
        embeddings,
    })
}

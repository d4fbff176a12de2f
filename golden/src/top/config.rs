//! The parameters of one generated accelerator (`sta_top`, docs/accelerator.md "Parameters"), validated once.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::encoder::program::EncoderDims;
use crate::nm::NmPattern;

/// The accumulator width of the accelerator's array: exact for every reduction of at most 4,096 INT8 products
/// (4096 · 2^14 = 2^26 < 2^31).
pub const ACC_BITS: u32 = 32;
/// The score width SW of the softmax unit inside the accelerator (the encoder's contract: 16-bit scores).
pub const SCORE_BITS: u32 = 16;
/// Largest token count on chip (T_MAX) and largest model dimension.
pub const MAX_TOKENS: usize = 4096;
/// Stream word widths the record receiver and sender are generated for.
pub const WORD_BITS: [u32; 3] = [32, 64, 128];
/// Legal array sizes B (rows = cols = token banks).
pub const ARRAY_SIZES: [usize; 5] = [2, 4, 8, 16, 32];

/// One accelerator configuration. Build it with [`AccelConfig::new`], which checks every rule of the table in
/// docs/accelerator.md; the other modules rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccelConfig {
    /// The N:M pattern of the sparse programs it runs (dense programs always run).
    pub n: usize,
    pub m: usize,
    /// Array rows = array columns = token banks.
    pub array: usize,
    /// Softmax lanes P.
    pub lanes: usize,
    /// Tokens on chip, T_MAX (sentences of a batch padded to multiples of `array`).
    pub max_tokens: usize,
    pub dims: EncoderDims,
    /// Stream word width W.
    pub word_bits: u32,
}

/// A configuration that breaks a rule; each message names the value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccelConfigError {
    #[error("{0}")]
    Pattern(String),
    #[error("rows = {rows} and cols = {cols} differ: the accelerator's array is square (rows = cols = token banks, docs/accelerator.md)")]
    NotSquare { rows: usize, cols: usize },
    #[error("array = {0} is not one of 2, 4, 8, 16, 32")]
    Array(usize),
    #[error("n = {n} is larger than the array size {array}: dense×dense beats need N ≤ rows")]
    NAboveArray { n: usize, array: usize },
    #[error("lanes = {lanes} must be a power of two with n = {n} ≤ lanes ≤ array = {array}")]
    Lanes {
        lanes: usize,
        n: usize,
        array: usize,
    },
    #[error("max-tokens = {tokens} must be a multiple of the array size {array} between {array} and {MAX_TOKENS}")]
    Tokens { tokens: usize, array: usize },
    #[error("{name} = {value} must be a positive multiple of {unit} (max(array, M)) and at most {MAX_TOKENS}")]
    Dim {
        name: &'static str,
        value: usize,
        unit: usize,
    },
    #[error("heads = {heads} must divide d_model = {d_model} (and the head width must be a multiple of {unit})")]
    Heads {
        heads: usize,
        d_model: usize,
        unit: usize,
    },
    #[error("word-bits = {0} is not one of 32, 64, 128")]
    WordBits(u32),
}

impl AccelConfig {
    /// Validates a configuration (rows = cols = `array`).
    pub fn new(
        (n, m): (usize, usize),
        array: usize,
        lanes: usize,
        max_tokens: usize,
        dims: EncoderDims,
        word_bits: u32,
    ) -> Result<AccelConfig, AccelConfigError> {
        let config = AccelConfig {
            n,
            m,
            array,
            lanes,
            max_tokens,
            dims,
            word_bits,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every rule of docs/accelerator.md's table (also for values read back from a file).
    pub fn validate(&self) -> Result<(), AccelConfigError> {
        let (n, array) = (self.n, self.array);
        self.pattern()?;
        if !n.is_power_of_two() {
            // a dense beat takes N consecutive elements out of one M-byte buffer word (and of one B-token V word,
            // one P-lane probability word): N must divide M, B and P
            return Err(AccelConfigError::Pattern(format!(
                "n = {n} must be a power of two: a dense beat takes N consecutive elements of one buffer word"
            )));
        }
        if !ARRAY_SIZES.contains(&array) {
            return Err(AccelConfigError::Array(array));
        }
        if n > array {
            return Err(AccelConfigError::NAboveArray { n, array });
        }
        let lanes = self.lanes;
        if !lanes.is_power_of_two() || lanes < n || lanes > array {
            return Err(AccelConfigError::Lanes { lanes, n, array });
        }
        let tokens = self.max_tokens;
        if tokens < array || tokens > MAX_TOKENS || !tokens.is_multiple_of(array) {
            return Err(AccelConfigError::Tokens { tokens, array });
        }
        let unit = self.unit();
        let d = self.dims;
        for (name, value) in [("d_model", d.d_model), ("ffn", d.ffn)] {
            if value == 0 || value > MAX_TOKENS || !value.is_multiple_of(unit) {
                return Err(AccelConfigError::Dim { name, value, unit });
            }
        }
        if d.heads == 0
            || !d.d_model.is_multiple_of(d.heads)
            || !(d.d_model / d.heads).is_multiple_of(unit)
        {
            return Err(AccelConfigError::Heads {
                heads: d.heads,
                d_model: d.d_model,
                unit,
            });
        }
        if !WORD_BITS.contains(&self.word_bits) {
            return Err(AccelConfigError::WordBits(self.word_bits));
        }
        Ok(())
    }

    pub fn pattern(&self) -> Result<NmPattern, AccelConfigError> {
        NmPattern::new(self.n, self.m).map_err(|e| AccelConfigError::Pattern(e.to_string()))
    }

    /// The granularity of every model dimension: max(array, M).
    pub fn unit(&self) -> usize {
        self.array.max(self.m)
    }

    pub fn index_bits(&self) -> u32 {
        self.m.trailing_zeros()
    }

    pub fn head_dim(&self) -> usize {
        self.dims.d_model / self.dims.heads
    }

    /// Bits of one WBEAT record: R·N values and R·N indices.
    pub fn weight_beat_bits(&self) -> usize {
        self.array * self.n * (8 + self.index_bits() as usize)
    }

    /// Words of a record of `bits` bits on the stream.
    pub fn words(&self, bits: usize) -> usize {
        bits.div_ceil(self.word_bits as usize)
    }

    /// Beats of one output tile whose reduction is `k` long: K/M sparse, ⌈K/N⌉ dense.
    pub fn tile_beats(&self, k: usize, dense: bool) -> usize {
        if dense {
            k.div_ceil(self.n)
        } else {
            k / self.m
        }
    }

    /// The deepest weight tile: a dense reduction over the widest buffer.
    pub fn max_tile_beats(&self) -> usize {
        self.tile_beats(self.dims.d_model.max(self.dims.ffn), true)
    }

    /// The module name of the top: every parameter that changes the hardware.
    pub fn top_name(&self) -> String {
        let d = self.dims;
        format!(
            "sta_top_n{}m{}_b{}_p{}_t{}_d{}h{}f{}_w{}",
            self.n,
            self.m,
            self.array,
            self.lanes,
            self.max_tokens,
            d.d_model,
            d.heads,
            d.ffn,
            self.word_bits
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(d_model: usize, heads: usize, ffn: usize) -> EncoderDims {
        EncoderDims {
            d_model,
            heads,
            ffn,
            layers: 2,
        }
    }

    #[test]
    fn minilm_on_a_16x16_2of8_array_is_legal() {
        let c = AccelConfig::new((2, 8), 16, 16, 128, dims(384, 12, 1536), 64).unwrap();
        assert_eq!(c.weight_beat_bits(), 16 * 2 * 11);
        assert_eq!(c.tile_beats(384, false), 48);
        assert_eq!(c.tile_beats(384, true), 192);
        assert_eq!(c.max_tile_beats(), 768);
        assert_eq!(c.words(64), 1);
        assert_eq!(c.top_name(), "sta_top_n2m8_b16_p16_t128_d384h12f1536_w64");
    }

    #[test]
    fn every_rule_is_checked_with_a_message() {
        let ok =
            |c: Result<AccelConfig, AccelConfigError>| c.map(|_| ()).map_err(|e| e.to_string());
        let tiny = dims(32, 2, 64);
        assert!(ok(AccelConfig::new((2, 8), 8, 4, 16, tiny, 32)).is_ok());
        let bad = [
            AccelConfig::new((9, 8), 8, 8, 16, tiny, 32),
            AccelConfig::new((2, 8), 6, 4, 16, tiny, 32),
            AccelConfig::new((8, 8), 4, 4, 16, tiny, 32),
            AccelConfig::new((2, 8), 8, 1, 16, tiny, 32),
            AccelConfig::new((2, 8), 8, 16, 16, tiny, 32),
            AccelConfig::new((2, 8), 8, 4, 12, tiny, 32),
            AccelConfig::new((2, 8), 8, 4, 8192, tiny, 32),
            AccelConfig::new((2, 8), 8, 4, 16, dims(36, 2, 64), 32),
            AccelConfig::new((2, 8), 8, 4, 16, dims(32, 8, 64), 32),
            AccelConfig::new((2, 8), 8, 4, 16, dims(32, 2, 60), 32),
            AccelConfig::new((2, 8), 8, 4, 16, tiny, 48),
            AccelConfig::new((3, 8), 8, 4, 16, tiny, 32),
        ];
        for c in bad {
            let message = ok(c).unwrap_err();
            assert!(
                message.contains('=') || message.contains("must"),
                "{message}"
            );
        }
    }
}

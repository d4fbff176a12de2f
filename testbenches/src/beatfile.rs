//! The text beat files exchanged with the C++ harness, and the bus packing behind them.
//!
//! Every bus is written as one hex number, most significant digit first, exactly `max(1, ceil(bits / 4))` digits
//! (zero-padded, lower case). Lane `l` of a bus with `w`-bit lanes occupies bits `[l·w +: w]` (docs/pe-array.md),
//! so lane 0 is at the right-hand end of the string. Lines:
//!
//! - weights: `<last> <dense> <s_w_tdata hex> <s_w_tidx hex>`, e.g. `0 0 80ff 1b` (flags are `0`/`1`);
//! - activations: `<last> <s_a_tdata hex>`;
//! - results (written by the harness): `<last> <m_y_tdata hex>`.
//!
//! A zero-width field (index width 0 when m = 1) is written as `0`.

use sta_golden::pe_array::{ActBeat, ArrayShape, ResultBeat, WeightBeat};

use crate::error::SimError;

/// A little-endian bit vector exactly as wide as one bus.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bits {
    words: Vec<u64>,
    width: usize,
}

impl Bits {
    fn zeros(width: usize) -> Self {
        Bits {
            words: vec![0; width.div_ceil(64).max(1)],
            width,
        }
    }

    /// ORs the low `bits` (0..=64) bits of `value` in at `offset`; the field must lie inside the vector. Word at a
    /// time: a beat file of a large array holds millions of bits, and packing them one by one cost more than the
    /// simulation (`sta gemm` 16×16, perf).
    fn set_field(&mut self, offset: usize, bits: u32, value: u64) {
        if bits == 0 {
            return;
        }
        let value = value & low_mask(bits);
        let (word, shift) = (offset / 64, offset % 64);
        self.words[word] |= value << shift;
        if shift + bits as usize > 64 {
            self.words[word + 1] |= value >> (64 - shift);
        }
    }

    /// The `bits` (0..=64) bits at `offset`, as the low bits of the result.
    fn field(&self, offset: usize, bits: u32) -> u64 {
        if bits == 0 {
            return 0;
        }
        let (word, shift) = (offset / 64, offset % 64);
        let mut value = self.words[word] >> shift;
        if shift + bits as usize > 64 {
            value |= self.words[word + 1] << (64 - shift);
        }
        value & low_mask(bits)
    }

    fn digit(&self, i: usize) -> u64 {
        let bits = (self.width.saturating_sub(4 * i)).min(4) as u32;
        self.field(4 * i, bits)
    }

    fn to_hex(&self) -> String {
        let n = hex_digits(self.width);
        (0..n)
            .rev()
            .map(|i| char::from_digit(self.digit(i) as u32, 16).unwrap_or('0'))
            .collect()
    }

    fn from_hex(s: &str, width: usize) -> Result<Self, SimError> {
        let n = hex_digits(width);
        if s.len() != n {
            return Err(hex_err(format!(
                "{} digits where a {width}-bit bus needs {n}",
                s.len()
            )));
        }
        let mut bits = Bits::zeros(width.max(4 * n));
        for (i, c) in s.chars().rev().enumerate() {
            let v = c
                .to_digit(16)
                .ok_or_else(|| hex_err(format!("'{c}' is not a hex digit")))?;
            bits.set_field(4 * i, 4, u64::from(v));
        }
        bits.truncate(width)
    }

    /// Narrows to `width` bits, rejecting set bits above it (a harness/bus width mismatch).
    fn truncate(mut self, width: usize) -> Result<Self, SimError> {
        if (width..self.width).any(|b| self.field(b, 1) == 1) {
            return Err(hex_err(format!("value does not fit in {width} bits")));
        }
        self.words.truncate(width.div_ceil(64).max(1));
        self.width = width;
        Ok(self)
    }
}

/// The low `bits` (0..=64) bits set.
fn low_mask(bits: u32) -> u64 {
    u64::MAX.checked_shr(64 - bits).unwrap_or(0)
}

fn hex_err(reason: String) -> SimError {
    SimError::Hex { reason }
}

/// Digits in the hex form of a `bits`-wide bus: never zero, so every field is a visible token.
pub fn hex_digits(bits: usize) -> usize {
    bits.div_ceil(4).max(1)
}

/// Packs unsigned lane values (each masked to `lane_bits`) into the MSB-first hex string of the bus.
pub fn pack_lanes(lanes: &[u64], lane_bits: u32) -> String {
    let mut bits = Bits::zeros(lanes.len() * lane_bits as usize);
    for (l, &v) in lanes.iter().enumerate() {
        bits.set_field(l * lane_bits as usize, lane_bits, v);
    }
    bits.to_hex()
}

/// Packs signed INT8 lanes (two's complement, so -128 is `80`).
pub fn pack_i8_lanes(values: &[i8]) -> String {
    let lanes: Vec<u64> = values.iter().map(|&v| u64::from(v as u8)).collect();
    pack_lanes(&lanes, 8)
}

/// Packs weight indices of `index_bits` bits each.
pub fn pack_indices(indices: &[u8], index_bits: u32) -> String {
    let lanes: Vec<u64> = indices.iter().map(|&v| u64::from(v)).collect();
    pack_lanes(&lanes, index_bits)
}

/// Interprets `x`'s low `width` bits as a two's-complement number (`width` in 1..=64).
pub fn sign_extend(x: u64, width: u32) -> i64 {
    let shift = 64 - width.clamp(1, 64);
    ((x << shift) as i64) >> shift
}

/// Splits an MSB-first hex bus into `lanes` signed lanes of `lane_bits` (1..=64) bits each.
pub fn unpack_signed_lanes(hex: &str, lanes: usize, lane_bits: u32) -> Result<Vec<i64>, SimError> {
    let bits = Bits::from_hex(hex, lanes * lane_bits as usize)?;
    Ok((0..lanes)
        .map(|l| sign_extend(bits.field(l * lane_bits as usize, lane_bits), lane_bits))
        .collect())
}

/// Rejects shapes the packing cannot represent: results must fit i64 and indices must use all of log2(m) bits.
pub fn check_shape(shape: &ArrayShape) -> Result<(), SimError> {
    let reason = if shape.n == 0 || shape.m == 0 || shape.rows == 0 || shape.cols == 0 {
        Some("every dimension must be at least 1".to_string())
    } else if !(1..=64).contains(&shape.acc_width) {
        Some(format!("acc_width {} is outside 1..=64", shape.acc_width))
    } else if 1usize.checked_shl(shape.index_bits()) != Some(shape.m) {
        Some(format!("m = {} is not a power of two", shape.m))
    } else {
        None
    };
    reason.map_or(Ok(()), |reason| Err(SimError::UnsupportedShape { reason }))
}

fn check_lanes(
    stream: &'static str,
    beat: usize,
    field: &'static str,
    expected: usize,
    got: usize,
) -> Result<(), SimError> {
    if expected == got {
        return Ok(());
    }
    Err(SimError::BeatLanes {
        stream,
        beat,
        field,
        expected,
        got,
    })
}

fn flag(b: bool) -> char {
    if b {
        '1'
    } else {
        '0'
    }
}

/// The weight-file line of beat number `index` (the number only labels errors).
pub fn weight_line(
    beat: &WeightBeat,
    index: usize,
    shape: &ArrayShape,
) -> Result<String, SimError> {
    let lanes = shape.rows * shape.n;
    check_lanes("weight", index, "values", lanes, beat.values.len())?;
    check_lanes("weight", index, "indices", lanes, beat.indices.len())?;
    if let Some((lane, &i)) = beat
        .indices
        .iter()
        .enumerate()
        .find(|(_, &i)| usize::from(i) >= shape.m)
    {
        return Err(SimError::IndexRange {
            beat: index,
            lane,
            index: i,
            m: shape.m,
        });
    }
    let values = pack_i8_lanes(&beat.values);
    let indices = pack_indices(&beat.indices, shape.index_bits());
    Ok(format!(
        "{} {} {values} {indices}",
        flag(beat.last),
        flag(beat.dense)
    ))
}

/// The activation-file line of beat number `index`.
pub fn act_line(beat: &ActBeat, index: usize, shape: &ArrayShape) -> Result<String, SimError> {
    check_lanes(
        "activation",
        index,
        "values",
        shape.cols * shape.m,
        beat.values.len(),
    )?;
    Ok(format!(
        "{} {}",
        flag(beat.last),
        pack_i8_lanes(&beat.values)
    ))
}

/// Parses one result line (`last hex`) into `cols` values sign-extended from `acc_width` bits.
pub fn parse_result_line(line: &str, shape: &ArrayShape) -> Result<ResultBeat, SimError> {
    let mut parts = line.split_whitespace();
    let (Some(last), Some(hex), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(hex_err(format!("expected `last hex`, got `{line}`")));
    };
    let last = match last {
        "0" => false,
        "1" => true,
        other => return Err(hex_err(format!("last flag `{other}` is not 0 or 1"))),
    };
    let values = unpack_signed_lanes(hex, shape.cols, shape.acc_width)?;
    Ok(ResultBeat { values, last })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n: usize, m: usize, rows: usize, cols: usize, acc_width: u32) -> ArrayShape {
        ArrayShape {
            n,
            m,
            rows,
            cols,
            acc_width,
            max_k: 1024,
            dsp: Default::default(),
        }
    }

    #[test]
    fn i8_lanes_are_msb_first_twos_complement() {
        assert_eq!(pack_i8_lanes(&[-128]), "80");
        assert_eq!(pack_i8_lanes(&[1, -1]), "ff01");
        assert_eq!(pack_i8_lanes(&[-128, 127, 0, -2]), "fe007f80");
        assert_eq!(pack_i8_lanes(&[]), "0");
    }

    #[test]
    fn index_packing_for_every_index_width() {
        assert_eq!(pack_indices(&[1, 0, 1, 1], 1), "d");
        assert_eq!(pack_indices(&[1, 0, 1, 1, 1], 1), "1d");
        assert_eq!(pack_indices(&[3, 2, 1, 0], 2), "1b");
        assert_eq!(pack_indices(&[7, 0, 5], 3), "147");
        assert_eq!(pack_indices(&[1, 2, 3], 3), "0d1");
        assert_eq!(pack_indices(&[15, 0, 9], 4), "90f");
        assert_eq!(pack_indices(&[4, 1], 3), "0c");
    }

    #[test]
    fn lane_values_are_masked_to_their_width() {
        assert_eq!(pack_lanes(&[0x1ff, 0], 8), "00ff");
        assert_eq!(pack_lanes(&[u64::MAX], 64), "ffffffffffffffff");
        assert_eq!(pack_lanes(&[u64::MAX, 1], 33), "000000003ffffffff");
    }

    #[test]
    fn results_sign_extend_for_common_acc_widths() {
        // 17 bits, lanes [-1, 65535, -65536]: 51 bits -> 13 digits.
        let lanes = [(1u64 << 17) - 1, 0xffff, 1 << 16];
        let hex = pack_lanes(&lanes, 17);
        assert_eq!(hex.len(), 13);
        assert_eq!(
            unpack_signed_lanes(&hex, 3, 17).ok(),
            Some(vec![-1, 65535, -65536])
        );
        let hex = pack_lanes(&[0x8000_0000, 0x7fff_ffff], 32);
        assert_eq!(hex, "7fffffff80000000");
        assert_eq!(
            unpack_signed_lanes(&hex, 2, 32).ok(),
            Some(vec![i64::from(i32::MIN), i64::from(i32::MAX)])
        );
        let m48 = (1u64 << 48) - 1;
        let hex = pack_lanes(&[m48, 1 << 47, 5], 48);
        assert_eq!(
            unpack_signed_lanes(&hex, 3, 48).ok(),
            Some(vec![-1, -(1i64 << 47), 5])
        );
    }

    /// The word-at-a-time field access against a bit-at-a-time reference, on random fields that start anywhere
    /// and cross word boundaries, of every width 0..=64.
    #[test]
    fn fields_match_a_bit_by_bit_reference() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20_000 {
            let width = rng.gen_range(1..=300usize);
            let bits = rng.gen_range(0..=64u32.min(width as u32));
            let offset = rng.gen_range(0..=width - bits as usize);
            let value: u64 = rng.gen();
            let mut v = Bits::zeros(width);
            let noise: Vec<u64> = v.words.iter().map(|_| rng.gen()).collect();
            v.words.clone_from(&noise);
            v.set_field(offset, bits, value);
            let mut reference = noise.clone();
            for b in 0..bits as usize {
                if (value >> b) & 1 == 1 {
                    reference[(offset + b) / 64] |= 1 << ((offset + b) % 64);
                }
            }
            assert_eq!(
                v.words, reference,
                "set_field({offset}, {bits}) in {width} bits"
            );
            let expected = (0..bits as usize).fold(0u64, |acc, b| {
                acc | (((reference[(offset + b) / 64] >> ((offset + b) % 64)) & 1) << b)
            });
            assert_eq!(
                v.field(offset, bits),
                expected,
                "field({offset}, {bits}) in {width} bits"
            );
        }
    }

    #[test]
    fn sign_extend_edges() {
        assert_eq!(sign_extend(1, 1), -1);
        assert_eq!(sign_extend(0x1_0000, 17), -65536);
        assert_eq!(sign_extend(u64::MAX, 64), -1);
        assert_eq!(sign_extend(0xffff_ffff_0000_0001, 32), 1);
    }

    #[test]
    fn bad_result_hex_is_an_error_not_a_panic() {
        assert!(unpack_signed_lanes("fff", 2, 8).is_err());
        assert!(unpack_signed_lanes("zz", 1, 8).is_err());
        assert!(unpack_signed_lanes("3ffff", 1, 17).is_err());
        assert!(parse_result_line("2 00", &shape(1, 2, 1, 1, 8)).is_err());
        assert!(parse_result_line("1", &shape(1, 2, 1, 1, 8)).is_err());
    }

    #[test]
    fn weight_and_act_lines() {
        let s = shape(2, 4, 2, 1, 32);
        let w = WeightBeat {
            values: vec![-128, 1, 2, -1],
            indices: vec![3, 0, 1, 2],
            dense: false,
            last: true,
        };
        assert_eq!(
            weight_line(&w, 0, &s).ok().as_deref(),
            Some("1 0 ff020180 93")
        );
        let a = ActBeat {
            values: vec![1, 2, 3, -128],
            last: false,
        };
        assert_eq!(act_line(&a, 0, &s).ok().as_deref(), Some("0 80030201"));
        let r = parse_result_line("1 fffffffe", &s).ok();
        assert_eq!(
            r,
            Some(ResultBeat {
                values: vec![-2],
                last: true
            })
        );
    }

    #[test]
    fn beat_validation() {
        let s = shape(2, 4, 2, 1, 32);
        let w = WeightBeat {
            values: vec![0; 4],
            indices: vec![0, 4, 0, 0],
            dense: false,
            last: false,
        };
        assert!(matches!(
            weight_line(&w, 3, &s),
            Err(SimError::IndexRange {
                beat: 3,
                lane: 1,
                ..
            })
        ));
        let w = WeightBeat {
            values: vec![0; 3],
            indices: vec![0; 4],
            dense: false,
            last: false,
        };
        assert!(matches!(
            weight_line(&w, 0, &s),
            Err(SimError::BeatLanes {
                expected: 4,
                got: 3,
                ..
            })
        ));
        assert!(check_shape(&shape(2, 3, 1, 1, 32)).is_err());
        assert!(check_shape(&shape(2, 4, 1, 1, 65)).is_err());
        assert!(check_shape(&shape(2, 4, 1, 1, 17)).is_ok());
    }
}

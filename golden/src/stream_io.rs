//! The word format of the narrow-stream I/O wrapper (docs/stream-io.md): how one beat of a design's wide stream
//! ports travels as a run of W-bit words.
//!
//! A beat is the concatenation of its fields, the first field at bit 0. It is sent as K = ⌈beat bits / W⌉ words, word
//! k carrying beat bits [k·W, k·W + W); the bits of the last word above the beat are zero when packed and ignored when
//! unpacked. Every width is explicit: a [`Field`] carries its own, and [`WordFormat`] checks each one against the
//! layout, so a value that does not fit is an error rather than a silently truncated word.
//!
//! [`layouts`] gives the field layouts of the PE array and the softmax unit and converts their beats.

pub mod layouts;

use thiserror::Error;

/// Widest word: words are handled as `u64`.
pub const MAX_WORD_BITS: u32 = 64;

const LIMB_BITS: u32 = 64;

/// A beat, a field or a word stream that does not fit its format. One line, like the crate's other errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StreamIoError {
    #[error("word_bits = {0} is outside 1..={MAX_WORD_BITS}: a word has at least one and at most {MAX_WORD_BITS} bits")]
    WordBits(u32),
    #[error("the layout has no bits: a beat needs at least one field of at least one bit")]
    EmptyLayout,
    #[error("beat {beat} has {found} fields but the layout has {expected}: every beat carries every field")]
    FieldCount {
        beat: usize,
        found: usize,
        expected: usize,
    },
    #[error("beat {beat}, field {name}: {found} bits but the layout gives it {expected}")]
    FieldWidth {
        beat: usize,
        name: &'static str,
        found: u32,
        expected: u32,
    },
    #[error("beat {beat}, field {name}: {found} limbs for {bits} bits (needs {expected}), or bits set above bit {bits}")]
    FieldValue {
        beat: usize,
        name: &'static str,
        bits: u32,
        found: usize,
        expected: usize,
    },
    #[error("word {index} = {value:#x} has bits set above word_bits = {word_bits}")]
    WordValue {
        index: usize,
        value: u64,
        word_bits: u32,
    },
    #[error("{words} words are not a whole number of beats of {per_beat} words")]
    PartialBeat { words: usize, per_beat: usize },
}

/// One field of a layout: the design port it drives (or comes from) and its width in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub bits: u32,
}

/// One field value: `bits` wide, as little-endian `u64` limbs (limb i holds bits 64·i … 64·i + 63). A valid value has
/// exactly ⌈bits/64⌉ limbs and no bit set at or above `bits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub bits: u32,
    pub limbs: Vec<u64>,
}

/// One beat: its field values, in layout order.
pub type Beat = Vec<Field>;

fn mask(bits: u32) -> u64 {
    if bits >= LIMB_BITS {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

fn limbs_for(bits: u64) -> usize {
    bits.div_ceil(u64::from(LIMB_BITS)) as usize
}

/// `n ≤ 64` bits of `limbs` starting at bit `at`; bits past the end read as zero.
fn read_bits(limbs: &[u64], at: u64, n: u32) -> u64 {
    if n == 0 {
        return 0;
    }
    let (i, s) = ((at / 64) as usize, (at % 64) as u32);
    let low = limbs.get(i).map_or(0, |l| l >> s);
    let high = match s {
        0 => 0,
        _ => limbs.get(i + 1).map_or(0, |l| l << (LIMB_BITS - s)),
    };
    (low | high) & mask(n)
}

/// ORs `value` (`n ≤ 64` bits, nothing above) into `limbs` at bit `at`; `limbs` must reach bit `at + n − 1`.
fn write_bits(limbs: &mut [u64], at: u64, n: u32, value: u64) {
    if n == 0 {
        return;
    }
    let (i, s) = ((at / 64) as usize, (at % 64) as u32);
    limbs[i] |= value << s;
    if s != 0 && s + n > LIMB_BITS {
        limbs[i + 1] |= value >> (LIMB_BITS - s);
    }
}

/// Copies `bits` bits of `src` from bit `src_at` into `dst` (zero there) at bit `dst_at`, 64 at a time.
fn copy_bits(dst: &mut [u64], dst_at: u64, src: &[u64], src_at: u64, bits: u64) {
    let mut done = 0u64;
    while done < bits {
        let n = (bits - done).min(u64::from(LIMB_BITS)) as u32;
        write_bits(dst, dst_at + done, n, read_bits(src, src_at + done, n));
        done += u64::from(n);
    }
}

impl Field {
    /// A field of at most 64 bits; `value` must fit (checked when the beat is packed).
    pub fn from_u64(value: u64, bits: u32) -> Field {
        let limbs = if bits == 0 { Vec::new() } else { vec![value] };
        Field { bits, limbs }
    }

    /// One bit.
    pub fn flag(value: bool) -> Field {
        Field::from_u64(u64::from(value), 1)
    }

    /// Lanes of `lane_bits` (≤ 64) each, lane i at bits [i·lane_bits, (i+1)·lane_bits). Each lane keeps its low
    /// `lane_bits` bits: pass signed values as their two's complement (`v as u64`).
    pub fn from_lanes(lanes: impl IntoIterator<Item = u64>, lane_bits: u32) -> Field {
        let lanes: Vec<u64> = lanes.into_iter().collect();
        let bits = lanes.len() as u64 * u64::from(lane_bits);
        let mut limbs = vec![0u64; limbs_for(bits)];
        for (i, lane) in lanes.iter().enumerate() {
            write_bits(
                &mut limbs,
                i as u64 * u64::from(lane_bits),
                lane_bits,
                lane & mask(lane_bits),
            );
        }
        Field {
            bits: bits as u32,
            limbs,
        }
    }

    /// The field split into lanes of `lane_bits` (≤ 64), lane 0 first; a partial top lane is dropped.
    pub fn lanes(&self, lane_bits: u32) -> Vec<u64> {
        let count = self.bits.checked_div(lane_bits).unwrap_or(0);
        (0..count)
            .map(|i| read_bits(&self.limbs, u64::from(i * lane_bits), lane_bits))
            .collect()
    }

    /// The low 64 bits as a number.
    pub fn low_u64(&self) -> u64 {
        read_bits(&self.limbs, 0, self.bits.min(LIMB_BITS))
    }

    fn is_valid(&self) -> bool {
        let expected = limbs_for(u64::from(self.bits));
        let top_ok = match (self.limbs.last(), self.bits % LIMB_BITS) {
            (Some(&top), rem) if rem != 0 => top & !mask(rem) == 0,
            _ => true,
        };
        self.limbs.len() == expected && top_ok
    }
}

/// A validated layout: the word width and the fields of one beat, first field at bit 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordFormat {
    word_bits: u32,
    fields: Vec<FieldSpec>,
}

impl WordFormat {
    /// `word_bits` in 1..=64 and at least one bit of payload.
    pub fn new(word_bits: u32, fields: Vec<FieldSpec>) -> Result<WordFormat, StreamIoError> {
        if !(1..=MAX_WORD_BITS).contains(&word_bits) {
            return Err(StreamIoError::WordBits(word_bits));
        }
        if fields.iter().all(|f| f.bits == 0) {
            return Err(StreamIoError::EmptyLayout);
        }
        Ok(WordFormat { word_bits, fields })
    }

    pub fn word_bits(&self) -> u32 {
        self.word_bits
    }

    pub fn fields(&self) -> &[FieldSpec] {
        &self.fields
    }

    /// Payload bits of one beat: the sum of the field widths.
    pub fn beat_bits(&self) -> u64 {
        self.fields.iter().map(|f| u64::from(f.bits)).sum()
    }

    /// K = ⌈beat bits / W⌉.
    pub fn words_per_beat(&self) -> usize {
        self.beat_bits().div_ceil(u64::from(self.word_bits)) as usize
    }

    /// Bit offset of each field inside the beat.
    pub fn offsets(&self) -> Vec<u64> {
        self.fields
            .iter()
            .scan(0u64, |at, f| {
                let here = *at;
                *at += u64::from(f.bits);
                Some(here)
            })
            .collect()
    }

    /// The words of `beats`, K per beat, in order.
    pub fn pack(&self, beats: &[Beat]) -> Result<Vec<u64>, StreamIoError> {
        let mut words = Vec::with_capacity(beats.len() * self.words_per_beat());
        for (index, beat) in beats.iter().enumerate() {
            words.extend(self.pack_beat(index, beat)?);
        }
        Ok(words)
    }

    fn pack_beat(&self, beat_index: usize, beat: &Beat) -> Result<Vec<u64>, StreamIoError> {
        if beat.len() != self.fields.len() {
            return Err(StreamIoError::FieldCount {
                beat: beat_index,
                found: beat.len(),
                expected: self.fields.len(),
            });
        }
        let mut bits = vec![0u64; limbs_for(self.beat_bits())];
        for ((spec, value), at) in self.fields.iter().zip(beat).zip(self.offsets()) {
            if value.bits != spec.bits {
                return Err(StreamIoError::FieldWidth {
                    beat: beat_index,
                    name: spec.name,
                    found: value.bits,
                    expected: spec.bits,
                });
            }
            if !value.is_valid() {
                return Err(StreamIoError::FieldValue {
                    beat: beat_index,
                    name: spec.name,
                    bits: spec.bits,
                    found: value.limbs.len(),
                    expected: limbs_for(u64::from(spec.bits)),
                });
            }
            copy_bits(&mut bits, at, &value.limbs, 0, u64::from(spec.bits));
        }
        let w = u64::from(self.word_bits);
        Ok((0..self.words_per_beat() as u64)
            .map(|k| read_bits(&bits, k * w, self.word_bits))
            .collect())
    }

    /// The beats of `words` (a whole number of beats); the bits of each last word above the beat are ignored.
    pub fn unpack(&self, words: &[u64]) -> Result<Vec<Beat>, StreamIoError> {
        let per_beat = self.words_per_beat();
        if !words.len().is_multiple_of(per_beat) {
            return Err(StreamIoError::PartialBeat {
                words: words.len(),
                per_beat,
            });
        }
        if let Some(index) = words.iter().position(|&w| w & !mask(self.word_bits) != 0) {
            return Err(StreamIoError::WordValue {
                index,
                value: words[index],
                word_bits: self.word_bits,
            });
        }
        let w = u64::from(self.word_bits);
        let offsets = self.offsets();
        Ok(words
            .chunks(per_beat)
            .map(|chunk| {
                let mut bits = vec![0u64; limbs_for(per_beat as u64 * w)];
                for (k, &word) in chunk.iter().enumerate() {
                    write_bits(&mut bits, k as u64 * w, self.word_bits, word);
                }
                self.fields
                    .iter()
                    .zip(&offsets)
                    .map(|(spec, &at)| {
                        let mut limbs = vec![0u64; limbs_for(u64::from(spec.bits))];
                        copy_bits(&mut limbs, 0, &bits, at, u64::from(spec.bits));
                        Field {
                            bits: spec.bits,
                            limbs,
                        }
                    })
                    .collect()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &'static str, bits: u32) -> FieldSpec {
        FieldSpec { name, bits }
    }

    /// A 5-bit, a 1-bit and a 12-bit field: 18 bits, not a multiple of 8, 16 or 32.
    fn odd_layout(word_bits: u32) -> WordFormat {
        WordFormat::new(word_bits, vec![spec("a", 5), spec("b", 1), spec("c", 12)]).unwrap()
    }

    fn odd_beat(a: u64, b: bool, c: u64) -> Beat {
        vec![
            Field::from_u64(a, 5),
            Field::flag(b),
            Field::from_u64(c, 12),
        ]
    }

    #[test]
    fn worked_example_of_the_docs() {
        // a = 0b10110 at bits 0..5, b = 1 at bit 5, c = 0xabc at bits 6..18: beat = 0xabc << 6 | 1 << 5 | 0x16
        let beat = (0xabcu64 << 6) | (1 << 5) | 0x16;
        assert_eq!(beat, 0x2af36);
        let words = |w: u32| odd_layout(w).pack(&[odd_beat(0x16, true, 0xabc)]).unwrap();
        assert_eq!(words(8), vec![0x36, 0xaf, 0x02]);
        assert_eq!(words(16), vec![0xaf36, 0x0002]);
        assert_eq!(words(32), vec![0x0002_af36]);
    }

    #[test]
    fn round_trip_for_every_word_width() {
        let beats = vec![
            odd_beat(0, false, 0),
            odd_beat(31, true, 4095),
            odd_beat(0x15, false, 0x5a5),
        ];
        for w in [1, 3, 8, 16, 32, 64] {
            let format = odd_layout(w);
            let words = format.pack(&beats).unwrap();
            assert_eq!(words.len(), 3 * format.words_per_beat(), "W = {w}");
            assert_eq!(format.words_per_beat(), 18usize.div_ceil(w as usize));
            assert!(words.iter().all(|&x| x <= mask(w)), "W = {w}");
            assert_eq!(format.unpack(&words).unwrap(), beats, "W = {w}");
        }
    }

    #[test]
    fn wide_fields_cross_limbs_and_words() {
        // 70 + 3 + 130 bits: fields straddle 64-bit limbs and every word boundary.
        let format =
            WordFormat::new(16, vec![spec("x", 70), spec("y", 3), spec("z", 130)]).unwrap();
        let x = Field {
            bits: 70,
            limbs: vec![0x0123_4567_89ab_cdef, 0x2a],
        };
        let z = Field {
            bits: 130,
            limbs: vec![u64::MAX, 0x8000_0000_0000_0001, 0x3],
        };
        let beat = vec![x, Field::from_u64(5, 3), z];
        let words = format.pack(std::slice::from_ref(&beat)).unwrap();
        assert_eq!(words.len(), 203usize.div_ceil(16));
        assert_eq!(words[0], 0xcdef);
        assert_eq!(words[3], 0x0123);
        // bits 64..80 = x[64..70] (0x2a), y (5) at 70..73, z[0..7] (all ones) at 73..80
        assert_eq!(words[4], 0x2a | (5 << 6) | (0x7f << 9));
        // the last word holds z's bits 119..130 (11 bits: 1, then ...0011 at the top) and five zero pad bits
        assert_eq!(words[12] >> 11, 0);
        assert_eq!(format.unpack(&words).unwrap(), vec![beat]);
    }

    #[test]
    fn pad_bits_are_zero_when_packed_and_ignored_when_unpacked() {
        let format = odd_layout(8);
        let mut words = format.pack(&[odd_beat(31, true, 4095)]).unwrap();
        assert_eq!(words[2], 0x03, "18 bits: two of the third word");
        words[2] |= 0xfc;
        assert_eq!(
            format.unpack(&words).unwrap(),
            vec![odd_beat(31, true, 4095)]
        );
    }

    #[test]
    fn lanes_round_trip_with_twos_complement() {
        let values = [-128i8, 127, 0, -1, 5];
        let f = Field::from_lanes(values.iter().map(|&v| v as u64), 8);
        assert_eq!(f.bits, 40);
        assert_eq!(f.limbs, vec![0x05_ff00_7f80]);
        let back: Vec<i8> = f.lanes(8).iter().map(|&l| l as u8 as i8).collect();
        assert_eq!(back, values);
        let idx = Field::from_lanes([1u64, 7, 0, 3], 3);
        assert_eq!(idx.limbs, vec![1 | (7 << 3) | (3 << 9)]);
        assert_eq!(idx.lanes(3), vec![1, 7, 0, 3]);
        assert_eq!(Field::from_lanes([], 8), Field::from_u64(0, 0));
    }

    #[test]
    fn malformed_input_is_refused() {
        assert_eq!(
            WordFormat::new(0, vec![spec("a", 1)]),
            Err(StreamIoError::WordBits(0))
        );
        assert_eq!(
            WordFormat::new(65, vec![spec("a", 1)]),
            Err(StreamIoError::WordBits(65))
        );
        assert_eq!(
            WordFormat::new(8, vec![spec("a", 0)]),
            Err(StreamIoError::EmptyLayout)
        );
        let format = odd_layout(8);
        assert!(matches!(
            format.pack(&[vec![Field::from_u64(1, 5)]]),
            Err(StreamIoError::FieldCount {
                found: 1,
                expected: 3,
                ..
            })
        ));
        assert!(matches!(
            format.pack(&[odd_beat(32, false, 0)]),
            Err(StreamIoError::FieldValue { name: "a", .. })
        ));
        let mut wide = odd_beat(0, false, 0);
        wide[2] = Field::from_u64(0, 13);
        assert!(matches!(
            format.pack(&[wide]),
            Err(StreamIoError::FieldWidth {
                name: "c",
                found: 13,
                expected: 12,
                ..
            })
        ));
        assert_eq!(
            format.unpack(&[1, 2]),
            Err(StreamIoError::PartialBeat {
                words: 2,
                per_beat: 3
            })
        );
        assert!(matches!(
            format.unpack(&[1, 0x100, 0]),
            Err(StreamIoError::WordValue { index: 1, .. })
        ));
    }
}

//! The records and instructions of the accelerator's word streams (docs/accelerator.md "The stream" and
//! "Instructions"): bit-exact encoders, and decoders for what the chip sends back.

use super::config::AccelConfig;

/// A record under construction: a little-endian bit string (field at bit `lsb` occupies `lsb .. lsb + width`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    bits: Vec<bool>,
}

impl Record {
    pub fn new(width: usize) -> Self {
        Record {
            bits: vec![false; width],
        }
    }

    pub fn width(&self) -> usize {
        self.bits.len()
    }

    /// Puts the low `width` bits of `value` (two's complement for negative values) at `lsb`.
    ///
    /// # Panics
    /// If the field does not fit the record or `value` needs more than `width` bits: records are built by this
    /// crate from validated values, so either is a bug here, never a user error.
    pub fn put(&mut self, lsb: usize, width: usize, value: i128) -> &mut Self {
        assert!(lsb + width <= self.bits.len(), "field past the record");
        let (min, max) = (-(1i128 << (width - 1)), (1i128 << width) - 1);
        assert!(
            (min..=max).contains(&value),
            "{value} does not fit {width} bits"
        );
        for i in 0..width {
            self.bits[lsb + i] = (value >> i) & 1 == 1;
        }
        self
    }

    /// Reads an unsigned field.
    pub fn get(&self, lsb: usize, width: usize) -> u128 {
        (0..width).fold(0u128, |acc, i| acc | (u128::from(self.bits[lsb + i]) << i))
    }

    /// Reads a signed field.
    pub fn get_signed(&self, lsb: usize, width: usize) -> i128 {
        let u = self.get(lsb, width) as i128;
        if width > 0 && (u >> (width - 1)) & 1 == 1 {
            u - (1i128 << width)
        } else {
            u
        }
    }

    /// The record as ⌈width / W⌉ words of W bits (word k = bits [kW, kW + W), high bits of the last word 0), each
    /// word as little-endian 32-bit chunks (W / 32 of them).
    pub fn words(&self, word_bits: u32) -> Vec<Word> {
        let w = word_bits as usize;
        (0..self.bits.len().div_ceil(w).max(1))
            .map(|k| {
                let chunk = |c: usize| -> u32 {
                    (0..32).fold(0u32, |acc, i| {
                        let bit = k * w + c * 32 + i;
                        acc | (u32::from(bit < self.bits.len() && self.bits[bit]) << i)
                    })
                };
                Word((0..w / 32).map(chunk).collect())
            })
            .collect()
    }

    /// Rebuilds a record of `width` bits from its words.
    pub fn from_words(words: &[Word], width: usize, word_bits: u32) -> Self {
        let w = word_bits as usize;
        let mut r = Record::new(width);
        for (i, bit) in r.bits.iter_mut().enumerate() {
            let (k, j) = (i / w, i % w);
            *bit = words
                .get(k)
                .and_then(|word| word.0.get(j / 32))
                .is_some_and(|chunk| (chunk >> (j % 32)) & 1 == 1);
        }
        r
    }
}

/// One W-bit stream word as W/32 little-endian 32-bit chunks (chunk 0 = bits 31:0).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Word(pub Vec<u32>);

impl Word {
    /// Hex, most significant chunk first (the harness's file format).
    pub fn hex(&self) -> String {
        self.0.iter().rev().map(|c| format!("{c:08x}")).collect()
    }
}

/// Buffer ids of the instructions (the program format's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BufferId {
    X = 0,
    Q = 1,
    K = 2,
    V = 3,
    Ctx = 4,
    Resid = 5,
    H1 = 6,
    Ffn = 7,
}

/// GEMM epilogues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum GemmMode {
    Requant = 0,
    Gelu = 1,
    Residual = 2,
}

/// One instruction (docs/accelerator.md "Instructions").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instr {
    LoadX {
        tokens: usize,
    },
    LoadW {
        half: u8,
        dense: bool,
        beats: usize,
    },
    Gemm {
        half: u8,
        dense: bool,
        src: BufferId,
        dst: BufferId,
        skip: BufferId,
        mode: GemmMode,
        o0: usize,
        tokens: usize,
    },
    LayerNorm {
        bank: u8,
        dst: BufferId,
        shift: u32,
        tokens: usize,
    },
    LoadNorm {
        bank: u8,
    },
    SetAttn {
        score_mult: u32,
        score_shift: u32,
        context_mult: u32,
        context_shift: u32,
    },
    Attn {
        head: usize,
        start: usize,
        len: usize,
    },
    Store {
        buffer: BufferId,
        tokens: usize,
    },
    End,
}

/// Bits of an INSTR record.
pub const INSTR_BITS: usize = 64;
/// Bits of a PARAM or NORM record.
pub const PARAM_BITS: usize = 64;
pub const NORM_BITS: usize = 64;
/// Bits of the STATUS record and its counters.
pub const STATUS_BITS: usize = 576;
pub const STATUS_COUNTER_BITS: usize = 56;
pub const STATUS_COUNTERS: usize = 10;

impl Instr {
    pub fn opcode(&self) -> u8 {
        match self {
            Instr::LoadX { .. } => 1,
            Instr::LoadW { .. } => 2,
            Instr::Gemm { .. } => 3,
            Instr::LayerNorm { .. } => 4,
            Instr::LoadNorm { .. } => 5,
            Instr::SetAttn { .. } => 6,
            Instr::Attn { .. } => 7,
            Instr::Store { .. } => 8,
            Instr::End => 9,
        }
    }

    /// The INSTR record. Field values must fit their fields (the lowering only builds legal instructions; a
    /// value that does not fit panics in [`Record::put`]).
    pub fn record(&self) -> Record {
        let mut r = Record::new(INSTR_BITS);
        r.put(0, 4, i128::from(self.opcode()));
        let u = |v: usize| v as i128;
        match *self {
            Instr::LoadX { tokens } => {
                r.put(8, 13, u(tokens));
            }
            Instr::LoadW { half, dense, beats } => {
                r.put(4, 1, i128::from(half))
                    .put(5, 1, i128::from(dense))
                    .put(8, 13, u(beats));
            }
            Instr::Gemm {
                half,
                dense,
                src,
                dst,
                skip,
                mode,
                o0,
                tokens,
            } => {
                r.put(4, 1, i128::from(half))
                    .put(5, 1, i128::from(dense))
                    .put(8, 3, src as i128)
                    .put(12, 3, dst as i128)
                    .put(16, 3, skip as i128)
                    .put(20, 2, mode as i128)
                    .put(22, 13, u(o0))
                    .put(35, 13, u(tokens));
            }
            Instr::LayerNorm {
                bank,
                dst,
                shift,
                tokens,
            } => {
                r.put(4, 1, i128::from(bank))
                    .put(8, 3, dst as i128)
                    .put(11, 6, i128::from(shift))
                    .put(17, 13, u(tokens));
            }
            Instr::LoadNorm { bank } => {
                r.put(4, 1, i128::from(bank));
            }
            Instr::SetAttn {
                score_mult,
                score_shift,
                context_mult,
                context_shift,
            } => {
                r.put(8, 15, i128::from(score_mult))
                    .put(23, 6, i128::from(score_shift))
                    .put(29, 15, i128::from(context_mult))
                    .put(44, 6, i128::from(context_shift));
            }
            Instr::Attn { head, start, len } => {
                r.put(8, 8, u(head))
                    .put(16, 13, u(start))
                    .put(29, 13, u(len));
            }
            Instr::Store { buffer, tokens } => {
                r.put(8, 3, buffer as i128).put(11, 13, u(tokens));
            }
            Instr::End => {}
        }
        r
    }
}

/// A PARAM record: one output channel's epilogue parameters.
pub fn param_record(
    bias: i32,
    mult: u32,
    shift: u32,
    residual_shift: u32,
    gelu_table: u8,
) -> Record {
    let mut r = Record::new(PARAM_BITS);
    r.put(0, 32, i128::from(bias))
        .put(32, 15, i128::from(mult))
        .put(47, 6, i128::from(shift))
        .put(53, 5, i128::from(residual_shift))
        .put(58, 4, i128::from(gelu_table));
    r
}

/// A NORM record: one channel's LayerNorm gain and offset.
pub fn norm_record(gain: i32, offset: i64) -> Record {
    let mut r = Record::new(NORM_BITS);
    r.put(0, 16, i128::from(gain))
        .put(16, 40, i128::from(offset));
    r
}

/// An XDATA record: one buffer word of M INT8 codes.
pub fn xdata_record(codes: &[i8]) -> Record {
    let mut r = Record::new(codes.len() * 8);
    for (j, &c) in codes.iter().enumerate() {
        r.put(8 * j, 8, i128::from(c));
    }
    r
}

/// The M codes of an XDATA record.
pub fn xdata_codes(r: &Record) -> Vec<i8> {
    (0..r.width() / 8)
        .map(|j| r.get_signed(8 * j, 8) as i8)
        .collect()
}

/// A WBEAT record: `values[r·N + s]` and `indices[r·N + s]` of slot s of row r.
pub fn weight_beat_record(config: &AccelConfig, values: &[i8], indices: &[u8]) -> Record {
    let lanes = config.array * config.n;
    let ib = config.index_bits() as usize;
    let mut r = Record::new(config.weight_beat_bits());
    for lane in 0..lanes {
        r.put(8 * lane, 8, i128::from(values[lane]));
        if ib > 0 {
            r.put(8 * lanes + ib * lane, ib, i128::from(indices[lane]));
        }
    }
    r
}

/// The STATUS record the chip sends at END (or on an error).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    pub error: u8,
    pub instructions: u16,
    pub cycles: u64,
    pub busy_gemm: u64,
    pub busy_attn: u64,
    pub busy_ln: u64,
    pub busy_store: u64,
    pub idle_waiting: u64,
    pub beats_gemm: u64,
    pub beats_attn: u64,
}

impl Status {
    pub fn decode(r: &Record) -> Status {
        let counter = |i: usize| r.get(64 + i * STATUS_COUNTER_BITS, STATUS_COUNTER_BITS) as u64;
        Status {
            error: r.get(0, 8) as u8,
            instructions: r.get(16, 16) as u16,
            cycles: counter(0),
            busy_gemm: counter(1),
            busy_attn: counter(2),
            busy_ln: counter(3),
            busy_store: counter(4),
            idle_waiting: counter(5),
            beats_gemm: counter(6),
            beats_attn: counter(7),
        }
    }
}

/// The error codes of STATUS (docs/accelerator.md "Errors").
pub fn error_name(code: u8) -> &'static str {
    match code {
        0 => "none",
        1 => "unknown opcode",
        2 => "illegal buffer or mode combination",
        3 => "field out of range",
        4 => "the GEMM's tile half holds a tile of another length or density",
        5 => "a reserved instruction bit is set",
        _ => "unknown error code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_through_words() {
        let instr = Instr::Gemm {
            half: 1,
            dense: false,
            src: BufferId::Ctx,
            dst: BufferId::Resid,
            skip: BufferId::X,
            mode: GemmMode::Residual,
            o0: 368,
            tokens: 4096,
        };
        let r = instr.record();
        assert_eq!(r.get(0, 4), 3);
        assert_eq!(r.get(22, 13), 368);
        assert_eq!(r.get(35, 13), 4096);
        for w in [32, 64, 128] {
            let words = r.words(w);
            assert_eq!(words.len(), 64usize.div_ceil(w as usize));
            assert_eq!(Record::from_words(&words, 64, w), r);
        }
        let p = param_record(-5, 32767, 47, 24, 5);
        assert_eq!(p.get_signed(0, 32), -5);
        assert_eq!(p.get(32, 15), 32767);
        assert_eq!(p.get(58, 4), 5);
        let n = norm_record(-32768, -(1 << 39));
        assert_eq!(n.get_signed(0, 16), -32768);
        assert_eq!(n.get_signed(16, 40), -(1 << 39));
        let x = xdata_record(&[-128, 127, 0, -1]);
        assert_eq!(xdata_codes(&x), vec![-128, 127, 0, -1]);
        assert_eq!(x.words(32)[0].hex(), "ff007f80");
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_value_wider_than_its_field_is_a_bug() {
        Instr::LoadX { tokens: 8192 }.record();
    }
}

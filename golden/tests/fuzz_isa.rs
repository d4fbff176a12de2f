//! Parser fuzzing of the accelerator's record decoding (golden/src/top/isa.rs; docs/reliability.md "Parser
//! fuzzing"): `Record::from_words` on arbitrary words (any chunk count, any width, any word width), `Status::decode`
//! and `xdata_codes` on whatever the chip could send, and every encoder (INSTR, PARAM, NORM, XDATA, STATUS) round
//! trip through the stream words. Never a panic; every decoded bit is the bit the words hold. Also the batch layout
//! the lowering and `sta estimate --against` build from sentence lengths read from a report.
//!
//! Long run: `PROPTEST_CASES=100000 cargo test --release -p sta-golden --test fuzz_isa` (or `make fuzz`).

mod fuzz_support;

use fuzz_support::{cases, within_allowance};
use proptest::prelude::*;
use sta_golden::encoder::EncoderDims;
use sta_golden::top::isa::{
    norm_record, param_record, xdata_codes, xdata_record, BufferId, GemmMode, Instr, Record,
    Status, Word, INSTR_BITS, STATUS_BITS, STATUS_COUNTERS, STATUS_COUNTER_BITS,
};
use sta_golden::top::lower::BatchLayout;
use sta_golden::top::AccelConfig;

/// Words as a harness could hand them over: 0..6 chunks each (the right count is W/32).
fn words() -> impl Strategy<Value = Vec<Word>> {
    proptest::collection::vec(
        proptest::collection::vec(any::<u32>(), 0..6).prop_map(Word),
        0..24,
    )
}

/// The stream widths of the design (32, 64, 128) and, for robustness, any width from 1 to 256 bits.
fn word_bits() -> impl Strategy<Value = u32> {
    prop_oneof![Just(32u32), Just(64), Just(128), 1u32..=256]
}

/// Bit `i` of a record rebuilt from `words`: word i / W, chunk (i mod W) / 32, bit i mod 32; missing words or
/// chunks read as 0.
fn expected_bit(words: &[Word], i: usize, w: usize) -> bool {
    let (k, j) = (i / w, i % w);
    words
        .get(k)
        .and_then(|word| word.0.get(j / 32))
        .is_some_and(|chunk| (chunk >> (j % 32)) & 1 == 1)
}

/// A record of `bits` (bit i = bits[i]).
fn record_of(bits: &[bool]) -> Record {
    let mut r = Record::new(bits.len());
    for (i, &b) in bits.iter().enumerate() {
        r.put(i, 1, i128::from(b));
    }
    r
}

fn buffer() -> impl Strategy<Value = BufferId> {
    prop_oneof![
        Just(BufferId::X),
        Just(BufferId::Q),
        Just(BufferId::K),
        Just(BufferId::V),
        Just(BufferId::Ctx),
        Just(BufferId::Resid),
        Just(BufferId::H1),
        Just(BufferId::Ffn),
    ]
}

/// Any instruction whose fields fit their widths (docs/accelerator.md "Instructions").
fn instr() -> impl Strategy<Value = Instr> {
    let t = 0usize..8192;
    prop_oneof![
        t.clone().prop_map(|tokens| Instr::LoadX { tokens }),
        (0u8..2, any::<bool>(), t.clone()).prop_map(|(half, dense, beats)| Instr::LoadW {
            half,
            dense,
            beats
        }),
        (
            (0u8..2, any::<bool>(), buffer(), buffer(), buffer()),
            prop_oneof![
                Just(GemmMode::Requant),
                Just(GemmMode::Gelu),
                Just(GemmMode::Residual)
            ],
            t.clone(),
            t.clone()
        )
            .prop_map(
                |((half, dense, src, dst, skip), mode, o0, tokens)| Instr::Gemm {
                    half,
                    dense,
                    src,
                    dst,
                    skip,
                    mode,
                    o0,
                    tokens
                }
            ),
        (0u8..2, buffer(), 0u32..64, t.clone()).prop_map(|(bank, dst, shift, tokens)| {
            Instr::LayerNorm {
                bank,
                dst,
                shift,
                tokens,
            }
        }),
        (0u8..2).prop_map(|bank| Instr::LoadNorm { bank }),
        (0u32..1 << 15, 0u32..64, 0u32..1 << 15, 0u32..64).prop_map(|(a, b, c, d)| {
            Instr::SetAttn {
                score_mult: a,
                score_shift: b,
                context_mult: c,
                context_shift: d,
            }
        }),
        (0usize..256, t.clone(), t.clone()).prop_map(|(head, start, len)| Instr::Attn {
            head,
            start,
            len
        }),
        (buffer(), t).prop_map(|(buffer, tokens)| Instr::Store { buffer, tokens }),
        Just(Instr::End),
    ]
}

/// The fields of `instr` at their documented positions (lsb, width, value), read back from `r`.
fn fields(instr: &Instr) -> Vec<(usize, usize, u128)> {
    let u = |v: usize| v as u128;
    let mut f = vec![(0, 4, u128::from(instr.opcode()))];
    match *instr {
        Instr::LoadX { tokens } => f.push((8, 13, u(tokens))),
        Instr::LoadW { half, dense, beats } => f.extend([
            (4, 1, u128::from(half)),
            (5, 1, u128::from(dense)),
            (8, 13, u(beats)),
        ]),
        Instr::Gemm {
            half,
            dense,
            src,
            dst,
            skip,
            mode,
            o0,
            tokens,
        } => f.extend([
            (4, 1, u128::from(half)),
            (5, 1, u128::from(dense)),
            (8, 3, src as u128),
            (12, 3, dst as u128),
            (16, 3, skip as u128),
            (20, 2, mode as u128),
            (22, 13, u(o0)),
            (35, 13, u(tokens)),
        ]),
        Instr::LayerNorm {
            bank,
            dst,
            shift,
            tokens,
        } => f.extend([
            (4, 1, u128::from(bank)),
            (8, 3, dst as u128),
            (11, 6, u128::from(shift)),
            (17, 13, u(tokens)),
        ]),
        Instr::LoadNorm { bank } => f.push((4, 1, u128::from(bank))),
        Instr::SetAttn {
            score_mult,
            score_shift,
            context_mult,
            context_shift,
        } => f.extend([
            (8, 15, u128::from(score_mult)),
            (23, 6, u128::from(score_shift)),
            (29, 15, u128::from(context_mult)),
            (44, 6, u128::from(context_shift)),
        ]),
        Instr::Attn { head, start, len } => {
            f.extend([(8, 8, u(head)), (16, 13, u(start)), (29, 13, u(len))])
        }
        Instr::Store { buffer, tokens } => f.extend([(8, 3, buffer as u128), (11, 13, u(tokens))]),
        Instr::End => {}
    }
    f
}

fn status() -> impl Strategy<Value = Status> {
    let counter = 0u64..1 << STATUS_COUNTER_BITS;
    (
        any::<u8>(),
        any::<u16>(),
        proptest::collection::vec(counter, 8),
    )
        .prop_map(|(error, instructions, c)| Status {
            error,
            instructions,
            cycles: c[0],
            busy_gemm: c[1],
            busy_attn: c[2],
            busy_ln: c[3],
            busy_store: c[4],
            idle_waiting: c[5],
            beats_gemm: c[6],
            beats_attn: c[7],
        })
}

/// The STATUS record of docs/accelerator.md "Status", built field by field (the chip's encoder).
fn status_record(s: &Status) -> Record {
    let mut r = Record::new(STATUS_BITS);
    r.put(0, 8, i128::from(s.error))
        .put(16, 16, i128::from(s.instructions));
    let counters = [
        s.cycles,
        s.busy_gemm,
        s.busy_attn,
        s.busy_ln,
        s.busy_store,
        s.idle_waiting,
        s.beats_gemm,
        s.beats_attn,
    ];
    for (i, &c) in counters.iter().enumerate() {
        r.put(
            64 + i * STATUS_COUNTER_BITS,
            STATUS_COUNTER_BITS,
            i128::from(c),
        );
    }
    r
}

proptest! {
    #![proptest_config(cases(10000))]

    /// Any words, any width, any word width: every bit is the one the words hold, missing bits are 0.
    #[test]
    fn from_words_reads_exactly_the_bits_present(ws in words(), width in 0usize..1200, w in word_bits()) {
        let total: usize = ws.iter().map(|x| x.0.len() * 4).sum();
        let r = within_allowance("Record::from_words", total, || Record::from_words(&ws, width, w));
        prop_assert_eq!(r.width(), width);
        for i in 0..width {
            prop_assert_eq!(r.get(i, 1) == 1, expected_bit(&ws, i, w as usize), "bit {}", i);
        }
    }

    /// A record survives the stream: ⌈width / W⌉ words (at least one) of W/32 chunks, unused high bits 0.
    #[test]
    fn records_round_trip_through_words(bits in proptest::collection::vec(any::<bool>(), 1..700), w in prop_oneof![Just(32u32), Just(64), Just(128)]) {
        let r = record_of(&bits);
        let ws = r.words(w);
        prop_assert_eq!(ws.len(), bits.len().div_ceil(w as usize));
        prop_assert!(ws.iter().all(|x| x.0.len() == w as usize / 32));
        for i in bits.len()..ws.len() * w as usize {
            prop_assert!(!expected_bit(&ws, i, w as usize), "padding bit {} set", i);
        }
        prop_assert_eq!(Record::from_words(&ws, bits.len(), w), r);
    }

    /// STATUS from whatever the chip's last words hold: no panic, each field within its width.
    #[test]
    fn status_decodes_any_words(ws in words(), w in prop_oneof![Just(32u32), Just(64), Just(128)]) {
        let s = Status::decode(&Record::from_words(&ws, STATUS_BITS, w));
        let limit = 1u64 << STATUS_COUNTER_BITS;
        for c in [s.cycles, s.busy_gemm, s.busy_attn, s.busy_ln, s.busy_store, s.idle_waiting, s.beats_gemm, s.beats_attn] {
            prop_assert!(c < limit);
        }
        let _ = sta_golden::top::isa::error_name(s.error);
    }

    #[test]
    fn status_round_trips(s in status(), w in prop_oneof![Just(32u32), Just(64), Just(128)]) {
        let r = status_record(&s);
        prop_assert_eq!(Status::decode(&Record::from_words(&r.words(w), STATUS_BITS, w)), s);
        prop_assert_eq!(STATUS_COUNTERS, 10);
    }

    /// Every instruction's fields read back from its words at the documented positions.
    #[test]
    fn instructions_round_trip(i in instr(), w in prop_oneof![Just(32u32), Just(64), Just(128)]) {
        let r = Record::from_words(&i.record().words(w), INSTR_BITS, w);
        prop_assert_eq!(&r, &i.record());
        let mut covered = 0u64;
        for (lsb, width, value) in fields(&i) {
            prop_assert_eq!(r.get(lsb, width), value, "field at {}", lsb);
            covered |= (((1u128 << width) - 1) as u64) << lsb;
        }
        // every bit outside the fields is 0 (the decoder's reserved-bit check relies on it)
        prop_assert_eq!(r.get(0, 64) as u64 & !covered, 0);
    }

    #[test]
    fn data_records_round_trip(
        codes in proptest::collection::vec(any::<i8>(), 1..40),
        bias in any::<i32>(),
        mult in 0u32..1 << 15,
        shift in 0u32..64,
        rs in 0u32..32,
        table in 0u8..16,
        gain in -32768i32..32768,
        offset in -(1i64 << 39)..1i64 << 39,
        w in prop_oneof![Just(32u32), Just(64), Just(128)],
    ) {
        let x = xdata_record(&codes);
        let back = Record::from_words(&x.words(w), x.width(), w);
        prop_assert_eq!(xdata_codes(&back), codes);
        let p = param_record(bias, mult, shift, rs, table);
        prop_assert_eq!(
            (p.get_signed(0, 32) as i32, p.get(32, 15) as u32, p.get(47, 6) as u32, p.get(53, 5) as u32, p.get(58, 4) as u8),
            (bias, mult, shift, rs, table)
        );
        let n = norm_record(gain, offset);
        prop_assert_eq!((n.get_signed(0, 16) as i32, n.get_signed(16, 40) as i64), (gain, offset));
    }

    /// XDATA of any width decodes to width / 8 codes.
    #[test]
    fn xdata_decodes_any_record(ws in words(), width in 0usize..600, w in word_bits()) {
        let r = Record::from_words(&ws, width, w);
        prop_assert_eq!(xdata_codes(&r).len(), width / 8);
    }
}

fn small_config() -> AccelConfig {
    let dims = EncoderDims {
        d_model: 32,
        heads: 2,
        ffn: 64,
        layers: 6,
    };
    AccelConfig::new((2, 8), 8, 4, 64, dims, 32).expect("legal")
}

fn length() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..80,
        1 => Just(usize::MAX),
        1 => (usize::MAX - 64)..=usize::MAX,
        1 => any::<usize>(),
    ]
}

proptest! {
    #![proptest_config(cases(10000))]

    /// Sentence lengths (from a `sta run` report for `sta estimate --against`): an accepted layout fits T_MAX, each
    /// sentence inside the batch at a multiple of the array size.
    #[test]
    fn batch_layouts_fit_what_they_accept(lengths in proptest::collection::vec(length(), 0..6)) {
        let c = small_config();
        if let Ok(l) = BatchLayout::new(&lengths, &c) {
            prop_assert!(l.tokens <= c.max_tokens && l.tokens % c.array == 0);
            for (s, len) in l.starts.iter().zip(&l.lengths) {
                prop_assert!(s % c.array == 0 && *len <= l.tokens && *s <= l.tokens - len);
            }
        }
    }
}

/// Regression: `len.div_ceil(B) · B` wrapped for a length of 2^64 − 1, giving a batch of 0 rows that was accepted.
#[test]
fn a_sentence_of_2_pow_64_tokens_is_refused() {
    let c = small_config();
    assert!(BatchLayout::new(&[usize::MAX], &c).is_err());
    assert!(BatchLayout::new(&[usize::MAX - 6, 5], &c).is_err());
}

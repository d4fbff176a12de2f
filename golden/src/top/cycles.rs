//! The analytic cycle model of `sta_top` (`sta estimate`): the instruction list of a lowered batch replayed
//! through the decoder's dispatch rules (docs/accelerator.md) with a closed-form duration per engine instruction.
//! Validated against the Verilator simulation (`sta run`) in docs/accelerator.md "Cycle model".

use serde::Serialize;

use super::config::AccelConfig;
use super::isa::{BufferId, Instr, INSTR_BITS, NORM_BITS, PARAM_BITS, STATUS_BITS};
use crate::pe_array::accumulate_latency;

/// Engine constants measured on the RTL (docs/accelerator.md "Cycle model"): fixed latencies and per-tile
/// overheads that the closed forms below add to the beat counts.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Timing {
    /// From a GEMM's last issued beat to its last buffer write (array pipeline, result drain, epilogue).
    pub gemm_drain: u64,
    /// Cycles from dispatch to the first issued beat.
    pub gemm_start: u64,
    /// LayerNorm: cycles from dispatch to the first element, and per token tile beyond the 3·D element beats (the
    /// two bubbles of the unit, the pipeline).
    pub ln_start: u64,
    pub ln_tile_extra: u64,
    /// ATTN, per query tile: pipeline cycles after the score tiles, after the softmax rows and after the A·V
    /// tiles; and per instruction.
    pub attn_score_extra: u64,
    pub attn_softmax_extra: u64,
    pub attn_av_extra: u64,
    pub attn_extra: u64,
    /// STORE: extra cycles per instruction.
    pub store_extra: u64,
}

impl Timing {
    /// The constants of the generated RTL for a configuration. The array's part of them grows with its pipeline
    /// (`accumulate_latency`: 6 cycles for N ≤ 2, one more per extra level of the PEs' adder tree, and one for its
    /// result output register); the rest was measured on the RTL.
    pub fn of(c: &AccelConfig) -> Timing {
        let b = c.array as u64;
        let array = accumulate_latency(c.n) as u64;
        let lp = (c.lanes as u64).next_power_of_two().trailing_zeros() as u64;
        Timing {
            gemm_drain: b + 13 + array,
            gemm_start: 3,
            ln_start: 2,
            ln_tile_extra: 2 * b + 10,
            attn_score_extra: 17 + array,
            // 20 measured before the softmax unit was pipelined for Fmax, plus what that added to a row's latency:
            // 8 + ⌈log2 P⌉ + ⌈⌈log2 P⌉/2⌉ cycles (sta_hdl::softmax::pipeline_latency, docs/softmax.md "Cycles")
            attn_softmax_extra: 28 + lp + lp.div_ceil(2),
            attn_av_extra: 23 + array,
            attn_extra: 5,
            store_extra: 1,
        }
    }
}

/// Where the cycles go.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Estimate {
    pub total_cycles: u64,
    /// Cycles in which the GEMM engine has work in flight (issue or drain), as the hardware's counter.
    pub gemm_cycles: u64,
    pub attn_cycles: u64,
    pub ln_cycles: u64,
    pub store_cycles: u64,
    /// Cycles in which no engine works while the decoder still receives (weights, embeddings, parameters).
    pub waiting_on_stream: u64,
    pub gemm_beats: u64,
    pub attn_beats: u64,
    pub input_words: u64,
}

/// The union of busy intervals of one engine class, accumulated in order.
#[derive(Default)]
struct Busy {
    total: u64,
    until: u64,
}

impl Busy {
    fn add(&mut self, start: u64, end: u64) {
        let from = start.max(self.until);
        if end > from {
            self.total += end - from;
        }
        self.until = self.until.max(end);
    }
}

/// Replays `instrs` (a lowered batch, in stream order). `words_per_cycle`: how many W-bit words the input stream
/// delivers per cycle (1 = the design's own stream at full rate; a wider external memory interface, more).
pub fn estimate(c: &AccelConfig, instrs: &[Instr], words_per_cycle: f64) -> Estimate {
    let t = Timing::of(c);
    let words = |bits: usize| c.words(bits) as u64;
    let mut fraction = 0.0f64;
    // the decoder takes `w` words: whole cycles, carrying the fraction (a wide interface delivers several per cycle)
    let mut stream = |w: u64| -> u64 {
        fraction += w as f64 / words_per_cycle;
        let whole = fraction.floor();
        fraction -= whole;
        whole as u64
    };
    let mut e = Estimate::default();
    let mut dec = 0u64;
    let (mut issue_free, mut gemm_retire, mut other_end, mut dispatch_free) =
        (0u64, 0u64, 0u64, 0u64);
    let mut half_free = [0u64; 2];
    let mut norm_free = [0u64; 2];
    let mut writes: Vec<(BufferId, u64)> = Vec::new();
    let (mut gemm, mut attn, mut ln, mut store, mut any) = (
        Busy::default(),
        Busy::default(),
        Busy::default(),
        Busy::default(),
        Busy::default(),
    );
    for instr in instrs {
        let iw = words(INSTR_BITS);
        e.input_words += iw;
        match *instr {
            Instr::LoadX { tokens } => {
                dec = dec.max(gemm_retire).max(other_end).max(dispatch_free);
                let w = iw + (tokens * c.dims.d_model / c.m) as u64 * words(8 * c.m);
                e.input_words += w - iw;
                dec += stream(w);
            }
            Instr::LoadW { half, beats, .. } => {
                dec = dec.max(half_free[usize::from(half)]);
                let w = iw
                    + c.array as u64 * words(PARAM_BITS)
                    + beats as u64 * words(c.weight_beat_bits());
                e.input_words += w - iw;
                dec += stream(w);
            }
            Instr::LoadNorm { bank } => {
                dec = dec.max(norm_free[usize::from(bank)]);
                let w = iw + c.dims.d_model as u64 * words(NORM_BITS);
                e.input_words += w - iw;
                dec += stream(w);
            }
            Instr::SetAttn { .. } => dec += stream(iw),
            Instr::Gemm {
                half,
                dense,
                src,
                dst,
                skip,
                mode,
                tokens,
                ..
            } => {
                dec = dec.max(dispatch_free) + stream(iw);
                let hazard = writes
                    .iter()
                    .filter(|(b, _)| *b == src || (mode as u8 == 2 && *b == skip))
                    .map(|&(_, r)| r)
                    .max()
                    .unwrap_or(0);
                let start = dec.max(issue_free).max(other_end).max(hazard);
                let k = if src == BufferId::Ffn {
                    c.dims.ffn
                } else {
                    c.dims.d_model
                };
                let beats = (tokens / c.array * c.tile_beats(k, dense)) as u64;
                let issue_end = start + t.gemm_start + beats;
                let retire = issue_end + t.gemm_drain;
                gemm.add(start, retire);
                any.add(start, retire);
                e.gemm_beats += beats;
                issue_free = issue_end;
                gemm_retire = gemm_retire.max(retire);
                half_free[usize::from(half)] = retire;
                writes.retain(|&(_, r)| r > start);
                writes.push((dst, retire));
                dispatch_free = start;
            }
            Instr::LayerNorm { bank, tokens, .. } => {
                dec = dec.max(dispatch_free) + stream(iw);
                let start = dec.max(gemm_retire).max(other_end);
                let tiles = (tokens / c.array) as u64;
                let end =
                    start + t.ln_start + tiles * (3 * c.dims.d_model as u64 + t.ln_tile_extra);
                ln.add(start, end);
                any.add(start, end);
                other_end = end;
                norm_free[usize::from(bank)] = end;
                dispatch_free = start;
            }
            Instr::Attn { len, .. } => {
                dec = dec.max(dispatch_free) + stream(iw);
                let start = dec.max(gemm_retire).max(other_end);
                let (cycles, beats) = attention_cycles(c, &t, len);
                attn.add(start, start + cycles);
                any.add(start, start + cycles);
                e.attn_beats += beats;
                other_end = start + cycles;
                dispatch_free = start;
            }
            Instr::Store { buffer, tokens } => {
                dec = dec.max(dispatch_free) + stream(iw);
                let start = dec.max(gemm_retire).max(other_end);
                let width = if buffer == BufferId::Ffn {
                    c.dims.ffn
                } else {
                    c.dims.d_model
                };
                let w = (tokens * width / c.m) as u64 * words(8 * c.m);
                let end = start + w + t.store_extra;
                store.add(start, end);
                any.add(start, end);
                other_end = end;
                dispatch_free = start;
            }
            Instr::End => {
                dec = dec.max(dispatch_free) + stream(iw);
                let end = dec.max(gemm_retire).max(other_end);
                e.total_cycles = end + words(STATUS_BITS);
                e.waiting_on_stream = end.saturating_sub(any.total);
            }
        }
    }
    e.gemm_cycles = gemm.total;
    e.attn_cycles = attn.total;
    e.ln_cycles = ln.total;
    e.store_cycles = store.total;
    e
}

/// One ATTN instruction: (cycles, array beats). Per query tile: the score tiles (⌈d_h/N⌉ beats each, B result
/// rows drained), the softmax of each real row (⌈len/P⌉ beats), the A·V tiles (⌈len/N⌉ beats each).
pub fn attention_cycles(c: &AccelConfig, t: &Timing, len: usize) -> (u64, u64) {
    let b = c.array as u64;
    let tiles = len.div_ceil(c.array) as u64;
    let dh = c.head_dim();
    let score_beats = dh.div_ceil(c.n) as u64;
    let av_beats = len.div_ceil(c.n) as u64;
    let av_tiles = (dh / c.array) as u64;
    let row_beats = len.div_ceil(c.lanes) as u64;
    let mut cycles = t.attn_extra;
    let mut beats = 0;
    for q in 0..tiles {
        let rows = (len as u64 - q * b).min(b);
        cycles += tiles * score_beats.max(b) + t.attn_score_extra;
        cycles += rows * row_beats + t.attn_softmax_extra;
        cycles += av_tiles * av_beats.max(b) + t.attn_av_extra;
        beats += tiles * score_beats + av_tiles * av_beats;
    }
    (cycles, beats)
}

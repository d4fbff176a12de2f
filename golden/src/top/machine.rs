//! The instruction-level model of `sta_top`: executes a lowered record stream on the accelerator's buffers with
//! the encoder's integer ops, reading every field back from the records' bits. It defines what each instruction
//! does (docs/accelerator.md) independently of the RTL, so that a lowering bug and a hardware bug are told apart:
//! the lowering is checked against the op-level interpreter through this model, the RTL against both.

use thiserror::Error;

use super::config::{AccelConfig, SCORE_BITS};
use super::isa::{xdata_codes, Record, INSTR_BITS};
use super::lower::design_gelu_tables;
use crate::encoder::ops::{affine, dot_i8, gelu, norm_stats, normalise, requant, residual};
use crate::encoder::program::{default_rsqrt_table, NormMethod, Scale};
use crate::softmax::encoder_softmax_numerics;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("record {record}: {reason}")]
pub struct MachineError {
    pub record: usize,
    pub reason: String,
}

/// One output tile's parameters and weights.
#[derive(Debug, Clone, Default)]
struct Tile {
    /// (bias, mult, shift, residual shift, GELU table) per row.
    params: Vec<(i32, u32, u32, u32, usize)>,
    /// Per beat, per lane r·N + s: (value, index).
    beats: Vec<Vec<(i8, usize)>>,
}

/// The buffers, row-major per token (V as tokens × d like the others: its transposition is a layout, not a
/// value, change).
struct Buffers {
    int8: Vec<Vec<i8>>,
    resid: Vec<i32>,
}

/// What a run returns: the codes of every STORE (rows × width, padded rows included), in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineOutput {
    pub stores: Vec<Vec<i8>>,
}

pub fn execute(config: &AccelConfig, records: &[Record]) -> Result<MachineOutput, MachineError> {
    Machine::new(config).run(records)
}

struct Machine<'c> {
    c: &'c AccelConfig,
    buffers: Buffers,
    tiles: [Tile; 2],
    norms: [Vec<(i32, i64)>; 2],
    attn: (Scale, Scale),
    stores: Vec<Vec<i8>>,
}

impl<'c> Machine<'c> {
    fn new(c: &'c AccelConfig) -> Self {
        let t = c.max_tokens;
        let (d, f) = (c.dims.d_model, c.dims.ffn);
        let int8 = (0..8)
            .map(|id| vec![0i8; t * if id == 7 { f } else { d }])
            .collect();
        Machine {
            c,
            buffers: Buffers {
                int8,
                resid: vec![0; t * d],
            },
            tiles: [Tile::default(), Tile::default()],
            norms: [Vec::new(), Vec::new()],
            attn: (Scale { mult: 0, shift: 0 }, Scale { mult: 0, shift: 0 }),
            stores: Vec::new(),
        }
    }

    fn width(&self, id: usize) -> usize {
        if id == 7 {
            self.c.dims.ffn
        } else {
            self.c.dims.d_model
        }
    }

    fn run(mut self, records: &[Record]) -> Result<MachineOutput, MachineError> {
        let mut at = 0;
        let fail = |record: usize, reason: String| MachineError { record, reason };
        while at < records.len() {
            let r = &records[at];
            if r.width() != INSTR_BITS {
                return Err(fail(at, "expected an instruction".into()));
            }
            let here = at;
            at += 1;
            let mut take = |count: usize| -> Result<&[Record], MachineError> {
                let data = records.get(at..at + count).ok_or_else(|| {
                    fail(here, "the stream ends inside the instruction's data".into())
                })?;
                at += count;
                Ok(data)
            };
            let f = |lsb: usize, width: usize| r.get(lsb, width) as usize;
            match f(0, 4) {
                1 => {
                    let tokens = f(8, 13);
                    let data = take(tokens * self.c.dims.d_model / self.c.m)?;
                    let codes: Vec<i8> = data.iter().flat_map(xdata_codes).collect();
                    self.buffers.int8[0][..codes.len()].copy_from_slice(&codes);
                }
                2 => {
                    let (half, beats) = (f(4, 1), f(8, 13));
                    let params = take(self.c.array)?
                        .iter()
                        .map(|p| {
                            (
                                p.get_signed(0, 32) as i32,
                                p.get(32, 15) as u32,
                                p.get(47, 6) as u32,
                                p.get(53, 5) as u32,
                                p.get(58, 4) as usize,
                            )
                        })
                        .collect();
                    let lanes = self.c.array * self.c.n;
                    let ib = self.c.index_bits() as usize;
                    let beats = take(beats)?
                        .iter()
                        .map(|b| {
                            (0..lanes)
                                .map(|l| {
                                    let idx = if ib == 0 {
                                        0
                                    } else {
                                        b.get(8 * lanes + ib * l, ib)
                                    };
                                    (b.get_signed(8 * l, 8) as i8, idx as usize)
                                })
                                .collect()
                        })
                        .collect();
                    self.tiles[half] = Tile { params, beats };
                }
                3 => self.gemm(r),
                4 => self.layer_norm(r),
                5 => {
                    let data = take(self.c.dims.d_model)?;
                    self.norms[f(4, 1)] = data
                        .iter()
                        .map(|n| (n.get_signed(0, 16) as i32, n.get_signed(16, 40) as i64))
                        .collect();
                }
                6 => {
                    self.attn = (
                        Scale {
                            mult: f(8, 15) as u32,
                            shift: f(23, 6) as u32,
                        },
                        Scale {
                            mult: f(29, 15) as u32,
                            shift: f(44, 6) as u32,
                        },
                    );
                }
                7 => self.attention(f(8, 8), f(16, 13), f(29, 13)),
                8 => {
                    let (id, tokens) = (f(8, 3), f(11, 13));
                    let w = self.width(id);
                    self.stores
                        .push(self.buffers.int8[id][..tokens * w].to_vec());
                }
                9 => break,
                op => return Err(fail(here, format!("unknown opcode {op}"))),
            }
        }
        Ok(MachineOutput {
            stores: self.stores,
        })
    }

    fn gemm(&mut self, r: &Record) {
        let f = |lsb: usize, width: usize| r.get(lsb, width) as usize;
        let (half, dense, src, dst, skip, mode, o0, tokens) = (
            f(4, 1),
            f(5, 1) == 1,
            f(8, 3),
            f(12, 3),
            f(16, 3),
            f(20, 2),
            f(22, 13),
            f(35, 13),
        );
        let (n, m, b) = (self.c.n, self.c.m, self.c.array);
        let (k, out_w) = (self.width(src), self.width(dst));
        let tables = design_gelu_tables();
        let tile = &self.tiles[half];
        for t in 0..tokens {
            let x = self.buffers.int8[src][t * k..t * k + k].to_vec();
            for row in 0..b {
                let acc: i64 = tile
                    .beats
                    .iter()
                    .enumerate()
                    .map(|(g, beat)| {
                        (0..n)
                            .map(|s| {
                                let (v, idx) = beat[row * n + s];
                                let pos = if dense { g * n + s } else { g * m + idx };
                                i64::from(v) * i64::from(x.get(pos).copied().unwrap_or(0))
                            })
                            .sum::<i64>()
                    })
                    .sum();
                let (bias, mult, shift, rs, table) = tile.params[row];
                let scale = Scale { mult, shift };
                let o = o0 + row;
                match mode {
                    2 => {
                        let s = self.buffers.int8[skip][t * self.c.dims.d_model + o];
                        self.buffers.resid[t * self.c.dims.d_model + o] =
                            residual(acc, bias, scale, s, rs);
                    }
                    _ => {
                        let q = requant(acc + i64::from(bias), scale, 8) as i8;
                        let y = if mode == 1 {
                            gelu(q, &tables[table])
                        } else {
                            q
                        };
                        self.buffers.int8[dst][t * out_w + o] = y;
                    }
                }
            }
        }
    }

    fn layer_norm(&mut self, r: &Record) {
        let f = |lsb: usize, width: usize| r.get(lsb, width) as usize;
        let (bank, dst, shift, tokens) = (f(4, 1), f(8, 3), f(11, 6) as u32, f(17, 13));
        let d = self.c.dims.d_model;
        let table = default_rsqrt_table();
        for t in 0..tokens {
            let row = &self.buffers.resid[t * d..t * d + d];
            let stats = norm_stats(row, NormMethod::Rsqrt, Some(&table));
            for (i, &v) in row.iter().enumerate() {
                let (gain, offset) = self.norms[bank][i];
                self.buffers.int8[dst][t * d + i] =
                    affine(normalise(v, &stats), gain, offset, shift);
            }
        }
    }

    /// One sentence, one head: Q = buffer 1, K = 2, V = 3, context into 4 (the ids the lowering checks).
    fn attention(&mut self, head: usize, start: usize, len: usize) {
        let d = self.c.dims.d_model;
        let dh = self.c.head_dim();
        let softmax = encoder_softmax_numerics();
        let (score, context) = self.attn;
        let at = |t: usize, c: usize| (start + t) * d + head * dh + c;
        let [q, k, v] = [1, 2, 3].map(|id| &self.buffers.int8[id]);
        let mut ctx = Vec::with_capacity(len * dh);
        for i in 0..len {
            let scores: Vec<i64> = (0..len)
                .map(|j| {
                    let acc = dot_i8(&q[at(i, 0)..at(i, dh)], &k[at(j, 0)..at(j, dh)]);
                    requant(i64::from(acc), score, SCORE_BITS)
                })
                .collect();
            let probs: Vec<i64> = softmax
                .softmax_row(&scores)
                .into_iter()
                .map(|p| i64::from(p.min(127)))
                .collect();
            for c in 0..dh {
                let acc: i64 = (0..len).map(|j| probs[j] * i64::from(v[at(j, c)])).sum();
                ctx.push(requant(acc, context, 8) as i8);
            }
        }
        for i in 0..len {
            self.buffers.int8[4][at(i, 0)..at(i, dh)].copy_from_slice(&ctx[i * dh..i * dh + dh]);
        }
    }
}

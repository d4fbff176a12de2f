//! The lowering: a validated program, its INT8 weights and a batch of token embeddings → the one word stream the
//! accelerator consumes (docs/accelerator.md). It refuses, with one line naming both sides, any program the design
//! cannot run (another N:M, other dimensions, other fixed tables, buffers the hardware does not have).

use thiserror::Error;

use super::config::{AccelConfig, SCORE_BITS};
use super::isa::{
    norm_record, param_record, weight_beat_record, xdata_record, BufferId, GemmMode, Instr, Record,
};
use crate::encoder::program::{
    default_gelu_table, default_rsqrt_table, default_softmax_spec, Buffer, Epilogue, LinearKind,
    NormKind, NormMethod, Op, Program, Sparsity, GELU_FRAC_BITS,
};
use crate::encoder::run::{EncoderWeights, Tokens};
use crate::nm::{compress, Compressed};
use crate::Matrix;

/// What the design cannot run, or inputs that do not fit it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LowerError {
    #[error("the program is {program} but the design runs {design} and dense programs: compile with --n-m {design} or --n-m dense, or generate a design for {program}")]
    Sparsity { program: String, design: String },
    #[error("the program's dimensions (d_model {p_d}, heads {p_h}, ffn {p_f}) differ from the design's (d_model {d_d}, heads {d_h}, ffn {d_f})")]
    Dims {
        p_d: usize,
        p_h: usize,
        p_f: usize,
        d_d: usize,
        d_h: usize,
        d_f: usize,
    },
    #[error("the program's {0} differs from the one built into the design (the encoder default): recompile with the defaults")]
    FixedTable(&'static str),
    #[error("the program uses LayerNorm method `exact`; the accelerator implements `rsqrt`: compile with --norm rsqrt")]
    NormMethod,
    #[error("op {index} ({op}): {reason}")]
    Op {
        index: usize,
        op: String,
        reason: String,
    },
    #[error("the batch needs {tokens} tokens on chip (sentences padded to multiples of {array}) but the design holds {max_tokens}: send fewer or shorter sentences, or generate with a larger --max-tokens")]
    TooManyTokens {
        tokens: usize,
        array: usize,
        max_tokens: usize,
    },
    #[error("layer {layer} {kind}: {reason}")]
    Weights {
        layer: usize,
        kind: &'static str,
        reason: String,
    },
    #[error("tokens: {0}")]
    Tokens(String),
}

/// Where the sentences of a batch sit on chip: each starts at a multiple of the array size (docs/accelerator.md:
/// attention reads its rows from bank 0 up); the rows between sentences are padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLayout {
    pub starts: Vec<usize>,
    pub lengths: Vec<usize>,
    /// Rows on chip (a multiple of the array size).
    pub tokens: usize,
}

impl BatchLayout {
    pub fn new(lengths: &[usize], config: &AccelConfig) -> Result<BatchLayout, LowerError> {
        if lengths.is_empty() || lengths.contains(&0) {
            return Err(LowerError::Tokens(
                "a batch needs at least one sentence, each with at least one token".into(),
            ));
        }
        let b = config.array;
        let mut starts = Vec::with_capacity(lengths.len());
        let mut next = 0usize;
        for &len in lengths {
            starts.push(next);
            // saturating: a length near usize::MAX must not wrap into a small batch
            next = next.saturating_add(len.div_ceil(b).saturating_mul(b));
        }
        if next > config.max_tokens {
            return Err(LowerError::TooManyTokens {
                tokens: next,
                array: b,
                max_tokens: config.max_tokens,
            });
        }
        Ok(BatchLayout {
            starts,
            lengths: lengths.to_vec(),
            tokens: next,
        })
    }

    /// The on-chip row of every real token, in batch order.
    pub fn rows(&self) -> impl Iterator<Item = usize> + '_ {
        self.starts
            .iter()
            .zip(&self.lengths)
            .flat_map(|(&s, &len)| s..s + len)
    }
}

/// One STORE the program asks for: which buffer, after which layer (and, when every op is traced, after which op
/// of the program).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreTag {
    pub layer: usize,
    pub buffer: BufferId,
    pub op: Option<usize>,
}

/// The lowered program: the input stream as records (the harness turns them into words), what comes back.
#[derive(Debug, Clone)]
pub struct Lowered {
    pub records: Vec<Record>,
    pub instructions: Vec<Instr>,
    pub layout: BatchLayout,
    /// The STOREs in stream order (each returns layout.tokens × D/M XDATA records).
    pub stores: Vec<StoreTag>,
}

/// Which results come back: the output of every op (to find the first op that differs), of every layer, or of
/// the last layer only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trace {
    EveryOp,
    EveryLayer,
    LastLayer,
}

/// Checks that the design can run the program at all (before any tokens are known).
pub fn check_program(config: &AccelConfig, program: &Program) -> Result<(), LowerError> {
    let design = format!("{}:{}", config.n, config.m);
    match program.sparsity {
        Sparsity::Dense => {}
        Sparsity::Nm { n, m } if (n, m) == (config.n, config.m) => {}
        other => {
            return Err(LowerError::Sparsity {
                program: other.to_string(),
                design,
            })
        }
    }
    let (p, d) = (program.dims, config.dims);
    if (p.d_model, p.heads, p.ffn) != (d.d_model, d.heads, d.ffn) {
        return Err(LowerError::Dims {
            p_d: p.d_model,
            p_h: p.heads,
            p_f: p.ffn,
            d_d: d.d_model,
            d_h: d.heads,
            d_f: d.ffn,
        });
    }
    if program.softmax != default_softmax_spec() || program.softmax.score_bits != SCORE_BITS {
        return Err(LowerError::FixedTable("softmax configuration"));
    }
    if program.norm_method != NormMethod::Rsqrt {
        return Err(LowerError::NormMethod);
    }
    if program.rsqrt.as_ref() != Some(&default_rsqrt_table()) {
        return Err(LowerError::FixedTable("RSQRT table"));
    }
    for layer in &program.layers {
        gelu_ids(&layer.gelu)?;
    }
    for (index, op) in program.ops.iter().enumerate() {
        check_op(op).map_err(|reason| LowerError::Op {
            index,
            op: format!("{op:?}"),
            reason,
        })?;
    }
    Ok(())
}

/// The design's GELU tables, in the order of the epilogue's `gsel`.
pub fn design_gelu_tables() -> Vec<crate::pwl::PwlTable> {
    GELU_FRAC_BITS.filter_map(default_gelu_table).collect()
}

/// For each of a layer's GELU tables, its index among the design's.
fn gelu_ids(tables: &[crate::pwl::PwlTable]) -> Result<Vec<u8>, LowerError> {
    let design = design_gelu_tables();
    tables
        .iter()
        .map(|t| {
            design
                .iter()
                .position(|d| d == t)
                .map(|i| i as u8)
                .ok_or(LowerError::FixedTable("GELU table set"))
        })
        .collect()
}

fn id(b: Buffer) -> BufferId {
    match b {
        Buffer::X => BufferId::X,
        Buffer::Q => BufferId::Q,
        Buffer::K => BufferId::K,
        Buffer::V => BufferId::V,
        Buffer::Ctx => BufferId::Ctx,
        Buffer::Resid => BufferId::Resid,
        Buffer::H1 => BufferId::H1,
        Buffer::Ffn => BufferId::Ffn,
    }
}

/// The buffer rules of the hardware beyond the program format's own (V is stored transposed: written by a linear
/// layer, read only by attention).
fn check_op(op: &Op) -> Result<(), String> {
    let token_banked = |b: Buffer| b != Buffer::V && b != Buffer::Resid;
    match *op {
        Op::Linear {
            src, dst, epilogue, ..
        } => {
            if !token_banked(src) {
                return Err(format!(
                    "a linear layer cannot read {src:?} on the accelerator"
                ));
            }
            if let Epilogue::Residual { skip } = epilogue {
                if !token_banked(skip) || skip == Buffer::Ffn {
                    return Err(format!("the residual skip cannot be {skip:?}"));
                }
            } else if dst == Buffer::Resid {
                return Err("only a residual epilogue writes Resid".into());
            }
            Ok(())
        }
        Op::Attention { q, k, v, dst, .. } => {
            if v != Buffer::V {
                return Err("attention reads its values from V (stored transposed)".into());
            }
            if !(token_banked(q) && token_banked(k) && token_banked(dst)) || dst == Buffer::Ffn {
                return Err("attention reads Q and K and writes the context in token-banked INT8 buffers of width d_model".into());
            }
            Ok(())
        }
        Op::LayerNorm { dst, .. } => {
            if !token_banked(dst) || dst == Buffer::Ffn {
                return Err("LayerNorm writes a token-banked INT8 buffer of width d_model".into());
            }
            Ok(())
        }
    }
}

/// Lowers one batch. `tokens.x` is the host-quantised embeddings, sentence after sentence (unpadded).
pub fn lower(
    config: &AccelConfig,
    program: &Program,
    weights: &EncoderWeights,
    tokens: &Tokens,
    trace: Trace,
) -> Result<Lowered, LowerError> {
    check_program(config, program)?;
    let layout = BatchLayout::new(&tokens.lengths, config)?;
    let d = config.dims.d_model;
    if tokens.x.len() != tokens.count() * d {
        return Err(LowerError::Tokens(format!(
            "{} codes for {} tokens × d_model {d}",
            tokens.x.len(),
            tokens.count()
        )));
    }
    let mut s = Stream::new(config);
    s.load_x(&layout, &tokens.x);
    let dense = program.sparsity == Sparsity::Dense;
    let last_layer_op = program.ops.len().saturating_sub(1);
    for (index, op) in program.ops.iter().enumerate() {
        let layer = &program.layers[op.layer()];
        match *op {
            Op::Linear {
                layer: l,
                kind,
                src,
                dst,
                epilogue,
            } => {
                let w = &weights.layers[l][kind.index()];
                let gelu = gelu_ids(&layer.gelu)?;
                s.linear(LinearJob {
                    layer: l,
                    kind,
                    w,
                    params: layer.linear(kind),
                    gelu_of_channel: &layer
                        .gelu_select
                        .iter()
                        .map(|&g| gelu[usize::from(g)])
                        .collect::<Vec<_>>(),
                    src: id(src),
                    dst: id(dst),
                    epilogue,
                    dense,
                    tokens: layout.tokens,
                })?;
            }
            Op::Attention {
                q: _,
                k: _,
                v: _,
                dst: _,
                ..
            } => {
                let a = layer.attention;
                s.instr(Instr::SetAttn {
                    score_mult: a.score.mult,
                    score_shift: a.score.shift,
                    context_mult: a.context.mult,
                    context_shift: a.context.shift,
                });
                for (&start, &len) in layout.starts.iter().zip(&layout.lengths) {
                    for head in 0..config.dims.heads {
                        s.instr(Instr::Attn { head, start, len });
                    }
                }
            }
            Op::LayerNorm {
                layer: l,
                norm,
                dst,
                ..
            } => {
                let bank = u8::from(norm == NormKind::Ffn);
                let p = layer.norm(norm);
                s.instr(Instr::LoadNorm { bank });
                for c in 0..d {
                    s.records.push(norm_record(p.gain[c], p.offset[c]));
                }
                s.instr(Instr::LayerNorm {
                    bank,
                    dst: id(dst),
                    shift: p.shift,
                    tokens: layout.tokens,
                });
                let layer_output = norm == NormKind::Ffn;
                if trace != Trace::EveryOp
                    && layer_output
                    && (trace == Trace::EveryLayer || index == last_layer_op)
                {
                    s.instr(Instr::Store {
                        buffer: id(dst),
                        tokens: layout.tokens,
                    });
                    s.stores.push(StoreTag {
                        layer: l,
                        buffer: id(dst),
                        op: None,
                    });
                }
            }
        }
        if trace == Trace::EveryOp {
            let dst = match *op {
                Op::Linear { dst, .. } | Op::Attention { dst, .. } | Op::LayerNorm { dst, .. } => {
                    dst
                }
            };
            s.instr(Instr::Store {
                buffer: id(dst),
                tokens: layout.tokens,
            });
            s.stores.push(StoreTag {
                layer: op.layer(),
                buffer: id(dst),
                op: Some(index),
            });
        }
    }
    s.instr(Instr::End);
    Ok(Lowered {
        records: s.records,
        instructions: s.instructions,
        layout,
        stores: s.stores,
    })
}

/// One linear op to lower.
struct LinearJob<'a> {
    layer: usize,
    kind: LinearKind,
    w: &'a Matrix<i8>,
    params: &'a crate::encoder::program::LinearParams,
    gelu_of_channel: &'a [u8],
    src: BufferId,
    dst: BufferId,
    epilogue: Epilogue,
    dense: bool,
    tokens: usize,
}

/// The stream under construction.
struct Stream<'c> {
    config: &'c AccelConfig,
    records: Vec<Record>,
    instructions: Vec<Instr>,
    stores: Vec<StoreTag>,
    /// Tile halves alternate over the whole program, so the first tile of a layer loads while the last tile of the
    /// previous one computes.
    next_half: u8,
}

impl<'c> Stream<'c> {
    fn new(config: &'c AccelConfig) -> Self {
        Stream {
            config,
            records: Vec::new(),
            instructions: Vec::new(),
            stores: Vec::new(),
            next_half: 0,
        }
    }

    fn instr(&mut self, i: Instr) {
        self.records.push(i.record());
        self.instructions.push(i);
    }

    /// LOAD_X: the padded batch, token-major, one XDATA record per group of M codes (padding rows are zero).
    fn load_x(&mut self, layout: &BatchLayout, x: &[i8]) {
        let (d, m) = (self.config.dims.d_model, self.config.m);
        let mut rows = vec![0i8; layout.tokens * d];
        for (i, row) in layout.rows().enumerate() {
            rows[row * d..row * d + d].copy_from_slice(&x[i * d..i * d + d]);
        }
        self.instr(Instr::LoadX {
            tokens: layout.tokens,
        });
        for group in rows.chunks_exact(m) {
            self.records.push(xdata_record(group));
        }
    }

    /// One linear op: per output tile, LOAD_W (B PARAM + the tile's WBEAT records) then GEMM.
    fn linear(&mut self, job: LinearJob<'_>) -> Result<(), LowerError> {
        let c = self.config;
        let (outputs, k) = (job.w.rows(), job.w.cols());
        let compressed = if job.dense {
            None
        } else {
            let pattern = c.pattern().map_err(|e| LowerError::Tokens(e.to_string()))?;
            Some(compress(job.w, pattern).map_err(|e| LowerError::Weights {
                layer: job.layer,
                kind: job.kind.name(),
                reason: e.to_string(),
            })?)
        };
        let (mode, skip) = match job.epilogue {
            Epilogue::Requant => (GemmMode::Requant, BufferId::X),
            Epilogue::Gelu => (GemmMode::Gelu, BufferId::X),
            Epilogue::Residual { skip } => (GemmMode::Residual, id(skip)),
        };
        let beats = c.tile_beats(k, job.dense);
        for o0 in (0..outputs).step_by(c.array) {
            let half = self.next_half;
            self.next_half ^= 1;
            self.instr(Instr::LoadW {
                half,
                dense: job.dense,
                beats,
            });
            for r in 0..c.array {
                let o = o0 + r;
                let p = job.params;
                let rs = if mode == GemmMode::Residual {
                    p.residual_shift[o]
                } else {
                    0
                };
                let g = if mode == GemmMode::Gelu {
                    job.gelu_of_channel[o]
                } else {
                    0
                };
                self.records
                    .push(param_record(p.bias[o], p.mult[o], p.shift[o], rs, g));
            }
            for beat in 0..beats {
                let (values, indices) = match &compressed {
                    Some(cw) => sparse_beat(c, cw, o0, beat),
                    None => dense_beat(c, job.w, o0, beat),
                };
                self.records.push(weight_beat_record(c, &values, &indices));
            }
            self.instr(Instr::Gemm {
                half,
                dense: job.dense,
                src: job.src,
                dst: job.dst,
                skip,
                mode,
                o0,
                tokens: job.tokens,
            });
        }
        Ok(())
    }
}

/// Beat g of a sparse tile: the canonical compressed group g of rows o0 … o0 + B − 1.
fn sparse_beat(c: &AccelConfig, w: &Compressed, o0: usize, g: usize) -> (Vec<i8>, Vec<u8>) {
    let mut values = Vec::with_capacity(c.array * c.n);
    let mut indices = Vec::with_capacity(c.array * c.n);
    for r in 0..c.array {
        for s in 0..c.n {
            values.push(w.value(o0 + r, g, s).unwrap_or(0));
            indices.push(w.index(o0 + r, g, s).unwrap_or(s as u8));
        }
    }
    (values, indices)
}

/// Beat b of a dense tile: W[o0 + r][bN + s] (0 past K), indices 0.
fn dense_beat(c: &AccelConfig, w: &Matrix<i8>, o0: usize, b: usize) -> (Vec<i8>, Vec<u8>) {
    let values = (0..c.array)
        .flat_map(|r| (0..c.n).map(move |s| (r, s)))
        .map(|(r, s)| w.get(o0 + r, b * c.n + s).copied().unwrap_or(0))
        .collect();
    (values, vec![0; c.array * c.n])
}

/// The instruction list `lower` produces for the standard encoder (`Program::standard_ops(layers)`) on a batch of
/// `lengths`, without weights or parameters: what the cycle model needs (`sta estimate`). The test
/// `plan_matches_lower` (compiler/tests/accel_lowering.rs) keeps the two in step.
pub fn plan_standard(
    config: &AccelConfig,
    lengths: &[usize],
    dense: bool,
    layers: usize,
    trace: Trace,
) -> Result<Vec<Instr>, LowerError> {
    let layout = BatchLayout::new(lengths, config)?;
    let tokens = layout.tokens;
    let (d, f) = (config.dims.d_model, config.dims.ffn);
    let mut out = vec![Instr::LoadX { tokens }];
    let mut half = 0u8;
    let ops = Program::standard_ops(layers);
    let last = ops.len().saturating_sub(1);
    for (index, op) in ops.iter().enumerate() {
        match *op {
            Op::Linear {
                kind,
                src,
                dst,
                epilogue,
                ..
            } => {
                let (outputs, k) = match kind {
                    LinearKind::FfnIn => (f, d),
                    LinearKind::FfnOut => (d, f),
                    _ => (d, d),
                };
                let (mode, skip) = match epilogue {
                    Epilogue::Requant => (GemmMode::Requant, BufferId::X),
                    Epilogue::Gelu => (GemmMode::Gelu, BufferId::X),
                    Epilogue::Residual { skip } => (GemmMode::Residual, id(skip)),
                };
                let beats = config.tile_beats(k, dense);
                for o0 in (0..outputs).step_by(config.array) {
                    out.push(Instr::LoadW { half, dense, beats });
                    out.push(Instr::Gemm {
                        half,
                        dense,
                        src: id(src),
                        dst: id(dst),
                        skip,
                        mode,
                        o0,
                        tokens,
                    });
                    half ^= 1;
                }
            }
            Op::Attention { .. } => {
                out.push(Instr::SetAttn {
                    score_mult: 0,
                    score_shift: 0,
                    context_mult: 0,
                    context_shift: 0,
                });
                for (&start, &len) in layout.starts.iter().zip(&layout.lengths) {
                    for head in 0..config.dims.heads {
                        out.push(Instr::Attn { head, start, len });
                    }
                }
            }
            Op::LayerNorm { norm, dst, .. } => {
                let bank = u8::from(norm == NormKind::Ffn);
                out.push(Instr::LoadNorm { bank });
                out.push(Instr::LayerNorm {
                    bank,
                    dst: id(dst),
                    shift: 0,
                    tokens,
                });
                if trace != Trace::EveryOp
                    && norm == NormKind::Ffn
                    && (trace == Trace::EveryLayer || index == last)
                {
                    out.push(Instr::Store {
                        buffer: id(dst),
                        tokens,
                    });
                }
            }
        }
        if trace == Trace::EveryOp {
            let dst = match *op {
                Op::Linear { dst, .. } | Op::Attention { dst, .. } | Op::LayerNorm { dst, .. } => {
                    dst
                }
            };
            out.push(Instr::Store {
                buffer: id(dst),
                tokens,
            });
        }
    }
    out.push(Instr::End);
    Ok(out)
}

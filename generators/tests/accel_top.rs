//! The whole accelerator (`sta_top`, docs/accelerator.md) in Verilator: hand-built instruction streams (the
//! encoders of `sta_golden::top::isa`) on three small configurations (B = 4 with W = 32 and W = 128, B = 8 with
//! W = 64), every STORE and STATUS record compared with a golden model of the buffers built from
//! `sta_golden::encoder::ops` (below, `Chip`), with random input gaps and output back-pressure; error cases; a
//! reset in the middle of a run; `verilator --lint-only -Wall` (also on large configurations), Yosys `synth` +
//! `check -assert` and block-RAM inference on the tiny configuration. Two ignored helpers: `cycle_probe` (the
//! engines' busy cycles behind docs/accelerator.md "Cycles") and `trace_back_to_back` (a VCD of one program).
//!
//! The default set (`make test`, CI) does not simulate W = 128 (the tiny configuration with wider words: a Verilator
//! build of its own; it is linted), lints two of the three large configurations (not the 32 × 32 16:16 array) and
//! runs Yosys on the smallest legal configuration (2 × 2, 2:4, D 8) instead of the tiny one (over two minutes);
//! `STA_TEST_FULL=1` (`make test-full`) runs all of the above.
//!
//! `cargo test -p sta-generators --test accel_top`

mod common;

use std::path::{Path, PathBuf};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sta_generators::yosys::synth_check;
use sta_golden::encoder::ops::{affine, dot_i8, gelu, norm_stats, normalise, requant, residual};
use sta_golden::encoder::program::{default_rsqrt_table, EncoderDims, NormMethod, Scale};
use sta_golden::matrix::Matrix;
use sta_golden::nm::compress;
use sta_golden::softmax::encoder_softmax_numerics;
use sta_golden::top::config::AccelConfig;
use sta_golden::top::isa::STATUS_BITS;
use sta_golden::top::isa::{
    norm_record, param_record, weight_beat_record, xdata_record, BufferId, GemmMode, Instr, Record,
    Status, Word,
};
use sta_golden::top::lower::design_gelu_tables;
use sta_hdl::accel::top::emit_top;
use sta_testbenches::accel_top::{
    build_accel_top, AccelOutcome, AccelRun, AccelTopSimBuild, StimItem,
};
use sta_testbenches::{BuildOptions, SimError};

fn cache_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("sta-accel-top-cache")
}

fn dims(d_model: usize, heads: usize, ffn: usize) -> EncoderDims {
    EncoderDims {
        d_model,
        heads,
        ffn,
        layers: 1,
    }
}

/// B = 4, 2:8 (M > B), P = 4, T_MAX = 16, D = 32 (2 heads of 16), F = 64, W = 32.
fn tiny() -> AccelConfig {
    AccelConfig::new((2, 8), 4, 4, 16, dims(32, 2, 64), 32).unwrap_or_else(|e| panic!("{e}"))
}

/// B = 8, 2:4 (M < B), P = 4 < B, T_MAX = 32, D = 32 (2 heads of 16), F = 64, W = 64.
fn wide() -> AccelConfig {
    AccelConfig::new((2, 4), 8, 4, 32, dims(32, 2, 64), 64).unwrap_or_else(|e| panic!("{e}"))
}

/// A generated design directory.
#[allow(dead_code)]
struct Design {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    sources: Vec<PathBuf>,
    top: String,
    config: AccelConfig,
}

fn design(config: AccelConfig) -> Design {
    let generated = emit_top(&config).unwrap_or_else(|e| panic!("{e}"));
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("rtl");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let sources = generated
        .modules
        .iter()
        .map(|m| {
            let path = dir.join(format!("{}.v", m.name));
            std::fs::write(&path, &m.text).unwrap_or_else(|e| panic!("{e}"));
            path
        })
        .collect();
    Design {
        _tmp: tmp,
        dir,
        sources,
        top: generated.top,
        config,
    }
}

impl Design {
    fn build(&self) -> AccelTopSimBuild {
        match build_accel_top(
            &self.sources,
            &self.top,
            self.config.word_bits,
            &cache_root(),
            &BuildOptions::default(),
        ) {
            Ok(b) => b,
            Err(SimError::BuildFailed { tail, .. }) => panic!("verilator build failed:\n{tail}"),
            Err(e) => panic!("{e}"),
        }
    }
}

/// One simulation per configuration per test binary: the model is built once and shared by the tests.
fn sim(config: AccelConfig) -> &'static (Design, AccelTopSimBuild) {
    use std::sync::Mutex;
    type Sims = Vec<(AccelConfig, &'static (Design, AccelTopSimBuild))>;
    static SIMS: Mutex<Sims> = Mutex::new(Vec::new());
    let mut sims = SIMS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, s)) = sims.iter().find(|(c, _)| *c == config) {
        return s;
    }
    let d = design(config);
    let b = d.build();
    let leaked: &'static (Design, AccelTopSimBuild) = Box::leak(Box::new((d, b)));
    sims.push((config, leaked));
    leaked
}

/// The tiny configuration with W = 128: every instruction and weight beat is one word.
fn tiny128() -> AccelConfig {
    AccelConfig::new((2, 8), 4, 4, 16, dims(32, 2, 64), 128).unwrap_or_else(|e| panic!("{e}"))
}

/// `configs`, and with STA_TEST_FULL=1 also [`tiny128`] (the tiny configuration with another word width: a
/// Verilator build of its own).
fn with_tiny128(configs: &[AccelConfig]) -> Vec<AccelConfig> {
    let mut all = configs.to_vec();
    if common::full() {
        all.push(tiny128());
    }
    all
}

/// The smallest legal configuration (2 × 2 array, 2:4, P = 2, T_MAX = 8, D 8 in 2 heads, F 16, W = 32): Yosys in
/// the default set.
fn smallest() -> AccelConfig {
    AccelConfig::new((2, 4), 2, 2, 8, dims(8, 2, 16), 32).unwrap_or_else(|e| panic!("{e}"))
}

/*
 * The golden model of the chip's buffers (row-major token × width, V untransposed), built from the encoder's ops
 */

/// One output tile: its weights (B × K, with the pruned zeros), parameters and the records that load it.
#[derive(Clone)]
struct Tile {
    w: Matrix<i8>,
    params: Vec<(i32, Scale, u32, usize)>,
    dense: bool,
}

struct Chip {
    c: AccelConfig,
    int8: Vec<Vec<i8>>,
    resid: Vec<i32>,
    tiles: [Option<Tile>; 2],
    norms: [Vec<(i32, i64)>; 2],
    attn: (Scale, Scale),
    /// What the chip must send, record by record (without the final STATUS).
    out: Vec<Record>,
}

fn width(c: &AccelConfig, id: BufferId) -> usize {
    if id == BufferId::Ffn {
        c.dims.ffn
    } else {
        c.dims.d_model
    }
}

impl Chip {
    fn new(c: AccelConfig) -> Chip {
        let t = c.max_tokens;
        let int8 = (0..8)
            .map(|id| vec![0i8; t * if id == 7 { c.dims.ffn } else { c.dims.d_model }])
            .collect();
        Chip {
            c,
            int8,
            resid: vec![0; t * c.dims.d_model],
            tiles: [None, None],
            norms: [Vec::new(), Vec::new()],
            attn: (Scale { mult: 0, shift: 0 }, Scale { mult: 0, shift: 0 }),
            out: Vec::new(),
        }
    }

    fn buf(&self, id: BufferId) -> &[i8] {
        &self.int8[id as usize]
    }

    #[allow(clippy::too_many_arguments)]
    fn gemm(
        &mut self,
        half: usize,
        src: BufferId,
        dst: BufferId,
        skip: BufferId,
        mode: GemmMode,
        o0: usize,
        tokens: usize,
    ) {
        let tile = self.tiles[half]
            .clone()
            .unwrap_or_else(|| panic!("no tile in half {half}"));
        let k = width(&self.c, src);
        let d = self.c.dims.d_model;
        let tables = design_gelu_tables();
        let acc = sta_golden::encoder::ops::gemm_i8(&self.buf(src)[..tokens * k], tile.w.data(), k);
        let b = self.c.array;
        for t in 0..tokens {
            for r in 0..b {
                let a = i64::from(acc[t * b + r]);
                let (bias, scale, rs, g) = tile.params[r];
                let o = o0 + r;
                match mode {
                    GemmMode::Residual => {
                        let s = self.buf(skip)[t * d + o];
                        self.resid[t * d + o] = residual(a, bias, scale, s, rs);
                    }
                    _ => {
                        let q = requant(a + i64::from(bias), scale, 8) as i8;
                        let y = if mode == GemmMode::Gelu {
                            gelu(q, &tables[g])
                        } else {
                            q
                        };
                        let wd = width(&self.c, dst);
                        self.int8[dst as usize][t * wd + o] = y;
                    }
                }
            }
        }
    }

    fn layer_norm(&mut self, bank: usize, dst: BufferId, shift: u32, tokens: usize) {
        let d = self.c.dims.d_model;
        let table = default_rsqrt_table();
        for t in 0..tokens {
            let row = self.resid[t * d..t * d + d].to_vec();
            let stats = norm_stats(&row, NormMethod::Rsqrt, Some(&table));
            for (i, &v) in row.iter().enumerate() {
                let (gain, offset) = self.norms[bank][i];
                self.int8[dst as usize][t * d + i] =
                    affine(normalise(v, &stats), gain, offset, shift);
            }
        }
    }

    fn attention(&mut self, head: usize, start: usize, len: usize) {
        let d = self.c.dims.d_model;
        let dh = self.c.head_dim();
        let softmax = encoder_softmax_numerics();
        let (score, context) = self.attn;
        let at = |t: usize, c: usize| (start + t) * d + head * dh + c;
        let (q, k, v) = (
            self.buf(BufferId::Q),
            self.buf(BufferId::K),
            self.buf(BufferId::V),
        );
        let mut ctx = Vec::with_capacity(len * dh);
        for i in 0..len {
            let scores: Vec<i64> = (0..len)
                .map(|j| {
                    requant(
                        i64::from(dot_i8(&q[at(i, 0)..at(i, dh)], &k[at(j, 0)..at(j, dh)])),
                        score,
                        16,
                    )
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
            self.int8[BufferId::Ctx as usize][at(i, 0)..at(i, dh)]
                .copy_from_slice(&ctx[i * dh..i * dh + dh]);
        }
    }

    /// The records of STORE `id`, `tokens`.
    fn store(&mut self, id: BufferId, tokens: usize) {
        let (m, b, d) = (self.c.m, self.c.array, self.c.dims.d_model);
        match id {
            BufferId::V => {
                for c in 0..d {
                    for u in 0..tokens.div_ceil(b) {
                        let codes: Vec<i8> = (0..b)
                            .map(|j| self.buf(id).get((u * b + j) * d + c).copied().unwrap_or(0))
                            .collect();
                        self.out.push(xdata_record(&codes));
                    }
                }
            }
            BufferId::Resid => {
                for t in 0..tokens {
                    for c in 0..d {
                        let mut r = Record::new(32);
                        r.put(0, 32, i128::from(self.resid[t * d + c]));
                        self.out.push(r);
                    }
                }
            }
            _ => {
                let w = width(&self.c, id);
                let records: Vec<Record> = self.buf(id)[..tokens * w]
                    .chunks(m)
                    .map(xdata_record)
                    .collect();
                self.out.extend(records);
            }
        }
    }
}

/// A program under construction: the input records and the chip's expected state.
struct Prog {
    chip: Chip,
    records: Vec<Record>,
    instructions: u16,
}

impl Prog {
    fn new(c: AccelConfig) -> Prog {
        Prog {
            chip: Chip::new(c),
            records: Vec::new(),
            instructions: 0,
        }
    }

    fn c(&self) -> AccelConfig {
        self.chip.c
    }

    fn instr(&mut self, i: Instr) {
        self.records.push(i.record());
        self.instructions = self.instructions.wrapping_add(1);
    }

    fn load_x(&mut self, x: &[i8]) {
        let (d, m) = (self.c().dims.d_model, self.c().m);
        let tokens = x.len() / d;
        self.instr(Instr::LoadX { tokens });
        for group in x.chunks(m) {
            self.records.push(xdata_record(group));
        }
        self.chip.int8[0][..x.len()].copy_from_slice(x);
    }

    fn load_w(&mut self, half: usize, tile: Tile) {
        let c = self.c();
        let (b, n, m) = (c.array, c.n, c.m);
        let k = tile.w.cols();
        let beats = c.tile_beats(k, tile.dense);
        self.instr(Instr::LoadW {
            half: half as u8,
            dense: tile.dense,
            beats,
        });
        for &(bias, scale, rs, g) in &tile.params {
            self.records
                .push(param_record(bias, scale.mult, scale.shift, rs, g as u8));
        }
        let compressed = (!tile.dense).then(|| {
            compress(&tile.w, c.pattern().unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_else(|e| panic!("{e}"))
        });
        for beat in 0..beats {
            let mut values = Vec::new();
            let mut indices = Vec::new();
            for r in 0..b {
                for s in 0..n {
                    match &compressed {
                        Some(cw) => {
                            values.push(cw.value(r, beat, s).unwrap_or(0));
                            indices.push(cw.index(r, beat, s).unwrap_or(s as u8));
                        }
                        None => {
                            values.push(tile.w.get(r, beat * n + s).copied().unwrap_or(0));
                            indices.push(0);
                        }
                    }
                }
            }
            let _ = m;
            self.records.push(weight_beat_record(&c, &values, &indices));
        }
        self.chip.tiles[half] = Some(tile);
    }

    #[allow(clippy::too_many_arguments)]
    fn gemm(
        &mut self,
        half: usize,
        src: BufferId,
        dst: BufferId,
        skip: BufferId,
        mode: GemmMode,
        o0: usize,
        tokens: usize,
    ) {
        let dense = self.chip.tiles[half].as_ref().is_some_and(|t| t.dense);
        self.instr(Instr::Gemm {
            half: half as u8,
            dense,
            src,
            dst,
            skip,
            mode,
            o0,
            tokens,
        });
        self.chip.gemm(half, src, dst, skip, mode, o0, tokens);
    }

    /// A whole linear layer: every output tile of `w` (outputs × K), tiles alternating halves from `half`.
    #[allow(clippy::too_many_arguments)]
    fn linear(
        &mut self,
        half: &mut usize,
        tiles: &[Tile],
        src: BufferId,
        dst: BufferId,
        skip: BufferId,
        mode: GemmMode,
        tokens: usize,
    ) {
        let b = self.c().array;
        for (i, tile) in tiles.iter().enumerate() {
            self.load_w(*half, tile.clone());
            self.gemm(*half, src, dst, skip, mode, i * b, tokens);
            *half ^= 1;
        }
    }

    fn load_norm(&mut self, bank: usize, gains: &[(i32, i64)]) {
        self.instr(Instr::LoadNorm { bank: bank as u8 });
        for &(g, o) in gains {
            self.records.push(norm_record(g, o));
        }
        self.chip.norms[bank] = gains.to_vec();
    }

    fn layer_norm(&mut self, bank: usize, dst: BufferId, shift: u32, tokens: usize) {
        self.instr(Instr::LayerNorm {
            bank: bank as u8,
            dst,
            shift,
            tokens,
        });
        self.chip.layer_norm(bank, dst, shift, tokens);
    }

    fn set_attn(&mut self, score: Scale, context: Scale) {
        self.instr(Instr::SetAttn {
            score_mult: score.mult,
            score_shift: score.shift,
            context_mult: context.mult,
            context_shift: context.shift,
        });
        self.chip.attn = (score, context);
    }

    fn attn(&mut self, head: usize, start: usize, len: usize) {
        self.instr(Instr::Attn { head, start, len });
        self.chip.attention(head, start, len);
    }

    fn store(&mut self, id: BufferId, tokens: usize) {
        self.instr(Instr::Store { buffer: id, tokens });
        self.chip.store(id, tokens);
    }

    fn end(&mut self) {
        self.instr(Instr::End);
    }

    /// The input stream.
    fn stimulus(&self) -> Vec<StimItem> {
        let w = self.c().word_bits;
        self.records
            .iter()
            .flat_map(|r| r.words(w))
            .map(StimItem::Word)
            .collect()
    }

    /// Words the chip sends: every expected record and the STATUS.
    fn expected_words(&self) -> usize {
        let c = self.c();
        self.chip
            .out
            .iter()
            .map(|r| c.words(r.width()))
            .sum::<usize>()
            + c.words(STATUS_BITS)
    }
}

/// The received words as records: split at m_out_tlast, each rebuilt with the width of the record expected there.
fn records_of(words: &[(Word, bool)], widths: &[usize], word_bits: u32) -> Vec<Record> {
    let mut records = Vec::new();
    let mut current = Vec::new();
    for (w, last) in words {
        current.push(w.clone());
        if *last {
            let width = widths.get(records.len()).copied().unwrap_or(STATUS_BITS);
            assert_eq!(
                current.len(),
                width.div_ceil(word_bits as usize),
                "record {} has {} words",
                records.len(),
                current.len()
            );
            records.push(Record::from_words(&current, width, word_bits));
            current.clear();
        }
    }
    assert!(
        current.is_empty(),
        "{} words after the last m_out_tlast",
        current.len()
    );
    records
}

/// Runs the program (with stalls from `run`) and checks every record and the STATUS; returns the outcome and STATUS.
fn check(prog: &Prog, run: &AccelRun) -> (AccelOutcome, Status) {
    let (_, sim) = sim(prog.c());
    let outcome = sim
        .run(&prog.stimulus(), prog.expected_words(), run)
        .unwrap_or_else(|e| panic!("{e}"));
    let widths: Vec<usize> = prog.chip.out.iter().map(Record::width).collect();
    let records = records_of(outcome.last_segment(), &widths, prog.c().word_bits);
    assert_eq!(records.len(), prog.chip.out.len() + 1, "records received");
    for (i, (got, want)) in records.iter().zip(&prog.chip.out).enumerate() {
        assert_eq!(got, want, "record {i} of {}", prog.chip.out.len());
    }
    let status = Status::decode(&records[records.len() - 1]);
    assert_eq!(status.error, 0, "{status:?}");
    assert_eq!(status.instructions, prog.instructions, "{status:?}");
    assert!(
        !outcome.err && !outcome.busy,
        "err {} busy {}",
        outcome.err,
        outcome.busy
    );
    assert_eq!(
        outcome.words_in, outcome.words_in_total,
        "every input word taken"
    );
    (outcome, status)
}

fn stalls(seed: u64) -> AccelRun {
    AccelRun {
        seed,
        in_gap: 30,
        out_stall: 30,
        max_cycles: 0,
    }
}

/*
 * Random data
 */

fn random_x(tokens: usize, d: usize, rng: &mut impl Rng) -> Vec<i8> {
    let mut x: Vec<i8> = (0..tokens * d).map(|_| rng.gen()).collect();
    // the extremes
    x[0] = -128;
    x[1] = 127;
    x
}

fn random_params(
    c: &AccelConfig,
    k: usize,
    mode: GemmMode,
    rng: &mut impl Rng,
) -> Vec<(i32, Scale, u32, usize)> {
    // a typical |acc| is sqrt(K) * 74^2 (random INT8 operands): 2^acc_bits. Biases of that size, and a scale of
    // about 64 / 2^acc_bits (mult ~ 2^14, shift ~ acc_bits + 8), keep most results inside INT8 and dependent on the
    // data; rows 0 and 1 of every tile take the extremes (bias i32::MIN / MAX, mult 2^15 - 1 at shift 47, a tiny
    // mult at shift 0: saturation), so the corner cases are in every GEMM too.
    let acc_bits = ((k as f64).sqrt() * 5500.0).log2() as u32;
    let base = (acc_bits + 8).min(45);
    (0..c.array)
        .map(|r| {
            let bias = match r % 7 {
                0 => i32::MIN,
                1 => i32::MAX,
                _ => rng.gen_range(-(1 << acc_bits)..(1 << acc_bits)),
            };
            let (mult, shift) = match r % 5 {
                0 => (32767, 47),
                1 => (rng.gen_range(1..8), 0),
                _ => (
                    rng.gen_range(1 << 13..1 << 15),
                    rng.gen_range(base - 2..=base + 2),
                ),
            };
            let rs = if mode == GemmMode::Residual {
                rng.gen_range(0..=24)
            } else {
                0
            };
            let g = if mode == GemmMode::Gelu {
                rng.gen_range(0..6)
            } else {
                0
            };
            (bias, Scale { mult, shift }, rs, g)
        })
        .collect()
}

/// The tiles of a linear layer: `outputs` × `k` weights (N:M pruned unless dense), tile by tile.
fn random_tiles(
    c: &AccelConfig,
    outputs: usize,
    k: usize,
    dense: bool,
    mode: GemmMode,
    rng: &mut ChaCha8Rng,
) -> Vec<Tile> {
    (0..outputs / c.array)
        .map(|_| {
            let w = if dense {
                common::random_i8(c.array, k, rng)
            } else {
                common::random_nm(c.array, k, c.n, c.m, rng)
            };
            Tile {
                w,
                params: random_params(c, k, mode, rng),
                dense,
            }
        })
        .collect()
}

/*
 * Tests
 */

#[test]
fn load_x_store_round_trip_and_status() {
    for config in with_tiny128(&[tiny(), wide()]) {
        let mut rng = common::rng(1);
        let t = config.max_tokens;
        let d = config.dims.d_model;
        let mut prog = Prog::new(config);
        let x = random_x(t, d, &mut rng);
        prog.load_x(&x);
        prog.store(BufferId::X, t);
        // a shorter STORE: any token count, not only whole tiles
        prog.store(BufferId::X, 3);
        prog.end();
        let (_, status) = check(&prog, &AccelRun::default());
        assert!(status.cycles > 0 && status.busy_store > 0, "{status:?}");
        check(&prog, &stalls(2));
        // two programs in one stream: END sends the first STATUS, the second program counts from 0
        let mut second = Prog::new(config);
        second.load_x(&random_x(t, d, &mut rng));
        second.store(BufferId::X, 2 * config.array);
        second.end();
        let items: Vec<StimItem> = prog
            .stimulus()
            .into_iter()
            .chain(second.stimulus())
            .collect();
        let (_, sim) = sim(config);
        let outcome = sim
            .run(
                &items,
                prog.expected_words() + second.expected_words(),
                &stalls(3),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let widths: Vec<usize> = prog
            .chip
            .out
            .iter()
            .map(Record::width)
            .chain([STATUS_BITS])
            .chain(second.chip.out.iter().map(Record::width))
            .collect();
        let records = records_of(outcome.last_segment(), &widths, config.word_bits);
        let n1 = prog.chip.out.len();
        assert_eq!(records.len(), n1 + second.chip.out.len() + 2);
        assert_eq!(&records[..n1], &prog.chip.out[..]);
        assert_eq!(&records[n1 + 1..records.len() - 1], &second.chip.out[..]);
        let (s1, s2) = (
            Status::decode(&records[n1]),
            Status::decode(&records[records.len() - 1]),
        );
        assert_eq!((s1.error, s1.instructions), (0, prog.instructions));
        assert_eq!((s2.error, s2.instructions), (0, second.instructions));
        assert!(
            s2.cycles < s1.cycles,
            "the second program's counters start at 0: {s1:?} {s2:?}"
        );
    }
}

/// A raw instruction record (any bits).
fn raw_instr(bits: u64) -> Record {
    let mut r = Record::new(64);
    r.put(0, 32, i128::from(bits as u32));
    r.put(32, 32, i128::from((bits >> 32) as u32));
    r
}

/// Runs `prog` followed by the bad instruction `bad` and a tail that must never be taken; the chip must send
/// `prog`'s records, then STATUS with `code`, raise err and stop taking input.
fn check_error(
    config: AccelConfig,
    prepare: impl Fn(&mut Prog),
    bad: Record,
    code: u8,
    run: &AccelRun,
) {
    let mut prog = Prog::new(config);
    prepare(&mut prog);
    let before = prog.instructions;
    let taken_words: usize = prog
        .records
        .iter()
        .chain([&bad])
        .map(|r| config.words(r.width()))
        .sum();
    prog.records.push(bad);
    // the tail: a STORE and END that must not run
    prog.records.push(
        Instr::Store {
            buffer: BufferId::X,
            tokens: 1,
        }
        .record(),
    );
    prog.records.push(Instr::End.record());
    let (_, sim) = sim(config);
    let outcome = sim
        .run(&prog.stimulus(), prog.expected_words(), run)
        .unwrap_or_else(|e| panic!("{e}"));
    let widths: Vec<usize> = prog.chip.out.iter().map(Record::width).collect();
    let records = records_of(outcome.last_segment(), &widths, config.word_bits);
    assert_eq!(records.len(), prog.chip.out.len() + 1, "records received");
    for (i, (got, want)) in records.iter().zip(&prog.chip.out).enumerate() {
        assert_eq!(got, want, "record {i}");
    }
    let status = Status::decode(&records[records.len() - 1]);
    assert_eq!(status.error, code, "{status:?}");
    assert_eq!(status.instructions, before, "{status:?}");
    assert!(outcome.err, "err must be high");
    assert!(!outcome.busy, "busy must fall after STATUS");
    assert_eq!(
        outcome.words_in as usize, taken_words,
        "words taken: up to the bad instruction"
    );
}

#[test]
fn errors_raise_err_send_status_and_stop() {
    for c in with_tiny128(&[tiny()]) {
        errors_of(c);
    }
}

fn errors_of(c: AccelConfig) {
    let t = c.max_tokens;
    let d = c.dims.d_model;
    let load = |p: &mut Prog| {
        let mut rng = common::rng(3);
        p.load_x(&random_x(t, d, &mut rng));
    };
    // opcode 12, opcode 0
    check_error(c, load, raw_instr(12), 1, &AccelRun::default());
    check_error(c, |_| {}, raw_instr(0), 1, &AccelRun::default());
    // a reserved bit of END
    check_error(c, load, raw_instr(9 | (1 << 40)), 5, &AccelRun::default());
    // GEMM into Resid with mode 0 (requant): illegal combination
    let gemm = |dst: BufferId, mode: GemmMode, o0: usize, tokens: usize, half: u8| {
        Instr::Gemm {
            half,
            dense: false,
            src: BufferId::X,
            dst,
            skip: BufferId::Q,
            mode,
            o0,
            tokens,
        }
        .record()
    };
    check_error(
        c,
        load,
        gemm(BufferId::Resid, GemmMode::Requant, 0, t, 0),
        2,
        &stalls(4),
    );
    // LOAD_X of more than T_MAX tokens, of a token count that is not whole tiles
    check_error(
        c,
        load,
        Instr::LoadX {
            tokens: t + c.array,
        }
        .record(),
        3,
        &AccelRun::default(),
    );
    check_error(
        c,
        |_| {},
        Instr::LoadX { tokens: 3 }.record(),
        3,
        &AccelRun::default(),
    );
    // ATTN of head H, of a sentence past T_MAX
    check_error(
        c,
        load,
        Instr::Attn {
            head: 2,
            start: 0,
            len: 4,
        }
        .record(),
        3,
        &AccelRun::default(),
    );
    check_error(
        c,
        load,
        Instr::Attn {
            head: 0,
            start: 8,
            len: 9,
        }
        .record(),
        3,
        &AccelRun::default(),
    );
    // a GEMM whose tile half was never loaded
    check_error(
        c,
        load,
        gemm(BufferId::Q, GemmMode::Requant, 0, t, 1),
        4,
        &AccelRun::default(),
    );
    // o0 past the destination
    let mut rng = common::rng(5);
    let tiles = random_tiles(&c, c.array, d, false, GemmMode::Requant, &mut rng);
    let with_tile = |p: &mut Prog| {
        load(p);
        p.load_w(0, tiles[0].clone());
    };
    check_error(
        c,
        with_tile,
        gemm(BufferId::Q, GemmMode::Requant, d, t, 0),
        3,
        &AccelRun::default(),
    );
    // the instructions before the error run to completion: a STORE, then STATUS
    let store_first = |p: &mut Prog| {
        load(p);
        p.store(BufferId::X, t);
    };
    check_error(c, store_first, raw_instr(15), 1, &stalls(6));
}

#[test]
fn reset_in_the_middle_then_a_clean_run() {
    let c = tiny();
    let (t, d) = (c.max_tokens, c.dims.d_model);
    let mut rng = common::rng(7);
    let mut prog = Prog::new(c);
    prog.load_x(&random_x(t, d, &mut rng));
    let mut half = 0;
    let tiles = random_tiles(&c, d, d, false, GemmMode::Requant, &mut rng);
    prog.linear(
        &mut half,
        &tiles,
        BufferId::X,
        BufferId::Q,
        BufferId::X,
        GemmMode::Requant,
        t,
    );
    prog.store(BufferId::Q, t);
    prog.end();
    let clean = prog.stimulus();
    let (_, sim) = sim(c);
    // cut the stream after 40 % of its words (inside the weights) and after 95 % (the chip computing, sending)
    for (cut, idle) in [
        (clean.len() * 2 / 5, 3),
        (clean.len() * 19 / 20, 40),
        (clean.len(), 10),
    ] {
        let mut items: Vec<StimItem> = clean[..cut].to_vec();
        items.push(StimItem::Reset { idle });
        items.extend(clean.iter().cloned());
        let outcome = sim
            .run(&items, prog.expected_words(), &stalls(cut as u64))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome.segments.len(), 2);
        let widths: Vec<usize> = prog.chip.out.iter().map(Record::width).collect();
        let records = records_of(outcome.last_segment(), &widths, c.word_bits);
        assert_eq!(records.len(), prog.chip.out.len() + 1);
        for (i, (got, want)) in records.iter().zip(&prog.chip.out).enumerate() {
            assert_eq!(got, want, "cut {cut}: record {i}");
        }
        let status = Status::decode(&records[records.len() - 1]);
        assert_eq!((status.error, status.instructions), (0, prog.instructions));
        assert!(!outcome.err && !outcome.busy);
    }
}

/// Every GEMM mode, sparse and dense, from and into every kind of buffer: Q (sparse REQ8), K (dense REQ8), V
/// (sparse, stored transposed), Ffn (dense GELU from Q), Resid (sparse residual from Ffn, K = F, skip K: waits for
/// the Ffn GEMMs), H1 (dense from Ffn), Ctx over the first token tile only; every buffer stored.
fn gemm_program(c: AccelConfig, seed: u64) -> Prog {
    let (t, d, f, b) = (c.max_tokens, c.dims.d_model, c.dims.ffn, c.array);
    let mut rng = common::rng(seed);
    let mut prog = Prog::new(c);
    prog.load_x(&random_x(t, d, &mut rng));
    let mut half = 0;
    use BufferId::*;
    use GemmMode::*;
    let layers: [(BufferId, BufferId, BufferId, GemmMode, bool, usize, usize); 7] = [
        (X, Q, X, Requant, false, d, t),
        (X, K, X, Requant, true, d, t),
        (X, V, X, Requant, false, d, t),
        (Q, Ffn, X, Gelu, true, f, t),
        (Ffn, Resid, K, Residual, false, d, t),
        (Ffn, H1, X, Requant, true, d, t),
        (X, Ctx, X, Requant, false, d, b),
    ];
    for (src, dst, skip, mode, dense, outputs, tokens) in layers {
        let k = width(&c, src);
        let tiles = random_tiles(&c, outputs, k, dense, mode, &mut rng);
        prog.linear(&mut half, &tiles, src, dst, skip, mode, tokens);
    }
    for id in [Q, K, V, Ffn, Resid, H1] {
        prog.store(id, t);
    }
    prog.store(Ctx, b);
    prog.end();
    prog
}

#[test]
fn gemm_every_mode_sparse_and_dense() {
    for (i, config) in with_tiny128(&[tiny(), wide()]).into_iter().enumerate() {
        let prog = gemm_program(config, 10 + i as u64);
        let (outcome, status) = check(&prog, &AccelRun::default());
        assert!(status.beats_gemm > 0 && status.busy_gemm > 0, "{status:?}");
        eprintln!(
            "{}: {} cycles, {status:?}",
            config.top_name(),
            outcome.cycles
        );
        check(&prog, &stalls(20 + i as u64));
    }
}

fn random_norm(d: usize, shift: u32, rng: &mut impl Rng) -> Vec<(i32, i64)> {
    (0..d)
        .map(|i| match i % 11 {
            0 => (-32768, -(1i64 << 39)),
            1 => (32767, (1i64 << 39) - 1),
            _ => (
                rng.gen_range(-32768..32768),
                rng.gen_range(-(1i64 << (shift + 6))..(1i64 << (shift + 6))),
            ),
        })
        .collect()
}

/// Resid from a residual GEMM, then LayerNorm with both norm banks into H1 and into X (which the GEMMs read), over
/// all tokens and over the first token tile.
fn layer_norm_program(c: AccelConfig, seed: u64) -> Prog {
    let (t, d, b) = (c.max_tokens, c.dims.d_model, c.array);
    let mut rng = common::rng(seed);
    let mut prog = Prog::new(c);
    prog.load_x(&random_x(t, d, &mut rng));
    let mut half = 0;
    use BufferId::*;
    use GemmMode::*;
    let q = random_tiles(&c, d, d, false, Requant, &mut rng);
    prog.linear(&mut half, &q, X, Q, X, Requant, t);
    let r = random_tiles(&c, d, d, true, Residual, &mut rng);
    prog.linear(&mut half, &r, X, Resid, Q, Residual, t);
    prog.load_norm(0, &random_norm(d, 22, &mut rng));
    prog.layer_norm(0, H1, 22, t);
    prog.load_norm(1, &random_norm(d, 26, &mut rng));
    prog.layer_norm(1, X, 26, t);
    prog.store(H1, t);
    prog.store(X, t);
    // LN over the first tile only, with bank 0 again, into K
    prog.layer_norm(0, K, 20, b);
    prog.store(K, b);
    prog.store(Resid, b);
    prog.end();
    prog
}

#[test]
fn layer_norm_both_banks() {
    for (i, config) in [tiny(), wide()].into_iter().enumerate() {
        let prog = layer_norm_program(config, 30 + i as u64);
        let (outcome, status) = check(&prog, &AccelRun::default());
        assert!(status.busy_ln > 0, "{status:?}");
        eprintln!(
            "{}: {} cycles, {status:?}",
            config.top_name(),
            outcome.cycles
        );
        check(&prog, &stalls(40 + i as u64));
    }
}

/// Q, K, V from GEMMs (V stored transposed), Ctx filled by a GEMM, then attention of sentences shorter than B,
/// longer than B (several query and key tiles, a partial last tile), of one token and of T_MAX tokens, for every
/// head; Ctx and V stored.
fn attention_program(c: AccelConfig, seed: u64, sentences: &[(usize, usize)]) -> Prog {
    let (t, d) = (c.max_tokens, c.dims.d_model);
    let mut rng = common::rng(seed);
    let mut prog = Prog::new(c);
    prog.load_x(&random_x(t, d, &mut rng));
    let mut half = 0;
    use BufferId::*;
    use GemmMode::*;
    for (dst, dense) in [(Q, false), (K, true), (V, false), (Ctx, false)] {
        let tiles = random_tiles(&c, d, d, dense, Requant, &mut rng);
        prog.linear(&mut half, &tiles, X, dst, X, Requant, t);
    }
    prog.set_attn(
        Scale {
            mult: 17000,
            shift: 18,
        },
        Scale {
            mult: 16000,
            shift: 21,
        },
    );
    for &(start, len) in sentences {
        for head in 0..c.dims.heads {
            prog.attn(head, start, len);
        }
    }
    // other scales, one sentence again
    prog.set_attn(
        Scale {
            mult: 30000,
            shift: 17,
        },
        Scale {
            mult: 9000,
            shift: 20,
        },
    );
    let (start, len) = sentences[0];
    prog.attn(c.dims.heads - 1, start, len);
    prog.store(Ctx, t);
    prog.store(V, t);
    prog.end();
    prog
}

#[test]
fn attention_short_long_and_full_sentences() {
    type Batches = Vec<Vec<(usize, usize)>>;
    let cases: [(AccelConfig, Batches); 2] = [
        (
            tiny(),
            vec![
                vec![(0, 3), (4, 9), (0, 1)],
                vec![(0, 16)],
                vec![(12, 4), (8, 5)],
            ],
        ),
        (
            wide(),
            vec![
                vec![(0, 5), (8, 17), (0, 8)],
                vec![(0, 32)],
                vec![(24, 1), (16, 9)],
            ],
        ),
    ];
    for (i, (config, batches)) in cases.into_iter().enumerate() {
        for (j, sentences) in batches.iter().enumerate() {
            let prog = attention_program(config, 50 + 10 * i as u64 + j as u64, sentences);
            let (outcome, status) = check(&prog, &AccelRun::default());
            assert!(status.beats_attn > 0 && status.busy_attn > 0, "{status:?}");
            eprintln!(
                "{} {sentences:?}: {} cycles, {status:?}",
                config.top_name(),
                outcome.cycles
            );
            check(&prog, &stalls(60 + 10 * i as u64 + j as u64));
        }
    }
}

/// The simulated configurations, and W = 128 (simulated with STA_TEST_FULL=1 only) in every set.
#[test]
fn lint_is_clean() {
    for config in [tiny(), wide(), tiny128()] {
        let d = design(config);
        match sta_testbenches::lint(&d.sources, &d.top) {
            Ok(report) => assert!(report.is_clean(), "{}", report.output),
            Err(SimError::Lint(report)) => panic!("{}: lint:\n{}", d.top, report.output),
            Err(e) => panic!("{}: {e}", d.top),
        }
    }
}

/// On the tiny configuration with STA_TEST_FULL=1, else on the smallest one.
#[test]
fn yosys_synth_check_and_block_rams() {
    let d = design(if common::full() { tiny() } else { smallest() });
    // every RAM module is one memory with one write and one read port (Yosys $mem_v2): block RAM on an FPGA
    let rams: Vec<&PathBuf> = d
        .sources
        .iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sta_top_ram_"))
        })
        .collect();
    assert!(rams.len() >= 8, "{rams:?}");
    for ram in rams {
        let log = d.dir.join("ram.log");
        let status = std::process::Command::new("yosys")
            .arg("-q")
            .arg("-l")
            .arg(&log)
            .arg("-p")
            .arg(format!(
                "read_verilog {}; proc; opt; memory -nomap; stat",
                ram.display()
            ))
            .status()
            .unwrap_or_else(|e| panic!("yosys: {e}"));
        assert!(status.success());
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let cells = sta_generators::yosys::parse_stat(&text)
            .unwrap_or_else(|| panic!("no statistics: {text}"));
        // one memory; the read register is its read port (no flip-flop is left outside it)
        assert_eq!(
            cells.by_type.get("$mem_v2"),
            Some(&1),
            "{}: {cells:?}",
            ram.display()
        );
        assert_eq!(cells.matching("dff"), 0, "{}: {cells:?}", ram.display());
    }
    let log =
        synth_check(&d.sources, &d.top, &d.dir).unwrap_or_else(|e| panic!("{}: yosys: {e}", d.top));
    assert!(
        log.contains("Number of cells"),
        "yosys printed no statistics"
    );
}

/// Both tile halves loaded first, then GEMMs back to back with no load between them: overlapping results and
/// issue (no hazard), a GEMM that reads what the previous one writes (src hazard), one whose residual skip is the
/// previous one's destination (skip hazard), and tiles reused with other o0, modes and token counts.
fn back_to_back_program(config: AccelConfig, seed: u64) -> Prog {
    let (t, d, b) = (config.max_tokens, config.dims.d_model, config.array);
    let mut rng = common::rng(seed);
    let mut prog = Prog::new(config);
    prog.load_x(&random_x(t, d, &mut rng));
    // every buffer read or stored below is defined first (the test must not depend on the RAMs' initial contents)
    let mut half = 0;
    for (dst, skip, mode, outputs) in [
        (BufferId::Q, BufferId::X, GemmMode::Requant, d),
        (BufferId::K, BufferId::X, GemmMode::Requant, d),
        (BufferId::Ctx, BufferId::X, GemmMode::Requant, d),
        (BufferId::H1, BufferId::X, GemmMode::Requant, d),
        (BufferId::V, BufferId::X, GemmMode::Requant, d),
        (BufferId::Ffn, BufferId::X, GemmMode::Gelu, config.dims.ffn),
        (BufferId::Resid, BufferId::Q, GemmMode::Residual, d),
    ] {
        let tiles = random_tiles(&config, outputs, d, false, mode, &mut rng);
        prog.linear(&mut half, &tiles, BufferId::X, dst, skip, mode, t);
    }
    // both halves are free again once the loads below run: no GEMM is in flight when the pairs start
    let a = random_tiles(&config, b, d, false, GemmMode::Residual, &mut rng).remove(0);
    let mut bt = random_tiles(&config, b, d, true, GemmMode::Gelu, &mut rng).remove(0);
    for p in bt.params.iter_mut() {
        p.2 = rng.gen_range(0..=24);
    }
    prog.load_w(0, a);
    prog.load_w(1, bt);
    use BufferId::*;
    use GemmMode::*;
    // one token tile: a dependent GEMM reads its source right after the previous one's last beat
    // the skip is read with the results: a short (sparse) consumer right behind its producer would read it early
    prog.gemm(1, X, Ctx, X, Requant, b, b);
    prog.gemm(0, X, Resid, Ctx, Residual, b, b); // skip Ctx: waits for the first
    prog.gemm(0, X, Q, X, Requant, 0, b); // no hazard: overlaps
    prog.gemm(1, Q, K, X, Gelu, 0, b); // reads Q: waits
    prog.gemm(0, X, Q, X, Requant, 0, t);
    prog.gemm(0, K, H1, X, Requant, 0, t); // reads K (long retired), overlaps
    prog.gemm(1, H1, Ffn, X, Gelu, b, b); // reads H1: waits
    prog.gemm(0, X, V, X, Requant, d - b, t);
    prog.gemm(1, X, V, X, Requant, 0, t); // same destination: in order
    for id in [Q, K, Ctx, Resid, H1, Ffn, V] {
        prog.store(id, t);
    }
    prog.end();
    prog
}

#[test]
fn back_to_back_gemms_and_hazards() {
    for (i, config) in [tiny(), wide()].into_iter().enumerate() {
        let prog = back_to_back_program(config, 70 + i as u64);
        check(&prog, &AccelRun::default());
        check(&prog, &stalls(80 + i as u64));
    }
}

/// `STA_ACCEL_VCD=FILE cargo test … trace_back_to_back -- --ignored`: the back-to-back program of the tiny
/// configuration with a VCD trace (for debugging).
#[test]
#[ignore]
fn trace_back_to_back() {
    let config = tiny();
    let prog = if std::env::var("STA_ACCEL_TRACE_ATTN").is_ok() {
        attention_program(config, 99, &[(0, config.max_tokens)])
    } else {
        back_to_back_program(config, 70)
    };
    let d = design(config);
    let sim = build_accel_top(
        &d.sources,
        &d.top,
        config.word_bits,
        &cache_root(),
        &BuildOptions {
            trace: true,
            jobs: 2,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let vcd = std::env::var("STA_ACCEL_VCD").unwrap_or_else(|_| "/tmp/accel.vcd".into());
    let outcome = sim
        .run_traced(
            &prog.stimulus(),
            prog.expected_words(),
            &AccelRun::default(),
            Some(Path::new(&vcd)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{} cycles", outcome.cycles);
    let widths: Vec<usize> = prog.chip.out.iter().map(Record::width).collect();
    let records = records_of(outcome.last_segment(), &widths, config.word_bits);
    for (i, (got, want)) in records.iter().zip(&prog.chip.out).enumerate() {
        if got != want {
            eprintln!("record {i} differs");
        }
    }
}

/// The emitter on large configurations (no simulation): MiniLM on 16 × 16 2:8, the largest array with 16:16 and
/// P = 1 lanes, W = 128: `verilator --lint-only -Wall` is clean. The default set leaves out the 32 × 32 16:16 array
/// (W = 128 is linted in `lint_is_clean`).
#[test]
fn large_configurations_lint_clean() {
    let mut configs = vec![
        AccelConfig::new((2, 8), 16, 16, 128, dims(384, 12, 1536), 64),
        AccelConfig::new((1, 4), 4, 1, 8, dims(16, 2, 32), 32),
    ];
    if common::full() {
        configs.push(AccelConfig::new(
            (16, 16),
            32,
            16,
            64,
            dims(64, 2, 128),
            128,
        ));
    }
    for config in configs {
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        let d = design(config);
        match sta_testbenches::lint(&d.sources, &d.top) {
            Ok(report) => assert!(report.is_clean(), "{}", report.output),
            Err(SimError::Lint(report)) => panic!("{}: lint:\n{}", d.top, report.output),
            Err(e) => panic!("{}: {e}", d.top),
        }
    }
}

/// `cargo test … cycle_probe -- --ignored --nocapture`: each engine's busy cycles (STATUS counters) on isolated
/// instructions without stalls, for the cycle model in docs/accelerator.md ("Cycles").
#[test]
#[ignore]
fn cycle_probe() {
    use BufferId::*;
    use GemmMode::*;
    for config in [tiny(), wide()] {
        let (t, d, b) = (config.max_tokens, config.dims.d_model, config.array);
        let mut rng = common::rng(99);
        let x = random_x(t, d, &mut rng);
        let run = |prog: &Prog| check(prog, &AccelRun::default());
        eprintln!(
            "== {} (epilogue latency {})",
            config.top_name(),
            sta_hdl::accel::epilogue::EPILOGUE_LATENCY
        );
        // one GEMM, preloaded tiles
        for (dense, tokens, reps) in [
            (false, b, 1),
            (false, t, 1),
            (true, b, 1),
            (true, t, 1),
            (false, t, 4),
            (true, b, 4),
        ] {
            let mut prog = Prog::new(config);
            prog.load_x(&x);
            let tiles = random_tiles(&config, 2 * b, d, dense, Requant, &mut rng);
            prog.load_w(0, tiles[0].clone());
            prog.load_w(1, tiles[1].clone());
            for r in 0..reps {
                let dst = if r % 2 == 0 { Q } else { K };
                prog.gemm(r % 2, X, dst, X, Requant, (r / 2) * b, tokens);
            }
            prog.end();
            let (o, s) = run(&prog);
            eprintln!(
                "GEMM dense={dense} T={tokens} x{reps}: beats {} busy {} (total {} cycles, waiting {})",
                s.beats_gemm, s.busy_gemm, o.cycles, s.idle_waiting
            );
        }
        // a GEMM that must wait for the previous one (src hazard)
        {
            let mut prog = Prog::new(config);
            prog.load_x(&x);
            let tiles = random_tiles(&config, 2 * b, d, false, Requant, &mut rng);
            prog.load_w(0, tiles[0].clone());
            prog.load_w(1, tiles[1].clone());
            prog.gemm(0, X, Q, X, Requant, 0, b);
            prog.gemm(1, Q, K, X, Requant, 0, b);
            prog.end();
            let (_, s) = run(&prog);
            eprintln!(
                "GEMM then dependent GEMM, T=B: beats {} busy {}",
                s.beats_gemm, s.busy_gemm
            );
        }
        // LN
        for tokens in [b, t] {
            let mut prog = Prog::new(config);
            prog.load_x(&x);
            prog.load_norm(0, &random_norm(d, 22, &mut rng));
            prog.layer_norm(0, H1, 22, tokens);
            prog.end();
            let (_, s) = run(&prog);
            eprintln!("LN T={tokens}: busy {}", s.busy_ln);
        }
        // STORE
        for (id, tokens) in [(X, t), (X, 1), (V, t), (Resid, b)] {
            let mut prog = Prog::new(config);
            prog.load_x(&x);
            prog.store(id, tokens);
            prog.end();
            let (_, s) = run(&prog);
            eprintln!("STORE {id:?} T={tokens}: busy {}", s.busy_store);
        }
        // ATTN
        for len in [1, b - 1, b, b + 1, 2 * b, t] {
            let mut prog = Prog::new(config);
            prog.load_x(&x);
            let mut half = 0;
            for dst in [Q, K, V] {
                let tiles = random_tiles(&config, d, d, false, Requant, &mut rng);
                prog.linear(&mut half, &tiles, X, dst, X, Requant, t);
            }
            prog.set_attn(
                Scale {
                    mult: 17000,
                    shift: 18,
                },
                Scale {
                    mult: 16000,
                    shift: 21,
                },
            );
            prog.attn(0, 0, len);
            prog.end();
            let (_, s) = run(&prog);
            eprintln!(
                "ATTN len={len}: beats {} busy {}",
                s.beats_attn, s.busy_attn
            );
        }
    }
}

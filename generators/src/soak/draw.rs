//! Drawing configuration `index` of a campaign from its seed: a random legal configuration of one unit and its
//! workload (operands, rows, gaps and back-pressure). Each configuration has its own random stream (ChaCha8 seeded
//! with the campaign seed, stream `index`), so it comes out the same whether it is drawn in a campaign of any length
//! or alone (`--only`).

use clap::ValueEnum;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sta_golden::functions::Function;
use sta_golden::matrix::Matrix;
use sta_golden::pe_array::{ArrayShape, DspMapping};
use sta_golden::pwl::random::{random_params_file, RandomLimits};
use sta_golden::pwl::{PwlParamsFile, PwlTable};
use sta_golden::SoftmaxNumerics;
use sta_hdl::emit::GENERATOR;
use sta_hdl::softmax::SoftmaxUnit;
use sta_hdl::stream_io::WORD_BITS;

use crate::error::{Result, StaError};
use crate::gemm::Mode;
use crate::stream_io::random_score;

/// The units a campaign draws, in turn: configuration `i` is of kind `KINDS[i % 4]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The PE array through its own harness (`sta gemm`'s path): sparse or dense GEMMs.
    PeArray,
    /// One PWL LUT unit (`sta lut rtl`'s path) from a random legal parameter file: every input code.
    Lut,
    /// The PE array behind its narrow-stream wrapper (`--io-width`): word streams.
    PeStream,
    /// The softmax unit (`sta softmax run`'s path, or behind its wrapper): rows of scores.
    Softmax,
}

pub const KINDS: [Kind; 4] = [Kind::PeArray, Kind::Lut, Kind::PeStream, Kind::Softmax];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::PeArray => "pe-array",
            Kind::Lut => "lut",
            Kind::PeStream => "pe-stream",
            Kind::Softmax => "softmax",
        }
    }

    /// The kind of configuration `index`.
    pub fn of(index: u64) -> Kind {
        KINDS[(index % KINDS.len() as u64) as usize]
    }
}

/// `--max-size`: caps on the drawn sizes (the Verilator build time grows with them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MaxSize {
    /// Arrays up to 3×3, K up to 4 groups, softmax up to 3 lanes and rows of 12: CI's quick campaign.
    Small,
    /// Arrays up to 8×8, K up to 8 groups, softmax up to 8 lanes and rows of 48.
    #[default]
    Medium,
    /// Arrays up to 16×16, K up to 16 groups, softmax up to 16 lanes and rows of 200.
    Large,
}

impl MaxSize {
    pub fn name(self) -> &'static str {
        match self {
            MaxSize::Small => "small",
            MaxSize::Medium => "medium",
            MaxSize::Large => "large",
        }
    }

    fn caps(self) -> Caps {
        match self {
            MaxSize::Small => Caps {
                dim: 3,
                groups: 4,
                lanes: 3,
                max_len: 12,
                rows: 8,
            },
            MaxSize::Medium => Caps {
                dim: 8,
                groups: 8,
                lanes: 8,
                max_len: 48,
                rows: 24,
            },
            MaxSize::Large => Caps {
                dim: 16,
                groups: 16,
                lanes: 16,
                max_len: 200,
                rows: 48,
            },
        }
    }
}

struct Caps {
    /// PE array rows and columns.
    dim: usize,
    /// K / M of a GEMM.
    groups: usize,
    /// Softmax lanes P.
    lanes: usize,
    /// Softmax L_MAX.
    max_len: usize,
    /// Softmax rows per run.
    rows: usize,
}

/// One drawn configuration with its workload.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Case {
    PeArray(PeArrayCase),
    Lut(Box<LutCase>),
    PeStream(PeStreamCase),
    Softmax(Box<SoftmaxCase>),
}

/// GEMMs through one PE array's harness (what `sta gemm` runs): a sparse one on N:M weights, a dense one, and
/// (one time in two) a sparse one on dense weights pruned first, each with its own shapes, gaps and stalls.
#[derive(Debug, Clone, Serialize)]
pub struct PeArrayCase {
    pub shape: ArrayShape,
    pub gemms: Vec<GemmCase>,
}

/// One GEMM Y = W·X.
#[derive(Debug, Clone, Serialize)]
pub struct GemmCase {
    pub mode: Mode,
    /// Sparse mode on dense random weights, magnitude-pruned to N:M first (`sta gemm --prune`).
    pub prune: bool,
    /// The accumulator's corner: K = max_k, every kept weight −128 (even rows) or 127 (odd rows), every activation
    /// −128, so the sums reach the most the configuration promises to hold (max_k · 2^14).
    pub at_limit: bool,
    pub o: usize,
    pub k: usize,
    pub t: usize,
    /// Probability an input stream withholds valid in a cycle.
    pub in_gap: f64,
    /// Probability the result stream's ready is low in a cycle.
    pub out_stall: f64,
    pub sim_seed: u64,
    #[serde(skip)]
    pub w: Matrix<i8>,
    #[serde(skip)]
    pub x: Matrix<i8>,
}

/// The PE array behind its `io_width`-bit wrapper: two workloads of [`crate::stream_io::pe_array_workload`], each
/// with its own gaps and stalls.
#[derive(Debug, Clone, Serialize)]
pub struct PeStreamCase {
    pub shape: ArrayShape,
    pub io_width: u32,
    pub workloads: Vec<StreamWorkload>,
}

/// One word stream through a wrapper.
#[derive(Debug, Clone, Serialize)]
pub struct StreamWorkload {
    /// Output tiles (rows of tiles, columns of tiles) of the sparse GEMM and of the dense one.
    pub tiles: (usize, usize),
    pub workload_seed: u64,
    /// Percent of cycles s_tvalid is withheld.
    pub in_gap: u32,
    /// Percent of cycles m_tready is low.
    pub out_stall: u32,
    pub sim_seed: u64,
}

/// One PWL unit from a random legal parameter file: the exhaustive stimulus (all 256 codes twice, with idle gaps and
/// a reset) with two seeds.
#[derive(Debug, Clone, Serialize)]
pub struct LutCase {
    /// The parameter file, written out whole in results.json so a failure can be rebuilt from it alone.
    #[serde(flatten)]
    pub params: PwlParamsFile,
    pub stimulus_seeds: [u64; 2],
}

/// Where a softmax table came from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableSource {
    /// A table the repository ships (file name).
    Shipped(&'static str),
    /// A random legal table ([`sta_golden::pwl::random`]), drawn until the unit accepts it.
    Random,
}

/// Rows of scores through the softmax unit: its own harness, or its wrapper when `io_width` is set.
#[derive(Debug, Clone, Serialize)]
pub struct SoftmaxCase {
    pub lanes: usize,
    pub max_len: usize,
    pub input_frac_bits: u32,
    pub score_bits: u32,
    pub output_bits: u32,
    pub exp_table: TableSource,
    pub reci_table: TableSource,
    pub io_width: Option<u32>,
    pub row_lengths: Vec<usize>,
    /// Percent of cycles the input withholds valid.
    pub in_gap: u32,
    /// Percent of cycles the output's ready is low.
    pub out_stall: u32,
    pub sim_seed: u64,
    #[serde(skip)]
    pub exp: PwlParamsFile,
    #[serde(skip)]
    pub reci: PwlParamsFile,
    #[serde(skip)]
    pub rows: Vec<Vec<i32>>,
}

impl Case {
    pub fn kind(&self) -> Kind {
        match self {
            Case::PeArray(_) => Kind::PeArray,
            Case::Lut(_) => Kind::Lut,
            Case::PeStream(_) => Kind::PeStream,
            Case::Softmax(_) => Kind::Softmax,
        }
    }

    /// One line for the terminal.
    pub fn describe(&self) -> String {
        let shape = |s: &ArrayShape| {
            format!(
                "{}:{} {}x{} acc {} max_k {}{}",
                s.n,
                s.m,
                s.rows,
                s.cols,
                s.acc_width,
                s.max_k,
                match s.dsp {
                    DspMapping::Inferred => String::new(),
                    other => format!(" {}", other.name()),
                }
            )
        };
        match self {
            Case::PeArray(c) => {
                let gemms: Vec<String> = c
                    .gemms
                    .iter()
                    .map(|g| {
                        format!(
                            "{}{} {}x{}x{} gap {:.2} stall {:.2}",
                            match (g.mode, g.prune) {
                                (Mode::Dense, _) => "dense",
                                (Mode::Sparse, true) => "pruned",
                                (Mode::Sparse, false) => "sparse",
                            },
                            if g.at_limit {
                                " at the accumulator limit"
                            } else {
                                ""
                            },
                            g.o,
                            g.k,
                            g.t,
                            g.in_gap,
                            g.out_stall
                        )
                    })
                    .collect();
                format!("{}: {}", shape(&c.shape), gemms.join("; "))
            }
            Case::PeStream(c) => {
                let runs: Vec<String> = c
                    .workloads
                    .iter()
                    .map(|w| {
                        format!(
                            "{}x{} tiles gap {}% stall {}%",
                            w.tiles.0, w.tiles.1, w.in_gap, w.out_stall
                        )
                    })
                    .collect();
                format!("{} io{}: {}", shape(&c.shape), c.io_width, runs.join("; "))
            }
            Case::Lut(c) => {
                let c = &c.params;
                format!(
                    "{} K={} [{}, {}) D_IN {} CW {} FK {} OW {} D_OUT {}",
                    c.function,
                    c.entries,
                    c.range[0],
                    c.range[1],
                    c.input_frac_bits,
                    c.coeff_bits,
                    c.coeff_frac_bits,
                    c.output_bits,
                    c.output_frac_bits
                )
            }
            Case::Softmax(c) => {
                let table = |t: &TableSource| match t {
                    TableSource::Shipped(name) => name.trim_end_matches(".json").to_string(),
                    TableSource::Random => "random".to_string(),
                };
                format!(
                    "P={} L={} SW {} D_S {} OB {}, {}/{}{}, {} rows, gap {}% stall {}%",
                    c.lanes,
                    c.max_len,
                    c.score_bits,
                    c.input_frac_bits,
                    c.output_bits,
                    table(&c.exp_table),
                    table(&c.reci_table),
                    c.io_width.map_or(String::new(), |w| format!(" io{w}")),
                    c.rows.len(),
                    c.in_gap,
                    c.out_stall
                )
            }
        }
    }
}

/// The random stream of configuration `index` of the campaign `seed`.
fn stream(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// Configuration `index` of the campaign `seed`.
pub fn draw(seed: u64, index: u64, size: MaxSize) -> Result<Case> {
    let mut rng = stream(seed, index);
    let caps = size.caps();
    let draw_error = |e: String| {
        StaError::Mismatch(format!(
            "internal: drawing configuration {index} of seed {seed} failed: {e} (report this bug)"
        ))
    };
    Ok(match Kind::of(index) {
        Kind::PeArray => Case::PeArray(pe_array(&mut rng, &caps).map_err(draw_error)?),
        Kind::PeStream => Case::PeStream(pe_stream(&mut rng, &caps).map_err(draw_error)?),
        Kind::Lut => {
            let ordinal = index / KINDS.len() as u64;
            let function = Function::ALL[(ordinal % Function::ALL.len() as u64) as usize];
            Case::Lut(Box::new(
                lut(&mut rng, function, seed, index).map_err(draw_error)?,
            ))
        }
        Kind::Softmax => Case::Softmax(Box::new(
            softmax(&mut rng, &caps, seed, index).map_err(draw_error)?,
        )),
    })
}

/// A legal N:M pattern (maximum N one time in four), array size, accumulator width, max_k and multiplier mapping.
fn shape(rng: &mut ChaCha8Rng, caps: &Caps) -> std::result::Result<ArrayShape, String> {
    let m = *[2usize, 4, 8, 16].choose(rng).unwrap_or(&8);
    let n = if rng.gen_bool(0.25) {
        m
    } else {
        rng.gen_range(1..=m)
    };
    let (rows, cols) = (rng.gen_range(1..=caps.dim), rng.gen_range(1..=caps.dim));
    // the overflow rule: max_k · 2^14 ≤ 2^(ACC_W − 1) − 1, so ACC_W ≥ the width that holds one group
    let groups_at = |acc: u32| ((1u128 << (acc - 1)) - 1) / 16384 / m as u128;
    let narrowest = (16..=48).find(|&a| groups_at(a) >= 1).unwrap_or(48);
    let acc_width = if rng.gen_bool(0.3) {
        narrowest
    } else {
        rng.gen_range(narrowest..=48)
    };
    let most = groups_at(acc_width).min(1 << 24) as usize;
    let max_k = m * if rng.gen_bool(0.5) {
        most
    } else {
        rng.gen_range(1..=most.min(4 * caps.groups))
    };
    // a quarter on DSP blocks, a sixth mixed (a random budget: some PEs with DSP, the others LUT multipliers)
    let dsp = match rng.gen_range(0..12) {
        0..=2 => DspMapping::Ecp5,
        3..=4 => DspMapping::Ecp5Mixed {
            dsps: rng.gen_range(0..=(rows * cols * n) as u32),
        },
        _ => DspMapping::Inferred,
    };
    ArrayShape::new(n, m, rows, cols, acc_width, max_k)
        .map(|s| s.with_dsp(dsp))
        .map_err(|e| e.to_string())
}

/// An INT8 value: −128 and 127 one time in six each, 0 one time in ten, else uniform.
fn value(rng: &mut ChaCha8Rng) -> i8 {
    match rng.gen_range(0..30) {
        0..=4 => i8::MIN,
        5..=9 => i8::MAX,
        10..=12 => 0,
        _ => rng.gen(),
    }
}

/// A non-zero INT8 value with the corners mixed in.
fn nonzero(rng: &mut ChaCha8Rng) -> i8 {
    loop {
        let v = value(rng);
        if v != 0 {
            return v;
        }
    }
}

/// N:M weights [o, k]: per group all zero, exactly N non-zeros (the maximum), only extremes, or fewer than N.
fn nm_weights(rng: &mut ChaCha8Rng, o: usize, k: usize, n: usize, m: usize) -> Matrix<i8> {
    let mut w = Matrix::from_fn(o, k, |_, _| 0i8);
    let mut slots: Vec<usize> = (0..m).collect();
    for r in 0..o {
        for g in 0..k / m {
            let (count, extreme) = match rng.gen_range(0..10) {
                0..=1 => (0, false),
                2..=4 => (n, false),
                5..=6 => (n, true),
                _ => (rng.gen_range(0..=n), false),
            };
            slots.shuffle(rng);
            for &j in &slots[..count] {
                let v = if extreme {
                    *[i8::MIN, i8::MAX].choose(rng).unwrap_or(&i8::MIN)
                } else {
                    nonzero(rng)
                };
                // in range by construction
                let _ = w.set(r, g * m + j, v);
            }
        }
    }
    w
}

/// Dense weights [o, k] with corners and some all-zero groups.
fn dense_weights(rng: &mut ChaCha8Rng, o: usize, k: usize, m: usize) -> Matrix<i8> {
    let mut w = Matrix::from_fn(o, k, |_, _| value(rng));
    for r in 0..o {
        for g in 0..k / m {
            if rng.gen_bool(0.15) {
                (0..m).for_each(|j| {
                    let _ = w.set(r, g * m + j, 0);
                });
            }
        }
    }
    w
}

fn gemm(
    rng: &mut ChaCha8Rng,
    shape: &ArrayShape,
    caps: &Caps,
    mode: Mode,
    prune: bool,
) -> GemmCase {
    let (n, m) = (shape.n, shape.m);
    // one time in four, when max_k is short enough to simulate, the accumulator's limit
    let at_limit = !prune && shape.max_k / m <= 2 * caps.groups && rng.gen_bool(0.25);
    let k = if at_limit {
        shape.max_k
    } else {
        m * rng.gen_range(1..=(shape.max_k / m).min(caps.groups))
    };
    // O and T of 1 to 3 tiles, mostly not multiples of the array
    let o = rng.gen_range(1..=3 * shape.rows);
    let t = rng.gen_range(1..=3 * shape.cols);
    let (w, x) = if at_limit {
        let extreme = |r: usize| {
            if r.is_multiple_of(2) {
                i8::MIN
            } else {
                i8::MAX
            }
        };
        let w = match mode {
            // the first N slots of every group
            Mode::Sparse => Matrix::from_fn(o, k, |r, c| if c % m < n { extreme(r) } else { 0 }),
            Mode::Dense => Matrix::from_fn(o, k, |r, _| extreme(r)),
        };
        (w, Matrix::from_fn(k, t, |_, _| i8::MIN))
    } else {
        let w = match (mode, prune) {
            (Mode::Sparse, false) => nm_weights(rng, o, k, n, m),
            _ => dense_weights(rng, o, k, m),
        };
        let mut x = Matrix::from_fn(k, t, |_, _| value(rng));
        for c in 0..t {
            if rng.gen_bool(0.1) {
                (0..k).for_each(|r| {
                    let _ = x.set(r, c, 0);
                });
            }
        }
        (w, x)
    };
    let (in_gap, out_stall) = (probability(rng, 0.6), probability(rng, 0.7));
    GemmCase {
        mode,
        prune,
        at_limit,
        o,
        k,
        t,
        in_gap,
        out_stall,
        sim_seed: rng.gen_range(1..=u64::from(u32::MAX)),
        w,
        x,
    }
}

fn pe_array(rng: &mut ChaCha8Rng, caps: &Caps) -> std::result::Result<PeArrayCase, String> {
    let shape = shape(rng, caps)?;
    let mut gemms = vec![
        gemm(rng, &shape, caps, Mode::Sparse, false),
        gemm(rng, &shape, caps, Mode::Dense, false),
    ];
    if rng.gen_bool(0.5) {
        gemms.push(gemm(rng, &shape, caps, Mode::Sparse, true));
    }
    gemms.shuffle(rng);
    Ok(PeArrayCase { shape, gemms })
}

/// 0 one time in three, else uniform in [0, max) on a 0.01 grid (readable in a reproduce line).
fn probability(rng: &mut ChaCha8Rng, max: f64) -> f64 {
    if rng.gen_bool(1.0 / 3.0) {
        0.0
    } else {
        (rng.gen_range(0.0..max) * 100.0).round() / 100.0
    }
}

/// 0 one time in three, else a percentage 1..=max.
fn percent(rng: &mut ChaCha8Rng, max: u32) -> u32 {
    if rng.gen_bool(1.0 / 3.0) {
        0
    } else {
        rng.gen_range(1..=max)
    }
}

fn pe_stream(rng: &mut ChaCha8Rng, caps: &Caps) -> std::result::Result<PeStreamCase, String> {
    let shape = shape(rng, caps)?;
    let io_width = *WORD_BITS.choose(rng).unwrap_or(&8);
    let workloads = (0..2)
        .map(|_| StreamWorkload {
            tiles: (rng.gen_range(1..=2), rng.gen_range(1..=2)),
            workload_seed: rng.gen_range(1..=u64::from(u32::MAX)),
            in_gap: percent(rng, 70),
            out_stall: percent(rng, 80),
            sim_seed: rng.gen_range(1..=u64::from(u32::MAX)),
        })
        .collect();
    Ok(PeStreamCase {
        shape,
        io_width,
        workloads,
    })
}

/// The provenance `generator` of a drawn table: the tool and the command that draws it again.
fn generator(seed: u64, index: u64) -> String {
    format!("{GENERATOR} (sta soak --seed {seed} --only {index})")
}

fn lut(
    rng: &mut ChaCha8Rng,
    function: Function,
    seed: u64,
    index: u64,
) -> std::result::Result<LutCase, String> {
    let params = random_params_file(
        rng,
        function,
        RandomLimits::default(),
        &generator(seed, index),
        None,
    )
    .map_err(|e| format!("{function}: {e}"))?;
    Ok(LutCase {
        stimulus_seeds: [
            rng.gen_range(1..=u64::from(u32::MAX)),
            rng.gen_range(1..=u64::from(u32::MAX)),
        ],
        params,
    })
}

/// The softmax tables the repository ships: (file name, contents).
const EXP_TABLES: [(&str, &str); 4] = [
    (
        "softmax_exp8.json",
        include_str!("../../data/softmax_exp8.json"),
    ),
    (
        "softmax_exp16.json",
        include_str!("../../data/softmax_exp16.json"),
    ),
    (
        "softmax_exp8_w12.json",
        include_str!("../../data/softmax_exp8_w12.json"),
    ),
    (
        "softmax_exp16_w12.json",
        include_str!("../../../golden/data/softmax_exp16_w12.json"),
    ),
];
const RECI_TABLES: [(&str, &str); 3] = [
    (
        "softmax_reci8.json",
        include_str!("../../data/softmax_reci8.json"),
    ),
    (
        "softmax_reci16.json",
        include_str!("../../data/softmax_reci16.json"),
    ),
    (
        "softmax_reci8_w12.json",
        include_str!("../../../golden/data/softmax_reci8_w12.json"),
    ),
];

fn shipped(
    rng: &mut ChaCha8Rng,
    tables: &[(&'static str, &'static str)],
) -> std::result::Result<(TableSource, PwlParamsFile), String> {
    let (name, text) = tables[rng.gen_range(0..tables.len())];
    let file = PwlParamsFile::from_json(text).map_err(|e| format!("{name}: {e}"))?;
    Ok((TableSource::Shipped(name), file))
}

/// Whether the golden model and the generator both accept the unit.
fn accepted(
    (lanes, max_len, sw, ds, ob): (usize, usize, u32, u32, u32),
    exp: &PwlTable,
    reci: &PwlTable,
) -> bool {
    SoftmaxNumerics::with_widths(sw, ds, ob, exp.clone(), reci.clone()).is_ok()
        && SoftmaxUnit::with_widths(lanes, max_len, sw, ds, ob, exp, reci).is_ok()
}

/// A row of `len` SW-bit scores: uniform, in a narrow band, all equal, one dominant score, or extremes only.
fn score_row(rng: &mut ChaCha8Rng, len: usize, sw: u32) -> Vec<i32> {
    let (lo, hi) = (-(1i32 << (sw - 1)), (1i32 << (sw - 1)) - 1);
    match rng.gen_range(0..6) {
        0 => vec![random_score(rng, sw); len],
        1 => {
            let mut row = vec![lo; len];
            let at = rng.gen_range(0..len);
            row[at] = hi;
            row
        }
        2 => (0..len)
            .map(|_| if rng.gen_bool(0.5) { lo } else { hi })
            .collect(),
        3 => {
            // a band of 2^b codes around a random centre: differences inside the EXP range
            let bits = rng.gen_range(1..=sw.min(8));
            let centre = random_score(rng, sw);
            (0..len)
                .map(|_| {
                    (centre + rng.gen_range(0..1i32 << bits) - (1 << (bits - 1))).clamp(lo, hi)
                })
                .collect()
        }
        _ => (0..len).map(|_| random_score(rng, sw)).collect(),
    }
}

fn softmax(
    rng: &mut ChaCha8Rng,
    caps: &Caps,
    seed: u64,
    index: u64,
) -> std::result::Result<SoftmaxCase, String> {
    let lanes = rng.gen_range(1..=caps.lanes);
    let max_len = rng.gen_range(1..=caps.max_len);
    let score_bits = if rng.gen_bool(0.5) {
        8
    } else {
        rng.gen_range(9..=16)
    };
    let input_frac_bits = rng.gen_range(0..score_bits);
    let output_bits = if rng.gen_bool(0.5) { 8 } else { 7 };
    let widths = (lanes, max_len, score_bits, input_frac_bits, output_bits);
    // shipped tables, or (one time in three) random legal ones, drawn until the unit accepts them
    let (mut exp, mut reci) = (shipped(rng, &EXP_TABLES)?, shipped(rng, &RECI_TABLES)?);
    if rng.gen_bool(1.0 / 3.0) {
        let limits = RandomLimits {
            max_input_frac_bits: 15,
            max_coeff_bits: 32,
            max_output_bits: 16,
        };
        let reci_limits = RandomLimits {
            max_input_frac_bits: sta_golden::softmax::MAX_RECI_FRAC_BITS,
            ..limits
        };
        let generator = generator(seed, index);
        for _ in 0..1000 {
            let e = random_params_file(rng, Function::Exp, limits, &generator, None)
                .map_err(|e| format!("exp: {e}"))?;
            let r = random_params_file(rng, Function::Reci, reci_limits, &generator, None)
                .map_err(|e| format!("reci: {e}"))?;
            let (et, rt) = (
                e.table().map_err(|e| e.to_string())?,
                r.table().map_err(|e| e.to_string())?,
            );
            if accepted(widths, &et, &rt) {
                (exp, reci) = ((TableSource::Random, e), (TableSource::Random, r));
                break;
            }
        }
    }
    let (et, rt) = (
        exp.1.table().map_err(|e| e.to_string())?,
        reci.1.table().map_err(|e| e.to_string())?,
    );
    if !accepted(widths, &et, &rt) {
        return Err(format!(
            "the softmax unit refuses {widths:?} with {:?}/{:?}",
            exp.0, reci.0
        ));
    }
    let io_width = rng
        .gen_bool(1.0 / 3.0)
        .then(|| *WORD_BITS.choose(rng).unwrap_or(&8));
    let count = rng.gen_range(caps.rows / 2..=caps.rows);
    let rows: Vec<Vec<i32>> = (0..count)
        .map(|_| {
            let len = match rng.gen_range(0..5) {
                0 => max_len,
                1 => (lanes + rng.gen_range(0..=2))
                    .saturating_sub(1)
                    .clamp(1, max_len),
                _ => rng.gen_range(1..=max_len),
            };
            score_row(rng, len, score_bits)
        })
        .collect();
    Ok(SoftmaxCase {
        lanes,
        max_len,
        input_frac_bits,
        score_bits,
        output_bits,
        exp_table: exp.0,
        reci_table: reci.0,
        io_width,
        row_lengths: rows.iter().map(Vec::len).collect(),
        in_gap: percent(rng, 80),
        out_stall: percent(rng, 80),
        sim_seed: rng.gen_range(1..=u64::from(u32::MAX)),
        exp: exp.1,
        reci: reci.1,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sta_hdl::pwl_lut::PwlUnit;

    /// Thousands of draws, no simulation: every configuration is legal for the generators and the golden model,
    /// and the same (seed, index) draws the same configuration.
    #[test]
    fn draws_are_legal_and_reproducible() {
        for size in [MaxSize::Small, MaxSize::Large] {
            for index in 0..800 {
                let case = draw(7, index, size).unwrap_or_else(|e| panic!("{index}: {e}"));
                assert_eq!(case.kind(), Kind::of(index));
                let again = draw(7, index, size).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(
                    serde_json::to_string(&case).ok(),
                    serde_json::to_string(&again).ok()
                );
                match &case {
                    Case::PeArray(c) => {
                        for g in &c.gemms {
                            assert!(g.k <= c.shape.max_k && g.k % c.shape.m == 0);
                            assert_eq!(
                                (g.w.rows(), g.w.cols(), g.x.rows(), g.x.cols()),
                                (g.o, g.k, g.k, g.t)
                            );
                            if g.mode == Mode::Sparse && !g.prune {
                                let pattern =
                                    sta_golden::nm::NmPattern::new(c.shape.n, c.shape.m).ok();
                                assert!(pattern
                                    .is_some_and(|p| sta_golden::nm::check_nm(&g.w, p).is_ok()));
                            }
                        }
                    }
                    Case::Lut(c) => {
                        let table = c.params.table().unwrap_or_else(|e| panic!("{e}"));
                        PwlUnit::from_table(c.params.function.name(), &table)
                            .unwrap_or_else(|e| panic!("{e}"));
                    }
                    Case::PeStream(c) => assert!(WORD_BITS.contains(&c.io_width)),
                    Case::Softmax(c) => {
                        assert!(c.rows.iter().all(|r| (1..=c.max_len).contains(&r.len())));
                        let lo = -(1i32 << (c.score_bits - 1));
                        assert!(c.rows.iter().flatten().all(|&s| s >= lo && s < -lo));
                    }
                }
            }
        }
        let a = serde_json::to_string(&draw(7, 5, MaxSize::Medium).ok()).ok();
        let b = serde_json::to_string(&draw(8, 5, MaxSize::Medium).ok()).ok();
        assert_ne!(a, b, "another seed, another configuration");
    }

    #[test]
    fn draws_reach_every_option() {
        let cases: Vec<Case> = (0..400)
            .filter_map(|i| draw(3, i, MaxSize::Medium).ok())
            .collect();
        let pe = || {
            cases.iter().filter_map(|c| match c {
                Case::PeArray(c) => Some(c),
                _ => None,
            })
        };
        assert!(pe().any(|c| c.shape.dsp == DspMapping::Ecp5));
        assert!(pe().all(|c| c.gemms.iter().any(|g| g.mode == Mode::Dense)));
        assert!(pe().any(|c| c.gemms.iter().any(|g| g.prune)));
        assert!(pe().any(|c| c.gemms.iter().any(|g| g.at_limit && g.mode == Mode::Dense)));
        assert!(pe().any(|c| c.gemms.iter().any(|g| g.at_limit && g.mode == Mode::Sparse)));
        assert!(pe().any(|c| c.shape.n == c.shape.m));
        let gaps: Vec<f64> = pe()
            .flat_map(|c| c.gemms.iter().map(|g| g.in_gap))
            .collect();
        assert!(gaps.iter().any(|&g| g > 0.0) && gaps.contains(&0.0));
        let functions: std::collections::HashSet<&str> = cases
            .iter()
            .filter_map(|c| match c {
                Case::Lut(c) => Some(c.params.function.name()),
                _ => None,
            })
            .collect();
        assert_eq!(functions.len(), Function::ALL.len(), "every function kind");
        let sm = || {
            cases.iter().filter_map(|c| match c {
                Case::Softmax(c) => Some(c),
                _ => None,
            })
        };
        assert!(sm().any(|c| matches!(c.exp_table, TableSource::Random)));
        assert!(sm().any(|c| c.io_width.is_some()) && sm().any(|c| c.io_width.is_none()));
        assert!(sm().any(|c| c.score_bits > 8) && sm().any(|c| c.output_bits == 7));
        let streams: std::collections::HashSet<u32> = cases
            .iter()
            .filter_map(|c| match c {
                Case::PeStream(c) => Some(c.io_width),
                _ => None,
            })
            .collect();
        assert_eq!(streams.len(), 3, "every word width");
    }
}

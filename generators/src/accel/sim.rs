//! Simulating a generated accelerator on a lowered stream: build (cached) the Verilator model of the design
//! directory, play the stream, and split what comes back into the STOREs' INT8 rows and the STATUS record.

use std::path::{Path, PathBuf};

use sta_golden::top::isa::{xdata_codes, BufferId, Record, Status, Word, STATUS_BITS};
use sta_golden::top::lower::Lowered;
use sta_golden::top::AccelConfig;
use sta_testbenches::accel_top::{build_accel_top, AccelRun, StimItem};
use sta_testbenches::BuildOptions;

use super::generate::AccelManifest;
use crate::error::{Result, StaError};
use crate::gemm::cache_root;

/// What the simulated chip returned.
#[derive(Debug, Clone)]
pub struct SimResult {
    /// Per STORE, the buffer's values in token-major order (rows × width, all rows on chip, padding included):
    /// INT8 codes, or the 24-bit residual values of a STORE of Resid.
    pub stores: Vec<Vec<i32>>,
    pub status: Status,
    /// Cycles from the end of reset to the last output word.
    pub cycles: u64,
    pub input_words: usize,
    pub output_words: usize,
    /// Seconds to build (or find in the cache) the Verilator model, and to run it.
    pub build_seconds: f64,
    pub run_seconds: f64,
}

/// How the harness drives the streams.
#[derive(Debug, Clone, Copy)]
pub struct Drive {
    pub seed: u64,
    /// Percent of cycles without an input word / with the output stalled.
    pub in_gap: u32,
    pub out_stall: u32,
}

/// The Verilog sources of a design directory, in dependency order.
pub fn sources(dir: &Path, manifest: &AccelManifest) -> Vec<PathBuf> {
    manifest.files.iter().map(|f| dir.join(f)).collect()
}

pub fn simulate(
    dir: &Path,
    manifest: &AccelManifest,
    config: &AccelConfig,
    lowered: &Lowered,
    drive: Drive,
) -> Result<SimResult> {
    simulate_sources(
        &sources(dir, manifest),
        &manifest.top,
        config,
        lowered,
        drive,
    )
}

/// [`simulate`] on explicit Verilog sources (e.g. a Yosys netlist of the design).
pub fn simulate_sources(
    sources: &[PathBuf],
    top: &str,
    config: &AccelConfig,
    lowered: &Lowered,
    drive: Drive,
) -> Result<SimResult> {
    let sim_error = |e: &dyn std::fmt::Display| StaError::Tool(format!("simulation: {e}"));
    let start = std::time::Instant::now();
    let model = build_accel_top(
        sources,
        top,
        config.word_bits,
        &cache_root(None),
        &BuildOptions::default(),
    )
    .map_err(|e| sim_error(&e))?;
    let build_seconds = start.elapsed().as_secs_f64();
    let items: Vec<StimItem> = lowered
        .records
        .iter()
        .flat_map(|r| r.words(config.word_bits))
        .map(StimItem::Word)
        .collect();
    let shapes: Vec<StoreShape> = lowered
        .stores
        .iter()
        .map(|tag| StoreShape::of(config, tag.buffer, lowered.layout.tokens))
        .collect();
    let expected = shapes.iter().map(|s| s.words).sum::<usize>() + config.words(STATUS_BITS);
    let run = AccelRun {
        seed: drive.seed,
        in_gap: drive.in_gap,
        out_stall: drive.out_stall,
        max_cycles: 0,
    };
    let outcome = model
        .run(&items, expected, &run)
        .map_err(|e| sim_error(&e))?;
    let words: Vec<Word> = outcome
        .last_segment()
        .iter()
        .map(|(w, _)| w.clone())
        .collect();
    let output_words = words.len();
    let (stores, status) = split_output(config, &words, &shapes)?;
    Ok(SimResult {
        stores,
        status,
        cycles: outcome.cycles,
        input_words: items.len(),
        output_words,
        build_seconds,
        run_seconds: outcome.wall_seconds,
    })
}

/// What one STORE sends: its records and how to read them back into token-major values.
#[derive(Debug, Clone, Copy)]
pub struct StoreShape {
    buffer: BufferId,
    tokens: usize,
    width: usize,
    record_bits: usize,
    words: usize,
}

impl StoreShape {
    pub fn of(c: &AccelConfig, buffer: BufferId, tokens: usize) -> StoreShape {
        let width = if buffer == BufferId::Ffn {
            c.dims.ffn
        } else {
            c.dims.d_model
        };
        let (record_bits, records) = match buffer {
            BufferId::V => (8 * c.array, width * tokens.div_ceil(c.array)),
            BufferId::Resid => (32, tokens * width),
            _ => (8 * c.m, tokens * width / c.m),
        };
        StoreShape {
            buffer,
            tokens,
            width,
            record_bits,
            words: records * c.words(record_bits),
        }
    }

    /// The values of the STORE's words, token-major.
    fn values(&self, c: &AccelConfig, words: &[Word]) -> Vec<i32> {
        let per = c.words(self.record_bits);
        let records = words
            .chunks(per)
            .map(|r| Record::from_words(r, self.record_bits, c.word_bits));
        match self.buffer {
            BufferId::Resid => records.map(|r| r.get_signed(0, 24) as i32).collect(),
            BufferId::V => {
                // channel-major records of B tokens: channel ch, token group u
                let groups = self.tokens.div_ceil(c.array);
                let mut out = vec![0i32; self.tokens * self.width];
                for (i, r) in records.enumerate() {
                    let (ch, u) = (i / groups, i % groups);
                    for (j, code) in xdata_codes(&r).into_iter().enumerate() {
                        let t = u * c.array + j;
                        if t < self.tokens {
                            out[t * self.width + ch] = i32::from(code);
                        }
                    }
                }
                out
            }
            _ => records
                .flat_map(|r| xdata_codes(&r))
                .map(i32::from)
                .collect(),
        }
    }
}

/// The output words as the STOREs of `shapes`, then STATUS. An accelerator that stopped on an error sends STATUS
/// early: then the STOREs that did not complete are missing and STATUS is read from the end.
pub fn split_output(
    config: &AccelConfig,
    words: &[Word],
    shapes: &[StoreShape],
) -> Result<(Vec<Vec<i32>>, Status)> {
    let status_words = config.words(STATUS_BITS);
    if words.len() < status_words {
        return Err(StaError::Mismatch(format!(
            "the accelerator sent {} words, not even a STATUS record ({status_words} words)",
            words.len()
        )));
    }
    let (mut data, tail) = words.split_at(words.len() - status_words);
    let status = Status::decode(&Record::from_words(tail, STATUS_BITS, config.word_bits));
    let mut out = Vec::new();
    for shape in shapes {
        if data.len() < shape.words {
            break;
        }
        let (this, rest) = data.split_at(shape.words);
        out.push(shape.values(config, this));
        data = rest;
    }
    Ok((out, status))
}

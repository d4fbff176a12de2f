//! Simulating a generated accelerator on a lowered stream: build (cached) the Verilator model of the design
//! directory, play the stream, and split what comes back into the STOREs' INT8 rows and the STATUS record.

use std::path::{Path, PathBuf};

use sta_golden::top::isa::{xdata_codes, Record, Status, Word, STATUS_BITS};
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
    /// Per STORE: rows × d_model INT8 codes (all rows on chip, padding included).
    pub stores: Vec<Vec<i8>>,
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
    let sim_error = |e: &dyn std::fmt::Display| StaError::Tool(format!("simulation: {e}"));
    let start = std::time::Instant::now();
    let model = build_accel_top(
        &sources(dir, manifest),
        &manifest.top,
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
    let store_records = lowered.layout.tokens * config.dims.d_model / config.m;
    let xdata_words = config.words(8 * config.m);
    let expected = lowered.stores.len() * store_records * xdata_words + config.words(STATUS_BITS);
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
    let (stores, status) = split_output(config, &words, lowered.stores.len(), store_records)?;
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

/// The output words as `stores` STOREs of `records` XDATA records each, then STATUS. An accelerator that stopped on
/// an error sends STATUS early: then the STOREs that did not complete are missing and STATUS is read from the end.
fn split_output(
    config: &AccelConfig,
    words: &[Word],
    stores: usize,
    records: usize,
) -> Result<(Vec<Vec<i8>>, Status)> {
    let w = config.word_bits;
    let xdata_words = config.words(8 * config.m);
    let status_words = config.words(STATUS_BITS);
    if words.len() < status_words {
        return Err(StaError::Mismatch(format!(
            "the accelerator sent {} words, not even a STATUS record ({status_words} words)",
            words.len()
        )));
    }
    let (data, tail) = words.split_at(words.len() - status_words);
    let status = Status::decode(&Record::from_words(tail, STATUS_BITS, w));
    let per_store = records * xdata_words;
    let mut out = Vec::new();
    for chunk in data.chunks(per_store).take(stores) {
        if chunk.len() < per_store {
            break;
        }
        out.push(
            chunk
                .chunks(xdata_words)
                .flat_map(|r| xdata_codes(&Record::from_words(r, 8 * config.m, w)))
                .collect(),
        );
    }
    Ok((out, status))
}

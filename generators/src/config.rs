//! Parameters of a PE array from the command line and/or a TOML file, validated once into an [`ArrayShape`].

use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};
use sta_golden::pe_array::{ArrayShape, DspMapping};

use crate::error::{usage, Result, StaError};

/// PE-array parameters as they appear on the command line. Flags override values from `--config`.
#[derive(Debug, Clone, Default, Args)]
pub struct ArrayArgs {
    /// Non-zeros per group (multipliers per PE), 1 ≤ N ≤ M.
    #[arg(long)]
    pub n: Option<usize>,
    /// Group size, one of 2, 4, 8, 16.
    #[arg(long)]
    pub m: Option<usize>,
    /// PE rows, 1..=64.
    #[arg(long)]
    pub rows: Option<usize>,
    /// PE columns, 1..=64.
    #[arg(long)]
    pub cols: Option<usize>,
    /// Accumulator width in bits, 16..=48 [default: 32].
    #[arg(long)]
    pub acc_width: Option<u32>,
    /// Longest reduction length K the array must handle without overflow [default: 65536].
    #[arg(long)]
    pub max_k: Option<usize>,
    /// How the multipliers are written: `inferred` (a portable `*`; the synthesis tool maps it), `ecp5` (one
    /// ECP5 MULT18X18D per multiplier with its own input/output registers: the fast choice for ECP5) or
    /// `ecp5-mixed[:D]` (MULT18X18D for the first ⌊D/N⌋ PEs, LUT multipliers beyond; D defaults to 156, the
    /// ECP5-85k's count) [default: inferred].
    #[arg(long, value_parser = DspMapping::parse, value_name = "inferred|ecp5|ecp5-mixed[:D]")]
    pub dsp: Option<DspMapping>,
    /// TOML file with a [pe_array] table (keys n, m, rows, cols, acc_width, max_k, dsp).
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
}

/// The `[pe_array]` table of a configuration file; also what `config.resolved.toml` contains.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeArrayTable {
    pub n: Option<usize>,
    pub m: Option<usize>,
    pub rows: Option<usize>,
    pub cols: Option<usize>,
    pub acc_width: Option<u32>,
    pub max_k: Option<usize>,
    pub dsp: Option<DspMapping>,
}

/// The `[stream_io]` table: the word width of the narrow-stream wrapper (docs/stream-io.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamIoTable {
    pub word_bits: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub pe_array: PeArrayTable,
    #[serde(default)]
    pub stream_io: StreamIoTable,
}

/// The default accumulator width (numerics.md).
pub const DEFAULT_ACC_WIDTH: u32 = 32;

impl ArrayArgs {
    /// Merges flags over the config file and validates the result.
    pub fn resolve(&self) -> Result<ArrayShape> {
        let file = match &self.config {
            Some(path) => read_config(path)?.pe_array,
            None => PeArrayTable::default(),
        };
        let n = required("--n", self.n.or(file.n))?;
        let m = required("--m", self.m.or(file.m))?;
        let rows = required("--rows", self.rows.or(file.rows))?;
        let cols = required("--cols", self.cols.or(file.cols))?;
        let acc_width = self
            .acc_width
            .or(file.acc_width)
            .unwrap_or(DEFAULT_ACC_WIDTH);
        let max_k = self
            .max_k
            .or(file.max_k)
            .unwrap_or(ArrayShape::DEFAULT_MAX_K);
        let dsp = self.dsp.or(file.dsp).unwrap_or_default();
        Ok(ArrayShape::new(n, m, rows, cols, acc_width, max_k)
            .map_err(usage)?
            .with_dsp(dsp))
    }
}

impl ArrayArgs {
    /// `[stream_io] word_bits` of the `--config` file, if there is one and it says.
    pub fn config_io_word_bits(&self) -> Result<Option<u32>> {
        match &self.config {
            Some(path) => Ok(read_config(path)?.stream_io.word_bits),
            None => Ok(None),
        }
    }
}

fn required(flag: &str, value: Option<usize>) -> Result<usize> {
    value.ok_or_else(|| {
        StaError::Usage(format!(
            "{flag} is required (give it on the command line or in --config)"
        ))
    })
}

fn read_config(path: &Path) -> Result<ConfigFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| StaError::Usage(format!("cannot read config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        let message = e.message().replace('\n', " ");
        StaError::Usage(format!(
            "config file {} is not valid: {message}",
            path.display()
        ))
    })
}

/// The fully resolved configuration as TOML: reading it back with `--config` reproduces the design exactly.
pub fn resolved_toml(shape: &ArrayShape, io_word_bits: u32) -> String {
    let table = ConfigFile {
        pe_array: PeArrayTable {
            n: Some(shape.n),
            m: Some(shape.m),
            rows: Some(shape.rows),
            cols: Some(shape.cols),
            acc_width: Some(shape.acc_width),
            max_k: Some(shape.max_k),
            dsp: Some(shape.dsp),
        },
        stream_io: StreamIoTable {
            word_bits: Some(io_word_bits),
        },
    };
    let body = toml::to_string(&table).expect("a table of integers always serializes");
    format!("# Resolved configuration, written by {}. Use with: sta generate --config <this file> --out DIR\n{body}", sta_hdl::emit::GENERATOR)
}

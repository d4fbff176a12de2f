//! `sta accel generate`: the whole accelerator for one configuration, as a design directory with the same manifest,
//! filelist and FPGA project files as the other generators (so `sta synth --design DIR` works on it).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde::{Deserialize, Serialize};
use sta_golden::encoder::program::EncoderDims;
use sta_golden::top::AccelConfig;
use sta_hdl::accel::top::emit_top;
use sta_hdl::emit::GENERATOR;

use crate::design::{filelist_file, module_files, DesignFiles, MANIFEST, RESOLVED_CONFIG, RTL_DIR};
use crate::encoder::parse_sparsity;
use crate::error::{Result, StaError};
use crate::output::{check_overwrite, write_dir_atomically};

/// MiniLM's dimensions: the default model.
pub const MINILM_DIMS: EncoderDims = EncoderDims {
    d_model: 384,
    heads: 12,
    ffn: 1536,
    layers: 6,
};

/// The parameters of `sta accel generate` (flags win over `--config`).
#[derive(Debug, Clone, Args)]
pub struct AccelArgs {
    /// The N:M pattern of the sparse programs the design runs (dense programs always run), e.g. 2:8.
    #[arg(long = "n-m", value_name = "N:M")]
    pub n_m: Option<String>,
    /// Array rows (= columns = token banks): 2, 4, 8, 16 or 32.
    #[arg(long)]
    pub rows: Option<usize>,
    /// Array columns (must equal --rows: the accelerator's array is square).
    #[arg(long)]
    pub cols: Option<usize>,
    /// Softmax lanes P: a power of two, N ≤ P ≤ rows (default: rows).
    #[arg(long)]
    pub lanes: Option<usize>,
    /// Tokens on chip T_MAX (a batch; each sentence padded to a multiple of rows), default 128.
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Model dimensions (default all-MiniLM-L6-v2: 384, 12, 1536).
    #[arg(long)]
    pub d_model: Option<usize>,
    #[arg(long)]
    pub heads: Option<usize>,
    #[arg(long)]
    pub ffn: Option<usize>,
    /// Stream word width W: 32, 64 or 128 (default 64).
    #[arg(long)]
    pub word_bits: Option<u32>,
    /// A TOML file with any of: n_m, rows, cols, lanes, max_tokens, d_model, heads, ffn, word_bits.
    #[arg(long, value_name = "accel.toml")]
    pub config: Option<PathBuf>,
}

/// The `--config` file: the same keys as the flags.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct AccelToml {
    n_m: Option<String>,
    rows: Option<usize>,
    cols: Option<usize>,
    lanes: Option<usize>,
    max_tokens: Option<usize>,
    d_model: Option<usize>,
    heads: Option<usize>,
    ffn: Option<usize>,
    word_bits: Option<u32>,
}

impl AccelArgs {
    /// The validated configuration: flags, else the file, else the defaults.
    pub fn resolve(&self) -> Result<AccelConfig> {
        let file = match &self.config {
            Some(path) => read_toml(path)?,
            None => AccelToml::default(),
        };
        let n_m = self
            .n_m
            .clone()
            .or(file.n_m)
            .unwrap_or_else(|| "2:8".into());
        let pattern = parse_sparsity(&n_m)?.ok_or_else(|| {
            StaError::Usage(
                "--n-m dense: a design is generated for an N:M pattern (e.g. 2:8) and runs dense programs too".into(),
            )
        })?;
        let rows = self.rows.or(file.rows).unwrap_or(16);
        let cols = self.cols.or(file.cols).unwrap_or(rows);
        if rows != cols {
            return Err(StaError::Usage(format!(
                "--rows {rows} --cols {cols}: the accelerator's array is square (rows = cols = token banks, docs/accelerator.md)"
            )));
        }
        let dims = EncoderDims {
            d_model: self.d_model.or(file.d_model).unwrap_or(MINILM_DIMS.d_model),
            heads: self.heads.or(file.heads).unwrap_or(MINILM_DIMS.heads),
            ffn: self.ffn.or(file.ffn).unwrap_or(MINILM_DIMS.ffn),
            layers: MINILM_DIMS.layers,
        };
        AccelConfig::new(
            (pattern.n(), pattern.m()),
            rows,
            self.lanes.or(file.lanes).unwrap_or(rows),
            self.max_tokens.or(file.max_tokens).unwrap_or(128),
            dims,
            self.word_bits.or(file.word_bits).unwrap_or(64),
        )
        .map_err(|e| StaError::Usage(format!("accelerator configuration: {e}")))
    }
}

fn read_toml(path: &Path) -> Result<AccelToml> {
    let bytes = std::fs::read(path).map_err(|e| {
        StaError::Usage(format!("--config {}: cannot read it: {e}", path.display()))
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| StaError::Usage(format!("--config {}: not UTF-8 text", path.display())))?;
    toml::from_str(&text)
        .map_err(|e| StaError::Usage(format!("--config {}: {}", path.display(), e.message())))
}

/// The resolved configuration as TOML (the design directory's `config.resolved.toml`, readable by `--config`).
fn resolved_toml(c: &AccelConfig) -> String {
    let t = AccelToml {
        n_m: Some(format!("{}:{}", c.n, c.m)),
        rows: Some(c.array),
        cols: Some(c.array),
        lanes: Some(c.lanes),
        max_tokens: Some(c.max_tokens),
        d_model: Some(c.dims.d_model),
        heads: Some(c.dims.heads),
        ffn: Some(c.dims.ffn),
        word_bits: Some(c.word_bits),
    };
    format!(
        "# written by {GENERATOR}: the configuration of this accelerator\n{}",
        toml::to_string(&t).unwrap_or_default()
    )
}

/// `manifest.json` of an accelerator design.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccelManifest {
    pub generator: String,
    pub kind: String,
    pub top: String,
    pub parameters: AccelConfig,
    pub files: Vec<String>,
    /// The top is already a narrow-stream design: it is its own FPGA top.
    pub fpga_top: String,
    pub io_word_bits: u32,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub accel: AccelArgs,
    /// Output directory (created; must not exist unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    pub force: bool,
}

/// Every file of the design directory.
pub fn accel_files(config: &AccelConfig) -> Result<DesignFiles> {
    let design =
        emit_top(config).map_err(|e| StaError::Tool(format!("RTL generation failed: {e}")))?;
    let (rtl, mut files) = module_files(RTL_DIR, &design.modules);
    files.push(filelist_file(&rtl));
    files.push((
        PathBuf::from(RESOLVED_CONFIG),
        resolved_toml(config).into_bytes(),
    ));
    let manifest = AccelManifest {
        generator: GENERATOR.to_string(),
        kind: "accelerator".into(),
        top: design.top.clone(),
        parameters: *config,
        files: rtl,
        fpga_top: design.top.clone(),
        io_word_bits: config.word_bits,
    };
    let json = serde_json::to_string_pretty(&manifest).expect("manifest serializes") + "\n";
    files.push((PathBuf::from(MANIFEST), json.into_bytes()));
    crate::fpga::add_project_files(&mut files)?;
    Ok(files)
}

/// Reads back the configuration of a generated accelerator directory.
pub fn read_design(dir: &Path) -> Result<(AccelManifest, AccelConfig)> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        StaError::Usage(format!(
            "--design {}: no {MANIFEST} (make one with `sta accel generate`)",
            dir.display()
        ))
    })?;
    let manifest: AccelManifest = serde_json::from_str(&text).map_err(|e| {
        StaError::Usage(format!(
            "--design {}: {MANIFEST} is not an accelerator manifest ({e}); make one with `sta accel generate`",
            dir.display()
        ))
    })?;
    if manifest.kind != "accelerator" {
        return Err(StaError::Usage(format!(
            "--design {}: a {} design, not an accelerator (make one with `sta accel generate`)",
            dir.display(),
            manifest.kind
        )));
    }
    manifest
        .parameters
        .validate()
        .map_err(|e| StaError::Usage(format!("--design {}: {MANIFEST}: {e}", dir.display())))?;
    for file in &manifest.files {
        if !dir.join(file).is_file() {
            return Err(StaError::Usage(format!(
                "--design {}: {file}, listed by its manifest, is missing (regenerate the design)",
                dir.display()
            )));
        }
    }
    let config = manifest.parameters;
    Ok((manifest, config))
}

pub fn run_generate(args: &GenerateArgs) -> Result<()> {
    let config = args.accel.resolve()?;
    check_overwrite(&args.out, args.force)?;
    let start = Instant::now();
    let files = accel_files(&config)?;
    write_dir_atomically(&args.out, &files, args.force)?;
    let verilog: usize = files
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "v"))
        .map(|(_, b)| b.len())
        .sum();
    println!(
        "generated {} ({} bytes of Verilog) in {} in {:.3} s",
        config.top_name(),
        verilog,
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

//! Reading a generated design directory, whatever made it:
//!
//! - `sta generate` (PE array) and `sta softmax generate`: `manifest.json` with `top` (and `files`), `filelist.f` in
//!   dependency order, `rtl/*.v`; optionally `fpga_top` (the narrow-stream wrapper) and `io_word_bits`.
//! - `sta lut rtl`: `<module>.v` and `<module>.json` with `module` and `file`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, StaError};

/// What generated the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesignKind {
    PeArray,
    Softmax,
    LutUnit,
    /// The whole accelerator (`sta accel generate`).
    Accelerator,
    /// A manifest with a `top` but no kind `sta` recognises.
    Design,
}

impl DesignKind {
    pub fn name(self) -> &'static str {
        match self {
            DesignKind::PeArray => "pe_array",
            DesignKind::Softmax => "softmax",
            DesignKind::LutUnit => "lut_unit",
            DesignKind::Accelerator => "accelerator",
            DesignKind::Design => "design",
        }
    }

    /// For people: "PE array", "softmax unit", "LUT unit", "design".
    pub fn title(self) -> &'static str {
        match self {
            DesignKind::PeArray => "PE array",
            DesignKind::Softmax => "softmax unit",
            DesignKind::LutUnit => "LUT unit",
            DesignKind::Accelerator => "accelerator",
            DesignKind::Design => "design",
        }
    }
}

/// A generated design, as the FPGA flow needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesignInfo {
    /// The directory it was read from (empty for a design read from memory).
    pub dir: PathBuf,
    pub kind: DesignKind,
    /// The design's own top module.
    pub top: String,
    /// Verilog files relative to the directory, in dependency order (the wrapper, if any, last).
    pub files: Vec<String>,
    /// Simulation models of vendor primitives (`sim_models` in the manifest, `--dsp ecp5`): compiled before
    /// `files` for lint and simulation, never synthesised.
    pub sim_models: Vec<String>,
    /// The narrow-stream wrapper module that fits a real package (`fpga_top` in the manifest).
    pub fpga_top: Option<String>,
    /// The wrapper's stream width W (`io_word_bits`).
    pub io_word_bits: Option<u32>,
    /// The Verilator harness in `tb/` (C++ sources and headers), if the generator wrote one.
    pub tb_sources: Vec<String>,
    /// Words the harness's workload produces (lines of `tb/expected.hex`).
    pub tb_expected_words: Option<usize>,
}

/// The harness directory and the golden output the harness's workload must produce.
pub const TB_DIR: &str = "tb";
pub const TB_EXPECTED: &str = "tb/expected.hex";

/// The harness's files among `names` (paths relative to the design directory): C++ sources first, then headers.
fn harness_sources<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut sources: Vec<String> = names
        .filter(|n| n.starts_with("tb/") && (n.ends_with(".cpp") || n.ends_with(".h")))
        .map(str::to_string)
        .collect();
    sources.sort_by_key(|n| (n.ends_with(".h"), n.clone()));
    sources
}

pub const MANIFEST: &str = "manifest.json";
pub const FILELIST: &str = "filelist.f";
/// `sha256sum` lines of every file the generator wrote (`sha256sum -c SHA256SUMS` checks them by hand).
pub const CHECKSUMS: &str = "SHA256SUMS";

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The [`CHECKSUMS`] file of a design directory's `files` (paths relative to it), sorted by path.
pub fn checksums_file(files: &[(PathBuf, Vec<u8>)]) -> (PathBuf, Vec<u8>) {
    let mut lines: Vec<(String, String)> = files
        .iter()
        .map(|(p, bytes)| (p.to_string_lossy().replace('\\', "/"), sha256_hex(bytes)))
        .collect();
    lines.sort();
    let text: String = lines
        .iter()
        .map(|(path, sum)| format!("{sum}  {path}\n"))
        .collect();
    (PathBuf::from(CHECKSUMS), text.into_bytes())
}

fn not_a_design(dir: &Path, why: &str) -> StaError {
    StaError::Usage(format!(
        "{} is not a generated design: {why} (make one with `sta generate`, `sta softmax generate` or `sta lut rtl`)",
        dir.display()
    ))
}

/// The non-empty, non-comment lines of a filelist.
fn filelist_entries(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn string_field(value: &serde_json::Value, key: &str) -> Option<String> {
    value.get(key).and_then(|v| v.as_str()).map(str::to_string)
}

impl DesignInfo {
    /// Reads a design directory; anything else is a usage error that says what was missing.
    pub fn load(dir: &Path) -> Result<DesignInfo> {
        if !dir.is_dir() {
            return Err(StaError::Usage(format!(
                "--design {}: no such directory",
                dir.display()
            )));
        }
        let manifest = dir.join(MANIFEST);
        let design = if manifest.is_file() {
            let text = std::fs::read_to_string(&manifest)
                .map_err(|e| not_a_design(dir, &format!("cannot read {MANIFEST}: {e}")))?;
            let filelist = std::fs::read_to_string(dir.join(FILELIST)).ok();
            let mut design = Self::from_manifest(&text, filelist.as_deref())
                .map_err(|why| not_a_design(dir, &why))?;
            design.dir = dir.to_path_buf();
            design.add_wrapper_file_if_unlisted();
            design
        } else {
            Self::lut_unit(dir)?
        };
        let mut design = design;
        let tb: Vec<String> = std::fs::read_dir(dir.join(TB_DIR))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| format!("{TB_DIR}/{}", e.file_name().to_string_lossy()))
            .collect();
        design.tb_sources = harness_sources(tb.iter().map(String::as_str));
        design.tb_expected_words = std::fs::read_to_string(dir.join(TB_EXPECTED))
            .ok()
            .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count());
        for file in &design.files {
            if !design.dir.join(file).is_file() {
                return Err(not_a_design(
                    dir,
                    &format!("{file}, listed by its manifest, is missing"),
                ));
            }
        }
        design.check_sums()?;
        Ok(design)
    }

    /// The sources, simulation models, manifest and filelist must be as generated, if the directory has a
    /// [`CHECKSUMS`] file (older designs and `sta lut rtl` units have none).
    fn check_sums(&self) -> Result<()> {
        let Ok(text) = std::fs::read_to_string(self.dir.join(CHECKSUMS)) else {
            return Ok(());
        };
        let read = [MANIFEST, FILELIST];
        for (sum, name) in text.lines().filter_map(|l| l.split_once("  ")) {
            let used = read.contains(&name)
                || self.files.iter().chain(&self.sim_models).any(|f| f == name);
            if !used {
                continue;
            }
            let same =
                std::fs::read(self.dir.join(name)).is_ok_and(|bytes| sha256_hex(&bytes) == sum);
            if !same {
                return Err(StaError::Usage(format!(
                    "--design {}: {name} is not the file that was generated (its SHA-256 differs from {CHECKSUMS}); \
                     regenerate the design, or delete {CHECKSUMS} to use edited sources",
                    self.dir.display()
                )));
            }
        }
        Ok(())
    }

    /// A design from the files a generator is about to write (paths relative to the directory, contents): used to
    /// add the FPGA project files to a design directory before it is written.
    pub fn from_files(files: &[(PathBuf, Vec<u8>)]) -> Result<DesignInfo> {
        let text = |name: &str| {
            files
                .iter()
                .find(|(p, _)| p == Path::new(name))
                .map(|(_, bytes)| String::from_utf8_lossy(bytes).to_string())
        };
        let manifest = text(MANIFEST)
            .ok_or_else(|| StaError::Tool(format!("the generated files have no {MANIFEST}")))?;
        let mut design = Self::from_manifest(&manifest, text(FILELIST).as_deref())
            .map_err(|why| StaError::Tool(format!("the generated {MANIFEST}: {why}")))?;
        let names: Vec<String> = files
            .iter()
            .map(|(p, _)| p.to_string_lossy().replace('\\', "/"))
            .collect();
        design.tb_sources = harness_sources(names.iter().map(String::as_str));
        design.tb_expected_words =
            text(TB_EXPECTED).map(|t| t.lines().filter(|l| !l.trim().is_empty()).count());
        Ok(design)
    }

    /// Parses a `manifest.json` (and `filelist.f`, which wins for the file order when present).
    fn from_manifest(
        manifest: &str,
        filelist: Option<&str>,
    ) -> std::result::Result<DesignInfo, String> {
        let value: serde_json::Value = serde_json::from_str(manifest)
            .map_err(|e| format!("{MANIFEST} is not valid JSON: {e}"))?;
        let top = string_field(&value, "top")
            .ok_or_else(|| format!("{MANIFEST} has no \"top\" field"))?;
        let kind = match string_field(&value, "kind").as_deref() {
            Some("pe_array") => DesignKind::PeArray,
            Some("accelerator") => DesignKind::Accelerator,
            _ if value.get("lanes").is_some() => DesignKind::Softmax,
            _ => DesignKind::Design,
        };
        let listed: Vec<String> = value
            .get("files")
            .and_then(|f| f.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let files = match filelist.map(filelist_entries) {
            Some(entries) if !entries.is_empty() => entries,
            _ => listed,
        };
        if files.is_empty() {
            return Err(format!(
                "neither {FILELIST} nor {MANIFEST} lists any Verilog file"
            ));
        }
        let io_word_bits = value
            .get("io_word_bits")
            .and_then(|v| v.as_u64())
            .map(|w| w as u32);
        Ok(DesignInfo {
            dir: PathBuf::new(),
            kind,
            top,
            files,
            sim_models: value
                .get("sim_models")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            fpga_top: string_field(&value, "fpga_top"),
            io_word_bits,
            tb_sources: Vec::new(),
            tb_expected_words: None,
        })
    }

    /// A wrapper named in the manifest but missing from an older filelist: `rtl/<fpga_top>.v`, if it exists.
    fn add_wrapper_file_if_unlisted(&mut self) {
        let Some(wrapper) = &self.fpga_top else {
            return;
        };
        let file = format!("rtl/{wrapper}.v");
        if !self.files.contains(&file) && self.dir.join(&file).is_file() {
            self.files.push(file);
        }
    }

    /// A `sta lut rtl` directory: the one `<module>.json` whose `module` and `file` name a Verilog file beside it.
    fn lut_unit(dir: &Path) -> Result<DesignInfo> {
        let mut found = Vec::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| not_a_design(dir, &format!("cannot list it: {e}")))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if let (Some(module), Some(file)) =
                (string_field(&value, "module"), string_field(&value, "file"))
            {
                if dir.join(&file).is_file() {
                    found.push((module, file));
                }
            }
        }
        found.sort();
        match found.len() {
            1 => {
                let (top, file) = found.remove(0);
                Ok(DesignInfo {
                    dir: dir.to_path_buf(),
                    kind: DesignKind::LutUnit,
                    top,
                    files: vec![file],
                    sim_models: Vec::new(),
                    fpga_top: None,
                    io_word_bits: None,
                    tb_sources: Vec::new(),
                    tb_expected_words: None,
                })
            }
            0 => Err(not_a_design(
                dir,
                &format!("no {MANIFEST}, and no <module>.json with a \"module\" and a \"file\" field naming a Verilog file beside it"),
            )),
            _ => Err(not_a_design(
                dir,
                &format!(
                    "it holds {} unit manifests ({}); give one unit per directory",
                    found.len(),
                    found.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// The file name each source gets inside `sta synth`'s output (`rtl/<name>.v`): flat, so the scripts of a
    /// generated project and of `sta synth` read the same paths.
    pub fn work_paths(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = Vec::new();
        for file in &self.files {
            let name = Path::new(file)
                .file_name()
                .map(|n| format!("rtl/{}", n.to_string_lossy()))
                .ok_or_else(|| StaError::Usage(format!("{file}: not a file name")))?;
            if names.contains(&name) {
                return Err(StaError::Usage(format!(
                    "{}: two sources are named {name}",
                    self.dir.display()
                )));
            }
            names.push(name);
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_with_filelist_and_wrapper_fields() {
        let manifest = r#"{"kind": "pe_array", "top": "t", "files": ["rtl/a.v", "rtl/t.v"],
                           "fpga_top": "t_io8", "io_word_bits": 8}"#;
        let d =
            DesignInfo::from_manifest(manifest, Some("rtl/a.v\nrtl/t.v\nrtl/t_io8.v\n")).unwrap();
        assert_eq!(d.kind, DesignKind::PeArray);
        assert_eq!(d.files, ["rtl/a.v", "rtl/t.v", "rtl/t_io8.v"]);
        assert_eq!(d.fpga_top.as_deref(), Some("t_io8"));
        assert_eq!(d.io_word_bits, Some(8));
    }

    #[test]
    fn softmax_manifest_is_recognised_and_broken_ones_say_why() {
        let d =
            DesignInfo::from_manifest(r#"{"top": "s", "lanes": 4, "files": ["rtl/s.v"]}"#, None)
                .unwrap();
        assert_eq!(d.kind, DesignKind::Softmax);
        assert!(DesignInfo::from_manifest(r#"{"files": []}"#, None)
            .unwrap_err()
            .contains("\"top\""));
        assert!(DesignInfo::from_manifest(r#"{"top": "s"}"#, None)
            .unwrap_err()
            .contains("lists any Verilog"));
    }

    #[test]
    fn lut_unit_directory_and_non_design_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = DesignInfo::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is not a generated design"), "{err}");
        std::fs::write(dir.path().join("u.v"), "module u; endmodule\n").unwrap();
        std::fs::write(
            dir.path().join("u.json"),
            r#"{"module": "u", "file": "u.v"}"#,
        )
        .unwrap();
        let d = DesignInfo::load(dir.path()).unwrap();
        assert_eq!((d.kind, d.top.as_str()), (DesignKind::LutUnit, "u"));
        assert_eq!(d.work_paths().unwrap(), ["rtl/u.v"]);
    }
}

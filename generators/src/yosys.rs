//! Yosys as a checker: generic synthesis with `check -assert` (no latches, undriven nets, multiple drivers, logic
//! loops), cell statistics, and a flattened gate-level netlist that the Verilator harness can simulate.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, StaError};

/// The install hint for a missing Yosys.
pub const INSTALL_HINT: &str = "yosys not found on PATH; install it with `sudo apt-get install yosys` (or run ./scripts/install-tools.sh)";

fn read_sources(sources: &[PathBuf]) -> String {
    sources
        .iter()
        .map(|s| format!("read_verilog -defer {}; ", s.display()))
        .collect()
}

fn run_yosys(script: &str, log: &Path) -> Result<String> {
    let output = Command::new("yosys")
        .arg("-q")
        .arg("-l")
        .arg(log)
        .arg("-p")
        .arg(script)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StaError::Tool(INSTALL_HINT.into()),
            _ => StaError::Tool(format!("cannot start yosys: {e}")),
        })?;
    let text = std::fs::read_to_string(log).unwrap_or_default();
    if !output.status.success() {
        let tail: Vec<&str> = text
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(StaError::Tool(format!(
            "yosys failed ({}); log {}:\n{}",
            output.status,
            log.display(),
            tail.join("\n")
        )));
    }
    Ok(text)
}

/// Generic synthesis of `top` followed by `check -assert`; returns the Yosys log. Fails on any check finding.
pub fn synth_check(sources: &[PathBuf], top: &str, work: &Path) -> Result<String> {
    let script = format!(
        "{}hierarchy -check -top {top}; synth -top {top}; check -assert; stat",
        read_sources(sources)
    );
    run_yosys(&script, &work.join("yosys_check.log"))
}

/// Synthesises `top` flat to generic gates and writes a simulatable netlist `work/<top>_netlist.v`.
pub fn write_netlist(sources: &[PathBuf], top: &str, work: &Path) -> Result<PathBuf> {
    let netlist = work.join(format!("{top}_netlist.v"));
    let script = format!(
        "{}hierarchy -check -top {top}; synth -flatten -top {top}; check -assert; write_verilog -noattr {}",
        read_sources(sources),
        netlist.display()
    );
    run_yosys(&script, &work.join("yosys_netlist.log"))?;
    Ok(netlist)
}

/// Synthesises `top` with `synth_command` (a flattening one: `synth -flatten`, `synth_ecp5`, …), runs
/// `check -assert` and returns the text of `stat`, captured with `tee -o` (Yosys 0.23's `stat -json` writes invalid
/// JSON on hierarchical designs; the text of a flat design is one module, parsed by [`parse_stat`]). `tag` names the
/// log and stat files in `work`.
pub fn synth_stat(
    sources: &[PathBuf],
    top: &str,
    synth_command: &str,
    work: &Path,
    tag: &str,
) -> Result<String> {
    let stat = work.join(format!("{tag}.stat"));
    let script = format!(
        "{}hierarchy -check -top {top}; {synth_command} -top {top}; check -assert; tee -q -o {} stat",
        read_sources(sources),
        stat.display()
    );
    run_yosys(&script, &work.join(format!("{tag}.log")))?;
    std::fs::read_to_string(&stat)
        .map_err(|e| StaError::Tool(format!("yosys wrote no statistics {}: {e}", stat.display())))
}

/// Cell counts of one flat module from Yosys 0.23's `stat` text.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CellCounts {
    /// `Number of cells`.
    pub cells: u64,
    /// Cells by type, e.g. `$_AND_`, `LUT4`, `TRELLIS_FF`.
    pub by_type: std::collections::BTreeMap<String, u64>,
}

impl CellCounts {
    /// Cells whose type contains `pattern` (e.g. `DFF` for generic flip-flops).
    pub fn matching(&self, pattern: &str) -> u64 {
        self.by_type
            .iter()
            .filter(|(t, _)| t.contains(pattern))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Parses the `Number of cells:` line and the per-type lines under it (the first module in the text). `None` when
/// the text has no cell count.
pub fn parse_stat(text: &str) -> Option<CellCounts> {
    let mut lines = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Number of cells:"));
    let cells = lines.next()?.split(':').nth(1)?.trim().parse().ok()?;
    let mut by_type = std::collections::BTreeMap::new();
    for line in lines {
        let mut fields = line.split_whitespace();
        let (Some(name), Some(count), None) = (fields.next(), fields.next(), fields.next()) else {
            break;
        };
        let Ok(count) = count.parse::<u64>() else {
            break;
        };
        by_type.insert(name.to_string(), count);
    }
    Some(CellCounts { cells, by_type })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_text_of_yosys_0_23_parses() {
        let text = "\n6. Printing statistics.\n\n=== top ===\n\n   Number of wires:                 70\n   \
                    Number of cells:                105\n     CCU2C                          34\n     \
                    LUT4                           27\n     TRELLIS_FF                     39\n\n";
        let c = parse_stat(text).unwrap();
        assert_eq!(c.cells, 105);
        assert_eq!(c.by_type.len(), 3);
        assert_eq!(c.matching("FF"), 39);
        assert!(parse_stat("no statistics").is_none());
    }
}

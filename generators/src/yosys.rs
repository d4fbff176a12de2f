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

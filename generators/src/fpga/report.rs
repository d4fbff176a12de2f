//! What the tools report, read from their JSON (never from logs): Yosys `stat -json`, the netlist's top ports,
//! nextpnr's `--report` (utilisation, Fmax per clock, critical paths); and the summary `sta synth` writes
//! (`reports/summary.json`, `reports/summary.md`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::target::{Family, Target};
use super::tools::ToolInfo;
use crate::error::{Result, StaError};

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| StaError::Tool(format!("{what} {} was not written: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| StaError::Tool(format!("{what} {} is not valid: {e}", path.display())))
}

// ---------------------------------------------------------------------------------------------------------------------
// Yosys

#[derive(Debug, Deserialize)]
struct StatFile {
    modules: BTreeMap<String, StatModule>,
}

#[derive(Debug, Deserialize)]
struct StatModule {
    #[serde(default)]
    num_cells_by_type: BTreeMap<String, u64>,
    #[serde(default)]
    num_port_bits: Option<u64>,
}

/// Cell counts of the (flat) top module from Yosys 0.70's `stat -json`, and its port bits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SynthStat {
    pub cells: BTreeMap<String, u64>,
    pub port_bits: u64,
}

/// Reads `stat -json` output for module `top`.
pub fn read_stat(path: &Path, top: &str) -> Result<SynthStat> {
    let stat: StatFile = read_json(path, "the Yosys statistics")?;
    let module = stat
        .modules
        .get(&format!("\\{top}"))
        .or_else(|| stat.modules.get(top))
        .or_else(|| stat.modules.values().next())
        .ok_or_else(|| StaError::Tool(format!("{} has no module {top}", path.display())))?;
    Ok(SynthStat {
        cells: module.num_cells_by_type.clone(),
        port_bits: module.num_port_bits.unwrap_or(0),
    })
}

#[derive(Debug, Deserialize)]
struct Netlist {
    modules: BTreeMap<String, NetlistModule>,
}

#[derive(Debug, Deserialize)]
struct NetlistModule {
    #[serde(default)]
    ports: BTreeMap<String, NetlistPort>,
}

#[derive(Debug, Deserialize)]
struct NetlistPort {
    bits: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    offset: i64,
    #[serde(default)]
    upto: i64,
}

/// The port bits of `top` in a Yosys JSON netlist, named as nextpnr names them (`clk`, `s_tdata[3]`).
pub fn read_port_bits(netlist: &Path, top: &str) -> Result<Vec<String>> {
    let n: Netlist = read_json(netlist, "the Yosys netlist")?;
    let module = n
        .modules
        .get(top)
        .ok_or_else(|| StaError::Tool(format!("{} has no module {top}", netlist.display())))?;
    let mut bits = Vec::new();
    for (name, port) in &module.ports {
        let width = port.bits.len() as i64;
        if width == 1 && port.offset == 0 {
            bits.push(name.clone());
            continue;
        }
        for i in 0..width {
            let index = if port.upto != 0 {
                port.offset + width - 1 - i
            } else {
                port.offset + i
            };
            bits.push(format!("{name}[{index}]"));
        }
    }
    Ok(bits)
}

// ---------------------------------------------------------------------------------------------------------------------
// nextpnr

#[derive(Debug, Clone, Deserialize)]
pub struct NextpnrReport {
    #[serde(default)]
    pub utilization: BTreeMap<String, NextpnrUse>,
    #[serde(default)]
    pub fmax: BTreeMap<String, NextpnrFmax>,
    #[serde(default)]
    pub critical_paths: Vec<NextpnrPath>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NextpnrUse {
    pub used: u64,
    pub available: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NextpnrFmax {
    pub achieved: f64,
    pub constraint: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NextpnrPath {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub path: Vec<NextpnrSegment>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NextpnrSegment {
    #[serde(rename = "type")]
    pub kind: String,
    pub delay: f64,
    pub from: NextpnrPin,
    pub to: NextpnrPin,
    #[serde(default)]
    pub net: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NextpnrPin {
    pub cell: String,
    #[serde(default)]
    pub port: String,
}

pub fn read_nextpnr_report(path: &Path) -> Result<NextpnrReport> {
    read_json(path, "nextpnr's report")
}

/// A clock's design name: nextpnr names clocks after their net (`$glbnet$clk$TRELLIS_IO_IN`,
/// `clk$SB_IO_IN_$glb_clk`); the first `$`-separated piece that is a port name of the top is the clock port.
pub fn clock_name(net: &str, ports: &[String]) -> String {
    net.split('$')
        .find(|piece| ports.iter().any(|p| p == piece))
        .unwrap_or(net)
        .to_string()
}

// ---------------------------------------------------------------------------------------------------------------------
// The summary

/// One resource: used, available on the part (null for generic synthesis) and the percentage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub used: u64,
    pub available: Option<u64>,
    pub percent: Option<f64>,
    /// What it is: `lut`, `ff`, `dsp`, `bram`, `lutram`, `spram`, `io`; null for the rest.
    pub role: Option<String>,
}

impl Resource {
    pub fn new(used: u64, available: Option<u64>, role: Option<&str>) -> Resource {
        Resource {
            used,
            available,
            percent: available
                .filter(|a| *a > 0)
                .map(|a| round2(100.0 * used as f64 / a as f64)),
            role: role.map(str::to_string),
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The path that sets the lowest Fmax, taken apart: what limits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriticalPath {
    /// Clock edges as nextpnr writes them, e.g. `posedge clk`.
    pub from_clock: String,
    pub to_clock: String,
    pub start_cell: String,
    pub end_cell: String,
    pub total_ns: f64,
    pub logic_ns: f64,
    pub routing_ns: f64,
    /// Clock-to-output of the start register plus setup of the end register.
    pub register_ns: f64,
    /// Distinct cells passed through on logic segments.
    pub logic_levels: usize,
    /// The slowest single net and its delay.
    pub longest_net: Option<String>,
    pub longest_net_ns: f64,
    /// One sentence: routing- or logic-dominated, and by how much.
    pub limited_by: String,
}

/// The register-to-register path with the largest total delay (the one that sets Fmax; paths from or to `<async>`
/// I/O only when there is no other), if nextpnr reported one.
pub fn critical_path(report: &NextpnrReport) -> Option<CriticalPath> {
    let total = |p: &NextpnrPath| p.path.iter().map(|s| s.delay).sum::<f64>();
    let clocked = |p: &&NextpnrPath| p.from.contains("edge") && p.to.contains("edge");
    let longest = |clocked_only: bool| {
        report
            .critical_paths
            .iter()
            .filter(|p| !p.path.is_empty() && (!clocked_only || clocked(p)))
            .max_by(|a, b| total(a).total_cmp(&total(b)))
    };
    let path = longest(true).or_else(|| longest(false))?;
    let sum = |kind: &str| {
        path.path
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.delay)
            .sum::<f64>()
    };
    let (logic, routing) = (sum("logic"), sum("routing"));
    let register = sum("clk-to-q") + sum("setup");
    let mut cells: Vec<&str> = path
        .path
        .iter()
        .filter(|s| s.kind == "logic")
        .map(|s| s.from.cell.as_str())
        .collect();
    cells.dedup();
    let logic_levels = {
        let mut c = cells.clone();
        c.sort_unstable();
        c.dedup();
        c.len()
    };
    let longest = path
        .path
        .iter()
        .filter(|s| s.kind == "routing")
        .max_by(|a, b| a.delay.total_cmp(&b.delay));
    let total_ns = total(path);
    let share = |x: f64| {
        if total_ns > 0.0 {
            100.0 * x / total_ns
        } else {
            0.0
        }
    };
    let levels = match logic_levels {
        1 => "1 logic level".to_string(),
        n => format!("{n} logic levels"),
    };
    let limited_by = if routing >= logic {
        format!(
            "routing: {:.2} of {:.2} ns ({:.0} %) is wire delay over {}{}",
            routing,
            total_ns,
            share(routing),
            levels,
            longest
                .map(|s| format!("; the longest net alone takes {:.2} ns", s.delay))
                .unwrap_or_default()
        )
    } else {
        format!(
            "logic: {:.2} of {:.2} ns ({:.0} %) is spent in {levels}",
            logic,
            total_ns,
            share(logic),
        )
    };
    Some(CriticalPath {
        from_clock: path.from.clone(),
        to_clock: path.to.clone(),
        start_cell: path
            .path
            .first()
            .map(|s| s.from.cell.clone())
            .unwrap_or_default(),
        end_cell: path
            .path
            .last()
            .map(|s| s.to.cell.clone())
            .unwrap_or_default(),
        total_ns: round3(total_ns),
        logic_ns: round3(logic),
        routing_ns: round3(routing),
        register_ns: round3(register),
        logic_levels,
        longest_net: longest.and_then(|s| s.net.clone()),
        longest_net_ns: round3(longest.map(|s| s.delay).unwrap_or(0.0)),
        limited_by,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Wall time of each step, seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Runtime {
    pub synth: f64,
    pub pnr: Option<f64>,
    pub bitstream: Option<f64>,
    pub total: f64,
}

/// I/O pins the synthesised top needs against the package's user I/O.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinUse {
    pub used: u64,
    pub available: u64,
}

/// `reports/summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthSummary {
    /// The `sta` that ran the flow.
    pub generator: String,
    pub target: String,
    pub family: Family,
    /// Vendor part (null for generic).
    pub device: Option<String>,
    pub package: Option<String>,
    pub design_dir: String,
    pub design_kind: String,
    /// The design's own top module.
    pub design_top: String,
    /// The module that was synthesised and placed (the design top, or its narrow-stream wrapper).
    pub top: String,
    /// `stream` (the wrapper), `direct` (the design top's ports on package pins), `ooc` (out of context: no I/O).
    pub io_mode: String,
    pub io_reason: String,
    /// Port bits of `top` against the package's user I/O (null out of context).
    pub io_pins: Option<PinUse>,
    /// Where the pins are: a board's constraints file, nextpnr's automatic placement, or none.
    pub pin_constraints: String,
    /// Board whose constraints were used, if any.
    pub board: Option<String>,
    /// nextpnr's utilisation (per bel type; the key types always, others when used), or for generic Yosys cells.
    pub resources: BTreeMap<String, Resource>,
    /// Yosys `stat` cells by type after synthesis.
    pub synth_cells: BTreeMap<String, u64>,
    /// Achieved Fmax per clock (the clock's port name), MHz.
    pub fmax_mhz: BTreeMap<String, f64>,
    /// The requested clock target, MHz (null for generic).
    pub constraint_mhz: Option<f64>,
    /// Lowest achieved Fmax over the clocks.
    pub fmax_min_mhz: Option<f64>,
    pub timing_met: Option<bool>,
    pub critical_path: Option<CriticalPath>,
    pub tools: Vec<ToolInfo>,
    pub runtime_s: Runtime,
    /// Bitstream path relative to the output directory, or null.
    pub bitstream: Option<String>,
    /// Why there is or is not a bitstream, and what it is good for.
    pub bitstream_note: String,
    pub seed: u64,
    /// Other outputs, relative to the output directory: scripts, netlist, nextpnr report, logs.
    pub files: BTreeMap<String, String>,
    /// Anything a reader should know (tools that are not the tested builds, estimates).
    pub notes: Vec<String>,
}

fn fmt_opt(x: Option<f64>, unit: &str) -> String {
    x.map(|v| format!("{v:.1}{unit}"))
        .unwrap_or_else(|| "—".to_string())
}

impl SynthSummary {
    /// What `sta synth` prints: the part, the I/O mode, the key resources, Fmax, the bitstream, where the reports are.
    pub fn one_paragraph(&self, out: &Path) -> String {
        let resources = if self.family == Family::Generic {
            let cells: u64 = self.synth_cells.values().sum();
            let ffs: u64 = self
                .synth_cells
                .iter()
                .filter(|(c, _)| c.contains("DFF"))
                .map(|(_, n)| n)
                .sum();
            format!("{cells} generic cells, {ffs} of them flip-flops")
        } else {
            self.resources
                .iter()
                .filter(|(_, r)| r.role.is_some())
                .map(|(name, r)| match (r.available, r.percent) {
                    (Some(a), Some(p)) => format!("{name} {}/{a} ({p:.1} %)", r.used),
                    _ => format!("{name} {}", r.used),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = format!(
            "synthesised {} for {} (io {}) in {:.1} s\n  {resources}",
            self.top, self.target, self.io_mode, self.runtime_s.total
        );
        if !self.fmax_mhz.is_empty() {
            let fmax = self
                .fmax_mhz
                .iter()
                .map(|(c, f)| format!("{c} {f:.1} MHz"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(
                text,
                "\n  Fmax {fmax} (constraint {}{})",
                fmt_opt(self.constraint_mhz, " MHz"),
                if self.timing_met == Some(false) {
                    ", not met"
                } else {
                    ""
                }
            );
            if let Some(cp) = &self.critical_path {
                let _ = write!(text, "; critical path limited by {}", cp.limited_by);
            }
        }
        let _ = write!(
            text,
            "\n  bitstream: {}\n  reports: {}, {}",
            match &self.bitstream {
                Some(b) => out.join(b).display().to_string(),
                None => format!("none ({})", self.bitstream_note),
            },
            out.join("reports/summary.json").display(),
            out.join("reports/summary.md").display()
        );
        text
    }

    /// `reports/summary.md`: the same facts as a table a person reads.
    pub fn markdown(&self, target: &Target) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# `sta synth`: {} on {}\n", self.top, self.target);
        let _ = writeln!(md, "| | |\n|---|---|");
        let _ = writeln!(md, "| target | {} ({}) |", self.target, target.part());
        let _ = writeln!(
            md,
            "| design | {} `{}` in `{}` |",
            self.design_kind, self.design_top, self.design_dir
        );
        let _ = writeln!(md, "| synthesised top | `{}` |", self.top);
        let _ = writeln!(md, "| I/O mode | {}: {} |", self.io_mode, self.io_reason);
        if let Some(pins) = &self.io_pins {
            let _ = writeln!(md, "| package pins | {} of {} |", pins.used, pins.available);
        }
        let _ = writeln!(md, "| pin constraints | {} |", self.pin_constraints);
        let _ = writeln!(
            md,
            "| Fmax | {} (constraint {}) |",
            if self.fmax_mhz.is_empty() {
                "—".to_string()
            } else {
                self.fmax_mhz
                    .iter()
                    .map(|(c, f)| format!("{c}: {f:.1} MHz"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            fmt_opt(self.constraint_mhz, " MHz")
        );
        if let Some(cp) = &self.critical_path {
            let _ = writeln!(
                md,
                "| critical path | {:.2} ns: `{}` → `{}`; {} |",
                cp.total_ns, cp.start_cell, cp.end_cell, cp.limited_by
            );
        }
        let _ = writeln!(
            md,
            "| bitstream | {} |",
            match &self.bitstream {
                Some(b) => format!("`{b}`: {}", self.bitstream_note),
                None => format!("none: {}", self.bitstream_note),
            }
        );
        let _ = writeln!(
            md,
            "| runtime | synth {:.1} s, place and route {}, bitstream {}, total {:.1} s |",
            self.runtime_s.synth,
            fmt_opt(self.runtime_s.pnr, " s"),
            fmt_opt(self.runtime_s.bitstream, " s"),
            self.runtime_s.total
        );
        let _ = writeln!(md, "| seed | {} |", self.seed);
        let _ = writeln!(md, "\n## Resources\n");
        let _ = writeln!(
            md,
            "| resource | role | used | available | % |\n|---|---|---:|---:|---:|"
        );
        for (name, r) in &self.resources {
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} |",
                r.role.as_deref().unwrap_or(""),
                r.used,
                r.available
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "—".into()),
                fmt_opt(r.percent, " %")
            );
        }
        let _ = writeln!(md, "\n## Yosys cells\n");
        let _ = writeln!(md, "| cell | count |\n|---|---:|");
        for (cell, n) in &self.synth_cells {
            let _ = writeln!(md, "| {cell} | {n} |");
        }
        let _ = writeln!(md, "\n## Tools\n");
        let _ = writeln!(md, "| tool | version | package | path |\n|---|---|---|---|");
        for t in &self.tools {
            let _ = writeln!(
                md,
                "| {} | {} | {} | `{}` |",
                t.name,
                t.version,
                t.package.as_deref().unwrap_or("—"),
                t.path
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(md, "\n## Notes\n");
            for n in &self.notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        let _ = writeln!(md, "\n## Files\n");
        for (what, path) in &self.files {
            let _ = writeln!(md, "- {what}: `{path}`");
        }
        md
    }
}

/// Builds the resource table from nextpnr's utilisation: the family's key bel types always, any other when used.
pub fn resources_from_nextpnr(
    family: Family,
    report: &NextpnrReport,
) -> BTreeMap<String, Resource> {
    let roles = family.resource_roles();
    report
        .utilization
        .iter()
        .filter_map(|(bel, u)| {
            let role = roles.iter().find(|(b, _)| b == bel).map(|(_, r)| *r);
            (role.is_some() || u.used > 0)
                .then(|| (bel.clone(), Resource::new(u.used, Some(u.available), role)))
        })
        .collect()
}

/// For generic synthesis: Yosys cell counts, nothing available.
pub fn resources_from_cells(cells: &BTreeMap<String, u64>) -> BTreeMap<String, Resource> {
    cells
        .iter()
        .map(|(cell, n)| (cell.clone(), Resource::new(*n, None, None)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(kind: &str, delay: f64, from: &str, to: &str, net: Option<&str>) -> serde_json::Value {
        serde_json::json!({"type": kind, "delay": delay, "from": {"cell": from, "port": "A"},
                           "to": {"cell": to, "port": "Z"}, "net": net})
    }

    #[test]
    fn nextpnr_report_is_read_and_the_critical_path_taken_apart() {
        let json = serde_json::json!({
            "utilization": {"MULT18X18D": {"used": 128, "available": 156},
                            "TRELLIS_COMB": {"used": 14211, "available": 83640},
                            "DCUA": {"used": 0, "available": 2}},
            "fmax": {"$glbnet$clk$TRELLIS_IO_IN": {"achieved": 87.74, "constraint": 125}},
            "critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [
                seg("clk-to-q", 0.5, "ff_a", "ff_a", None),
                seg("routing", 5.4, "ff_a", "ccu_1", Some("prod[19]")),
                seg("logic", 0.4, "ccu_1", "ccu_1", None),
                seg("routing", 0.0, "ccu_1", "ccu_1", Some("carry")),
                seg("logic", 0.1, "ccu_1", "ccu_1", None),
                seg("routing", 1.5, "ccu_1", "lut_2", Some("x")),
                seg("logic", 0.2, "lut_2", "lut_2", None),
                seg("routing", 0.9, "lut_2", "ff_b", Some("y")),
                seg("setup", 0.1, "ff_b", "ff_b", None)]}]
        });
        let report: NextpnrReport = serde_json::from_value(json).unwrap();
        let resources = resources_from_nextpnr(Family::Ecp5, &report);
        assert_eq!(resources["MULT18X18D"].percent, Some(82.05));
        assert_eq!(resources["MULT18X18D"].role.as_deref(), Some("dsp"));
        assert!(
            !resources.contains_key("DCUA"),
            "unused, not a key resource"
        );
        let cp = critical_path(&report).unwrap();
        assert_eq!(
            (cp.start_cell.as_str(), cp.end_cell.as_str()),
            ("ff_a", "ff_b")
        );
        assert_eq!(cp.logic_levels, 2);
        assert_eq!(cp.routing_ns, 7.8);
        assert_eq!(cp.longest_net.as_deref(), Some("prod[19]"));
        assert!(cp.limited_by.starts_with("routing"), "{}", cp.limited_by);
        let ports = vec!["clk".to_string(), "rst".to_string()];
        assert_eq!(clock_name("$glbnet$clk$TRELLIS_IO_IN", &ports), "clk");
        assert_eq!(clock_name("clk$SB_IO_IN_$glb_clk", &ports), "clk");
        assert_eq!(clock_name("other", &ports), "other");
    }
}

//! The Verilator harness of the accelerator's LayerNorm unit (`templates/layernorm_tb.cpp`): build, play row groups,
//! compare with the golden model.
//!
//! The unit (`sta_hdl::accel::layernorm`) has the ports `clk`, `rst`, `in_valid`, `in_ready`, `in_pass[1:0]`,
//! `in_last`, `in_resid[L*24]`, `in_gain[16]`, `in_offset[40]`, `in_shift[6]`, `out_valid`, `out_data[L*8]`. A row
//! group ([`LayerNormGroup`]) is one row per lane plus the shared gains, offsets and shift; the harness streams it as
//! D beats of each of the three passes with random idle cycles, optionally raising `rst` part-way (the group is then
//! abandoned), and checks every cycle that `in_ready` is low exactly in the unit's bubbles and that every pass-2 beat
//! comes out exactly `latency` cycles later. [`check_layernorm`] compares every lane of every output with
//! `sta_golden::encoder::ops::layernorm_rows` and reports the first mismatch with the row's statistics.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use askama::Template;
use serde::Deserialize;
use sta_golden::encoder::ops::{affine, layernorm_rows, norm_stats, normalise};
use sta_golden::encoder::program::NormMethod;
use sta_golden::pwl::PwlTable;

use crate::error::SimError;
use crate::sim_build::{build_model, BuildOptions, BuiltModel};

const STIM_FILE: &str = "stim.txt";
const RESULTS_FILE: &str = "results.txt";
const SUMMARY_FILE: &str = "summary.json";

/// Residual lane width.
const RESID_BITS: u32 = 24;
/// Gain and offset widths.
const GAIN_BITS: u32 = 16;
const OFFSET_BITS: u32 = 40;
/// Largest `in_shift`.
const MAX_SHIFT: u32 = 63;

#[derive(Template)]
#[template(path = "layernorm_tb.cpp", escape = "none")]
struct LayerNormHarness<'a> {
    top: &'a str,
    lanes: usize,
    d: usize,
    latency: u32,
    mean_bubble: u32,
    norm_bubble: u32,
}

/// What the harness needs to know about the unit: module, L, D, the pass-2 latency and the two bubbles (cycles
/// `in_ready` is low after the cycle that accepts pass 0's / pass 1's last beat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerNormPorts {
    pub module: String,
    pub lanes: usize,
    pub d: usize,
    pub latency: u32,
    pub mean_bubble: u32,
    pub norm_bubble: u32,
}

/// One row group: `rows[l]` is lane l's row of D signed 24-bit residuals; `gains` (signed 16-bit) and `offsets`
/// (signed 40-bit) are shared by the lanes, `shift` ≤ 63 is the affine shift. `reset_after = Some(n)`: `rst` is raised
/// after the group's n-th accepted beat (n ≤ 3·D, counting pass 0, 1 and 2 beats) and the group is abandoned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerNormGroup {
    pub rows: Vec<Vec<i32>>,
    pub gains: Vec<i32>,
    pub offsets: Vec<i64>,
    pub shift: u32,
    pub reset_after: Option<usize>,
}

/// A built LayerNorm simulation.
#[derive(Debug, Clone)]
pub struct LayerNormSimBuild {
    pub ports: LayerNormPorts,
    pub model: BuiltModel,
}

/// The outputs of one run: per group, its output beats in order as (element index, the L lanes' y).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNormOutcome {
    pub outputs: Vec<Vec<(usize, Vec<i8>)>>,
    /// Per group: the element indices of pass-2 beats that a reset dropped while in flight (a reset can cut the
    /// outputs of the group before it).
    pub dropped: Vec<Vec<usize>>,
    /// Beats accepted (all passes, all groups).
    pub accepted: u64,
    /// Cycles a beat was presented while `in_ready` was low.
    pub stalls: u64,
    /// Clock cycles after the initial reset.
    pub cycles: u64,
    pub wall_seconds: f64,
}

#[derive(Debug, Deserialize)]
struct Summary {
    status: String,
    message: String,
    cycle: u64,
    cycles: u64,
    accepted: u64,
    results: u64,
    stalls: u64,
}

fn render(ports: &LayerNormPorts) -> Result<String, SimError> {
    if !(1..=64).contains(&ports.lanes) || !(1..=4096).contains(&ports.d) || ports.latency == 0 {
        return Err(SimError::UnsupportedShape {
            reason: format!(
                "LayerNorm unit {}: lanes {} (1..=64), d {} (1..=4096), latency {} (>= 1)",
                ports.module, ports.lanes, ports.d, ports.latency
            ),
        });
    }
    Ok(LayerNormHarness {
        top: &ports.module,
        lanes: ports.lanes,
        d: ports.d,
        latency: ports.latency,
        mean_bubble: ports.mean_bubble,
        norm_bubble: ports.norm_bubble,
    }
    .render()?)
}

/// Builds (or finds in the shared cache) the simulation of `sources` (the unit's RTL, leaves first, or a netlist).
pub fn build_layernorm(
    sources: &[PathBuf],
    ports: &LayerNormPorts,
    cache_root: &Path,
    options: &BuildOptions,
) -> Result<LayerNormSimBuild, SimError> {
    let harness = render(ports)?;
    let model = build_model(sources, &ports.module, &harness, cache_root, options)?;
    Ok(LayerNormSimBuild {
        ports: ports.clone(),
        model,
    })
}

fn fits(v: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    (-half..half).contains(&v)
}

fn invalid(name: &'static str, value: String, expected: &'static str) -> SimError {
    SimError::InvalidOption {
        name,
        value,
        expected,
    }
}

/// Checks that every group has the unit's shape and every field its width.
fn validate(groups: &[LayerNormGroup], lanes: usize, d: usize) -> Result<(), SimError> {
    for (g, group) in groups.iter().enumerate() {
        if group.rows.len() != lanes || group.rows.iter().any(|r| r.len() != d) {
            return Err(invalid(
                "groups",
                format!("group {g}: {} rows", group.rows.len()),
                "one row of D values per lane",
            ));
        }
        if group.gains.len() != d || group.offsets.len() != d {
            return Err(invalid(
                "groups",
                format!(
                    "group {g}: {} gains, {} offsets",
                    group.gains.len(),
                    group.offsets.len()
                ),
                "D gains and D offsets",
            ));
        }
        if let Some(r) = group
            .rows
            .iter()
            .flatten()
            .find(|&&r| !fits(i64::from(r), RESID_BITS))
        {
            return Err(invalid(
                "groups",
                format!("group {g}: residual {r}"),
                "signed 24-bit residuals",
            ));
        }
        if let Some(x) = group
            .gains
            .iter()
            .find(|&&x| !fits(i64::from(x), GAIN_BITS))
        {
            return Err(invalid(
                "groups",
                format!("group {g}: gain {x}"),
                "signed 16-bit gains",
            ));
        }
        if let Some(c) = group.offsets.iter().find(|&&c| !fits(c, OFFSET_BITS)) {
            return Err(invalid(
                "groups",
                format!("group {g}: offset {c}"),
                "signed 40-bit offsets",
            ));
        }
        if group.shift > MAX_SHIFT {
            return Err(invalid(
                "groups",
                format!("group {g}: shift {}", group.shift),
                "a shift 0..=63",
            ));
        }
        if group.reset_after.is_some_and(|n| n > 3 * d) {
            return Err(invalid(
                "groups",
                format!("group {g}: reset after {:?} beats", group.reset_after),
                "a reset point 0..=3·D",
            ));
        }
    }
    Ok(())
}

fn hex(value: i64, bits: u32) -> String {
    let digits = bits.div_ceil(4) as usize;
    format!("{:0digits$x}", (value as u64) & ((1u64 << bits) - 1))
}

fn write_stimulus(path: &Path, groups: &[LayerNormGroup]) -> Result<(), SimError> {
    let file = fs::File::create(path).map_err(SimError::io("create", path))?;
    let mut w = BufWriter::new(file);
    let io = SimError::io("write", path);
    let mut text = String::new();
    for group in groups {
        let reset = group.reset_after.map_or(-1, |n| n as i64);
        text.push_str(&format!("g {} {reset}\n", group.shift));
        for i in 0..group.gains.len() {
            text.push('e');
            for row in &group.rows {
                text.push(' ');
                text.push_str(&hex(i64::from(row[i]), RESID_BITS));
            }
            text.push_str(&format!(
                " {} {}\n",
                hex(i64::from(group.gains[i]), GAIN_BITS),
                hex(group.offsets[i], OFFSET_BITS)
            ));
        }
    }
    w.write_all(text.as_bytes()).map_err(io)?;
    w.flush().map_err(SimError::io("write", path))
}

/// Per group: the output beats (element index, lanes) and the dropped element indices.
type Results = (Vec<Vec<(usize, Vec<i8>)>>, Vec<Vec<usize>>);

/// Parses `group index HEX` (an output beat) and `x group index` (a dropped beat) lines.
fn read_outputs(path: &Path, groups: usize, lanes: usize, d: usize) -> Result<Results, SimError> {
    let text = fs::read_to_string(path).map_err(SimError::io("read", path))?;
    let mut out = vec![Vec::new(); groups];
    let mut dropped = vec![Vec::new(); groups];
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |reason: &str| SimError::ResultLine {
            line: n + 1,
            reason: format!("{reason}: {line:?}"),
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        let [group, index, data] = f[..] else {
            return Err(bad("expected `group index HEX` or `x group index`"));
        };
        if group == "x" {
            let group: usize = index.parse().map_err(|_| bad("bad group"))?;
            let index: usize = data.parse().map_err(|_| bad("bad index"))?;
            if group >= groups || index >= d {
                return Err(bad("group or index out of range"));
            }
            dropped[group].push(index);
            continue;
        }
        let group: usize = group.parse().map_err(|_| bad("bad group"))?;
        let index: usize = index.parse().map_err(|_| bad("bad index"))?;
        // hex digits only: a multi-byte character would put the byte slices below off a character boundary
        if group >= groups
            || index >= d
            || data.len() != 2 * lanes
            || !data.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(bad("group, index or width out of range"));
        }
        // lane 0 is the lowest byte: the last two hex digits
        let y = (0..lanes)
            .map(|l| {
                let at = data.len() - 2 * (l + 1);
                u8::from_str_radix(&data[at..at + 2], 16).map(|b| b as i8)
            })
            .collect::<Result<Vec<i8>, _>>()
            .map_err(|_| bad("bad hex"))?;
        out[group].push((index, y));
    }
    Ok((out, dropped))
}

impl LayerNormSimBuild {
    /// Plays `groups` with idle cycles on about `gap` percent of the cycles (0..=90); `seed` drives the gaps, the junk
    /// and the reset lengths. A protocol violation (bubble, latency, spurious output) is `SimError::Protocol`.
    pub fn run(
        &self,
        groups: &[LayerNormGroup],
        gap: u32,
        seed: u64,
        work_dir: Option<&Path>,
    ) -> Result<LayerNormOutcome, SimError> {
        if gap > 90 {
            return Err(invalid("gap", gap.to_string(), "a percentage 0..=90"));
        }
        let LayerNormPorts { lanes, d, .. } = self.ports;
        validate(groups, lanes, d)?;
        let tmp;
        let dir = match work_dir {
            Some(dir) => {
                fs::create_dir_all(dir).map_err(SimError::io("create", dir))?;
                dir.to_path_buf()
            }
            None => {
                tmp = tempfile::Builder::new()
                    .prefix("sta-layernorm-sim-")
                    .tempdir()
                    .map_err(SimError::io("create", "a temp dir"))?;
                tmp.path().to_path_buf()
            }
        };
        for name in [RESULTS_FILE, SUMMARY_FILE] {
            let path = dir.join(name);
            if path.exists() {
                fs::remove_file(&path).map_err(SimError::io("remove", &path))?;
            }
        }
        write_stimulus(&dir.join(STIM_FILE), groups)?;
        let file = |name: &str| dir.join(name).display().to_string();
        let plusargs = [
            format!("+stim={}", file(STIM_FILE)),
            format!("+results={}", file(RESULTS_FILE)),
            format!("+summary={}", file(SUMMARY_FILE)),
            format!("+seed={seed}"),
            format!("+gap={gap}"),
        ];
        let summary_path = dir.join(SUMMARY_FILE);
        let (summary, wall_seconds): (Summary, f64) =
            self.model.run_harness(&dir, &plusargs, &summary_path)?;
        if summary.status != "ok" {
            return Err(SimError::Protocol {
                cycle: summary.cycle,
                message: summary.message,
            });
        }
        let (outputs, dropped) = read_outputs(&dir.join(RESULTS_FILE), groups.len(), lanes, d)?;
        let count: usize = outputs.iter().map(Vec::len).sum();
        if count as u64 != summary.results {
            return Err(SimError::Summary {
                path: summary_path,
                reason: format!(
                    "{count} result lines but the summary counts {}",
                    summary.results
                ),
            });
        }
        Ok(LayerNormOutcome {
            outputs,
            dropped,
            accepted: summary.accepted,
            stalls: summary.stalls,
            cycles: summary.cycles,
            wall_seconds,
        })
    }
}

/// The golden outputs of one group: `golden[l][i]` = y_i of lane l.
pub fn layernorm_golden(group: &LayerNormGroup, table: &PwlTable) -> Vec<Vec<i8>> {
    layernorm_rows(
        &group.rows,
        &group.gains,
        &group.offsets,
        group.shift,
        table,
    )
}

/// What [`check_layernorm`] verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerNormCheck {
    /// Groups without a reset of their own (all D pass-2 beats accepted).
    pub complete_groups: usize,
    /// ... of which every output came out (none dropped by the next group's reset).
    pub full_groups: usize,
    /// Output values compared (beats × lanes).
    pub values: usize,
}

/// The first difference between the simulation and the golden model, with the row's statistics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayerNormMismatch {
    #[error("group {group}: element {index} came out after element {previous} (outputs must be in order)")]
    Order {
        group: usize,
        index: usize,
        previous: usize,
    },
    #[error(
        "group {group} (no reset): {got} of {expected} outputs came out and {dropped} were dropped by the next \
         group's reset"
    )]
    Missing {
        group: usize,
        got: usize,
        dropped: usize,
        expected: usize,
    },
    #[error(
        "group {group} lane {lane} element {index}: rtl y = {got}, golden y = {want} (r = {r}, mean = {mean}, V = \
         {sum_sq}, mult = {mult}, shift = {norm_shift}, n = {n}, gain = {gain}, offset = {offset}, affine shift = \
         {shift}){more}"
    )]
    Value {
        group: usize,
        lane: usize,
        index: usize,
        got: i8,
        want: i8,
        r: i32,
        mean: i64,
        sum_sq: u64,
        mult: u64,
        norm_shift: i32,
        n: i32,
        gain: i32,
        offset: i64,
        shift: u32,
        /// ", and N more mismatches" or nothing.
        more: String,
    },
}

/// Compares every lane of every output of `outcome` with the golden model. Outputs must be in order; a group without
/// a reset of its own must account for all D beats: its outputs, then the beats the next group's reset dropped.
pub fn check_layernorm(
    groups: &[LayerNormGroup],
    outcome: &LayerNormOutcome,
    table: &PwlTable,
) -> Result<LayerNormCheck, LayerNormMismatch> {
    let mut check = LayerNormCheck {
        complete_groups: 0,
        full_groups: 0,
        values: 0,
    };
    let mut first: Option<LayerNormMismatch> = None;
    let mut mismatches = 0usize;
    let no_drops = Vec::new();
    for (g, (group, outs)) in groups.iter().zip(&outcome.outputs).enumerate() {
        let d = group.gains.len();
        let dropped = outcome.dropped.get(g).unwrap_or(&no_drops);
        let order: Vec<usize> = outs
            .iter()
            .map(|o| o.0)
            .chain(dropped.iter().copied())
            .collect();
        for pair in order.windows(2) {
            if pair[1] <= pair[0] {
                return Err(LayerNormMismatch::Order {
                    group: g,
                    index: pair[1],
                    previous: pair[0],
                });
            }
        }
        if group.reset_after.is_none() {
            if order.len() != d {
                return Err(LayerNormMismatch::Missing {
                    group: g,
                    got: outs.len(),
                    dropped: dropped.len(),
                    expected: d,
                });
            }
            check.complete_groups += 1;
            check.full_groups += usize::from(dropped.is_empty());
        }
        let want = layernorm_golden(group, table);
        for (index, y) in outs {
            for (lane, &got) in y.iter().enumerate() {
                check.values += 1;
                if got == want[lane][*index] {
                    continue;
                }
                mismatches += 1;
                if first.is_none() {
                    let row = &group.rows[lane];
                    let stats = norm_stats(row, NormMethod::Rsqrt, Some(table));
                    let n = normalise(row[*index], &stats);
                    debug_assert_eq!(
                        affine(n, group.gains[*index], group.offsets[*index], group.shift),
                        want[lane][*index]
                    );
                    first = Some(LayerNormMismatch::Value {
                        group: g,
                        lane,
                        index: *index,
                        got,
                        want: want[lane][*index],
                        r: row[*index],
                        mean: stats.mean,
                        sum_sq: stats.sum_sq,
                        mult: stats.mult,
                        norm_shift: stats.shift,
                        n,
                        gain: group.gains[*index],
                        offset: group.offsets[*index],
                        shift: group.shift,
                        more: String::new(),
                    });
                }
            }
        }
    }
    match first {
        None => Ok(check),
        Some(mut m) => {
            if let LayerNormMismatch::Value { more, .. } = &mut m {
                if mismatches > 1 {
                    *more = format!(", and {} more mismatching values", mismatches - 1);
                }
            }
            Err(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> LayerNormPorts {
        LayerNormPorts {
            module: "sta_layernorm_l2_d3_rx".into(),
            lanes: 2,
            d: 3,
            latency: 8,
            mean_bubble: 4,
            norm_bubble: 9,
        }
    }

    fn group() -> LayerNormGroup {
        LayerNormGroup {
            rows: vec![vec![1, -2, 3], vec![-(1 << 23), (1 << 23) - 1, 0]],
            gains: vec![-32768, 32767, 1],
            offsets: vec![-(1 << 39), (1 << 39) - 1, 0],
            shift: 47,
            reset_after: None,
        }
    }

    #[test]
    fn harness_renders_for_the_unit() {
        let text = render(&ports()).unwrap_or_default();
        assert!(text.contains("#include \"Vsta_layernorm_l2_d3_rx.h\""));
        assert!(
            text.contains("constexpr int L = 2;") && text.contains("constexpr std::size_t D = 3;")
        );
        assert!(text.contains("constexpr uint64_t NORM_BUBBLE = 9;"));
        assert!(render(&LayerNormPorts { d: 0, ..ports() }).is_err());
    }

    #[test]
    fn stimulus_and_results_round_trip() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let stim = dir.path().join("s.txt");
        write_stimulus(&stim, &[group()]).unwrap_or_else(|e| panic!("{e}"));
        let text = fs::read_to_string(&stim).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "g 47 -1");
        assert_eq!(lines[1], "e 000001 800000 8000 8000000000");
        assert_eq!(lines[2], "e fffffe 7fffff 7fff 7fffffffff");
        let results = dir.path().join("r.txt");
        fs::write(&results, "0 2 807f\n0 0 01ff\n").unwrap_or_else(|e| panic!("{e}"));
        let (out, dropped) = read_outputs(&results, 1, 2, 3).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out[0], vec![(2, vec![127, -128]), (0, vec![-1, 1])]);
        assert!(dropped[0].is_empty());
        fs::write(&results, "0 0 01ff\nx 0 1\nx 0 2\n").unwrap_or_else(|e| panic!("{e}"));
        let (_, dropped) = read_outputs(&results, 1, 2, 3).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dropped[0], vec![1, 2]);
        fs::write(&results, "0 3 807f\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(read_outputs(&results, 1, 2, 3).is_err(), "index beyond D");
    }

    #[test]
    fn groups_are_validated() {
        let bad = |f: &dyn Fn(&mut LayerNormGroup)| {
            let mut g = group();
            f(&mut g);
            validate(&[g], 2, 3).is_err()
        };
        assert!(validate(&[group()], 2, 3).is_ok());
        assert!(bad(&|g| g.rows[1][0] = 1 << 23));
        assert!(bad(&|g| g.gains[0] = 1 << 15));
        assert!(bad(&|g| g.offsets[0] = 1 << 39));
        assert!(bad(&|g| g.shift = 64));
        assert!(bad(&|g| g.rows.pop().map_or((), drop)));
        assert!(bad(&|g| g.reset_after = Some(10)));
    }

    #[test]
    fn the_checker_reports_the_first_mismatch() {
        let table = sta_golden::encoder::program::default_rsqrt_table();
        let g = group();
        let want = layernorm_golden(&g, &table);
        let beats = |w: &Vec<Vec<i8>>| -> Vec<(usize, Vec<i8>)> {
            (0..3).map(|i| (i, vec![w[0][i], w[1][i]])).collect()
        };
        let mut outcome = LayerNormOutcome {
            outputs: vec![beats(&want)],
            dropped: vec![vec![]],
            accepted: 9,
            stalls: 0,
            cycles: 30,
            wall_seconds: 0.0,
        };
        let ok = check_layernorm(std::slice::from_ref(&g), &outcome, &table);
        assert_eq!(
            ok,
            Ok(LayerNormCheck {
                complete_groups: 1,
                full_groups: 1,
                values: 6
            })
        );
        outcome.outputs[0][1].1[1] ^= 1;
        let err = check_layernorm(std::slice::from_ref(&g), &outcome, &table).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("group 0 lane 1 element 1: rtl y = "),
            "{msg}"
        );
        assert!(
            msg.contains("r = 8388607") && !msg.contains("more"),
            "{msg}"
        );
        outcome.outputs[0][1].1[1] ^= 1;
        outcome.outputs[0].pop();
        outcome.dropped[0].push(2);
        let ok = check_layernorm(std::slice::from_ref(&g), &outcome, &table);
        assert_eq!(ok.map(|c| (c.complete_groups, c.full_groups)), Ok((1, 0)));
        outcome.dropped[0].clear();
        assert!(matches!(
            check_layernorm(std::slice::from_ref(&g), &outcome, &table),
            Err(LayerNormMismatch::Missing { got: 2, .. })
        ));
    }
}

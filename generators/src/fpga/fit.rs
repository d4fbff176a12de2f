//! Does the synthesised design fit the part? Answered from Yosys's cell counts before minutes go into place and
//! route: each nextpnr resource is estimated from the cells that pack into it (a lower bound: packing can only add).

use std::collections::BTreeMap;

use super::target::{Family, Target};

/// Demand for one resource against what the part has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    /// nextpnr's bel type, or `package pins`.
    pub resource: String,
    /// The Yosys cells it counts, e.g. `LUT4 + 2 x CCU2C`.
    pub from: String,
    pub used: u64,
    pub available: u64,
}

impl Demand {
    pub fn overshoot(&self) -> Option<String> {
        (self.used > self.available).then(|| {
            format!(
                "{} ({}) {} used of {} (+{}, {:.0} %)",
                self.resource,
                self.from,
                self.used,
                self.available,
                self.used - self.available,
                100.0 * self.used as f64 / self.available.max(1) as f64
            )
        })
    }
}

fn count(cells: &BTreeMap<String, u64>, pred: impl Fn(&str) -> bool) -> u64 {
    cells.iter().filter(|(c, _)| pred(c)).map(|(_, n)| n).sum()
}

/// Estimated demand per resource; `pins` is the port bits of the top when it is placed on package pins.
pub fn demands(target: &Target, cells: &BTreeMap<String, u64>, pins: Option<u64>) -> Vec<Demand> {
    let exact = |c: &str| count(cells, |t| t == c);
    let mut out = Vec::new();
    let mut add = |resource: &str, from: &str, used: u64| {
        if let Some(available) = target.available(resource) {
            out.push(Demand {
                resource: resource.to_string(),
                from: from.to_string(),
                used,
                available,
            });
        }
    };
    match target.family {
        Family::Ecp5 => {
            add(
                "TRELLIS_COMB",
                "LUT4 + 2 x CCU2C",
                exact("LUT4") + 2 * exact("CCU2C"),
            );
            add("TRELLIS_FF", "TRELLIS_FF", exact("TRELLIS_FF"));
            add("MULT18X18D", "MULT18X18D", exact("MULT18X18D"));
            add("ALU54B", "ALU54B", exact("ALU54B"));
            add("DP16KD", "DP16KD", exact("DP16KD"));
            add("TRELLIS_RAMW", "TRELLIS_DPR16X4", exact("TRELLIS_DPR16X4"));
        }
        Family::Ice40 => {
            let luts = exact("SB_LUT4");
            let ffs = count(cells, |t| t.starts_with("SB_DFF"));
            let carries = exact("SB_CARRY");
            add(
                "ICESTORM_LC",
                "max of SB_LUT4, SB_DFF*, SB_CARRY",
                luts.max(ffs).max(carries),
            );
            add("ICESTORM_DSP", "SB_MAC16", exact("SB_MAC16"));
            add(
                "ICESTORM_RAM",
                "SB_RAM40_4K*",
                count(cells, |t| t.starts_with("SB_RAM40_4K")),
            );
            add("ICESTORM_SPRAM", "SB_SPRAM256KA", exact("SB_SPRAM256KA"));
        }
        Family::Generic => {}
    }
    if let Some(used) = pins.filter(|_| target.family != Family::Generic) {
        out.push(Demand {
            resource: "package pins".to_string(),
            from: format!("port bits of the top, {} user I/O", target.package),
            used,
            available: target.package_pins,
        });
    }
    out
}

/// Every resource the design overflows, one phrase each; empty when it fits.
pub fn overshoots(demands: &[Demand]) -> Vec<String> {
    demands.iter().filter_map(Demand::overshoot).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::target::find_target;

    #[test]
    fn multipliers_beyond_the_part_are_named_with_the_overshoot() {
        let cells: BTreeMap<String, u64> = [("SB_MAC16", 64), ("SB_LUT4", 3000), ("SB_DFFR", 2000)]
            .into_iter()
            .map(|(c, n)| (c.to_string(), n))
            .collect();
        let up5k = find_target("ice40-up5k").unwrap();
        let over = overshoots(&demands(up5k, &cells, Some(30)));
        assert_eq!(over, ["ICESTORM_DSP (SB_MAC16) 64 used of 8 (+56, 800 %)"]);
        let hx8k = find_target("ice40-hx8k").unwrap();
        assert!(overshoots(&demands(hx8k, &cells, Some(300)))[0].starts_with("package pins"));
        let ecp5: BTreeMap<String, u64> = [("MULT18X18D", 320), ("LUT4", 100), ("CCU2C", 10)]
            .into_iter()
            .map(|(c, n)| (c.to_string(), n))
            .collect();
        let d = demands(find_target("ecp5-85k").unwrap(), &ecp5, None);
        assert_eq!(d[0].used, 120);
        assert_eq!(
            overshoots(&d),
            ["MULT18X18D (MULT18X18D) 320 used of 156 (+164, 205 %)"]
        );
    }
}

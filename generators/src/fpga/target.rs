//! The FPGA parts `sta synth` knows: device, package, the resources nextpnr offers on them, the package's user I/O,
//! the Yosys synthesis command and the board whose pin map the generated constraints use.
//!
//! Available resources are nextpnr 0.11.1's own numbers (`utilization.<bel>.available` of `--report`), copied from a
//! run of a small design on each device (`sta synth` of a GELU LUT unit with `--io direct`, Yosys 0.70 / nextpnr
//! 0.11.1, YoWASP builds). Package pins are the data sheets' user I/O counts: nextpnr-ecp5 counts the I/O sites of
//! the die and places pins on sites the CABGA381 package does not bond (measured: 245 ports placed on an LFE5U-45F
//! CABGA381), so the fit check uses the package count itself.

use serde::{Deserialize, Serialize};

use super::boards::{Board, ICEBREAKER, ULX3S};
use crate::error::{Result, StaError};

/// Architecture family: decides the synthesis command, the nextpnr binary and the bitstream packer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ecp5,
    Ice40,
    /// Yosys generic `synth -flatten`: a technology-independent area estimate, no place and route.
    Generic,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Ecp5 => "ecp5",
            Family::Ice40 => "ice40",
            Family::Generic => "generic",
        }
    }

    /// Whether nextpnr can place the design without I/O buffers (`--out-of-context`): nextpnr-ecp5 only.
    pub fn has_out_of_context(self) -> bool {
        self == Family::Ecp5
    }

    /// The default `--freq` in MHz: the rate a pipelined INT8 datapath can reasonably aim at on the family.
    pub fn default_freq_mhz(self) -> f64 {
        match self {
            Family::Ecp5 => 125.0,
            Family::Ice40 => 50.0,
            Family::Generic => 100.0,
        }
    }

    /// What each nextpnr bel type is, for the report (`role`): the resources users ask about first.
    pub fn resource_roles(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Family::Ecp5 => &[
                ("TRELLIS_COMB", "lut"),
                ("TRELLIS_FF", "ff"),
                ("MULT18X18D", "dsp"),
                ("DP16KD", "bram"),
                ("TRELLIS_RAMW", "lutram"),
                ("TRELLIS_IO", "io"),
            ],
            Family::Ice40 => &[
                ("ICESTORM_LC", "lut"),
                ("ICESTORM_DSP", "dsp"),
                ("ICESTORM_RAM", "bram"),
                ("ICESTORM_SPRAM", "spram"),
                ("SB_IO", "io"),
            ],
            Family::Generic => &[],
        }
    }
}

/// One `--target`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    pub name: &'static str,
    pub family: Family,
    /// Part name as the vendor writes it (empty for generic).
    pub device: &'static str,
    /// nextpnr's device flag, e.g. `--85k`.
    pub nextpnr_device: &'static str,
    /// nextpnr's `--package` (empty for generic).
    pub package: &'static str,
    /// User I/O pins of the package (data sheet).
    pub package_pins: u64,
    /// nextpnr's available count per bel type (see the module documentation).
    pub available: &'static [(&'static str, u64)],
    /// The Yosys synthesis command (without `-top`).
    pub synth_command: &'static str,
    /// The board the generated constraints are for, if any.
    pub board: Option<Board>,
}

const ECP5_25K: &[(&str, u64)] = &[
    ("TRELLIS_COMB", 24_288),
    ("TRELLIS_FF", 24_288),
    ("MULT18X18D", 28),
    ("ALU54B", 14),
    ("DP16KD", 56),
    ("TRELLIS_RAMW", 3_036),
    ("TRELLIS_IO", 197),
];
const ECP5_45K: &[(&str, u64)] = &[
    ("TRELLIS_COMB", 43_848),
    ("TRELLIS_FF", 43_848),
    ("MULT18X18D", 72),
    ("ALU54B", 36),
    ("DP16KD", 108),
    ("TRELLIS_RAMW", 5_481),
    ("TRELLIS_IO", 245),
];
const ECP5_85K: &[(&str, u64)] = &[
    ("TRELLIS_COMB", 83_640),
    ("TRELLIS_FF", 83_640),
    ("MULT18X18D", 156),
    ("ALU54B", 78),
    ("DP16KD", 208),
    ("TRELLIS_RAMW", 10_455),
    ("TRELLIS_IO", 365),
];
const ICE40_UP5K: &[(&str, u64)] = &[
    ("ICESTORM_LC", 5_280),
    ("ICESTORM_DSP", 8),
    ("ICESTORM_RAM", 30),
    ("ICESTORM_SPRAM", 4),
    ("SB_IO", 39),
];
const ICE40_HX8K: &[(&str, u64)] = &[("ICESTORM_LC", 7_680), ("ICESTORM_RAM", 32), ("SB_IO", 206)];

/// Every target, in the order the help text lists them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "ecp5-25k",
        family: Family::Ecp5,
        device: "LFE5U-25F",
        nextpnr_device: "--25k",
        package: "CABGA381",
        package_pins: 197,
        available: ECP5_25K,
        synth_command: "synth_ecp5",
        board: Some(ULX3S),
    },
    Target {
        name: "ecp5-45k",
        family: Family::Ecp5,
        device: "LFE5U-45F",
        nextpnr_device: "--45k",
        package: "CABGA381",
        package_pins: 203,
        available: ECP5_45K,
        synth_command: "synth_ecp5",
        board: Some(ULX3S),
    },
    Target {
        name: "ecp5-85k",
        family: Family::Ecp5,
        device: "LFE5U-85F",
        nextpnr_device: "--85k",
        package: "CABGA381",
        package_pins: 205,
        available: ECP5_85K,
        synth_command: "synth_ecp5",
        board: Some(ULX3S),
    },
    Target {
        name: "ice40-up5k",
        family: Family::Ice40,
        device: "iCE40UP5K",
        nextpnr_device: "--up5k",
        package: "sg48",
        package_pins: 39,
        available: ICE40_UP5K,
        synth_command: "synth_ice40 -dsp",
        board: Some(ICEBREAKER),
    },
    Target {
        name: "ice40-hx8k",
        family: Family::Ice40,
        device: "iCE40HX8K",
        nextpnr_device: "--hx8k",
        package: "ct256",
        package_pins: 206,
        available: ICE40_HX8K,
        synth_command: "synth_ice40",
        board: None,
    },
    Target {
        name: "generic",
        family: Family::Generic,
        device: "",
        nextpnr_device: "",
        package: "",
        package_pins: 0,
        available: &[],
        synth_command: "synth -flatten",
        board: None,
    },
];

/// The names of all targets, comma-separated (for error messages and help).
pub fn target_names() -> String {
    TARGETS
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Looks a target up by name; an unknown name is a usage error that lists the allowed ones.
pub fn find_target(name: &str) -> Result<&'static Target> {
    TARGETS.iter().find(|t| t.name == name).ok_or_else(|| {
        StaError::Usage(format!(
            "--target {name:?} is not a known target; allowed: {}",
            target_names()
        ))
    })
}

impl Target {
    /// nextpnr's available count of a bel type on this part.
    pub fn available(&self, bel: &str) -> Option<u64> {
        self.available
            .iter()
            .find(|(name, _)| *name == bel)
            .map(|(_, n)| *n)
    }

    /// "LFE5U-85F CABGA381", "iCE40UP5K sg48", "Yosys generic".
    pub fn part(&self) -> String {
        if self.family == Family::Generic {
            "Yosys generic cells".to_string()
        } else {
            format!("{} {}", self.device, self.package)
        }
    }

    /// Whether the target produces a bitstream at all (a placed design with I/O buffers is still needed).
    pub fn packs_bitstream(&self) -> bool {
        self.family != Family::Generic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_is_found_and_unknown_ones_list_the_choices() {
        for t in TARGETS {
            assert_eq!(find_target(t.name).unwrap().name, t.name);
        }
        let err = find_target("ecp5-12k").unwrap_err().to_string();
        assert!(err.contains("ecp5-12k") && err.contains("ice40-hx8k") && err.contains("generic"));
    }

    #[test]
    fn placeable_targets_list_their_key_resources() {
        for t in TARGETS.iter().filter(|t| t.family != Family::Generic) {
            let (lut, _) = t.family.resource_roles()[0];
            assert!(t.available(lut).unwrap() > 1000, "{}", t.name);
            assert!(t.package_pins > 0);
        }
    }
}

//! Pin maps of the two boards the generated constraints target, for the 8-bit narrow-stream wrapper
//! (`clk, rst, s_tdata[7:0], s_tvalid, s_tready, m_tdata[7:0], m_tlast, m_tvalid, m_tready, err`).
//!
//! Sites come from the boards' reference constraint files: the ULX3S's `ulx3s_v20.lpf` (boards v2.x and v3.0.x) and
//! the iCEBreaker's `icebreaker.pcf` (icestorm examples). Inputs a person can drive by hand sit on buttons, status
//! outputs on LEDs where the board has them, the two byte buses on GPIO/PMOD headers.

/// One wrapper port bit on a package pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    /// Port bit as nextpnr names it: `clk`, `s_tdata[3]`.
    pub port: &'static str,
    /// Package site: ball (`G2`) or pin number (`35`).
    pub site: &'static str,
    /// What the site is on the board.
    pub board_net: &'static str,
    pub input: bool,
}

/// A development board whose pin map the generated constraints follow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Board {
    pub name: &'static str,
    /// Path of the constraints file inside a generated project and inside `sta synth`'s output.
    pub constraints: &'static str,
    /// The oscillator on the clock pin, MHz.
    pub clock_mhz: f64,
    /// The stream width the pin map is for.
    pub word_bits: u32,
    pub pins: &'static [Pin],
}

/// Direction of a pin, as the wrapper sees it.
const IN: bool = true;
const OUT: bool = false;

const fn pin(input: bool, port: &'static str, site: &'static str, board_net: &'static str) -> Pin {
    Pin {
        port,
        site,
        board_net,
        input,
    }
}

/// ULX3S (LFE5U-12F/25F/45F/85F, CABGA381): J1 header pairs gp/gn 0..10, FIRE1 as reset, LED0 for `err`.
pub const ULX3S: Board = Board {
    name: "ULX3S",
    constraints: "constraints/ulx3s.lpf",
    clock_mhz: 25.0,
    word_bits: 8,
    pins: &[
        pin(IN, "clk", "G2", "clk_25mhz, 25 MHz oscillator"),
        pin(IN, "rst", "R1", "btn[1] FIRE1, active high"),
        pin(IN, "s_tdata[0]", "B11", "gp[0] J1_5+"),
        pin(IN, "s_tdata[1]", "A10", "gp[1] J1_7+"),
        pin(IN, "s_tdata[2]", "A9", "gp[2] J1_9+"),
        pin(IN, "s_tdata[3]", "B9", "gp[3] J1_11+"),
        pin(IN, "s_tdata[4]", "A7", "gp[4] J1_13+"),
        pin(IN, "s_tdata[5]", "C8", "gp[5] J1_15+"),
        pin(IN, "s_tdata[6]", "C6", "gp[6] J1_17+"),
        pin(IN, "s_tdata[7]", "A6", "gp[7] J1_23+"),
        pin(IN, "s_tvalid", "A4", "gp[8] J1_25+"),
        pin(OUT, "s_tready", "A5", "gn[8] J1_25-"),
        pin(OUT, "m_tdata[0]", "C11", "gn[0] J1_5-"),
        pin(OUT, "m_tdata[1]", "A11", "gn[1] J1_7-"),
        pin(OUT, "m_tdata[2]", "B10", "gn[2] J1_9-"),
        pin(OUT, "m_tdata[3]", "C10", "gn[3] J1_11-"),
        pin(OUT, "m_tdata[4]", "A8", "gn[4] J1_13-"),
        pin(OUT, "m_tdata[5]", "B8", "gn[5] J1_15-"),
        pin(OUT, "m_tdata[6]", "C7", "gn[6] J1_17-"),
        pin(OUT, "m_tdata[7]", "B6", "gn[7] J1_23-"),
        pin(OUT, "m_tlast", "C4", "gp[10] J1_29+"),
        pin(OUT, "m_tvalid", "A2", "gp[9] J1_27+"),
        pin(IN, "m_tready", "B1", "gn[9] J1_27-"),
        pin(OUT, "err", "B2", "led[0]"),
    ],
};

/// iCEBreaker (iCE40UP5K, SG48): PMOD1A in, PMOD1B out, handshakes on the PMOD2 break-off board's buttons and LEDs
/// (BTN_N on pin 10 is active low, so `rst` uses BTN1).
pub const ICEBREAKER: Board = Board {
    name: "iCEBreaker",
    constraints: "constraints/icebreaker.pcf",
    clock_mhz: 12.0,
    word_bits: 8,
    pins: &[
        pin(IN, "clk", "35", "CLK, 12 MHz oscillator"),
        pin(IN, "rst", "20", "BTN1 (PMOD2 P2_9), active high"),
        pin(IN, "s_tdata[0]", "4", "PMOD1A P1A1"),
        pin(IN, "s_tdata[1]", "2", "PMOD1A P1A2"),
        pin(IN, "s_tdata[2]", "47", "PMOD1A P1A3"),
        pin(IN, "s_tdata[3]", "45", "PMOD1A P1A4"),
        pin(IN, "s_tdata[4]", "3", "PMOD1A P1A7"),
        pin(IN, "s_tdata[5]", "48", "PMOD1A P1A8"),
        pin(IN, "s_tdata[6]", "46", "PMOD1A P1A9"),
        pin(IN, "s_tdata[7]", "44", "PMOD1A P1A10"),
        pin(IN, "s_tvalid", "19", "BTN2 (PMOD2 P2_4)"),
        pin(OUT, "s_tready", "27", "LED1 (PMOD2 P2_1)"),
        pin(OUT, "m_tdata[0]", "43", "PMOD1B P1B1"),
        pin(OUT, "m_tdata[1]", "38", "PMOD1B P1B2"),
        pin(OUT, "m_tdata[2]", "34", "PMOD1B P1B3"),
        pin(OUT, "m_tdata[3]", "31", "PMOD1B P1B4"),
        pin(OUT, "m_tdata[4]", "42", "PMOD1B P1B7"),
        pin(OUT, "m_tdata[5]", "36", "PMOD1B P1B8"),
        pin(OUT, "m_tdata[6]", "32", "PMOD1B P1B9"),
        pin(OUT, "m_tdata[7]", "28", "PMOD1B P1B10"),
        pin(OUT, "m_tlast", "21", "LED3 (PMOD2 P2_3)"),
        pin(OUT, "m_tvalid", "25", "LED2 (PMOD2 P2_2)"),
        pin(IN, "m_tready", "18", "BTN3 (PMOD2 P2_10)"),
        pin(OUT, "err", "23", "LED4 (PMOD2 P2_8)"),
    ],
};

impl Board {
    /// Whether the pin map covers exactly these port bits (nextpnr refuses unconstrained or unknown ports).
    pub fn matches_ports(&self, ports: &[String]) -> bool {
        let mut wanted: Vec<&str> = self.pins.iter().map(|p| p.port).collect();
        let mut have: Vec<&str> = ports.iter().map(String::as_str).collect();
        wanted.sort_unstable();
        have.sort_unstable();
        wanted == have
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_maps_are_complete_and_use_each_site_once() {
        for board in [ULX3S, ICEBREAKER] {
            assert_eq!(board.pins.len(), 24, "{}", board.name);
            let mut sites: Vec<_> = board.pins.iter().map(|p| p.site).collect();
            sites.sort_unstable();
            sites.dedup();
            assert_eq!(sites.len(), 24, "{}: a site is used twice", board.name);
            let ports: Vec<String> = board.pins.iter().map(|p| p.port.to_string()).collect();
            assert!(board.matches_ports(&ports));
            assert!(!board.matches_ports(&ports[1..]));
        }
    }
}

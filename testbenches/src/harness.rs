//! Rendering the C++ harness for one array shape.

use askama::Template;
use sta_golden::pe_array::ArrayShape;

use crate::beatfile::check_shape;
use crate::error::SimError;

/// The bit-moving helpers the harness includes; shipped next to it in every build directory.
pub(crate) const BITS_HEADER: &str = include_str!("../templates/sta_bits.h");

/// The helpers every harness shares (hex text, the splitmix64 stream, ...); staged next to `sta_bits.h`.
pub(crate) const TB_HEADER: &str = include_str!("../templates/sta_tb.h");

/// Cycles `rst` is held high before the first beat; several, so multi-stage resets settle.
const RESET_CYCLES: u32 = 5;

/// Cycles simulated after the last expected result: long enough for a spurious extra beat to show up.
const DRAIN_CYCLES: u32 = 16;

#[derive(Template)]
#[template(path = "pe_array_tb.cpp", escape = "none")]
struct HarnessTemplate<'a> {
    top: &'a str,
    w_data_bits: usize,
    w_idx_bits: usize,
    a_data_bits: usize,
    y_data_bits: usize,
    trace: bool,
    reset_cycles: u32,
    drain_cycles: u32,
}

/// Bus widths of the array's stream ports (docs/pe-array.md, "Ports").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusWidths {
    pub w_data: usize,
    pub w_idx: usize,
    pub a_data: usize,
    pub y_data: usize,
}

impl BusWidths {
    /// Widths for `shape`; errors instead of overflowing the C++ `int` constants on absurd shapes.
    pub fn of(shape: &ArrayShape) -> Result<Self, SimError> {
        check_shape(shape)?;
        let lanes = |a: usize, b: usize, w: usize| a.checked_mul(b).and_then(|x| x.checked_mul(w));
        let widths = (
            lanes(shape.rows, shape.n, 8),
            lanes(shape.rows, shape.n, shape.index_bits() as usize),
            lanes(shape.cols, shape.m, 8),
            lanes(shape.cols, 1, shape.acc_width as usize),
        );
        let fits = |w: Option<usize>| w.filter(|&w| w <= i32::MAX as usize);
        match (
            fits(widths.0),
            fits(widths.1),
            fits(widths.2),
            fits(widths.3),
        ) {
            (Some(w_data), Some(w_idx), Some(a_data), Some(y_data)) => Ok(BusWidths {
                w_data,
                w_idx,
                a_data,
                y_data,
            }),
            _ => Err(SimError::UnsupportedShape {
                reason: "bus widths overflow".into(),
            }),
        }
    }
}

/// The harness C++ source for `shape`; `trace` compiles in the VCD writer (`+vcd=`).
pub fn render_harness(shape: &ArrayShape, trace: bool) -> Result<String, SimError> {
    let widths = BusWidths::of(shape)?;
    let top = shape.array_module_name();
    let template = HarnessTemplate {
        top: &top,
        w_data_bits: widths.w_data,
        w_idx_bits: widths.w_idx,
        a_data_bits: widths.a_data,
        y_data_bits: widths.y_data,
        trace,
        reset_cycles: RESET_CYCLES,
        drain_cycles: DRAIN_CYCLES,
    };
    Ok(template.render()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n: usize, m: usize, rows: usize, cols: usize, acc_width: u32) -> ArrayShape {
        ArrayShape {
            n,
            m,
            rows,
            cols,
            acc_width,
            max_k: 1024,
            dsp: Default::default(),
        }
    }

    #[test]
    fn widths_follow_the_port_table() {
        let w = BusWidths::of(&shape(2, 4, 8, 4, 32)).ok();
        assert_eq!(
            w,
            Some(BusWidths {
                w_data: 128,
                w_idx: 32,
                a_data: 128,
                y_data: 128
            })
        );
        assert!(BusWidths::of(&shape(2, 4, usize::MAX, 4, 32)).is_err());
    }

    #[test]
    fn harness_names_the_model_and_only_traces_on_request() {
        let s = shape(2, 4, 8, 4, 32);
        let plain = render_harness(&s, false).unwrap_or_default();
        let traced = render_harness(&s, true).unwrap_or_default();
        let top = s.array_module_name();
        assert!(plain.contains(&format!("#include \"V{top}.h\"")));
        assert!(plain.contains(&format!("new V{top}{{ctx}}")));
        assert!(
            plain.contains("constexpr int W_IDX_BITS = 32;")
                && plain.contains("constexpr int Y_DATA_BITS = 128;")
        );
        assert!(plain.contains("s_w_tidx"));
        assert!(!plain.contains("verilated_vcd_c.h") && traced.contains("verilated_vcd_c.h"));
        assert!(plain.contains("constexpr bool HAS_TRACE = false;"));
    }

    #[test]
    fn index_port_is_not_driven_when_m_is_one() {
        let text = render_harness(&shape(1, 1, 2, 2, 20), false).unwrap_or_default();
        assert!(text.contains("constexpr int W_IDX_BITS = 0;") && !text.contains("top_->s_w_tidx"));
    }
}
